//! Prometheus text exposition (version 0.0.4) of the server's metrics.

use std::fmt::Write;

/// Everything `GET /metrics` shows, read at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub deliveries: Vec<((String, String), u64)>,
    pub jobs: Vec<(String, u64)>,
    /// Jobs by status (`queued`, `running`, …), when the store answered.
    pub depth: Option<Vec<(String, u64)>>,
    pub in_flight: u64,
    pub job_latency: Histogram,
    pub ack_latency: Histogram,
    pub api_calls: u64,
    pub api_errors: u64,
    pub rate_limit_waits: u64,
}

/// A latency histogram read at one moment: the cumulative count at each `le` bound (in
/// milliseconds), the sum and the count. The live histogram is `app::metrics::Histogram`.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    pub buckets: Vec<(f64, u64)>,
    pub sum_ms: f64,
    pub count: u64,
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn histogram(o: &mut String, name: &str, help: &str, h: &Histogram) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (b, c) in &h.buckets {
        let _ = writeln!(o, "{name}_bucket{{le=\"{}\"}} {c}", b / 1000.0);
    }
    let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(o, "{name}_sum {}", h.sum_ms / 1000.0);
    let _ = writeln!(o, "{name}_count {}", h.count);
}

pub fn prometheus(s: &Snapshot) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# HELP cachebust_deliveries_total Webhook deliveries by event and outcome.\n# TYPE cachebust_deliveries_total counter"
    );
    for ((event, outcome), n) in &s.deliveries {
        let _ = writeln!(
            o,
            "cachebust_deliveries_total{{event=\"{}\",outcome=\"{}\"}} {n}",
            label(event),
            label(outcome)
        );
    }
    let _ = writeln!(
        o,
        "# HELP cachebust_jobs_total Job attempts by outcome.\n# TYPE cachebust_jobs_total counter"
    );
    for (outcome, n) in &s.jobs {
        let _ = writeln!(
            o,
            "cachebust_jobs_total{{outcome=\"{}\"}} {n}",
            label(outcome)
        );
    }
    if let Some(d) = &s.depth {
        let _ = writeln!(
            o,
            "# HELP cachebust_queue_jobs Jobs in the queue by status.\n# TYPE cachebust_queue_jobs gauge"
        );
        for (k, v) in d {
            let _ = writeln!(o, "cachebust_queue_jobs{{status=\"{}\"}} {v}", label(k));
        }
    }
    let _ = writeln!(
        o,
        "# HELP cachebust_jobs_in_flight Jobs this instance is processing.\n# TYPE cachebust_jobs_in_flight gauge\ncachebust_jobs_in_flight {}",
        s.in_flight
    );
    histogram(
        &mut o,
        "cachebust_job_latency_seconds",
        "From enqueue to a delivered review.",
        &s.job_latency,
    );
    histogram(
        &mut o,
        "cachebust_ack_latency_seconds",
        "Time to answer a webhook delivery.",
        &s.ack_latency,
    );
    let _ = writeln!(
        o,
        "# HELP cachebust_github_api_calls_total Requests sent to GitHub.\n# TYPE cachebust_github_api_calls_total counter\ncachebust_github_api_calls_total {}",
        s.api_calls
    );
    let _ = writeln!(
        o,
        "# HELP cachebust_github_api_errors_total Requests GitHub answered with an error (or not at all).\n# TYPE cachebust_github_api_errors_total counter\ncachebust_github_api_errors_total {}",
        s.api_errors
    );
    let _ = writeln!(
        o,
        "# HELP cachebust_github_rate_limit_waits_total Waits for a rate limit to reset.\n# TYPE cachebust_github_rate_limit_waits_total counter\ncachebust_github_rate_limit_waits_total {}",
        s.rate_limit_waits
    );
    o
}
