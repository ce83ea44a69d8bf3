//! A pure decoder for `Transfer-Encoding: chunked` (RFC 9112 §7.1).
//!
//! It never copies: fed a buffer, it says how many bytes of framing to skip and which range of
//! the buffer is body data, so the caller can split that range off as a `Bytes` without a copy.
//! Strict on purpose: CRLF line endings only, hex sizes of at most 16 digits, bounded chunk
//! lines and trailers — the same bytes must mean the same body to every reader (no smuggling).

use super::error::Error;
use super::limits::{MAX_CHUNK_LINE, MAX_TRAILER_BYTES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size.
    Size { value: u64, digits: u8 },
    /// After the size: optional whitespace and `;ext` until CR.
    Ext,
    /// Expecting LF after the size line's CR.
    SizeLf { value: u64 },
    /// Inside chunk data; this many bytes left.
    Data { left: u64 },
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line, until CR.
    TrailerLine,
    /// Expecting LF after a trailer line's CR; `last` = the line was empty.
    TrailerLf { last: bool },
    /// The body is complete.
    Done,
}

/// What one call to [`ChunkedDecoder::decode`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input consumed by this call (framing and data).
    pub consumed: usize,
    /// `(start, len)` of body data inside the input, if any; `start + len == consumed`.
    pub data: Option<(usize, usize)>,
    /// The terminating chunk and trailers have been read.
    pub done: bool,
}

/// Incremental chunked-body decoder.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// The size read on the current chunk line, kept while extensions are skipped.
    pending_size: u64,
    line_len: usize,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        Self { state: State::Size { value: 0, digits: 0 }, pending_size: 0, line_len: 0, trailer_bytes: 0 }
    }

    /// True once the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input` until it has found body data, reached the end, or used all input.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, Error> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data { left } = self.state {
                let n = (input.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                let left = left - n as u64;
                self.state = if left == 0 { State::DataCr } else { State::Data { left } };
                return Ok(Decoded { consumed: i + n, data: Some((i, n)), done: false });
            }
            if self.state == State::Done {
                break;
            }
            let b = input[i];
            i += 1;
            self.step(b)?;
        }
        Ok(Decoded { consumed: i, data: None, done: self.state == State::Done })
    }

    fn step(&mut self, b: u8) -> Result<(), Error> {
        self.state = match self.state {
            State::Size { value, digits } => {
                self.bump_line()?;
                if let Some(d) = hex_value(b) {
                    if digits >= 16 {
                        return Err(Error::BadChunk("chunk size too large"));
                    }
                    State::Size { value: (value << 4) | u64::from(d), digits: digits + 1 }
                } else if digits == 0 {
                    return Err(Error::BadChunk("missing chunk size"));
                } else if b == b'\r' {
                    self.pending_size = value;
                    State::SizeLf { value }
                } else if b == b';' || b == b' ' || b == b'\t' {
                    self.pending_size = value;
                    State::Ext
                } else {
                    return Err(Error::BadChunk("invalid chunk size"));
                }
            }
            State::Ext => {
                self.bump_line()?;
                match b {
                    b'\r' => State::SizeLf { value: self.pending_size },
                    b'\n' => return Err(Error::BadChunk("bare LF in chunk line")),
                    _ => State::Ext,
                }
            }
            State::SizeLf { value } => {
                if b != b'\n' {
                    return Err(Error::BadChunk("expected LF after chunk size"));
                }
                self.line_len = 0;
                if value == 0 {
                    State::TrailerStart
                } else {
                    State::Data { left: value }
                }
            }
            State::Data { .. } => unreachable!("data is handled in decode"),
            State::DataCr => {
                if b != b'\r' {
                    return Err(Error::BadChunk("chunk data longer than its size"));
                }
                State::DataLf
            }
            State::DataLf => {
                if b != b'\n' {
                    return Err(Error::BadChunk("expected LF after chunk data"));
                }
                State::Size { value: 0, digits: 0 }
            }
            State::TrailerStart => {
                self.bump_trailer()?;
                match b {
                    b'\r' => State::TrailerLf { last: true },
                    b'\n' => return Err(Error::BadChunk("bare LF in trailer")),
                    _ => State::TrailerLine,
                }
            }
            State::TrailerLine => {
                self.bump_trailer()?;
                match b {
                    b'\r' => State::TrailerLf { last: false },
                    b'\n' => return Err(Error::BadChunk("bare LF in trailer")),
                    _ => State::TrailerLine,
                }
            }
            State::TrailerLf { last } => {
                if b != b'\n' {
                    return Err(Error::BadChunk("expected LF in trailer"));
                }
                if last {
                    State::Done
                } else {
                    State::TrailerStart
                }
            }
            State::Done => State::Done,
        };
        Ok(())
    }

    fn bump_line(&mut self) -> Result<(), Error> {
        self.line_len += 1;
        if self.line_len > MAX_CHUNK_LINE {
            return Err(Error::BadChunk("chunk size line too long"));
        }
        Ok(())
    }

    fn bump_trailer(&mut self) -> Result<(), Error> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(Error::BadChunk("trailer section too large"));
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a whole chunked body fed in pieces of the given sizes (cycled); returns the body and
/// how many input bytes it took. Used by tests and the fuzz corpus replay.
pub fn decode_all_split(input: &[u8], splits: &[usize]) -> Result<(Vec<u8>, usize), Error> {
    let mut dec = ChunkedDecoder::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut pending: Vec<u8> = Vec::new();
    let mut split_idx = 0;
    while !dec.is_done() {
        if pending.is_empty() {
            if pos >= input.len() {
                return Err(Error::TruncatedBody);
            }
            let step = splits.get(split_idx % splits.len().max(1)).copied().unwrap_or(usize::MAX);
            split_idx += 1;
            let end = pos.saturating_add(step.max(1)).min(input.len());
            pending.extend_from_slice(&input[pos..end]);
            pos = end;
        }
        let d = dec.decode(&pending)?;
        if let Some((s, l)) = d.data {
            out.extend_from_slice(&pending[s..s + l]);
        }
        pending.drain(..d.consumed);
    }
    Ok((out, pos - pending.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input, and the body it decodes to (or why it must fail).
    type Case = (&'static [u8], Result<&'static [u8], &'static str>);

    #[test]
    fn decodes_table() {
        let cases: &[Case] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", Ok(b"hello")),
            (b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", Ok(b"hello world")),
            (b"A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", Ok(b"0123456789")),
            (b"0\r\n\r\n", Ok(b"")),
            (b"5 \r\nhello\r\n0\r\n\r\n", Ok(b"hello")),
            (b"5\nhello\r\n0\r\n\r\n", Err("bare LF")),
            (b"5\r\nhelloX\r\n0\r\n\r\n", Err("too long data")),
            (b"g\r\n", Err("bad hex")),
            (b"\r\n", Err("missing size")),
            (b"-5\r\n", Err("sign")),
            (b"11111111111111111\r\n", Err("17 digits")),
            (b"5\r\nhello\r\n0\r\n\n", Err("bare LF trailer")),
        ];
        for (input, want) in cases {
            let got = decode_all_split(input, &[usize::MAX]);
            match (got, want) {
                (Ok((body, used)), Ok(w)) => {
                    assert_eq!(&body[..], *w, "{input:?}");
                    assert_eq!(used, input.len());
                }
                (Err(_), Err(_)) => {}
                (g, w) => panic!("{input:?}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn stops_at_end_and_leaves_the_next_request() {
        let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let (body, used) = decode_all_split(input, &[usize::MAX]).unwrap();
        assert_eq!(body, b"abc");
        assert_eq!(&input[used..], b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn every_split_gives_the_same_body() {
        let input = b"4;a=b\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n";
        let (want, _) = decode_all_split(input, &[usize::MAX]).unwrap();
        assert_eq!(want, b"Wikipedia in\r\n\r\nchunks.");
        for a in 1..8 {
            for b in 1..8 {
                let (got, used) = decode_all_split(input, &[a, b]).unwrap();
                assert_eq!(got, want, "splits {a},{b}");
                assert_eq!(used, input.len());
            }
        }
    }

    #[test]
    fn chunk_line_limit() {
        let mut ok = b"1;".to_vec();
        ok.extend(std::iter::repeat_n(b'x', MAX_CHUNK_LINE - 3));
        ok.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
        assert!(decode_all_split(&ok, &[usize::MAX]).is_ok());
        let mut over = b"1;".to_vec();
        over.extend(std::iter::repeat_n(b'x', MAX_CHUNK_LINE - 1));
        over.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
        assert!(decode_all_split(&over, &[usize::MAX]).is_err());
    }
}
