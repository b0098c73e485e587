//! The API's own request metrics, cheap enough for every request: a few relaxed atomic
//! operations, no locks. Responses by status class, a latency histogram with fixed buckets, and
//! a ring of per-second counts for the last minute. `snapshot()` hands out the raw counters (what
//! a Prometheus exposition needs); `report()` turns them into the dashboard's rates and
//! percentiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde::Serialize;

use crate::prometheus::Prometheus;

/// Upper bounds of the latency buckets, in microseconds; one more bucket takes the rest.
pub const LATENCY_BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// Seconds in the ring: the "last minute".
const RING: usize = 60;

/// A ring slot packs the second it counts (high 32 bits, seconds since start) with its count
/// (low 32 bits), so moving to a new second and counting are one compare-and-swap.
const COUNT_MASK: u64 = 0xffff_ffff;

pub struct RequestMetrics {
    started: Instant,
    /// Responses by status class, 1xx to 5xx.
    by_class: [AtomicU64; 5],
    latency: [AtomicU64; LATENCY_BOUNDS_US.len() + 1],
    latency_sum_us: AtomicU64,
    recent_requests: [AtomicU64; RING],
    recent_server_errors: [AtomicU64; RING],
}

/// The raw counters at one moment; the histogram is per bucket, not cumulative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub uptime: Duration,
    pub by_class: [u64; 5],
    /// Counts per bucket of `LATENCY_BOUNDS_US`, then the overflow bucket.
    pub latency: [u64; LATENCY_BOUNDS_US.len() + 1],
    pub latency_sum_us: u64,
    pub last_minute_requests: u64,
    pub last_minute_server_errors: u64,
}

/// What the dashboard shows of them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestReport {
    pub uptime_seconds: u64,
    pub requests: u64,
    pub responses_1xx: u64,
    pub responses_2xx: u64,
    pub responses_3xx: u64,
    pub responses_4xx: u64,
    pub responses_5xx: u64,
    /// Average since the process started.
    pub requests_per_minute: f64,
    pub last_minute_requests: u64,
    /// Share of requests answered with a 5xx since the process started.
    pub error_rate: f64,
    /// The same over the last minute; `None` without requests.
    pub last_minute_error_rate: Option<f64>,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            by_class: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_sum_us: AtomicU64::new(0),
            recent_requests: std::array::from_fn(|_| AtomicU64::new(0)),
            recent_server_errors: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl RequestMetrics {
    pub fn record(&self, status: u16, elapsed: Duration) {
        self.record_at(self.started.elapsed(), status, elapsed);
    }

    /// `now` is the time since start, given so tests can move the clock.
    fn record_at(&self, now: Duration, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BOUNDS_US.iter().position(|bound| micros <= *bound).unwrap_or(LATENCY_BOUNDS_US.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
        let second = now.as_secs() & COUNT_MASK;
        count_in_ring(&self.recent_requests, second);
        if class == 4 {
            count_in_ring(&self.recent_server_errors, second);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_at(self.started.elapsed())
    }

    fn snapshot_at(&self, now: Duration) -> Snapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let second = now.as_secs() & COUNT_MASK;
        Snapshot {
            uptime: now,
            by_class: std::array::from_fn(|i| load(&self.by_class[i])),
            latency: std::array::from_fn(|i| load(&self.latency[i])),
            latency_sum_us: load(&self.latency_sum_us),
            last_minute_requests: sum_ring(&self.recent_requests, second),
            last_minute_server_errors: sum_ring(&self.recent_server_errors, second),
        }
    }

    pub fn report(&self) -> RequestReport {
        self.snapshot().report()
    }
}

impl Snapshot {
    pub fn report(&self) -> RequestReport {
        let requests: u64 = self.by_class.iter().sum();
        let server_errors = self.by_class[4];
        let share = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        RequestReport {
            uptime_seconds: self.uptime.as_secs(),
            requests,
            responses_1xx: self.by_class[0],
            responses_2xx: self.by_class[1],
            responses_3xx: self.by_class[2],
            responses_4xx: self.by_class[3],
            responses_5xx: server_errors,
            // Over at least a minute, so a young process does not extrapolate a few requests.
            requests_per_minute: requests as f64 * 60.0 / self.uptime.as_secs_f64().max(60.0),
            last_minute_requests: self.last_minute_requests,
            error_rate: share(server_errors, requests).unwrap_or(0.0),
            last_minute_error_rate: share(self.last_minute_server_errors, self.last_minute_requests),
            mean_ms: share(self.latency_sum_us, requests).unwrap_or(0.0) / 1000.0,
            p50_ms: percentile_ms(&self.latency, 0.50),
            p90_ms: percentile_ms(&self.latency, 0.90),
            p99_ms: percentile_ms(&self.latency, 0.99),
        }
    }
}

fn count_in_ring(ring: &[AtomicU64; RING], second: u64) {
    let slot = &ring[(second % RING as u64) as usize];
    // The closure always returns `Some`, so this never fails.
    let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
        Some(if packed >> 32 == second { packed + 1 } else { second << 32 | 1 })
    });
}

/// The counts of the slots written during the last `RING` seconds, this one included.
fn sum_ring(ring: &[AtomicU64; RING], second: u64) -> u64 {
    ring.iter()
        .map(|slot| slot.load(Ordering::Relaxed))
        .filter(|packed| second.checked_sub(packed >> 32).is_some_and(|age| age < RING as u64))
        .map(|packed| packed & COUNT_MASK)
        .sum()
}

/// The `share` quantile, interpolated linearly within the bucket holding it (as Prometheus'
/// `histogram_quantile` does); in the overflow bucket, its lower bound.
fn percentile_ms(counts: &[u64], share: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = total as f64 * share;
    let mut below = 0u64;
    for (index, &count) in counts.iter().enumerate() {
        if count > 0 && (below + count) as f64 >= rank {
            let lower = if index == 0 { 0 } else { LATENCY_BOUNDS_US[index - 1] };
            let Some(&upper) = LATENCY_BOUNDS_US.get(index) else { return lower as f64 / 1000.0 };
            let within = ((rank - below as f64) / count as f64).clamp(0.0, 1.0);
            return (lower as f64 + (upper - lower) as f64 * within) / 1000.0;
        }
        below += count;
    }
    0.0
}

/// The middleware that observes every request: it resolves the route pattern once (route
/// matching is a walk of the route table with a regex per dynamic route), times the request,
/// records its status for the dashboard and, by route, for Prometheus, and runs it inside its
/// tracing span.
pub async fn measure(
    metrics: Arc<RequestMetrics>,
    prometheus: Arc<Prometheus>,
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use tracing::Instrument as _;
    let started = Instant::now();
    let route = request.match_pattern();
    let span = crate::request_spans::start(&request, route.as_deref());
    let method = request.method().clone();
    // Called inside the span too: handlers make their own spans when called, not when polled,
    // and those must be children of the request's.
    let response = span.in_scope(|| next.call(request)).instrument(span.clone()).await;
    let status = match &response {
        Ok(response) => response.status().as_u16(),
        Err(error) => error.as_response_error().status_code().as_u16(),
    };
    crate::request_spans::finish(span, &response);
    let elapsed = started.elapsed();
    metrics.record(status, elapsed);
    prometheus.record_request(
        route.unwrap_or_else(|| crate::prometheus::UNMATCHED.to_string()),
        &method,
        status,
        elapsed,
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_buckets_and_errors_are_counted_by_class() {
        let metrics = RequestMetrics::default();
        let now = Duration::from_secs(120);
        for _ in 0..98 {
            metrics.record_at(now, 200, Duration::from_micros(80));
        }
        metrics.record_at(now, 404, Duration::from_millis(3));
        metrics.record_at(now, 503, Duration::from_millis(40));
        let report = metrics.snapshot_at(now).report();
        assert_eq!(
            (report.requests, report.responses_2xx, report.responses_4xx, report.responses_5xx),
            (100, 98, 1, 1)
        );
        assert!((report.p50_ms - 0.051).abs() < 0.001, "{report:?}");
        assert_eq!(report.p99_ms, 5.0, "the 99th is the 3 ms request, at its bucket's top");
        assert!((report.error_rate - 0.01).abs() < 1e-9);
        assert!((report.requests_per_minute - 50.0).abs() < 1e-9, "100 requests in two minutes");
    }

    #[test]
    fn the_last_minute_forgets_older_seconds() {
        let metrics = RequestMetrics::default();
        for second in [5, 5, 50, 69] {
            metrics.record_at(Duration::from_secs(second), 200, Duration::from_micros(50));
        }
        metrics.record_at(Duration::from_secs(69), 500, Duration::from_micros(50));
        let at = |second| metrics.snapshot_at(Duration::from_secs(second));
        assert_eq!(at(69).last_minute_requests, 3, "second 5 is more than a minute before 69");
        assert_eq!(at(69).last_minute_server_errors, 1);
        assert_eq!(at(69).report().last_minute_error_rate, Some(1.0 / 3.0));
        assert_eq!(at(130).last_minute_requests, 0);
        assert_eq!(at(130).report().last_minute_error_rate, None);

        // Second 65 takes second 5's slot: the old count is replaced, not added to.
        metrics.record_at(Duration::from_secs(65), 200, Duration::from_micros(50));
        assert_eq!(at(70).last_minute_requests, 4);
        assert_eq!(at(70).by_class.iter().sum::<u64>(), 6, "the lifetime counts keep everything");
    }

    #[test]
    fn the_slowest_requests_fall_in_the_overflow_bucket() {
        let metrics = RequestMetrics::default();
        metrics.record(200, Duration::from_secs(30));
        assert_eq!(metrics.report().p99_ms, 10_000.0);
        assert_eq!(metrics.snapshot().latency[LATENCY_BOUNDS_US.len()], 1);
    }
}
