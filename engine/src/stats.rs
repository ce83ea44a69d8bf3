//! Engine counters the ops endpoint renders: bytes ingested, uploads in flight, fsync latency.
//! Plain atomics shared by all workers; the API layer turns them into Prometheus text.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the fsync latency histogram buckets.
pub const FSYNC_BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Shared engine counters.
#[derive(Debug, Default)]
pub struct Stats {
    bytes_ingested: AtomicU64,
    uploads_in_flight: AtomicI64,
    fsync_buckets: [AtomicU64; FSYNC_BUCKETS.len()],
    fsync_count: AtomicU64,
    fsync_sum_nanos: AtomicU64,
}

/// A snapshot of the fsync histogram.
#[derive(Debug, Clone)]
pub struct FsyncHistogram {
    /// Cumulative counts per bucket of [`FSYNC_BUCKETS`].
    pub cumulative: Vec<u64>,
    /// All observations.
    pub count: u64,
    /// Sum of observed seconds.
    pub sum_seconds: f64,
}

impl Stats {
    pub(crate) fn add_bytes_ingested(&self, n: u64) {
        self.bytes_ingested.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn observe_fsync(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = FSYNC_BUCKETS.iter().position(|b| s <= *b) {
            self.fsync_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.fsync_count.fetch_add(1, Ordering::Relaxed);
        self.fsync_sum_nanos.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Marks an upload as started; the guard marks it finished when dropped.
    pub fn upload_started(self: &std::sync::Arc<Self>) -> UploadGuard {
        self.uploads_in_flight.fetch_add(1, Ordering::Relaxed);
        UploadGuard(self.clone())
    }

    /// Total body bytes written to disk by ingest.
    pub fn bytes_ingested(&self) -> u64 {
        self.bytes_ingested.load(Ordering::Relaxed)
    }

    /// Uploads currently being received.
    pub fn uploads_in_flight(&self) -> i64 {
        self.uploads_in_flight.load(Ordering::Relaxed)
    }

    /// The fsync latency histogram.
    pub fn fsync_histogram(&self) -> FsyncHistogram {
        let mut acc = 0;
        let cumulative = self
            .fsync_buckets
            .iter()
            .map(|b| {
                acc += b.load(Ordering::Relaxed);
                acc
            })
            .collect();
        FsyncHistogram {
            cumulative,
            count: self.fsync_count.load(Ordering::Relaxed),
            sum_seconds: self.fsync_sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// Counts one upload in flight while alive.
pub struct UploadGuard(std::sync::Arc<Stats>);

impl Drop for UploadGuard {
    fn drop(&mut self) {
        self.0.uploads_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
