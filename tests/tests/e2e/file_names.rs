//! File names in uploads, as the client spells them: RFC 5987 `filename*`, parameter names in
//! any letter case, names in another encoding, path tricks (only the last segment is kept),
//! control characters, and the 255-byte limit at N and N+1. Each refusal is a 400 in the weidu
//! shape that stores nothing. (Split from `bad_input`, whose server and helpers it uses.)

use sluice_tests::multipart::upload_head;
use sluice_tests::{assert_envelope, assert_file_info, files_under, Multipart, USER};

use crate::bad_input::{file_form, refused, server};

#[test]
fn rfc5987_and_capitalised_file_names_are_read_and_unreadable_ones_are_said() {
    let s = server();
    let b = "XyZ";
    let ct = format!("multipart/form-data; boundary={b}");
    let send = |disposition: &[u8]| {
        let mut body = format!("--{b}\r\nContent-Disposition: ").into_bytes();
        body.extend_from_slice(disposition);
        body.extend_from_slice(format!("\r\n\r\nhello\r\n--{b}--\r\n").as_bytes());
        let mut req = upload_head(USER, "names5987", &ct, Some(body.len() as u64), &[]);
        req.extend_from_slice(&body);
        s.send(&req)
    };
    // urllib3 before 1.25 sent non-ASCII names only this way; multer saw no file name at all.
    let r = send(b"form-data; name=\"files\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.txt");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(assert_envelope(&r.json())[0]["name"], "报告.txt");
    // Parameter names are case-insensitive (RFC 7578 via RFC 2183); multer matched lower case.
    let r = send(b"form-data; NAME=\"files\"; FILENAME=\"upper.txt\"");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(assert_envelope(&r.json())[0]["name"], "upper.txt");
    // A GBK name (old Windows clients): refused, saying why rather than "no file".
    let r = send(b"form-data; name=\"files\"; filename=\"\xB1\xA8\xB8\xE6.txt\"");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("not valid UTF-8"), "{}", r.text());
    assert_eq!(s.list("names5987", None).len(), 2);
}

#[test]
fn path_tricks_in_file_names_keep_only_the_last_segment() {
    let s = server();
    for (raw, want) in [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/abs/path/report.pdf", "report.pdf"),
        ("a/./b/../c.txt", "c.txt"),
    ] {
        let v = s.upload_ok(&[(raw, b"traversal")], USER, "names");
        let fi = &assert_envelope(&v)[0];
        let id = assert_file_info(fi, USER, "names", want, 9);
        let path = fi["path"].as_str().unwrap();
        assert!(path.ends_with(&format!("/{id}/{want}")), "{raw:?} stored as {path}");
        assert!(!path.contains(".."), "{path}");
        s.assert_downloads(path, b"traversal");
    }
    // No file in the data directory is named after a client string.
    for f in files_under(s.data_dir()) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!["passwd", "win.ini", "report.pdf", "c.txt"].contains(&name.as_str()), "{}", f.display());
    }
    assert!(!s.data_dir().parent().unwrap().join("etc/passwd").exists());
}

#[test]
fn control_characters_in_file_names_are_400() {
    let s = server();
    for (what, name) in [
        ("NUL", &b"evil\x00name.txt"[..]),
        ("ESC", b"\x1b[31mred.txt"),
        ("DEL", b"del\x7f.txt"),
        ("TAB", b"tab\tname.txt"),
        ("CR", b"cr\rname.txt"),
    ] {
        let mp = Multipart::new().file_raw("files", name, Some("text/plain"), b"control");
        refused(&s, &mp.upload_request(USER, "control", &[]), 400, what);
    }
    // Empty and dot-only names are refused as well.
    for name in ["", ".", "..", "dir/"] {
        let mp = file_form(name, b"x");
        refused(&s, &mp.upload_request(USER, "control", &[]), 400, &format!("name {name:?}"));
    }
    s.assert_nothing_stored("control");
    s.assert_still_serving();
}

#[test]
fn file_name_length_limit_at_n_and_n_plus_1() {
    let s = server();
    let n = format!("{}.txt", "n".repeat(251));
    assert_eq!(n.len(), 255);
    let v = s.upload_ok(&[(&n, b"long")], USER, "namelen");
    assert_file_info(&assert_envelope(&v)[0], USER, "namelen", &n, 4);
    let wide = "文".repeat(85);
    assert_eq!(wide.len(), 255);
    let v = s.upload_ok(&[(&wide, b"wide")], USER, "namelen");
    assert_file_info(&assert_envelope(&v)[0], USER, "namelen", &wide, 4);
    assert_eq!(s.list("namelen", None).len(), 2);

    for name in [format!("{}.txt", "n".repeat(252)), "文".repeat(86), "x".repeat(4096)] {
        let mp = file_form(&name, b"too long");
        refused(&s, &mp.upload_request(USER, "namelen1", &[]), 400, &format!("{} bytes", name.len()));
    }
    s.assert_nothing_stored("namelen1");
    s.assert_still_serving();
}
