//! One keep-alive HTTP/1.1 client connection on a blocking `std::net::TcpStream` (TCP_NODELAY):
//! write a request (head and body with as few syscalls as possible), read its whole response and
//! check it against what the shape expects. Reconnects after an error or `Connection: close`.

use std::io::{self, IoSlice, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::payload::{stamp, RequestTemplate, Shape, STAMP_LEN};
use crate::response::{Response, ResponseReader};
use crate::target::Target;

/// Largest piece of the file content handed to one write call (big bodies are streamed).
pub const WRITE_CHUNK: usize = 1 << 20;

/// One client connection and the request it repeats.
pub struct Conn {
    id: usize,
    target: Target,
    tmpl: RequestTemplate,
    shape: Shape,
    timeout: Duration,
    stream: Option<TcpStream>,
    reader: ResponseReader,
    head: Vec<u8>,
    seq: u64,
    /// Stamp each request's content with (this run id, connection, sequence) so no two files
    /// are equal, in this run or any other.
    unique: Option<u32>,
    stamp: [u8; STAMP_LEN],
}

impl Conn {
    pub fn new(id: usize, target: Target, shape: Shape, tmpl: RequestTemplate, timeout: Duration) -> Self {
        Conn {
            id,
            target,
            tmpl,
            shape,
            timeout,
            stream: None,
            reader: ResponseReader::new(),
            head: Vec::with_capacity(512),
            seq: 0,
            unique: None,
            stamp: [0; STAMP_LEN],
        }
    }

    /// Makes every request's content unique, with `run` identifying this load run (see
    /// [`stamp`]); `None` repeats the body.
    pub fn set_unique(&mut self, run: Option<u32>) {
        self.unique = run;
    }

    /// Payload bytes (S) each successful request delivers.
    pub fn payload_len(&self) -> u64 {
        self.tmpl.payload_len()
    }

    /// Changes the per-syscall socket timeout (used to bound the drain after the window).
    pub fn set_timeout(&mut self, d: Duration) {
        self.timeout = d.max(Duration::from_millis(1));
        if let Some(s) = &self.stream {
            let _ = s.set_read_timeout(Some(self.timeout));
            let _ = s.set_write_timeout(Some(self.timeout));
        }
    }

    /// Opens the connection if it is not open.
    pub fn connect(&mut self) -> Result<(), String> {
        if self.stream.is_some() {
            return Ok(());
        }
        let s = TcpStream::connect_timeout(&self.target.addr, self.timeout)
            .map_err(|e| format!("connect {}: {e}", self.target.addr))?;
        let setup = s
            .set_nodelay(true)
            .and_then(|()| s.set_read_timeout(Some(self.timeout)))
            .and_then(|()| s.set_write_timeout(Some(self.timeout)));
        setup.map_err(|e| format!("socket setup: {e}"))?;
        self.reader = ResponseReader::new();
        self.stream = Some(s);
        Ok(())
    }

    /// Sends the next request (connecting first if needed).
    pub fn send(&mut self) -> Result<(), String> {
        self.connect()?;
        self.seq += 1;
        self.tmpl.write_head(self.id, self.seq, &mut self.head);
        let stream = self.stream.as_mut().expect("connected above");
        let stamp_len = match self.unique {
            Some(run) if self.tmpl.payload_len() >= STAMP_LEN as u64 => {
                self.stamp = stamp(run, self.id, self.seq);
                STAMP_LEN
            }
            _ => 0,
        };
        if let Err(e) = write_request(stream, &self.head, self.tmpl.segments(), &self.stamp[..stamp_len]) {
            self.stream = None;
            return Err(format!("write: {e}"));
        }
        Ok(())
    }

    /// Reads the response to the request sent last and checks it.
    pub fn receive(&mut self) -> Result<(), String> {
        let Some(stream) = self.stream.as_mut() else {
            return Err("receive without a connection".into());
        };
        let resp = match self.reader.read(stream) {
            Ok(r) => r,
            Err(e) => {
                self.stream = None;
                return Err(format!("read: {e}"));
            }
        };
        if resp.close {
            self.stream = None;
        }
        check(self.shape, &resp, self.tmpl.payload_len())
    }
}

/// Checks a response against the shape's expectation.
pub fn check(shape: Shape, resp: &Response, size: u64) -> Result<(), String> {
    match shape {
        Shape::Put => match resp.status {
            201 | 204 => Ok(()),
            s => Err(format!("status {s}: {}", snippet(&resp.body))),
        },
        Shape::Weidu => {
            if resp.status != 201 {
                return Err(format!("status {}: {}", resp.status, snippet(&resp.body)));
            }
            let v: serde_json::Value =
                serde_json::from_slice(&resp.body).map_err(|e| format!("bad JSON ({e}): {}", snippet(&resp.body)))?;
            if v.get("code").and_then(|c| c.as_i64()) != Some(200) {
                return Err(format!("code != 200: {}", snippet(&resp.body)));
            }
            match v.pointer("/data/file_infos/0/size").and_then(|s| s.as_u64()) {
                Some(got) if got == size => Ok(()),
                got => Err(format!("size {got:?}, expected {size}")),
            }
        }
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(200)]);
    s.replace(['\r', '\n'], " ")
}

/// Writes head + body: head, multipart preamble and the first ≤1 MiB of content in one vectored
/// write (plus the epilogue when it all fits), then the rest of the content in 1 MiB writes.
/// A non-empty `stamp` replaces the first `stamp.len()` bytes of the content (unique bodies
/// without copying them).
pub fn write_request<W: Write>(w: &mut W, head: &[u8], segs: [&[u8]; 3], stamp: &[u8]) -> io::Result<()> {
    let [pre, body, post] = segs;
    let body = body.get(stamp.len()..).ok_or_else(|| io::Error::other("stamp longer than the body"))?;
    let mut pieces = body.chunks(WRITE_CHUNK).peekable();
    let first = pieces.next().unwrap_or(&[]);
    let tail: &[u8] = if pieces.peek().is_none() { post } else { &[] };
    let mut bufs =
        [IoSlice::new(head), IoSlice::new(pre), IoSlice::new(stamp), IoSlice::new(first), IoSlice::new(tail)];
    write_all_vectored(w, &mut bufs)?;
    while let Some(piece) = pieces.next() {
        if pieces.peek().is_none() {
            write_all_vectored(w, &mut [IoSlice::new(piece), IoSlice::new(post)])?;
        } else {
            w.write_all(piece)?;
        }
    }
    Ok(())
}

fn write_all_vectored<W: Write>(w: &mut W, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `max` bytes per call and counts calls.
    struct Sink {
        out: Vec<u8>,
        max: usize,
        calls: usize,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(b)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.max - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                if n == self.max {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn run_stamped(body_len: usize, max: usize, stamp: &[u8]) -> (Vec<u8>, Vec<u8>, usize) {
        let body: Vec<u8> = (0..body_len).map(|i| (i * 31 % 251) as u8).collect();
        let (head, pre, post) = (b"HEAD\r\n\r\n", b"PRE", b"POST");
        let mut sink = Sink { out: Vec::new(), max, calls: 0 };
        write_request(&mut sink, head, [pre, &body, post], stamp).unwrap();
        let want = [&head[..], pre, stamp, &body[stamp.len()..], post].concat();
        (sink.out, want, sink.calls)
    }

    fn run(body_len: usize, max: usize) -> (Vec<u8>, Vec<u8>, usize) {
        run_stamped(body_len, max, &[])
    }

    #[test]
    fn stamp_replaces_the_start_of_the_content() {
        let s = stamp(0xfeed, 3, 9);
        for (len, max) in [(16, usize::MAX), (64 << 10, 5), ((2 << 20) + 1, usize::MAX)] {
            let (got, want, _) = run_stamped(len, max, &s);
            assert_eq!(got, want);
        }
        let mut sink = Sink { out: Vec::new(), max: 10, calls: 0 };
        assert!(write_request(&mut sink, b"H", [b"", b"short", b""], &s).is_err());
    }

    #[test]
    fn small_request_is_one_syscall() {
        let (got, want, calls) = run(64 << 10, usize::MAX);
        assert_eq!(got, want);
        assert_eq!(calls, 1);
    }

    #[test]
    fn large_request_streams_in_1mib_writes() {
        let (got, want, calls) = run((5 << 20) + 3, usize::MAX);
        assert_eq!(got, want);
        assert_eq!(calls, 6);
    }

    #[test]
    fn partial_writes_are_resumed() {
        for max in [1, 7, 4096] {
            let (got, want, _) = run(100_000, max);
            assert_eq!(got, want);
        }
        let (got, want, _) = run(0, 3);
        assert_eq!(got, want);
    }

    fn resp(status: u16, body: &str) -> Response {
        Response { status, body: body.as_bytes().to_vec(), close: false }
    }

    #[test]
    fn checks_weidu_answers() {
        let ok = r#"{"code":200,"result":"ok","data":{"file_infos":[{"id":"x","size":65536}]}}"#;
        assert!(check(Shape::Weidu, &resp(201, ok), 65536).is_ok());
        assert!(check(Shape::Weidu, &resp(201, ok), 65537).is_err());
        assert!(check(Shape::Weidu, &resp(200, ok), 65536).is_err());
        let bad_code = r#"{"code":500,"data":{"file_infos":[{"size":65536}]}}"#;
        assert!(check(Shape::Weidu, &resp(201, bad_code), 65536).is_err());
        assert!(check(Shape::Weidu, &resp(201, "not json"), 65536).is_err());
        assert!(check(Shape::Weidu, &resp(201, r#"{"code":200}"#), 1).is_err());
    }

    #[test]
    fn checks_put_answers() {
        assert!(check(Shape::Put, &resp(201, ""), 1).is_ok());
        assert!(check(Shape::Put, &resp(204, ""), 1).is_ok());
        assert!(check(Shape::Put, &resp(409, ""), 1).is_err());
    }
}
