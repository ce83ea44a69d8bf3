//! The edges of the URL space and the operator endpoints: unknown paths are a JSON 404, a
//! wrong method on the weidu path is a weidu-shaped 405 with `Allow`, `/healthz` answers 200,
//! and `/metrics` counts requests by personality and status and the bytes ingested.

use sluice_tests::{assert_weidu_error, TestServer, TASK, USER};

#[test]
fn unknown_paths_are_json_404() {
    let s = TestServer::start(|_| {});
    for req in [
        "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /weidu/api/v2/files HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        "GET /weidu/api/v1/filesx HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /healthz/extra HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let r = s.send(req.as_bytes());
        assert_eq!(r.status, 404, "{req:?}: {}", r.text());
        assert!(r.header("content-type").is_some_and(|v| v.starts_with("application/json")), "{req:?}");
        let v = r.json();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{req:?}: {v}");
    }
}

#[test]
fn wrong_methods_on_the_weidu_path_are_405_in_weidu_shape() {
    let s = TestServer::start(|_| {});
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        let req = format!("{method} /weidu/api/v1/files?user_id={USER}&task_id={TASK} HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
        let r = s.send(req.as_bytes());
        assert_weidu_error(&r, 405);
        let allow = r.header("allow").unwrap_or_else(|| panic!("{method}: no Allow header"));
        for m in ["GET", "POST"] {
            assert!(allow.contains(m), "{method}: Allow = {allow}");
        }
    }
    // Downloads only know GET and HEAD.
    let r = s.send(b"DELETE /files/weidu/x/y HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405, "{}", r.text());
    assert!(s.list(TASK, None).is_empty());
}

#[test]
fn healthz_answers_200() {
    let s = TestServer::start(|_| {});
    let r = s.get("/healthz");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    let h = s.head("/healthz");
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
}

/// The value of the sample `name` (with labels, exactly as written) in a Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn metrics_count_requests_and_ingested_bytes() {
    let s = TestServer::start(|_| {});
    let a = vec![b'a'; 1000];
    let b = vec![b'b'; 2345];
    s.upload_ok(&[("a.bin", &a)], USER, TASK);
    s.upload_ok(&[("b.bin", &b)], USER, TASK);
    assert_eq!(s.get("/weidu/api/v1/files").status, 400);
    assert_eq!(s.get("/nope").status, 404);

    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").is_some_and(|v| v.contains("text")), "{:?}", r.headers);
    let text = r.text();
    assert_eq!(sample(&text, "sluice_requests_total{personality=\"weidu\",status=\"201\"}"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "sluice_requests_total{personality=\"weidu\",status=\"400\"}"), Some(1.0), "{text}");
    let ingested = sample(&text, "sluice_bytes_ingested_total").unwrap_or_else(|| panic!("no bytes series: {text}"));
    assert!(ingested >= (a.len() + b.len()) as f64, "sluice_bytes_ingested_total {ingested} < {}", a.len() + b.len());
    assert_eq!(sample(&text, "sluice_uploads_in_flight"), Some(0.0), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}
