//! Bad and hostile input. Every case gets its precise status — on weidu paths with the body
//! `{"code": <status>, "result": "<detail>"}` — leaves nothing listed and no tmp file behind,
//! and the server keeps serving fresh connections afterwards. Every limit is tried at N
//! (accepted) and N+1 (refused): head size, body size (Content-Length and chunked), file-name
//! length, id length. Also: ambiguous framing, bad chunking, broken multipart, path tricks in
//! ids, a truncated body. File names: `file_names`. Slow and vanishing clients: `slow_clients`.

use std::io;
use std::time::{Duration, Instant};

use sluice_tests::multipart::{chunked, upload_head, upload_head_query};
use sluice_tests::{
    assert_envelope, assert_file_info, assert_weidu_error, weidu_error_problem, Multipart, TestServer, USER,
};

const MIB: usize = 1024 * 1024;

/// A server with small limits: 1 MiB bodies, 2 KiB heads, 1 s header and body idle timeouts.
pub(crate) fn server() -> TestServer {
    TestServer::start(|f| {
        f.limits.max_body = "1MiB".into();
        f.limits.max_header_size = "2KiB".into();
        f.limits.header_timeout = "1s".into();
        f.limits.body_idle_timeout = "1s".into();
    })
}

pub(crate) fn file_form(name: &str, data: &[u8]) -> Multipart {
    Multipart::new().file("files", name, "application/octet-stream", data)
}

/// Sends `req` on a fresh connection and asserts a weidu error with `status`; then a fresh
/// connection must still be able to upload.
pub(crate) fn refused(s: &TestServer, req: &[u8], status: u16, what: &str) {
    let r = s.send(req);
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_weidu_error(&r, status);
    s.assert_still_serving();
}

/// A form whose encoded body is exactly `total` bytes.
fn form_of_size(total: usize) -> Multipart {
    let empty = file_form("fill.bin", b"").body().len();
    file_form("fill.bin", &vec![b'f'; total - empty])
}

#[test]
fn malformed_request_lines_are_400_and_close() {
    let s = server();
    for line in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET  /healthz HTTP/1.1\r\n\r\n",
        b"GET healthz HTTP/1.1\r\n\r\n",
        b"\x01\x02 / HTTP/1.1\r\n\r\n",
        b"POST /weidu/api/v1/files?user_id=u&task_id=t HTTP/1.1 trailing\r\n\r\n",
        // A raw space in the target: not an unknown HTTP version (505).
        b"POST /weidu/api/v1/files?user_id=u&task_id=a b HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let what = String::from_utf8_lossy(line).into_owned();
        let mut c = s.connect();
        c.write_all(line);
        let r = c.read_response();
        assert_eq!(r.status, 400, "{what:?}: {}", r.text());
        let v = r.json();
        assert!(v.is_object(), "{what:?}: {v}");
        assert!(c.closed_within(Duration::from_secs(5)), "{what:?}: connection left open");
    }
    s.assert_still_serving();
    // A request line longer than the whole head may be: 414 (the head limit here is 2 KiB),
    // in the weidu shape on its path.
    let mut c = s.connect();
    c.write_all(format!("GET /weidu/api/v1/files?task_id={} HTTP/1.1\r\nHost: t\r\n\r\n", "t".repeat(3000)).as_bytes());
    let r = c.read_response();
    assert_eq!(r.status, 414, "{}", r.text());
    assert_weidu_error(&r, 414);
}

#[test]
fn a_header_line_without_colon_is_400() {
    let s = server();
    let mp = file_form("x.txt", b"x");
    let mut req = b"POST /weidu/api/v1/files?user_id=u&task_id=nocolon HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n".to_vec();
    let body = mp.body();
    req.extend_from_slice(
        format!("Content-Type: {}\r\nContent-Length: {}\r\n\r\n", mp.content_type(), body.len()).as_bytes(),
    );
    req.extend_from_slice(&body);
    let r = s.send(&req);
    assert_eq!(r.status, 400, "{}", r.text());
    s.assert_nothing_stored("nocolon");
    s.assert_still_serving();
}

/// The head of an upload padded with an `X-Pad` header to exactly `len` bytes.
fn padded_upload(task: &str, mp: &Multipart, len: usize) -> Vec<u8> {
    let body = mp.body();
    let base = upload_head(USER, task, &mp.content_type(), Some(body.len() as u64), &["X-Pad: "]).len();
    let pad = format!("X-Pad: {}", "p".repeat(len - base));
    let mut req = upload_head(USER, task, &mp.content_type(), Some(body.len() as u64), &[&pad]);
    assert_eq!(req.len(), len);
    req.extend_from_slice(&body);
    req
}

#[test]
fn head_size_limit_at_n_and_n_plus_1() {
    let s = server();
    let mp = file_form("h.txt", b"head limit");
    let r = s.send(&padded_upload("head-n", &mp, 2048));
    assert_eq!(r.status, 201, "a head of exactly max_header_size is accepted: {}", r.text());
    assert_eq!(s.list("head-n", None).len(), 1);

    let r = s.send(&padded_upload("head-n1", &mp, 2049));
    assert_eq!(r.status, 431, "{}", r.text());
    s.assert_nothing_stored("head-n1");
    // A head that never ends is cut off at the limit too.
    let mut c = s.connect();
    let mut endless = b"GET /healthz HTTP/1.1\r\n".to_vec();
    endless.extend(std::iter::repeat_n(b"X-A: b\r\n", 400).flatten());
    let _ = c.try_write_all(&endless);
    let r = c.try_read_response(false).expect("a 431 answer");
    assert_eq!(r.status, 431);
    s.assert_still_serving();
}

/// Requests whose head is refused although the request line names the weidu path: the
/// answer must still be in the weidu shape (interface.md, "Errors": every error in the shape
/// of the contract that was called). Collects every mismatch before failing.
#[test]
fn framing_errors_on_the_weidu_path_are_answered_in_the_weidu_shape() {
    let s = server();
    let mp = file_form("s.txt", b"shape");
    let body = mp.body();
    let ct = mp.content_type();
    let len = body.len();
    let with_body = |head: Vec<u8>| {
        let mut r = head;
        r.extend_from_slice(&body);
        r
    };
    let mut cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("header line without colon", upload_head(USER, "shape", &ct, Some(len as u64), &["NoColonHere"]), 400),
        (
            "Content-Length and Transfer-Encoding",
            with_body(upload_head(USER, "shape", &ct, Some(len as u64), &["Transfer-Encoding: chunked"])),
            400,
        ),
        (
            "two Content-Length",
            with_body(upload_head(USER, "shape", &ct, Some(len as u64), &[&format!("Content-Length: {len}")])),
            400,
        ),
        ("head over max_header_size", padded_upload("shape", &mp, 2049), 431),
        ("Content-Length over max_body", upload_head(USER, "shape", &ct, Some(MIB as u64 + 1), &[]), 413),
    ];
    let mut failures = Vec::new();
    for (what, req, status) in cases.drain(..) {
        let r = s.send(&req);
        if let Some(problem) = weidu_error_problem(&r, status) {
            failures.push(format!("{what}: {problem}"));
        }
    }
    s.assert_nothing_stored("shape");
    assert!(failures.is_empty(), "not in the weidu error shape:\n{}", failures.join("\n"));
}

#[test]
fn ambiguous_or_invalid_framing_is_400() {
    let s = server();
    let mp = file_form("f.txt", b"framing");
    let body = mp.body();
    let ct = mp.content_type();
    let len = body.len();
    for (what, extra) in [
        ("CL + TE", vec!["Transfer-Encoding: chunked".to_owned()]),
        ("two equal CL", vec![format!("Content-Length: {len}")]),
        ("two different CL", vec![format!("Content-Length: {}", len + 1)]),
        ("TE gzip", vec!["Transfer-Encoding: gzip".to_owned()]),
    ] {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let mut req = upload_head(USER, "framing", &ct, Some(len as u64), &extra);
        if what == "TE gzip" {
            req = upload_head(USER, "framing", &ct, None, &[]);
            let s = String::from_utf8(req).unwrap().replace("Transfer-Encoding: chunked", "Transfer-Encoding: gzip");
            req = s.into_bytes();
        }
        req.extend_from_slice(&body);
        let mut c = s.connect();
        c.write_all(&req);
        let r = c.read_response();
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert!(c.closed_within(Duration::from_secs(5)), "{what}: the connection must close (framing unknown)");
    }
    for bad_len in ["-1", "1e3", "12 34", "+5", "0x10", "99999999999999999999"] {
        let head = String::from_utf8(upload_head(USER, "framing", &ct, Some(0), &[]))
            .unwrap()
            .replace("Content-Length: 0", &format!("Content-Length: {bad_len}"));
        let r = s.send(head.as_bytes());
        assert_eq!(r.status, 400, "Content-Length {bad_len:?}: {}", r.text());
    }
    s.assert_nothing_stored("framing");
    s.assert_still_serving();
}

#[test]
fn a_bad_chunk_size_is_400() {
    let s = server();
    let mp = file_form("c.txt", b"chunky");
    for (what, framing) in [
        ("zz size", b"zz\r\nhello\r\n0\r\n\r\n".to_vec()),
        ("size with sign", b"+5\r\nhello\r\n0\r\n\r\n".to_vec()),
        ("missing CRLF after data", {
            let mut v = chunked(&mp.body(), &[10]);
            let i = v.windows(2).position(|w| w == b"\r\n").unwrap() + 2 + 10;
            v[i] = b'X';
            v
        }),
        ("17 hex digits", b"00000000000000001\r\nx\r\n0\r\n\r\n".to_vec()),
    ] {
        let mut req = upload_head(USER, "badchunk", &mp.content_type(), None, &[]);
        req.extend_from_slice(&framing);
        refused(&s, &req, 400, what);
    }
    s.assert_nothing_stored("badchunk");
    s.assert_still_serving();
}

#[test]
fn content_length_body_limit_at_n_and_n_plus_1_refused_before_the_body() {
    let s = server();
    // N: a body of exactly max_body is accepted.
    let exact = form_of_size(MIB);
    let req = exact.upload_request(USER, "body-n", &[]);
    let r = s.send(&req);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        assert_envelope(&r.json())[0]["size"].as_u64(),
        Some((MIB - file_form("fill.bin", b"").body().len()) as u64)
    );

    // N+1, with Expect: the 413 comes instead of 100 Continue, no body byte sent.
    let over = form_of_size(MIB + 1);
    let head = upload_head(USER, "body-n1", &over.content_type(), Some(MIB as u64 + 1), &["Expect: 100-continue"]);
    let mut c = s.connect();
    c.write_all(&head);
    let r = c.read_response();
    assert_ne!(r.status, 100, "100 Continue for a body already known to be too large");
    assert_weidu_error(&r, 413);
    assert!(c.closed_within(Duration::from_secs(5)));

    // N+1 without Expect: still answered on the head alone.
    let head = upload_head(USER, "body-n1", &over.content_type(), Some(MIB as u64 + 1), &[]);
    let mut c = s.connect();
    c.write_all(&head);
    let started = Instant::now();
    let r = c.read_response();
    assert_weidu_error(&r, 413);
    assert!(started.elapsed() < Duration::from_secs(3), "413 only after {:?}", started.elapsed());
    s.assert_nothing_stored("body-n1");
    s.assert_still_serving();
}

/// Sends `req` (tolerating a server that stops reading) and returns the response, or the
/// error the connection ended with.
fn send_tolerant(s: &TestServer, req: &[u8]) -> io::Result<sluice_tests::RawResponse> {
    let mut c = s.connect();
    for piece in req.chunks(64 * 1024) {
        if c.try_write_all(piece).is_err() {
            break;
        }
    }
    c.try_read_response(false)
}

/// A refused body: either a weidu 413, or a connection the server cut (reset or EOF before any
/// response byte). Anything else fails.
fn assert_413_or_cut(result: io::Result<sluice_tests::RawResponse>, what: &str) {
    match result {
        Ok(r) => {
            assert_eq!(r.status, 413, "{what}: {}", r.text());
            assert_weidu_error(&r, 413);
            eprintln!("{what}: answered 413");
        }
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe
                ),
                "{what}: neither a 413 nor a cut connection: {e}"
            );
            eprintln!("{what}: connection cut ({e})");
        }
    }
}

#[test]
fn chunked_body_limit_at_n_and_n_plus_1() {
    let s = server();
    let exact = form_of_size(MIB);
    let mut req = upload_head(USER, "chunk-n", &exact.content_type(), None, &[]);
    req.extend_from_slice(&chunked(&exact.body(), &[100_000]));
    let r = s.send(&req);
    assert_eq!(r.status, 201, "a chunked body of exactly max_body: {}", r.text());

    let over = form_of_size(MIB + 1);
    let mut req = upload_head(USER, "chunk-n1", &over.content_type(), None, &[]);
    req.extend_from_slice(&chunked(&over.body(), &[100_000]));
    assert_413_or_cut(send_tolerant(&s, &req), "chunked body of max_body + 1");

    // A chunked body that keeps growing (3 MiB in 64 KiB chunks).
    let big = file_form("grow.bin", &vec![b'g'; 3 * MIB]);
    let mut req = upload_head(USER, "chunk-n1", &big.content_type(), None, &[]);
    req.extend_from_slice(&chunked(&big.body(), &[64 * 1024]));
    assert_413_or_cut(send_tolerant(&s, &req), "chunked body growing past max_body");
    s.assert_nothing_stored("chunk-n1");
    s.assert_still_serving();
}

#[test]
fn a_truncated_body_stores_nothing() {
    let s = server();
    let req = file_form("t.bin", &vec![b't'; 300_000]).upload_request(USER, "truncated", &[]);
    let mut c = s.connect();
    c.write_all(&req[..req.len() / 2]);
    c.shutdown_write();
    match c.try_read_response(false) {
        Ok(r) => assert!((400..500).contains(&r.status), "a truncated upload answered {} {}", r.status, r.text()),
        Err(e) => eprintln!("truncated body: connection closed without an answer ({e})"),
    }
    drop(c);
    s.assert_nothing_stored("truncated");
    s.assert_still_serving();
}

#[test]
fn a_body_cut_short_after_its_closing_boundary_stores_nothing() {
    let s = server();
    // Found by black-box probing: once multer saw the closing boundary the files were
    // committed and 201 answered although the body was still incomplete - a Content-Length
    // promising more, a chunked body without its last chunk.
    for (size, task) in [(10, "cut-small"), (100_000, "cut-mid"), (600_000, "cut-large")] {
        let mp = file_form("c.bin", &vec![b'c'; size]);
        let body = mp.body();
        let framings: [(&str, Vec<u8>); 2] = [
            ("content-length", {
                let mut r = upload_head(USER, task, &mp.content_type(), Some(body.len() as u64 + 500), &[]);
                r.extend_from_slice(&body);
                r
            }),
            ("chunked", {
                let mut r = upload_head(USER, task, &mp.content_type(), None, &[]);
                let whole = chunked(&body, &[65_536]);
                r.extend_from_slice(&whole[..whole.len() - b"0\r\n\r\n".len()]);
                r
            }),
        ];
        for (framing, req) in framings {
            let mut c = s.connect();
            c.write_all(&req);
            c.shutdown_write();
            match c.try_read_response(false) {
                Ok(r) => assert_eq!(r.status, 400, "{size} bytes, {framing}: {}", r.text()),
                Err(e) => panic!("{size} bytes, {framing}: no answer ({e})"),
            }
        }
        s.assert_nothing_stored(task);
    }
    // The same body with the promised bytes sent after all: they are an epilogue, and the
    // upload is stored.
    let mp = file_form("e.bin", b"epilogue follows");
    let body = mp.body();
    let mut c = s.connect();
    c.write_all(&upload_head(USER, "epilogue", &mp.content_type(), Some(body.len() as u64 + 500), &[]));
    c.write_all(&body);
    c.write_all(&[b'e'; 500]);
    let r = c.read_final_response();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(s.list("epilogue", None).len(), 1);
    s.assert_still_serving();
}

#[test]
fn a_refusal_while_a_body_read_is_in_flight_answers_at_once_and_closes() {
    // The default body timeout (30 s): waiting on the client would show as a missing answer.
    let s = TestServer::start(|_| {});
    // The second part's name is refused while the server's next read of the body is already
    // waiting on the socket: the handler drops that read, which loses the connection's place in
    // the byte stream, so the server must answer and close - not wait to drain a body whose
    // bytes it can no longer count (it used to wait for the client, up to the body timeout).
    let mp = Multipart::new().file("files", "ok.txt", "text/plain", b"fine").file(
        "files",
        "bad\u{1}.txt",
        "text/plain",
        &[b'x'; 2000],
    );
    let body = mp.body();
    let second_data = body.windows(4).rposition(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut c = s.connect();
    c.write_all(&upload_head(USER, "abandoned", &mp.content_type(), Some(body.len() as u64), &[]));
    c.write_all(&body[..second_data]);
    c.stream().set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let r = c.try_read_response(false).expect("an answer without the rest of the body");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")), "{:?}", r.headers);
    drop(c);
    s.assert_nothing_stored("abandoned");
    s.assert_still_serving();
}

#[test]
fn non_multipart_or_boundaryless_content_types_are_400() {
    let s = server();
    let mp = file_form("ct.txt", b"content type");
    let body = mp.body();
    for ct in [
        "multipart/form-data",
        "multipart/form-data; charset=utf-8",
        "text/plain",
        "application/json",
        "multipart/mixed; boundary=x",
        "application/x-www-form-urlencoded",
    ] {
        let mut req = upload_head(USER, "ctype", ct, Some(body.len() as u64), &[]);
        req.extend_from_slice(&body);
        refused(&s, &req, 400, ct);
    }
    // No Content-Type at all.
    let head = String::from_utf8(upload_head(USER, "ctype", "x", Some(body.len() as u64), &[]))
        .unwrap()
        .replace("Content-Type: x\r\n", "");
    let mut req = head.into_bytes();
    req.extend_from_slice(&body);
    refused(&s, &req, 400, "no Content-Type");
    s.assert_nothing_stored("ctype");
    s.assert_still_serving();
}

#[test]
fn malformed_multipart_is_400() {
    let s = server();
    let b = "XyZ";
    let ct = format!("multipart/form-data; boundary={b}");
    let part = format!("--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"ok.txt\"\r\n\r\nhello\r\n");
    let cases: Vec<(&str, String)> = vec![
        ("garbage between boundaries", format!("{part}--{b}\r\nthis is no header at all\r\n\r\nxx\r\n--{b}--\r\n")),
        ("no closing boundary", part.clone()),
        (
            "no closing boundary, data cut",
            format!("--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a\"\r\n\r\nhel"),
        ),
        (
            "part head never ends",
            format!("--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a\"\r\n"),
        ),
        (
            "another boundary",
            "--other\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a\"\r\n\r\nx\r\n--other--\r\n"
                .into(),
        ),
        ("no boundary at all", "just some bytes, no multipart here".into()),
        ("empty body", String::new()),
        // Bounded (MAX_UNPARSED_BYTES): multer would buffer and re-search these without end.
        (
            "a part header block over 64 KiB",
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a\"\r\nX-Long: {}\r\n\r\nx\r\n--{b}--\r\n",
                "h".repeat(600_000)
            ),
        ),
        ("a preamble over 64 KiB", format!("{}\r\n{part}--{b}--\r\n", "p".repeat(600_000))),
    ];
    for (what, body) in &cases {
        let mut req = upload_head(USER, "badform", &ct, Some(body.len() as u64), &[]);
        req.extend_from_slice(body.as_bytes());
        refused(&s, &req, 400, what);
    }
    s.assert_nothing_stored("badform");
    s.assert_still_serving();
}

#[test]
fn a_form_without_a_files_part_is_400() {
    let s = server();
    let forms = [
        Multipart::new().text("comment", "no file here"),
        Multipart::new().text("files", "a files field without a file name"),
        Multipart::new().file("attachment", "x.txt", "text/plain", b"wrong field name"),
        Multipart::new(),
    ];
    for (i, mp) in forms.iter().enumerate() {
        refused(&s, &mp.upload_request(USER, "nofiles", &[]), 400, &format!("form {i}"));
    }
    s.assert_nothing_stored("nofiles");
    s.assert_still_serving();
}

#[test]
fn missing_or_bad_ids_are_400_and_the_id_limit_is_64() {
    let s = server();
    let mp = file_form("id.txt", b"ids");
    let body = mp.body();
    let long = "a".repeat(65);
    for query in [
        "task_id=ids".to_owned(),
        "user_id=u".to_owned(),
        "user_id=&task_id=ids".to_owned(),
        "user_id=u&task_id=".to_owned(),
        "user_id=a%2Fb&task_id=ids".to_owned(),
        "user_id=a/b&task_id=ids".to_owned(),
        "user_id=..&task_id=ids".to_owned(),
        "user_id=u&task_id=..".to_owned(),
        "user_id=u&task_id=..%2F..%2Fetc".to_owned(),
        "user_id=a%00b&task_id=ids".to_owned(),
        "user_id=a+b&task_id=ids".to_owned(),
        format!("user_id={long}&task_id=ids"),
        format!("user_id=u&task_id={long}"),
    ] {
        let mut req = upload_head_query(&query, &mp.content_type(), Some(body.len() as u64), &[]);
        req.extend_from_slice(&body);
        refused(&s, &req, 400, &query);
    }
    s.assert_nothing_stored("ids");
    // N: 64 characters are fine.
    let id64 = "b".repeat(64);
    let v = s.upload_ok(&[("id.txt", b"ids")], &id64, &id64);
    assert_file_info(&assert_envelope(&v)[0], &id64, &id64, "id.txt", 3);
    s.assert_still_serving();
}
