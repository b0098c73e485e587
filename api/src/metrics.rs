//! The API's own request metrics, cheap enough for every request: a few relaxed atomic
//! increments, no locks. Counts by status class and a latency histogram with fixed buckets,
//! from which the dashboard reads rates and percentiles (a Prometheus exposition can read the
//! same counters).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde::Serialize;

/// Upper bounds of the latency buckets, in microseconds; the last bucket takes the rest.
const BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

pub struct RequestMetrics {
    started: Instant,
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    latency: [AtomicU64; BOUNDS_US.len() + 1],
}

/// What the dashboard shows of them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestReport {
    pub uptime_seconds: u64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub client_errors: u64,
    pub server_errors: u64,
    /// Share of requests answered with a 5xx.
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            client_errors: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl RequestMetrics {
    pub fn record(&self, status: u16, elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match status {
            400..=499 => self.client_errors.fetch_add(1, Ordering::Relaxed),
            500..=599 => self.server_errors.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_US.iter().position(|bound| micros <= *bound).unwrap_or(BOUNDS_US.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub fn report(&self) -> RequestReport {
        let uptime = self.started.elapsed();
        let requests = self.requests.load(Ordering::Relaxed);
        let server_errors = self.server_errors.load(Ordering::Relaxed);
        let counts: Vec<u64> = self.latency.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        RequestReport {
            uptime_seconds: uptime.as_secs(),
            requests,
            requests_per_second: requests as f64 / uptime.as_secs_f64().max(1.0),
            client_errors: self.client_errors.load(Ordering::Relaxed),
            server_errors,
            error_rate: if requests == 0 { 0.0 } else { server_errors as f64 / requests as f64 },
            p50_ms: percentile_ms(&counts, 0.50),
            p90_ms: percentile_ms(&counts, 0.90),
            p99_ms: percentile_ms(&counts, 0.99),
        }
    }
}

/// The upper bound of the bucket holding the `share` quantile: an estimate never below the truth.
fn percentile_ms(counts: &[u64], share: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = (total as f64 * share).ceil() as u64;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let bound = BOUNDS_US.get(index).copied().unwrap_or(BOUNDS_US[BOUNDS_US.len() - 1] * 2);
            return bound as f64 / 1000.0;
        }
    }
    0.0
}

/// The middleware: times each request and records its status.
pub async fn measure(
    metrics: Arc<RequestMetrics>,
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let response = next.call(request).await;
    let status = match &response {
        Ok(response) => response.status().as_u16(),
        Err(error) => error.as_response_error().status_code().as_u16(),
    };
    metrics.record(status, started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_buckets_and_errors_are_counted() {
        let metrics = RequestMetrics::default();
        for _ in 0..98 {
            metrics.record(200, Duration::from_micros(80));
        }
        metrics.record(404, Duration::from_millis(3));
        metrics.record(503, Duration::from_millis(40));
        let report = metrics.report();
        assert_eq!((report.requests, report.client_errors, report.server_errors), (100, 1, 1));
        assert_eq!(report.p50_ms, 0.1);
        assert_eq!(report.p99_ms, 5.0);
        assert!((report.error_rate - 0.01).abs() < 1e-9);
    }
}
