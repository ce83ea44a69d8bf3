//! What goes on the wire: the seeded random body of a connection, its multipart/form-data framing
//! for the weidu upload, and the request head of each shape (`weidu` POST, nginx WebDAV `put`).

use std::io::Write;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// The two request shapes the load generator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// `POST /weidu/api/v1/files?user_id=bench&task_id=bench-<conn>-<n>`, multipart field `files`.
    Weidu,
    /// `PUT /up/<conn>-<n>.bin` with the raw body (nginx WebDAV).
    Put,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Weidu => "weidu",
            Shape::Put => "put",
        }
    }
}

/// `len` pseudo-random bytes from `seed` (ChaCha; the same seed gives the same bytes).
pub fn random_body(len: usize, seed: u64) -> Arc<[u8]> {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v.into()
}

/// Bytes at the start of the content that `--unique-bodies` overwrites per request.
pub const STAMP_LEN: usize = 16;

/// The per-request stamp: a run id, the connection and the sequence number, little-endian.
/// The run id (random per load run) keeps a second run against the same server from repeating
/// the first run's bodies, which a deduplicating server would store for free.
pub fn stamp(run: u32, conn: usize, n: u64) -> [u8; STAMP_LEN] {
    let mut s = [0u8; STAMP_LEN];
    s[..4].copy_from_slice(&run.to_le_bytes());
    s[4..8].copy_from_slice(&(conn as u32).to_le_bytes());
    s[8..].copy_from_slice(&n.to_le_bytes());
    s
}

/// A multipart boundary that cannot plausibly occur in a random body (128 random bits in hex).
pub fn boundary(seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_b0a7_da7e_0001);
    format!("sluice-bench-{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

/// Everything needed to write one request of a connection, with the body held once.
pub struct RequestTemplate {
    shape: Shape,
    host: String,
    boundary: String,
    /// Multipart bytes before the file content (empty for `put`).
    pre: Vec<u8>,
    /// The file content itself.
    body: Arc<[u8]>,
    /// Multipart bytes after the file content (empty for `put`).
    post: Vec<u8>,
}

impl RequestTemplate {
    pub fn new(shape: Shape, host: &str, body: Arc<[u8]>, boundary: String) -> Self {
        let (pre, post) = match shape {
            Shape::Weidu => multipart_frame(&boundary, "files", "f.bin"),
            Shape::Put => (Vec::new(), Vec::new()),
        };
        RequestTemplate { shape, host: host.to_string(), boundary, pre, body, post }
    }

    /// Payload size S (the file content, not counting multipart framing).
    pub fn payload_len(&self) -> u64 {
        self.body.len() as u64
    }

    /// Bytes of the request body as sent (`Content-Length`).
    pub fn content_length(&self) -> u64 {
        (self.pre.len() + self.body.len() + self.post.len()) as u64
    }

    /// Body segments in order: multipart preamble, file content, multipart epilogue.
    pub fn segments(&self) -> [&[u8]; 3] {
        [&self.pre, &self.body, &self.post]
    }

    /// Writes the request head of request `n` on connection `conn` into `out` (cleared first).
    pub fn write_head(&self, conn: usize, n: u64, out: &mut Vec<u8>) {
        out.clear();
        let len = self.content_length();
        // Writing into a Vec cannot fail.
        let _ = match self.shape {
            Shape::Weidu => write!(
                out,
                "POST /weidu/api/v1/files?user_id=bench&task_id=bench-{conn}-{n} HTTP/1.1\r\n\
                 Host: {}\r\n\
                 Content-Type: multipart/form-data; boundary={}\r\n\
                 Content-Length: {len}\r\n\r\n",
                self.host, self.boundary
            ),
            Shape::Put => write!(
                out,
                "PUT /up/{conn}-{n}.bin HTTP/1.1\r\n\
                 Host: {}\r\n\
                 Content-Type: application/octet-stream\r\n\
                 Content-Length: {len}\r\n\r\n",
                self.host
            ),
        };
    }
}

/// The multipart framing around one file part: (bytes before the content, bytes after it).
pub fn multipart_frame(boundary: &str, field: &str, filename: &str) -> (Vec<u8>, Vec<u8>) {
    let pre = format!(
        "--{boundary}\r\n\
         Content-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let post = format!("\r\n--{boundary}--\r\n");
    (pre.into_bytes(), post.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_differ_by_run_connection_and_request() {
        let base = stamp(7, 3, 9);
        assert_eq!(base, stamp(7, 3, 9));
        for other in [stamp(8, 3, 9), stamp(7, 4, 9), stamp(7, 3, 10)] {
            assert_ne!(base, other);
        }
        assert_eq!(&base[..4], &7u32.to_le_bytes());
    }

    fn whole_body(t: &RequestTemplate) -> Vec<u8> {
        t.segments().concat()
    }

    #[test]
    fn random_body_is_seeded() {
        assert_eq!(random_body(1000, 7), random_body(1000, 7));
        assert_ne!(random_body(1000, 7), random_body(1000, 8));
        assert_eq!(random_body(0, 1).len(), 0);
    }

    #[test]
    fn multipart_body_round_trips() {
        let body = random_body(65536, 3);
        let b = boundary(3);
        let t = RequestTemplate::new(Shape::Weidu, "127.0.0.1:1", body.clone(), b.clone());
        let whole = whole_body(&t);
        assert_eq!(whole.len() as u64, t.content_length());
        assert_eq!(t.payload_len(), 65536);

        // Split the way a multipart parser does: on CRLF--boundary delimiters.
        let first = format!("--{b}\r\n");
        assert!(whole.starts_with(first.as_bytes()));
        let close = format!("\r\n--{b}--\r\n");
        assert!(whole.ends_with(close.as_bytes()));
        let inner = &whole[first.len()..whole.len() - close.len()];
        let sep = inner.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let headers = std::str::from_utf8(&inner[..sep]).unwrap();
        assert_eq!(
            headers,
            "Content-Disposition: form-data; name=\"files\"; filename=\"f.bin\"\r\n\
             Content-Type: application/octet-stream"
        );
        assert_eq!(&inner[sep + 4..], &body[..]);
        // The delimiter appears nowhere inside the content.
        let delim = format!("\r\n--{b}");
        assert!(!body.windows(delim.len()).any(|w| w == delim.as_bytes()));
    }

    #[test]
    fn weidu_head_is_valid_http() {
        let t = RequestTemplate::new(Shape::Weidu, "127.0.0.1:9004", random_body(10, 1), boundary(1));
        let mut head = Vec::new();
        t.write_head(4, 17, &mut head);
        let mut hs = [httparse::EMPTY_HEADER; 8];
        let mut req = httparse::Request::new(&mut hs);
        assert!(req.parse(&head).unwrap().is_complete());
        assert_eq!(req.method, Some("POST"));
        assert_eq!(req.path, Some("/weidu/api/v1/files?user_id=bench&task_id=bench-4-17"));
        let get = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| std::str::from_utf8(h.value).unwrap().to_string())
        };
        assert_eq!(get("content-length"), Some(t.content_length().to_string()));
        assert_eq!(get("content-type"), Some(format!("multipart/form-data; boundary={}", boundary(1))));
        assert_eq!(get("host").as_deref(), Some("127.0.0.1:9004"));
    }

    #[test]
    fn put_is_raw() {
        let body = random_body(100, 2);
        let t = RequestTemplate::new(Shape::Put, "h", body.clone(), boundary(2));
        assert_eq!(whole_body(&t), &body[..]);
        let mut head = Vec::new();
        t.write_head(1, 2, &mut head);
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("PUT /up/1-2.bin HTTP/1.1\r\n"));
        assert!(head.contains("Content-Length: 100\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
    }
}
