//! Storage as a client can observe it: identical bytes are stored once (content-addressed
//! dedup) yet answer as distinct files, and a 64 MiB upload streams through and comes back
//! byte-identical with the right qetag — hashed on the fly on both sides, never held twice.
//! Bytes a refused request left behind are given back at the next start.

use std::time::Instant;

use sluice_engine::ingest::SMALL_OBJECT_MAX_BYTES;
use sluice_tests::qetag::{qetag, Qetag};
use sluice_tests::{assert_envelope, assert_file_info, rocks_opts, weidu_url, Multipart, TestServer, TASK, USER};

#[test]
fn identical_bytes_are_stored_once_but_listed_as_distinct_files() {
    let s = TestServer::start_with(rocks_opts(), |_| {});
    let mut data = vec![0u8; 100_000];
    blake3::Hasher::new().update(b"dedup").finalize_xof().fill(&mut data);

    let mut infos = Vec::new();
    infos.extend(assert_envelope(&s.upload_ok(&[("copy.bin", &data)], USER, TASK)));
    infos.extend(assert_envelope(&s.upload_ok(&[("copy.bin", &data)], USER, TASK)));
    infos.extend(assert_envelope(&s.upload_ok(&[("a.bin", &data), ("b.bin", &data)], "other", TASK)));
    assert_eq!(infos.len(), 4);

    let mut ids = Vec::new();
    let mut paths = Vec::new();
    for fi in &infos {
        let name = fi["name"].as_str().unwrap();
        let user = fi["user_id"].as_str().unwrap();
        ids.push(assert_file_info(fi, user, TASK, name, data.len() as u64));
        paths.push(fi["path"].as_str().unwrap().to_owned());
        let r = s.assert_downloads(fi["path"].as_str().unwrap(), &data);
        assert_eq!(r.header("etag"), Some(format!("\"{}\"", qetag(&data)).as_str()));
    }
    ids.sort();
    ids.dedup();
    paths.sort();
    paths.dedup();
    assert_eq!((ids.len(), paths.len()), (4, 4), "ids and paths must differ");
    assert_eq!(s.list(TASK, None).len(), 4);
    // 100 kB is under one write window: the one copy sits in a pack, no blob file exists.
    assert_eq!(s.stored_bytes(), in_pack(data.len()), "one copy on disk for four files");
    assert!(s.blob_files().is_empty(), "a small blob got a file of its own: {:?}", s.blob_files());
    s.assert_tmp_empties();
}

/// The bytes a blob of `len` bytes takes in a pack: each starts on a 4 KiB block of its own
/// (the packs' `O_DIRECT` writes), zero-padded to the next.
fn in_pack(len: usize) -> u64 {
    len.div_ceil(4096) as u64 * 4096
}

#[test]
fn large_identical_bytes_get_one_blob_file() {
    let s = TestServer::start_with(rocks_opts(), |_| {});
    // Over the largest packed object: a file of its own under blobs/.
    let mut data = vec![0u8; SMALL_OBJECT_MAX_BYTES as usize + 200_000];
    blake3::Hasher::new().update(b"dedup-large").finalize_xof().fill(&mut data);
    for name in ["x.bin", "y.bin"] {
        let fi = assert_envelope(&s.upload_ok(&[(name, &data)], USER, TASK))[0].clone();
        s.assert_downloads(fi["path"].as_str().unwrap(), &data);
    }
    let blobs = s.blob_files();
    assert_eq!(blobs.len(), 1, "one blob file for two copies: {blobs:?}");
    assert_eq!(std::fs::metadata(&blobs[0]).unwrap().len(), data.len() as u64);
    assert_eq!(s.stored_bytes(), data.len() as u64);
    s.assert_tmp_empties();
}

#[test]
fn small_files_share_packs_and_each_reads_back_whole_and_by_range() {
    let s = TestServer::start_with(rocks_opts(), |_| {});
    let bodies: Vec<Vec<u8>> = (0..40u32)
        .map(|i| {
            let mut d = vec![0u8; 1 + (i as usize * 4099) % 200_000];
            blake3::Hasher::new().update(&i.to_le_bytes()).finalize_xof().fill(&mut d);
            d
        })
        .collect();
    let mut paths = Vec::new();
    for (i, d) in bodies.iter().enumerate() {
        let fi = assert_envelope(&s.upload_ok(&[(&format!("s{i}.bin"), d)], USER, TASK))[0].clone();
        paths.push(fi["path"].as_str().unwrap().to_owned());
    }
    assert!(s.blob_files().is_empty(), "small blobs got files of their own");
    assert_eq!(s.stored_bytes(), bodies.iter().map(|d| in_pack(d.len())).sum::<u64>(), "packs hold exactly the bodies");
    for (d, p) in bodies.iter().zip(&paths) {
        s.assert_downloads(p, d);
        // A range inside a packed blob never reaches its neighbours' bytes.
        let (a, b) = (d.len() / 3, d.len() - 1);
        let r = s.get_with(&weidu_url(p), &[&format!("Range: bytes={a}-{b}")]);
        assert_eq!(r.status, 206);
        assert_eq!(r.body, &d[a..=b]);
    }
}

#[test]
fn a_64_mib_upload_round_trips_byte_identical() {
    const SIZE: usize = 64 * 1024 * 1024;
    const PIECE: usize = 1024 * 1024;
    let s = TestServer::start(|_| {});
    let started = Instant::now();

    // The form around the file: everything before and after its bytes.
    let mp = Multipart::new().file("files", "big.bin", "application/octet-stream", b"");
    let empty = mp.body();
    let split = empty.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (prefix, suffix) = empty.split_at(split);
    let total = prefix.len() + SIZE + suffix.len();
    let mut c = s.connect();
    c.write_all(&sluice_tests::multipart::upload_head(USER, TASK, &mp.content_type(), Some(total as u64), &[]));
    c.write_all(prefix);

    let mut xof = blake3::Hasher::new().update(b"sixty-four").finalize_xof();
    let mut sent_b3 = blake3::Hasher::new();
    let mut sent_q = Qetag::new();
    let mut piece = vec![0u8; PIECE];
    for _ in 0..SIZE / PIECE {
        xof.fill(&mut piece);
        sent_b3.update(&piece);
        sent_q.update(&piece);
        c.write_all(&piece);
    }
    c.write_all(suffix);
    let r = c.read_final_response();
    assert_eq!(r.status, 201, "{}", r.text());
    let fi = assert_envelope(&r.json())[0].clone();
    assert_file_info(&fi, USER, TASK, "big.bin", SIZE as u64);
    let sent_q = sent_q.finish();
    eprintln!("64 MiB upload took {:?}", started.elapsed());

    // Download on the same connection, hashing as it comes.
    c.write_all(format!("GET {} HTTP/1.1\r\nHost: t\r\n\r\n", weidu_url(fi["path"].as_str().unwrap())).as_bytes());
    let head = c.try_read_head().expect("download head");
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(SIZE as u64));
    assert_eq!(head.header("etag"), Some(format!("\"{sent_q}\"").as_str()), "ETag = qetag of the 16 blocks");
    let mut got_b3 = blake3::Hasher::new();
    let mut got_q = Qetag::new();
    c.read_body_with(SIZE as u64, |b| {
        got_b3.update(b);
        got_q.update(b);
    })
    .expect("download body");
    assert_eq!(got_b3.finalize(), sent_b3.finalize(), "downloaded bytes differ");
    assert_eq!(got_q.finish(), sent_q);
    eprintln!("64 MiB round trip took {:?}", started.elapsed());
    s.assert_tmp_empties();
}

#[test]
fn bytes_a_refused_request_left_behind_are_given_back_at_the_next_start() {
    let s = TestServer::start_with(rocks_opts(), |_| {});
    let large = SMALL_OBJECT_MAX_BYTES as usize + 100_000;
    let bytes = |n: usize, seed: &[u8]| {
        let mut v = vec![0u8; n];
        blake3::Hasher::new().update(seed).finalize_xof().fill(&mut v);
        v
    };
    let (kept_large, kept_small) = (bytes(large, b"kept large"), bytes(50_000, b"kept small"));
    let (lost_large, lost_small) = (bytes(large, b"lost large"), bytes(70_000, b"lost small"));
    let kept = assert_envelope(&s.upload_ok(&[("k.bin", &kept_large), ("k2.bin", &kept_small)], USER, TASK));

    // Two files stored (a file blob, a pack range) before the third part's name is refused:
    // the request fails as a whole and lists nothing, but its bytes are on disk.
    let r = s.upload(&[("l.bin", &lost_large), ("l2.bin", &lost_small), ("bad\u{1}.txt", b"x")], USER, TASK);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(s.list(TASK, None).len(), 2);
    assert_eq!(s.blob_files().len(), 2, "the refused request's large file is on disk");
    let before = s.stored_bytes();

    let s = s.restart(|_| {});
    let blob_files = s.blob_files();
    assert_eq!(blob_files.len(), 1, "{blob_files:?}");
    assert!(blob_files[0].ends_with(blake3::hash(&kept_large).to_hex().as_str()), "{blob_files:?}");
    let freed = before - s.stored_bytes();
    assert!(freed >= (large + 70_000) as u64, "only {freed} bytes given back");
    for (info, data) in kept.iter().zip([&kept_large, &kept_small]) {
        s.assert_downloads(info["path"].as_str().unwrap(), data);
    }
}

#[test]
fn a_store_damaged_behind_the_servers_back_answers_500_not_a_cut_body_or_404() {
    let s = TestServer::start_with(rocks_opts(), |_| {});
    let small = vec![b's'; 5000];
    let large = vec![b'l'; SMALL_OBJECT_MAX_BYTES as usize + 10];
    let infos = assert_envelope(&s.upload_ok(&[("small.bin", &small), ("large.bin", &large)], USER, TASK));
    // Every pack emptied, every blob file removed - as a careless operator or a failing disk would.
    for pack in sluice_tests::files_under(&s.data_dir().join("packs")) {
        std::fs::OpenOptions::new().write(true).open(&pack).unwrap().set_len(0).unwrap();
    }
    for blob in s.blob_files() {
        std::fs::remove_file(blob).unwrap();
    }
    for info in &infos {
        let r = s.get(&weidu_url(info["path"].as_str().unwrap()));
        // Used to be: 200 with the full Content-Length and then no body, and a silent 404.
        assert_eq!(r.status, 500, "{}: {}", info["name"], r.text());
    }
    s.assert_still_serving();
}
