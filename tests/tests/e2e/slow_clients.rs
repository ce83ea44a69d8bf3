//! Slow and vanishing clients: a body that stalls, a head that stalls or drips in one byte at a
//! time, a client that disconnects mid-upload. Each is cut off within its timeout, leaves
//! nothing listed and no tmp file behind, and the server keeps serving everyone else.

use std::time::{Duration, Instant};

use sluice_tests::client::Pause;
use sluice_tests::multipart::{chunked, upload_head};
use sluice_tests::{assert_weidu_error, USER};

use crate::bad_input::{file_form, server};

#[test]
fn a_stalled_body_times_out_and_stores_nothing() {
    let s = server();
    let req = file_form("stall.bin", &vec![b's'; 200_000]).upload_request(USER, "stalled", &[]);
    let mut c = s.connect();
    c.write_all(&req[..req.len() / 2]);
    let started = Instant::now();
    let result = c.try_read_response(false);
    let waited = started.elapsed();
    match result {
        Ok(r) => assert_weidu_error(&r, 408),
        Err(e) => eprintln!("stalled body: connection closed ({e})"),
    }
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(6),
        "body_idle_timeout is 1s, the server reacted after {waited:?}"
    );
    drop(c);
    s.assert_nothing_stored("stalled");
    s.assert_still_serving();
}

#[test]
fn a_stalled_head_times_out() {
    let s = server();
    let mut c = s.connect();
    c.write_all(b"POST /weidu/api/v1/files?user_id=u&task_id=t HTTP/1.1\r\nHost: t\r\n");
    let started = Instant::now();
    let result = c.try_read_response(false);
    let waited = started.elapsed();
    match result {
        Ok(r) => assert_eq!(r.status, 408, "{}", r.text()),
        Err(e) => eprintln!("stalled head: connection closed ({e})"),
    }
    assert!(waited < Duration::from_secs(6), "header_timeout is 1s, the server reacted after {waited:?}");
    s.assert_still_serving();
}

/// `header_timeout` is the time allowed for the whole head (limits.rs), so a client that drips
/// one byte every 200 ms must be cut off after about a second, not kept forever.
#[test]
fn a_dripping_head_is_cut_off_by_the_header_timeout() {
    let s = server();
    let mut c = s.connect();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: {}\r\n\r\n", "s".repeat(60));
    let started = Instant::now();
    let mut reacted = None;
    for (i, b) in head.bytes().enumerate() {
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
        if c.try_write_all(&[b]).is_err() {
            reacted = Some(format!("write failed after {i} bytes"));
            break;
        }
        match c.pause(Duration::from_millis(200)) {
            Pause::Quiet => {}
            other => {
                reacted = Some(format!("{other:?} after {i} bytes"));
                break;
            }
        }
    }
    let waited = started.elapsed();
    let reacted = reacted.unwrap_or_else(|| {
        panic!("a head dripped for {waited:?} was never cut off (header_timeout = 1s)");
    });
    assert!(waited < Duration::from_secs(4), "cut off only after {waited:?} ({reacted})");
    if !c.buffered().is_empty() {
        let r = c.read_response();
        assert_eq!(r.status, 408, "{}", r.text());
    }
    s.assert_still_serving();
}

#[test]
fn a_client_that_disconnects_mid_upload_leaves_nothing() {
    let s = server();
    // Content-Length framing, gone after 300 KB of 800 KB.
    let req = file_form("gone.bin", &vec![b'g'; 800_000]).upload_request(USER, "gone", &[]);
    let mut c = s.connect();
    c.write_all(&req[..300_000]);
    assert_eq!(c.pause(Duration::from_millis(50)), Pause::Quiet);
    drop(c);
    // Chunked framing, gone in the middle of a chunk.
    let mp = file_form("gone2.bin", &vec![b'h'; 500_000]);
    let mut req = upload_head(USER, "gone", &mp.content_type(), None, &[]);
    req.extend_from_slice(&chunked(&mp.body(), &[100_000]));
    let mut c = s.connect();
    c.write_all(&req[..250_000]);
    assert_eq!(c.pause(Duration::from_millis(50)), Pause::Quiet);
    drop(c);
    s.assert_nothing_stored("gone");
    s.assert_still_serving();
}
