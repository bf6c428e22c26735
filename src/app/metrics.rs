//! What the server counts while it runs (deliveries, jobs, latencies), read by `GET /metrics`
//! through `render::metrics`, which formats a snapshot of it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

/// The `le` bounds of the latency histograms, in milliseconds.
pub const BUCKETS_MS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 120000.0, 300000.0,
];

/// A live latency histogram in milliseconds (Prometheus `le` buckets, cumulative).
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    pub counts: Vec<u64>,
    pub sum_ms: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, ms: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS_MS.len()];
        }
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum_ms += ms;
        self.count += 1;
    }

    /// The values `render::metrics` prints.
    pub fn snapshot(&self) -> crate::render::metrics::Histogram {
        crate::render::metrics::Histogram {
            buckets: BUCKETS_MS
                .iter()
                .enumerate()
                .map(|(i, b)| (*b, self.counts.get(i).copied().unwrap_or(0)))
                .collect(),
            sum_ms: self.sum_ms,
            count: self.count,
        }
    }
}

/// What the server counts (read by `GET /metrics`).
#[derive(Debug, Default)]
pub struct Metrics {
    /// (event, outcome) → deliveries.
    pub deliveries: Mutex<BTreeMap<(String, String), u64>>,
    /// outcome (`done`, `retried`, `failed`, `superseded`) → jobs.
    pub jobs: Mutex<BTreeMap<String, u64>>,
    /// From enqueue to done.
    pub job_latency: Mutex<Histogram>,
    /// Time to answer a delivery.
    pub ack_latency: Mutex<Histogram>,
    pub in_flight: AtomicU64,
}

impl Metrics {
    pub fn delivery(&self, event: &str, outcome: &str) {
        if let Ok(mut m) = self.deliveries.lock() {
            *m.entry((event.to_string(), outcome.to_string()))
                .or_default() += 1;
        }
    }
    pub fn job(&self, outcome: &str) {
        if let Ok(mut m) = self.jobs.lock() {
            *m.entry(outcome.to_string()).or_default() += 1;
        }
    }
}
