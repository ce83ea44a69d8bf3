//! Request-head parsing: the only file that imports `httparse`.
//!
//! Turns the bytes of a request head into an owned [`RequestHead`] and decides the body
//! framing once, strictly (RFC 9112 §6): `Transfer-Encoding` together with `Content-Length`,
//! a repeated `Content-Length`, a non-numeric length or a transfer coding other than a final
//! `chunked` are refused, so no two readers of these bytes can disagree on where the body ends.

use super::error::Error;
use super::limits::HttpLimits;

/// The request method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// Any other token.
    Other(String),
}

impl Method {
    fn parse(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(s) => s,
        }
    }
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no Content-Length, no Transfer-Encoding).
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// An owned, validated request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The path part of the request target, still percent-encoded.
    pub path: String,
    /// The query string without `?`, still encoded; empty when absent.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    /// Header fields in order; names lower-cased.
    pub headers: Vec<(String, Vec<u8>)>,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// The client sent `Expect: 100-continue`.
    pub expect_continue: bool,
    /// The connection may be reused after this request.
    pub keep_alive: bool,
}

impl RequestHead {
    /// The first value of a header (name in lower case) if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The decoded value of a query parameter (first occurrence).
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    /// The path with percent-escapes decoded; `None` if the result is not UTF-8.
    pub fn decoded_path(&self) -> Option<String> {
        percent_encoding::percent_decode_str(&self.path).decode_utf8().ok().map(|c| c.into_owned())
    }
}

/// Tries to parse a request head from the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some((head, len)))` with the head's length
/// in bytes when complete.
pub fn parse_head(buf: &[u8], limits: &HttpLimits) -> Result<Option<(RequestHead, usize)>, Error> {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    let mut skip = 0;
    while buf[skip..].starts_with(b"\r\n") {
        skip += 2;
    }
    let buf_all = buf;
    let buf = &buf[skip..];
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut storage);
    let status = match req.parse(buf) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(Error::TooManyHeaders(limits.max_headers)),
        Err(httparse::Error::Version) if !version_token_is_http(buf) => {
            // httparse reads the third word of the line as the version: a target with a raw
            // space in it (`GET /a b HTTP/1.1`) lands here, and is the client's syntax error.
            return Err(Error::BadHead("malformed request line (a space in the target?)"));
        }
        Err(httparse::Error::Version) => return Err(Error::Version),
        Err(e) => return Err(Error::BadHead(httparse_reason(e))),
    };
    let len = match status {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => {
            if buf_all.len() > limits.max_head_bytes {
                return Err(too_large(buf, limits.max_head_bytes));
            }
            return Ok(None);
        }
    };
    if len + skip > limits.max_head_bytes {
        return Err(too_large(buf, limits.max_head_bytes));
    }
    let method = Method::parse(req.method.ok_or(Error::BadHead("no method"))?);
    let target = origin_form(req.path.ok_or(Error::BadHead("no request target"))?)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target.into_owned(), String::new()),
    };
    let version_minor = req.version.ok_or(Error::Version)?;

    let mut headers = Vec::with_capacity(req.headers.len());
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding: Option<Vec<u8>> = None;
    let mut expect_continue = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut host_seen = false;
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "content-length" => {
                if content_length.is_some() {
                    return Err(Error::BadFraming("repeated Content-Length"));
                }
                content_length = Some(parse_content_length(h.value)?);
            }
            "transfer-encoding" => {
                if transfer_encoding.is_some() {
                    return Err(Error::BadFraming("repeated Transfer-Encoding"));
                }
                transfer_encoding = Some(h.value.to_vec());
            }
            "expect" => {
                if h.value.eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = true;
                } else {
                    return Err(Error::BadHead("unsupported Expect"));
                }
            }
            "connection" => {
                for token in h.value.split(|b| *b == b',') {
                    let token = trim_ascii(token);
                    if token.eq_ignore_ascii_case(b"close") {
                        conn_close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        conn_keep_alive = true;
                    }
                }
            }
            "host" => {
                if host_seen {
                    return Err(Error::BadHead("repeated Host"));
                }
                host_seen = true;
            }
            _ => {}
        }
        headers.push((name, h.value.to_vec()));
    }

    if version_minor >= 1 && !host_seen {
        // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
        return Err(Error::BadHead("missing Host"));
    }

    let framing = match (transfer_encoding, content_length) {
        (Some(_), Some(_)) => return Err(Error::BadFraming("both Transfer-Encoding and Content-Length")),
        (Some(te), None) => {
            if version_minor == 0 {
                return Err(Error::BadFraming("Transfer-Encoding in HTTP/1.0"));
            }
            if !trim_ascii(&te).eq_ignore_ascii_case(b"chunked") {
                // RFC 9112 §6.3: chunked must be the final coding; we accept no other coding.
                return Err(Error::BadFraming("unsupported Transfer-Encoding"));
            }
            BodyFraming::Chunked
        }
        (None, Some(0)) => BodyFraming::None,
        (None, Some(n)) => BodyFraming::Length(n),
        (None, None) => BodyFraming::None,
    };
    let keep_alive = if version_minor == 0 { conn_keep_alive && !conn_close } else { !conn_close };

    Ok(Some((
        RequestHead {
            method,
            path,
            query,
            version_minor,
            headers,
            framing,
            expect_continue: expect_continue && framing != BodyFraming::None,
            keep_alive,
        },
        len + skip,
    )))
}

/// The origin-form (`/path?query`) of a request target. The absolute form
/// (`http://host/path?query`), which RFC 9112 §3.2.2 says a server MUST accept, is reduced to
/// it (this server serves every host alike). Anything else — `*`, an authority — is refused:
/// no proxying.
fn origin_form(target: &str) -> Result<std::borrow::Cow<'_, str>, Error> {
    if target.starts_with('/') {
        return Ok(target.into());
    }
    let scheme_len = ["http://", "https://"]
        .iter()
        .find(|s| target.get(..s.len()).is_some_and(|t| t.eq_ignore_ascii_case(s)))
        .map(|s| s.len())
        .ok_or(Error::BadHead("request target must start with / (or be an absolute http URL)"))?;
    let after_scheme = &target[scheme_len..];
    match after_scheme.find(['/', '?']) {
        Some(i) if after_scheme.as_bytes()[i] == b'/' => Ok(after_scheme[i..].into()),
        // `http://host?q` or `http://host`: an empty path, which means `/`.
        Some(i) => Ok(format!("/{}", &after_scheme[i..]).into()),
        None => Ok("/".into()),
    }
}

/// The path of the request target in a (possibly invalid or incomplete) head, when its request
/// line got that far: lets a failure be answered in the shape of the endpoint that was called.
pub fn peek_path(buf: &[u8]) -> Option<String> {
    let start = buf.iter().position(|b| *b != b'\r' && *b != b'\n')?;
    let line = &buf[start..];
    let line = &line[..line.iter().position(|b| *b == b'\r' || *b == b'\n').unwrap_or(line.len())];
    let mut tokens = line.split(|b| *b == b' ');
    let _method = tokens.next()?;
    let target = tokens.next()?;
    if !target.starts_with(b"/") || target.len() > 8192 {
        return None;
    }
    let path = target.split(|b| *b == b'?').next()?;
    std::str::from_utf8(path).ok().map(str::to_owned)
}

/// 414 when the request line alone does not fit in `max` bytes (RFC 9112 §3: a URI too long),
/// 431 when the header fields are what overflows.
fn too_large(buf: &[u8], max: usize) -> Error {
    if buf.iter().take(max).any(|&b| b == b'\n') {
        Error::HeadTooLarge(max)
    } else {
        Error::UriTooLong(max)
    }
}

/// Whether the request line's third word (up to the line end) is an `HTTP/x.y` token: then a
/// version error is a version the server does not speak (505), otherwise a malformed line.
fn version_token_is_http(buf: &[u8]) -> bool {
    let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(buf.len());
    let mut words = buf[..line_end].split(|&b| b == b' ');
    let third = words.nth(2);
    words.next().is_none() && third.is_some_and(|v| v.len() == 8 && v.starts_with(b"HTTP/") && v[6] == b'.')
}

/// RFC 9110 §8.6: `Content-Length = 1*DIGIT`; no sign, no spaces inside, no list.
fn parse_content_length(value: &[u8]) -> Result<u64, Error> {
    let v = trim_ascii(value);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Error::BadFraming("invalid Content-Length"));
    }
    std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()).ok_or(Error::BadFraming("invalid Content-Length"))
}

fn trim_ascii(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &v[start..end]
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token in request line",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid HTTP version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<(RequestHead, usize)>, Error> {
        parse_head(s.as_bytes(), &HttpLimits::default())
    }

    #[test]
    fn framing_table() {
        let cases: &[(&str, Result<BodyFraming, u16>)] = &[
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", Ok(BodyFraming::Length(5))),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", Ok(BodyFraming::None)),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(BodyFraming::Chunked)),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked \r\n\r\n", Ok(BodyFraming::Chunked)),
            ("GET / HTTP/1.1\r\nHost: h\r\n\r\n", Ok(BodyFraming::None)),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Err(400)),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err(400),
            ),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Err(400)),
            ("GET / HTTP/2.0\r\n\r\n", Err(505)),
            ("GET / HTTP/1.2\r\nHost: h\r\n\r\n", Err(505)),
            ("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", Err(400)),
            ("GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", Err(400)),
            ("GET / FTP/1.1\r\nHost: h\r\n\r\n", Err(400)),
            ("GET /\r\n\r\n", Err(400)),
            ("GET http://x/ HTTP/1.1\r\nHost: h\r\n\r\n", Ok(BodyFraming::None)),
            ("GET / HTTP/1.1\r\n\r\n", Err(400)),
            ("GET / HTTP/1.1\r\nHost: h\r\nHost: a\r\nHost: b\r\n\r\n", Err(400)),
            ("GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n", Err(400)),
            ("GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", Err(400)),
        ];
        for (input, want) in cases {
            let got = parse(input).map(|r| r.expect("complete head").0.framing);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, *w, "{input:?}"),
                (Err(e), Err(code)) => assert_eq!(e.status(), Some(*code), "{input:?}: {e}"),
                (g, w) => panic!("{input:?}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn peek_path_finds_the_target_of_broken_heads() {
        assert_eq!(
            peek_path(b"POST /weidu/api/v1/files?x=1 HTTP/1.1\r\nBad Header\r\n").as_deref(),
            Some("/weidu/api/v1/files")
        );
        assert_eq!(peek_path(b"\r\nGET /a").as_deref(), Some("/a"));
        assert_eq!(peek_path(b"GET"), None);
        assert_eq!(peek_path(b"GET http://x/ HTTP/1.1"), None);
    }

    #[test]
    fn http11_needs_host_and_http10_does_not() {
        let err = parse("GET / HTTP/1.1\r\nX: y\r\n\r\n").unwrap_err();
        assert_eq!(err.status(), Some(400), "{err}");
        assert!(parse("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().is_some());
    }

    #[test]
    fn absolute_form_targets_are_served_as_their_path() {
        for (target, path, query) in [
            ("http://h:1/weidu/api/v1/files?task_id=t", "/weidu/api/v1/files", "task_id=t"),
            ("HTTPS://h/a/b", "/a/b", ""),
            ("http://h", "/", ""),
            ("http://h?x=1", "/", "x=1"),
        ] {
            let head = parse(&format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n")).unwrap().unwrap().0;
            assert_eq!((head.path.as_str(), head.query.as_str()), (path, query), "{target}");
        }
        for target in ["*", "h:80", "ftp://h/a", "http:/h"] {
            let err = parse(&format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n")).unwrap_err();
            assert_eq!(err.status(), Some(400), "{target}: {err}");
        }
    }

    #[test]
    fn partial_head_needs_more() {
        assert!(parse("POST / HTTP/1.1\r\nContent-Le").unwrap().is_none());
    }

    #[test]
    fn head_size_limit_at_n_and_n_plus_1() {
        let base = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
        let limits = HttpLimits { max_head_bytes: 100, ..HttpLimits::default() };
        let fill = 100 - base.len() - 4;
        let exact = format!("{base}{}\r\n\r\n", "a".repeat(fill));
        assert_eq!(exact.len(), 100);
        assert!(parse_head(exact.as_bytes(), &limits).unwrap().is_some());
        let over = format!("{base}{}\r\n\r\n", "a".repeat(fill + 1));
        assert!(matches!(parse_head(over.as_bytes(), &limits), Err(Error::HeadTooLarge(100))));
        // Partial heads beyond the limit are refused without waiting for the rest.
        let partial = format!("{base}{}", "a".repeat(200));
        assert!(matches!(parse_head(partial.as_bytes(), &limits), Err(Error::HeadTooLarge(_))));
        // A request line that alone overflows is a URI too long: 414, complete or not.
        for tail in ["", " HTTP/1.1\r\nHost: h\r\n\r\n"] {
            let long = format!("GET /{}{tail}", "u".repeat(120));
            let err = parse_head(long.as_bytes(), &limits).unwrap_err();
            assert_eq!(err.status(), Some(414), "{err}");
        }
    }

    #[test]
    fn header_count_limit_at_n_and_n_plus_1() {
        let limits = HttpLimits { max_headers: 3, ..HttpLimits::default() };
        let ok = "GET / HTTP/1.1\r\nHost: h\r\nB: 2\r\nC: 3\r\n\r\n";
        assert!(parse_head(ok.as_bytes(), &limits).unwrap().is_some());
        let over = "GET / HTTP/1.1\r\nHost: h\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        let err = parse_head(over.as_bytes(), &limits).unwrap_err();
        assert_eq!(err.status(), Some(431));
    }

    #[test]
    fn keep_alive_and_expect() {
        let (h, _) = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let (h, _) = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap();
        assert!(h.keep_alive);
        let (h, _) = parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let (h, _) =
            parse("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n").unwrap().unwrap();
        assert!(h.expect_continue);
    }

    #[test]
    fn query_and_path_decoding() {
        let (h, len) =
            parse("\r\nGET /files/b/a%20b%2Fc?user_id=u%201&task_id=t HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().unwrap();
        assert_eq!(len, 70);
        assert_eq!(h.decoded_path().unwrap(), "/files/b/a b/c");
        assert_eq!(h.query_param("user_id").unwrap(), "u 1");
        assert_eq!(h.query_param("task_id").unwrap(), "t");
        assert_eq!(h.query_param("nope"), None);
    }
}
