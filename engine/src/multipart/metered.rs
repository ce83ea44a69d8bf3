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
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, TryStreamExt};

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

/// The body's byte stream, shared: multer reads it through [`Metered`], and [`super::Parts`]
/// reads what is left after the closing boundary (so the body is known complete before the
/// last part is reported, and a read in flight is finished rather than dropped).
pub(crate) type Source<'b> = Arc<Mutex<Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send + 'b>>>>;

/// Makes `stream` a [`Source`].
pub(crate) fn source<'b, S, E>(stream: S) -> Source<'b>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'b,
    E: Into<BoxError> + 'b,
{
    Arc::new(Mutex::new(Box::pin(stream.map_err(Into::into))))
}

/// Polls the shared stream for its next chunk.
pub(crate) fn poll_source(source: &Source<'_>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BoxError>>> {
    // Never contended: multer and `Parts` take turns on one thread.
    let mut stream = source.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    stream.as_mut().poll_next(cx)
}

/// The stream multer reads, metered.
pub(crate) struct Metered<'b> {
    source: Source<'b>,
    unparsed: Unparsed,
    limit: u64,
}

impl<'b> Metered<'b> {
    pub(crate) fn new(source: Source<'b>, unparsed: Unparsed, limit: u64) -> Self {
        Self { source, unparsed, limit }
    }
}

impl Stream for Metered<'_> {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match poll_source(&self.source, cx) {
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
            other => other,
        }
    }
}
