//! The weidu upload contract (contracts/weidu-task-files.md), field by field: status 201, the
//! exact envelope and `file_infos` shape with JSON types, ids, paths, times; several files in
//! one request; extra form fields ignored; downloads of what was stored (bytes, ETag = qetag,
//! HEAD, Range); and the contract's own curl example, run verbatim against the server.

use std::io::Read;
use std::process::{Command, Stdio};

use sluice_tests::media::{jpeg, jpeg_dims};
use sluice_tests::{
    assert_envelope, assert_file_info, assert_not_image, now_ms, rocks_opts, utc_yyyymmdd, weidu_url, Multipart,
    RawResponse, TestServer, TASK, USER,
};

#[test]
fn one_file_upload_matches_the_contract_exactly() {
    let s = TestServer::start_with(rocks_opts(), |_| {});
    let data = b"hello sluice\nsecond line\n";
    let before = now_ms();
    let r = s.upload(&[("notes.txt", data)], USER, TASK);
    let after = now_ms();

    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.reason, "Created");
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    assert!(r.header("x-reqid").is_some_and(|v| !v.is_empty()), "X-Reqid missing: {:?}", r.headers);
    let infos = assert_envelope(&r.json());
    assert_eq!(infos.len(), 1);
    let fi = &infos[0];
    let id = assert_file_info(fi, USER, TASK, "notes.txt", data.len() as u64);
    assert_not_image(fi);
    assert!(fi["mime_type"].as_str().unwrap().starts_with("text/plain"), "{fi}");

    let created = fi["create_time"].as_u64().unwrap();
    assert!(before <= created && created <= after, "create_time {created} not within [{before}, {after}]");
    let path = fi["path"].as_str().unwrap();
    assert!(path.starts_with(&utc_yyyymmdd(created)), "{path}");
    assert_eq!(path, format!("{}/task/{TASK}/users/{USER}/{id}/notes.txt", utc_yyyymmdd(created)));

    let got = s.assert_downloads(path, data);
    assert!(got.header("content-type").unwrap().starts_with("text/plain"), "{:?}", got.headers);
}

#[test]
fn downloads_serve_ranges_suffixes_and_416() {
    let s = TestServer::start(|_| {});
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let v = s.upload_ok(&[("range.bin", &data)], USER, TASK);
    let path = v["data"]["file_infos"][0]["path"].as_str().unwrap().to_owned();
    let url = weidu_url(&path);
    let full = s.assert_downloads(&path, &data);
    let etag = full.header("etag").unwrap().to_owned();

    let range = |spec: &str| s.get_with(&url, &[&format!("Range: {spec}")]);
    for (spec, start, end) in [("bytes=2-5", 2usize, 5usize), ("bytes=-3", 997, 999), ("bytes=990-", 990, 999)] {
        let r = range(spec);
        assert_eq!(r.status, 206, "{spec}: {}", r.text());
        assert_eq!(r.body, &data[start..=end], "{spec}");
        assert_eq!(r.header("content-range"), Some(format!("bytes {start}-{end}/1000").as_str()), "{spec}");
        assert_eq!(r.header("content-length"), Some((end - start + 1).to_string().as_str()), "{spec}");
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{spec}");
    }
    // Past the end: 416 with the size.
    let r = range("bytes=1000-");
    assert_eq!(r.status, 416, "{}", r.text());
    assert_eq!(r.header("content-range"), Some("bytes */1000"));
    // A range reaching past the end is clipped.
    let r = range("bytes=995-5000");
    assert_eq!((r.status, r.body.as_slice()), (206, &data[995..]));
    assert_eq!(r.header("content-range"), Some("bytes 995-999/1000"));
    // A missing object is a 404.
    let missing = weidu_url(&path.replace("range.bin", "other.bin"));
    assert_eq!(s.get(&missing).status, 404);
}

#[test]
fn downloads_answer_conditional_requests_on_the_etag() {
    let s = TestServer::start(|_| {});
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let v = s.upload_ok(&[("cond.bin", &data)], USER, TASK);
    let url = weidu_url(v["data"]["file_infos"][0]["path"].as_str().unwrap());
    let full = s.get(&url);
    let etag = full.header("etag").unwrap().to_owned();
    // Nothing an uploaded page could run as this origin.
    assert_eq!(full.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(full.header("content-security-policy"), Some("sandbox"));
    let get = |headers: &[&str]| s.get_with(&url, headers);

    // If-None-Match: 304 without a body while the client's copy is current.
    for inm in [etag.clone(), format!("W/{etag}"), format!("\"other\", {etag}"), "*".into()] {
        let r = get(&[&format!("If-None-Match: {inm}")]);
        assert_eq!((r.status, r.body.len()), (304, 0), "If-None-Match: {inm}");
        assert_eq!(r.header("etag"), Some(etag.as_str()));
    }
    assert_eq!(get(&["If-None-Match: \"other\""]).status, 200);
    // If-Match: 412 unless it names this ETag (strongly).
    assert_eq!(get(&[&format!("If-Match: {etag}")]).status, 200);
    assert_eq!(get(&["If-Match: *"]).status, 200);
    for im in ["\"nope\"".to_owned(), format!("W/{etag}")] {
        let r = get(&[&format!("If-Match: {im}")]);
        assert_eq!(r.status, 412, "If-Match: {im}: {}", r.text());
    }
    // If-Range: the range only while the copy is this one, otherwise the whole object - a
    // resumed download never splices two versions.
    let r = get(&["Range: bytes=0-1", &format!("If-Range: {etag}")]);
    assert_eq!((r.status, r.body.as_slice()), (206, &data[..2]));
    for ir in ["\"nope\"", "Sat, 05 Dec 2026 08:00:00 GMT"] {
        let r = get(&["Range: bytes=0-1", &format!("If-Range: {ir}")]);
        assert_eq!((r.status, r.body.len()), (200, data.len()), "If-Range: {ir}");
    }
}

#[test]
fn several_files_in_one_request_come_back_in_order_and_other_fields_are_ignored() {
    let s = TestServer::start(|_| {});
    let a = vec![b'a'; 3000];
    let b: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let c = b"{\"k\": 1}".to_vec();
    let body = Multipart::new()
        .text("comment", "not a file")
        .file("files", "first.dat", "application/octet-stream", &a)
        .text("files", "a files field without a file name")
        .file("files", "报告 v2.pdf", "application/pdf", &b)
        .file("attachment", "ignored.txt", "text/plain", b"other field name")
        .text("client_id", "xyz")
        .file("files", "third.json", "application/json", &c);
    let r = s.send(&body.upload_request(USER, TASK, &[]));
    assert_eq!(r.status, 201, "{}", r.text());
    let infos = assert_envelope(&r.json());
    let names: Vec<&str> = infos.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["first.dat", "报告 v2.pdf", "third.json"]);
    let mut ids = Vec::new();
    for (fi, (name, data)) in infos.iter().zip([("first.dat", &a), ("报告 v2.pdf", &b), ("third.json", &c)]) {
        ids.push(assert_file_info(fi, USER, TASK, name, data.len() as u64));
        assert_not_image(fi);
        s.assert_downloads(fi["path"].as_str().unwrap(), data);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "ids must differ");
    // All three share one create_time (one request) and are listed, in the order they were
    // sent (their random ids used to decide it); nothing else is.
    let listed: Vec<String> = s.list(TASK, None).iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed, names);
    // Ten more in one request, named so that neither name nor id order could pass for it.
    let names: Vec<String> = (0..10).map(|i| format!("{}.txt", 9 - i)).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    s.upload_ok(&files, "u2", TASK);
    let listed: Vec<String> = s.list(TASK, Some("u2")).iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed, names);
}

/// Runs `curl` with `args`, bounded in time by curl itself (`--max-time 60`, added after the
/// contract's own arguments); `None` when curl is not installed.
fn run_curl(args: &[String]) -> Option<Vec<u8>> {
    let mut child = match Command::new("curl")
        .args(args)
        .args(["--max-time", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run curl: {e}"),
    };
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).expect("read curl output");
    let status = child.wait().expect("wait for curl");
    assert!(status.success(), "curl failed (or hit --max-time 60): {status}");
    Some(out)
}

/// Splits curl `-i` output into its final response (interim `1xx` blocks skipped).
fn parse_curl_output(mut out: &[u8]) -> RawResponse {
    for _ in 0..8 {
        let mut storage = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut storage);
        let len = match resp.parse(out) {
            Ok(httparse::Status::Complete(len)) => len,
            other => panic!("curl output is not a response ({other:?}): {:?}", String::from_utf8_lossy(out)),
        };
        let status = resp.code.unwrap();
        if status < 200 {
            out = &out[len..];
            continue;
        }
        return RawResponse {
            version_minor: resp.version.unwrap_or(1),
            status,
            reason: resp.reason.unwrap_or("").to_owned(),
            headers: resp
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                .collect(),
            body: out[len..].to_vec(),
        };
    }
    panic!("too many interim responses from curl");
}

#[test]
fn the_contracts_curl_example_verbatim() {
    let s = TestServer::start(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let jpg = jpeg(500, 375);
    let file = dir.path().join("fabu.jpg");
    std::fs::write(&file, &jpg).unwrap();
    let url = format!(
        "http://{}/weidu/api/v1/files?user_id=b1onnbw3ebbjtenaco9fxa16ke&task_id=bnk7w8bhg7br5jp8xuep1to4se",
        s.addr()
    );
    let args: Vec<String> =
        vec!["-X".into(), "POST".into(), url, "-F".into(), format!("files=@{}", file.display()), "-i".into()];
    let r = match run_curl(&args) {
        Some(out) => {
            eprintln!("client: curl {}", args.join(" "));
            parse_curl_output(&out)
        }
        None => {
            eprintln!("client: curl is not installed; the raw client sends the same form");
            let mp = Multipart::new().file("files", "fabu.jpg", "image/jpeg", &jpg);
            s.send(&mp.upload_request(USER, TASK, &["Expect: 100-continue"]))
        }
    };
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some(r.body.len().to_string().as_str()));
    let infos = assert_envelope(&r.json());
    assert_eq!(infos.len(), 1);
    let fi = &infos[0];
    let id = assert_file_info(fi, USER, TASK, "fabu.jpg", jpg.len() as u64);
    assert_eq!(fi["mime_type"], "image/jpeg");
    assert_eq!((fi["width"].as_u64(), fi["height"].as_u64()), (Some(500), Some(375)));
    assert_eq!(fi["has_pre_img"], true);
    let created = fi["create_time"].as_u64().unwrap();
    let dir = format!("{}/task/{TASK}/users/{USER}/{id}", utc_yyyymmdd(created));
    assert_eq!(fi["preview_path"], format!("{dir}/fabu_preview.jpg").as_str());

    s.assert_downloads(fi["path"].as_str().unwrap(), &jpg);
    let p = s.download(fi["preview_path"].as_str().unwrap());
    assert_eq!(p.status, 200);
    assert_eq!(p.header("content-type"), Some("image/jpeg"));
    assert_eq!(jpeg_dims(&p.body), Some((400, 300)), "the preview fits 400x400 and keeps 4:3");
}
