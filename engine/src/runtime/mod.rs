//! Workers: one monoio runtime per core (pinned), each with its own reuse-port listener,
//! io_uring preferred with monoio's epoll driver as the fallback, and the graceful drain.

mod listener;
pub mod shutdown;
mod worker;

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Duration;

pub use listener::bind_listeners;
pub use shutdown::ShutdownTrigger;
pub use worker::{serve, start, Server};

use crate::http::HttpLimits;
use shutdown::{ConnCounter, ShutdownSignal};

/// Which I/O driver the workers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring where the kernel allows it, else epoll.
    Auto,
    /// io_uring only; start-up fails without it.
    IoUring,
    /// monoio's epoll ("legacy") driver.
    Epoll,
}

/// How to run the workers.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// Worker threads; 0 = one per CPU core.
    pub workers: usize,
    /// Pin each worker to a core.
    pub pin: bool,
    /// I/O driver.
    pub driver: Driver,
    /// HTTP limits.
    pub limits: HttpLimits,
    /// How long in-flight requests may run after the drain starts.
    pub drain_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9004)),
            workers: 0,
            pin: true,
            driver: Driver::Auto,
            limits: HttpLimits::default(),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Per-worker state shared by its connections (never leaves its thread).
pub struct WorkerCtx {
    /// The worker's index.
    pub id: usize,
    /// The driver this worker runs ("io_uring" or "epoll").
    pub driver: &'static str,
    pub(crate) limits: HttpLimits,
    pub(crate) shutdown: ShutdownSignal,
    pub(crate) conns: ConnCounter,
    request_prefix: String,
    request_seq: Cell<u64>,
}

impl WorkerCtx {
    pub(crate) fn new(id: usize, driver: &'static str, limits: HttpLimits) -> Self {
        Self {
            id,
            driver,
            limits,
            shutdown: ShutdownSignal::default(),
            conns: ConnCounter::default(),
            request_prefix: format!("{:08x}{:02x}", rand::random::<u32>(), id & 0xff),
            request_seq: Cell::new(0),
        }
    }

    /// A request id unique to this process run: random prefix, worker, sequence.
    pub fn next_request_id(&self) -> String {
        let n = self.request_seq.get() + 1;
        self.request_seq.set(n);
        format!("{}{:010x}", self.request_prefix, n)
    }
}

/// The number of CPU cores this process may run on.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
