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
        self.check(visitor).is_ok()
    }

    /// Counts the action if the visitor may act now; otherwise says how long until its window
    /// ends (at least a second, so a `Retry-After` built from it is never 0).
    pub fn check(&self, visitor: VisitorKey) -> Result<(), Duration> {
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
        *count = count.saturating_add(1);
        if *count <= self.limit {
            Ok(())
        } else {
            Err((self.window.saturating_sub(now.duration_since(*start))).max(Duration::from_secs(1)))
        }
    }

    /// Whole seconds to wait, rounded up, for a `Retry-After` header.
    pub fn retry_after_seconds(wait: Duration) -> u64 {
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
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

    #[test]
    fn a_refused_visitor_is_told_how_long_to_wait() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        assert_eq!(limiter.check([1; 16]), Ok(()));
        let wait = limiter.check([1; 16]).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(1), "{wait:?}");
        assert_eq!(RateLimiter::retry_after_seconds(Duration::from_millis(59_001)), 60);
        assert_eq!(RateLimiter::retry_after_seconds(Duration::from_secs(3)), 3);
    }

    #[test]
    fn a_new_window_lets_the_visitor_act_again() {
        let limiter = RateLimiter::new(1, Duration::ZERO);
        assert!(limiter.allow([1; 16]));
        assert!(limiter.allow([1; 16]));
    }
}
