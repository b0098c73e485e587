//! The in-memory totals snapshot. Reads come from here and never wait on the database; a
//! background task refreshes it from the database every interval (so several API nodes converge)
//! and at once when this node applies a payment.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::db::{CampaignTotals, RecentGift, Store};

/// Gifts in each campaign's recent-gifts feed.
const RECENT_GIFTS: i64 = 5;

/// One campaign's totals, with the JSON body and ETag computed once per change.
#[derive(Debug, Clone)]
pub struct TotalsEntry {
    pub totals: CampaignTotals,
    /// `Bytes` so each response shares the buffer instead of copying it.
    pub body: actix_web::web::Bytes,
    pub etag: String,
}

#[derive(Debug, Serialize)]
struct TotalsBody<'a> {
    campaign: &'a str,
    raised_minor: i64,
    donors: i64,
    goal_minor: i64,
    currency: &'a str,
    exponent: u8,
    version: i64,
    /// The latest gifts, newest first; `name` is null for anonymous or unnamed donors.
    recent: &'a [RecentGift],
}

impl TotalsEntry {
    fn new(totals: CampaignTotals, recent: &[RecentGift]) -> Self {
        let exponent = campaigns::Currency::parse(&totals.currency).map(|c| c.exponent()).unwrap_or(2);
        let body = serde_json::to_vec(&TotalsBody {
            campaign: &totals.slug,
            raised_minor: totals.raised_minor,
            donors: totals.donors,
            goal_minor: totals.goal_minor,
            currency: &totals.currency,
            exponent,
            version: totals.version,
            recent,
        })
        .unwrap_or_default();
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", hex::encode(&digest[..8]));
        Self { totals, body: actix_web::web::Bytes::from(body), etag }
    }
}

#[derive(Debug, Default)]
pub struct Snapshot {
    pub campaigns: HashMap<String, Arc<TotalsEntry>>,
    /// When the database last answered; `None` before the first refresh.
    pub refreshed_at: Option<Instant>,
}

/// Shared handle: cheap to clone, lock-free to read.
#[derive(Clone)]
pub struct TotalsCache {
    snapshot: Arc<ArcSwap<Snapshot>>,
    changed: Arc<Notify>,
}

impl TotalsCache {
    /// Loads the first snapshot, so the server never answers with empty totals.
    pub async fn load(store: &dyn Store) -> Result<Self, crate::db::DbError> {
        let cache =
            Self { snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::default())), changed: Arc::new(Notify::new()) };
        cache.refresh(store).await?;
        Ok(cache)
    }

    pub fn get(&self, slug: &str) -> Option<Arc<TotalsEntry>> {
        self.snapshot.load().campaigns.get(slug).cloned()
    }

    pub fn all(&self) -> Vec<CampaignTotals> {
        let snapshot = self.snapshot.load();
        let mut all: Vec<CampaignTotals> = snapshot.campaigns.values().map(|e| e.totals.clone()).collect();
        all.sort_by(|a, b| a.slug.cmp(&b.slug));
        all
    }

    /// Time since the database last answered a refresh.
    pub fn age(&self) -> Option<Duration> {
        self.snapshot.load().refreshed_at.map(|t| t.elapsed())
    }

    /// Asks the refresher to reload now (after this node changed a total).
    pub fn mark_changed(&self) {
        self.changed.notify_one();
    }

    async fn refresh(&self, store: &dyn Store) -> Result<(), crate::db::DbError> {
        let rows = store.campaign_totals().await?;
        let current = self.snapshot.load();
        let unchanged =
            |totals: &CampaignTotals| current.campaigns.get(&totals.slug).is_some_and(|e| &e.totals == totals);
        // The feed changes only when a total does (a gift succeeded or was refunded).
        let recent = if rows.iter().all(unchanged) { Vec::new() } else { store.recent_gifts(RECENT_GIFTS).await? };
        let campaigns = rows
            .into_iter()
            .map(|totals| {
                let entry = match current.campaigns.get(&totals.slug) {
                    Some(entry) if entry.totals == totals => entry.clone(),
                    _ => {
                        let feed: Vec<RecentGift> =
                            recent.iter().filter(|g| g.campaign == totals.slug).cloned().collect();
                        Arc::new(TotalsEntry::new(totals, &feed))
                    }
                };
                (entry.totals.slug.clone(), entry)
            })
            .collect();
        self.snapshot.store(Arc::new(Snapshot { campaigns, refreshed_at: Some(Instant::now()) }));
        Ok(())
    }

    /// Refreshes every `interval`, or sooner when told of a change, until the task is dropped.
    pub fn spawn_refresher(&self, store: Arc<dyn Store>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = cache.changed.notified() => {}
                }
                if let Err(error) = cache.refresh(store.as_ref()).await {
                    tracing::warn!(%error, "totals refresh failed; serving the last snapshot");
                }
            }
        })
    }
}
