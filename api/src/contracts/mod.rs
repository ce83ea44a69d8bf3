//! One module per personality (design.md rule 2). Each owns its routes (a plain `Endpoint`
//! enum), its DTOs, its handlers (`handle_<endpoint>`) and its error rendering.
//!
//! Today: `weidu` (task attachments), `files` (downloads of every stored object) and `ops`
//! (health and metrics). tcb, store, wcs, kodo, jdy and backend land with their issues.

pub mod files;
pub mod ops;
pub mod weidu;

use sluice_engine::http::RequestHead;

/// Which personality a request belongs to, from its path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    /// `/weidu/api/v1/files`
    Weidu,
    /// `/files/{bucket}/{key}`
    Files,
    /// `/healthz`, `/metrics`
    Ops,
    /// Nothing here.
    Unknown,
}

impl Personality {
    /// Picks the personality of a request.
    pub fn of(head: &RequestHead) -> Self {
        Self::of_path(&head.path)
    }

    /// Picks the personality of a request path.
    pub fn of_path(path: &str) -> Self {
        if path == weidu::routes::FILES_PATH || path == "/weidu/api/v1/files/" {
            Personality::Weidu
        } else if path.starts_with("/files/") {
            Personality::Files
        } else if path == "/healthz" || path == "/metrics" {
            Personality::Ops
        } else {
            Personality::Unknown
        }
    }

    /// The label used in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Personality::Weidu => "weidu",
            Personality::Files => "files",
            Personality::Ops => "ops",
            Personality::Unknown => "none",
        }
    }
}
