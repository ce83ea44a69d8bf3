// The properties the fuzz targets assert, in one place.
//
// This file is not a module of any crate on its own: it is pasted with `include!` into
//   - each fuzz target, fuzz/fuzz_targets/<target>.rs (`include!("../checks.rs")`), and
//   - tests/tests/fuzz_corpus.rs (`include!("../../fuzz/checks.rs")`), which replays every file
//     of fuzz/corpus/<target>/ through the same function as an ordinary test,
// each time inside a `mod checks { ... }`. So: items only, no inner attributes or `//!` comments,
// and only `std` and `sluice_engine` paths (the two crates both includers have).
//
// A check returns normally when the property holds and panics (the fuzzer's "crash") when not.

/// The multipart boundary of the `multipart` target: its inputs (and corpus files) are whole
/// bodies that use `--XyZzY` delimiters.
pub const MULTIPART_BOUNDARY: &str = "XyZzY";

/// Largest input the checks look at (the fuzzer's `-max_len` is usually smaller).
pub const MAX_INPUT: usize = 64 * 1024;

/// `http_head`: `parse_head` on arbitrary bytes with the default limits never panics; a complete
/// head is one whose length fits the input, parses to the same head from exactly its own bytes,
/// is not complete (nor refused) on any shorter prefix — the server re-parses its buffer after
/// every read, so any cut of the bytes must lead to the same head — and frames its body in one
/// unambiguous way.
pub fn check_http_head(data: &[u8]) {
    use sluice_engine::http::parse::parse_head;
    use sluice_engine::http::{BodyFraming, HttpLimits};

    if data.len() > MAX_INPUT {
        return;
    }
    let limits = HttpLimits::default();
    let Ok(Some((head, len))) = parse_head(data, &limits) else {
        return;
    };
    assert!(len <= data.len(), "head length {len} beyond the input ({} bytes)", data.len());
    assert!(len <= limits.max_head_bytes, "head length {len} beyond the limit");

    match parse_head(&data[..len], &limits) {
        Ok(Some((again, len2))) => {
            assert_eq!(len2, len, "re-parsing the head's own bytes gave another length");
            assert_eq!(format!("{again:?}"), format!("{head:?}"), "re-parsing the head's own bytes gave another head");
        }
        other => panic!("the head's own {len} bytes do not parse as a complete head: {other:?}"),
    }

    // Every prefix is still "need more bytes" (all of them for short heads, a sample otherwise).
    let step = if len <= 2048 { 1 } else { len / 512 };
    let mut cuts: Vec<usize> = (0..len).step_by(step).collect();
    cuts.extend(len.saturating_sub(4)..len);
    for cut in cuts {
        match parse_head(&data[..cut], &limits) {
            Ok(None) => {}
            other => panic!("the {cut}-byte prefix of a {len}-byte head gave {other:?}, not Ok(None)"),
        }
    }

    // One framing, and it agrees with the headers that were kept.
    let count = |name: &str| head.headers.iter().filter(|(n, _)| n == name).count();
    let (cl, te) = (count("content-length"), count("transfer-encoding"));
    assert!(cl <= 1 && te <= 1 && cl + te <= 1, "accepted a head with {cl} Content-Length and {te} Transfer-Encoding");
    match head.framing {
        BodyFraming::Chunked => assert!(te == 1 && head.version_minor == 1, "chunked framing without TE or in 1.0"),
        BodyFraming::Length(n) => {
            assert!(cl == 1 && n > 0, "Length({n}) framing with {cl} Content-Length headers");
            let value = head.header("content-length").expect("Content-Length is ASCII digits");
            assert_eq!(value.trim().parse::<u64>().ok(), Some(n), "Length({n}) from {value:?}");
        }
        BodyFraming::None => assert!(te == 0, "a Transfer-Encoding header but no body framing"),
    }
    assert!(head.path.starts_with('/'), "accepted a target that is not origin-form: {:?}", head.path);
    assert!(!head.expect_continue || head.framing != BodyFraming::None, "100-continue without a body");
}

/// How the `chunked` target reads its input: byte 0 (mod 8) is a count n, the next n bytes are
/// piece sizes (0 counts as 1), the rest is the chunked body. Returns (sizes, body).
pub fn chunked_input(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return (Vec::new(), data);
    };
    let n = usize::from(first % 8).min(rest.len());
    let (sizes, body) = rest.split_at(n);
    (sizes.iter().map(|&s| usize::from(s)).collect(), body)
}

/// `chunked`: `decode_all_split` gives the same outcome — the same body and the same number of
/// bytes consumed, or the same error — whether the body arrives whole, in the input's piece
/// sizes, or a byte at a time; and a decoded body ends exactly where it says it does (re-decoding
/// just the consumed bytes gives the same body: what follows cannot change where it ends).
pub fn check_chunked(data: &[u8]) {
    use sluice_engine::http::chunked::decode_all_split;

    if data.len() > MAX_INPUT {
        return;
    }
    let (splits, body) = chunked_input(data);
    let outcome = |splits: &[usize]| match decode_all_split(body, splits) {
        Ok((decoded, consumed)) => Ok((decoded, consumed)),
        Err(e) => Err(e.to_string()),
    };
    let whole = outcome(&[]);
    for s in [&splits[..], &[1]] {
        let got = outcome(s);
        assert_eq!(got, whole, "pieces {s:?} of the body {body:?} changed the outcome");
    }
    if let Ok((decoded, consumed)) = &whole {
        assert!(*consumed <= body.len(), "consumed {consumed} of {} bytes", body.len());
        assert!(decoded.len() < *consumed, "{} body bytes from {consumed} bytes of framing+data", decoded.len());
        let again = decode_all_split(&body[..*consumed], &[]).map_err(|e| e.to_string());
        assert_eq!(again, Ok((decoded.clone(), *consumed)), "the body's own bytes decode differently");
    }
}

/// Piece sizes for the `multipart` target derived from the input itself (FNV-1a of the bytes):
/// four sizes in 1..=64, so different inputs are cut differently but every run cuts alike.
pub fn multipart_splits(data: &[u8]) -> Vec<usize> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (0..4).map(|i| ((h >> (i * 16)) % 64 + 1) as usize).collect()
}

/// `multipart`: the bytes, as a multipart body with boundary [`MULTIPART_BOUNDARY`], give the
/// same parts (names, file names, content types, bytes) or the same kind of error whether they
/// arrive whole, a byte at a time, or cut at sizes derived from the input — under the default
/// limits and under small ones (so the part-count and size limits are exercised too).
///
/// One tolerated difference, under the small limits only: a body that ends inside a part (no
/// closing delimiter) whose bytes exceed the part's limit is refused as too large when its data
/// arrives in pieces, but as malformed when the end of the stream is seen together with the
/// data (multer then reports the missing delimiter without handing out the buffered bytes, so
/// the size limit is never reached). Both refuse the body; only the kind differs (413 vs 400).
/// Reproducer: corpus/multipart/truncated_mid_data.
pub fn check_multipart(data: &[u8]) {
    use sluice_engine::multipart::in_memory::{error_kind, parse_split};
    use sluice_engine::multipart::MultipartLimits;

    if data.len() > MAX_INPUT {
        return;
    }
    let small = MultipartLimits { max_parts: 3, max_field_bytes: 16, max_file_bytes: 64 };
    let derived = multipart_splits(data);
    for (limits, merge_truncated) in [(MultipartLimits::default(), false), (small, true)] {
        let outcome = |splits: &[usize]| {
            parse_split(data, splits, MULTIPART_BOUNDARY, limits.clone()).map_err(|e| match error_kind(&e) {
                "part-too-large" | "malformed" if merge_truncated => "part-too-large or malformed",
                kind => kind,
            })
        };
        let whole = outcome(&[]);
        for s in [&[1][..], &[7], &derived[..]] {
            let got = outcome(s);
            assert_eq!(got, whole, "pieces {s:?} changed the outcome under {limits:?}");
        }
    }
}
