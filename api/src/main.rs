//! The `sluice` binary: `serve`, `check-config`, `--version`. The only place in `api` that
//! uses `anyhow`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice_api::config::{Config, FileConfig, Overrides};
use sluice_api::{spawn, SpawnOptions};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "sluice", version, about = "High-throughput streaming upload server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (embedded test-environment defaults without --config).
    Serve {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:9004 (port 0 picks one).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Base of every URL handed to clients.
        #[arg(long)]
        public_url: Option<String>,
        /// Worker threads (0 = one per core).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Parse and validate a configuration file, print the effective configuration.
    CheckConfig {
        /// TOML configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => check_config(&config),
        Command::Serve { config, listen, data_dir, public_url, workers } => {
            let flags = Overrides { listen, data_dir, public_url, workers, durability: None };
            match serve(config, flags) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sluice: {}", describe(&e));
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// The error and its causes, each said once: many messages already end with their cause's
/// text, which `{:#}` would print a second time.
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

fn effective(config: Option<&PathBuf>, flags: &Overrides) -> anyhow::Result<(FileConfig, Config)> {
    let mut file = match config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::embedded(),
    };
    flags.apply(&mut file);
    Overrides::from_env(|k| std::env::var(k).ok())?.apply(&mut file);
    let validated = Config::validate(&file)?;
    Ok((file, validated))
}

fn check_config(path: &PathBuf) -> ExitCode {
    match effective(Some(path), &Overrides::default()) {
        Ok((file, _)) => {
            print!("{}", file.to_toml());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice: {}", describe(&e));
            ExitCode::from(2)
        }
    }
}

fn serve(config_path: Option<PathBuf>, flags: Overrides) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour only for a terminal: in a file or the journal the escapes break every grep.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let (_, config) = effective(config_path.as_ref(), &flags)?;
    if config_path.is_none() {
        eprintln!(
            "sluice: running on embedded defaults (test environment: anonymous weidu uploads allowed). \
             Development keys: bearer token {:?}; access key {:?} / secret key {:?}",
            config.tokens.first().map(String::as_str).unwrap_or(""),
            config.access_keys.first().map(|k| k.access_key.as_str()).unwrap_or(""),
            config.access_keys.first().map(|k| k.secret_key.as_str()).unwrap_or(""),
        );
    }
    // SIGHUP (a closed terminal; an operator's habitual "reload") drains like SIGTERM: its
    // default action killed the process with no drain and no index flush.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])?;
    let handle = spawn(config, SpawnOptions::default())?;
    tracing::info!(driver = handle.driver(), public_url = handle.public_url(), "serving");
    println!("listening on http://{}", handle.addr());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    if let Some(sig) = signals.forever().next() {
        tracing::info!(signal = sig, "draining");
    }
    handle.shutdown();
    tracing::info!("stopped");
    Ok(())
}
