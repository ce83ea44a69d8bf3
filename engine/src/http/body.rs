//! Request bodies: `Content-Length` or chunked framing over the connection's read buffer,
//! `Expect: 100-continue`, the body limit and the idle timeout.
//!
//! Body bytes are split off the connection's buffer as `Bytes` (no copy). `100 Continue` is
//! sent the first time the handler asks for body bytes — so a request refused on its head
//! (auth, size, rate) is answered before the client sends a byte of its body.

use bytes::Bytes;

use super::chunked::ChunkedDecoder;
use super::conn::ConnIo;
use super::error::Error;
use super::parse::BodyFraming;

/// Where a request body stands; kept on the connection so the loop can see it after the
/// handler returns.
#[derive(Debug)]
pub(crate) enum BodyState {
    /// Exactly this many bytes are still to come.
    Length { left: u64 },
    /// A chunked body is being decoded.
    Chunked(ChunkedDecoder),
    /// The whole body has been read.
    Finished,
    /// Reading failed; the connection cannot be reused.
    Failed,
}

impl BodyState {
    pub(crate) fn new(framing: BodyFraming) -> Self {
        match framing {
            BodyFraming::None => BodyState::Finished,
            BodyFraming::Length(n) => BodyState::Length { left: n },
            BodyFraming::Chunked => BodyState::Chunked(ChunkedDecoder::new()),
        }
    }
}

/// A handle on the body of the current request.
pub struct Body<'c> {
    io: &'c mut ConnIo,
    declared: Option<u64>,
    limit: u64,
    received: u64,
}

impl<'c> Body<'c> {
    pub(crate) fn new(io: &'c mut ConnIo, framing: BodyFraming, limit: u64) -> Self {
        let declared = match framing {
            BodyFraming::None => Some(0),
            BodyFraming::Length(n) => Some(n),
            BodyFraming::Chunked => None,
        };
        Self { io, declared, limit, received: 0 }
    }

    /// The length the client declared, `None` for chunked bodies.
    pub fn declared_len(&self) -> Option<u64> {
        self.declared
    }

    /// Bytes of body handed out so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Lowers the body limit for this request (a route's own limit); takes effect on the next
    /// read. A declared length over the new limit fails at once.
    pub fn limit_to(&mut self, limit: u64) -> Result<(), Error> {
        self.limit = self.limit.min(limit);
        match self.declared {
            Some(n) if n > self.limit => Err(Error::BodyTooLarge { limit: self.limit }),
            _ => Ok(()),
        }
    }

    /// The next piece of the body, `Ok(None)` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let r = self.next_chunk().await;
        match &r {
            Ok(Some(b)) => {
                self.received += b.len() as u64;
                if self.received > self.limit {
                    self.io.body = BodyState::Failed;
                    return Err(Error::BodyTooLarge { limit: self.limit });
                }
            }
            Ok(None) => {}
            Err(_) => self.io.body = BodyState::Failed,
        }
        r
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            match &mut self.io.body {
                BodyState::Finished => return Ok(None),
                BodyState::Failed => return Err(Error::TruncatedBody),
                BodyState::Length { left } => {
                    if !self.io.buf.is_empty() {
                        let n = self.io.buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                        *left -= n as u64;
                        if *left == 0 {
                            self.io.body = BodyState::Finished;
                        }
                        return Ok(Some(self.io.buf.split_to(n).freeze()));
                    }
                }
                BodyState::Chunked(dec) => {
                    if !self.io.buf.is_empty() {
                        let d = dec.decode(&self.io.buf)?;
                        if d.done {
                            self.io.body = BodyState::Finished;
                        }
                        match d.data {
                            Some((start, len)) => {
                                let _ = self.io.buf.split_to(start);
                                return Ok(Some(self.io.buf.split_to(len).freeze()));
                            }
                            None => {
                                let _ = self.io.buf.split_to(d.consumed);
                                if d.done {
                                    return Ok(None);
                                }
                                if !self.io.buf.is_empty() {
                                    continue;
                                }
                            }
                        }
                    }
                }
            }
            self.io.send_continue_if_pending().await?;
            let idle = self.io.body_idle_timeout;
            if self.io.fill(idle).await.map_err(|e| match e {
                Error::HeadTimeout => Error::BodyTimeout,
                other => other,
            })? == 0
            {
                return Err(Error::TruncatedBody);
            }
        }
    }
}
