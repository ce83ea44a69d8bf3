//! HTTP/1.1 server core: no routes, no JSON, no domain status codes.
//!
//! [`conn`] runs the keep-alive loop of one connection: it reads a head ([`parse`]), frames the
//! body ([`body`], [`chunked`]), hands a [`Request`] to the [`Handler`], and writes the
//! [`Response`] ([`write`]). Failures before a request exists become 400/408/413/431/505 through
//! [`Error::status`] and the handler's [`Handler::framing_error`] (so each personality can answer
//! in its own shape); everything else is the handler's business.

pub mod body;
pub mod chunked;
pub(crate) mod conn;
pub mod error;
pub mod limits;
pub mod parse;
pub mod write;

use std::future::Future;
use std::net::SocketAddr;

pub use body::Body;
pub use error::Error;
pub use limits::HttpLimits;
pub use parse::{BodyFraming, Method, RequestHead};
pub use write::{FileBody, Response, ResponseBody};

/// One request as the handler sees it: the parsed head, a body to pull from, the peer, an id.
pub struct Request<'c> {
    /// The parsed head.
    pub head: RequestHead,
    /// The body; reading it first answers `Expect: 100-continue`.
    pub body: Body<'c>,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The request id, also sent back as `X-Reqid`.
    pub request_id: String,
}

/// What serves requests on a worker. One value per worker thread (no `Send` needed).
pub trait Handler: 'static {
    /// Answers one request. The handler decides whether to read the body; an unread body is
    /// drained (when small) or the connection is closed after the response.
    fn call<'a>(&'a self, req: Request<'a>) -> impl Future<Output = Response> + 'a;

    /// Renders a failure that happened before a request existed (or while framing its body
    /// before the handler ran). `path` is the request target's path when the request line got
    /// that far, so the answer can take the shape of the endpoint that was called.
    fn framing_error(&self, path: Option<&str>, err: &Error, request_id: &str) -> Response {
        let _ = (path, request_id);
        let status = err.status().unwrap_or(400);
        Response::bytes(status, "text/plain; charset=utf-8", format!("{err}\n").into_bytes())
    }
}
