//! What the operators' dashboard reads: gifts over time, each gateway's donations by status,
//! the pending donations the reconciler is chasing, and the share links' funnel. Written once;
//! the `{…}` placeholders are filled with each dialect's expressions (see `Dialect`).

use serde::Serialize;

/// The width of a bar on the gifts-over-time chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeBucket {
    Minute,
    Hour,
    Day,
}

impl TimeBucket {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "minute" => Some(Self::Minute),
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }

    /// How many buckets a chart shows: two hours by the minute, a week by the hour, three
    /// months by the day.
    pub fn window(self) -> i64 {
        match self {
            Self::Minute => 120,
            Self::Hour => 168,
            Self::Day => 92,
        }
    }
}

/// Counted gifts of one campaign in one bucket (by when the donor gave: `created_at`, which
/// a later refund or dispute does not move).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct GiftCount {
    pub campaign: String,
    /// The bucket's start, in Unix seconds (UTC).
    pub start: i64,
    pub gifts: i64,
    /// What the gifts count now: amounts less refunds.
    pub amount_minor: i64,
}

/// One gateway's donations by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GatewayCounts {
    pub gateway: String,
    /// Every donation sent to it, whatever became of it.
    pub started: i64,
    pub pending: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Expired: the donor walked away (the reconciler gave up on them).
    pub abandoned: i64,
    pub refunded: i64,
    pub disputed: i64,
    pub charged_back: i64,
}

impl GatewayCounts {
    pub(super) fn from_rows(rows: Vec<(String, String, i64)>) -> Vec<Self> {
        let mut by_gateway: Vec<Self> = Vec::new();
        for (gateway, status, count) in rows {
            let position = match by_gateway.iter().position(|g| g.gateway == gateway) {
                Some(position) => position,
                None => {
                    by_gateway.push(Self { gateway, ..Self::default() });
                    by_gateway.len() - 1
                }
            };
            let counts = &mut by_gateway[position];
            counts.started += count;
            match status.as_str() {
                "pending" => counts.pending += count,
                "succeeded" => counts.succeeded += count,
                "failed" => counts.failed += count,
                "expired" => counts.abandoned += count,
                "refunded" => counts.refunded += count,
                "disputed" => counts.disputed += count,
                "charged_back" => counts.charged_back += count,
                _ => {}
            }
        }
        by_gateway
    }

    /// Donations the gateway took money for, whatever happened after.
    pub fn paid(&self) -> i64 {
        self.succeeded + self.refunded + self.disputed + self.charged_back
    }

    /// Declined or failed, as a share of the payments that got a verdict.
    pub fn decline_rate(&self) -> Option<f64> {
        let verdicts = self.paid() + self.failed;
        (verdicts > 0).then(|| self.failed as f64 / verdicts as f64)
    }
}

/// The donations still waiting for a gateway's verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PendingSummary {
    pub count: i64,
    /// How long the oldest has waited, in seconds.
    pub oldest_seconds: Option<i64>,
    /// How many the reconciler has asked about at least once.
    pub reconciling: i64,
}

/// One pending donation, as the reconciler sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PendingDonation {
    pub id: String,
    pub campaign: String,
    pub gateway: String,
    pub amount_minor: i64,
    pub currency: String,
    pub age_seconds: i64,
    /// Times the reconciler has asked the gateway.
    pub attempts: i64,
    /// When it asks next, in seconds from now (negative: due); `None` before the first ask.
    pub next_check_seconds: Option<i64>,
}

/// A share link's funnel: clicks, donations started with it, gifts counted, money raised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ReferralFunnel {
    pub code: String,
    pub campaign: String,
    pub clicks: i64,
    pub started: i64,
    /// Gifts counted now (succeeded or disputed), as the public stats count them.
    pub donations: i64,
    pub raised_minor: i64,
}

/// The dialect's expressions the report queries are written with.
pub(super) struct Dialect {
    /// A timestamp column (`{column}`) as Unix seconds, an integer.
    pub unix_seconds: &'static str,
    /// Unix seconds (`{value}`) as a timestamp comparable with the columns.
    pub timestamp: &'static str,
    /// Seconds from a timestamp column (`{column}`) to now; NULL for NULL.
    pub seconds_since: &'static str,
    /// Parameters are `$1` in the queries; SQLite wants `?1`.
    pub parameter: &'static str,
}

impl Dialect {
    pub(super) fn gifts_over_time(&self) -> String {
        self.fill(
            &GIFTS_OVER_TIME
                .replace("{start}", &self.unix_seconds.replace("{column}", "created_at"))
                .replace("{since}", &self.timestamp.replace("{value}", "$2")),
        )
    }

    pub(super) fn pending_summary(&self) -> String {
        self.fill(&PENDING_SUMMARY.replace("{age}", &self.seconds_since.replace("{column}", "created_at")))
    }

    pub(super) fn oldest_pending(&self) -> String {
        self.fill(
            &OLDEST_PENDING
                .replace("{age}", &self.seconds_since.replace("{column}", "created_at"))
                .replace("{since_lease}", &self.seconds_since.replace("{column}", "reconcile_after")),
        )
    }

    pub(super) fn referral_funnel(&self) -> String {
        self.fill(REFERRAL_FUNNEL)
    }

    fn fill(&self, query: &str) -> String {
        query.replace('$', self.parameter)
    }
}

/// `$1` is the bucket's width in seconds, `$2` the window's start in Unix seconds.
const GIFTS_OVER_TIME: &str = "SELECT campaign, {start} / $1 * $1 AS start, CAST(COUNT(*) AS BIGINT) AS gifts, \
     CAST(SUM(amount_minor - refunded_minor) AS BIGINT) AS amount_minor FROM donations \
     WHERE status IN ('succeeded', 'disputed') AND created_at >= {since} \
     GROUP BY campaign, start ORDER BY campaign, start";

pub(super) const GATEWAY_COUNTS: &str =
    "SELECT gateway, status, CAST(COUNT(*) AS BIGINT) FROM donations GROUP BY gateway, status ORDER BY gateway, status";

const PENDING_SUMMARY: &str = "SELECT CAST(COUNT(*) AS BIGINT) AS count, \
     CAST(MAX({age}) AS BIGINT) AS oldest_seconds, \
     CAST(COALESCE(SUM(CASE WHEN reconcile_attempts > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS reconciling \
     FROM donations WHERE status = 'pending'";

/// The longest-waiting first; `$1` is the limit.
const OLDEST_PENDING: &str = "SELECT id, campaign, gateway, amount_minor, currency, \
     CAST({age} AS BIGINT) AS age_seconds, CAST(reconcile_attempts AS BIGINT) AS attempts, \
     CAST(-({since_lease}) AS BIGINT) AS next_check_seconds \
     FROM donations WHERE status = 'pending' ORDER BY created_at, id LIMIT $1";

/// Every share link's funnel, best first. Counted money as in the public stats: succeeded and
/// disputed gifts, less refunds. `$1` is the limit.
const REFERRAL_FUNNEL: &str = "SELECT r.code, r.campaign, CAST(r.clicks AS BIGINT) AS clicks, \
     CAST(COUNT(d.id) AS BIGINT) AS started, \
     CAST(COALESCE(SUM(CASE WHEN d.status IN ('succeeded', 'disputed') THEN 1 ELSE 0 END), 0) AS BIGINT) AS donations, \
     CAST(COALESCE(SUM(CASE WHEN d.status IN ('succeeded', 'disputed') THEN d.amount_minor - d.refunded_minor ELSE 0 END), 0) AS BIGINT) AS raised_minor \
     FROM referral_codes r LEFT JOIN donations d ON d.referral_code = r.code \
     GROUP BY r.code, r.campaign, r.clicks ORDER BY raised_minor DESC, r.clicks DESC, r.code LIMIT $1";
