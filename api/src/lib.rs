//! sluice-api: the API personalities and the `sluice` binary.
//!
//! It knows nothing of the engine's I/O driver, HTTP parser, multipart parser or index
//! store: it sees the engine through `sluice_engine::{http::Handler, Engine, multipart, media}`. [`spawn`] starts a server
//! in-process (used by `main` and by the end-to-end tests).

pub mod app;
pub mod auth;
pub mod config;
pub mod contracts;
pub mod ids;
pub mod metrics;
pub mod respond;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sluice_engine::http::HttpLimits;
use sluice_engine::runtime::{self, Driver, RuntimeConfig, ShutdownTrigger};
use sluice_engine::{Engine, EngineConfig, IndexBackend};

use crate::app::App;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::state::AppState;

/// How to start, beyond the configuration file (tests choose the driver and the index).
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// The I/O driver.
    pub driver: Driver,
    /// The index backend.
    pub index: IndexBackend,
    /// Pin workers to cores.
    pub pin: bool,
    /// How long in-flight requests may run after the drain starts.
    pub drain_timeout: Duration,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        Self { driver: Driver::Auto, index: IndexBackend::Rocks, pin: true, drain_timeout: Duration::from_secs(10) }
    }
}

/// A failure to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The engine could not open the data directory.
    #[error("cannot open data directory: {0}")]
    Engine(#[from] sluice_engine::Error),
    /// The listeners or workers could not start.
    #[error("cannot start workers: {0}")]
    Io(#[from] std::io::Error),
}

/// A running server.
pub struct ServerHandle {
    server: runtime::Server,
    engine: Arc<Engine>,
    public_url: String,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The base URL handed to clients.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The I/O driver the workers run on, as the engine names it.
    pub fn driver(&self) -> &'static str {
        self.server.driver()
    }

    /// Starts the drain from any thread.
    pub fn trigger(&self) -> ShutdownTrigger {
        self.server.shutdown_trigger()
    }

    /// The engine (tests inspect the index through it).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Waits for the workers to finish (after a trigger), then flushes the index.
    pub fn join(self) {
        self.server.join();
        self.engine.close();
    }

    /// Drains and stops: stop accepting, finish in-flight requests, flush the index.
    pub fn shutdown(self) {
        self.trigger().fire();
        self.join();
    }
}

/// Starts a server for `config`; returns once every worker accepts connections.
pub fn spawn(config: Config, opts: SpawnOptions) -> Result<ServerHandle, StartError> {
    let mut engine_cfg = EngineConfig::new(config.data_dir.clone());
    engine_cfg.durability = config.durability;
    engine_cfg.index = opts.index;
    let engine = Arc::new(Engine::open(&engine_cfg)?);
    if engine.swept_tmp_files() > 0 {
        tracing::info!(files = engine.swept_tmp_files(), "removed leftover tmp files from an earlier run");
    }
    // Said at every start, garbage or not: on a large store the sweep's time is worth seeing.
    if let Some(g) = engine.swept_garbage() {
        tracing::info!(
            bytes_freed = g.bytes_freed,
            files_removed = g.files_removed,
            packs_removed = g.packs_removed,
            packs_punched = g.packs_punched,
            zero_ref_records = g.zero_ref_records,
            took_ms = g.took.as_millis() as u64,
            "start-up garbage sweep: gave back the space of bytes no record names"
        );
    }
    let limits = HttpLimits {
        max_head_bytes: config.max_header_size,
        max_body: config.max_body,
        header_timeout: config.header_timeout,
        body_idle_timeout: config.body_idle_timeout,
        ..HttpLimits::default()
    };
    let runtime_cfg = RuntimeConfig {
        listen: config.listen,
        workers: config.workers,
        pin: opts.pin,
        driver: opts.driver,
        limits,
        drain_timeout: opts.drain_timeout,
    };
    // The public URL may depend on the port the kernel picked: bind first, then build the
    // state every handler shares, then start the workers.
    let workers = if config.workers == 0 { runtime::available_cores() } else { config.workers };
    let (listeners, addr) = runtime::bind_listeners(config.listen, workers)?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let state = Arc::new(AppState {
        config,
        public_url: public_url.clone(),
        engine: engine.clone(),
        metrics: Metrics::default(),
    });
    let server = runtime::start(runtime_cfg, listeners, addr, move |_worker| App::new(state.clone()))?;
    Ok(ServerHandle { server, engine, public_url })
}
