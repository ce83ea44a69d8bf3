//! Request builders: multipart/form-data bodies (file names as raw bytes, so tests can send NUL
//! or escape characters), chunked transfer coding with chosen chunk sizes, and whole weidu
//! upload requests.

/// One part of a multipart body.
#[derive(Debug, Clone)]
pub struct FilePart {
    /// The form field name.
    pub name: String,
    /// The raw `filename` parameter (`None` = a plain text field).
    pub filename: Option<Vec<u8>>,
    /// The part's Content-Type (`None` = no header).
    pub content_type: Option<String>,
    /// The part's bytes.
    pub data: Vec<u8>,
}

/// A multipart/form-data body under construction.
#[derive(Debug, Clone)]
pub struct Multipart {
    /// The boundary (without the leading dashes).
    pub boundary: String,
    /// The parts, in order.
    pub parts: Vec<FilePart>,
}

impl Default for Multipart {
    fn default() -> Self {
        Self::new()
    }
}

impl Multipart {
    /// An empty body with a fixed, curl-like boundary.
    pub fn new() -> Self {
        Self { boundary: "------------------------sluiceE2eB0undary7d3a".into(), parts: Vec::new() }
    }

    /// Adds a file part.
    pub fn file(self, field: &str, filename: &str, content_type: &str, data: &[u8]) -> Self {
        self.file_raw(field, filename.as_bytes(), Some(content_type), data)
    }

    /// Adds a file part whose filename is raw bytes.
    pub fn file_raw(mut self, field: &str, filename: &[u8], content_type: Option<&str>, data: &[u8]) -> Self {
        self.parts.push(FilePart {
            name: field.into(),
            filename: Some(filename.to_vec()),
            content_type: content_type.map(str::to_owned),
            data: data.to_vec(),
        });
        self
    }

    /// Adds a text field.
    pub fn text(mut self, field: &str, value: &str) -> Self {
        self.parts.push(FilePart {
            name: field.into(),
            filename: None,
            content_type: None,
            data: value.as_bytes().to_vec(),
        });
        self
    }

    /// The `Content-Type` header value.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The encoded body, closing boundary included.
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.parts {
            out.extend_from_slice(format!("--{}\r\n", self.boundary).as_bytes());
            out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{}\"", p.name).as_bytes());
            if let Some(f) = &p.filename {
                out.extend_from_slice(b"; filename=\"");
                out.extend_from_slice(f);
                out.extend_from_slice(b"\"");
            }
            out.extend_from_slice(b"\r\n");
            if let Some(ct) = &p.content_type {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&p.data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        out
    }

    /// A whole `POST /weidu/api/v1/files` request with `Content-Length` framing; `headers` are
    /// extra header lines without CRLF.
    pub fn upload_request(&self, user: &str, task: &str, headers: &[&str]) -> Vec<u8> {
        let body = self.body();
        let mut req = upload_head(user, task, &self.content_type(), Some(body.len() as u64), headers);
        req.extend_from_slice(&body);
        req
    }
}

/// The head of a weidu upload; `content_length` `None` = chunked framing.
pub fn upload_head(
    user: &str,
    task: &str,
    content_type: &str,
    content_length: Option<u64>,
    headers: &[&str],
) -> Vec<u8> {
    upload_head_query(&format!("user_id={user}&task_id={task}"), content_type, content_length, headers)
}

/// The head of a weidu upload with a raw query string.
pub fn upload_head_query(query: &str, content_type: &str, content_length: Option<u64>, headers: &[&str]) -> Vec<u8> {
    let mut h =
        format!("POST /weidu/api/v1/files?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n");
    match content_length {
        Some(n) => h.push_str(&format!("Content-Length: {n}\r\n")),
        None => h.push_str("Transfer-Encoding: chunked\r\n"),
    }
    for x in headers {
        h.push_str(x);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// `body` in chunked transfer coding, chunk sizes taken from `sizes` (cycled), then the last
/// chunk and the empty trailer.
pub fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    assert!(sizes.iter().all(|&s| s > 0), "chunk sizes must be positive");
    let mut out = Vec::with_capacity(body.len() + body.len() / 2 + 16);
    let mut off = 0;
    let mut i = 0;
    while off < body.len() {
        let n = sizes[i % sizes.len()].min(body.len() - off);
        i += 1;
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(&body[off..off + n]);
        out.extend_from_slice(b"\r\n");
        off += n;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking() {
        assert_eq!(chunked(b"hello", &[2]), b"2\r\nhe\r\n2\r\nll\r\n1\r\no\r\n0\r\n\r\n");
        assert_eq!(chunked(b"", &[3]), b"0\r\n\r\n");
    }

    #[test]
    fn body_shape() {
        let mp = Multipart { boundary: "B".into(), parts: Vec::new() }.text("a", "1").file(
            "files",
            "x.txt",
            "text/plain",
            b"hi",
        );
        let want = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n\
                    --B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
                    --B--\r\n";
        assert_eq!(String::from_utf8(mp.body()).unwrap(), want);
    }
}
