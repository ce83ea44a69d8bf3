//! Smoke runs of the real binary: `run` and `compare --only sluice` against the bench's own mock
//! server (started exactly like sluice), `compare --only nginx` against nginx-light when it is
//! installed and we are root, and the loopback-only refusal. Short windows: these check that
//! everything works end to end, never how fast.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sluice-bench");

fn bench(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run sluice-bench")
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).expect("json written")).expect("valid json")
}

/// A script that starts the mock the way compare starts sluice: `<bin> serve --listen ...`.
fn mock_wrapper(dir: &Path) -> PathBuf {
    let p = dir.join("fake-sluice");
    std::fs::write(&p, format!("#!/bin/sh\nexec '{BIN}' mock-server \"$@\"\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

struct Mock(Child);

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mock() -> (Mock, String) {
    let mut child = Command::new(BIN)
        .args(["mock-server", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start mock");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
    (Mock(child), url)
}

#[test]
fn run_weidu_and_put_against_mock() {
    let (_mock, url) = start_mock();
    let dir = tempfile::tempdir().unwrap();
    for (shape, size, extra) in
        [("weidu", "64KiB", None), ("put", "1MiB", None), ("weidu", "3MiB", Some("--unique-bodies"))]
    {
        let json = dir.path().join(format!("{shape}-{size}.json"));
        let mut args = vec![
            "run",
            "--target",
            &url,
            "--shape",
            shape,
            "--size",
            size,
            "--connections",
            "4",
            "--duration",
            "0.7",
            "--warmup",
            "0.2",
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend(extra);
        let o = bench(&args);
        assert!(o.status.success(), "{}", show(&o));
        let v = read_json(&json);
        assert!(v["client"]["ok"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(v["client"]["failures"], 0, "{v}");
    }
}

#[test]
fn single_stream_100mib_against_mock() {
    let (_mock, url) = start_mock();
    let o =
        bench(&["run", "--target", &url, "--size", "100MiB", "--connections", "1", "--duration", "1", "--warmup", "0"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("failures 0"));
}

#[test]
fn compare_only_sluice_with_mock_binary() {
    let dir = tempfile::tempdir().unwrap();
    let fake = mock_wrapper(dir.path());
    let json = dir.path().join("cmp.json");
    let o = bench(&[
        "compare",
        "--only",
        "sluice",
        "--sluice-bin",
        fake.to_str().unwrap(),
        "--size",
        "64KiB",
        "--connections",
        "4",
        "--duration",
        "0.7",
        "--warmup",
        "0.2",
        "--hashcost-size",
        "0",
        "--tmp-dir",
        dir.path().to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("| 64 KiB × 4 conn, none |"), "{out}");
    let v = read_json(&json);
    let run = &v["runs"][0];
    assert_eq!(run["server"], "sluice");
    assert_eq!(run["durability"], "none");
    assert!(run["client"]["files_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(run["server_usage"]["peak_rss_bytes"].as_u64().unwrap() > 0, "{v}");
    // The server's temp dir is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("sluice-bench-"))
        .collect();
    assert!(left.is_empty(), "temp dirs left: {left:?}");
}

#[test]
fn compare_only_nginx() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !Path::new("/usr/sbin/nginx").exists() || !root {
        eprintln!("skipped: needs /usr/sbin/nginx (nginx-light) and root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("nginx.json");
    let o = bench(&[
        "compare",
        "--only",
        "nginx",
        "--size",
        "64KiB",
        "--duration",
        "1",
        "--warmup",
        "0.3",
        "--hashcost-size",
        "0",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", show(&o));
    let v = read_json(&json);
    let run = &v["runs"][0];
    assert_eq!(run["server"], "nginx");
    assert!(run["client"]["ok"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(run["client"]["failures"], 0, "{v}");
    assert!(run["server_usage"]["cpu_s"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn refuses_non_loopback_target() {
    let o = bench(&["run", "--target", "http://192.0.2.1:80", "--duration", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing non-loopback"));
}

#[test]
fn failures_give_exit_status_2() {
    // A port that was just closed: every connect fails.
    let (mock, url) = start_mock();
    drop(mock);
    let o = bench(&["run", "--target", &url, "--connections", "1", "--duration", "0.3", "--warmup", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}
