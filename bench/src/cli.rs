//! Command-line interface: `run` (load an existing server), `compare` (nginx vs sluice side by
//! side, servers started here) and `hashcost` (the SHA-1 + BLAKE3 floor).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::payload::Shape;
use crate::server::Durability;
use crate::size::ByteSize;

#[derive(Parser, Debug)]
#[command(
    name = "sluice-bench",
    version,
    about = "Load generator and side-by-side runner (sluice vs nginx), loopback only"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Load an already running server (no server management).
    Run(RunArgs),
    /// Start nginx and sluice in turn, load each the same way, print a markdown table.
    Compare(CompareArgs),
    /// Measure the single-thread CPU cost of SHA-1 + BLAKE3 per GB on this box.
    Hashcost(HashcostArgs),
    /// A stand-in server for testing the bench itself (started like `sluice serve`).
    #[command(hide = true)]
    MockServer(MockArgs),
}

/// Load shape shared by `run` and `compare`.
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Client OS threads the connections are spread over.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Timed window, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up before the window (not counted), seconds.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Seed of the random bodies (connection i uses seed + i).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Socket timeout per read or write, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Overwrite the first 16 bytes of each request's content with (a random id of this run,
    /// connection, request number), so no two uploaded files are equal, even over several runs
    /// against one server (by default each connection repeats its body, as wrk does). Costs
    /// nothing: the stamp is a separate iovec.
    #[arg(long)]
    pub unique_bodies: bool,
}

impl LoadArgs {
    pub fn duration(&self) -> Duration {
        secs(self.duration)
    }
    pub fn warmup(&self) -> Duration {
        secs(self.warmup)
    }
    pub fn timeout(&self) -> Duration {
        secs(self.timeout).max(Duration::from_millis(1))
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO)
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Server to load: http://HOST:PORT, loopback only (127.0.0.0/8, ::1, localhost).
    #[arg(long)]
    pub target: String,
    /// Request shape.
    #[arg(long, value_enum, default_value_t = Shape::Weidu)]
    pub shape: Shape,
    /// File size S (B, KiB, MiB, GiB).
    #[arg(long, default_value = "64KiB")]
    pub size: ByteSize,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Also account this server process (and its children): CPU-s/GB and peak RSS.
    #[arg(long)]
    pub server_pid: Option<i32>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Which servers `compare` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Only {
    Nginx,
    Sluice,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The sluice binary (needs `serve --listen ADDR --data-dir DIR`).
    #[arg(long)]
    pub sluice_bin: Option<PathBuf>,
    /// File sizes to run, one row each (repeatable).
    #[arg(long = "size", default_values = ["64KiB"])]
    pub sizes: Vec<ByteSize>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Alternating rounds per size: nginx, sluice, nginx, sluice, ...
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// sluice durability modes, passed as SLUICE_DURABILITY (repeatable).
    #[arg(long = "durability", value_enum, default_values = ["none"])]
    pub durabilities: Vec<Durability>,
    /// Run only one of the two servers.
    #[arg(long, value_enum)]
    pub only: Option<Only>,
    /// Write all runs as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Parent of the servers' temp dirs (both servers write to the same filesystem).
    #[arg(long)]
    pub tmp_dir: Option<PathBuf>,
    /// Bytes to hash for the SHA-1 + BLAKE3 reference printed first (0 skips it).
    #[arg(long, default_value = "512MiB")]
    pub hashcost_size: ByteSize,
    /// Before every run, write dirty pages out and drop the page cache (root), so each server
    /// starts from the same page-cache state (the memory available is printed either way).
    #[arg(long)]
    pub drop_caches: bool,
    /// Start every run with the page cache full: a sparse file as large as the memory
    /// available less 2 GiB is read into the cache once, read again before each run and removed
    /// at the end. On a VM that reports free memory to its host, a page-cache writer (nginx)
    /// otherwise faults in pages the host took back and runs at half its rate (see
    /// docs/benchmarks.md). The memory reported to the host during each run is printed either
    /// way, where the kernel counts it.
    #[arg(long, conflicts_with = "drop_caches")]
    pub fill_page_cache: bool,
}

#[derive(Args, Debug)]
pub struct HashcostArgs {
    /// Bytes to hash with each algorithm.
    #[arg(long, default_value = "1GiB")]
    pub size: ByteSize,
    /// Write the result as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct MockArgs {
    /// Accepted and ignored, so a wrapper can pass sluice's `serve` through.
    #[arg(value_parser = ["serve"])]
    pub serve: Option<String>,
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Accepted and ignored (the mock stores nothing).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_compare() {
        let cli = Cli::try_parse_from([
            "sluice-bench",
            "compare",
            "--sluice-bin",
            "target/release/sluice",
            "--size",
            "64KiB",
            "--size",
            "1MiB",
            "--durability",
            "none",
            "--durability",
            "group",
            "--rounds",
            "2",
        ])
        .unwrap();
        let Cmd::Compare(c) = cli.cmd else { panic!("not compare") };
        assert_eq!(c.sizes, vec![ByteSize(64 << 10), ByteSize(1 << 20)]);
        assert_eq!(c.durabilities, vec![Durability::None, Durability::Group]);
        assert_eq!(c.rounds, 2);
        assert_eq!(c.load.connections, 16);
        assert_eq!(c.load.duration(), Duration::from_secs(10));
    }

    #[test]
    fn compare_defaults() {
        let cli = Cli::try_parse_from(["sluice-bench", "compare", "--only", "nginx"]).unwrap();
        let Cmd::Compare(c) = cli.cmd else { panic!("not compare") };
        assert_eq!(c.sizes, vec![ByteSize(64 << 10)]);
        assert_eq!(c.durabilities, vec![Durability::None]);
        assert_eq!(c.only, Some(Only::Nginx));
    }
}
