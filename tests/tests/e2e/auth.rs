//! Bearer auth outside the test environment (`allow_anonymous = false`): no header or a wrong
//! token is a weidu-shaped 401 for uploads and listings, `Bearer dev-token` works; and a
//! refused upload is answered on its head — before `100 Continue`, without reading the body.

use std::time::{Duration, Instant};

use sluice_tests::multipart::upload_head;
use sluice_tests::{assert_envelope, assert_weidu_error, Multipart, TestServer, TASK, USER};

fn locked() -> TestServer {
    TestServer::start(|f| f.auth.allow_anonymous = false)
}

#[test]
fn uploads_and_listings_need_a_valid_bearer_token() {
    let s = locked();
    let mp = Multipart::new().file("files", "a.txt", "text/plain", b"secret");
    let list = |auth: &str| {
        s.send(format!("GET /weidu/api/v1/files?task_id={TASK} HTTP/1.1\r\nHost: t\r\n{auth}\r\n").as_bytes())
    };

    assert_weidu_error(&s.send(&mp.upload_request(USER, TASK, &[])), 401);
    for bad in ["Authorization: Bearer wrong-token", "Authorization: Basic dev-token", "Authorization: Bearer"] {
        assert_weidu_error(&s.send(&mp.upload_request(USER, TASK, &[bad])), 401);
        assert_weidu_error(&list(&format!("{bad}\r\n")), 401);
    }
    assert_weidu_error(&list(""), 401);
    assert!(s.tmp_files().is_empty());

    let r = s.send(&mp.upload_request(USER, TASK, &["Authorization: Bearer dev-token"]));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(assert_envelope(&r.json()).len(), 1);
    let r = list("Authorization: Bearer dev-token\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(assert_envelope(&r.json()).len(), 1, "only the authorised upload was stored");
}

#[test]
fn a_refused_upload_is_answered_before_100_continue_and_before_the_body() {
    let s = locked();
    let ten_mib = 10 * 1024 * 1024;
    let mut c = s.connect();
    c.write_all(&upload_head(USER, TASK, "multipart/form-data; boundary=x", Some(ten_mib), &["Expect: 100-continue"]));
    let started = Instant::now();
    // No body byte is ever sent: the very first response must be the 401.
    let r = c.read_response();
    assert_ne!(r.status, 100, "the server asked for the body of a request it must refuse");
    assert_weidu_error(&r, 401);
    assert!(started.elapsed() < Duration::from_secs(5), "answered only after {:?}", started.elapsed());
    // It does not wait for the 10 MiB either: the connection is closed.
    assert!(c.closed_within(Duration::from_secs(5)), "connection left open after refusing");
    assert!(s.tmp_files().is_empty());
    s.assert_still_serving_with(&["Authorization: Bearer dev-token"]);
}
