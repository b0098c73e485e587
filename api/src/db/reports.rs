//! What the operators' dashboard reads: gifts over time, each gateway's donations by status,
//! the pending donations the reconciler is chasing, and the share links' funnel. Written once;
//! `{bucket}` and `{age}` are filled with each dialect's expressions.

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

    /// SQLite's `strftime` format truncating a timestamp to this bucket.
    pub(super) fn sqlite_format(self) -> &'static str {
        match self {
            Self::Minute => "%Y-%m-%dT%H:%M:00Z",
            Self::Hour => "%Y-%m-%dT%H:00:00Z",
            Self::Day => "%Y-%m-%dT00:00:00Z",
        }
    }
}

/// Gifts counted in one bucket of one campaign (by when they were made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct GiftBucket {
    pub campaign: String,
    /// The bucket's start, RFC 3339 in UTC.
    pub start: String,
    pub gifts: i64,
    pub amount_minor: i64,
}

/// One gateway's donations by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GatewayCounts {
    pub gateway: String,
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

pub(super) const GIFTS_OVER_TIME: &str = "SELECT campaign, {bucket} AS start, CAST(COUNT(*) AS BIGINT) AS gifts, \
     CAST(SUM(amount_minor - refunded_minor) AS BIGINT) AS amount_minor FROM donations \
     WHERE status IN ('succeeded', 'disputed') GROUP BY campaign, start ORDER BY start DESC, campaign LIMIT $1";

pub(super) const GATEWAY_COUNTS: &str =
    "SELECT gateway, status, CAST(COUNT(*) AS BIGINT) FROM donations GROUP BY gateway, status ORDER BY gateway, status";

pub(super) const PENDING_SUMMARY: &str = "SELECT CAST(COUNT(*) AS BIGINT) AS count, \
     CAST(MAX({age}) AS BIGINT) AS oldest_seconds, \
     CAST(COALESCE(SUM(CASE WHEN reconcile_attempts > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS reconciling \
     FROM donations WHERE status = 'pending'";

/// Every share link's clicks and counted gifts, best first.
pub(super) const REFERRAL_FUNNEL: &str = "SELECT r.code, r.campaign, r.clicks, \
     CAST(COALESCE(SUM(CASE WHEN d.status IN ('succeeded', 'disputed') THEN 1 ELSE 0 END), 0) AS BIGINT) AS donations, \
     CAST(COALESCE(SUM(CASE WHEN d.status IN ('succeeded', 'disputed') THEN d.amount_minor - d.refunded_minor ELSE 0 END), 0) AS BIGINT) AS raised_minor \
     FROM referral_codes r LEFT JOIN donations d ON d.referral_code = r.code \
     GROUP BY r.code, r.campaign, r.clicks ORDER BY raised_minor DESC, r.clicks DESC, r.code LIMIT $1";
