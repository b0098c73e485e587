//! The Prometheus exposition at `/metrics` (OpenMetrics text). This process's own counters live
//! here: a latency histogram by route, method and status (its `_count` is the requests
//! answered), client-side error reports. What other parts already know is read when Prometheus scrapes: gateway checkout
//! starts and payments (`Gateways`), donations by gateway and status (the database), and the age
//! of the in-memory totals.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::db::{GatewayCounts, Store};
use crate::gateway::Gateways;
use crate::gateway::routing::LifetimeCounts;
use crate::metrics::LATENCY_BOUNDS_US;
use crate::totals::TotalsCache;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The route label of a request that matched no route: its path would be unbounded.
pub const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayLabels {
    gateway: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayResultLabels {
    gateway: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DonationLabels {
    gateway: String,
    status: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BOUNDS_US.iter().map(|us| *us as f64 / 1e6))
}

/// What a client-side error report became.
#[derive(Debug, Clone, Copy)]
pub enum ClientErrorResult {
    Logged,
    RateLimited,
}

/// Which per-address limit refused a request.
#[derive(Debug, Clone, Copy)]
pub enum RateLimit {
    Donation,
    Click,
    ShareLink,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

pub struct Prometheus {
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    client_errors: Family<ResultLabels, Counter>,
    rate_limited: Family<LimitLabels, Counter>,
}

impl Default for Prometheus {
    fn default() -> Self {
        Self {
            requests: Family::new_with_constructor(latency_histogram),
            client_errors: Family::default(),
            rate_limited: Family::default(),
        }
    }
}

/// What a scrape reads from the rest of the service.
pub struct Sources<'a> {
    pub store: &'a dyn Store,
    pub gateways: &'a Gateways,
    pub totals: &'a TotalsCache,
    pub totals_refresh: Duration,
}

impl Prometheus {
    /// `route` is the matched pattern (`/api/v1/campaigns/{slug}/totals`), never the path, so
    /// the series stay few whatever visitors request.
    pub fn record_request(&self, route: String, method: &actix_web::http::Method, status: u16, elapsed: Duration) {
        let method = match method.as_str() {
            "GET" => "GET",
            "HEAD" => "HEAD",
            "POST" => "POST",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        self.requests.get_or_create(&RequestLabels { route, method, status }).observe(elapsed.as_secs_f64());
    }

    pub fn record_client_error(&self, result: ClientErrorResult) {
        let result = match result {
            ClientErrorResult::Logged => "logged",
            ClientErrorResult::RateLimited => "rate_limited",
        };
        self.client_errors.get_or_create(&ResultLabels { result }).inc();
    }

    pub fn record_rate_limited(&self, limit: RateLimit) {
        let limit = match limit {
            RateLimit::Donation => "donation",
            RateLimit::Click => "click",
            RateLimit::ShareLink => "share_link",
        };
        self.rate_limited.get_or_create(&LimitLabels { limit }).inc();
    }

    /// The whole exposition. The database is asked with a deadline, so a slow or absent
    /// database costs the scrape its donation counts, never the scrape itself.
    pub async fn render(&self, sources: Sources<'_>) -> String {
        let counts = tokio::time::timeout(Duration::from_secs(2), sources.store.gateway_counts()).await;
        let counts = match counts {
            Ok(Ok(counts)) => Some(counts),
            Ok(Err(error)) => {
                tracing::warn!(%error, "metrics: donation counts unavailable");
                None
            }
            Err(_) => {
                tracing::warn!("metrics: the database did not answer in time");
                None
            }
        };

        let mut registry = Registry::with_prefix("pledge");
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer a request, by route pattern, method and status",
            Unit::Seconds,
            self.requests.clone(),
        );
        registry.register("client_errors", "Script errors reported by the pages", self.client_errors.clone());
        registry.register(
            "rate_limited",
            "Requests refused (or clicks not counted) by a per-address limit",
            self.rate_limited.clone(),
        );
        registry.register(
            "gateway_checkout_starts",
            "Checkout starts by gateway and result",
            gateway_starts(sources.gateways),
        );
        registry.register(
            "gateway_payments",
            "Payment verdicts by gateway (paid or declined)",
            gateway_payments(sources.gateways),
        );
        registry.register(
            "gateway_status_errors",
            "Failed status queries by gateway (the reconciler)",
            gateway_status_errors(sources.gateways),
        );

        let database_up = Gauge::<i64>::default();
        database_up.set(i64::from(counts.is_some()));
        registry.register("database_up", "1 when the database answered this scrape", database_up);
        if let Some(counts) = counts {
            registry.register("donations", "Donations by gateway and status, as stored", donations(&counts));
        }
        let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        age.set(sources.totals.age().map_or(f64::INFINITY, |age| age.as_secs_f64()));
        registry.register_with_unit("totals_age", "Time since the totals snapshot was refreshed", Unit::Seconds, age);
        let interval = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        interval.set(sources.totals_refresh.as_secs_f64());
        registry.register_with_unit(
            "totals_refresh_interval",
            "How often totals are refreshed",
            Unit::Seconds,
            interval,
        );

        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut text, &registry).and_then(|()| encode_eof(&mut text));
        text
    }
}

/// One counter per gateway and result, from each gateway's lifetime counts.
fn gateway_results(
    gateways: &Gateways,
    results: fn(&LifetimeCounts) -> [(&'static str, u64); 2],
) -> Family<GatewayResultLabels, Counter> {
    let family = Family::<GatewayResultLabels, Counter>::default();
    for (gateway, lifetime) in gateways.lifetime() {
        for (result, count) in results(&lifetime) {
            family.get_or_create(&GatewayResultLabels { gateway: gateway.to_string(), result }).inc_by(count);
        }
    }
    family
}

fn gateway_starts(gateways: &Gateways) -> Family<GatewayResultLabels, Counter> {
    gateway_results(gateways, |l| [("ok", l.starts_ok), ("error", l.start_errors)])
}

fn gateway_payments(gateways: &Gateways) -> Family<GatewayResultLabels, Counter> {
    gateway_results(gateways, |l| [("paid", l.paid), ("declined", l.declined)])
}

fn gateway_status_errors(gateways: &Gateways) -> Family<GatewayLabels, Counter> {
    let family = Family::<GatewayLabels, Counter>::default();
    for (gateway, lifetime) in gateways.lifetime() {
        family.get_or_create(&GatewayLabels { gateway: gateway.to_string() }).inc_by(lifetime.status_errors);
    }
    family
}

fn donations(counts: &[GatewayCounts]) -> Family<DonationLabels, Gauge> {
    let family = Family::<DonationLabels, Gauge>::default();
    for c in counts {
        for (status, count) in [
            ("pending", c.pending),
            ("succeeded", c.succeeded),
            ("failed", c.failed),
            ("expired", c.abandoned),
            ("refunded", c.refunded),
            ("disputed", c.disputed),
            ("charged_back", c.charged_back),
        ] {
            family.get_or_create(&DonationLabels { gateway: c.gateway.clone(), status }).set(count);
        }
    }
    family
}
