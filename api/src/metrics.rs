//! `/metrics` in Prometheus text: requests by personality and status (prometheus-client), plus
//! the engine's counters (bytes ingested, uploads in flight, fsync latency histogram).

use std::fmt::Write as _;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use sluice_engine::stats::{Stats, FSYNC_BUCKETS};

type Labels = Vec<(&'static str, String)>;

/// Process-wide metrics (shared by all workers).
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        registry.register("sluice_requests", "HTTP requests by personality and status", requests.clone());
        Self { registry, requests }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn count_request(&self, personality: &'static str, status: u16) {
        self.requests
            .get_or_create(&vec![("personality", personality.to_owned()), ("status", status.to_string())])
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self, stats: &Stats) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        // prometheus-client ends with "# EOF" (OpenMetrics); the engine's series go before it.
        if let Some(stripped) = out.strip_suffix("# EOF\n") {
            out = stripped.to_owned();
        }
        let _ = writeln!(out, "# HELP sluice_bytes_ingested Body bytes written to disk by uploads.");
        let _ = writeln!(out, "# TYPE sluice_bytes_ingested counter");
        let _ = writeln!(out, "sluice_bytes_ingested_total {}", stats.bytes_ingested());
        let _ = writeln!(out, "# HELP sluice_uploads_in_flight Uploads being received now.");
        let _ = writeln!(out, "# TYPE sluice_uploads_in_flight gauge");
        let _ = writeln!(out, "sluice_uploads_in_flight {}", stats.uploads_in_flight());
        let h = stats.fsync_histogram();
        let _ = writeln!(out, "# HELP sluice_fsync_seconds Latency of data fsyncs.");
        let _ = writeln!(out, "# TYPE sluice_fsync_seconds histogram");
        for (bound, count) in FSYNC_BUCKETS.iter().zip(&h.cumulative) {
            let _ = writeln!(out, "sluice_fsync_seconds_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "sluice_fsync_seconds_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "sluice_fsync_seconds_sum {}", h.sum_seconds);
        let _ = writeln!(out, "sluice_fsync_seconds_count {}", h.count);
        out.push_str("# EOF\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_and_engine_series() {
        let m = Metrics::default();
        m.count_request("weidu", 201);
        m.count_request("weidu", 201);
        let text = m.render(&Stats::default());
        assert!(text.contains("sluice_requests_total{personality=\"weidu\",status=\"201\"} 2"), "{text}");
        assert!(text.contains("sluice_bytes_ingested_total 0"));
        assert!(text.contains("sluice_fsync_seconds_bucket{le=\"+Inf\"} 0"));
        assert!(text.ends_with("# EOF\n"));
    }
}
