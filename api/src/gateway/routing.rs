//! Which gateway takes a new donation: routing rules by currency and weight, and failover away
//! from a gateway whose recent error or decline rate crosses a threshold.
//!
//! Rules come as one line, so they fit an environment variable:
//! `AED=ngenius:80,aps:20;*=stripe` sends AED gifts to N-Genius four times in five and to APS
//! otherwise, and everything else to Stripe. Without rules every currency goes to the
//! configured gateways in order. A gateway that is not in a currency's rule is never used for
//! it; the gateways in a rule back each other up.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::Serialize;

use super::PaymentGateway;
use crate::domain::Currency;

/// When a gateway counts as misbehaving.
#[derive(Debug, Clone, Copy)]
pub struct FailoverPolicy {
    /// How far back outcomes count.
    pub window: Duration,
    /// Outcomes needed in the window before a rate is trusted.
    pub min_samples: usize,
    /// Share of checkout starts that failed (unreachable, 5xx, refused) above which the
    /// gateway is avoided.
    pub max_error_rate: f64,
    /// Share of finished payments declined above which the gateway is avoided.
    pub max_decline_rate: f64,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        Self { window: Duration::from_secs(300), min_samples: 20, max_error_rate: 0.25, max_decline_rate: 0.6 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid gateway routes `{rules}`: {reason}")]
pub struct RoutesError {
    rules: String,
    reason: String,
}

/// One gateway's share of a currency's gifts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Share {
    gateway: String,
    weight: u32,
}

/// Parsed routing rules: a currency code (or `*`) to weighted gateways.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    by_currency: BTreeMap<String, Vec<Share>>,
}

impl Routes {
    pub fn parse(rules: &str, known: &[&str]) -> Result<Self, RoutesError> {
        let error = |reason: String| RoutesError { rules: rules.to_string(), reason };
        let mut by_currency = BTreeMap::new();
        for rule in rules.split(';').map(str::trim).filter(|r| !r.is_empty()) {
            let (currency, gateways) = rule.split_once('=').ok_or_else(|| error(format!("`{rule}` has no `=`")))?;
            let currency = currency.trim().to_ascii_uppercase();
            if currency != "*" {
                Currency::parse(&currency).map_err(|e| error(e.to_string()))?;
            }
            let mut shares = Vec::new();
            for entry in gateways.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let (name, weight) = entry.split_once(':').unwrap_or((entry, "1"));
                let name = name.trim();
                if !known.contains(&name) {
                    return Err(error(format!("`{name}` is not a configured gateway ({})", known.join(", "))));
                }
                let weight = weight.trim().parse().map_err(|_| error(format!("bad weight in `{entry}`")))?;
                shares.push(Share { gateway: name.to_string(), weight });
            }
            if shares.is_empty() {
                return Err(error(format!("`{currency}` names no gateway")));
            }
            if by_currency.insert(currency.clone(), shares).is_some() {
                return Err(error(format!("`{currency}` appears twice")));
            }
        }
        Ok(Self { by_currency })
    }

    fn shares(&self, currency: Currency) -> Option<&[Share]> {
        self.by_currency.get(currency.code()).or_else(|| self.by_currency.get("*")).map(Vec::as_slice)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sample {
    StartOk,
    StartError,
    Paid,
    Declined,
}

/// Slices the window is counted in: recording is one increment, and a report sums this many
/// slices, however many payments there were.
const SLICES: u32 = 30;

/// Counts of one slice of time, by `Sample` in declaration order.
#[derive(Debug, Clone, Copy, Default)]
struct Slice {
    /// Which slice of time since `Health::epoch` these counts are for.
    index: u64,
    counts: [usize; 4],
}

/// Recent outcomes of one gateway, counted in time slices, and every outcome since the start
/// (what metrics expose), counted by `Sample` in declaration order.
struct Health {
    epoch: Instant,
    slices: Mutex<[Slice; SLICES as usize]>,
    lifetime: [AtomicU64; 4],
    status_errors: AtomicU64,
}

/// One gateway's outcomes since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifetimeCounts {
    pub starts_ok: u64,
    pub start_errors: u64,
    pub paid: u64,
    pub declined: u64,
    /// Status queries (the reconciler's) that failed.
    pub status_errors: u64,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            slices: Mutex::new([Slice::default(); SLICES as usize]),
            lifetime: std::array::from_fn(|_| AtomicU64::new(0)),
            status_errors: AtomicU64::new(0),
        }
    }
}

/// A gateway's recent record, as the dashboard shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GatewayHealth {
    pub gateway: String,
    pub starts: usize,
    pub start_errors: usize,
    pub paid: usize,
    pub declined: usize,
    pub error_rate: Option<f64>,
    pub decline_rate: Option<f64>,
    pub healthy: bool,
    /// Why it is avoided, in words.
    pub reason: Option<String>,
}

impl Health {
    fn slice_index(&self, now: Instant, window: Duration) -> u64 {
        let slice = (window / SLICES).max(Duration::from_millis(1));
        (now.duration_since(self.epoch).as_nanos() / slice.as_nanos()) as u64
    }

    fn record(&self, sample: Sample, window: Duration) {
        self.lifetime[sample as usize].fetch_add(1, Ordering::Relaxed);
        let index = self.slice_index(Instant::now(), window);
        let mut slices = self.slices.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = &mut slices[(index % u64::from(SLICES)) as usize];
        if slot.index != index {
            *slot = Slice { index, counts: [0; 4] };
        }
        slot.counts[sample as usize] += 1;
    }

    fn report(&self, gateway: &str, policy: &FailoverPolicy) -> GatewayHealth {
        let current = self.slice_index(Instant::now(), policy.window);
        let mut counts = [0usize; 4];
        let slices = self.slices.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for slice in slices.iter().filter(|s| current.saturating_sub(s.index) < u64::from(SLICES)) {
            for (total, count) in counts.iter_mut().zip(slice.counts) {
                *total += count;
            }
        }
        drop(slices);
        let [ok, errors, paid, declined] = counts;
        let rate = |bad: usize, total: usize| (total >= policy.min_samples).then(|| bad as f64 / total as f64);
        let error_rate = rate(errors, ok + errors);
        let decline_rate = rate(declined, paid + declined);
        let reason = match (error_rate, decline_rate) {
            (Some(r), _) if r > policy.max_error_rate => Some(format!(
                "{:.0}% of the last {} checkout starts failed (limit {:.0}%)",
                r * 100.0,
                ok + errors,
                policy.max_error_rate * 100.0
            )),
            (_, Some(r)) if r > policy.max_decline_rate => Some(format!(
                "{:.0}% of the last {} payments were declined (limit {:.0}%)",
                r * 100.0,
                paid + declined,
                policy.max_decline_rate * 100.0
            )),
            _ => None,
        };
        GatewayHealth {
            gateway: gateway.to_string(),
            starts: ok + errors,
            start_errors: errors,
            paid,
            declined,
            error_rate,
            decline_rate,
            healthy: reason.is_none(),
            reason,
        }
    }
}

/// A gateway's place in a currency's routing.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RouteShare {
    pub gateway: String,
    pub weight: u32,
    /// False while failover avoids it.
    pub healthy: bool,
}

/// The configured gateways, their routing rules and their recent health.
#[derive(Clone)]
pub struct Gateways {
    all: Vec<Arc<dyn PaymentGateway>>,
    routes: Routes,
    policy: FailoverPolicy,
    health: Arc<BTreeMap<&'static str, Health>>,
}

impl Gateways {
    pub fn new(all: Vec<Arc<dyn PaymentGateway>>, routes: Routes, policy: FailoverPolicy) -> Self {
        let health = all.iter().map(|g| (g.name(), Health::default())).collect();
        Self { all, routes, policy, health: Arc::new(health) }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.all.iter().map(|g| g.name()).collect()
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn PaymentGateway>> {
        self.all.iter().find(|g| g.name() == name)
    }

    /// The gateways to try for a new donation in `currency`, best first: a healthy one picked
    /// by weight, then the other healthy ones by weight, then the unhealthy ones (a donor is
    /// better served by a struggling gateway than by none).
    pub fn candidates(&self, currency: Currency) -> Vec<Arc<dyn PaymentGateway>> {
        let mut shares: Vec<(Arc<dyn PaymentGateway>, u32, bool)> = match self.routes.shares(currency) {
            Some(shares) => shares
                .iter()
                .filter_map(|s| Some((self.by_name(&s.gateway)?.clone(), s.weight)))
                .map(|(g, w)| {
                    let healthy = self.is_healthy(g.name());
                    (g, w, healthy)
                })
                .collect(),
            // No rule: the first configured gateway takes everything, the rest stand by.
            None => self
                .all
                .iter()
                .enumerate()
                .map(|(i, g)| (g.clone(), u32::from(i == 0), self.is_healthy(g.name())))
                .collect(),
        };
        let first = pick_by_weight(&shares, &mut rand::rng());
        let mut ordered = Vec::with_capacity(shares.len());
        if let Some(index) = first {
            ordered.push(shares.remove(index).0);
        }
        // Stable sort: among equals, the configured order decides.
        shares.sort_by_key(|(_, weight, healthy)| (!healthy, std::cmp::Reverse(*weight)));
        ordered.extend(shares.into_iter().map(|(g, _, _)| g));
        ordered
    }

    /// How `currency` is routed now: each gateway's weight and whether it is avoided, in the
    /// order of the rule (or the configured order without one).
    pub fn routing(&self, currency: Currency) -> Vec<RouteShare> {
        let shares: Vec<(&str, u32)> = match self.routes.shares(currency) {
            Some(shares) => shares.iter().map(|s| (s.gateway.as_str(), s.weight)).collect(),
            None => self.all.iter().enumerate().map(|(i, g)| (g.name(), u32::from(i == 0))).collect(),
        };
        shares
            .into_iter()
            .map(|(gateway, weight)| RouteShare {
                gateway: gateway.to_string(),
                weight,
                healthy: self.is_healthy(gateway),
            })
            .collect()
    }

    /// Which rule routes `currency`: its own code, `*`, or `None` when there are no rules
    /// (the first configured gateway takes everything).
    pub fn rule_for(&self, currency: Currency) -> Option<&str> {
        let rules = &self.routes.by_currency;
        rules.get_key_value(currency.code()).or_else(|| rules.get_key_value("*")).map(|(key, _)| key.as_str())
    }

    pub fn record_start(&self, gateway: &str, ok: bool) {
        self.record(gateway, if ok { Sample::StartOk } else { Sample::StartError });
    }

    /// Records a finished payment (paid or declined) for the decline rate.
    pub fn record_payment(&self, gateway: &str, paid: bool) {
        self.record(gateway, if paid { Sample::Paid } else { Sample::Declined });
    }

    /// A status query to `gateway` failed; it says nothing of the payment, so failover ignores it.
    pub fn record_status_error(&self, gateway: &str) {
        if let Some(health) = self.health.get(gateway) {
            health.status_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every gateway's outcomes since the start, in configured order.
    pub fn lifetime(&self) -> Vec<(&'static str, LifetimeCounts)> {
        self.all
            .iter()
            .map(|g| {
                let health = &self.health[g.name()];
                let [starts_ok, start_errors, paid, declined] =
                    std::array::from_fn(|i| health.lifetime[i].load(Ordering::Relaxed));
                let status_errors = health.status_errors.load(Ordering::Relaxed);
                (g.name(), LifetimeCounts { starts_ok, start_errors, paid, declined, status_errors })
            })
            .collect()
    }

    /// Every gateway's recent record, in configured order.
    pub fn health(&self) -> Vec<GatewayHealth> {
        self.all.iter().map(|g| self.health[g.name()].report(g.name(), &self.policy)).collect()
    }

    fn record(&self, gateway: &str, sample: Sample) {
        if let Some(health) = self.health.get(gateway) {
            health.record(sample, self.policy.window);
        }
    }

    fn is_healthy(&self, gateway: &str) -> bool {
        self.health.get(gateway).is_none_or(|h| h.report(gateway, &self.policy).healthy)
    }
}

/// The index of a healthy share chosen with probability proportional to its weight; `None`
/// when no healthy share has weight.
fn pick_by_weight<G>(shares: &[(G, u32, bool)], rng: &mut impl Rng) -> Option<usize> {
    let total: u64 = shares.iter().filter(|(_, _, healthy)| *healthy).map(|(_, w, _)| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut ticket = rng.random_range(0..total);
    shares.iter().position(|(_, weight, healthy)| {
        if !healthy {
            return false;
        }
        let weight = u64::from(*weight);
        if ticket < weight {
            return true;
        }
        ticket -= weight;
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_name_what_is_wrong() {
        let routes = Routes::parse("aed = ngenius:80, aps:20; * = stripe", &["stripe", "aps", "ngenius"]).unwrap();
        let aed = routes.shares(Currency::parse("AED").unwrap()).unwrap();
        assert_eq!(aed.len(), 2);
        assert_eq!(aed[0], Share { gateway: "ngenius".into(), weight: 80 });
        assert_eq!(routes.shares(Currency::parse("USD").unwrap()).unwrap()[0].gateway, "stripe");

        let unknown = Routes::parse("USD=paypal", &["stripe"]).unwrap_err();
        assert!(unknown.to_string().contains("`paypal` is not a configured gateway"), "{unknown}");
        assert!(Routes::parse("XYZ=stripe", &["stripe"]).is_err());
        assert!(Routes::parse("USD=stripe:lots", &["stripe"]).is_err());
        assert!(Routes::parse("USD=stripe;USD=stripe", &["stripe"]).is_err());
    }

    #[test]
    fn weights_share_the_picks_and_unhealthy_or_weightless_never_lead() {
        let shares = [("a", 80, true), ("b", 20, true), ("c", 1000, false), ("d", 0, true)];
        let mut rng = rand::rng();
        let mut picks = [0usize; 4];
        for _ in 0..10_000 {
            picks[pick_by_weight(&shares, &mut rng).unwrap()] += 1;
        }
        assert!((7_000..9_000).contains(&picks[0]), "{picks:?}");
        assert!((1_000..3_000).contains(&picks[1]), "{picks:?}");
        assert_eq!(picks[2] + picks[3], 0, "{picks:?}");
        assert_eq!(pick_by_weight(&[("a", 5, false)], &mut rng), None);
    }

    #[test]
    fn a_gateway_is_avoided_once_its_error_rate_crosses_the_line_with_enough_samples() {
        let policy = FailoverPolicy { min_samples: 10, max_error_rate: 0.5, ..FailoverPolicy::default() };
        let health = Health::default();
        for _ in 0..9 {
            health.record(Sample::StartError, policy.window);
        }
        assert!(health.report("g", &policy).healthy, "nine samples are too few to judge");
        health.record(Sample::StartError, policy.window);
        let report = health.report("g", &policy);
        assert!(!report.healthy);
        assert!(report.reason.unwrap().contains("100% of the last 10 checkout starts failed"));
        for _ in 0..11 {
            health.record(Sample::StartOk, policy.window);
        }
        assert!(health.report("g", &policy).healthy, "10 errors in 21 is under half");
    }
}
