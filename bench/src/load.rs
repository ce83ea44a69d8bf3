//! The load run: C connections spread over T OS threads, each thread cycling through its
//! connections (read the answer, send the next request) so up to C requests are in flight. A
//! warm-up is not counted; the timed window is fixed; in-flight requests are drained after it
//! within a bounded grace period. The main thread calls an [`Observer`] at the window edges.

use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::client::Conn;
use crate::interrupt;
use crate::payload::{boundary, random_body, RequestTemplate, Shape};
use crate::stats::{Stats, Summary};
use crate::target::Target;

/// Above this many bytes of bodies in total, all connections share one body.
const MAX_BODY_MEMORY: u64 = 1 << 30;
/// How long in-flight requests may take to finish after the window.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed connect or write, so a dead server is not spun on.
const BACKOFF: Duration = Duration::from_millis(10);
/// How often the observer is ticked during the window.
const TICK: Duration = Duration::from_millis(100);

#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub target: Target,
    pub shape: Shape,
    pub size: u64,
    pub connections: usize,
    pub threads: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub seed: u64,
    /// Per-syscall socket timeout.
    pub timeout: Duration,
    /// Stamp each request's content so that no two files are equal.
    pub unique_bodies: bool,
}

/// Called by the main thread while the load runs (e.g. to sample the server's CPU and RSS).
pub trait Observer {
    fn window_start(&mut self) {}
    fn tick(&mut self) {}
    fn window_end(&mut self) {}
}

/// An observer that does nothing.
pub struct NoObserver;
impl Observer for NoObserver {}

#[derive(Clone, Copy)]
struct Clock {
    window_start: Instant,
    window_end: Instant,
}

impl Clock {
    fn in_window(&self, t: Instant) -> bool {
        t >= self.window_start && t <= self.window_end
    }
}

/// Builds the connections (bodies generated here, before any timing starts).
fn build_conns(cfg: &LoadConfig) -> Result<Vec<Conn>> {
    let size = usize::try_from(cfg.size)?;
    let share = cfg.size.saturating_mul(cfg.connections as u64) > MAX_BODY_MEMORY;
    let shared = share.then(|| random_body(size, cfg.seed));
    let run = cfg.unique_bodies.then(rand::random::<u32>);
    Ok((0..cfg.connections)
        .map(|i| {
            let seed = cfg.seed.wrapping_add(i as u64);
            let body = shared.clone().unwrap_or_else(|| random_body(size, seed));
            let tmpl = RequestTemplate::new(cfg.shape, &cfg.target.host_header, body, boundary(seed));
            let mut c = Conn::new(i, cfg.target.clone(), cfg.shape, tmpl, cfg.timeout);
            c.set_unique(run);
            c
        })
        .collect())
}

/// Runs the load and returns the merged summary over the timed window.
pub fn run(cfg: &LoadConfig, obs: &mut dyn Observer) -> Result<Summary> {
    if cfg.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if cfg.duration.is_zero() {
        bail!("--duration must be positive");
    }
    let threads = cfg.threads.clamp(1, cfg.connections);
    let mut per_thread: Vec<Vec<Conn>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, c) in build_conns(cfg)?.into_iter().enumerate() {
        per_thread[i % threads].push(c);
    }

    let connected = Arc::new(Barrier::new(threads + 1));
    let go = Arc::new(Barrier::new(threads + 1));
    let clock = Arc::new(OnceLock::<Clock>::new());
    let handles: Vec<_> = per_thread
        .into_iter()
        .enumerate()
        .map(|(t, conns)| {
            let (connected, go, clock) = (connected.clone(), go.clone(), clock.clone());
            thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || {
                    let mut conns = conns;
                    let mut stats = Stats::new();
                    for c in conns.iter_mut() {
                        if let Err(e) = c.connect() {
                            stats.record_failure(e, false);
                        }
                    }
                    connected.wait();
                    go.wait();
                    let clock = *clock.get().expect("clock set before go");
                    drive(&mut conns, clock, &mut stats);
                    stats
                })
                .expect("spawn load thread")
        })
        .collect();

    connected.wait();
    let start = Instant::now();
    let c = Clock { window_start: start + cfg.warmup, window_end: start + cfg.warmup + cfg.duration };
    let _ = clock.set(c);
    go.wait();

    sleep_until(c.window_start);
    obs.window_start();
    loop {
        let now = Instant::now();
        if now >= c.window_end || interrupt::requested() {
            break;
        }
        thread::sleep((c.window_end - now).min(TICK));
        if Instant::now() < c.window_end {
            obs.tick();
        }
    }
    obs.window_end();

    let mut total = Stats::new();
    for h in handles {
        match h.join() {
            Ok(s) => total.merge(&s),
            Err(_) => bail!("a load thread panicked"),
        }
    }
    Ok(total.summary(cfg.duration))
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

/// One thread's loop: for each of its connections, collect the answer in flight (if any), then
/// send the next request while the window lasts. Ends when nothing is in flight after the window.
fn drive(conns: &mut [Conn], clock: Clock, stats: &mut Stats) {
    let mut inflight: Vec<Option<Instant>> = vec![None; conns.len()];
    let drain_deadline = clock.window_end + DRAIN_GRACE;
    let mut draining = false;
    loop {
        let mut busy = false;
        for (c, slot) in conns.iter_mut().zip(inflight.iter_mut()) {
            if let Some(t0) = slot.take() {
                let now = Instant::now();
                if now >= drain_deadline {
                    stats.record_failure("not answered within the drain grace".into(), false);
                    continue;
                }
                if now > clock.window_end && !draining {
                    draining = true;
                }
                if draining {
                    c.set_timeout(drain_deadline - now);
                }
                let res = c.receive();
                let done = Instant::now();
                match res {
                    Ok(()) => stats.record_ok(done - t0, c.payload_len(), clock.in_window(done)),
                    Err(e) => stats.record_failure(e, clock.in_window(done)),
                }
            }
            let now = Instant::now();
            if now < clock.window_end && !interrupt::requested() {
                busy = true;
                match c.send() {
                    Ok(()) => *slot = Some(now),
                    Err(e) => {
                        stats.record_failure(e, clock.in_window(now));
                        thread::sleep(BACKOFF);
                    }
                }
            }
        }
        if !busy && inflight.iter().all(Option::is_none) {
            break;
        }
    }
}
