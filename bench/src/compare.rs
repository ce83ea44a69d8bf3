//! The side-by-side runner: for each size and round, nginx (WebDAV PUT) then sluice (weidu
//! multipart POST, once per durability mode), each a fresh server in a fresh temp dir, loaded
//! the same way and metered; then one markdown table and optionally JSON of every run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::cli::{CompareArgs, Only};
use crate::guestmem;
use crate::hashcost::{self, HashCost};
use crate::interrupt;
use crate::load::{self, LoadConfig};
use crate::payload::Shape;
use crate::probe::{Probe, ServerUsage};
use crate::procfs;
use crate::scratch;
use crate::server::{Durability, Server};
use crate::size::{human_bytes, ByteSize};
use crate::stats::Summary;

/// Pause after a server is stopped and its files removed, so the next run starts settled.
const SETTLE: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Nginx,
    Sluice(Durability),
}

/// One server, one size, one round.
struct RunResult {
    which: Which,
    size: ByteSize,
    round: usize,
    /// The machine's available memory just before the run.
    mem_available: Option<u64>,
    /// Memory the guest reported free to its host during the run (None: no counter).
    reported: Option<u64>,
    outcome: Result<(Summary, ServerUsage), String>,
}

/// Runs the comparison; returns the number of failed requests over all runs.
pub fn compare(args: &CompareArgs) -> Result<u64> {
    let want_nginx = args.only != Some(Only::Sluice);
    let want_sluice = args.only != Some(Only::Nginx);
    let sluice_bin = if want_sluice {
        let bin = args.sluice_bin.clone().context("--sluice-bin is required unless --only nginx")?;
        if !bin.is_file() {
            bail!("sluice binary {} not found", bin.display());
        }
        Some(bin)
    } else {
        None
    };
    let tmp = args.tmp_dir.clone().unwrap_or_else(std::env::temp_dir);

    let hash = (args.hashcost_size.bytes() > 0).then(|| {
        let h = hashcost::measure(args.hashcost_size.bytes());
        h.print();
        println!();
        h
    });

    if !args.fill_page_cache && guestmem::reported_bytes().is_some() {
        eprintln!(
            "note: this machine reports free memory to its host (free page reporting); without \
             --fill-page-cache nginx may run at half its steady-state rate (docs/benchmarks.md)"
        );
    }
    let fill = if args.fill_page_cache { Some(create_fill(&tmp)?) } else { None };
    let mut runs: Vec<RunResult> = Vec::new();
    // Finished runs' dirs, emptied; removed together at the end (see `scratch`).
    let mut retired: Vec<TempDir> = Vec::new();
    for &size in &args.sizes {
        for round in 1..=args.rounds.max(1) {
            let mut order = Vec::new();
            if want_nginx {
                order.push(Which::Nginx);
            }
            if want_sluice {
                order.extend(args.durabilities.iter().map(|&d| Which::Sluice(d)));
            }
            for which in order {
                if interrupt::requested() {
                    break;
                }
                if args.drop_caches {
                    procfs::drop_caches().context("--drop-caches: writing /proc/sys/vm/drop_caches (needs root)")?;
                }
                if let Some(fill) = &fill {
                    let took = fill.refill().context("--fill-page-cache: reading the fill file")?;
                    eprintln!("page cache refilled ({}) in {:.1} s", human_bytes(fill.len()), took.as_secs_f64());
                }
                let mem_available = procfs::mem_available();
                let reported_before = guestmem::reported_bytes();
                let outcome =
                    run_one(which, size, args, sluice_bin.as_deref(), &tmp, &mut retired).map_err(|e| format!("{e:#}"));
                let reported = reported_before.zip(guestmem::reported_bytes()).map(|(a, b)| b.saturating_sub(a));
                progress(which, size, round, mem_available, reported, &outcome);
                runs.push(RunResult { which, size, round, mem_available, reported, outcome });
                settle();
            }
        }
    }

    drop(retired);
    drop(fill);
    if scratch::ext4_without_journal(&tmp) {
        eprintln!(
            "note: {} is on ext4 without a journal; the files just deleted slow down file \
             creation there for up to ~6 minutes (inode allocator skips recently deleted \
             inodes): wait before the next benchmark on this filesystem",
            tmp.display()
        );
    }

    println!();
    print!("{}", table(&runs, args));
    // nginx's rate depends on the memory state (free memory reported to the host halves it,
    // docs/benchmarks.md): a reader of the table should see what state each run started in.
    let avail: Vec<String> = runs
        .iter()
        .map(|r| {
            let mem = r.mem_available.map_or_else(|| "?".to_string(), human_bytes);
            format!("{} {} r{} {mem}", label(r.which), r.size, r.round)
        })
        .collect();
    println!(
        "\nmemory available before each run{}{}: {}",
        if args.drop_caches { " (page cache dropped first)" } else { "" },
        if args.fill_page_cache { " (page cache filled first)" } else { "" },
        avail.join(", ")
    );
    let reported: Vec<String> = runs
        .iter()
        .filter_map(|r| Some(format!("{} {} r{} {}", label(r.which), r.size, r.round, human_bytes(r.reported?))))
        .collect();
    if !reported.is_empty() {
        println!("memory this VM reported free to its host during each run: {}", reported.join(", "));
    }
    for r in &runs {
        if let Err(e) = &r.outcome {
            println!("\n{} {} round {}: {e}", label(r.which), r.size, r.round);
        }
        if let Ok((s, _)) = &r.outcome {
            for f in &s.samples {
                println!("\n{} {} round {} failure: {f}", label(r.which), r.size, r.round);
            }
        }
    }
    if let Some(path) = &args.json {
        write_json(path, &runs, args, hash.as_ref())?;
    }
    if interrupt::requested() {
        bail!("interrupted");
    }
    if runs.iter().any(|r| r.outcome.is_err()) {
        bail!("some runs did not complete");
    }
    Ok(runs.iter().filter_map(|r| r.outcome.as_ref().ok()).map(|(s, _)| s.failures).sum())
}

fn label(w: Which) -> String {
    match w {
        Which::Nginx => "nginx".into(),
        Which::Sluice(d) => format!("sluice ({})", d.name()),
    }
}

fn run_one(
    which: Which,
    size: ByteSize,
    args: &CompareArgs,
    sluice_bin: Option<&Path>,
    tmp: &Path,
    retired: &mut Vec<TempDir>,
) -> Result<(Summary, ServerUsage)> {
    let (server, shape) = match which {
        Which::Nginx => (Server::start_nginx(tmp)?, Shape::Put),
        Which::Sluice(d) => {
            let bin = sluice_bin.context("no sluice binary")?;
            (Server::start_sluice(bin, d, tmp)?, Shape::Weidu)
        }
    };
    let cfg = LoadConfig {
        target: server.target.clone(),
        shape,
        size: size.bytes(),
        connections: args.load.connections,
        threads: args.load.threads,
        warmup: args.load.warmup(),
        duration: args.load.duration(),
        seed: args.load.seed,
        timeout: args.load.timeout(),
        unique_bodies: args.load.unique_bodies,
    };
    let mut probe = Probe::new(server.pid());
    let summary =
        load::run(&cfg, &mut probe).with_context(|| format!("load on {}{}", server.name, server.log_tail()))?;
    let usage = probe.usage(summary.payload_bytes);
    retired.push(server.retire()?);
    Ok((summary, usage))
}

/// The page-cache fill for `--fill-page-cache`: all available memory but
/// [`guestmem::FILL_HEADROOM`], in `dir`.
fn create_fill(dir: &Path) -> Result<guestmem::PageCacheFill> {
    let avail = procfs::mem_available().context("--fill-page-cache: reading MemAvailable")?;
    let fill = guestmem::PageCacheFill::create(dir, avail.saturating_sub(guestmem::FILL_HEADROOM))
        .with_context(|| format!("--fill-page-cache: creating the fill file in {}", dir.display()))?;
    Ok(fill)
}

/// Lets the disk and page cache settle between runs so one server's writeback does not land in
/// the next one's window.
fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    thread::sleep(SETTLE);
}

fn progress(
    which: Which,
    size: ByteSize,
    round: usize,
    mem_available: Option<u64>,
    reported: Option<u64>,
    o: &Result<(Summary, ServerUsage), String>,
) {
    let avail = mem_available.map_or_else(|| "?".to_string(), human_bytes);
    let reported = reported.map_or_else(String::new, |b| format!(", reported to the host during: {}", human_bytes(b)));
    match o {
        Ok((s, u)) => eprintln!(
            "{:<14} {:>8} r{round}: {:>8.0} files/s {:>8.1} MB/s  p50 {:.2} ms p99 {:.2} ms  \
             CPU {:.2} s/GB  peak RSS {}  failures {}  (memory available before: {avail}{reported})",
            label(which),
            size.to_string(),
            s.files_per_s,
            s.mb_per_s,
            s.p50_ms,
            s.p99_ms,
            u.cpu_s_per_gb,
            human_bytes(u.peak_rss),
            s.failures
        ),
        Err(e) => eprintln!("{:<14} {:>8} r{round}: error: {e}", label(which), size.to_string()),
    }
}

fn find(runs: &[RunResult], which: Which, size: ByteSize, round: usize) -> Option<&RunResult> {
    runs.iter().find(|r| r.which == which && r.size == size && r.round == round)
}

fn ok(r: Option<&RunResult>) -> Option<&(Summary, ServerUsage)> {
    r.and_then(|r| r.outcome.as_ref().ok())
}

/// files/s with a decimal when small (100 MiB streams run a few files a second).
fn rate(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

/// The markdown table: one row per size × round × durability.
fn table(runs: &[RunResult], args: &CompareArgs) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| workload | nginx files/s | nginx MB/s | sluice files/s | sluice MB/s | ratio \
         (sluice/nginx) | sluice p50/p99 ms | sluice CPU-s/GB | sluice peak RSS | failures |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    let dash = || "—".to_string();
    let sluice_modes: Vec<Option<Durability>> =
        if args.only == Some(Only::Nginx) { vec![None] } else { args.durabilities.iter().map(|&d| Some(d)).collect() };
    for &size in &args.sizes {
        for round in 1..=args.rounds.max(1) {
            let n = ok(find(runs, Which::Nginx, size, round));
            for &mode in &sluice_modes {
                let s = mode.and_then(|d| ok(find(runs, Which::Sluice(d), size, round)));
                let mut workload = format!("{size} × {} conn", args.load.connections);
                if let Some(d) = mode {
                    let _ = write!(workload, ", {}", d.name());
                }
                if args.rounds > 1 {
                    let _ = write!(workload, ", round {round}");
                }
                let ratio = match (n, s) {
                    (Some((n, _)), Some((s, _))) if n.files_per_s > 0.0 => {
                        format!("{:.2}", s.files_per_s / n.files_per_s)
                    }
                    _ => dash(),
                };
                let fail = |r: Option<&(Summary, ServerUsage)>| r.map_or_else(dash, |(s, _)| s.failures.to_string());
                let _ = writeln!(
                    out,
                    "| {workload} | {} | {} | {} | {} | {ratio} | {} | {} | {} | nginx {} / sluice {} |",
                    n.map_or_else(dash, |(s, _)| rate(s.files_per_s)),
                    n.map_or_else(dash, |(s, _)| format!("{:.1}", s.mb_per_s)),
                    s.map_or_else(dash, |(s, _)| rate(s.files_per_s)),
                    s.map_or_else(dash, |(s, _)| format!("{:.1}", s.mb_per_s)),
                    s.map_or_else(dash, |(s, _)| format!("{:.2} / {:.2}", s.p50_ms, s.p99_ms)),
                    s.map_or_else(dash, |(_, u)| format!("{:.2}", u.cpu_s_per_gb)),
                    s.map_or_else(dash, |(_, u)| human_bytes(u.peak_rss)),
                    fail(n),
                    fail(s),
                );
            }
        }
    }
    out
}

fn write_json(path: &PathBuf, runs: &[RunResult], args: &CompareArgs, hash: Option<&HashCost>) -> Result<()> {
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            let (server, durability, shape) = match r.which {
                Which::Nginx => ("nginx", None, "put"),
                Which::Sluice(d) => ("sluice", Some(d.name()), "weidu"),
            };
            let mut v = json!({
                "server": server,
                "durability": durability,
                "shape": shape,
                "size_bytes": r.size.bytes(),
                "size": r.size.to_string(),
                "round": r.round,
                "mem_available_before_bytes": r.mem_available,
                "reported_to_host_bytes": r.reported,
            });
            match &r.outcome {
                Ok((s, u)) => {
                    v["client"] = s.to_json();
                    v["server_usage"] = u.to_json();
                }
                Err(e) => v["error"] = json!(e),
            }
            v
        })
        .collect();
    let doc = json!({
        "config": {
            "connections": args.load.connections,
            "threads": args.load.threads,
            "duration_s": args.load.duration,
            "warmup_s": args.load.warmup,
            "rounds": args.rounds,
            "seed": args.load.seed,
            "unique_bodies": args.load.unique_bodies,
            "drop_caches": args.drop_caches,
            "fill_page_cache": args.fill_page_cache,
        },
        "hashcost": hash.map(|h| h.to_json()),
        "runs": runs,
    });
    std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}
