//! The hashing floor: single-thread CPU-seconds per GB (10^9 bytes) of SHA-1, BLAKE3 and both
//! over the same 256 KiB windows, as the server does, so that "server CPU-seconds per GB ≤ 1.5 ×
//! the SHA-1 + BLAKE3 cost" can be judged on the same box.

use std::hint::black_box;
use std::time::Instant;

use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::payload::random_body;

/// Bytes hashed per update call.
const WINDOW: usize = 256 * 1024;
/// Size of the random buffer cycled through (larger than the caches, small enough to allocate).
const BUFFER: usize = 64 << 20;

#[derive(Clone, Copy, Debug)]
pub struct HashCost {
    pub bytes: u64,
    pub sha1_s_per_gb: f64,
    pub blake3_s_per_gb: f64,
    pub both_s_per_gb: f64,
}

/// This thread's CPU time in seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU-seconds per 10^9 bytes of running `f` over `total` bytes of `data` in windows.
fn per_gb(data: &[u8], total: u64, mut f: impl FnMut(&[u8])) -> f64 {
    let wall = Instant::now();
    let cpu0 = thread_cpu();
    let mut done = 0u64;
    'outer: loop {
        for w in data.chunks(WINDOW) {
            if done >= total {
                break 'outer;
            }
            f(w);
            done += w.len() as u64;
        }
    }
    let mut secs = thread_cpu() - cpu0;
    if secs <= 0.0 {
        secs = wall.elapsed().as_secs_f64();
    }
    secs / (done as f64 / 1e9)
}

/// Hashes `total` bytes three times: SHA-1 alone, BLAKE3 alone, both per window.
pub fn measure(total: u64) -> HashCost {
    let total = total.max(WINDOW as u64);
    let data = random_body(BUFFER.min(total as usize), 42);
    let mut sha = Sha1::new();
    let sha1_s_per_gb = per_gb(&data, total, |w| sha.update(w));
    black_box(sha.finalize());
    let mut b3 = blake3::Hasher::new();
    let blake3_s_per_gb = per_gb(&data, total, |w| {
        b3.update(w);
    });
    black_box(b3.finalize());
    let (mut sha, mut b3) = (Sha1::new(), blake3::Hasher::new());
    let both_s_per_gb = per_gb(&data, total, |w| {
        sha.update(w);
        b3.update(w);
    });
    black_box((sha.finalize(), b3.finalize()));
    HashCost { bytes: total, sha1_s_per_gb, blake3_s_per_gb, both_s_per_gb }
}

impl HashCost {
    pub fn print(&self) {
        let gbps = |s: f64| if s > 0.0 { 1.0 / s } else { 0.0 };
        println!("hash cost over {:.2} GB, one thread (CPU-seconds per GB = 10^9 bytes):", self.bytes as f64 / 1e9);
        println!("  SHA-1          {:.3} s/GB  ({:.2} GB/s)", self.sha1_s_per_gb, gbps(self.sha1_s_per_gb));
        println!("  BLAKE3         {:.3} s/GB  ({:.2} GB/s)", self.blake3_s_per_gb, gbps(self.blake3_s_per_gb));
        println!("  SHA-1 + BLAKE3 {:.3} s/GB  ({:.2} GB/s)", self.both_s_per_gb, gbps(self.both_s_per_gb));
        println!("  target: server CPU-s/GB <= 1.5 x {:.3} = {:.3}", self.both_s_per_gb, self.budget());
    }

    /// The server's CPU budget per GB: 1.5 × the SHA-1 + BLAKE3 cost.
    pub fn budget(&self) -> f64 {
        1.5 * self.both_s_per_gb
    }

    pub fn to_json(self) -> Value {
        json!({
            "bytes": self.bytes,
            "sha1_s_per_gb": self.sha1_s_per_gb,
            "blake3_s_per_gb": self.blake3_s_per_gb,
            "both_s_per_gb": self.both_s_per_gb,
            "budget_s_per_gb": self.budget(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_measurement_is_positive() {
        let c = measure(4 << 20);
        assert!(c.sha1_s_per_gb > 0.0 && c.blake3_s_per_gb > 0.0 && c.both_s_per_gb > 0.0);
    }
}
