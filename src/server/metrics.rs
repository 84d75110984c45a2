//! Metrics for `ServerConfig::metrics_path`: what the server counts, per event loop, and the
//! Prometheus / OpenMetrics text a scrape answers (encoded by `prometheus-client`).
//!
//! In scope: the counters each loop keeps (requests by method and status class, a duration
//! histogram, bytes in and out) — written only by their own loop, so the hot path adds an
//! uncontended add on a cache line of its own —, summing them on a scrape, and the gauges read
//! then (open connections, slots, memory budget, modules' own figures such as open WebSockets).
//! Out of scope: when a request is counted (the connection does it once the answer is out).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Loops a server counts for (a loop's index is taken modulo this).
const LOOPS: usize = 64;

/// The method classes requests are counted by.
const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "other"];

/// The status classes requests are counted by.
const STATUSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Upper bounds of the duration histogram, in seconds (the last bucket is `+Inf`).
const BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 10.0,
];

/// One loop's counters, on cache lines of their own.
#[repr(align(128))]
#[derive(Default)]
struct LoopCounters {
    requests: [[AtomicU64; STATUSES.len()]; METHODS.len()],
    /// Per bucket (not cumulative), the last one past every bound.
    durations: [AtomicU64; BUCKETS.len() + 1],
    duration_sum_ns: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Of `bytes_out`, the file bytes `sendfile` moved (counted as they go).
    sendfile_bytes: AtomicU64,
}

/// The method class of a method name.
pub(crate) fn method_class(method: &str) -> u8 {
    METHODS
        .iter()
        .position(|m| *m == method)
        .map_or(METHODS.len() as u8 - 1, |i| i as u8)
}

/// What a server counts; shared by its connections.
pub(crate) struct Metrics {
    loops: Box<[LoopCounters]>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// One answered request, as the metrics count it.
pub(crate) struct Observed {
    pub(crate) method_class: u8,
    pub(crate) status: u16,
    pub(crate) duration: Duration,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        Metrics {
            loops: (0..LOOPS).map(|_| LoopCounters::default()).collect(),
        }
    }

    /// Counts an answered request on the calling loop's counters.
    pub(crate) fn observe(&self, o: &Observed) {
        let Some(c) = self.loops.get(crate::pool::loop_index() % LOOPS) else {
            return;
        };
        let status_class = usize::from(o.status / 100).clamp(1, 5) - 1;
        if let Some(n) = c
            .requests
            .get(usize::from(o.method_class))
            .and_then(|row| row.get(status_class))
        {
            n.fetch_add(1, Ordering::Relaxed);
        }
        let secs = o.duration.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(n) = c.durations.get(bucket) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(o.duration.as_nanos()).unwrap_or(u64::MAX);
        c.duration_sum_ns.fetch_add(ns, Ordering::Relaxed);
        c.bytes_in.fetch_add(o.bytes_in, Ordering::Relaxed);
        c.bytes_out.fetch_add(o.bytes_out, Ordering::Relaxed);
    }

    /// Counts file bytes sent with `sendfile` on the calling loop's counters.
    pub(crate) fn count_sendfile(&self, n: u64) {
        if let Some(c) = self.loops.get(crate::pool::loop_index() % LOOPS) {
            c.sendfile_bytes.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn sum(&self, f: impl Fn(&LoopCounters) -> &AtomicU64) -> u64 {
        self.loops
            .iter()
            .map(|c| f(c).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// A gauge read at scrape time: name, help, value.
pub(crate) type Gauge = (&'static str, &'static str, i64);

/// A counter kept elsewhere and read at scrape time: name (without `_total`), help, value.
pub(crate) type Counter = (&'static str, &'static str, u64);

/// One scrape: the summed counters and the gauges of the moment, as a `prometheus-client`
/// collector.
struct Scrape<'a> {
    metrics: &'a Metrics,
    gauges: Vec<Gauge>,
    counters: Vec<Counter>,
}

impl fmt::Debug for Scrape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

/// The counters summed over loops, owned, so the collector can be `'static`.
#[derive(Debug)]
struct Snapshot {
    requests: Vec<(&'static str, &'static str, u64)>,
    durations: Vec<(f64, u64)>,
    duration_count: u64,
    duration_sum: f64,
    bytes_in: u64,
    bytes_out: u64,
    sendfile_bytes: u64,
    gauges: Vec<Gauge>,
    counters: Vec<Counter>,
}

impl Scrape<'_> {
    fn snapshot(&self) -> Snapshot {
        let m = self.metrics;
        let mut requests = Vec::new();
        for (mi, method) in METHODS.iter().enumerate() {
            for (si, status) in STATUSES.iter().enumerate() {
                let n = m.sum(|c| &c.requests[mi][si]);
                if n > 0 {
                    requests.push((*method, *status, n));
                }
            }
        }
        let durations: Vec<(f64, u64)> = (0..=BUCKETS.len())
            .map(|i| {
                let bound = BUCKETS.get(i).copied().unwrap_or(f64::MAX);
                (bound, m.sum(|c| &c.durations[i]))
            })
            .collect();
        Snapshot {
            duration_count: durations.iter().map(|d| d.1).sum(),
            durations,
            duration_sum: m.sum(|c| &c.duration_sum_ns) as f64 / 1e9,
            requests,
            bytes_in: m.sum(|c| &c.bytes_in),
            bytes_out: m.sum(|c| &c.bytes_out),
            sendfile_bytes: m.sum(|c| &c.sendfile_bytes),
            gauges: self.gauges.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "microweb_http_requests",
            "HTTP requests answered, by method and status class.",
            None,
            MetricType::Counter,
        )?;
        for (method, status, n) in &self.requests {
            let labels = [("method", *method), ("status", *status)];
            ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
        }
        let mut histogram = encoder.encode_descriptor(
            "microweb_http_request_duration_seconds",
            "From a request's first byte to its answer's last.",
            None,
            MetricType::Histogram,
        )?;
        histogram.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.duration_sum,
            self.duration_count,
            &self.durations,
            None,
        )?;
        for (name, help, n) in [
            (
                "microweb_http_received_bytes",
                "Request bytes read (heads and bodies).",
                self.bytes_in,
            ),
            (
                "microweb_http_sent_bytes",
                "Response bytes written (heads and bodies).",
                self.bytes_out,
            ),
            (
                "microweb_http_sendfile_bytes",
                "File bytes sent with sendfile, straight from the page cache (part of sent bytes).",
                self.sendfile_bytes,
            ),
        ] {
            let e = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(n).encode(e)?;
        }
        for (name, help, value) in &self.counters {
            let e = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(*value).encode(e)?;
        }
        for (name, help, value) in &self.gauges {
            let e = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(*value).encode(e)?;
        }
        Ok(())
    }
}

/// The OpenMetrics text of a scrape: the counters of `metrics`, `gauges` and `counters`.
pub(crate) fn render(metrics: &Metrics, gauges: Vec<Gauge>, counters: Vec<Counter>) -> String {
    let mut registry = Registry::default();
    let scrape = Scrape {
        metrics,
        gauges,
        counters,
    };
    registry.register_collector(Box::new(scrape.snapshot()));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    out
}

/// The content type of [`render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_sums_the_loops_and_names_every_family() {
        let m = Metrics::new();
        for (status, ms) in [(200, 1), (200, 30), (404, 2)] {
            m.observe(&Observed {
                method_class: method_class("GET"),
                status,
                duration: Duration::from_millis(ms),
                bytes_in: 100,
                bytes_out: 1000,
            });
        }
        m.observe(&Observed {
            method_class: method_class("PATCH"),
            status: 500,
            duration: Duration::from_millis(1),
            bytes_in: 5,
            bytes_out: 7,
        });
        let text = render(
            &m,
            vec![("microweb_open_connections", "Open connections.", 3)],
            vec![("microweb_tls_handshakes_completed", "Handshakes.", 9)],
        );
        assert!(
            text.contains("microweb_http_requests_total{method=\"GET\",status=\"2xx\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("microweb_http_requests_total{method=\"GET\",status=\"4xx\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("microweb_http_requests_total{method=\"other\",status=\"5xx\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("microweb_http_request_duration_seconds_count 4\n"),
            "{text}"
        );
        assert!(
            text.contains("microweb_http_request_duration_seconds_bucket{le=\"0.05\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("microweb_http_request_duration_seconds_bucket{le=\"0.025\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("microweb_http_received_bytes_total 305\n"),
            "{text}"
        );
        assert!(text.contains("microweb_open_connections 3\n"), "{text}");
        assert!(
            text.contains("microweb_tls_handshakes_completed_total 9\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
