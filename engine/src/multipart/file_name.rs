//! A part's file name from its `Content-Disposition`, where multer gives up.
//!
//! multer reads `filename="…"` as UTF-8 only, and stops at the first `filename` it meets: a
//! `filename*=UTF-8''…` (RFC 5987, which RFC 7578 §4.2 allows and older HTTP libraries —
//! urllib3 before 1.25 — send for non-ASCII names) made the part look like it had no file name
//! at all, even with a plain `filename` after it. Here `filename*` in UTF-8 wins when present
//! (RFC 6266 §4.3), then multer's `filename`; a file name given in neither readable form is an
//! error that says so, instead of "no file".

use std::borrow::Cow;

/// The file name of a part with raw `Content-Disposition` value `disposition` and the file
/// name multer read (`plain`). `Ok(None)`: the part has no file name.
pub(crate) fn file_name(disposition: Option<&[u8]>, plain: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(value) = disposition else { return Ok(plain.map(str::to_owned)) };
    if let Some(extended) = param(value, b"filename*") {
        return decode_ext_value(extended).map(|n| Some(n.into_owned())).ok_or("file name (filename*) is not UTF-8");
    }
    match (plain, param(value, b"filename")) {
        (Some(name), _) => Ok(Some(name.to_owned())),
        // multer matches `filename` in lower case only (parameter names are case-insensitive).
        (None, Some(raw)) => {
            std::str::from_utf8(raw).map(|name| Some(unescape(name))).map_err(|_| "file name is not valid UTF-8")
        }
        (None, None) => Ok(None),
    }
}

/// The form field name: multer's, or the `name` parameter in any letter case.
pub(crate) fn field_name(disposition: Option<&[u8]>, plain: Option<&str>) -> String {
    plain
        .map(str::to_owned)
        .or_else(|| std::str::from_utf8(param(disposition?, b"name")?).ok().map(unescape))
        .unwrap_or_default()
}

/// A quoted-string's content with its `\"` escapes undone (as multer does).
fn unescape(quoted: &str) -> String {
    quoted.replace("\\\"", "\"")
}

/// The raw value of parameter `name` (case-insensitive, RFC 6266) in a `Content-Disposition`
/// value, quotes removed. Parameters are split at `;` outside quotes.
fn param<'v>(value: &'v [u8], name: &[u8]) -> Option<&'v [u8]> {
    let mut rest = value;
    loop {
        let end = param_end(rest);
        let (item, tail) = (&rest[..end], rest.get(end + 1..).unwrap_or(&[]));
        if let Some(eq) = item.iter().position(|&b| b == b'=') {
            if item[..eq].trim_ascii().eq_ignore_ascii_case(name) {
                let v = item[eq + 1..].trim_ascii();
                return Some(v.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")).unwrap_or(v));
            }
        }
        if tail.is_empty() {
            return None;
        }
        rest = tail;
    }
}

/// Where the parameter starting at `value[0]` ends: the first `;` outside a quoted string.
fn param_end(value: &[u8]) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in value.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b';' if !quoted => return i,
            _ => {}
        }
    }
    value.len()
}

/// RFC 5987 `ext-value`: `charset'[language]'percent-encoded`; UTF-8 only (ISO-8859-1, the
/// other charset it names, is not worth guessing at for file names).
fn decode_ext_value(value: &[u8]) -> Option<Cow<'_, str>> {
    let mut pieces = value.splitn(3, |&b| b == b'\'');
    let (charset, _language, encoded) = (pieces.next()?, pieces.next()?, pieces.next()?);
    if !charset.eq_ignore_ascii_case(b"utf-8") {
        return None;
    }
    percent_encoding::percent_decode(encoded).decode_utf8().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(disposition: &str, plain: Option<&str>) -> Result<Option<String>, &'static str> {
        file_name(Some(disposition.as_bytes()), plain)
    }

    #[test]
    fn extended_names_win_and_unreadable_ones_are_said() {
        let ext = "form-data; name=\"files\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%20v2.pdf";
        assert_eq!(name(ext, None).unwrap().as_deref(), Some("报告 v2.pdf"));
        // Before a plain one (which multer could not get past) and after it: preferred either way.
        let both = "form-data; name=\"files\"; filename*=utf-8'zh'%E6%96%87.txt; filename=\"fallback.txt\"";
        assert_eq!(name(both, None).unwrap().as_deref(), Some("文.txt"));
        let after = "form-data; name=\"files\"; filename=\"fallback.txt\"; FILENAME*=UTF-8''a%2Bb.txt";
        assert_eq!(name(after, Some("fallback.txt")).unwrap().as_deref(), Some("a+b.txt"));
        // Only a plain one: multer's reading stands.
        let plain = "form-data; name=\"files\"; filename=\"a;b.txt\"";
        assert_eq!(name(plain, Some("a;b.txt")).unwrap().as_deref(), Some("a;b.txt"));
        // Parameter names in capitals, which multer misses.
        let upper = "form-data; NAME=\"files\"; FILENAME=\"a \\\"b\\\".txt\"";
        assert_eq!(name(upper, None).unwrap().as_deref(), Some("a \"b\".txt"));
        assert_eq!(field_name(Some(upper.as_bytes()), None), "files");
        assert_eq!(field_name(Some(upper.as_bytes()), Some("multer's")), "multer's");
        assert_eq!(field_name(None, None), "");
        // No file name at all.
        assert_eq!(name("form-data; name=\"comment\"", None).unwrap(), None);
        assert_eq!(file_name(None, None).unwrap(), None);
        // Present but unreadable: an error that says why.
        assert!(name("form-data; name=\"files\"; filename*=ISO-8859-1''caf%E9.txt", None).is_err());
        assert!(name("form-data; name=\"files\"; filename*=UTF-8''%FF.txt", None).is_err());
        assert!(name("form-data; name=\"files\"; filename*=nonsense", None).is_err());
        let gbk = b"form-data; name=\"files\"; filename=\"\xB1\xA8\xB8\xE6.txt\"";
        assert_eq!(file_name(Some(gbk), None), Err("file name is not valid UTF-8"));
    }

    #[test]
    fn parameters_are_split_outside_quotes_only() {
        let v = b"form-data; name=\"a;b=\\\"c\"; filename = \"x.txt\"";
        assert_eq!(param(v, b"name"), Some(&b"a;b=\\\"c"[..]));
        assert_eq!(param(v, b"filename"), Some(&b"x.txt"[..]));
        assert_eq!(param(v, b"missing"), None);
    }
}
