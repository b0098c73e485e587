//! Storage: one `Store` trait with a SQLite and a PostgreSQL implementation. Every query lives
//! in this module; handlers hold no SQL. Both backends decide transitions with the same domain
//! rules (`decide`), so they can only differ in SQL dialect.

pub mod backup;
mod group_commit;
mod postgres;
mod reports;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use campaigns::Campaigns;

use crate::domain::{
    AmountMinor, CampaignSlug, Currency, DisplayName, DonationId, DonationStatus, GatewayEventId, IdempotencyKey,
    Language, Outcome, Payment, ReferralCode, Transition,
};

pub use postgres::PostgresStore;
pub use reports::{GatewayCounts, GiftCount, PendingDonation, PendingSummary, ReferralFunnel, TimeBucket};
pub use sqlite::SqliteStore;

/// A donation about to be stored as pending.
#[derive(Debug, Clone)]
pub struct NewDonation {
    pub id: DonationId,
    pub campaign: CampaignSlug,
    pub amount: AmountMinor,
    pub currency: Currency,
    pub lang: Language,
    pub gateway: String,
    pub idempotency_key: Option<IdempotencyKey>,
    pub display_name: Option<DisplayName>,
    pub anonymous: bool,
    /// The share link the donor came through; stored only if it exists for this campaign.
    pub referral: Option<ReferralCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Donation {
    pub id: DonationId,
    pub campaign: CampaignSlug,
    pub amount: AmountMinor,
    pub currency: Currency,
    pub status: DonationStatus,
    /// Refunded so far, in minor units.
    pub refunded: i64,
    pub lang: Language,
    pub gateway: String,
    pub checkout_url: Option<String>,
    pub display_name: Option<String>,
    pub anonymous: bool,
}

pub enum Inserted {
    New,
    /// A donation with the same idempotency key exists already.
    Existing(Donation),
}

/// Where a donation was sent to pay.
#[derive(Debug, Clone, Copy)]
pub struct CheckoutRecord<'a> {
    pub gateway: &'a str,
    pub gateway_reference: &'a str,
    pub checkout_url: &'a str,
}

/// A verified statement from a gateway about one donation's payment.
#[derive(Debug, Clone)]
pub struct PaymentEvent {
    pub gateway: String,
    pub event_id: GatewayEventId,
    pub donation_id: DonationId,
    pub outcome: Outcome,
    pub amount: AmountMinor,
    pub currency: Currency,
    pub gateway_reference: Option<String>,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventResult {
    /// The donation moved to a new status (and the total with it, where money moved).
    Applied(Donation),
    /// Valid, but the donation was already there: nothing changed.
    Unchanged(Donation),
    /// This event id was seen before: nothing changed.
    Duplicate,
    /// Stored for review; nothing changed.
    Refused(Donation, RefusalReason),
    UnknownDonation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    AmountMismatch,
    /// The event came from another gateway than the one the donation was started on.
    GatewayMismatch,
    NotAllowedFromStatus,
}

/// A pending donation the reconciler has claimed for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDonation {
    pub id: DonationId,
    pub amount: AmountMinor,
    pub currency: Currency,
    pub gateway: String,
    pub gateway_reference: Option<String>,
    /// How long ago it was created.
    pub age: std::time::Duration,
    /// How many times it has been claimed, this time included.
    pub attempts: i64,
}

/// What the reconciler asks for: pending donations at least `min_age` old whose lease has run
/// out, each leased so no other process takes it meanwhile: for `lease` after the first claim,
/// doubling with every claim after that, at most an hour (a gateway that never answers is not
/// asked every few seconds).
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest {
    pub min_age: std::time::Duration,
    pub lease: std::time::Duration,
    pub limit: i64,
}

/// An event kept for review: it changed nothing, and somebody should look at why.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct ReviewEvent {
    pub gateway: String,
    pub event_id: String,
    pub donation_id: String,
    pub outcome: String,
    pub result: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub received_at: String,
}

/// A share code a supporter asks for.
#[derive(Debug, Clone)]
pub struct NewReferralCode {
    pub code: ReferralCode,
    pub campaign: CampaignSlug,
    pub display_name: Option<DisplayName>,
    /// Whether the supporter agreed to appear on the campaign's public leaderboard.
    pub leaderboard: bool,
}

/// What a share link has done so far.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct ReferralStats {
    pub code: String,
    pub campaign: String,
    pub clicks: i64,
    /// Succeeded donations made through the link (refunded ones no longer count).
    pub donations: i64,
    pub raised_minor: i64,
}

/// A gift as the public may see it: no name unless the donor gave one and did not ask to be
/// anonymous (decided in SQL, so a hidden name never leaves the database).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct RecentGift {
    #[serde(skip)]
    pub campaign: String,
    pub name: Option<String>,
    pub amount_minor: i64,
    /// When it succeeded, RFC 3339 in UTC.
    pub at: String,
}

/// One opted-in share link on a campaign's leaderboard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct LeaderboardEntry {
    pub code: String,
    pub name: Option<String>,
    pub donations: i64,
    pub raised_minor: i64,
}

/// A row of the finance export.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct DonationRecord {
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub campaign: String,
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub gateway: String,
    pub gateway_reference: Option<String>,
    pub display_name: Option<String>,
    pub anonymous: bool,
    pub referral_code: Option<String>,
    pub lang: String,
}

/// A gateway event as recorded, with what applying it did.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredEvent {
    pub gateway: String,
    pub event_id: String,
    pub outcome: String,
    pub result: String,
}

/// A campaign's running totals as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignTotals {
    pub slug: String,
    pub currency: String,
    pub goal_minor: i64,
    pub raised_minor: i64,
    pub donors: i64,
    pub version: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL `{0}`: use sqlite:PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(
        "campaign `{campaign}` has donations in {stored}, but the config now says {configured}; \
         its total cannot change currency (start a new campaign instead)"
    )]
    CurrencyChanged { campaign: String, stored: String, configured: String },
    /// The database could not be reached for a write that shared its attempt with others
    /// (group commit): each caller gets its own error, naming the one that happened.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl DbError {
    /// True when the database could not be reached or could not answer in time, as opposed
    /// to a query that failed: worth a 503 and a retry, not a 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Sqlx(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed,
            ) => true,
            Self::Sqlx(sqlx::Error::Database(error)) => error.code().is_some_and(|code| is_unavailable_state(&code)),
            _ => false,
        }
    }
}

/// PostgreSQL's SQLSTATEs for a server that is going away, starting up or too busy, as a
/// stop or a failover shows them to connections that were open: class 08 (connection
/// exception), 57P01–57P03 (shutdown, crash, cannot connect now), 57014 (the statement
/// timeout cancelled the query), 53300 (too many connections).
fn is_unavailable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "57014" | "53300")
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Makes the campaigns table match the config (new campaigns, changed goals).
    async fn sync_campaigns(&self, campaigns: &Campaigns) -> Result<(), DbError>;
    /// Stores a pending donation; durable when this returns.
    async fn insert_donation(&self, donation: &NewDonation) -> Result<Inserted, DbError>;
    /// Records the gateway session a donation was sent to (the gateway may differ from the one
    /// first chosen when it failed over).
    async fn set_checkout(&self, id: &DonationId, checkout: &CheckoutRecord<'_>) -> Result<(), DbError>;
    async fn donation(&self, id: &DonationId) -> Result<Option<Donation>, DbError>;
    /// Applies a gateway event exactly once: the event record, the status change and the
    /// campaign total change commit together or not at all.
    async fn apply_event(&self, event: &PaymentEvent) -> Result<EventResult, DbError>;
    async fn campaign_totals(&self) -> Result<Vec<CampaignTotals>, DbError>;
    /// Stores a new share code; `false` when the code is taken already.
    async fn create_referral_code(&self, code: &NewReferralCode) -> Result<bool, DbError>;
    /// Adds batched click counts in one transaction; unknown codes are skipped.
    async fn add_referral_clicks(&self, clicks: &[(ReferralCode, u64)]) -> Result<(), DbError>;
    async fn referral_stats(&self, code: &ReferralCode) -> Result<Option<ReferralStats>, DbError>;
    /// Records a gift received outside the gateways (cheque, transfer) as succeeded, with its
    /// campaign total, in one transaction. A repeated idempotency key returns the first gift
    /// and counts nothing.
    async fn record_offline_gift(&self, gift: &NewDonation) -> Result<Donation, DbError>;
    /// Donations in id order after `after`, at most `limit`: the export reads them page by page.
    async fn donations_after(&self, after: Option<&str>, limit: i64) -> Result<Vec<DonationRecord>, DbError>;
    /// The latest `per_campaign` succeeded gifts of each campaign, newest first.
    async fn recent_gifts(&self, per_campaign: i64) -> Result<Vec<RecentGift>, DbError>;
    /// Opted-in share links of a campaign by amount raised, at most `limit`.
    async fn leaderboard(&self, campaign: &CampaignSlug, limit: i64) -> Result<Vec<LeaderboardEntry>, DbError>;
    /// Every event received about a donation, oldest first, for review and tests.
    async fn payment_events(&self, donation: &DonationId) -> Result<Vec<StoredEvent>, DbError>;
    /// Leases pending donations to this process's reconciler (see `ClaimRequest`).
    async fn claim_pending(&self, request: ClaimRequest) -> Result<Vec<ClaimedDonation>, DbError>;
    /// The newest events that changed nothing for a reason worth a look, at most `limit`.
    async fn events_for_review(&self, limit: i64) -> Result<Vec<ReviewEvent>, DbError>;
    /// Counted gifts per campaign and `bucket` given since `since_unix`, oldest first; buckets
    /// without gifts are left out.
    async fn gifts_over_time(&self, bucket: TimeBucket, since_unix: i64) -> Result<Vec<GiftCount>, DbError>;
    /// Each gateway's donations by status.
    async fn gateway_counts(&self) -> Result<Vec<GatewayCounts>, DbError>;
    async fn pending_summary(&self) -> Result<PendingSummary, DbError>;
    /// The pending donations that have waited longest, at most `limit`.
    async fn oldest_pending(&self, limit: i64) -> Result<Vec<PendingDonation>, DbError>;
    /// Share links by amount raised, at most `limit`.
    async fn referral_funnel(&self, limit: i64) -> Result<Vec<ReferralFunnel>, DbError>;
    async fn ping(&self) -> Result<(), DbError>;
}

/// Opens the database a URL names (`sqlite:path`, `postgres://…`) and applies its migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, DbError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Err(DbError::UnsupportedUrl(url.split('@').next_back().unwrap_or_default().to_string()))
    }
}

/// Refuses a config change that would relabel money already counted in another currency.
fn check_currency(campaign: &campaigns::Campaign, stored: Option<(String, bool)>) -> Result<(), DbError> {
    match stored {
        Some((currency, has_donations)) if has_donations && currency != campaign.currency.code() => {
            Err(DbError::CurrencyChanged {
                campaign: campaign.slug.clone(),
                stored: currency,
                configured: campaign.currency.code().to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// What an event does to a stored donation; the same rules for every backend.
enum Decision {
    Move { to: DonationStatus, refunded: i64, raised_delta: i64, donors_delta: i64 },
    Unchanged,
    Refuse(RefusalReason),
}

fn decide(donation: &Donation, event: &PaymentEvent) -> Decision {
    if donation.gateway != event.gateway {
        return Decision::Refuse(RefusalReason::GatewayMismatch);
    }
    if donation.amount != event.amount || donation.currency != event.currency {
        return Decision::Refuse(RefusalReason::AmountMismatch);
    }
    let payment = Payment { status: donation.status, amount: donation.amount.get(), refunded: donation.refunded };
    match payment.apply(event.outcome) {
        Transition::Move { to, refunded, raised_delta, donors_delta } => {
            Decision::Move { to, refunded, raised_delta, donors_delta }
        }
        Transition::Unchanged => Decision::Unchanged,
        Transition::Refused => Decision::Refuse(RefusalReason::NotAllowedFromStatus),
    }
}

/// The refund running total an event reports, for the event log.
fn refunded_by(event: &PaymentEvent) -> Option<i64> {
    match event.outcome {
        Outcome::Refunded { total_refunded } => Some(total_refunded),
        _ => None,
    }
}

/// Results of events kept for review (see `RefusalReason::as_str` and `apply_event`).
const REVIEW_RESULTS: &str = "('unknown donation', 'refused: amount or currency mismatch', \
     'refused: from another gateway', 'refused: not allowed from status')";

impl RefusalReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::AmountMismatch => "refused: amount or currency mismatch",
            Self::GatewayMismatch => "refused: from another gateway",
            Self::NotAllowedFromStatus => "refused: not allowed from status",
        }
    }
}

/// A `donations` row as both backends read it.
#[derive(sqlx::FromRow)]
struct DonationRow {
    id: String,
    campaign: String,
    amount_minor: i64,
    currency: String,
    status: String,
    refunded_minor: i64,
    lang: String,
    gateway: String,
    checkout_url: Option<String>,
    display_name: Option<String>,
    anonymous: bool,
}

impl TryFrom<DonationRow> for Donation {
    type Error = DbError;

    fn try_from(row: DonationRow) -> Result<Self, DbError> {
        let corrupt = |what: &str| DbError::Corrupt(format!("donation {}: {what}", row.id));
        Ok(Donation {
            id: DonationId::parse(&row.id).map_err(|_| corrupt("id"))?,
            amount: AmountMinor::parse(row.amount_minor).map_err(|_| corrupt("amount"))?,
            status: DonationStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
            currency: Currency::parse(&row.currency).map_err(|_| corrupt("currency"))?,
            refunded: row.refunded_minor,
            campaign: CampaignSlug::stored(row.campaign),
            lang: Language::stored(row.lang),
            gateway: row.gateway,
            checkout_url: row.checkout_url,
            display_name: row.display_name,
            anonymous: row.anonymous,
        })
    }
}

#[derive(sqlx::FromRow)]
struct TotalsRow {
    slug: String,
    currency: String,
    goal_minor: i64,
    raised_minor: i64,
    donors: i64,
    version: i64,
}

impl From<TotalsRow> for CampaignTotals {
    fn from(row: TotalsRow) -> Self {
        Self {
            slug: row.slug,
            currency: row.currency,
            goal_minor: row.goal_minor,
            raised_minor: row.raised_minor,
            donors: row.donors,
            version: row.version,
        }
    }
}

/// Clicks and succeeded donations of one code; `CAST` keeps PostgreSQL's `SUM` an integer.
const REFERRAL_STATS: &str = "SELECT r.code, r.campaign, r.clicks, \
     CAST(COALESCE(SUM(CASE WHEN d.status IN ('succeeded', 'disputed') THEN 1 ELSE 0 END), 0) AS BIGINT) AS donations, \
     CAST(COALESCE(SUM(CASE WHEN d.status IN ('succeeded', 'disputed') THEN d.amount_minor - d.refunded_minor ELSE 0 END), 0) AS BIGINT) AS raised_minor \
     FROM referral_codes r LEFT JOIN donations d ON d.referral_code = r.code \
     WHERE r.code = $1 GROUP BY r.code, r.campaign, r.clicks";

/// `{at}` is the dialect's expression for `updated_at` as RFC 3339 text.
const RECENT_GIFTS: &str = "SELECT campaign, name, amount_minor, at FROM ( \
     SELECT campaign, CASE WHEN anonymous THEN NULL ELSE display_name END AS name, amount_minor, {at} AS at, \
     ROW_NUMBER() OVER (PARTITION BY campaign ORDER BY updated_at DESC, id) AS position \
     FROM donations WHERE status = 'succeeded') AS recent \
     WHERE position <= $1 ORDER BY campaign, position";

const LEADERBOARD: &str = "SELECT r.code, r.display_name AS name, \
     CAST(COUNT(d.id) AS BIGINT) AS donations, \
     CAST(COALESCE(SUM(d.amount_minor - d.refunded_minor), 0) AS BIGINT) AS raised_minor \
     FROM referral_codes r JOIN donations d ON d.referral_code = r.code AND d.status IN ('succeeded', 'disputed') \
     WHERE r.campaign = $1 AND r.leaderboard \
     GROUP BY r.code, r.display_name ORDER BY raised_minor DESC, r.code LIMIT $2";

/// `{ts}` is the dialect's expression turning a timestamp column into RFC 3339 text.
const DONATION_RECORDS: &str = "SELECT id, {ts(created_at)} AS created_at, {ts(updated_at)} AS updated_at, campaign, status, \
     amount_minor, currency, gateway, gateway_reference, display_name, anonymous, referral_code, lang \
     FROM donations WHERE id > $1 ORDER BY id LIMIT $2";

const DONATION_COLUMNS: &str = "id, campaign, amount_minor, currency, status, refunded_minor, lang, gateway, checkout_url, display_name, anonymous";

/// A claimed donation as both backends return it.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: String,
    amount_minor: i64,
    currency: String,
    gateway: String,
    gateway_reference: Option<String>,
    age_seconds: i64,
    reconcile_attempts: i64,
}

impl TryFrom<ClaimedRow> for ClaimedDonation {
    type Error = DbError;

    fn try_from(row: ClaimedRow) -> Result<Self, DbError> {
        let corrupt = |what: &str| DbError::Corrupt(format!("donation {}: {what}", row.id));
        Ok(ClaimedDonation {
            id: DonationId::parse(&row.id).map_err(|_| corrupt("id"))?,
            amount: AmountMinor::parse(row.amount_minor).map_err(|_| corrupt("amount"))?,
            currency: Currency::parse(&row.currency).map_err(|_| corrupt("currency"))?,
            gateway: row.gateway,
            gateway_reference: row.gateway_reference,
            age: std::time::Duration::from_secs(u64::try_from(row.age_seconds).unwrap_or(0)),
            attempts: row.reconcile_attempts,
        })
    }
}
