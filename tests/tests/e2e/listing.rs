//! Listing: `GET /weidu/api/v1/files?task_id=T[&user_id=U]` returns every file of the task in
//! the upload's `file_infos` shape (entries equal to what the uploads answered), filters by
//! user, answers an unknown task with an empty list, and refuses a missing or bad task id.

use std::collections::BTreeMap;

use sluice_tests::{assert_envelope, assert_weidu_error, TestServer};

fn by_id(infos: &[serde_json::Value]) -> BTreeMap<String, serde_json::Value> {
    infos.iter().map(|f| (f["id"].as_str().unwrap().to_owned(), f.clone())).collect()
}

#[test]
fn a_task_lists_every_users_files_and_user_id_filters() {
    let s = TestServer::start(|_| {});
    let mut uploaded = Vec::new();
    for (user, files) in [
        ("alice", vec![("a1.txt", &b"one"[..]), ("a2.txt", &b"two"[..])]),
        ("bob", vec![("b1.txt", &b"three"[..])]),
        ("alice", vec![("a3.txt", &b"four"[..])]),
    ] {
        let v = s.upload_ok(&files, user, "task-one");
        uploaded.extend(assert_envelope(&v));
    }
    s.upload_ok(&[("elsewhere.txt", b"other task")], "alice", "task-two");

    let r = s.get("/weidu/api/v1/files?task_id=task-one");
    assert_eq!(r.status, 200, "{}", r.text());
    let all = assert_envelope(&r.json());
    assert_eq!(by_id(&all), by_id(&uploaded), "the listing equals what the uploads answered");

    let alice = s.list("task-one", Some("alice"));
    let names: Vec<&str> = alice.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(alice.len(), 3, "{names:?}");
    assert!(alice.iter().all(|f| f["user_id"] == "alice"));
    // Oldest first within a user.
    let times: Vec<u64> = alice.iter().map(|f| f["create_time"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let bob = s.list("task-one", Some("bob"));
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0]["name"], "b1.txt");
    assert!(s.list("task-one", Some("carol")).is_empty());

    let two = s.list("task-two", None);
    assert_eq!(two.len(), 1);
    assert_eq!(two[0]["name"], "elsewhere.txt");
}

#[test]
fn an_unknown_task_is_an_empty_list() {
    let s = TestServer::start(|_| {});
    let r = s.get("/weidu/api/v1/files?task_id=nosuchtask");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(assert_envelope(&r.json()).is_empty());
}

#[test]
fn a_missing_or_bad_task_id_is_400() {
    let s = TestServer::start(|_| {});
    for path in [
        "/weidu/api/v1/files",
        "/weidu/api/v1/files?user_id=alice",
        "/weidu/api/v1/files?task_id=",
        "/weidu/api/v1/files?task_id=..",
        "/weidu/api/v1/files?task_id=a%2Fb",
        "/weidu/api/v1/files?task_id=ok&user_id=..%2F..",
    ] {
        let r = s.get(path);
        assert_weidu_error(&r, 400);
    }
}
