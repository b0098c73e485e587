//! The in-memory totals snapshot. Reads come from here and never wait on the database; a
//! background task refreshes it from the database every interval (so several API nodes converge)
//! and at once when this node applies a payment. When the database has not answered for a few
//! intervals the same totals are served marked stale, with the time they are from.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use arc_swap::ArcSwap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::db::{CampaignTotals, RecentGift, Store};

/// Gifts in each campaign's recent-gifts feed.
const RECENT_GIFTS: i64 = 5;

/// How long the totals may go without a successful refresh before they are served as stale:
/// a few missed refreshes, and two seconds more so that a slow refresh on a busy box is not
/// taken for an outage.
pub fn stale_after(refresh: Duration) -> Duration {
    refresh * 3 + Duration::from_secs(2)
}

/// One way the totals route answers for a campaign: the JSON body and its ETag, made once.
#[derive(Debug, Clone)]
pub struct Representation {
    /// `Bytes` so each response shares the buffer instead of copying it.
    pub body: Bytes,
    /// A header value, so a response clones it instead of parsing the tag again.
    pub etag: HeaderValue,
}

/// One campaign's totals, with the JSON body and ETag computed once per change.
#[derive(Debug, Clone)]
pub struct TotalsEntry {
    pub totals: CampaignTotals,
    pub fresh: Representation,
    /// The feed in `fresh`, kept to make the stale body from.
    recent: Vec<RecentGift>,
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
    /// True when the database has not answered for a while: these are the last totals known.
    stale: bool,
    /// When stale: when the database last answered (RFC 3339). Left out of fresh bodies,
    /// which would otherwise change, and lose their ETag, at every refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<&'a str>,
}

impl TotalsEntry {
    fn new(totals: CampaignTotals, recent: Vec<RecentGift>) -> Self {
        let fresh = represent(&totals, &recent, None);
        Self { totals, fresh, recent }
    }
}

fn represent(totals: &CampaignTotals, recent: &[RecentGift], as_of: Option<&str>) -> Representation {
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
        stale: as_of.is_some(),
        as_of,
    })
    .unwrap_or_default();
    let digest = Sha256::digest(&body);
    // Hex digits and quotes only, always a valid header value.
    let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..8])))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    Representation { body: Bytes::from(body), etag }
}

#[derive(Debug, Default)]
pub struct Snapshot {
    pub campaigns: HashMap<String, Arc<TotalsEntry>>,
    /// When the database last answered; `None` before the first refresh.
    pub refreshed_at: Option<Instant>,
    /// The same moment by the wall clock, for `as_of`.
    refreshed_wall: Option<SystemTime>,
    /// Each campaign's stale representation, made the first time this snapshot is served
    /// stale; a successful refresh brings a new snapshot without them.
    stale: OnceLock<HashMap<String, Representation>>,
}

impl Snapshot {
    fn stale_representations(&self) -> HashMap<String, Representation> {
        let as_of = self
            .refreshed_wall
            .and_then(|wall| wall.duration_since(SystemTime::UNIX_EPOCH).ok())
            .and_then(|since| i64::try_from(since.as_secs()).ok())
            .and_then(|seconds| time::OffsetDateTime::from_unix_timestamp(seconds).ok())
            .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        self.campaigns
            .iter()
            .map(|(slug, entry)| (slug.clone(), represent(&entry.totals, &entry.recent, Some(&as_of))))
            .collect()
    }
}

/// Shared handle: cheap to clone, lock-free to read.
#[derive(Clone)]
pub struct TotalsCache {
    snapshot: Arc<ArcSwap<Snapshot>>,
    changed: Arc<Notify>,
    /// How often the refresher reloads.
    refresh: Duration,
    stale_after: Duration,
}

impl TotalsCache {
    /// Loads the first snapshot, so the server never answers with empty totals; `refresh` is
    /// how often the refresher will reload it.
    pub async fn load(store: &dyn Store, refresh: Duration) -> Result<Self, crate::db::DbError> {
        let cache = Self::empty(refresh);
        cache.refresh(store).await?;
        Ok(cache)
    }

    fn empty(refresh: Duration) -> Self {
        Self {
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            changed: Arc::new(Notify::new()),
            refresh,
            stale_after: stale_after(refresh),
        }
    }

    pub fn get(&self, slug: &str) -> Option<Arc<TotalsEntry>> {
        self.snapshot.load().campaigns.get(slug).cloned()
    }

    /// What the totals route serves for `slug`: the fresh representation, or the stale one once
    /// the database has not answered for `stale_after`. Two reference counts and a clock
    /// read, no allocation; only the first stale read of a snapshot makes the stale bodies.
    pub fn representation(&self, slug: &str) -> Option<Representation> {
        let snapshot = self.snapshot.load();
        let entry = snapshot.campaigns.get(slug)?;
        if !is_stale(snapshot.refreshed_at, self.stale_after) {
            return Some(entry.fresh.clone());
        }
        snapshot.stale.get_or_init(|| snapshot.stale_representations()).get(slug).cloned()
    }

    /// True when the database has not answered a refresh for `stale_after` (or ever).
    pub fn is_stale(&self) -> bool {
        is_stale(self.snapshot.load().refreshed_at, self.stale_after)
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
                        Arc::new(TotalsEntry::new(totals, feed))
                    }
                };
                (entry.totals.slug.clone(), entry)
            })
            .collect();
        self.snapshot.store(Arc::new(Snapshot {
            campaigns,
            refreshed_at: Some(Instant::now()),
            refreshed_wall: Some(SystemTime::now()),
            stale: OnceLock::new(),
        }));
        Ok(())
    }

    /// Refreshes every interval, or sooner when told of a change, until the task is dropped.
    /// After a failure it goes on trying at the same pace, so the totals are fresh again
    /// within an interval of the database's return.
    pub fn spawn_refresher(&self, store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(cache.refresh) => {}
                    () = cache.changed.notified() => {}
                }
                if let Err(error) = cache.refresh(store.as_ref()).await {
                    tracing::warn!(%error, "totals refresh failed; serving the last snapshot");
                }
            }
        })
    }
}

fn is_stale(refreshed_at: Option<Instant>, stale_after: Duration) -> bool {
    refreshed_at.is_none_or(|at| at.elapsed() > stale_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_refreshed(ago: Duration) -> TotalsCache {
        let cache = TotalsCache::empty(Duration::from_secs(1));
        let totals = CampaignTotals {
            slug: "water".into(),
            currency: "USD".into(),
            goal_minor: 100_000,
            raised_minor: 2_500,
            donors: 1,
            version: 3,
        };
        let entry = Arc::new(TotalsEntry::new(totals, Vec::new()));
        let refreshed_at = Instant::now().checked_sub(ago).expect("the clock goes back that far");
        cache.snapshot.store(Arc::new(Snapshot {
            campaigns: HashMap::from([("water".to_string(), entry)]),
            refreshed_at: Some(refreshed_at),
            refreshed_wall: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            stale: OnceLock::new(),
        }));
        cache
    }

    fn json(representation: &Representation) -> serde_json::Value {
        serde_json::from_slice(&representation.body).unwrap()
    }

    #[test]
    fn recent_totals_are_served_fresh_without_a_time() {
        let cache = cache_refreshed(Duration::ZERO);
        let served = cache.representation("water").unwrap();
        let body = json(&served);
        assert_eq!((body["stale"].as_bool(), body.get("as_of")), (Some(false), None));
        assert_eq!(body["raised_minor"], 2_500);
        assert!(!cache.is_stale());
        assert!(cache.representation("wells").is_none());
    }

    #[test]
    fn totals_the_database_has_not_confirmed_for_a_while_are_served_stale_under_another_tag() {
        let cache = cache_refreshed(stale_after(Duration::from_secs(1)) + Duration::from_secs(1));
        let served = cache.representation("water").unwrap();
        let body = json(&served);
        assert_eq!(body["stale"], true);
        assert_eq!(body["as_of"], "2023-11-14T22:13:20Z");
        assert_eq!(body["raised_minor"], 2_500, "the last totals known, unchanged");
        assert!(cache.is_stale());
        let fresh = cache.get("water").unwrap().fresh.clone();
        assert_ne!(served.etag, fresh.etag, "a poller holding the fresh tag learns they went stale");
        let again = cache.representation("water").unwrap();
        assert_eq!((again.etag, again.body.as_ptr()), (served.etag, served.body.as_ptr()), "made once");
    }
}
