//! sluice-bench: load generator and side-by-side runner (sluice vs the nginx WebDAV baseline),
//! loopback only. See bench/README.md for what each command measures and how.

mod cli;
mod client;
mod compare;
mod guestmem;
mod hashcost;
mod interrupt;
mod load;
mod mock;
mod payload;
mod probe;
mod procfs;
mod response;
mod scratch;
mod server;
mod size;
mod stats;
mod target;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::json;

use crate::cli::{Cli, Cmd, HashcostArgs, RunArgs};
use crate::load::{LoadConfig, NoObserver, Observer};
use crate::probe::Probe;
use crate::size::human_bytes;

/// Exit status: 0 all good, 1 error (a server did not start, a run did not complete), 2 the load
/// ran but some requests failed.
fn main() -> ExitCode {
    let res = match Cli::parse().cmd {
        Cmd::Run(a) => {
            interrupt::install();
            run(&a)
        }
        Cmd::Compare(a) => {
            interrupt::install();
            compare::compare(&a)
        }
        Cmd::Hashcost(a) => hashcost(&a).map(|()| 0),
        Cmd::MockServer(a) => mock::serve(&a).map(|()| 0),
    };
    match res {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failures) => {
            eprintln!("sluice-bench: {failures} request(s) failed");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("sluice-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Returns the number of failed requests.
fn run(a: &RunArgs) -> Result<u64> {
    let target = target::parse_target(&a.target)?;
    let cfg = LoadConfig {
        target,
        shape: a.shape,
        size: a.size.bytes(),
        connections: a.load.connections,
        threads: a.load.threads,
        warmup: a.load.warmup(),
        duration: a.load.duration(),
        seed: a.load.seed,
        timeout: a.load.timeout(),
        unique_bodies: a.load.unique_bodies,
    };
    println!(
        "{} {} x {} connections over {} threads, {:.1} s (+{:.1} s warm-up) -> {}",
        a.shape.name(),
        a.size,
        cfg.connections,
        cfg.threads.clamp(1, cfg.connections.max(1)),
        a.load.duration,
        a.load.warmup,
        a.target
    );
    let mut probe = a.server_pid.map(Probe::new);
    let obs: &mut dyn Observer = match probe.as_mut() {
        Some(p) => p,
        None => &mut NoObserver,
    };
    let summary = load::run(&cfg, obs)?;
    summary.print();
    let usage = probe.map(|p| p.usage(summary.payload_bytes));
    if let Some(u) = usage {
        println!(
            "server: {:.2} CPU-s in window, {:.3} CPU-s/GB, peak RSS {} (RSS {} -> {})",
            u.cpu_s,
            u.cpu_s_per_gb,
            human_bytes(u.peak_rss),
            human_bytes(u.rss_start),
            human_bytes(u.rss_end)
        );
    }
    if let Some(path) = &a.json {
        let doc = json!({
            "target": a.target,
            "shape": a.shape.name(),
            "size_bytes": a.size.bytes(),
            "connections": a.load.connections,
            "threads": a.load.threads,
            "duration_s": a.load.duration,
            "client": summary.to_json(),
            "server_usage": usage.map(|u| u.to_json()),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(summary.failures)
}

fn hashcost(a: &HashcostArgs) -> Result<()> {
    let h = hashcost::measure(a.size.bytes());
    h.print();
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&h.to_json())? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
