//! Client-side results: request and failure counts plus an HDR latency histogram per thread,
//! merged at the end and summarised as files/s, MB/s (10^6 bytes of payload per second), p50/p99.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Distinct failure messages kept for the report.
const MAX_SAMPLES: usize = 5;

/// Counters of one thread (or of all, once merged).
pub struct Stats {
    /// Latency of successful requests completed inside the timed window, in microseconds.
    pub hist: Histogram<u64>,
    /// Successful requests completed inside the timed window.
    pub ok: u64,
    /// Failed requests completed inside the timed window.
    pub failed_in_window: u64,
    /// All failures, warm-up and drain included.
    pub failures: u64,
    /// Payload bytes of the successful requests of the window.
    pub payload_bytes: u64,
    /// A few failure messages, for diagnosis.
    pub samples: Vec<String>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            // 1 µs .. 1 hour, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            ok: 0,
            failed_in_window: 0,
            failures: 0,
            payload_bytes: 0,
            samples: Vec::new(),
        }
    }

    pub fn record_ok(&mut self, latency: Duration, payload: u64, in_window: bool) {
        if in_window {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
            self.hist.saturating_record(us);
            self.ok += 1;
            self.payload_bytes += payload;
        }
    }

    pub fn record_failure(&mut self, msg: String, in_window: bool) {
        self.failures += 1;
        if in_window {
            self.failed_in_window += 1;
        }
        if self.samples.len() < MAX_SAMPLES && !self.samples.contains(&msg) {
            self.samples.push(msg);
        }
    }

    pub fn merge(&mut self, other: &Stats) {
        self.hist.add(&other.hist).expect("histograms share bounds");
        self.ok += other.ok;
        self.failed_in_window += other.failed_in_window;
        self.failures += other.failures;
        self.payload_bytes += other.payload_bytes;
        for s in &other.samples {
            if self.samples.len() < MAX_SAMPLES && !self.samples.contains(s) {
                self.samples.push(s.clone());
            }
        }
    }

    /// Summary over a timed window of `window` seconds.
    pub fn summary(&self, window: Duration) -> Summary {
        let secs = window.as_secs_f64().max(1e-9);
        let q = |p: f64| {
            if self.hist.is_empty() {
                0.0
            } else {
                self.hist.value_at_quantile(p) as f64 / 1000.0
            }
        };
        Summary {
            requests: self.ok + self.failed_in_window,
            ok: self.ok,
            failures: self.failures,
            seconds: secs,
            payload_bytes: self.payload_bytes,
            files_per_s: self.ok as f64 / secs,
            mb_per_s: self.payload_bytes as f64 / secs / 1e6,
            p50_ms: q(0.50),
            p99_ms: q(0.99),
            max_ms: if self.hist.is_empty() { 0.0 } else { self.hist.max() as f64 / 1000.0 },
            samples: self.samples.clone(),
        }
    }
}

/// What a load run produced, as reported.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Requests completed inside the window (successful + failed).
    pub requests: u64,
    pub ok: u64,
    /// All failures (warm-up and drain included).
    pub failures: u64,
    pub seconds: f64,
    pub payload_bytes: u64,
    pub files_per_s: f64,
    pub mb_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: Vec<String>,
}

impl Summary {
    pub fn to_json(&self) -> Value {
        json!({
            "requests": self.requests,
            "ok": self.ok,
            "failures": self.failures,
            "seconds": self.seconds,
            "payload_bytes": self.payload_bytes,
            "files_per_s": self.files_per_s,
            "mb_per_s": self.mb_per_s,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "failure_samples": self.samples,
        })
    }

    /// Human-readable lines for `run`.
    pub fn print(&self) {
        println!(
            "requests {} (ok {}), failures {}, window {:.2} s",
            self.requests, self.ok, self.failures, self.seconds
        );
        println!(
            "{:.0} files/s, {:.1} MB/s, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.files_per_s, self.mb_per_s, self.p50_ms, self.p99_ms, self.max_ms
        );
        for s in &self.samples {
            println!("  failure: {s}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_summarises() {
        let mut a = Stats::new();
        let mut b = Stats::new();
        for ms in 1..=100u64 {
            a.record_ok(Duration::from_millis(ms), 1_000_000, true);
        }
        b.record_ok(Duration::from_millis(5), 1_000_000, false); // warm-up: not counted
        b.record_failure("status 500".into(), true);
        b.record_failure("status 500".into(), false);
        a.merge(&b);
        let s = a.summary(Duration::from_secs(10));
        assert_eq!(s.ok, 100);
        assert_eq!(s.requests, 101);
        assert_eq!(s.failures, 2);
        assert_eq!(s.samples, vec!["status 500".to_string()]);
        assert!((s.files_per_s - 10.0).abs() < 1e-9);
        assert!((s.mb_per_s - 10.0).abs() < 1e-9);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{}", s.p50_ms);
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{}", s.p99_ms);
    }
}
