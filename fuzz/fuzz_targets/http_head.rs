//! Fuzz target `http_head`: `sluice_engine::http::parse::parse_head` on arbitrary bytes, default limits: never
//! panics; a complete head re-parses to the same head from exactly its own bytes, is still
//! incomplete on every shorter prefix, and frames its body one unambiguous way.
//!
//! The check itself is `checks::check_http_head` in fuzz/checks.rs, pasted here with `include!` and
//! into tests/tests/fuzz_corpus.rs, which replays fuzz/corpus/http_head/ through it as a plain test.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

fuzz_target!(|data: &[u8]| checks::check_http_head(data));
