//! Configuration: the TOML file (`FileConfig`, unknown keys refused), merged with flags and
//! `SLUICE_*` environment variables, validated into the typed [`Config`] that is passed
//! explicitly to everything that needs it. No globals.
//!
//! Precedence (interface.md): environment > flags > file > defaults. Without a file the
//! embedded defaults are the contracts' "test environment" (`allow_anonymous = true`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_engine::Durability;

/// A configuration problem, reported by `check-config` and at start-up (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown keys.
    #[error("{0}")]
    Parse(String),
    /// A value is out of range or malformed.
    #[error("invalid `{key}`: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

/// `[limits]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsFile {
    pub max_body: String,
    pub max_header_size: String,
    pub header_timeout: String,
    pub body_idle_timeout: String,
    pub slice_session_ttl: String,
}

impl Default for LimitsFile {
    fn default() -> Self {
        Self {
            max_body: "5GiB".into(),
            max_header_size: "64KiB".into(),
            header_timeout: "10s".into(),
            body_idle_timeout: "30s".into(),
            slice_session_ttl: "24h".into(),
        }
    }
}

/// `[buckets]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BucketsFile {
    pub private: Vec<String>,
}

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthFile {
    pub tokens: Vec<String>,
    pub allow_anonymous: bool,
}

impl Default for AuthFile {
    fn default() -> Self {
        Self { tokens: vec!["dev-token".into()], allow_anonymous: false }
    }
}

/// `[[access_keys]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyFile {
    pub access_key: String,
    pub secret_key: String,
}

/// `[[tcb.apps]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcbAppFile {
    pub appid: String,
    pub secret: String,
    #[serde(default)]
    pub envs: Vec<String>,
}

/// `[tcb]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TcbFile {
    pub apps: Vec<TcbAppFile>,
}

impl Default for TcbFile {
    fn default() -> Self {
        Self {
            apps: vec![TcbAppFile { appid: "wx-appid".into(), secret: "secret".into(), envs: vec!["env-id".into()] }],
        }
    }
}

/// `[jdy]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JdyFile {
    pub api_keys: Vec<String>,
    pub rate_per_sec: u32,
    pub max_file: String,
}

impl Default for JdyFile {
    fn default() -> Self {
        Self { api_keys: vec!["jdy-key".into()], rate_per_sec: 20, max_file: "200MiB".into() }
    }
}

/// `[[backend.users]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendUserFile {
    pub name: String,
    pub password: String,
    #[serde(default = "one")]
    pub role: i64,
    #[serde(default)]
    pub perm: i64,
}

fn one() -> i64 {
    1
}

/// `[backend]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendFile {
    pub users: Vec<BackendUserFile>,
}

impl Default for BackendFile {
    fn default() -> Self {
        Self { users: vec![BackendUserFile { name: "admin".into(), password: "admin-pass".into(), role: 1, perm: 0 }] }
    }
}

/// The configuration file as written (every key optional; defaults = interface.md's example).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub listen: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub workers: usize,
    pub durability: String,
    pub limits: LimitsFile,
    pub buckets: BucketsFile,
    pub auth: AuthFile,
    pub access_keys: Vec<AccessKeyFile>,
    pub tcb: TcbFile,
    pub jdy: JdyFile,
    pub backend: BackendFile,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9004".into(),
            public_url: None,
            data_dir: PathBuf::from("./data"),
            workers: 0,
            durability: "group".into(),
            limits: LimitsFile::default(),
            buckets: BucketsFile::default(),
            auth: AuthFile::default(),
            access_keys: vec![AccessKeyFile { access_key: "test-ak".into(), secret_key: "test-sk".into() }],
            tcb: TcbFile::default(),
            jdy: JdyFile::default(),
            backend: BackendFile::default(),
        }
    }
}

impl FileConfig {
    /// The embedded defaults used when no file is given: the test environment.
    pub fn embedded() -> Self {
        let mut c = Self::default();
        c.auth.allow_anonymous = true;
        c
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text)
    }

    /// Renders the effective configuration as TOML (check-config).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// Overrides from the command line and the environment (top-level keys only).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub public_url: Option<String>,
    pub workers: Option<usize>,
    pub durability: Option<String>,
}

impl Overrides {
    /// Reads `SLUICE_LISTEN`, `SLUICE_DATA_DIR`, `SLUICE_PUBLIC_URL`, `SLUICE_WORKERS`,
    /// `SLUICE_DURABILITY`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            listen: get("SLUICE_LISTEN"),
            data_dir: get("SLUICE_DATA_DIR").map(PathBuf::from),
            public_url: get("SLUICE_PUBLIC_URL"),
            workers: match get("SLUICE_WORKERS") {
                Some(w) => Some(w.parse().map_err(|_| ConfigError::Invalid {
                    key: "workers",
                    reason: format!("SLUICE_WORKERS={w:?} is not a number"),
                })?),
                None => None,
            },
            durability: get("SLUICE_DURABILITY"),
        })
    }

    /// Applies these overrides on top of `file`.
    pub fn apply(&self, file: &mut FileConfig) {
        if let Some(v) = &self.listen {
            file.listen = v.clone();
        }
        if let Some(v) = &self.data_dir {
            file.data_dir = v.clone();
        }
        if let Some(v) = &self.public_url {
            file.public_url = Some(v.clone());
        }
        if let Some(v) = self.workers {
            file.workers = v;
        }
        if let Some(v) = &self.durability {
            file.durability = v.clone();
        }
    }
}

/// An AK/SK pair.
#[derive(Debug, Clone)]
pub struct AccessKey {
    pub access_key: String,
    pub secret_key: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None` = derived from the bound address at start.
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub workers: usize,
    pub durability: Durability,
    pub max_body: u64,
    pub max_header_size: usize,
    pub header_timeout: Duration,
    pub body_idle_timeout: Duration,
    pub slice_session_ttl: Duration,
    pub private_buckets: Vec<String>,
    pub tokens: Vec<String>,
    pub allow_anonymous: bool,
    pub access_keys: Vec<AccessKey>,
    pub jdy_rate_per_sec: u32,
    pub jdy_max_file: u64,
}

impl Config {
    /// Validates a merged file configuration.
    pub fn validate(file: &FileConfig) -> Result<Self, ConfigError> {
        if file.data_dir.as_os_str().is_empty() {
            // Would mean the current directory, silently: its files would be swept as tmp files.
            return Err(ConfigError::Invalid { key: "data_dir", reason: "must not be empty".into() });
        }
        let listen = file
            .listen
            .parse()
            .map_err(|e| ConfigError::Invalid { key: "listen", reason: format!("{:?}: {e}", file.listen) })?;
        let public_url = match &file.public_url {
            Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                return Err(ConfigError::Invalid { key: "public_url", reason: format!("{u:?} is not an http(s) URL") })
            }
            Some(u) => Some(u.trim_end_matches('/').to_owned()),
            None => None,
        };
        let durability = Durability::parse(&file.durability).ok_or_else(|| ConfigError::Invalid {
            key: "durability",
            reason: format!("{:?} is not one of none, group, strict", file.durability),
        })?;
        let max_body = parse_size("limits.max_body", &file.limits.max_body)?;
        if max_body == 0 {
            return Err(ConfigError::Invalid { key: "limits.max_body", reason: "0 would refuse every upload".into() });
        }
        if file.jdy.rate_per_sec == 0 {
            return Err(ConfigError::Invalid {
                key: "jdy.rate_per_sec",
                reason: "0 would refuse every request".into(),
            });
        }
        if file.backend.users.iter().any(|u| u.name.is_empty() || u.password.is_empty()) {
            return Err(ConfigError::Invalid { key: "backend.users", reason: "empty name or password".into() });
        }
        let max_header_size = parse_size("limits.max_header_size", &file.limits.max_header_size)?;
        if !(1024..=16 * 1024 * 1024).contains(&max_header_size) {
            return Err(ConfigError::Invalid {
                key: "limits.max_header_size",
                reason: "must be between 1KiB and 16MiB".into(),
            });
        }
        if file.workers > 1024 {
            return Err(ConfigError::Invalid { key: "workers", reason: "at most 1024".into() });
        }
        if file.access_keys.iter().any(|k| k.access_key.is_empty() || k.secret_key.is_empty()) {
            return Err(ConfigError::Invalid { key: "access_keys", reason: "empty access_key or secret_key".into() });
        }
        if file.auth.tokens.iter().any(String::is_empty) {
            return Err(ConfigError::Invalid { key: "auth.tokens", reason: "empty token".into() });
        }
        Ok(Self {
            listen,
            public_url,
            data_dir: file.data_dir.clone(),
            workers: file.workers,
            durability,
            max_body,
            max_header_size: max_header_size as usize,
            header_timeout: parse_duration("limits.header_timeout", &file.limits.header_timeout)?,
            body_idle_timeout: parse_duration("limits.body_idle_timeout", &file.limits.body_idle_timeout)?,
            slice_session_ttl: parse_duration("limits.slice_session_ttl", &file.limits.slice_session_ttl)?,
            private_buckets: file.buckets.private.clone(),
            tokens: file.auth.tokens.clone(),
            allow_anonymous: file.auth.allow_anonymous,
            access_keys: file
                .access_keys
                .iter()
                .map(|k| AccessKey { access_key: k.access_key.clone(), secret_key: k.secret_key.clone() })
                .collect(),
            jdy_rate_per_sec: file.jdy.rate_per_sec,
            jdy_max_file: parse_size("jdy.max_file", &file.jdy.max_file)?,
        })
    }
}

/// Parses `B/KiB/MiB/GiB` sizes (also `TiB`; a bare number is bytes).
pub fn parse_size(key: &'static str, s: &str) -> Result<u64, ConfigError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || ConfigError::Invalid { key, reason: format!("{s:?} is not a size like 64KiB") };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// Parses `ms/s/m/h` durations.
pub fn parse_duration(key: &'static str, s: &str) -> Result<Duration, ConfigError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || ConfigError::Invalid { key, reason: format!("{s:?} is not a duration like 30s") };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(ConfigError::Invalid { key, reason: "must be greater than zero".into() });
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
listen     = "127.0.0.1:9004"
public_url = "http://127.0.0.1:9004"
data_dir   = "./data"
workers    = 0
durability = "group"

[limits]
max_body        = "5GiB"
max_header_size = "64KiB"
header_timeout  = "10s"
body_idle_timeout = "30s"
slice_session_ttl = "24h"

[buckets]
private = []

[auth]
tokens          = ["dev-token"]
allow_anonymous = false

[[access_keys]]
access_key = "test-ak"
secret_key = "test-sk"

[[tcb.apps]]
appid  = "wx-appid"
secret = "secret"
envs   = ["env-id"]

[jdy]
api_keys     = ["jdy-key"]
rate_per_sec = 20
max_file     = "200MiB"

[[backend.users]]
name = "admin"
password = "admin-pass"
role = 1
perm = 0
"#;

    #[test]
    fn the_interface_example_parses_and_validates() {
        let f = FileConfig::parse(EXAMPLE).unwrap();
        let c = Config::validate(&f).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9004");
        assert_eq!(c.max_body, 5 << 30);
        assert_eq!(c.max_header_size, 64 << 10);
        assert_eq!(c.slice_session_ttl, Duration::from_secs(86400));
        assert!(!c.allow_anonymous);
        assert_eq!(c.jdy_max_file, 200 << 20);
    }

    #[test]
    fn an_empty_file_takes_the_example_values_and_embedded_allows_anonymous() {
        let f = FileConfig::parse("").unwrap();
        assert!(!Config::validate(&f).unwrap().allow_anonymous);
        assert!(Config::validate(&FileConfig::embedded()).unwrap().allow_anonymous);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = FileConfig::parse("listen = \"127.0.0.1:1\"\nlisten_addr = 3\n").unwrap_err();
        assert!(e.to_string().contains("listen_addr"), "{e}");
        let e = FileConfig::parse("[limits]\nmax_bodyy = \"1B\"\n").unwrap_err();
        assert!(e.to_string().contains("max_bodyy"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        for (toml, key) in [
            ("durability = \"sometimes\"", "durability"),
            ("listen = \"nowhere\"", "listen"),
            ("[limits]\nmax_body = \"5 GB\"", "limits.max_body"),
            ("[limits]\nheader_timeout = \"0s\"", "limits.header_timeout"),
            ("public_url = \"ftp://x\"", "public_url"),
            ("data_dir = \"\"", "data_dir"),
            ("[limits]\nmax_body = \"0B\"", "limits.max_body"),
            ("[jdy]\nrate_per_sec = 0", "jdy.rate_per_sec"),
            ("[[backend.users]]\nname = \"\"\npassword = \"p\"", "backend.users"),
            ("[[backend.users]]\nname = \"n\"\npassword = \"\"", "backend.users"),
        ] {
            let e = Config::validate(&FileConfig::parse(toml).unwrap()).unwrap_err();
            assert!(e.to_string().contains(key), "{toml}: {e}");
        }
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("k", "0B").unwrap(), 0);
        assert_eq!(parse_size("k", "7").unwrap(), 7);
        assert_eq!(parse_size("k", "64KiB").unwrap(), 65536);
        assert_eq!(parse_size("k", "3MiB").unwrap(), 3 << 20);
        assert!(parse_size("k", "1KB").is_err());
        assert!(parse_size("k", "99999999999TiB").is_err());
        assert_eq!(parse_duration("k", "250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("k", "2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("k", "1d").is_err());
    }

    #[test]
    fn precedence_env_over_flags_over_file() {
        let mut f = FileConfig::parse("listen = \"127.0.0.1:1\"\nworkers = 3").unwrap();
        Overrides { listen: Some("127.0.0.1:2".into()), workers: Some(4), ..Default::default() }.apply(&mut f);
        let env = Overrides::from_env(|k| (k == "SLUICE_LISTEN").then(|| "127.0.0.1:3".to_string())).unwrap();
        env.apply(&mut f);
        let c = Config::validate(&f).unwrap();
        assert_eq!(c.listen.port(), 3);
        assert_eq!(c.workers, 4);
        assert!(Overrides::from_env(|k| (k == "SLUICE_WORKERS").then(|| "x".to_string())).is_err());
    }
}
