//! HTTP/1.1 behaviour seen by real clients: `Expect: 100-continue` answered before the body,
//! keep-alive and pipelining (responses in order, later requests seeing earlier commits),
//! HTTP/1.0 and `Connection: close`, chunked request bodies with tiny, huge and extended chunks,
//! and requests delivered in awkward splits — byte by byte heads, odd-sized body pieces.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sluice_tests::multipart::{chunked, upload_head};
use sluice_tests::{assert_envelope, assert_file_info, Multipart, TestServer, TASK, USER};

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; n];
    rng.fill(&mut v[..]);
    v
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let s = TestServer::start(|_| {});
    let data = random_bytes(200_000, 1);
    let mp = Multipart::new().file("files", "e.bin", "application/octet-stream", &data);
    let body = mp.body();
    let mut c = s.connect();
    c.write_all(&upload_head(USER, TASK, &mp.content_type(), Some(body.len() as u64), &["Expect: 100-continue"]));
    let started = Instant::now();
    let interim = c.read_response();
    let waited = started.elapsed();
    assert_eq!((interim.version_minor, interim.status, interim.reason.as_str()), (1, 100, "Continue"));
    assert!(interim.body.is_empty(), "{interim:?}");
    assert!(waited < Duration::from_millis(900), "100 Continue took {waited:?}: clients stall a second on this");
    c.write_all(&body);
    let r = c.read_final_response();
    assert_eq!(r.status, 201, "{}", r.text());
    let fi = &assert_envelope(&r.json())[0];
    assert_file_info(fi, USER, TASK, "e.bin", data.len() as u64);
    s.assert_downloads(fi["path"].as_str().unwrap(), &data);
}

#[test]
fn pipelined_requests_in_one_write_are_answered_in_order_on_one_connection() {
    let s = TestServer::start(|_| {});
    let one = Multipart::new().file("files", "one.txt", "text/plain", b"first").upload_request(USER, "pipe", &[]);
    let two = Multipart::new().file("files", "two.txt", "text/plain", b"second!").upload_request("other", "pipe", &[]);
    let mut all = one;
    all.extend_from_slice(&two);
    all.extend_from_slice(b"GET /weidu/api/v1/files?task_id=pipe HTTP/1.1\r\nHost: t\r\n\r\n");
    all.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut c = s.connect();
    c.write_all(&all);

    let r1 = c.read_response();
    assert_eq!(r1.status, 201, "{}", r1.text());
    let f1 = assert_envelope(&r1.json())[0].clone();
    assert_eq!(f1["name"], "one.txt");
    let r2 = c.read_response();
    assert_eq!(r2.status, 201, "{}", r2.text());
    let f2 = assert_envelope(&r2.json())[0].clone();
    assert_eq!(f2["name"], "two.txt");
    let r3 = c.read_response();
    assert_eq!(r3.status, 200, "{}", r3.text());
    let mut listed: Vec<String> =
        assert_envelope(&r3.json()).iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
    listed.sort();
    let mut want = vec![f1["id"].as_str().unwrap().to_owned(), f2["id"].as_str().unwrap().to_owned()];
    want.sort();
    assert_eq!(listed, want, "the pipelined listing sees both earlier uploads");
    let r4 = c.read_response();
    assert_eq!((r4.status, r4.text().as_str()), (200, "ok\n"));

    // Still alive afterwards.
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    assert!(!c.closed_within(Duration::from_millis(100)), "keep-alive connection closed");
}

#[test]
fn http10_closes_unless_keep_alive_and_connection_close_is_honoured_and_http11_needs_host() {
    let s = TestServer::start(|_| {});

    let mut c = s.connect();
    c.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    assert!(c.closed_within(Duration::from_secs(3)), "HTTP/1.0 without keep-alive must close");

    let mut c = s.connect();
    c.write_all(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    // Said, or an HTTP/1.0 client waits for the end of the stream.
    assert!(r.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")), "{:?}", r.headers);
    c.write_all(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.read_response().status, 200, "HTTP/1.0 keep-alive serves a second request");

    // HTTP/1.1 requires Host (RFC 9112 §3.2); the absolute form of a target is served as its path.
    let mut c = s.connect();
    c.write_all(b"GET /healthz HTTP/1.1\r\n\r\n");
    assert_eq!(c.read_response().status, 400);
    let mut c = s.connect();
    c.write_all(format!("GET http://{}/healthz HTTP/1.1\r\nHost: x\r\n\r\n", s.addr()).as_bytes());
    let r = c.read_response();
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));

    let mut c = s.connect();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(r.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")), "{:?}", r.headers);
    assert!(c.closed_within(Duration::from_secs(3)), "Connection: close must close");

    // The SDKs' pattern: an upload with Connection: close.
    let mp = Multipart::new().file("files", "sdk.txt", "text/plain", b"sdk style");
    let mut c = s.connect();
    c.write_all(&mp.upload_request(USER, TASK, &["Connection: close"]));
    let r = c.read_response();
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(c.closed_within(Duration::from_secs(3)), "Connection: close must close after an upload");
}

/// Sends a chunked upload of `data` as `name` (chunks sized by `sizes`) and checks the result.
fn chunked_round_trip(s: &TestServer, name: &str, data: &[u8], sizes: &[usize], split: &[usize]) {
    let mp = Multipart::new().file("files", name, "application/octet-stream", data);
    let mut req = upload_head(USER, TASK, &mp.content_type(), None, &[]);
    req.extend_from_slice(&chunked(&mp.body(), sizes));
    let mut c = s.connect();
    c.write_in_pieces(&req, split, Duration::ZERO);
    let r = c.read_final_response();
    assert_eq!(r.status, 201, "{name}: {}", r.text());
    let fi = &assert_envelope(&r.json())[0];
    assert_file_info(fi, USER, TASK, name, data.len() as u64);
    s.assert_downloads(fi["path"].as_str().unwrap(), data);
}

#[test]
fn chunked_request_bodies_with_tiny_and_huge_chunks() {
    let s = TestServer::start(|_| {});
    let small = random_bytes(5_000, 2);
    chunked_round_trip(&s, "tiny-chunks.bin", &small, &[1, 2, 3, 4, 5, 6, 7], &[usize::MAX]);
    let big = random_bytes(700_000, 3);
    chunked_round_trip(&s, "huge-chunks.bin", &big, &[300_000, 1, 65_536, 7, 1 << 20], &[usize::MAX]);
    // The chunk framing itself split across writes at odd places.
    chunked_round_trip(&s, "split-framing.bin", &small, &[5, 17, 250], &[1, 2, 3, 5, 8, 13, 21, 34]);
    assert_eq!(s.list(TASK, None).len(), 3);
}

#[test]
fn chunk_extensions_and_trailers_are_accepted() {
    let s = TestServer::start(|_| {});
    let mp = Multipart::new().file("files", "ext.txt", "text/plain", b"chunk extensions");
    let body = mp.body();
    let mut req = upload_head(USER, TASK, &mp.content_type(), None, &[]);
    let (a, b) = body.split_at(10);
    req.extend_from_slice(format!("{:X};name=value\r\n", a.len()).as_bytes());
    req.extend_from_slice(a);
    req.extend_from_slice(format!("\r\n{:x} ; quoted=\"x\"\r\n", b.len()).as_bytes());
    req.extend_from_slice(b);
    req.extend_from_slice(b"\r\n0\r\nX-Trailer: yes\r\n\r\n");
    let r = s.send(&req);
    assert_eq!(r.status, 201, "{}", r.text());
    let fi = &assert_envelope(&r.json())[0];
    s.assert_downloads(fi["path"].as_str().unwrap(), b"chunk extensions");
}

#[test]
fn requests_in_awkward_splits_give_the_same_result() {
    let s = TestServer::start(|_| {});
    let data = random_bytes(20_000, 4);
    let mp = Multipart::new().text("note", "split me").file("files", "split.bin", "application/octet-stream", &data);
    let body = mp.body();
    let odd = [1, 3, 7, 13, 31, 61, 127, 509, 1021, 4093];
    let pause = Duration::from_millis(1);

    // Content-Length: head one byte per write (with a pause so each is its own read), body
    // in odd pieces.
    let head = upload_head(USER, TASK, &mp.content_type(), Some(body.len() as u64), &[]);
    let mut c = s.connect();
    c.write_in_pieces(&head, &[1], pause);
    c.write_in_pieces(&body, &odd, pause);
    let r = c.read_final_response();
    assert_eq!(r.status, 201, "{}", r.text());
    let a = assert_envelope(&r.json())[0].clone();

    // Chunked: the same, framing included.
    let head = upload_head(USER, TASK, &mp.content_type(), None, &[]);
    let mut c = s.connect();
    c.write_in_pieces(&head, &[1], pause);
    c.write_in_pieces(&chunked(&body, &[97, 4, 1000]), &odd, pause);
    let r = c.read_final_response();
    assert_eq!(r.status, 201, "{}", r.text());
    let b = assert_envelope(&r.json())[0].clone();

    for fi in [&a, &b] {
        assert_file_info(fi, USER, TASK, "split.bin", data.len() as u64);
        s.assert_downloads(fi["path"].as_str().unwrap(), &data);
    }
    assert_ne!(a["id"], b["id"]);
}
