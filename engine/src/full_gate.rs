//! `FullGate`: while the store is out of space, new bytes are refused before they are written.
//!
//! Why: the bytes of an upload are published (appended to a pack, or renamed into `blobs/`)
//! before its records are committed, so an upload refused at its commit leaves its published
//! bytes behind unreferenced — and nothing reclaims them yet. Clients retry a `507`; each retry
//! used to publish its bytes again, so a disk that had been given space back filled up again
//! with the retries' orphans before RocksDB (which resumes by itself once it sees free space)
//! could resume, and the server never recovered (the e2e disk-full test showed it for pack
//! appends). With the gate, the first `Full` error closes it; while closed, publishing new bytes
//! fails at once with `Full`, except for one *probe* per [`PROBE_INTERVAL`], whose outcome
//! opens the gate again or keeps it closed. Deduplicated uploads write no bytes and always go
//! through.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// While the gate is closed, one upload this often is let through to find out whether space is
/// back; the others are refused without writing.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Open or closed, and when the last probe went through (shared by all workers).
#[derive(Debug)]
pub(crate) struct FullGate {
    closed: AtomicBool,
    /// Milliseconds since `epoch` when the last probe was let through.
    last_probe_ms: AtomicU64,
    epoch: Instant,
    interval: Duration,
}

impl Default for FullGate {
    fn default() -> Self {
        Self::with_interval(PROBE_INTERVAL)
    }
}

impl FullGate {
    pub(crate) fn with_interval(interval: Duration) -> Self {
        Self { closed: AtomicBool::new(false), last_probe_ms: AtomicU64::new(0), epoch: Instant::now(), interval }
    }

    /// Whether new bytes may be written now: always while open; while closed, to one caller per
    /// interval (the probe).
    pub(crate) fn admit(&self) -> bool {
        if !self.closed.load(Ordering::Acquire) {
            return true;
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = self.last_probe_ms.load(Ordering::Acquire);
        now.saturating_sub(last) >= self.interval.as_millis() as u64
            && self.last_probe_ms.compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The store reported it is full.
    pub(crate) fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            // The probe interval starts now: the write that just failed was the first probe.
            self.last_probe_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Release);
            tracing::warn!("storage full: new uploads are refused until space is back");
        }
    }

    /// A write went through.
    pub(crate) fn open(&self) {
        if self.closed.swap(false, Ordering::AcqRel) {
            tracing::info!("storage has room again: uploads are taken");
        }
    }

    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_gate_admits_one_probe_per_interval_and_a_success_opens_it() {
        let gate = FullGate::with_interval(Duration::from_millis(200));
        assert!(gate.admit() && gate.admit(), "open: everyone");
        gate.close();
        assert!(!gate.admit(), "just closed: the failure was the probe");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gate.admit() {
            assert!(Instant::now() < deadline, "no probe admitted within 5 s");
            std::hint::spin_loop();
        }
        assert!(!gate.admit(), "one probe per interval");
        gate.open();
        assert!(gate.admit() && gate.admit() && !gate.is_closed());
    }

    #[test]
    fn concurrent_callers_get_exactly_one_probe() {
        let gate = FullGate {
            epoch: Instant::now() - Duration::from_secs(60),
            ..FullGate::with_interval(Duration::from_secs(10))
        };
        gate.close();
        // Pretend the last probe was long ago: the next caller, and only it, probes.
        gate.last_probe_ms.store(0, Ordering::Release);
        let admitted: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8).map(|_| s.spawn(|| gate.admit() as usize)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 1);
    }
}
