//! sluice-tests: the harness the end-to-end tests share.
//!
//! - [`TestServer`]: a sluice server started in-process on `127.0.0.1:0` with its own temporary
//!   data directory, drained and joined on drop.
//! - [`client`]: a raw HTTP/1.1 client on `std::net::TcpStream` with byte-exact control (splits,
//!   pipelining, half-closes, `Expect: 100-continue`), bounded by socket read timeouts.
//! - [`multipart`]: builders for multipart/form-data and chunked bodies and whole requests.
//! - [`media`]: tiny image makers (JPEG via jpeg-encoder, PNG and GIF by hand) and a JPEG
//!   header reader; [`qetag`]: the Qiniu/WCS hash, computed independently of the server.
//!
//! It knows the server only through `sluice_api::spawn` and the wire: nothing here reaches into
//! the engine's internals except to read the data directory's `tmp/` and `blobs/` trees.

pub mod client;
pub mod media;
pub mod multipart;
pub mod qetag;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sluice_api::config::{Config, FileConfig};
use sluice_api::{ServerHandle, SpawnOptions};
use sluice_engine::runtime::Driver;
use sluice_engine::IndexBackend;

pub use client::{Conn, RawResponse};
pub use multipart::{FilePart, Multipart};

/// The user id and task id of the contract's example.
pub const USER: &str = "b1onnbw3ebbjtenaco9fxa16ke";
/// See [`USER`].
pub const TASK: &str = "bnk7w8bhg7br5jp8xuep1to4se";

/// The default spawn options of the tests: 2 workers' worth of auto driver, in-memory index,
/// no pinning, a short drain.
pub fn memory_opts() -> SpawnOptions {
    SpawnOptions {
        driver: Driver::Auto,
        index: IndexBackend::Memory,
        pin: false,
        drain_timeout: Duration::from_secs(5),
    }
}

/// Like [`memory_opts`] with the RocksDB index.
pub fn rocks_opts() -> SpawnOptions {
    SpawnOptions { index: IndexBackend::Rocks, ..memory_opts() }
}

/// A server running in this process. Drop drains it and removes its data directory.
pub struct TestServer {
    handle: Option<ServerHandle>,
    addr: SocketAddr,
    data_dir: PathBuf,
    opts: SpawnOptions,
    // Removed after the server stopped (`Drop` takes the handle first).
    dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server with the in-memory index; `tweak` edits the test-environment config.
    pub fn start(tweak: impl FnOnce(&mut FileConfig)) -> Self {
        Self::start_with(memory_opts(), tweak)
    }

    /// Starts a server with the given spawn options.
    pub fn start_with(opts: SpawnOptions, tweak: impl FnOnce(&mut FileConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let handle = spawn_in(dir.path(), opts.clone(), tweak);
        let addr = handle.addr();
        Self { handle: Some(handle), addr, data_dir: dir.path().to_path_buf(), opts, dir: Some(dir) }
    }

    /// Starts a server over `data_dir`, which the caller owns (it is not removed on drop).
    pub fn start_in(data_dir: &Path, opts: SpawnOptions, tweak: impl FnOnce(&mut FileConfig)) -> Self {
        let handle = spawn_in(data_dir, opts.clone(), tweak);
        let addr = handle.addr();
        Self { handle: Some(handle), addr, data_dir: data_dir.to_path_buf(), opts, dir: None }
    }

    /// Stops the server (if still running) and starts a new one over the same data directory
    /// with the same spawn options (a new port).
    pub fn restart(mut self, tweak: impl FnOnce(&mut FileConfig)) -> Self {
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
        let dir = self.dir.take();
        let handle = spawn_in(&self.data_dir, self.opts.clone(), tweak);
        let addr = handle.addr();
        Self { handle: Some(handle), addr, data_dir: self.data_dir.clone(), opts: self.opts.clone(), dir }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The running server.
    pub fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().expect("server still running")
    }

    /// Takes the server out (to drive the drain by hand); the data directory stays until drop.
    pub fn take_handle(&mut self) -> ServerHandle {
        self.handle.take().expect("server still running")
    }

    /// A new connection.
    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }

    /// Sends `request` on a fresh connection and reads one final response (1xx skipped).
    pub fn send(&self, request: &[u8]) -> RawResponse {
        let mut c = self.connect();
        c.write_all(request);
        c.read_final_response()
    }

    /// `GET path` on a fresh connection.
    pub fn get(&self, path: &str) -> RawResponse {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
    }

    /// `GET path` with extra header lines (each without CRLF).
    pub fn get_with(&self, path: &str, headers: &[&str]) -> RawResponse {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n");
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.send(req.as_bytes())
    }

    /// `HEAD path` on a fresh connection (the response has no body).
    pub fn head(&self, path: &str) -> RawResponse {
        let mut c = self.connect();
        c.write_all(format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        c.read_response_head_only()
    }

    /// Uploads `files` (form field `files`) as `user`/`task` in one request.
    pub fn upload(&self, files: &[(&str, &[u8])], user: &str, task: &str) -> RawResponse {
        let mut mp = Multipart::new();
        for (name, data) in files {
            mp = mp.file("files", name, "application/octet-stream", data);
        }
        self.send(&mp.upload_request(user, task, &[]))
    }

    /// Uploads and asserts 201; returns the parsed JSON.
    pub fn upload_ok(&self, files: &[(&str, &[u8])], user: &str, task: &str) -> serde_json::Value {
        let r = self.upload(files, user, task);
        assert_eq!(r.status, 201, "upload failed: {}", r.text());
        r.json()
    }

    /// Downloads an object of bucket `weidu` by its `path` (percent-encoding each segment).
    pub fn download(&self, path: &str) -> RawResponse {
        self.get(&weidu_url(path))
    }

    /// Downloads `path` (bucket `weidu`) and checks it: 200, the exact bytes, `Content-Length`,
    /// `ETag` = the quoted qetag computed here, `Accept-Ranges`; then `HEAD` gives the same
    /// headers and no body. Returns the GET response.
    pub fn assert_downloads(&self, path: &str, data: &[u8]) -> RawResponse {
        let url = weidu_url(path);
        let r = self.get(&url);
        assert_eq!(r.status, 200, "GET {url}: {}", r.text());
        assert!(r.body == data, "GET {url}: {} bytes differ from the {} uploaded", r.body.len(), data.len());
        assert_eq!(r.header("content-length"), Some(data.len().to_string().as_str()), "GET {url}");
        assert_eq!(r.header("etag"), Some(format!("\"{}\"", qetag::qetag(data)).as_str()), "GET {url}");
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "GET {url}");
        // HEAD, then a second request on the same connection: a body sent after the HEAD
        // response would show up as garbage in front of the second response.
        let mut c = self.connect();
        c.write_all(
            format!("HEAD {url} HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        );
        let h = c.read_response_head_only();
        assert_eq!(h.status, 200, "HEAD {url}");
        let next = c.read_response();
        assert_eq!((next.status, next.text().as_str()), (200, "ok\n"), "the request after HEAD {url}");
        assert_eq!(h.stable_headers(), r.stable_headers(), "HEAD and GET headers of {url}");
        r
    }

    /// `GET /weidu/api/v1/files?task_id=...[&user_id=...]` → the `file_infos` array.
    pub fn list(&self, task: &str, user: Option<&str>) -> Vec<serde_json::Value> {
        self.list_with(task, user, &[])
    }

    /// [`TestServer::list`] with extra header lines (e.g. `Authorization`).
    pub fn list_with(&self, task: &str, user: Option<&str>, headers: &[&str]) -> Vec<serde_json::Value> {
        let mut path = format!("/weidu/api/v1/files?task_id={task}");
        if let Some(u) = user {
            path.push_str(&format!("&user_id={u}"));
        }
        let r = self.get_with(&path, headers);
        assert_eq!(r.status, 200, "listing failed: {}", r.text());
        assert_envelope(&r.json())
    }

    /// Files under `<data_dir>/tmp`.
    pub fn tmp_files(&self) -> Vec<PathBuf> {
        files_under(&self.data_dir.join("tmp"))
    }

    /// Files under `<data_dir>/blobs` (blobs with a file of their own).
    pub fn blob_files(&self) -> Vec<PathBuf> {
        files_under(&self.data_dir.join("blobs"))
    }

    /// Bytes of content on disk: every blob file plus the written part of every pack (where
    /// small blobs go; packs are preallocated ahead of their blobs, and blocks reserved but
    /// never written are not content).
    pub fn stored_bytes(&self) -> u64 {
        let blobs: u64 = self.blob_files().iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
        blobs + files_under(&self.data_dir.join("packs")).iter().map(|f| written_bytes(f)).sum::<u64>()
    }

    /// Waits (bounded: 5 s, every 20 ms) until `<data_dir>/tmp` is empty; panics otherwise.
    pub fn assert_tmp_empties(&self) {
        let ok = wait_until(Duration::from_secs(5), || self.tmp_files().is_empty());
        assert!(ok, "tmp files left behind: {:?}", self.tmp_files());
    }

    /// Asserts that task `task` lists nothing and that no tmp file is left (after the
    /// connection that sent a failed upload is gone).
    pub fn assert_nothing_stored(&self, task: &str) {
        let listed = self.list(task, None);
        assert!(listed.is_empty(), "task {task} lists objects after a failed upload: {listed:?}");
        self.assert_tmp_empties();
    }

    /// Asserts that a fresh connection can still upload (the server keeps serving).
    pub fn assert_still_serving(&self) {
        self.assert_still_serving_with(&[]);
    }

    /// [`TestServer::assert_still_serving`] with extra header lines (e.g. `Authorization`).
    pub fn assert_still_serving_with(&self, headers: &[&str]) {
        let task = "stillserving";
        let before = self.list_with(task, None, headers).len();
        let mp = Multipart::new().file("files", "alive.txt", "text/plain", b"still here");
        let r = self.send(&mp.upload_request("probe", task, headers));
        assert_eq!(r.status, 201, "the server stopped serving uploads: {}", r.text());
        assert_eq!(r.json()["data"]["file_infos"][0]["size"], 10);
        assert_eq!(self.list_with(task, None, headers).len(), before + 1);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
    }
}

/// Starts a server on `127.0.0.1:0` over `data_dir` (2 workers, durability `none`, the test
/// environment); `tweak` edits the configuration first. For tests that restart over the same
/// directory; most use [`TestServer`].
pub fn spawn_in(data_dir: &Path, opts: SpawnOptions, tweak: impl FnOnce(&mut FileConfig)) -> ServerHandle {
    let handle = sluice_api::spawn(test_config(data_dir, tweak), opts).expect("server starts");
    assert!(handle.addr().ip().is_loopback(), "tests only listen on 127.0.0.1, got {}", handle.addr());
    handle
}

/// The configuration [`spawn_in`] starts a server with.
pub fn test_config(data_dir: &Path, tweak: impl FnOnce(&mut FileConfig)) -> Config {
    let mut file = FileConfig::embedded();
    file.listen = "127.0.0.1:0".into();
    file.data_dir = data_dir.to_path_buf();
    file.workers = 2;
    file.durability = "none".into();
    tweak(&mut file);
    Config::validate(&file).expect("valid test config")
}

/// `/files/weidu/<path>` with each segment of `path` percent-encoded.
pub fn weidu_url(path: &str) -> String {
    let segs: Vec<String> = path.split('/').map(percent_encode).collect();
    format!("/files/weidu/{}", segs.join("/"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
///
/// Only for effects the server makes after it answered and signals nowhere (a dropped tmp
/// file is unlinked by a task spawned on the worker; RocksDB resuming writes by itself after a
/// full disk got space back); readiness is never waited for this way.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The bytes of `path` the filesystem reports as data (`SEEK_DATA`/`SEEK_HOLE`): blocks
/// allocated by `fallocate` and never written are holes. Clean cached pages are dropped first,
/// since a cached page over an unwritten block (read ahead) counts as data.
pub fn written_bytes(path: &Path) -> u64 {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let fd = file.as_raw_fd();
    // SAFETY: plain syscalls on a descriptor `file` keeps open throughout.
    unsafe {
        libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED);
        let (mut at, mut total) = (0, 0);
        loop {
            let data = libc::lseek(fd, at, libc::SEEK_DATA);
            if data < 0 {
                return total;
            }
            let hole = libc::lseek(fd, data, libc::SEEK_HOLE);
            assert!(hole >= data, "SEEK_HOLE failed on {}", path.display());
            total += (hole - data) as u64;
            at = hole;
        }
    }
}

/// Every regular file under `dir`, recursively (empty when `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_millis() as u64
}

/// `YYYYMMDD` (UTC) of a Unix-milliseconds time, by the civil-from-days algorithm
/// (H. Hinnant), independent of the server's implementation.
pub fn utc_yyyymmdd(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}

/// Asserts a weidu error: the status, and a body of exactly `{"code": status, "result": "<non-empty>"}`.
pub fn assert_weidu_error(r: &RawResponse, status: u16) {
    if let Some(problem) = weidu_error_problem(r, status) {
        panic!("{problem}");
    }
}

/// What is wrong with `r` as a weidu error with `status`, `None` when nothing is.
pub fn weidu_error_problem(r: &RawResponse, status: u16) -> Option<String> {
    let text = r.text();
    if r.status != status {
        return Some(format!("want {status}, got {} {text}", r.status));
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&r.body) else {
        return Some(format!("{status}: the body is not JSON: {text:?}"));
    };
    let Some(obj) = v.as_object() else {
        return Some(format!("{status}: the body is not an object: {v}"));
    };
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["code", "result"] {
        return Some(format!("{status}: want the keys code and result, got {v}"));
    }
    if v["code"].as_u64() != Some(u64::from(status)) {
        return Some(format!("{status}: code must be the int {status}: {v}"));
    }
    if v["result"].as_str().is_none_or(str::is_empty) {
        return Some(format!("{status}: result must be a non-empty string: {v}"));
    }
    None
}

/// The fields of one `file_infos` entry (contracts/weidu-task-files.md), sorted.
pub const FILE_INFO_KEYS: [&str; 14] = [
    "create_time",
    "extension",
    "has_pre_img",
    "height",
    "id",
    "mime_type",
    "name",
    "path",
    "preview_path",
    "size",
    "task_id",
    "update_time",
    "user_id",
    "width",
];

fn sorted_keys(v: &serde_json::Value) -> Vec<String> {
    let obj = v.as_object().unwrap_or_else(|| panic!("not a JSON object: {v}"));
    let mut keys: Vec<String> = obj.keys().cloned().collect();
    keys.sort();
    keys
}

/// Checks the success envelope exactly — `{"code":200,"data":{"file_infos":[...],
/// "client_ids":[]},"result":"ok"}` with no other keys — and returns `file_infos`.
pub fn assert_envelope(v: &serde_json::Value) -> Vec<serde_json::Value> {
    assert_eq!(sorted_keys(v), ["code", "data", "result"], "top-level keys of {v}");
    assert!(v["code"].is_u64() && v["code"] == 200, "code must be the int 200: {v}");
    assert_eq!(v["result"], "ok", "result: {v}");
    assert_eq!(sorted_keys(&v["data"]), ["client_ids", "file_infos"], "data keys of {v}");
    assert_eq!(v["data"]["client_ids"], serde_json::json!([]), "client_ids: {v}");
    v["data"]["file_infos"].as_array().unwrap_or_else(|| panic!("file_infos is not an array: {v}")).clone()
}

/// Checks one `file_infos` entry against the contract for a file `name` of `size` bytes
/// uploaded by `user` to `task`: exact key set, JSON types, id shape, path layout (UTC date of
/// `create_time`), times, extension, preview fields. Returns the id.
pub fn assert_file_info(fi: &serde_json::Value, user: &str, task: &str, name: &str, size: u64) -> String {
    assert_eq!(sorted_keys(fi), FILE_INFO_KEYS, "file_info keys of {fi}");
    for k in ["id", "task_id", "user_id", "path", "preview_path", "name", "extension", "mime_type"] {
        assert!(fi[k].is_string(), "{k} must be a string: {fi}");
    }
    for k in ["create_time", "update_time", "size", "width", "height"] {
        assert!(fi[k].is_u64(), "{k} must be a non-negative int: {fi}");
    }
    assert!(fi["has_pre_img"].is_boolean(), "has_pre_img must be a bool: {fi}");

    let id = fi["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 26, "id length: {fi}");
    assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "id alphabet: {fi}");
    assert_eq!(fi["task_id"], task, "task_id: {fi}");
    assert_eq!(fi["user_id"], user, "user_id: {fi}");
    assert_eq!(fi["name"], name, "name: {fi}");
    assert_eq!(fi["size"].as_u64(), Some(size), "size: {fi}");
    let created = fi["create_time"].as_u64().unwrap_or_default();
    assert_eq!(fi["update_time"].as_u64(), Some(created), "update_time == create_time: {fi}");
    let dir = format!("{}/task/{task}/users/{user}/{id}", utc_yyyymmdd(created));
    assert_eq!(fi["path"], format!("{dir}/{name}").as_str(), "path: {fi}");
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i + 1..]),
        _ => (name, ""),
    };
    assert_eq!(fi["extension"], ext, "extension: {fi}");
    assert!(!fi["mime_type"].as_str().unwrap_or_default().is_empty(), "mime_type empty: {fi}");
    let preview = fi["preview_path"].as_str().unwrap_or_default();
    if fi["has_pre_img"] == true {
        assert_eq!(preview, format!("{dir}/{stem}_preview.jpg"), "preview_path: {fi}");
    } else {
        assert_eq!(preview, "", "preview_path without a preview: {fi}");
    }
    id
}

/// Checks a non-image entry: width and height 0, no preview.
pub fn assert_not_image(fi: &serde_json::Value) {
    assert_eq!(fi["width"], 0, "width: {fi}");
    assert_eq!(fi["height"], 0, "height: {fi}");
    assert_eq!(fi["has_pre_img"], false, "has_pre_img: {fi}");
    assert_eq!(fi["preview_path"], "", "preview_path: {fi}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::utc_yyyymmdd(1_612_353_893_174), "20210203");
        assert_eq!(super::utc_yyyymmdd(0), "19700101");
        assert_eq!(super::utc_yyyymmdd(951_782_400_000), "20000229");
        assert_eq!(super::utc_yyyymmdd(1_709_251_199_999), "20240229");
    }

    #[test]
    fn percent() {
        assert_eq!(super::percent_encode("a b/ü.txt"), "a%20b%2F%C3%BC.txt");
        assert_eq!(super::weidu_url("2021/x y"), "/files/weidu/2021/x%20y");
    }
}
