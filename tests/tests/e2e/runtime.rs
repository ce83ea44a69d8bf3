//! The runtime: the same uploads and downloads on monoio's epoll driver as on io_uring, and
//! the graceful drain — an upload in flight when the drain starts completes with 201, new
//! connections are refused, idle keep-alive connections are closed, `join()` returns, and what
//! was committed is there after a restart over the same data directory; one server per data
//! directory.

use std::sync::mpsc;
use std::time::Duration;

use sluice_api::SpawnOptions;
use sluice_engine::runtime::Driver;
use sluice_tests::multipart::{chunked, upload_head};
use sluice_tests::{
    assert_envelope, assert_file_info, memory_opts, rocks_opts, test_config, wait_until, Conn, Multipart, TestServer,
    TASK, USER,
};

fn pseudo_random(n: usize, seed: &str) -> Vec<u8> {
    let mut v = vec![0u8; n];
    blake3::Hasher::new().update(seed.as_bytes()).finalize_xof().fill(&mut v);
    v
}

/// Uploads (Content-Length with 100-continue, and chunked) and downloads (whole, Range).
fn round_trips(s: &TestServer) {
    let data = pseudo_random(300_000, "driver");
    let mp = Multipart::new().file("files", "d.bin", "application/octet-stream", &data).file(
        "files",
        "e.txt",
        "text/plain",
        b"epoll",
    );
    let body = mp.body();
    let mut c = s.connect();
    c.write_all(&upload_head(USER, TASK, &mp.content_type(), Some(body.len() as u64), &["Expect: 100-continue"]));
    assert_eq!(c.read_response().status, 100);
    c.write_all(&body);
    let r = c.read_final_response();
    assert_eq!(r.status, 201, "{}", r.text());
    let infos = assert_envelope(&r.json());
    assert_file_info(&infos[0], USER, TASK, "d.bin", data.len() as u64);
    assert_file_info(&infos[1], USER, TASK, "e.txt", 5);
    let path = infos[0]["path"].as_str().unwrap();
    s.assert_downloads(path, &data);
    s.assert_downloads(infos[1]["path"].as_str().unwrap(), b"epoll");
    let r = s.get_with(&sluice_tests::weidu_url(path), &["Range: bytes=100-199"]);
    assert_eq!((r.status, r.body.as_slice()), (206, &data[100..200]));

    let mut req = upload_head(USER, TASK, &mp.content_type(), None, &[]);
    req.extend_from_slice(&chunked(&body, &[7, 70_000]));
    let r = s.send(&req);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(s.list(TASK, None).len(), 4);
}

#[test]
fn the_epoll_driver_serves_the_same() {
    let s = TestServer::start_with(SpawnOptions { driver: Driver::Epoll, ..memory_opts() }, |_| {});
    assert_eq!(s.handle().driver(), "epoll");
    round_trips(&s);
}

#[test]
fn the_auto_driver_serves_the_same() {
    let s = TestServer::start(|_| {});
    let driver = s.handle().driver();
    assert!(driver == "io_uring" || driver == "epoll", "{driver}");
    eprintln!("auto driver: {driver}");
    round_trips(&s);
}

#[test]
fn graceful_drain_finishes_in_flight_uploads_and_refuses_new_connections() {
    let mut s = TestServer::start_with(rocks_opts(), |_| {});
    let addr = s.addr();
    let data = pseudo_random(3 * 1024 * 1024 + 123, "drain");
    let req = Multipart::new().file("files", "drain.bin", "application/octet-stream", &data).upload_request(
        USER,
        "drain",
        &[],
    );

    // An idle keep-alive connection, and the upload, started before the drain.
    let mut idle = s.connect();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(idle.read_response().status, 200);

    let (half_tx, half_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let uploader = std::thread::spawn(move || {
        let mut c = Conn::connect(addr);
        let half = req.len() / 2;
        c.write_in_pieces(&req[..half], &[256 * 1024], Duration::from_millis(2));
        half_tx.send(()).unwrap();
        go_rx.recv_timeout(Duration::from_secs(20)).expect("go signal");
        c.write_in_pieces(&req[half..], &[256 * 1024], Duration::from_millis(2));
        c.read_final_response()
    });
    half_rx.recv_timeout(Duration::from_secs(20)).expect("the first half was sent");

    let handle = s.take_handle();
    handle.trigger().fire();
    // New connections are refused once the listeners are gone (bounded poll).
    let refused = wait_until(
        Duration::from_secs(5),
        || matches!(Conn::try_connect(addr), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
    );
    assert!(refused, "new connections still accepted 5 s after the drain started");
    assert!(idle.closed_within(Duration::from_secs(3)), "an idle keep-alive connection survived the drain");

    go_tx.send(()).unwrap();
    let r = uploader.join().expect("uploader thread");
    assert_eq!(r.status, 201, "the in-flight upload: {}", r.text());
    let fi = assert_envelope(&r.json())[0].clone();
    assert_file_info(&fi, USER, "drain", "drain.bin", data.len() as u64);

    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        handle.join();
        let _ = done_tx.send(());
    });
    done_rx.recv_timeout(Duration::from_secs(20)).expect("join() returns after the drain");
    assert!(Conn::try_connect(addr).is_err());

    // What was committed survives: a new server over the same data directory serves it.
    let s = s.restart(|_| {});
    let listed = s.list("drain", None);
    assert_eq!(listed, vec![fi.clone()]);
    s.assert_downloads(fi["path"].as_str().unwrap(), &data);
}

#[test]
fn a_second_server_on_a_data_directory_in_use_is_refused_and_touches_nothing() {
    let s = TestServer::start_with(rocks_opts(), |_| {});
    // An upload past the packing limit is written to a tmp file as it arrives: stop it halfway.
    let data = pseudo_random(3 << 20, "lock");
    let mp = Multipart::new().file("files", "big.bin", "application/octet-stream", &data);
    let body = mp.body();
    let mut c = s.connect();
    c.write_all(&upload_head(USER, TASK, &mp.content_type(), Some(body.len() as u64), &[]));
    c.write_all(&body[..body.len() / 2]);
    assert!(wait_until(Duration::from_secs(10), || !s.tmp_files().is_empty()), "the upload has a tmp file");
    let tmp_before = s.tmp_files();
    // Refused with either index: the lock is the data directory's, not RocksDB's (which
    // comes later, after the start-up sweeps that would have removed that tmp file).
    for opts in [rocks_opts(), memory_opts()] {
        let err = sluice_api::spawn(test_config(s.data_dir(), |_| {}), opts).err().expect("a second server is refused");
        let text = format!("{err}: {}", std::error::Error::source(&err).map(|e| e.to_string()).unwrap_or_default());
        assert!(text.contains("in use by another process"), "{text}");
    }
    assert_eq!(s.tmp_files(), tmp_before, "the first server's upload in flight is untouched");
    c.write_all(&body[body.len() / 2..]);
    let r = c.read_final_response();
    assert_eq!(r.status, 201, "{}", r.text());
    s.assert_downloads(assert_envelope(&r.json())[0]["path"].as_str().unwrap(), &data);
}
