//! The ops personality: `GET /healthz` and `GET /metrics`.

use sluice_engine::http::{Method, RequestHead, Response};

use crate::state::AppState;

/// The ops endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /healthz`
    Health,
    /// `GET /metrics`
    Metrics,
}

/// Routes an ops request; `None` = method not allowed.
pub fn route(head: &RequestHead) -> Option<Endpoint> {
    if !matches!(head.method, Method::Get | Method::Head) {
        return None;
    }
    match head.path.as_str() {
        "/healthz" => Some(Endpoint::Health),
        "/metrics" => Some(Endpoint::Metrics),
        _ => None,
    }
}

/// Answers an ops request.
pub fn handle(state: &AppState, head: &RequestHead) -> Response {
    match route(head) {
        Some(Endpoint::Health) => handle_health(),
        Some(Endpoint::Metrics) => handle_metrics(state),
        None => {
            Response::bytes(405, "text/plain; charset=utf-8", "method not allowed\n").with_header("Allow", "GET, HEAD")
        }
    }
}

/// 200 while serving.
pub fn handle_health() -> Response {
    Response::bytes(200, "text/plain; charset=utf-8", "ok\n")
}

/// Prometheus/OpenMetrics text.
pub fn handle_metrics(state: &AppState) -> Response {
    Response::bytes(
        200,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        state.metrics.render(state.engine.stats()),
    )
}
