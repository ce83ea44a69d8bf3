//! Small helpers every personality uses to build responses.

use serde::Serialize;
use sluice_engine::http::Response;

/// The JSON content type sent with every JSON body.
pub const JSON: &str = "application/json; charset=utf-8";

/// A JSON response.
pub fn json<T: Serialize>(status: u16, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => Response::bytes(status, JSON, bytes),
        Err(_) => Response::bytes(500, JSON, &b"{\"error\":\"internal error\"}"[..]),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
