//! Starting, running and joining the worker threads.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use super::{available_cores, bind_listeners, Driver, RuntimeConfig, ShutdownTrigger, WorkerCtx};
use crate::http::conn::serve_conn;
use crate::http::Handler;

/// io_uring submission queue entries per worker.
const RING_ENTRIES: u32 = 1024;
/// How often the drain looks at the live-connection count.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// A running set of workers.
pub struct Server {
    addr: SocketAddr,
    driver: &'static str,
    trigger: ShutdownTrigger,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// The address every worker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// "io_uring" or "epoll".
    pub fn driver(&self) -> &'static str {
        self.driver
    }

    /// A handle that starts the graceful drain from any thread.
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        self.trigger.clone()
    }

    /// Waits for every worker to finish (after the drain).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Binds the listeners and starts the workers; returns once every one of them accepts.
///
/// `make_handler` runs on each worker thread to build that worker's handler.
pub fn serve<H, F>(cfg: RuntimeConfig, make_handler: F) -> io::Result<Server>
where
    H: Handler,
    F: Fn(usize) -> H + Send + Sync + 'static,
{
    let workers = if cfg.workers == 0 { available_cores() } else { cfg.workers };
    let (listeners, addr) = bind_listeners(cfg.listen, workers)?;
    start(cfg, listeners, addr, make_handler)
}

/// Starts one worker per listener (from [`bind_listeners`]), for callers that need the bound
/// address before they build their handlers.
pub fn start<H, F>(
    cfg: RuntimeConfig,
    listeners: Vec<std::net::TcpListener>,
    addr: SocketAddr,
    make_handler: F,
) -> io::Result<Server>
where
    H: Handler,
    F: Fn(usize) -> H + Send + Sync + 'static,
{
    let workers = listeners.len();
    let use_uring = match cfg.driver {
        Driver::Epoll => false,
        Driver::IoUring => {
            if !monoio::utils::detect_uring() {
                return Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring is not available"));
            }
            true
        }
        Driver::Auto => monoio::utils::detect_uring(),
    };
    let driver = if use_uring { "io_uring" } else { "epoll" };
    let trigger = ShutdownTrigger::default();
    let make_handler = std::sync::Arc::new(make_handler);
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
    let cores = available_cores();
    let mut threads = Vec::with_capacity(workers);
    for (id, std_listener) in listeners.into_iter().enumerate() {
        let cfg = cfg.clone();
        let make_handler = make_handler.clone();
        let ready = ready_tx.clone();
        let stop = trigger.subscribe();
        let t = std::thread::Builder::new().name(format!("sluice-w{id}")).spawn(move || {
            if cfg.pin && workers <= cores {
                if let Err(e) = monoio::utils::bind_to_cpu_set([id % cores]) {
                    tracing::warn!(worker = id, "could not pin worker to a core: {e:?}");
                }
            }
            let work = worker_main(id, driver, cfg, std_listener, make_handler, stop, ready.clone());
            let result = if use_uring {
                RuntimeBuilder::<IoUringDriver>::new()
                    .with_entries(RING_ENTRIES)
                    .enable_timer()
                    .build()
                    .map(|mut rt| rt.block_on(work))
            } else {
                RuntimeBuilder::<LegacyDriver>::new().enable_timer().build().map(|mut rt| rt.block_on(work))
            };
            if let Err(e) = result {
                let _ = ready.send(Err(e));
            }
        })?;
        threads.push(t);
    }
    drop(ready_tx);
    for _ in 0..workers {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                trigger.fire();
                return Err(e);
            }
            Err(_) => {
                trigger.fire();
                return Err(io::Error::other("a worker exited during start-up"));
            }
        }
    }
    tracing::info!(%addr, workers, driver, "workers accepting");
    Ok(Server { addr, driver, trigger, threads })
}

async fn worker_main<H, F>(
    id: usize,
    driver: &'static str,
    cfg: RuntimeConfig,
    std_listener: std::net::TcpListener,
    make_handler: std::sync::Arc<F>,
    stop: futures::channel::oneshot::Receiver<()>,
    ready: mpsc::Sender<io::Result<()>>,
) where
    H: Handler,
    F: Fn(usize) -> H,
{
    let listener = match monoio::net::TcpListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let ctx = Rc::new(WorkerCtx::new(id, driver, cfg.limits.clone()));
    let handler = Rc::new(make_handler(id));
    {
        let ctx = ctx.clone();
        monoio::spawn(async move {
            let _ = stop.await;
            ctx.shutdown.trigger();
        });
    }
    let _ = ready.send(Ok(()));
    drop(ready);

    loop {
        let accept = listener.accept();
        let stop = ctx.shutdown.wait();
        futures::pin_mut!(accept, stop);
        match futures::future::select(accept, stop).await {
            futures::future::Either::Right(_) => break,
            futures::future::Either::Left((Ok((stream, peer)), _)) => {
                let guard = ctx.conns.enter();
                let ctx = ctx.clone();
                let handler = handler.clone();
                monoio::spawn(async move {
                    serve_conn(stream, peer, &*handler, &ctx).await;
                    drop(guard);
                });
            }
            futures::future::Either::Left((Err(e), _)) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(worker = id, "accept failed: {e}");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    let deadline = Instant::now() + cfg.drain_timeout;
    while ctx.conns.live() > 0 && Instant::now() < deadline {
        monoio::time::sleep(DRAIN_POLL).await;
    }
    if ctx.conns.live() > 0 {
        tracing::warn!(worker = id, live = ctx.conns.live(), "drain deadline passed; closing connections");
    }
}
