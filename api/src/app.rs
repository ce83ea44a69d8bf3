//! `App`: the engine's HTTP handler. It picks the personality from the path, lets it answer,
//! counts the answer in the metrics and writes the access log (target `access`, debug level).

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use sluice_engine::http::{Error as HttpError, Handler, Request, Response};

use crate::contracts::{files, ops, weidu, Personality};
use crate::respond;
use crate::state::AppState;

/// One worker's handler (cheap: an `Arc` of the shared state).
pub struct App {
    state: Arc<AppState>,
}

impl App {
    /// A handler over the shared state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

impl Handler for App {
    async fn call<'a>(&'a self, mut req: Request<'a>) -> Response {
        let started = Instant::now();
        let personality = Personality::of(&req.head);
        let resp = match personality {
            Personality::Weidu => weidu::handle(&self.state, &mut req).await,
            Personality::Files => files::handle(&self.state, &req).await,
            Personality::Ops => ops::handle(&self.state, &req.head),
            Personality::Unknown => respond::json(404, &json!({ "error": "no such endpoint" })),
        };
        self.state.metrics.count_request(personality.label(), resp.status);
        tracing::debug!(
            target: "access",
            reqid = %req.request_id,
            peer = %req.peer,
            method = req.head.method.as_str(),
            path = %req.head.path,
            status = resp.status,
            body_bytes = req.body.received(),
            micros = started.elapsed().as_micros() as u64,
        );
        resp
    }

    fn framing_error(&self, path: Option<&str>, err: &HttpError, request_id: &str) -> Response {
        let status = err.status().unwrap_or(400);
        let personality = path.map_or(Personality::Unknown, Personality::of_path);
        self.state.metrics.count_request(personality.label(), status);
        tracing::debug!(target: "access", reqid = request_id, status, "refused before the handler: {err}");
        match personality {
            Personality::Weidu => weidu::WeiduError::Framing { status, message: err.to_string() }.render(),
            _ => respond::json(status, &json!({ "error": err.to_string() })),
        }
    }
}
