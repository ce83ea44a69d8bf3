//! A full disk: uploads are refused with 507 in the weidu shape (never 500, never a partial
//! object), whichever write meets the full disk first — a large object's tmp file, a small
//! object's pack append, or the index's write-ahead log — and the server takes uploads again
//! once space is back, with nothing lost — also across a restart.
//!
//! The data directory is a small tmpfs mounted for the test (the suite runs as root, as
//! `scripts/test` does its set-up with apt-get).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sluice_api::contracts::weidu::INSUFFICIENT_STORAGE;
use sluice_engine::ingest::SMALL_OBJECT_MAX_BYTES;
use sluice_tests::{assert_weidu_error, rocks_opts, wait_until, TestServer};

/// Size of the test's filesystem: a few dozen 1 MiB uploads.
const FS_MIB: u64 = 24;
const USER: &str = "full_user";
const TASK: &str = "full_task";

/// A tmpfs mounted over a fresh directory; unmounted (lazily) and removed on drop.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(mib: u64) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "sluice-test-full"])
            .arg(dir.path())
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a {mib} MiB tmpfs needs root (scripts/test runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn resize(&self, mib: u64) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(self.dir.path())
            .output()
            .expect("running mount");
        assert!(out.status.success(), "remount: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// A body no other upload of the test has: `tag` then filler.
fn body(tag: usize, len: usize) -> Vec<u8> {
    let mut b = format!("body {tag:08}\n").into_bytes();
    b.extend((0..len.saturating_sub(b.len())).map(|i| (i * 31 + tag * 7) as u8));
    b
}

/// Uploads `data` as `name`; returns true on 201, false on a well-formed 507 — anything else
/// fails the test.
fn upload(s: &TestServer, name: &str, data: &[u8], stored: &mut Vec<(String, Vec<u8>)>) -> bool {
    let r = s.upload(&[(name, data)], USER, TASK);
    match r.status {
        201 => {
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
            let path = v["data"]["file_infos"][0]["path"].as_str().expect("path").to_owned();
            stored.push((path, data.to_vec()));
            true
        }
        507 => {
            assert_weidu_error(&r, 507);
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
            assert_eq!(v["result"], INSUFFICIENT_STORAGE);
            false
        }
        other => panic!("upload of {name}: want 201 or 507, got {other} {}", r.text()),
    }
}

/// Uploads fresh bodies made by `make` until one is refused; returns how many were stored.
fn fill(
    s: &TestServer,
    what: &str,
    limit: usize,
    stored: &mut Vec<(String, Vec<u8>)>,
    make: impl Fn(usize) -> Vec<u8>,
) -> usize {
    for i in 0..limit {
        if !upload(s, &format!("{what}-{i}.bin"), &make(i), stored) {
            return i;
        }
    }
    panic!("{limit} {what} uploads never met the full disk");
}

fn assert_all_readable(s: &TestServer, stored: &[(String, Vec<u8>)]) {
    for (path, data) in stored {
        s.assert_downloads(path, data);
    }
    let listed = s.list(TASK, Some(USER));
    assert_eq!(listed.len(), stored.len(), "the listing holds exactly the acknowledged uploads");
}

#[test]
fn a_full_disk_refuses_uploads_with_507_and_recovers_when_space_is_back() {
    let fs = SmallFs::mount(FS_MIB);
    let data_dir: PathBuf = fs.path().join("data");
    let s = TestServer::start_in(&data_dir, rocks_opts(), |_| {});
    let mut stored = Vec::new();

    // One small object stored while there is room: re-uploading it later writes only index
    // records (its bytes are deduplicated), which is how the index's own log meets the full disk.
    let kept = body(999_999, 20_000);
    assert!(upload(&s, "kept.bin", &kept, &mut stored));

    // Large objects (tmp files) until the disk is full, then small ones (pack appends) into
    // what is left, then index-only writes.
    let large_len = SMALL_OBJECT_MAX_BYTES as usize + 65_536;
    let large = fill(&s, "large", 200, &mut stored, |i| body(i, large_len));
    assert!(large > 2, "only {large} MiB-sized uploads fitted in {FS_MIB} MiB");
    fill(&s, "small", 5000, &mut stored, |i| body(100_000 + i, 30_000));
    let mut dedup_refused = false;
    for i in 0..20_000 {
        if !upload(&s, &format!("again-{i}.bin"), &kept, &mut stored) {
            dedup_refused = true;
            break;
        }
    }
    assert!(dedup_refused, "the index never met the full disk");
    // Still serving reads, every acknowledged upload intact; nothing refused is visible.
    assert_eq!(s.get("/healthz").status, 200);
    assert_all_readable(&s, &stored);

    // Space back: uploads are taken again (RocksDB resumes writes on its own, shortly after).
    // A small upload (a pack append): before the engine refused new bytes while full, every
    // refused retry appended its bytes to the pack anyway, refilling the disk before RocksDB
    // could resume, and this never recovered.
    fs.resize(FS_MIB * 4);
    let fresh = body(777_777, 30_000);
    let mut attempt = 0;
    let recovered = wait_until(Duration::from_secs(20), || {
        attempt += 1;
        upload(&s, &format!("after-{attempt}.bin"), &fresh, &mut stored)
    });
    assert!(recovered, "uploads still refused 20 s after space came back");
    assert_all_readable(&s, &stored);
    s.assert_still_serving();
    assert!(s.tmp_files().is_empty(), "refused uploads left tmp files: {:?}", s.tmp_files());

    // And a restart over the same directory finds the same files, no more, no fewer.
    let s = s.restart(|_| {});
    assert_all_readable(&s, &stored);
}
