//! An in-memory entry point to the multipart parser, for tests, fuzzing and corpus replay.
//!
//! It runs the very same [`Parts`] (same multer set-up, same part-count and size limits, same
//! [`Error`]) over a body that is already in memory, delivered in chunks of chosen sizes, so a
//! test can ask: do these bytes give the same parts however the network happens to cut them?
//!
//! The chunks are delivered the way the server's body stream delivers them (see
//! `body_stream.rs`): one chunk, then `Pending` (after waking itself), then the next. multer
//! drains its input stream until it sees `Pending`, so a plain `futures::stream::iter` would be
//! swallowed whole on the first poll and every split would parse exactly like the unsplit body —
//! the pacing is what makes a split reach the parser as a split.
//! Nothing here touches the network or the disk; it runs on `futures::executor::block_on`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

use super::{Error, MultipartLimits, Parts};

/// One part of a body parsed in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPart {
    /// The form field name (empty when absent).
    pub name: String,
    /// The file name, if the part had one.
    pub file_name: Option<String>,
    /// The part's Content-Type, if any.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub data: Vec<u8>,
}

/// A coarse, stable name for a multipart error, for comparing outcomes without their messages
/// (multer's messages depend on where in its state machine a failure was seen).
pub fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::NoBoundary => "no-boundary",
        Error::Body(_) => "body",
        Error::Malformed(_) => "malformed",
        Error::TooManyParts(_) => "too-many-parts",
        Error::PartTooLarge { .. } => "part-too-large",
        Error::HeadTooLarge(_) => "head-too-large",
    }
}

/// Parses a multipart body delivered as `chunks`, with `boundary` (without the leading `--`)
/// and the limits of [`Parts`]. Every part is gathered in memory.
pub fn parse_chunks(chunks: Vec<Bytes>, boundary: &str, limits: MultipartLimits) -> Result<Vec<ParsedPart>, Error> {
    let stream = Paced { chunks: chunks.into(), yield_next: false };
    let mut parts = Parts::over(stream, boundary.to_owned(), limits);
    futures::executor::block_on(async move {
        let mut out = Vec::new();
        while let Some(mut part) = parts.next_part().await? {
            let mut data = Vec::new();
            while let Some(b) = part.chunk().await? {
                data.extend_from_slice(&b);
            }
            out.push(ParsedPart {
                name: part.name().to_owned(),
                file_name: part.file_name().map(str::to_owned),
                content_type: part.content_type().map(str::to_owned),
                data,
            });
        }
        Ok(out)
    })
}

/// Parses `body` cut into pieces of the sizes in `splits`, cycled (a size of 0 counts as 1; no
/// sizes at all = one piece).
pub fn parse_split(
    body: &[u8],
    splits: &[usize],
    boundary: &str,
    limits: MultipartLimits,
) -> Result<Vec<ParsedPart>, Error> {
    parse_chunks(cut(body, splits), boundary, limits)
}

/// `body` cut into pieces of the sizes in `splits`, cycled.
fn cut(body: &[u8], splits: &[usize]) -> Vec<Bytes> {
    if splits.is_empty() {
        return vec![Bytes::copy_from_slice(body)];
    }
    let mut out = Vec::new();
    let mut pos = 0;
    for &size in splits.iter().cycle() {
        if pos >= body.len() {
            break;
        }
        let end = pos.saturating_add(size.max(1)).min(body.len());
        out.push(Bytes::copy_from_slice(&body[pos..end]));
        pos = end;
    }
    out
}

/// Yields its chunks one at a time with a `Pending` (self-woken) between two chunks, like the
/// server's body stream.
struct Paced {
    chunks: VecDeque<Bytes>,
    yield_next: bool,
}

impl Stream for Paced {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.yield_next {
            self.yield_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match self.chunks.pop_front() {
            Some(b) => {
                self.yield_next = true;
                Poll::Ready(Some(Ok(b)))
            }
            None => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "XyZzY";

    fn body() -> Vec<u8> {
        concat!(
            "preamble\r\n",
            "--XyZzY\r\n",
            "Content-Disposition: form-data; name=\"note\"\r\n",
            "\r\n",
            "hello\r\n--Xy not a boundary\r\n",
            "--XyZzY\r\n",
            "Content-Disposition: form-data; name=\"files\"; filename=\"a.bin\"\r\n",
            "Content-Type: application/octet-stream\r\n",
            "\r\n",
            "\r\n--XyZz\r\r\n\x00\x01binary\r\n",
            "--XyZzY\r\n",
            "Content-Disposition: form-data; name=\"files\"; filename=\"empty.txt\"\r\n",
            "\r\n",
            "\r\n",
            "--XyZzY--\r\n",
            "epilogue"
        )
        .as_bytes()
        .to_vec()
    }

    fn kind<T>(r: &Result<T, Error>) -> Option<&'static str> {
        r.as_ref().err().map(error_kind)
    }

    #[test]
    fn parses_a_normal_body() {
        let parts = parse_split(&body(), &[], B, MultipartLimits::default()).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, "note");
        assert_eq!(parts[0].file_name, None);
        assert_eq!(parts[0].content_type, None);
        assert_eq!(parts[0].data, b"hello\r\n--Xy not a boundary");
        assert_eq!(parts[1].name, "files");
        assert_eq!(parts[1].file_name.as_deref(), Some("a.bin"));
        assert_eq!(parts[1].content_type.as_deref(), Some("application/octet-stream"));
        assert_eq!(parts[1].data, b"\r\n--XyZz\r\r\n\x00\x01binary");
        assert_eq!(parts[2].file_name.as_deref(), Some("empty.txt"));
        assert!(parts[2].data.is_empty());
    }

    #[test]
    fn every_split_size_gives_the_same_parts() {
        let body = body();
        let whole = parse_split(&body, &[], B, MultipartLimits::default()).unwrap();
        for size in 1..=16 {
            let got = parse_split(&body, &[size], B, MultipartLimits::default()).unwrap();
            assert_eq!(got, whole, "split size {size}");
        }
        for splits in [&[1, 7, 2][..], &[13, 1], &[3, 5, 8, 1, 1]] {
            assert_eq!(parse_split(&body, splits, B, MultipartLimits::default()).unwrap(), whole, "{splits:?}");
        }
    }

    #[test]
    fn preambles_part_headers_and_epilogues_are_bounded_but_part_data_is_not() {
        use crate::multipart::MAX_UNPARSED_BYTES as MAX;
        let part = |headers: &str, data: &[u8]| {
            let mut v =
                format!("--{B}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a\"\r\n{headers}\r\n")
                    .into_bytes();
            v.extend_from_slice(data);
            v.extend_from_slice(format!("\r\n--{B}--\r\n").as_bytes());
            v
        };
        let preamble = |n: usize, rest: Vec<u8>| [vec![b'p'; n], b"\r\n".to_vec(), rest].concat();
        let long_header = |n: usize| format!("X-Long: {}\r\n", "h".repeat(n));
        let ok = |body: &[u8], what: &str| {
            for splits in [&[][..], &[4096], &[1000, 7]] {
                let parts = parse_split(body, splits, B, MultipartLimits::default());
                assert!(parts.is_ok(), "{what} in {splits:?}: {:?}", kind(&parts));
            }
        };
        let refused = |body: &[u8], what: &str| {
            for splits in [&[4096][..], &[1000, 7]] {
                let parts = parse_split(body, splits, B, MultipartLimits::default());
                assert_eq!(kind(&parts), Some("head-too-large"), "{what} in {splits:?}");
            }
        };
        let below = MAX as usize - 4096;
        ok(&preamble(below, part("", b"x")), "a preamble under the limit");
        ok(&part(&long_header(below), b"x"), "a header block under the limit");
        // Data is handed out as it arrives, so its size is only the file limit's business.
        ok(&part("", &vec![b'd'; 20 * MAX as usize]), "a large part");
        refused(&preamble(3 * MAX as usize, part("", b"x")), "a preamble over the limit");
        refused(&part(&long_header(3 * MAX as usize), b"x"), "a header block over the limit");
        // Many short header lines count as one block.
        refused(&part(&"X-A: b\r\n".repeat(3 * MAX as usize / 8), b"x"), "many header lines");
        // What follows the closing boundary is read to the end (the body must be complete
        // before the last part is reported), within the same bound.
        ok(&[part("", b"x"), vec![b'e'; below]].concat(), "an epilogue under the limit");
        for splits in [&[4096][..], &[1000, 7]] {
            let body = [part("", b"x"), vec![b'e'; 3 * MAX as usize]].concat();
            let parts = parse_split(&body, splits, B, MultipartLimits::default());
            assert_eq!(kind(&parts), Some("malformed"), "an epilogue over the limit in {splits:?}");
        }
    }

    #[test]
    fn a_control_character_in_a_quoted_file_name_is_said_to_be_the_likely_cause() {
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"bad\x07.txt\"\r\n\r\nx\r\n--{B}--\r\n"
        );
        let err = parse_split(body.as_bytes(), &[], B, MultipartLimits::default()).unwrap_err();
        assert!(err.to_string().contains("control character in a file name"), "{err}");
    }

    #[test]
    fn chunks_are_delivered_as_given() {
        let body = body();
        let chunks: Vec<Bytes> = body.chunks(5).map(Bytes::copy_from_slice).collect();
        let with_empty: Vec<Bytes> = chunks.iter().flat_map(|c| [Bytes::new(), c.clone()]).collect();
        let whole = parse_split(&body, &[], B, MultipartLimits::default()).unwrap();
        assert_eq!(parse_chunks(chunks, B, MultipartLimits::default()).unwrap(), whole);
        assert_eq!(parse_chunks(with_empty, B, MultipartLimits::default()).unwrap(), whole);
    }

    #[test]
    fn malformed_bodies_err_the_same_way_under_splits() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "malformed"),
            (b"no boundary at all\r\n", "malformed"),
            (b"--XyZzY\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated", "malformed"),
            (b"--XyZzY\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZzY", "malformed"),
            (b"--XyZzYjunk\r\n\r\n", "malformed"),
            (b"--XyZzY\r\nBad Header\r\n\r\nx\r\n--XyZzY--\r\n", "malformed"),
            (b"--XyZzY\r\nContent-Disposition: form-data; name=\"a\"\r\n", "malformed"),
        ];
        for (input, want) in cases {
            let whole = parse_split(input, &[], B, MultipartLimits::default());
            assert_eq!(kind(&whole), Some(*want), "{:?}: {whole:?}", String::from_utf8_lossy(input));
            for size in 1..=16 {
                let got = parse_split(input, &[size], B, MultipartLimits::default());
                assert_eq!(kind(&got), Some(*want), "{:?} split {size}: {got:?}", String::from_utf8_lossy(input));
            }
        }
    }

    #[test]
    fn limits_apply_at_n_and_n_plus_1() {
        let part = |name: &str, file: Option<&str>, data: &str| {
            let fname = file.map(|f| format!("; filename=\"{f}\"")).unwrap_or_default();
            format!("--XyZzY\r\nContent-Disposition: form-data; name=\"{name}\"{fname}\r\n\r\n{data}\r\n")
        };
        let three = format!("{}{}{}--XyZzY--\r\n", part("a", None, "1"), part("b", None, "2"), part("c", None, "3"));
        let limits =
            |max_parts, max_field_bytes, max_file_bytes| MultipartLimits { max_parts, max_field_bytes, max_file_bytes };
        for size in [0, 1, 3, 16] {
            let splits = [size];
            let splits = if size == 0 { &[][..] } else { &splits[..] };
            let ok = parse_split(three.as_bytes(), splits, B, limits(3, 10, 10)).unwrap();
            assert_eq!(ok.len(), 3);
            let over = parse_split(three.as_bytes(), splits, B, limits(2, 10, 10));
            assert!(matches!(over, Err(Error::TooManyParts(2))), "{over:?}");

            let field = format!("{}--XyZzY--\r\n", part("t", None, "0123456789"));
            assert_eq!(parse_split(field.as_bytes(), splits, B, limits(9, 10, 0)).unwrap()[0].data, b"0123456789");
            let over = parse_split(field.as_bytes(), splits, B, limits(9, 9, 1000));
            assert!(matches!(&over, Err(Error::PartTooLarge { name, limit: 9 }) if name == "t"), "{over:?}");

            let file = format!("{}--XyZzY--\r\n", part("f", Some("x.bin"), "0123456789"));
            assert_eq!(parse_split(file.as_bytes(), splits, B, limits(9, 0, 10)).unwrap()[0].data, b"0123456789");
            let over = parse_split(file.as_bytes(), splits, B, limits(9, 1000, 9));
            assert!(matches!(&over, Err(Error::PartTooLarge { name, limit: 9 }) if name == "f"), "{over:?}");
        }
    }
}
