//! Client-supplied strings of the weidu API: ids and file names. They become parts of an object
//! *key* (never a file-system path — blobs are named by hash), so they are checked here.

use super::WeiduError;

/// Longest accepted `user_id` / `task_id`.
pub const MAX_ID_BYTES: usize = 64;
/// Longest accepted file name, bytes (ext4's NAME_MAX; what clients expect to round-trip).
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Checks a `user_id`/`task_id`: 1..=64 of `[A-Za-z0-9_-]` (they are path segments of the key).
pub fn check_id(what: &'static str, value: Option<String>) -> Result<String, WeiduError> {
    let v = value.filter(|v| !v.is_empty()).ok_or(WeiduError::MissingParam(what))?;
    if v.len() > MAX_ID_BYTES || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(WeiduError::BadParam(what));
    }
    Ok(v)
}

/// The file name to store: the last path segment of what the client sent (as Go's
/// `multipart.FileHeader` and browsers do, so `../../x.jpg` becomes `x.jpg`), refused when it
/// holds control characters, is empty, `.`/`..`, or longer than [`MAX_FILE_NAME_BYTES`].
pub fn clean_file_name(raw: &str) -> Result<String, WeiduError> {
    if raw.chars().any(char::is_control) {
        return Err(WeiduError::BadFileName("file name contains control characters"));
    }
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if base.is_empty() || base == "." || base == ".." {
        return Err(WeiduError::BadFileName("file name is empty"));
    }
    if base.len() > MAX_FILE_NAME_BYTES {
        return Err(WeiduError::BadFileName("file name longer than 255 bytes"));
    }
    Ok(base.to_owned())
}

/// `("fabu", "jpg")` for `fabu.jpg`; no extension for `README` or `.bashrc`.
pub fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i + 1..]),
        _ => (name, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let ok = |raw: &str| clean_file_name(raw).unwrap();
        assert_eq!(ok("fabu.jpg"), "fabu.jpg");
        assert_eq!(ok("../../etc/passwd"), "passwd");
        assert_eq!(ok("C:\\Users\\a\\b.png"), "b.png");
        assert_eq!(ok("  spaced name.txt "), "spaced name.txt");
        assert_eq!(ok("文件.pdf"), "文件.pdf");
        for bad in ["a\0b", "a\nb", "x\x1b[31m", "", "..", "dir/", "/", &"a".repeat(256)] {
            assert!(clean_file_name(bad).is_err(), "{bad:?}");
        }
        assert!(clean_file_name(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn ids() {
        assert_eq!(
            check_id("user_id", Some("b1onnbw3ebbjtenaco9fxa16ke".into())).unwrap(),
            "b1onnbw3ebbjtenaco9fxa16ke"
        );
        assert!(matches!(check_id("user_id", None), Err(WeiduError::MissingParam("user_id"))));
        assert!(matches!(check_id("user_id", Some(String::new())), Err(WeiduError::MissingParam(_))));
        for bad in ["../x", "a/b", "a b", "é"] {
            assert!(matches!(check_id("task_id", Some(bad.into())), Err(WeiduError::BadParam(_))), "{bad}");
        }
        assert!(check_id("task_id", Some("a".repeat(64))).is_ok());
        assert!(check_id("task_id", Some("a".repeat(65))).is_err());
    }

    #[test]
    fn extensions() {
        assert_eq!(split_extension("fabu.jpg"), ("fabu", "jpg"));
        assert_eq!(split_extension("a.tar.gz"), ("a.tar", "gz"));
        assert_eq!(split_extension("README"), ("README", ""));
        assert_eq!(split_extension(".bashrc"), (".bashrc", ""));
    }
}
