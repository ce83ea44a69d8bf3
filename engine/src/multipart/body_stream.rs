//! The body as the `Send` stream multer wants — the one place that asserts `Send`.
//!
//! multer also drains its input stream until it returns `Pending`, copying every chunk into
//! its own buffer. A socket that always has data ready (the epoll driver reads synchronously)
//! would let it buffer a whole upload, so this stream returns `Pending` (after waking itself)
//! between chunks: multer's buffer then never holds more than about one chunk.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

use crate::http::{Body, Error as HttpError};

type ChunkFuture<'b, 'c> = Pin<Box<dyn Future<Output = (Result<Option<Bytes>, HttpError>, &'b mut Body<'c>)> + 'b>>;

/// Adapts a [`Body`] to a `Stream` of `Bytes`.
pub(crate) struct BodyStream<'b, 'c> {
    body: Option<&'b mut Body<'c>>,
    pending: Option<ChunkFuture<'b, 'c>>,
    yield_next: bool,
    done: bool,
}

// SAFETY: multer requires `Send` but never moves the stream to another thread: the
// `Multipart` that owns it lives inside one request handler's future, which runs on a single
// monoio worker thread and is itself `!Send` (it holds `Rc`s and monoio I/O types), so neither
// the stream nor the `Body` it borrows can reach another thread.
unsafe impl Send for BodyStream<'_, '_> {}

impl<'b, 'c: 'b> BodyStream<'b, 'c> {
    pub(crate) fn new(body: &'b mut Body<'c>) -> Self {
        Self { body: Some(body), pending: None, yield_next: false, done: false }
    }
}

impl<'b, 'c: 'b> Stream for BodyStream<'b, 'c> {
    type Item = Result<Bytes, HttpError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.yield_next {
            self.yield_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.pending.is_none() {
            let Some(body) = self.body.take() else {
                return Poll::Ready(None);
            };
            self.pending = Some(Box::pin(async move {
                let r = body.chunk().await;
                (r, body)
            }));
        }
        let fut = self.pending.as_mut().expect("set above");
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((r, body)) => {
                self.pending = None;
                self.body = Some(body);
                match r {
                    Ok(Some(b)) => {
                        self.yield_next = true;
                        Poll::Ready(Some(Ok(b)))
                    }
                    Ok(None) => {
                        self.done = true;
                        Poll::Ready(None)
                    }
                    Err(e) => {
                        self.done = true;
                        Poll::Ready(Some(Err(e)))
                    }
                }
            }
        }
    }
}
