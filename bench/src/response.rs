//! Reading one HTTP/1.1 response off a byte stream, whole: the head (httparse), `1xx` interim
//! answers skipped, then the body framed by `Content-Length`, `chunked` or end-of-stream. Bytes
//! past the response stay buffered for the next one.

use std::io::{self, Read};

/// Largest head or chunk-size/trailer line accepted.
const MAX_LINE: usize = 64 * 1024;
/// Bytes asked of the stream per read.
const READ_CHUNK: usize = 16 * 1024;

/// A fully read response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server will close the connection after this response.
    pub close: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

struct Head {
    status: u16,
    framing: Framing,
    close: bool,
    len: usize,
}

/// Per-connection response reader with its carry-over buffer.
#[derive(Default)]
pub struct ResponseReader {
    buf: Vec<u8>,
    start: usize,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn eof(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, format!("connection closed in {what}"))
}

impl ResponseReader {
    pub fn new() -> Self {
        Self::default()
    }

    fn avail(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Reads more bytes from `r`; returns how many (0 = end of stream).
    fn fill<R: Read>(&mut self, r: &mut R) -> io::Result<usize> {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let res = loop {
            match r.read(&mut self.buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(old + *res.as_ref().unwrap_or(&0));
        res
    }

    /// Reads exactly one final (non-1xx) response from `r`.
    pub fn read<R: Read>(&mut self, r: &mut R) -> io::Result<Response> {
        loop {
            let head = loop {
                if let Some(h) = parse_head(self.avail())? {
                    break h;
                }
                if self.avail().len() > MAX_LINE {
                    return Err(bad("response head too large"));
                }
                if self.fill(r)? == 0 {
                    return Err(eof("response head"));
                }
            };
            self.start += head.len;
            if (100..200).contains(&head.status) && head.status != 101 {
                continue; // 100 Continue and friends: the real answer follows.
            }
            let mut close = head.close;
            let body = match head.framing {
                Framing::Empty => Vec::new(),
                Framing::Length(n) => {
                    let n = usize::try_from(n).map_err(|_| bad("Content-Length too large"))?;
                    while self.avail().len() < n {
                        if self.fill(r)? == 0 {
                            return Err(eof("response body"));
                        }
                    }
                    let body = self.avail()[..n].to_vec();
                    self.start += n;
                    body
                }
                Framing::Chunked => {
                    let mut dec = ChunkedDecoder::default();
                    let mut body = Vec::new();
                    loop {
                        let used = dec.feed(&self.buf[self.start..], &mut body)?;
                        self.start += used;
                        if dec.is_done() {
                            break body;
                        }
                        if self.fill(r)? == 0 {
                            return Err(eof("chunked body"));
                        }
                    }
                }
                Framing::UntilClose => {
                    close = true;
                    while self.fill(r)? != 0 {}
                    let body = self.avail().to_vec();
                    self.start = self.buf.len();
                    body
                }
            };
            return Ok(Response { status: head.status, body, close });
        }
    }
}

fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(bad(format!("bad response head: {e}"))),
    };
    let status = resp.code.unwrap_or(0);
    let mut close = resp.version == Some(0);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| bad("non-UTF-8 header"))?.trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value.parse().map_err(|_| bad(format!("bad Content-Length {value:?}")))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("conflicting Content-Length"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        if n == 0 {
            Framing::Empty
        } else {
            Framing::Length(n)
        }
    } else {
        Framing::UntilClose
    };
    Ok(Some(Head { status, framing, close, len }))
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// Incremental `Transfer-Encoding: chunked` decoder: feed it whatever bytes arrived.
#[derive(Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes from `input`, appending content to `out`; returns the bytes consumed. Stops when
    /// it needs more input or the terminating chunk and trailers have been read.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                ChunkState::Done => return Ok(pos),
                ChunkState::Size | ChunkState::Trailer => {
                    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > MAX_LINE {
                            return Err(bad("chunk line too long"));
                        }
                        return Ok(pos);
                    };
                    let line = &rest[..eol];
                    pos += eol + 2;
                    if self.state == ChunkState::Trailer {
                        if line.is_empty() {
                            self.state = ChunkState::Done;
                        }
                        continue;
                    }
                    let size_part = line.split(|&b| b == b';').next().unwrap_or(b"");
                    let hex = std::str::from_utf8(size_part).map_err(|_| bad("bad chunk size"))?.trim();
                    if hex.is_empty() || hex.len() > 15 {
                        return Err(bad(format!("bad chunk size {hex:?}")));
                    }
                    let n = u64::from_str_radix(hex, 16).map_err(|_| bad(format!("bad chunk size {hex:?}")))?;
                    self.state = if n == 0 { ChunkState::Trailer } else { ChunkState::Data(n) };
                }
                ChunkState::Data(n) => {
                    if rest.is_empty() {
                        return Ok(pos);
                    }
                    let take = rest.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    out.extend_from_slice(&rest[..take]);
                    pos += take;
                    let left = n - take as u64;
                    self.state = if left == 0 { ChunkState::DataEnd } else { ChunkState::Data(left) };
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(pos);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(bad("missing CRLF after chunk data"));
                    }
                    pos += 2;
                    self.state = ChunkState::Size;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its data in pieces of the given sizes (cycled).
    struct Split<'a> {
        data: &'a [u8],
        sizes: &'a [usize],
        i: usize,
    }

    impl Read for Split<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let want = self.sizes[self.i % self.sizes.len()];
            self.i += 1;
            let n = want.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    const SPLITS: &[&[usize]] = &[&[1], &[2], &[3, 1, 7], &[5, 11], &[4096], &[100_000]];

    fn read_all(data: &[u8], count: usize) -> Vec<Response> {
        let mut out = Vec::new();
        for sizes in SPLITS {
            let mut r = Split { data, sizes, i: 0 };
            let mut rr = ResponseReader::new();
            let got: Vec<Response> = (0..count).map(|_| rr.read(&mut r).unwrap()).collect();
            assert!(r.data.is_empty(), "left unread with splits {sizes:?}");
            out = got;
        }
        out
    }

    #[test]
    fn content_length_split_reads() {
        let json = br#"{"code":200,"data":{"file_infos":[{"size":65536}]}}"#;
        let mut wire =
            format!("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", json.len())
                .into_bytes();
        wire.extend_from_slice(json);
        let r = read_all(&wire, 1);
        assert_eq!(r[0].status, 201);
        assert_eq!(r[0].body, json);
        assert!(!r[0].close);
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                     5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n";
        let r = read_all(wire, 1);
        assert_eq!(r[0].status, 200);
        assert_eq!(r[0].body, b"hello 0123456789");
    }

    #[test]
    fn keep_alive_sequence_and_interim() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\n\
                     HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc\
                     HTTP/1.1 204 No Content\r\n\r\n\
                     HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n\
                     HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let r = read_all(wire, 4);
        assert_eq!((r[0].status, &r[0].body[..]), (201, &b"abc"[..]));
        assert_eq!((r[1].status, r[1].body.len()), (204, 0));
        assert_eq!((r[2].status, &r[2].body[..]), (200, &b"xyz"[..]));
        assert_eq!(r[3].status, 201);
        assert!(r[3].close);
    }

    #[test]
    fn until_close_body() {
        let wire = b"HTTP/1.0 200 OK\r\n\r\nall of it";
        let r = read_all(wire, 1);
        assert_eq!(r[0].body, b"all of it");
        assert!(r[0].close);
    }

    #[test]
    fn truncated_and_malformed_fail() {
        for wire in [
            &b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc"[..],
            b"HTTP/1.1 201 Cre",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
            b"NOT HTTP\r\n\r\n",
        ] {
            let mut r = Split { data: wire, sizes: &[2], i: 0 };
            assert!(ResponseReader::new().read(&mut r).is_err(), "{wire:?}");
        }
    }
}
