//! Downloads: `GET|HEAD /files/{bucket}/{key}` for every stored object, with `Range`
//! (one range; 206/416), `ETag` = quoted qetag, conditional requests on it (`If-Match` 412,
//! `If-None-Match` 304, `If-Range`), the stored `Content-Type`, and Qiniu-style signed URLs
//! for the buckets listed as private. Errors: `{"error": "<detail>"}`.
//!
//! Every download also says `X-Content-Type-Options: nosniff` and `Content-Security-Policy:
//! sandbox`: anyone may upload (the test environment allows anonymous uploads), and an uploaded
//! HTML or SVG file served inline from this origin would otherwise run its scripts here.

use serde_json::json;
use sluice_engine::http::{Method, Request, RequestHead, Response, ResponseBody};

use crate::auth::signed_url::{self, SignedUrlError};
use crate::respond;
use crate::state::AppState;

/// The download endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET|HEAD /files/{bucket}/{key}`
    Get {
        /// Bucket.
        bucket: String,
        /// Key (decoded).
        key: String,
    },
}

/// A download failure.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// Only GET and HEAD.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The path has no bucket or key, or is not valid UTF-8 once decoded.
    #[error("bad object path")]
    BadPath,
    /// No such object.
    #[error("no such file or directory")]
    NotFound,
    /// A private bucket without a valid signature.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// `If-Match` names no ETag the object has.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The range lies outside the object.
    #[error("requested range not satisfiable")]
    RangeNotSatisfiable {
        /// The object's size.
        size: u64,
    },
    /// The engine failed.
    #[error("internal error")]
    Engine(#[from] sluice_engine::Error),
}

impl FilesError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            FilesError::MethodNotAllowed => 405,
            FilesError::BadPath => 400,
            FilesError::NotFound => 404,
            FilesError::Unauthorized(_) => 401,
            FilesError::PreconditionFailed => 412,
            FilesError::RangeNotSatisfiable { .. } => 416,
            FilesError::Engine(e) => match e.class() {
                sluice_engine::ErrorClass::NotFound => 404,
                _ => 500,
            },
        }
    }

    /// This personality's error body (the one place its errors become responses).
    pub fn render(&self) -> Response {
        let status = self.status();
        let message = if status == 404 { "no such file or directory".to_owned() } else { self.to_string() };
        let mut resp = respond::json(status, &json!({ "error": message }));
        if let FilesError::RangeNotSatisfiable { size } = self {
            resp = resp.with_header("Content-Range", format!("bytes */{size}"));
        }
        if let FilesError::MethodNotAllowed = self {
            resp = resp.with_header("Allow", "GET, HEAD");
        }
        resp
    }
}

/// Routes a download request.
pub fn route(head: &RequestHead) -> Result<Endpoint, FilesError> {
    if !matches!(head.method, Method::Get | Method::Head) {
        return Err(FilesError::MethodNotAllowed);
    }
    let path = head.decoded_path().ok_or(FilesError::BadPath)?;
    let rest = path.strip_prefix("/files/").ok_or(FilesError::BadPath)?;
    let (bucket, key) = rest.split_once('/').ok_or(FilesError::BadPath)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(FilesError::BadPath);
    }
    Ok(Endpoint::Get { bucket: bucket.to_owned(), key: key.to_owned() })
}

/// Answers a download request.
pub async fn handle(state: &AppState, req: &Request<'_>) -> Response {
    let result = match route(&req.head) {
        Ok(Endpoint::Get { bucket, key }) => handle_get(state, &req.head, &bucket, &key).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| {
        if e.status() >= 500 {
            tracing::error!(reqid = %req.request_id, "download failed: {e:?}");
        }
        e.render()
    })
}

/// `GET|HEAD /files/{bucket}/{key}`.
pub async fn handle_get(state: &AppState, head: &RequestHead, bucket: &str, key: &str) -> Result<Response, FilesError> {
    if state.config.private_buckets.iter().any(|b| b == bucket) {
        let now = respond::now_ms() / 1000;
        signed_url::verify(&state.config.access_keys, &state.public_url, &head.path, &head.query, now).map_err(
            |e| match e {
                SignedUrlError::Missing => FilesError::Unauthorized("a signed URL is required for this bucket"),
                SignedUrlError::BadSignature => FilesError::Unauthorized("bad token"),
                SignedUrlError::Expired => FilesError::Unauthorized("token out of date"),
            },
        )?;
    }
    let record = state.engine.stat(bucket, key)?.ok_or(FilesError::NotFound)?;
    let size = record.size;
    let etag = format!("\"{}\"", record.qetag);
    // RFC 9110 §13.2.2: If-Match, then If-None-Match, then If-Range.
    if let Some(v) = head.header("if-match") {
        if !etag_listed(v, &etag, false) {
            return Err(FilesError::PreconditionFailed);
        }
    }
    if let Some(v) = head.header("if-none-match") {
        if etag_listed(v, &etag, true) {
            return Ok(safe_headers(Response::empty(304).with_header("ETag", etag)));
        }
    }
    // A Range is honoured only while the client's copy is this one: an If-Range that is not
    // this ETag (or a date: no Last-Modified is given out) asks for the whole object.
    let range_applies = head.header("if-range").is_none_or(|v| v.trim() == etag);
    let range = match head.header("range") {
        Some(r) if range_applies => parse_range(r, size)?,
        _ => None,
    };
    let (status, offset, len) = match range {
        Some((start, end)) => (206, start, end - start + 1),
        None => (200, 0, size),
    };
    let body = if len == 0 {
        ResponseBody::Empty
    } else {
        ResponseBody::File(state.engine.open_range(&record, offset, len).await?)
    };
    let mut resp = Response { status, headers: Vec::new(), body, close: false }
        .with_header("Content-Type", record.mime.clone())
        .with_header("Content-Length", len.to_string())
        .with_header("ETag", etag)
        .with_header("Accept-Ranges", "bytes");
    if status == 206 {
        resp = resp.with_header("Content-Range", format!("bytes {}-{}/{}", offset, offset + len - 1, size));
    }
    Ok(safe_headers(resp))
}

/// The headers that keep an uploaded page from running as this origin (module header).
fn safe_headers(resp: Response) -> Response {
    resp.with_header("X-Content-Type-Options", "nosniff").with_header("Content-Security-Policy", "sandbox")
}

/// Whether the `If-Match` / `If-None-Match` value `list` names `etag` (or is `*`). `weak`: the
/// weak comparison (a `W/` prefix is ignored; If-None-Match), else the strong one (If-Match:
/// a weak validator never matches).
fn etag_listed(list: &str, etag: &str, weak: bool) -> bool {
    if list.trim() == "*" {
        return true;
    }
    list.split(',').map(str::trim).any(|tag| match tag.strip_prefix("W/") {
        Some(weak_tag) => weak && weak_tag == etag,
        None => tag == etag,
    })
}

/// Parses one `bytes=` range against `size` (RFC 9110 §14.1.2). `Ok(None)` = serve the whole
/// object (absent, multi-range or unparseable ranges are ignored, as the RFC allows);
/// inclusive `(start, end)` otherwise.
pub fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, FilesError> {
    // The range unit is case-insensitive (RFC 9110 §14.1).
    let value = value.trim();
    let Some(spec) = value.get(..6).filter(|u| u.eq_ignore_ascii_case("bytes=")).map(|_| &value[6..]) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let unsatisfiable = FilesError::RangeNotSatisfiable { size };
    if a.is_empty() {
        // Suffix range: the last `b` bytes.
        let Ok(n) = b.parse::<u64>() else { return Ok(None) };
        if n == 0 || size == 0 {
            return Err(unsatisfiable);
        }
        return Ok(Some((size.saturating_sub(n), size - 1)));
    }
    let Ok(start) = a.parse::<u64>() else { return Ok(None) };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(size.saturating_sub(1)),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(unsatisfiable);
    }
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_lists() {
        let e = "\"Fq1\"";
        assert!(etag_listed("\"Fq1\"", e, false));
        assert!(etag_listed("\"x\", \"Fq1\"", e, false));
        assert!(etag_listed("*", e, false));
        assert!(!etag_listed("\"x\"", e, true));
        assert!(!etag_listed("Fq1", e, true), "unquoted is another tag");
        assert!(etag_listed("W/\"Fq1\"", e, true), "weak comparison for If-None-Match");
        assert!(!etag_listed("W/\"Fq1\"", e, false), "never for If-Match");
    }

    #[test]
    fn ranges() {
        let ok = |v: &str, size| parse_range(v, size).ok().flatten();
        assert_eq!(ok("bytes=0-0", 10), Some((0, 0)));
        assert_eq!(ok("BYTES=1-2", 10), Some((1, 2)), "the unit is case-insensitive");
        assert_eq!(ok("Bytes=-3", 10), Some((7, 9)));
        assert_eq!(ok("bytes=2-5", 10), Some((2, 5)));
        assert_eq!(ok("bytes=2-", 10), Some((2, 9)));
        assert_eq!(ok("bytes=5-100", 10), Some((5, 9)));
        assert_eq!(ok("bytes=-3", 10), Some((7, 9)));
        assert_eq!(ok("bytes=-30", 10), Some((0, 9)));
        assert_eq!(ok("bytes=0-1,3-4", 10), None);
        assert_eq!(ok("items=0-1", 10), None);
        assert_eq!(ok("bytes=5-2", 10), None);
        assert_eq!(ok("bytes=x-2", 10), None);
        assert!(matches!(parse_range("bytes=10-", 10), Err(FilesError::RangeNotSatisfiable { size: 10 })));
        assert!(matches!(parse_range("bytes=-0", 10), Err(FilesError::RangeNotSatisfiable { .. })));
        assert!(matches!(parse_range("bytes=0-", 0), Err(FilesError::RangeNotSatisfiable { .. })));
    }
}
