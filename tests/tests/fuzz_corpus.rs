//! Replays the fuzz corpora (fuzz/corpus/<target>/) as ordinary tests, so CI checks every seed
//! and every input the fuzzer kept without a nightly toolchain or cargo-fuzz.
//!
//! The checks are not copied: fuzz/checks.rs is pasted here with `include!` (and into each fuzz
//! target, fuzz/fuzz_targets/<target>.rs), so a corpus file passes here exactly when it passes
//! under the fuzzer. One test per target; each asserts its corpus is not empty.

use std::path::{Path, PathBuf};

#[allow(dead_code)]
mod checks {
    include!("../../fuzz/checks.rs");
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target)
}

/// Runs `check` on every file of the target's corpus; reports every failing file by name.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty: nothing would be checked", dir.display());

    // Every file is checked; the failures are gathered and reported together.
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} corpus files failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn http_head_corpus() {
    replay("http_head", checks::check_http_head);
}

#[test]
fn chunked_corpus() {
    replay("chunked", checks::check_chunked);
}

#[test]
fn multipart_corpus() {
    replay("multipart", checks::check_multipart);
}
