//! `http::Error`: what can go wrong below the handler — framing, limits, timeouts, I/O — and the
//! one place such a failure becomes a status code (`status()`), used before a request exists.

use std::io;

/// A failure of the HTTP/1.1 layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request line or a header is not valid HTTP/1.1.
    #[error("malformed request head: {0}")]
    BadHead(&'static str),
    /// The head is larger than `max_head_bytes`.
    #[error("request head larger than {0} bytes")]
    HeadTooLarge(usize),
    /// The request line alone is larger than `max_head_bytes` (a URI that long).
    #[error("request line (URI) longer than {0} bytes")]
    UriTooLong(usize),
    /// More header fields than `max_headers`.
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    /// Ambiguous or invalid body framing (CL+TE, duplicate or bad Content-Length, unknown TE).
    #[error("invalid body framing: {0}")]
    BadFraming(&'static str),
    /// A chunked body is malformed.
    #[error("malformed chunked body: {0}")]
    BadChunk(&'static str),
    /// Only HTTP/1.0 and HTTP/1.1 are spoken.
    #[error("unsupported HTTP version")]
    Version,
    /// The body is larger than allowed.
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// The head did not arrive in time.
    #[error("timed out waiting for the request head")]
    HeadTimeout,
    /// The body stalled longer than the idle timeout.
    #[error("timed out waiting for the request body")]
    BodyTimeout,
    /// The peer closed the connection before the body was complete.
    #[error("connection closed before the body was complete")]
    TruncatedBody,
    /// Socket I/O failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The status code for a failure that happens before a handler runs, or `None` when no
    /// answer is possible (the peer is gone).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::BadHead(_) | Error::BadFraming(_) | Error::BadChunk(_) => Some(400),
            Error::HeadTooLarge(_) | Error::TooManyHeaders(_) => Some(431),
            Error::UriTooLong(_) => Some(414),
            Error::Version => Some(505),
            Error::BodyTooLarge { .. } => Some(413),
            Error::HeadTimeout | Error::BodyTimeout => Some(408),
            Error::TruncatedBody | Error::Io(_) => None,
        }
    }
}
