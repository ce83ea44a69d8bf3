//! The per-connection loop: read a head under the header timeout → frame the body → call the
//! handler → write the response → keep alive, drain, or close. Pipelined requests are served in
//! order from the bytes already buffered.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::body::{Body, BodyState};
use super::error::Error;
use super::limits::{HttpLimits, MAX_DRAIN_BYTES, READ_BUFFER_BYTES};
use super::parse::{parse_head, Method, RequestHead};
use super::write::{write_response, Persistence};
use super::{Handler, Request, Response};
use crate::runtime::WorkerCtx;

/// Body reads below this much free space grow the buffer first, so reads stay large.
const MIN_READ_SPACE: usize = 64 * 1024;
/// Buffer for reading a request head. Idle and head-reading connections hold only this much
/// (10 000 idle keep-alive connections must stay under 100 KiB each); the 256 KiB body buffer
/// is taken only while a body is read and given back when the request is done.
const HEAD_READ_BYTES: usize = 8 * 1024;
/// After an error response, unread request bytes are discarded for at most this long (a
/// "lingering close", as nginx does) so the client sees the response instead of a reset.
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// ... and at most this many bytes.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// The socket, its read buffer and the state of the current request's body.
pub(crate) struct ConnIo {
    pub(crate) stream: TcpStream,
    pub(crate) buf: BytesMut,
    pub(crate) body: BodyState,
    pub(crate) continue_pending: bool,
    pub(crate) body_idle_timeout: Duration,
    /// A read was started and its future dropped before it finished (a handler that stopped
    /// reading the body mid-read): the buffer and whatever that read took from the socket are
    /// gone, so the connection's framing is lost and it must close.
    pub(crate) read_abandoned: bool,
}

impl ConnIo {
    /// Reads more head bytes into the buffer (small reads); `Ok(0)` at end of stream.
    pub(crate) async fn fill_head(&mut self, timeout: Duration) -> Result<usize, Error> {
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(HEAD_READ_BYTES);
        }
        self.read_more(timeout).await
    }

    /// Reads more body bytes into the buffer (large reads); `Ok(0)` at end of stream.
    pub(crate) async fn fill(&mut self, timeout: Duration) -> Result<usize, Error> {
        if self.buf.capacity() - self.buf.len() < MIN_READ_SPACE {
            self.buf.reserve(READ_BUFFER_BYTES);
        }
        self.read_more(timeout).await
    }

    async fn read_more(&mut self, timeout: Duration) -> Result<usize, Error> {
        // Cleared below once the read is back; stays set if this future is dropped first.
        self.read_abandoned = true;
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let cap = buf.capacity();
        let slice = monoio::buf::IoBufMut::slice_mut(buf, len..cap);
        match monoio::time::timeout(timeout, self.stream.read(slice)).await {
            Ok((r, slice)) => {
                self.buf = slice.into_inner();
                self.read_abandoned = false;
                Ok(r?)
            }
            Err(_) => {
                // The timed-out read is cancelled: nothing of what it might have read is kept.
                Err(Error::HeadTimeout)
            }
        }
    }

    /// Sends `100 Continue` once, before the first body read of a request that asked for it.
    pub(crate) async fn send_continue_if_pending(&mut self) -> Result<(), Error> {
        if self.continue_pending {
            self.continue_pending = false;
            let (r, _) = self.stream.write_all(&b"HTTP/1.1 100 Continue\r\n\r\n"[..]).await;
            r?;
        }
        Ok(())
    }
}

enum HeadOutcome {
    Head(RequestHead),
    /// The peer closed, or the server is draining, between requests.
    Closed,
}

async fn read_head(io: &mut ConnIo, limits: &HttpLimits, ctx: &WorkerCtx) -> Result<HeadOutcome, Error> {
    // The whole head must arrive within the header timeout (a client trickling one byte at a
    // time does not get a fresh timeout per byte).
    // The clock starts with the first byte of the head, not while the connection idles.
    let mut deadline: Option<std::time::Instant> = None;
    loop {
        if !io.buf.is_empty() {
            if let Some((head, len)) = parse_head(&io.buf, limits)? {
                let _ = io.buf.split_to(len);
                return Ok(HeadOutcome::Head(head));
            }
        }
        if io.buf.is_empty() && ctx.shutdown.is_triggered() {
            return Ok(HeadOutcome::Closed);
        }
        let n = if io.buf.is_empty() {
            // Idle between requests: the drain signal may interrupt the wait.
            let read = io.fill_head(limits.header_timeout);
            let stop = ctx.shutdown.wait();
            futures::pin_mut!(read, stop);
            match futures::future::select(read, stop).await {
                futures::future::Either::Left((r, _)) => match r {
                    Err(Error::HeadTimeout) => return Ok(HeadOutcome::Closed),
                    other => other?,
                },
                futures::future::Either::Right(_) => return Ok(HeadOutcome::Closed),
            }
        } else {
            let deadline = *deadline.get_or_insert_with(|| std::time::Instant::now() + limits.header_timeout);
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(Error::HeadTimeout);
            }
            io.fill_head(left).await?
        };
        if n == 0 {
            if io.buf.is_empty() {
                return Ok(HeadOutcome::Closed);
            }
            return Err(Error::BadHead("connection closed inside the request head"));
        }
    }
}

/// Serves one connection until it closes.
pub(crate) async fn serve_conn<H: Handler>(stream: TcpStream, peer: SocketAddr, handler: &H, ctx: &WorkerCtx) {
    let limits = &ctx.limits;
    let _ = stream.set_nodelay(true);
    let mut io = ConnIo {
        stream,
        buf: BytesMut::new(),
        body: BodyState::Finished,
        continue_pending: false,
        body_idle_timeout: limits.body_idle_timeout,
        read_abandoned: false,
    };
    loop {
        let head = match read_head(&mut io, limits, ctx).await {
            Ok(HeadOutcome::Head(h)) => h,
            Ok(HeadOutcome::Closed) => return,
            Err(e) => {
                if e.status().is_some() {
                    let request_id = ctx.next_request_id();
                    let path = super::parse::peek_path(&io.buf);
                    let resp = handler.framing_error(path.as_deref(), &e, &request_id);
                    let _ = write_response(
                        &mut io.stream,
                        resp,
                        &request_id,
                        Persistence::Close,
                        false,
                        limits.send_timeout,
                    )
                    .await;
                    linger(&mut io).await;
                }
                return;
            }
        };
        let request_id = ctx.next_request_id();
        let head_only = head.method == Method::Head;
        let mut close = !head.keep_alive || ctx.shutdown.is_triggered();
        io.body = BodyState::new(head.framing);
        io.continue_pending = head.expect_continue;

        if let super::BodyFraming::Length(n) = head.framing {
            if n > limits.max_body {
                let e = Error::BodyTooLarge { limit: limits.max_body };
                let resp = handler.framing_error(Some(&head.path), &e, &request_id);
                let _ = write_response(
                    &mut io.stream,
                    resp,
                    &request_id,
                    Persistence::Close,
                    head_only,
                    limits.send_timeout,
                )
                .await;
                linger(&mut io).await;
                return;
            }
        }

        let framing = head.framing;
        let version_minor = head.version_minor;
        let resp: Response = {
            let body = Body::new(&mut io, framing, limits.max_body);
            handler.call(Request { head, body, peer, request_id: request_id.clone() }).await
        };
        close |= resp.close;

        // The body was not read to its end: drain a small one, otherwise close.
        let mut linger_after = false;
        match &io.body {
            // Bytes already taken from the socket were dropped with a read: no way to find
            // where the next request starts.
            _ if io.read_abandoned => {
                close = true;
                linger_after = true;
            }
            BodyState::Finished => {}
            BodyState::Failed => close = true,
            _ if io.continue_pending => {
                // The client is still waiting for 100 Continue and will not send the body.
                close = true;
            }
            _ => {
                if close || !drain(&mut io).await {
                    close = true;
                    linger_after = true;
                }
            }
        }
        let persistence = Persistence::of(close, version_minor);
        if write_response(&mut io.stream, resp, &request_id, persistence, head_only, limits.send_timeout).await.is_err()
        {
            return;
        }
        if close {
            if linger_after {
                linger(&mut io).await;
            }
            return;
        }
        if io.buf.is_empty() {
            // Idle between requests: give the body buffer back.
            io.buf = BytesMut::new();
        }
    }
}

/// Reads and discards the rest of a small body so the connection can serve the next request.
async fn drain(io: &mut ConnIo) -> bool {
    let limit = MAX_DRAIN_BYTES;
    let mut body = Body::new(io, super::BodyFraming::Chunked, limit);
    // The framing passed here only sets the declared length; the real state lives in `io.body`.
    loop {
        match body.chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

/// Half-closes and discards what the client still sends, bounded in time and bytes.
async fn linger(io: &mut ConnIo) {
    let _ = monoio::io::AsyncWriteRent::shutdown(&mut io.stream).await;
    let mut seen = 0usize;
    while seen < LINGER_BYTES {
        io.buf.clear();
        match io.fill(LINGER_TIMEOUT).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen += n,
        }
    }
}
