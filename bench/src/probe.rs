//! The server meter: an [`Observer`] that samples a server's process tree at the edges of the
//! timed window (CPU) and during it (RSS), and turns that into CPU-seconds per GB and peak RSS.

use serde_json::{json, Value};

use crate::load::Observer;
use crate::procfs::{clock_ticks_per_sec, sample_tree, Sample};

/// Samples the process tree rooted at `pid`.
pub struct Probe {
    pid: i32,
    before: Option<Sample>,
    after: Option<Sample>,
    max_rss: u64,
}

/// What the probe measured over the window.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerUsage {
    /// Server CPU-seconds (user + system, all threads and child processes) in the window.
    pub cpu_s: f64,
    /// `cpu_s` per 10^9 payload bytes ingested in the window.
    pub cpu_s_per_gb: f64,
    /// Peak resident set: the larger of the summed VmHWM at the end and the largest summed VmRSS
    /// seen while sampling.
    pub peak_rss: u64,
    pub rss_start: u64,
    pub rss_end: u64,
}

impl Probe {
    pub fn new(pid: i32) -> Self {
        Probe { pid, before: None, after: None, max_rss: 0 }
    }

    fn sample(&mut self) -> Sample {
        let s = sample_tree(self.pid);
        self.max_rss = self.max_rss.max(s.rss);
        s
    }

    /// Usage over the window, given the payload bytes delivered in it.
    pub fn usage(&self, payload_bytes: u64) -> ServerUsage {
        let (Some(b), Some(a)) = (self.before, self.after) else {
            return ServerUsage::default();
        };
        let cpu_s = a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / clock_ticks_per_sec();
        let gb = payload_bytes as f64 / 1e9;
        ServerUsage {
            cpu_s,
            cpu_s_per_gb: if gb > 0.0 { cpu_s / gb } else { 0.0 },
            peak_rss: a.hwm.max(self.max_rss),
            rss_start: b.rss,
            rss_end: a.rss,
        }
    }
}

impl Observer for Probe {
    fn window_start(&mut self) {
        self.before = Some(self.sample());
    }
    fn tick(&mut self) {
        self.sample();
    }
    fn window_end(&mut self) {
        self.after = Some(self.sample());
    }
}

impl ServerUsage {
    pub fn to_json(self) -> Value {
        json!({
            "cpu_s": self.cpu_s,
            "cpu_s_per_gb": self.cpu_s_per_gb,
            "peak_rss_bytes": self.peak_rss,
            "rss_start_bytes": self.rss_start,
            "rss_end_bytes": self.rss_end,
        })
    }
}
