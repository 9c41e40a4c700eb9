//! Prometheus metrics of the proxy, served in the text format on their own
//! listener (see [`Proxy::serve_metrics`](crate::Proxy::serve_metrics)).
//!
//! Labels stay bounded: `mode` is `reverse`, `forward` or `connect`
//! (`unknown` for a request head too malformed to tell);
//! `class` is a ConnectorClass name or `none`; `code` a status code;
//! `kind` one of `connect`, `tls`, `timeout`, `protocol`; `cache` is
//! `identity` or `decision`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

/// The label value for "no class" (no Connector selected).
pub(crate) const NONE: &str = "none";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    mode: &'static str,
    class: Arc<str>,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrafficLabels {
    mode: &'static str,
    class: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    class: Arc<str>,
    kind: &'static str,
}

/// The counters the auth cache increments.
#[derive(Clone, Debug, Default)]
pub(crate) struct CacheCounters {
    pub(crate) identity_hits: Counter,
    pub(crate) identity_misses: Counter,
    pub(crate) decision_hits: Counter,
    pub(crate) decision_misses: Counter,
}

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        60.0,
    ])
}

/// What one finished request adds to the metrics.
pub(crate) struct Finished<'a> {
    pub(crate) mode: &'static str,
    pub(crate) class: Option<&'a Arc<str>>,
    pub(crate) code: u16,
    pub(crate) duration: Duration,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

/// The series one set of request labels counts into.
struct Series {
    /// The [`Metrics`] they belong to (several proxies may share a thread).
    owner: u64,
    /// Mode and class; `code` completes the request labels.
    traffic: TrafficLabels,
    code: u16,
    requests: Counter,
    duration: Histogram,
    /// Made on first use.
    request_bytes: Option<Counter>,
    response_bytes: Option<Counter>,
}

impl Series {
    fn matches(&self, owner: &Metrics, mode: &str, class: &Arc<str>, code: u16) -> bool {
        let t = &self.traffic;
        self.owner == owner.id
            && self.code == code
            && t.mode == mode
            && (Arc::ptr_eq(&t.class, class) || *t.class == **class)
    }
}

/// Adds `n` to a byte series of `labels`, made on its first bytes (as the
/// family lookups made them before the series were kept).
fn add_bytes(
    slot: &mut Option<Counter>,
    family: &Family<TrafficLabels, Counter>,
    labels: &TrafficLabels,
    n: u64,
) {
    if n > 0 {
        slot.get_or_insert_with(|| family.get_or_create(labels).clone())
            .inc_by(n);
    }
}

/// Registers `metric` under `name`; the metric, to count into.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// The families each finished request counts into.
struct RequestFamilies {
    requests: Family<RequestLabels, Counter>,
    duration: Family<ModeLabels, Histogram, fn() -> Histogram>,
    request_bytes: Family<TrafficLabels, Counter>,
    response_bytes: Family<TrafficLabels, Counter>,
}

/// Registers the request count, duration and body byte families.
fn register_request_families(registry: &mut Registry) -> RequestFamilies {
    let requests = registered(
        registry,
        "requests",
        "Requests answered, by mode, ConnectorClass and status code",
        Family::<RequestLabels, Counter>::default(),
    );
    let duration = Family::<ModeLabels, Histogram, fn() -> Histogram>::new_with_constructor(
        duration_histogram,
    );
    registry.register_with_unit(
        "request_duration",
        "Time from the request head to the end of the response body",
        Unit::Seconds,
        duration.clone(),
    );
    let request_bytes = registered(
        registry,
        "request_bytes",
        "Request body bytes sent to tools",
        Family::<TrafficLabels, Counter>::default(),
    );
    let response_bytes = registered(
        registry,
        "response_bytes",
        "Response body bytes sent to clients",
        Family::<TrafficLabels, Counter>::default(),
    );
    RequestFamilies {
        requests,
        duration,
        request_bytes,
        response_bytes,
    }
}

/// Registers the auth cache's hit and miss families and its hit ratio; the
/// cache's counters and the ratio gauge.
fn register_auth_cache(registry: &mut Registry) -> (CacheCounters, Gauge<f64, AtomicU64>) {
    let hits = registered(
        registry,
        "auth_cache_hits",
        "Authentication (identity) and authorisation (decision) lookups answered from memory",
        Family::<CacheLabels, Counter>::default(),
    );
    let misses = registered(
        registry,
        "auth_cache_misses",
        "Authentication (identity) and authorisation (decision) lookups that asked the catalog",
        Family::<CacheLabels, Counter>::default(),
    );
    let hit_ratio = registered(
        registry,
        "auth_cache_hit_ratio",
        "Share of auth cache lookups answered from memory since start",
        Gauge::<f64, AtomicU64>::default(),
    );
    let counter =
        |f: &Family<CacheLabels, Counter>, cache| f.get_or_create(&CacheLabels { cache }).clone();
    let cache = CacheCounters {
        identity_hits: counter(&hits, "identity"),
        identity_misses: counter(&misses, "identity"),
        decision_hits: counter(&hits, "decision"),
        decision_misses: counter(&misses, "decision"),
    };
    (cache, hit_ratio)
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static LAST: std::cell::RefCell<Option<Series>> = const { std::cell::RefCell::new(None) };
}

/// All metric families, registered once.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<ModeLabels, Histogram, fn() -> Histogram>,
    request_bytes: Family<TrafficLabels, Counter>,
    response_bytes: Family<TrafficLabels, Counter>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    hit_ratio: Gauge<f64, AtomicU64>,
    leaf_certificates: Gauge,
    ca_expiry: Gauge,
    certificate_rejections: Counter,
    pub(crate) cache: CacheCounters,
    none: Arc<str>,
    /// Unique per instance, for [`Series::matches`].
    id: u64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("connectors_proxy");
        let RequestFamilies {
            requests,
            duration,
            request_bytes,
            response_bytes,
        } = register_request_families(&mut registry);
        let (cache, hit_ratio) = register_auth_cache(&mut registry);
        let upstream_errors = registered(
            &mut registry,
            "upstream_errors",
            "Failed exchanges with tools, by ConnectorClass and kind",
            Family::<UpstreamErrorLabels, Counter>::default(),
        );
        let leaf_certificates = registered(
            &mut registry,
            "leaf_certificates",
            "Leaf certificates for intercepted hosts currently cached",
            Gauge::default(),
        );
        let ca_expiry = registered(
            &mut registry,
            "ca_expiry_timestamp_seconds",
            "End of the proxy CA certificate's validity (Unix time): clients stop trusting intercepted connections then",
            Gauge::default(),
        );
        let certificate_rejections = registered(
            &mut registry,
            "certificate_rejections",
            "Intercepted tunnels a client closed because it does not trust the proxy CA",
            Counter::default(),
        );
        Metrics {
            registry,
            requests,
            duration,
            request_bytes,
            response_bytes,
            upstream_errors,
            hit_ratio,
            leaf_certificates,
            ca_expiry,
            certificate_rejections,
            cache,
            none: Arc::from(NONE),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Counts one finished request.
    pub(crate) fn finished(&self, r: Finished<'_>) {
        let class = r.class.unwrap_or(&self.none);
        // Requests on a connection mostly repeat the labels of the one
        // before: the series of the last labels are kept per thread, which
        // spares the family lookups (a lock and a hash each).
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            let fresh = match &*last {
                Some(l) => !l.matches(self, r.mode, class, r.code),
                None => true,
            };
            if fresh {
                *last = Some(self.series(r.mode, class, r.code));
            }
            let Some(series) = last.as_mut() else { return };
            series.requests.inc();
            series.duration.observe(r.duration.as_secs_f64());
            let Series {
                traffic,
                request_bytes,
                response_bytes,
                ..
            } = series;
            add_bytes(request_bytes, &self.request_bytes, traffic, r.bytes_in);
            add_bytes(response_bytes, &self.response_bytes, traffic, r.bytes_out);
        });
    }

    fn series(&self, mode: &'static str, class: &Arc<str>, code: u16) -> Series {
        let traffic = TrafficLabels {
            mode,
            class: class.clone(),
        };
        Series {
            owner: self.id,
            code,
            requests: self
                .requests
                .get_or_create(&RequestLabels {
                    mode,
                    class: class.clone(),
                    code,
                })
                .clone(),
            duration: self.duration.get_or_create(&ModeLabels { mode }).clone(),
            traffic,
            request_bytes: None,
            response_bytes: None,
        }
    }

    /// Counts a client that refused the proxy's certificate.
    pub(crate) fn certificate_rejected(&self) {
        self.certificate_rejections.inc();
    }

    /// Counts a failed exchange with a tool.
    pub(crate) fn upstream_error(&self, class: Option<&Arc<str>>, kind: &'static str) {
        let class = class.unwrap_or(&self.none).clone();
        self.upstream_errors
            .get_or_create(&UpstreamErrorLabels { class, kind })
            .inc();
    }

    /// The text exposition, with the gauges brought up to date.
    pub(crate) fn encode(&self, leaf_certificates: usize, ca_not_after_unix: i64) -> String {
        let c = &self.cache;
        let hits = c.identity_hits.get() + c.decision_hits.get();
        let total = hits + c.identity_misses.get() + c.decision_misses.get();
        self.hit_ratio.set(if total == 0 {
            0.0
        } else {
            hits as f64 / total as f64
        });
        self.leaf_certificates
            .set(i64::try_from(leaf_certificates).unwrap_or(i64::MAX));
        self.ca_expiry.set(ca_not_after_unix);
        let mut out = String::with_capacity(4096);
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_series_count_into_their_own_registry_and_labels() {
        let (a, b) = (Metrics::new(), Metrics::new());
        let git: Arc<str> = Arc::from("git");
        let other_git: Arc<str> = Arc::from("git");
        let done = |m: &Metrics, class: &Arc<str>, code| {
            m.finished(Finished {
                mode: "reverse",
                class: Some(class),
                code,
                duration: Duration::from_millis(1),
                bytes_in: 0,
                bytes_out: 10,
            })
        };
        done(&a, &git, 200);
        done(&a, &other_git, 200);
        done(&b, &git, 200);
        done(&a, &git, 404);
        done(&a, &git, 200);
        let (ta, tb) = (a.encode(0, 0), b.encode(0, 0));
        assert!(
            ta.contains(
                "connectors_proxy_requests_total{mode=\"reverse\",class=\"git\",code=\"200\"} 3\n"
            ),
            "{ta}"
        );
        assert!(
            ta.contains(
                "connectors_proxy_requests_total{mode=\"reverse\",class=\"git\",code=\"404\"} 1\n"
            ),
            "{ta}"
        );
        assert!(
            ta.contains(
                "connectors_proxy_response_bytes_total{mode=\"reverse\",class=\"git\"} 40\n"
            ),
            "{ta}"
        );
        assert!(
            tb.contains(
                "connectors_proxy_requests_total{mode=\"reverse\",class=\"git\",code=\"200\"} 1\n"
            ),
            "{tb}"
        );
        assert!(!tb.contains("code=\"404\""), "{tb}");
        // No request body went anywhere: no series for it.
        assert!(
            !ta.contains("connectors_proxy_request_bytes_total{"),
            "{ta}"
        );
    }

    #[test]
    fn names_and_labels() {
        let m = Metrics::new();
        let class: Arc<str> = Arc::from("git");
        m.finished(Finished {
            mode: "forward",
            class: Some(&class),
            code: 200,
            duration: Duration::from_millis(3),
            bytes_in: 5,
            bytes_out: 7,
        });
        m.finished(Finished {
            mode: "connect",
            class: None,
            code: 407,
            duration: Duration::from_millis(1),
            bytes_in: 0,
            bytes_out: 0,
        });
        m.upstream_error(None, "tls");
        m.certificate_rejected();
        m.cache.identity_hits.inc();
        m.cache.identity_misses.inc();
        let text = m.encode(3, 2_000_000_000);
        for line in [
            "connectors_proxy_requests_total{mode=\"forward\",class=\"git\",code=\"200\"} 1",
            "connectors_proxy_requests_total{mode=\"connect\",class=\"none\",code=\"407\"} 1",
            "connectors_proxy_request_bytes_total{mode=\"forward\",class=\"git\"} 5",
            "connectors_proxy_response_bytes_total{mode=\"forward\",class=\"git\"} 7",
            "connectors_proxy_upstream_errors_total{class=\"none\",kind=\"tls\"} 1",
            "connectors_proxy_auth_cache_hits_total{cache=\"identity\"} 1",
            "connectors_proxy_auth_cache_misses_total{cache=\"decision\"} 0",
            "connectors_proxy_auth_cache_hit_ratio 0.5",
            "connectors_proxy_leaf_certificates 3",
            "connectors_proxy_ca_expiry_timestamp_seconds 2000000000",
            "connectors_proxy_certificate_rejections_total 1",
            "connectors_proxy_request_duration_seconds_count{mode=\"forward\"} 1",
        ] {
            assert!(text.contains(line), "missing {line}:\n{text}");
        }
    }
}
