//! Servers under test as child processes, each in its own temp dir: sluice (`serve --listen
//! 127.0.0.1:0`, address read from its stdout) and the nginx WebDAV baseline (config written
//! here). Stopped on drop: SIGTERM, then SIGKILL for the whole process tree; temp dir removed,
//! unless [`Server::retire`] handed it back (emptied) to be removed later.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

use crate::procfs::{process_tree, read_stat};
use crate::scratch;
use crate::target::Target;

/// How long sluice may take to print its `listening on` line.
const SLUICE_READY: Duration = Duration::from_secs(30);
/// How long nginx may take to accept connections.
const NGINX_READY: Duration = Duration::from_secs(10);
/// How long a server gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub const NGINX_BIN: &str = "/usr/sbin/nginx";

/// sluice's durability mode, passed as `SLUICE_DURABILITY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    None,
    Group,
    Strict,
}

impl Durability {
    pub fn name(self) -> &'static str {
        match self {
            Durability::None => "none",
            Durability::Group => "group",
            Durability::Strict => "strict",
        }
    }
}

/// A running server under test.
pub struct Server {
    pub name: String,
    pub target: Target,
    child: Child,
    /// The run's temp dir; `None` once retired.
    dir: Option<TempDir>,
    log: PathBuf,
}

impl Server {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Starts `<bin> serve --listen 127.0.0.1:0 --data-dir <tmp>/data` and waits for its
    /// `listening on http://ADDR` line.
    pub fn start_sluice(bin: &Path, durability: Durability, tmp_parent: &Path) -> Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix("sluice-bench-sluice-")
            .tempdir_in(tmp_parent)
            .with_context(|| format!("temp dir in {}", tmp_parent.display()))?;
        let data = dir.path().join("data");
        fs::create_dir(&data)?;
        let log = dir.path().join("server.log");
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data)
            .env("SLUICE_DURABILITY", durability.name())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log)?);
        let child = spawn_tied(&mut cmd).with_context(|| format!("starting {}", bin.display()))?;
        let mut server = Server {
            name: format!("sluice ({})", durability.name()),
            target: Target::from_addr("127.0.0.1:1".parse()?)?,
            child,
            dir: Some(dir),
            log,
        };
        let stdout = server.child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        // Reads stdout to the end so the server never blocks on a full pipe.
        thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.trim().trim_end_matches('/');
                    if let (Some(t), Ok(a)) = (tx.as_ref(), addr.parse()) {
                        let _ = t.send(a);
                        tx = None;
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(SLUICE_READY) {
            Ok(a) => a,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("sluice printed no `listening on http://ADDR` within {SLUICE_READY:?}{}", server.log_tail())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!(
                "sluice closed stdout without `listening on http://ADDR` ({}){}",
                server.exit_status(),
                server.log_tail()
            ),
        };
        server.target = Target::from_addr(addr)?;
        Ok(server)
    }

    /// Starts nginx (WebDAV PUT under /up/) on a free loopback port and waits until it accepts.
    pub fn start_nginx(tmp_parent: &Path) -> Result<Server> {
        if !Path::new(NGINX_BIN).exists() {
            bail!("{NGINX_BIN} not found (apt-get install nginx-light)");
        }
        let dir = tempfile::Builder::new()
            .prefix("sluice-bench-nginx-")
            .tempdir_in(tmp_parent)
            .with_context(|| format!("temp dir in {}", tmp_parent.display()))?;
        let root = dir.path();
        // Workers run as an unprivileged user: they must reach and write these.
        fs::set_permissions(root, fs::Permissions::from_mode(0o755))?;
        for sub in ["www", "www/up", "body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            let p = root.join(sub);
            fs::create_dir_all(&p)?;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o777))?;
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let conf = root.join("nginx.conf");
        fs::write(&conf, nginx_conf(root, port))?;
        let log = root.join("error.log");
        let mut cmd = Command::new(NGINX_BIN);
        cmd.arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(root.join("stderr.log"))?);
        let child = spawn_tied(&mut cmd).context("starting nginx")?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let mut server = Server { name: "nginx".into(), target: Target::from_addr(addr)?, child, dir: Some(dir), log };
        let deadline = Instant::now() + NGINX_READY;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Ok(Some(st)) = server.child.try_wait() {
                bail!("nginx exited at start ({st}){}", server.log_tail());
            }
            if Instant::now() >= deadline {
                bail!("nginx did not accept on {addr} within {NGINX_READY:?}{}", server.log_tail());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn exit_status(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(st)) => st.to_string(),
            _ => "still running".into(),
        }
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        let stderr_log = self.log.with_file_name("stderr.log");
        for f in [self.log.clone(), stderr_log] {
            let Ok(text) = fs::read_to_string(&f) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            for l in &lines[lines.len().saturating_sub(15)..] {
                let _ = write!(out, "\n  | {l}");
            }
        }
        out
    }

    /// Stops the server and empties its files (see `scratch`); returns the temp dir, which
    /// removes itself when dropped.
    pub fn retire(mut self) -> Result<TempDir> {
        self.stop();
        let dir = self.dir.take().expect("not retired twice");
        scratch::empty_files(dir.path()).with_context(|| format!("emptying {}", dir.path().display()))?;
        Ok(dir)
    }

    /// SIGTERM, wait up to the grace period, then SIGKILL the tree. Idempotent.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let root = self.pid();
        let descendants: Vec<i32> = process_tree(root).into_iter().skip(1).collect();
        // SAFETY: kill(2) on our own child's pid; it is not reaped yet, so the pid is still ours.
        unsafe { libc::kill(root, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for pid in descendants {
            if read_stat(pid).is_some() {
                // SAFETY: kill(2) has no memory-safety preconditions; best effort on leftovers
                // of the tree we started (pids seen as its descendants moments ago).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawns with PR_SET_PDEATHSIG so the server dies with the bench even if the bench is killed.
fn spawn_tied(cmd: &mut Command) -> Result<Child> {
    // SAFETY: the closure runs between fork and exec and calls only prctl(2), which is
    // async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| anyhow!(e))
}

/// The nginx baseline of design.md: `nginx-light`, 2 workers, WebDAV PUT under /up/, no access
/// log, no body size limit; temp paths inside the run's dir.
pub fn nginx_conf(root: &Path, port: u16) -> String {
    let r = root.display();
    format!(
        "worker_processes 2;\n\
         daemon off;\n\
         error_log {r}/error.log;\n\
         pid {r}/nginx.pid;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   client_max_body_size 0;\n\
         \x20   proxy_temp_path {r}/proxy;\n\
         \x20   fastcgi_temp_path {r}/fastcgi;\n\
         \x20   uwsgi_temp_path {r}/uwsgi;\n\
         \x20   scgi_temp_path {r}/scgi;\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       location /up/ {{\n\
         \x20           root {r}/www;\n\
         \x20           dav_methods PUT;\n\
         \x20           create_full_put_path on;\n\
         \x20           client_body_temp_path {r}/body;\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_conf_has_the_baseline_settings() {
        let c = nginx_conf(Path::new("/tmp/x"), 8123);
        for want in [
            "worker_processes 2;",
            "daemon off;",
            "access_log off;",
            "client_max_body_size 0;",
            "listen 127.0.0.1:8123;",
            "location /up/ {",
            "root /tmp/x/www;",
            "dav_methods PUT;",
            "create_full_put_path on;",
            "client_body_temp_path /tmp/x/body;",
        ] {
            assert!(c.contains(want), "missing {want:?} in\n{c}");
        }
    }
}
