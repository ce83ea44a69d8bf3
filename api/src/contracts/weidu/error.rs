//! weidu errors and their rendering: `{"code": <status>, "result": "<detail>"}` — the one place
//! a weidu failure becomes a response.

use sluice_engine::http::{Error as HttpError, Response};
use sluice_engine::multipart::Error as MultipartError;
use sluice_engine::ErrorClass;

use super::types::ErrorBody;
use crate::respond;

/// The `result` of a 507: the server's disk is full; nothing of the request was stored.
pub const INSUFFICIENT_STORAGE: &str = "insufficient storage: the server is out of disk space; retry later";

/// A weidu failure.
#[derive(Debug, thiserror::Error)]
pub enum WeiduError {
    /// Bearer token missing or wrong (outside the test environment).
    #[error("unauthorized: a valid Authorization: Bearer token is required")]
    Unauthorized,
    /// A required query parameter is missing.
    #[error("missing query parameter {0}")]
    MissingParam(&'static str),
    /// A query parameter has characters or a length that cannot be part of a path.
    #[error("invalid {0}: use 1 to 64 of A-Z a-z 0-9 _ -")]
    BadParam(&'static str),
    /// Not a multipart/form-data body.
    #[error("Content-Type must be multipart/form-data with a boundary")]
    NotMultipart,
    /// No `files` part with a file name.
    #[error("no file in form field \"files\"")]
    NoFiles,
    /// A file name that cannot be stored.
    #[error("invalid file name: {0}")]
    BadFileName(&'static str),
    /// Only POST, GET and HEAD.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Reading or parsing the body failed.
    #[error("{0}")]
    Multipart(#[from] MultipartError),
    /// The HTTP layer refused the body (framing, size, timeout).
    #[error("{0}")]
    Http(#[from] HttpError),
    /// The engine failed.
    #[error("{0}")]
    Engine(#[from] sluice_engine::Error),
    /// A framing failure the HTTP layer met before the handler ran, with its status.
    #[error("{message}")]
    Framing {
        /// The status the HTTP layer chose.
        status: u16,
        /// What went wrong.
        message: String,
    },
}

impl WeiduError {
    /// The HTTP status (also the `code` field).
    pub fn status(&self) -> u16 {
        match self {
            WeiduError::Unauthorized => 401,
            WeiduError::MissingParam(_)
            | WeiduError::BadParam(_)
            | WeiduError::NotMultipart
            | WeiduError::NoFiles
            | WeiduError::BadFileName(_) => 400,
            WeiduError::MethodNotAllowed => 405,
            WeiduError::Framing { status, .. } => *status,
            WeiduError::Multipart(MultipartError::Body(e)) | WeiduError::Http(e) => e.status().unwrap_or(400),
            WeiduError::Multipart(MultipartError::PartTooLarge { .. }) => 413,
            WeiduError::Multipart(_) => 400,
            WeiduError::Engine(e) => match e.class() {
                ErrorClass::Client => match e {
                    sluice_engine::Error::Ingest(sluice_engine::ingest::Error::TooLarge { .. }) => 413,
                    sluice_engine::Error::Exists { .. } => 409,
                    _ => 400,
                },
                ErrorClass::NotFound => 404,
                ErrorClass::Unavailable => 503,
                ErrorClass::Full => 507,
                ErrorClass::Storage => 500,
            },
        }
    }

    /// The response. Server-side failures say no more than "internal error" (the log has the
    /// request id and the cause), except a full disk, which the client can act on (retry later).
    pub fn render(&self) -> Response {
        let status = self.status();
        let result = match status {
            507 => INSUFFICIENT_STORAGE.to_owned(),
            // The client's HTTP version, not a server fault.
            505 => self.to_string(),
            500.. => "internal error".to_owned(),
            _ => self.to_string(),
        };
        let mut resp = respond::json(status, &ErrorBody { code: status, result });
        match status {
            405 => resp = resp.with_header("Allow", "GET, HEAD, POST"),
            // RFC 9110 §11.6.1: a 401 names the scheme it wants.
            401 => resp = resp.with_header("WWW-Authenticate", "Bearer"),
            _ => {}
        }
        resp
    }
}

impl From<sluice_engine::ingest::Error> for WeiduError {
    fn from(e: sluice_engine::ingest::Error) -> Self {
        WeiduError::Engine(e.into())
    }
}

#[cfg(test)]
mod tests {
    use sluice_engine::http::ResponseBody;

    use super::*;

    fn body(resp: &Response) -> serde_json::Value {
        match &resp.body {
            ResponseBody::Bytes(b) => serde_json::from_slice(b).expect("JSON body"),
            _ => panic!("expected a body in memory"),
        }
    }

    #[test]
    fn a_full_disk_is_507_and_says_so() {
        let enospc = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e = WeiduError::from(sluice_engine::ingest::Error::Io(enospc));
        let resp = e.render();
        assert_eq!(resp.status, 507);
        assert_eq!(body(&resp), serde_json::json!({ "code": 507, "result": INSUFFICIENT_STORAGE }));
        let index_full = sluice_engine::Error::Index(sluice_engine::index::Error::Full("wal".into()));
        assert_eq!(WeiduError::Engine(index_full).status(), 507);
    }

    #[test]
    fn other_storage_failures_stay_opaque() {
        let eio = std::io::Error::other("device error");
        let resp = WeiduError::from(sluice_engine::ingest::Error::Io(eio)).render();
        assert_eq!(resp.status, 500);
        assert_eq!(body(&resp), serde_json::json!({ "code": 500, "result": "internal error" }));
    }

    #[test]
    fn client_faults_say_what_they_were_and_carry_their_headers() {
        let resp = WeiduError::Framing { status: 505, message: "unsupported HTTP version".into() }.render();
        assert_eq!(body(&resp), serde_json::json!({ "code": 505, "result": "unsupported HTTP version" }));
        assert_eq!(WeiduError::Unauthorized.render().header("www-authenticate"), Some("Bearer"));
        assert_eq!(WeiduError::MethodNotAllowed.render().header("allow"), Some("GET, HEAD, POST"));
    }
}
