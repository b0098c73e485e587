//! Referral click counting that stays cheap when a link goes viral: clicks are counted in
//! memory, a visitor's repeated clicks on one code within a window count once, and a
//! background task writes the counts in one batch per interval (and once more at shutdown).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::{DbError, Store};
use crate::domain::ReferralCode;
use crate::visitors::VisitorKey;

/// Distinct codes held between flushes at most; past that, new codes wait for the next batch
/// rather than letting a flood of made-up codes grow memory without bound.
const MAX_PENDING_CODES: usize = 100_000;

pub struct ClickCounter {
    pending: Mutex<HashMap<ReferralCode, u64>>,
    seen: Mutex<HashMap<VisitorKey, Instant>>,
    dedupe_window: Duration,
}

impl ClickCounter {
    pub fn new(dedupe_window: Duration) -> Self {
        Self { pending: Mutex::default(), seen: Mutex::default(), dedupe_window }
    }

    /// Counts a click unless this visitor clicked this code within the window. `visitor` must
    /// already cover the code (see `VisitorKeys::key`). Returns whether it counted.
    pub fn record(&self, code: &ReferralCode, visitor: VisitorKey) -> bool {
        let now = Instant::now();
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            match seen.get(&visitor) {
                Some(at) if now.duration_since(*at) < self.dedupe_window => return false,
                _ => {
                    seen.insert(visitor, now);
                }
            }
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= MAX_PENDING_CODES && !pending.contains_key(code) {
            return false;
        }
        *pending.entry(code.clone()).or_default() += 1;
        true
    }

    /// Writes pending counts in one transaction; on failure they are kept for the next try,
    /// so a database outage delays counts but loses none.
    pub async fn flush(&self, store: &dyn Store) -> Result<usize, DbError> {
        let batch: Vec<(ReferralCode, u64)> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect();
        if batch.is_empty() {
            return Ok(0);
        }
        if let Err(error) = store.add_referral_clicks(&batch).await {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (code, count) in batch {
                *pending.entry(code).or_default() += count;
            }
            return Err(error);
        }
        let window = self.dedupe_window;
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, at| at.elapsed() < window);
        Ok(batch.len())
    }

    /// Writes the counts every `interval` until `stop` changes (the last counts are written by
    /// whoever stops the server, after the last request).
    pub fn spawn_flusher(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let counter = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => break,
                }
                if let Err(error) = counter.flush(store.as_ref()).await {
                    tracing::warn!(%error, "referral clicks not written yet; will retry");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visitors_repeated_clicks_count_once_within_the_window() {
        let counter = ClickCounter::new(Duration::from_secs(60));
        let code = ReferralCode::parse("amina").unwrap();
        assert!(counter.record(&code, [1; 16]));
        assert!(!counter.record(&code, [1; 16]));
        assert!(counter.record(&code, [2; 16]));
        assert_eq!(counter.pending.lock().unwrap()[&code], 2);
    }
}
