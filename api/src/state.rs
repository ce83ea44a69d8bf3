//! `AppState`: what every handler may use — the validated config, the public URL, the engine,
//! the metrics. Built once, shared by all workers behind an `Arc`.

use std::sync::Arc;

use sluice_engine::Engine;

use crate::config::Config;
use crate::metrics::Metrics;

/// Shared application state.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// Base of every URL handed to clients, without a trailing `/`.
    pub public_url: String,
    /// The storage engine.
    pub engine: Arc<Engine>,
    /// Request metrics.
    pub metrics: Metrics,
}
