//! A small in-memory rate limit per visitor: at most `limit` actions per `window`. Enough to
//! stop a script creating share codes in bulk on one node; not a distributed limiter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::visitors::VisitorKey;

pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<VisitorKey, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window, windows: Mutex::default() }
    }

    /// True if the visitor may act now (and counts the action).
    pub fn allow(&self, visitor: VisitorKey) -> bool {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let (start, count) = windows.entry(visitor).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        *count += 1;
        *count <= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_applies_per_visitor() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.allow([1; 16]));
        assert!(limiter.allow([1; 16]));
        assert!(!limiter.allow([1; 16]));
        assert!(limiter.allow([2; 16]));
    }
}
