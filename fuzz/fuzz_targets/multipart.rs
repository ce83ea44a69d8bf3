//! Fuzz target `multipart`: `sluice_engine::multipart::in_memory::parse_split`. Input: a whole multipart body
//! with boundary `XyZzY`. Whole, byte by byte, in 7-byte pieces and in pieces derived from the
//! input, it must give the same parts or the same kind of error (default and small limits).
//!
//! The check itself is `checks::check_multipart` in fuzz/checks.rs, pasted here with `include!` and
//! into tests/tests/fuzz_corpus.rs, which replays fuzz/corpus/multipart/ through it as a plain test.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

fuzz_target!(|data: &[u8]| checks::check_multipart(data));
