//! Responses: the [`Response`] type, head encoding with a cached `Date`, and writing a body
//! from memory or streamed from a file (downloads), never holding a whole file in memory.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;

/// Bodies up to this size are written in one syscall together with the head.
const COALESCE_BODY_BYTES: usize = 64 * 1024;
/// Read size when streaming a file body.
const FILE_CHUNK_BYTES: usize = 256 * 1024;

/// A byte range of an open file, streamed as a response body.
pub struct FileBody {
    /// The open file (shared so a body can be produced from a cached handle).
    pub file: Rc<monoio::fs::File>,
    /// First byte to send.
    pub offset: u64,
    /// How many bytes to send.
    pub len: u64,
}

/// A response body.
pub enum ResponseBody {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
    /// A range of a file.
    File(FileBody),
}

impl ResponseBody {
    fn len(&self) -> u64 {
        match self {
            ResponseBody::Empty => 0,
            ResponseBody::Bytes(b) => b.len() as u64,
            ResponseBody::File(f) => f.len,
        }
    }
}

/// A response as the handler builds it.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields; `Content-Length`, `Date`, `Connection` and `X-Reqid` are added when written.
    pub headers: Vec<(Cow<'static, str>, String)>,
    /// The body.
    pub body: ResponseBody,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    /// A response with a body in memory and its content type.
    pub fn bytes(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: vec![(Cow::Borrowed("Content-Type"), content_type.to_owned())],
            body: ResponseBody::Bytes(body.into()),
            close: false,
        }
    }

    /// A response without a body.
    pub fn empty(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: ResponseBody::Empty, close: false }
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The value of a header already set (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reason phrases for the statuses sluice sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

thread_local! {
    static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

/// The `Date` header value, formatted at most once a second per thread.
pub fn http_date() -> String {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs || d.1.is_empty() {
            *d = (secs, httpdate::fmt_http_date(now));
        }
        d.1.clone()
    })
}

/// What a response's `Connection` header says about the connection after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// It closes: `Connection: close`.
    Close,
    /// It stays open, which HTTP/1.1 assumes: no header.
    KeepAlive,
    /// It stays open for an HTTP/1.0 client, which assumes the opposite unless told
    /// (RFC 9112 §9.3): `Connection: keep-alive`.
    KeepAliveHttp10,
}

impl Persistence {
    /// For a request of HTTP/1.`minor` after which the connection closes or not.
    pub(crate) fn of(close: bool, minor: u8) -> Self {
        match (close, minor) {
            (true, _) => Persistence::Close,
            (false, 0) => Persistence::KeepAliveHttp10,
            (false, _) => Persistence::KeepAlive,
        }
    }
}

/// Encodes the head of `resp`.
pub(crate) fn encode_head(resp: &Response, request_id: &str, persistence: Persistence) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(256);
    let _ = write!(s, "HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (name, value) in &resp.headers {
        // A header value must not smuggle a line break into the response.
        let value: Cow<'_, str> = if value.contains(['\r', '\n']) {
            Cow::Owned(value.replace(['\r', '\n'], " "))
        } else {
            Cow::Borrowed(value.as_str())
        };
        let _ = write!(s, "{name}: {value}\r\n");
    }
    let no_body_status = resp.status < 200 || resp.status == 204 || resp.status == 304;
    if !no_body_status && resp.header("content-length").is_none() {
        let _ = write!(s, "Content-Length: {}\r\n", resp.body.len());
    }
    if resp.header("x-reqid").is_none() {
        let _ = write!(s, "X-Reqid: {request_id}\r\n");
    }
    let _ = write!(s, "Date: {}\r\n", http_date());
    match persistence {
        Persistence::Close => s.push_str("Connection: close\r\n"),
        Persistence::KeepAliveHttp10 => s.push_str("Connection: keep-alive\r\n"),
        Persistence::KeepAlive => {}
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// Writes `resp` to `stream`; `head_only` for HEAD requests. Each write may wait at most
/// `send_timeout` for the peer to take bytes (`TimedOut` then).
pub(crate) async fn write_response(
    stream: &mut TcpStream,
    resp: Response,
    request_id: &str,
    persistence: Persistence,
    head_only: bool,
    send_timeout: Duration,
) -> std::io::Result<()> {
    let mut head = encode_head(&resp, request_id, persistence);
    match resp.body {
        _ if head_only => {
            send(stream, head, send_timeout).await?;
        }
        ResponseBody::Empty => {
            send(stream, head, send_timeout).await?;
        }
        ResponseBody::Bytes(b) if b.len() <= COALESCE_BODY_BYTES => {
            head.extend_from_slice(&b);
            send(stream, head, send_timeout).await?;
        }
        ResponseBody::Bytes(b) => {
            send(stream, head, send_timeout).await?;
            send(stream, b, send_timeout).await?;
        }
        ResponseBody::File(f) => {
            send(stream, head, send_timeout).await?;
            let mut buf = Vec::with_capacity(FILE_CHUNK_BYTES.min(f.len as usize).max(1));
            let mut pos = f.offset;
            let end = f.offset + f.len;
            while pos < end {
                let want = usize::try_from(end - pos).unwrap_or(usize::MAX).min(FILE_CHUNK_BYTES);
                buf.clear();
                let slice = monoio::buf::IoBufMut::slice_mut(buf, 0..want);
                let (r, slice) = f.file.read_exact_at(slice, pos).await;
                buf = slice.into_inner();
                r?;
                buf = send(stream, buf, send_timeout).await?;
                pos += want as u64;
            }
        }
    }
    Ok(())
}

/// Writes all of `buf`, waiting at most `timeout` for the peer; gives the buffer back.
async fn send<B: monoio::buf::IoBuf + 'static>(
    stream: &mut TcpStream,
    buf: B,
    timeout: Duration,
) -> std::io::Result<B> {
    match monoio::time::timeout(timeout, stream.write_all(buf)).await {
        Ok((r, buf)) => r.map(|_| buf),
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the peer stopped reading the response")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_has_length_reqid_date_and_no_injected_lines() {
        let resp = Response::bytes(201, "application/json", "{}").with_header("X-Evil", "a\r\nSet-Cookie: x");
        let head = String::from_utf8(encode_head(&resp, "rid1", Persistence::Close)).unwrap();
        assert!(head.starts_with("HTTP/1.1 201 Created\r\n"));
        assert!(head.contains("Content-Length: 2\r\n"));
        assert!(head.contains("X-Reqid: rid1\r\n"));
        assert!(head.contains("Date: "));
        assert!(head.contains("Connection: close\r\n"));
        assert!(head.contains("X-Evil: a  Set-Cookie: x\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
    }

    #[test]
    fn a_peer_that_stops_reading_a_download_is_given_up_after_the_send_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        // Far more than the two sockets' buffers can hold.
        std::fs::write(&path, vec![7u8; 64 << 20]).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
        let (result, took) = rt.block_on(async {
            let mut stream = TcpStream::from_std(server).unwrap();
            let file = Rc::new(monoio::fs::File::open(&path).await.unwrap());
            let body = ResponseBody::File(FileBody { file, offset: 0, len: 64 << 20 });
            let resp = Response { status: 200, headers: Vec::new(), body, close: false };
            let started = std::time::Instant::now();
            // Bounded from outside too, so a write that never gives up fails the test.
            let write =
                write_response(&mut stream, resp, "r", Persistence::KeepAlive, false, Duration::from_millis(300));
            let r = monoio::time::timeout(Duration::from_secs(20), write).await;
            (r, started.elapsed())
        });
        let err = result.expect("gave up within 20 s").expect_err("the client never reads");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err} after {took:?}");
        drop(client);
    }

    #[test]
    fn every_status_sent_has_its_reason_phrase() {
        // The statuses the handlers and the HTTP layer answer with (grep `status: u16` users).
        for status in
            [100, 200, 201, 204, 206, 304, 400, 401, 404, 405, 408, 409, 412, 413, 414, 416, 431, 500, 503, 505, 507]
        {
            assert_ne!(reason(status), "Unknown", "{status}");
        }
    }

    #[test]
    fn no_length_on_204() {
        let head = String::from_utf8(encode_head(&Response::empty(204), "r", Persistence::KeepAlive)).unwrap();
        assert!(!head.contains("Content-Length"));
    }
}
