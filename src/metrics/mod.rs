//! Prometheus metrics: `/metrics` on the API port (or on `[metrics] listen`),
//! not behind Swift's auth.
//!
//! Exposition comes from the `prometheus-client` crate (typed families,
//! OpenMetrics text). Request metrics follow Swift's labelled proxy-logging
//! names (`swift_proxy_server_request_timing` …); the rest are sofgate's,
//! with Prometheus' unit suffixes. Recording is cheap by construction: a
//! request's label set is resolved once per combination and then kept
//! ([`request`]), background work adds to atomics, and the store's own
//! counters ([`crate::store::stats`]) are read only when scraped.
//!
//! One set per process, installed at start when `[metrics] enabled`;
//! every recording call is a no-op before that (and when disabled).

pub mod listen;
pub mod request;
mod stats;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub use request::{Note, Probe, Resource};

/// Bounds (seconds) of the request latency histograms: 0.5 ms to 30 s.
const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Bounds (seconds) of a container-usage walk: 1 ms to 5 min.
const WALK_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Labels of one kind of request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub resource: &'static str,
    pub status: &'static str,
    /// The storage policy index, or "" where the request named none.
    pub policy: String,
}

/// A filesystem error: its errno name and what sofgate was doing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FsErrorLabels {
    pub errno: String,
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) timing: Family<RequestLabels, Histogram, fn() -> Histogram>,
    pub(crate) ttfb: Family<RequestLabels, Histogram, fn() -> Histogram>,
    pub(crate) body_out: Family<RequestLabels, Counter>,
    pub(crate) in_flight: Gauge,
    pub(crate) connections: Gauge,
    pub(crate) received: Counter,
    pub(crate) sent: Counter,
    fs_errors: Family<FsErrorLabels, Counter>,
    expirer_sweeps: Counter,
    expirer_deleted: Counter,
    usage_walks: Histogram,
    /// Resolved request label sets, see [`request`].
    pub(crate) resolved: request::Resolved,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// The process' metrics, once [`install`]ed.
pub fn get() -> Option<&'static Metrics> {
    GLOBAL.get()
}

/// Sets up the metrics of a server with `policies` storage policies whose
/// background work the store counts in `store_stats`.
pub fn install(policies: usize, store_stats: Arc<crate::store::stats::Stats>) -> &'static Metrics {
    GLOBAL.get_or_init(|| Metrics::new(policies, store_stats))
}

impl Metrics {
    fn new(policies: usize, store_stats: Arc<crate::store::stats::Stats>) -> Metrics {
        let m = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            timing: Family::new_with_constructor(latency_histogram),
            ttfb: Family::new_with_constructor(latency_histogram),
            body_out: Family::default(),
            in_flight: Gauge::default(),
            connections: Gauge::default(),
            received: Counter::default(),
            sent: Counter::default(),
            fs_errors: Family::default(),
            expirer_sweeps: Counter::default(),
            expirer_deleted: Counter::default(),
            usage_walks: Histogram::new(WALK_BUCKETS),
            resolved: request::Resolved::new(policies),
        };
        m.register(store_stats)
    }

    fn register(mut self, store_stats: Arc<crate::store::stats::Stats>) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "sofgate_requests",
            "Requests answered, by method, resource, status class and policy index",
            self.requests.clone(),
        );
        r.register(
            "swift_proxy_server_request_timing",
            "Seconds from a request's head to the end of its response (Swift's name)",
            self.timing.clone(),
        );
        r.register(
            "swift_proxy_server_request_ttfb",
            "Seconds from a request's head to its response head, ready to send (Swift's name)",
            self.ttfb.clone(),
        );
        r.register(
            "swift_proxy_server_response_body_bytes",
            "Response body bytes sent (Swift's name)",
            self.body_out.clone(),
        );
        r.register(
            "sofgate_requests_in_flight",
            "Requests begun and not yet answered to the end",
            self.in_flight.clone(),
        );
        r.register(
            "sofgate_open_connections",
            "Client connections open on the API port",
            self.connections.clone(),
        );
        r.register(
            "sofgate_received_bytes",
            "Bytes read from client connections (request heads and bodies)",
            self.received.clone(),
        );
        r.register(
            "sofgate_sent_bytes",
            "Bytes written to client connections (response heads and bodies)",
            self.sent.clone(),
        );
        r.register(
            "sofgate_fs_errors",
            "Filesystem errors, by errno and operation",
            self.fs_errors.clone(),
        );
        r.register(
            "sofgate_expirer_sweeps",
            "Sweeps of the expiry queue",
            self.expirer_sweeps.clone(),
        );
        r.register(
            "sofgate_expirer_deleted_objects",
            "Expired objects removed from disk by the sweeps",
            self.expirer_deleted.clone(),
        );
        r.register(
            "sofgate_container_usage_walk_seconds",
            "Walks of a container's tree to count its objects and bytes, by duration",
            self.usage_walks.clone(),
        );
        r.register(
            "sofgate_build",
            "The running build",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                commit: option_env!("SOFGATE_GIT_COMMIT").unwrap_or(""),
            }),
        );
        r.register_collector(Box::new(stats::StoreStats(store_stats)));
        self
    }

    /// The OpenMetrics text of every metric.
    pub fn scrape(&self) -> String {
        let mut out = String::with_capacity(16 << 10);
        // Writing to a String cannot fail; an encoder error would leave a
        // partial text, which Prometheus refuses as a whole.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!("metrics: encoding failed: {e}");
        }
        out
    }
}

/// Counts a filesystem error met while doing `operation`.
pub fn fs_error(err: &std::io::Error, operation: &'static str) {
    let Some(m) = get() else { return };
    // `Errno`'s Debug form is the symbolic name (`ENOSPC`).
    let errno = match err.raw_os_error() {
        Some(n) => format!("{:?}", nix::errno::Errno::from_raw(n)),
        None => "other".to_string(),
    };
    m.fs_errors
        .get_or_create(&FsErrorLabels { errno, operation })
        .inc();
}

/// Counts one sweep of the expiry queue that removed `deleted` objects.
pub fn expirer_swept(deleted: usize) {
    if let Some(m) = get() {
        m.expirer_sweeps.inc();
        m.expirer_deleted.inc_by(deleted as u64);
    }
}

/// Records one walk of a container's tree that took `took`.
pub fn usage_walked(took: Duration) {
    if let Some(m) = get() {
        m.usage_walks.observe(took.as_secs_f64());
    }
}
