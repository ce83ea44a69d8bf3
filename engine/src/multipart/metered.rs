//! A bound on what multer holds without parsing it: the preamble before the first boundary and
//! each part's header block.
//!
//! multer buffers those until it finds their end (a boundary, a blank line), with no limit, and
//! searches its whole buffer again for every chunk that arrives: a client that sent a 1 GB
//! header line or preamble made one request hold a core for minutes and gigabytes of memory
//! (found by black-box probing: 300 MB took 33 s, 1 GB 380 s and 1.96 GB of RSS). Part *data*
//! is not affected: multer hands it out as it arrives.
//!
//! [`Metered`] wraps the stream multer reads and counts the bytes given to it since multer last
//! handed out a part or part bytes (the counter is reset by [`super::Parts`] and
//! [`super::Part`] on each); once that count passes the limit, the next chunk is refused with
//! [`UnparsedTooLarge`]. So multer never holds more than the limit plus one read of unparsed
//! bytes, and its repeated searches stay bounded with it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

/// Error type of the streams multer reads (what multer itself wants).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The bytes given to multer since it last made progress (shared with `Parts` and `Part`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Unparsed(Arc<AtomicU64>);

impl Unparsed {
    /// multer handed something out: what it was given so far is accounted for.
    pub(crate) fn progress(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A preamble or a part's header block went past the limit.
#[derive(Debug, thiserror::Error)]
#[error("multipart preamble or part headers longer than {limit} bytes")]
pub(crate) struct UnparsedTooLarge {
    pub(crate) limit: u64,
}

/// The stream multer reads, metered.
pub(crate) struct Metered<S> {
    inner: S,
    unparsed: Unparsed,
    limit: u64,
}

impl<S> Metered<S> {
    pub(crate) fn new(inner: S, unparsed: Unparsed, limit: u64) -> Self {
        Self { inner, unparsed, limit }
    }
}

impl<S, E> Stream for Metered<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                // Checked when the next chunk arrives, not on every poll: multer polls again
                // right after a chunk, before it parsed anything, and the inner streams answer
                // that poll with `Pending` (`body_stream.rs`), which gives multer its turn.
                if self.unparsed.get() > self.limit {
                    return Poll::Ready(Some(Err(Box::new(UnparsedTooLarge { limit: self.limit }))));
                }
                self.unparsed.add(chunk.len());
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
