//! Every HTTP/1.1 protocol limit, named, with its default and the reason for it.
//!
//! The defaults match `interface.md`'s `[limits]` table; the API layer overrides them from the
//! configuration file. Each one is tested at N and N+1 (see `tests/` and the unit tests here).

use std::time::Duration;

/// Largest request head (request line + headers + final CRLF) in bytes; beyond it: 431.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in one request; beyond it: 431 (pingora uses 256, nginx ~100 by buffer).
pub const DEFAULT_MAX_HEADERS: usize = 128;
/// Largest request body in bytes (5 GiB); beyond it: 413, before any body byte is read when
/// `Content-Length` already says so.
pub const DEFAULT_MAX_BODY: u64 = 5 * 1024 * 1024 * 1024;
/// Longest chunk-size line (hex digits + extensions), RFC 9112 §7.1.1; beyond it: 400.
pub const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section of a chunked body (RFC 9112 §7.1.2), bytes; beyond it: 400.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Size of the buffer each connection reads into; body chunks are split off it without copying.
pub const READ_BUFFER_BYTES: usize = 256 * 1024;
/// Unread request bodies up to this many bytes are drained so the connection can be kept alive;
/// larger ones close the connection instead.
pub const MAX_DRAIN_BYTES: u64 = 256 * 1024;

/// Longest a response write may wait for the peer to take bytes (a download whose client stopped
/// reading): then the connection is closed. nginx's `send_timeout` default; without it a stalled
/// reader held its socket and the blob's file descriptor forever.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// The limits one connection enforces.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// See [`DEFAULT_MAX_HEAD_BYTES`].
    pub max_head_bytes: usize,
    /// See [`DEFAULT_MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`DEFAULT_MAX_BODY`].
    pub max_body: u64,
    /// Time allowed for a whole request head to arrive (also the keep-alive idle time): 408.
    pub header_timeout: Duration,
    /// Longest pause between two reads of a body: 408 (or a closed connection).
    pub body_idle_timeout: Duration,
    /// See [`DEFAULT_SEND_TIMEOUT`].
    pub send_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body: DEFAULT_MAX_BODY,
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            send_timeout: DEFAULT_SEND_TIMEOUT,
        }
    }
}
