//! Fuzz target `chunked`: `sluice_engine::http::chunked::decode_all_split`. Input: byte 0 (mod 8) = n, the
//! next n bytes = piece sizes, the rest = the chunked body. Whole, in those pieces and byte by
//! byte, it must give the same body and consumed count, or the same error.
//!
//! The check itself is `checks::check_chunked` in fuzz/checks.rs, pasted here with `include!` and
//! into tests/tests/fuzz_corpus.rs, which replays fuzz/corpus/chunked/ through it as a plain test.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

fuzz_target!(|data: &[u8]| checks::check_chunked(data));
