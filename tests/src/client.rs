//! A raw HTTP/1.1 client on `std::net::TcpStream`, for tests that need byte-exact control:
//! requests written in arbitrary splits, pipelined, half-closed; responses (1xx included)
//! parsed with httparse. Every read is bounded by a socket read timeout, so nothing hangs.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The read timeout of every connection: long enough for a debug-mode server, short enough that
/// a hung test fails instead of hanging.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One parsed response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// `1` for HTTP/1.1.
    pub version_minor: u8,
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (empty for HEAD, 1xx, 204, 304).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// The body as (lossy) text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {} body is not JSON ({e}): {:?}", self.status, self.text()))
    }

    /// Header fields minus the ones that differ per response (`Date`, `X-Reqid`), lower-cased
    /// names, sorted: for comparing GET with HEAD.
    pub fn stable_headers(&self) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .filter(|(n, _)| n != "date" && n != "x-reqid")
            .collect();
        h.sort();
        h
    }
}

/// The status line and headers of a response whose body is still on the wire.
#[derive(Debug, Clone)]
pub struct RawHead {
    /// The status code.
    pub status: u16,
    /// Header fields.
    pub headers: Vec<(String, String)>,
}

impl RawHead {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `Content-Length` as a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.trim().parse().ok())
    }
}

/// What a [`Conn::pause`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Nothing arrived.
    Quiet,
    /// This many bytes arrived (kept for the next read).
    Data(usize),
    /// The server closed (EOF or reset).
    Closed,
}

/// One client connection with its read buffer.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects with `TCP_NODELAY` (so separate writes go out as separate segments) and the
    /// read/write timeouts set.
    pub fn connect(addr: SocketAddr) -> Self {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// Like [`Conn::connect`], returning the error.
    pub fn try_connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        Ok(Self { stream, buf: Vec::new() })
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes all of `data`; panics on error.
    pub fn write_all(&mut self, data: &[u8]) {
        self.try_write_all(data).unwrap_or_else(|e| panic!("write of {} bytes: {e}", data.len()));
    }

    /// Writes all of `data` and flushes.
    pub fn try_write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data)?;
        self.stream.flush()
    }

    /// Writes `data` in pieces of the given sizes (cycled; 0 entries skipped), each piece its
    /// own write. `pause` > 0 waits that long between pieces with a short blocking read
    /// attempt (which also catches an early response).
    pub fn write_in_pieces(&mut self, data: &[u8], sizes: &[usize], pause: Duration) {
        assert!(sizes.iter().any(|&s| s > 0), "piece sizes must not all be zero");
        let mut off = 0;
        let mut i = 0;
        while off < data.len() {
            let n = sizes[i % sizes.len()];
            i += 1;
            if n == 0 {
                continue;
            }
            let end = off.saturating_add(n).min(data.len());
            self.write_all(&data[off..end]);
            off = end;
            if !pause.is_zero() && off < data.len() {
                self.pause(pause);
            }
        }
    }

    /// Waits up to `d` for the server to say something: a blocking read with a short timeout.
    /// Bytes that arrive are kept for the next response read.
    pub fn pause(&mut self, d: Duration) -> Pause {
        self.stream.set_read_timeout(Some(d.max(Duration::from_millis(1)))).expect("set timeout");
        let mut tmp = [0u8; 16 * 1024];
        let outcome = match self.stream.read(&mut tmp) {
            Ok(0) => Pause::Closed,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Pause::Data(n)
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Pause::Quiet,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Pause::Quiet,
            Err(_) => Pause::Closed,
        };
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).expect("set timeout");
        outcome
    }

    /// Bytes received but not yet consumed by a response read.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Half-closes the connection (no more request bytes).
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 64 * 1024];
        // A socket with a read timeout returns EINTR instead of restarting the read, and reads
        // in this process (which also runs the io_uring server) were seen to be interrupted.
        for _ in 0..1000 {
            match self.stream.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::Interrupted, "read interrupted 1000 times"))
    }

    /// Reads the next status line and headers (a 1xx included).
    pub fn try_read_head(&mut self) -> io::Result<RawHead> {
        let (head, _, _) = self.try_read_head_full()?;
        Ok(head)
    }

    fn try_read_head_full(&mut self) -> io::Result<(RawHead, u8, String)> {
        loop {
            let mut storage = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut storage);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = resp.code.unwrap_or(0);
                    let version = resp.version.unwrap_or(1);
                    let reason = resp.reason.unwrap_or("").to_owned();
                    let headers = resp
                        .headers
                        .iter()
                        .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect();
                    self.buf.drain(..len);
                    return Ok((RawHead { status, headers }, version, reason));
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad response head ({e}): {:?}", String::from_utf8_lossy(&self.buf)),
                    ))
                }
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed after {} bytes of a response head", self.buf.len()),
                ));
            }
        }
    }

    /// Reads exactly `len` body bytes, handing them to `sink` piece by piece.
    pub fn read_body_with(&mut self, mut len: u64, mut sink: impl FnMut(&[u8])) -> io::Result<()> {
        while len > 0 {
            if self.buf.is_empty() && self.fill()? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{len} body bytes missing")));
            }
            let n = self.buf.len().min(usize::try_from(len).unwrap_or(usize::MAX));
            sink(&self.buf[..n]);
            self.buf.drain(..n);
            len -= n as u64;
        }
        Ok(())
    }

    /// Reads the next response (1xx included); `head_only` = the request was HEAD.
    pub fn try_read_response(&mut self, head_only: bool) -> io::Result<RawResponse> {
        let (head, version_minor, reason) = self.try_read_head_full()?;
        let status = head.status;
        let mut body = Vec::new();
        let no_body = head_only || (100..200).contains(&status) || status == 204 || status == 304;
        if !no_body {
            if let Some(len) = head.content_length() {
                self.read_body_with(len, |b| body.extend_from_slice(b))?;
            } else if head.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
                body = self.read_chunked()?;
            } else {
                // Delimited by the end of the connection.
                body = std::mem::take(&mut self.buf);
                let mut rest = Vec::new();
                self.stream.read_to_end(&mut rest)?;
                body.extend_from_slice(&rest);
            }
        }
        Ok(RawResponse { version_minor, status, reason, headers: head.headers, body })
    }

    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a chunked response"));
            }
        }
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        for _ in 0..1_000_000 {
            let line = self.read_line()?;
            let size = u64::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk line {line:?}")))?;
            if size == 0 {
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            self.read_body_with(size, |b| body.extend_from_slice(b))?;
            self.read_line()?;
        }
        Err(io::Error::new(io::ErrorKind::InvalidData, "too many chunks"))
    }

    /// Reads the next response, 1xx included; panics on error.
    pub fn read_response(&mut self) -> RawResponse {
        self.try_read_response(false).unwrap_or_else(|e| panic!("reading a response: {e}"))
    }

    /// Reads responses until a final (non-1xx) one; panics on error.
    pub fn read_final_response(&mut self) -> RawResponse {
        for _ in 0..16 {
            let r = self.read_response();
            if r.status >= 200 {
                return r;
            }
        }
        panic!("more than 16 interim responses");
    }

    /// Reads the response to a HEAD request; panics on error.
    pub fn read_response_head_only(&mut self) -> RawResponse {
        self.try_read_response(true).unwrap_or_else(|e| panic!("reading a HEAD response: {e}"))
    }

    /// Waits up to `limit` for the server to close the connection, discarding what it still
    /// sends. True when it closed (EOF or reset), false when it was still open at the deadline.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut tmp = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.stream.set_read_timeout(Some(left)).expect("set timeout");
            match self.stream.read(&mut tmp) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }
}
