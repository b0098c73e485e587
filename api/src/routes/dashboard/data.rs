//! What the dashboard shows, gathered once per request from the in-memory totals, the gateways'
//! recent health, the request metrics and the `db::reports` queries; the page, the JSON and the
//! CSV are all this one value.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::db::{
    GatewayCounts, GiftCount, PendingDonation, RecentGift, ReferralFunnel, ReviewEvent, Store, TimeBucket,
};
use crate::error::ApiError;
use crate::gateway::{GatewayHealth, RouteShare};
use crate::metrics::RequestReport;
use crate::state::AppState;

/// Latest gifts listed per campaign.
const RECENT_GIFTS: i64 = 10;
/// Pending donations listed, longest waiting first.
const OLDEST_PENDING: i64 = 20;
/// Events kept for review listed, newest first.
const REVIEW_EVENTS: i64 = 100;
/// Share links read (the funnels add them all up; the page lists the best).
const SHARE_LINKS: i64 = 10_000;

/// Everything on the dashboard.
#[derive(Debug, Serialize)]
pub struct Dashboard {
    pub version: &'static str,
    /// When this was gathered, RFC 3339 UTC.
    pub generated_at: String,
    pub campaigns: Vec<CampaignNow>,
    pub gifts: GiftsOverTime,
    pub payments: Payments,
    pub referrals: Referrals,
    pub system: System,
}

#[derive(Debug, Serialize)]
pub struct CampaignNow {
    pub slug: String,
    pub currency: String,
    pub goal_minor: i64,
    pub raised_minor: i64,
    /// Gifts counted now (refunded and charged-back gifts no longer count).
    pub donors: i64,
    pub average_gift_minor: Option<i64>,
    /// Latest gifts, newest first; names only where donors allowed them.
    pub recent: Vec<RecentGift>,
}

#[derive(Debug, Serialize)]
pub struct GiftsOverTime {
    pub bucket: TimeBucket,
    pub bucket_seconds: i64,
    /// The first bucket's start and the end of the last, RFC 3339 UTC.
    pub from: String,
    pub to: String,
    /// Every campaign's buckets, oldest first, empty ones included.
    pub series: Vec<GiftBucket>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GiftBucket {
    pub campaign: String,
    /// RFC 3339 UTC.
    pub start: String,
    pub gifts: i64,
    pub amount_minor: i64,
}

#[derive(Debug, Serialize)]
pub struct Payments {
    pub gateways: Vec<GatewayRow>,
    pub routing: Vec<Routing>,
    pub pending: Pending,
    /// Events that changed nothing and deserve a look, newest first.
    pub review: Vec<ReviewEvent>,
}

/// One gateway: its donations by status (all time, from the database) and its recent record
/// (this process's failover window).
#[derive(Debug, Default, Serialize)]
pub struct GatewayRow {
    pub gateway: String,
    /// Configured now (offline gifts and retired gateways are not).
    pub configured: bool,
    pub started: i64,
    pub pending: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub abandoned: i64,
    pub refunded: i64,
    pub disputed: i64,
    pub charged_back: i64,
    /// Failed as a share of the payments that got a verdict, all time.
    pub decline_rate: Option<f64>,
    pub recent_starts: usize,
    pub recent_start_errors: usize,
    pub recent_paid: usize,
    pub recent_declined: usize,
    pub recent_error_rate: Option<f64>,
    pub recent_decline_rate: Option<f64>,
    /// False while failover avoids it.
    pub healthy: bool,
    pub avoided_because: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Routing {
    pub campaign: String,
    pub currency: String,
    /// The rule that applies: the currency's code, `*`, or none (no rules configured).
    pub rule: Option<String>,
    /// The gateway most new gifts go to now.
    pub preferred: Option<String>,
    /// Why, in words.
    pub why: String,
    pub gateways: Vec<RouteShare>,
}

#[derive(Debug, Default, Serialize)]
pub struct Pending {
    pub count: i64,
    pub oldest_seconds: Option<i64>,
    /// How many the reconciler has asked the gateway about at least once.
    pub reconciling: i64,
    pub oldest: Vec<PendingDonation>,
}

#[derive(Debug, Default, Serialize)]
pub struct Referrals {
    pub campaigns: Vec<CampaignFunnel>,
    /// Best first.
    pub links: Vec<ReferralFunnel>,
}

/// Every share link of a campaign added up: clicks → donations started → gifts → raised.
#[derive(Debug, Serialize)]
pub struct CampaignFunnel {
    pub campaign: String,
    pub currency: String,
    pub links: i64,
    pub clicks: i64,
    pub started: i64,
    pub donations: i64,
    pub raised_minor: i64,
}

#[derive(Debug, Serialize)]
pub struct System {
    pub version: &'static str,
    pub requests: RequestReport,
    /// Time since the totals snapshot was last refreshed from the database.
    pub totals_age_ms: Option<u64>,
    pub totals_refresh_ms: u64,
    /// The snapshot is older than a few refreshes: the refresher is failing.
    pub totals_stale: bool,
    pub database_reachable: bool,
}

/// What the database holds for the dashboard.
#[derive(Default)]
struct Stored {
    recent: Vec<RecentGift>,
    gifts: Vec<GiftCount>,
    gateways: Vec<GatewayCounts>,
    pending: Pending,
    review: Vec<ReviewEvent>,
    links: Vec<ReferralFunnel>,
}

async fn read(store: &dyn Store, bucket: TimeBucket, since: i64) -> Result<Stored, ApiError> {
    let (recent, gifts, gateways, summary, oldest, review, links) = futures_util::try_join!(
        store.recent_gifts(RECENT_GIFTS),
        store.gifts_over_time(bucket, since),
        store.gateway_counts(),
        store.pending_summary(),
        store.oldest_pending(OLDEST_PENDING),
        store.events_for_review(REVIEW_EVENTS),
        store.referral_funnel(SHARE_LINKS),
    )?;
    let pending = Pending {
        count: summary.count,
        oldest_seconds: summary.oldest_seconds,
        reconciling: summary.reconciling,
        oldest,
    };
    Ok(Stored { recent, gifts, gateways, pending, review, links })
}

pub async fn gather(state: &AppState, bucket: TimeBucket) -> Result<Dashboard, ApiError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let window = Window::ending_at(now, bucket);
    let store = state.store.as_ref();
    // Without a database the page still shows what this process knows (the last totals, the
    // gateways' health, the requests), and says the rest is missing.
    let database_reachable = store.ping().await.is_ok();
    let stored = if database_reachable { read(store, bucket, window.first).await? } else { Stored::default() };

    let totals = state.totals.all();
    let campaigns: Vec<CampaignNow> = totals
        .iter()
        .map(|t| CampaignNow {
            slug: t.slug.clone(),
            currency: t.currency.clone(),
            goal_minor: t.goal_minor,
            raised_minor: t.raised_minor,
            donors: t.donors,
            average_gift_minor: (t.donors > 0).then(|| t.raised_minor / t.donors),
            recent: stored.recent.iter().filter(|g| g.campaign == t.slug).cloned().collect(),
        })
        .collect();
    let slugs: Vec<&str> = campaigns.iter().map(|c| c.slug.as_str()).collect();
    let gifts = window.fill(&slugs, &stored.gifts);

    let health = state.gateways.health();
    let routing = state
        .campaigns
        .iter()
        .map(|c| {
            let shares = state.gateways.routing(c.currency);
            let rule = state.gateways.rule_for(c.currency);
            let (preferred, why) = explain(rule, &shares, &health);
            Routing {
                campaign: c.slug.clone(),
                currency: c.currency.code().into(),
                rule: rule.map(str::to_string),
                preferred,
                why,
                gateways: shares,
            }
        })
        .collect();

    let refresh = state.totals_refresh;
    let age = state.totals.age();
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Ok(Dashboard {
        version: env!("CARGO_PKG_VERSION"),
        generated_at: rfc3339(now),
        gifts,
        payments: Payments {
            gateways: gateway_rows(stored.gateways, &health),
            routing,
            pending: stored.pending,
            review: stored.review,
        },
        referrals: Referrals { campaigns: funnels(&campaigns, &stored.links), links: stored.links },
        campaigns,
        system: System {
            version: env!("CARGO_PKG_VERSION"),
            requests: state.metrics.report(),
            totals_age_ms: age.map(millis),
            totals_refresh_ms: millis(refresh),
            // The rule the totals route marks its answers stale by.
            totals_stale: state.totals.is_stale(),
            database_reachable,
        },
    })
}

/// The chart's buckets: `count` of them, the last holding `now`.
struct Window {
    bucket: TimeBucket,
    first: i64,
    count: i64,
}

impl Window {
    fn ending_at(now: i64, bucket: TimeBucket) -> Self {
        let width = bucket.seconds();
        let last = now.div_euclid(width) * width;
        Self { bucket, first: last - (bucket.window() - 1) * width, count: bucket.window() }
    }

    /// Each campaign's buckets with the counted gifts in them, zero where there were none. A
    /// gift in a bucket after the last (the database's clock ahead of ours) moves the window
    /// on rather than being dropped.
    fn fill(mut self, campaigns: &[&str], counts: &[GiftCount]) -> GiftsOverTime {
        let width = self.bucket.seconds();
        if let Some(latest) = counts.iter().map(|c| c.start).max() {
            let last = self.first + (self.count - 1) * width;
            if latest > last {
                self.first += (latest - last).div_euclid(width) * width;
            }
        }
        let mut series = Vec::with_capacity(campaigns.len() * self.count as usize);
        for campaign in campaigns {
            for index in 0..self.count {
                let start = self.first + index * width;
                let found = counts.iter().find(|c| c.campaign == *campaign && c.start == start);
                series.push(GiftBucket {
                    campaign: (*campaign).to_string(),
                    start: rfc3339(start),
                    gifts: found.map_or(0, |c| c.gifts),
                    amount_minor: found.map_or(0, |c| c.amount_minor),
                });
            }
        }
        GiftsOverTime {
            bucket: self.bucket,
            bucket_seconds: width,
            from: rfc3339(self.first),
            to: rfc3339(self.first + self.count * width),
            series,
        }
    }
}

/// Configured gateways first (in their configured order), then any other the donations name
/// (offline gifts, retired gateways).
fn gateway_rows(counts: Vec<GatewayCounts>, health: &[GatewayHealth]) -> Vec<GatewayRow> {
    let row = |counts: GatewayCounts, health: Option<&GatewayHealth>| GatewayRow {
        configured: health.is_some(),
        decline_rate: counts.decline_rate(),
        recent_starts: health.map_or(0, |h| h.starts),
        recent_start_errors: health.map_or(0, |h| h.start_errors),
        recent_paid: health.map_or(0, |h| h.paid),
        recent_declined: health.map_or(0, |h| h.declined),
        recent_error_rate: health.and_then(|h| h.error_rate),
        recent_decline_rate: health.and_then(|h| h.decline_rate),
        healthy: health.is_none_or(|h| h.healthy),
        avoided_because: health.and_then(|h| h.reason.clone()),
        gateway: counts.gateway,
        started: counts.started,
        pending: counts.pending,
        succeeded: counts.succeeded,
        failed: counts.failed,
        abandoned: counts.abandoned,
        refunded: counts.refunded,
        disputed: counts.disputed,
        charged_back: counts.charged_back,
    };
    let mut rows: Vec<GatewayRow> = health
        .iter()
        .map(|h| {
            let counts = counts.iter().find(|c| c.gateway == h.gateway).cloned();
            row(
                counts.unwrap_or_else(|| GatewayCounts { gateway: h.gateway.clone(), ..GatewayCounts::default() }),
                Some(h),
            )
        })
        .collect();
    rows.extend(counts.into_iter().filter(|c| !health.iter().any(|h| h.gateway == c.gateway)).map(|c| row(c, None)));
    rows
}

/// The gateway most new gifts in a currency go to, and why, as `Gateways::candidates` decides:
/// a healthy gateway by weight, else whichever comes first among the rest.
fn explain(rule: Option<&str>, shares: &[RouteShare], health: &[GatewayHealth]) -> (Option<String>, String) {
    let source = match rule {
        Some("*") => "the catch-all rule (*)".to_string(),
        Some(code) => format!("the rule for {code}"),
        None => "no routing rules: the first configured gateway takes every gift and the rest stand by".into(),
    };
    let healthy_weight: u64 = shares.iter().filter(|s| s.healthy).map(|s| u64::from(s.weight)).sum();
    // `rev` so that among equal weights the first in the rule wins.
    let weighted = shares.iter().rev().filter(|s| s.healthy && s.weight > 0).max_by_key(|s| s.weight);
    let mut why = match weighted {
        Some(share) if rule.is_some() => {
            let percent = u64::from(share.weight) * 100 / healthy_weight;
            format!("{source} gives it {percent}% of new gifts")
        }
        Some(_) => source,
        None if rule.is_some() => format!("{source} has no healthy gateway with weight left; it is next in line"),
        None => "no routing rules, and the first configured gateway is avoided; it is next in line".into(),
    };
    let fallback = || shares.iter().find(|s| s.healthy).or_else(|| shares.iter().rev().max_by_key(|s| s.weight));
    let preferred = weighted.or_else(fallback).map(|s| s.gateway.clone());
    for share in shares.iter().filter(|s| !s.healthy) {
        let reason = health.iter().find(|h| h.gateway == share.gateway).and_then(|h| h.reason.as_deref());
        why.push_str(&format!("; {} is avoided: {}", share.gateway, reason.unwrap_or("recent failures")));
    }
    (preferred, why)
}

/// Each campaign's share links added up.
fn funnels(campaigns: &[CampaignNow], links: &[ReferralFunnel]) -> Vec<CampaignFunnel> {
    campaigns
        .iter()
        .map(|c| {
            let mine = || links.iter().filter(|l| l.campaign == c.slug);
            CampaignFunnel {
                campaign: c.slug.clone(),
                currency: c.currency.clone(),
                links: mine().count() as i64,
                clicks: mine().map(|l| l.clicks).sum(),
                started: mine().map(|l| l.started).sum(),
                donations: mine().map(|l| l.donations).sum(),
                raised_minor: mine().map(|l| l.raised_minor).sum(),
            }
        })
        .collect()
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(unix: i64) -> String {
    let (days, seconds) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (year, month, day) = civil_date(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", seconds / 3600, seconds % 3600 / 60, seconds % 60)
}

/// The Gregorian date `days` after 1970-01-01, counted in 400-year eras of 146,097 days that
/// start on 1 March (so the leap day ends a year).
fn civil_date(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_are_written_as_utc_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_825_599), "2000-02-29T11:59:59Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z", "2100 is no leap year");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn the_window_fills_empty_buckets_and_follows_a_database_clock_ahead_of_ours() {
        let now = 1_700_000_000; // 22:13:20
        let count = |start, gifts| GiftCount { campaign: "water".into(), start, gifts, amount_minor: gifts * 100 };
        let gifts = Window::ending_at(now, TimeBucket::Minute).fill(&["water", "trees"], &[count(now / 60 * 60, 3)]);
        assert_eq!(gifts.series.len(), 240);
        assert_eq!((gifts.from.as_str(), gifts.to.as_str()), ("2023-11-14T20:14:00Z", "2023-11-14T22:14:00Z"));
        let last = &gifts.series[119];
        assert_eq!((last.start.as_str(), last.gifts, last.amount_minor), ("2023-11-14T22:13:00Z", 3, 300));
        assert_eq!(gifts.series.iter().map(|b| b.gifts).sum::<i64>(), 3);
        assert!(gifts.series[120..].iter().all(|b| b.campaign == "trees" && b.gifts == 0));

        let ahead = Window::ending_at(now, TimeBucket::Minute).fill(&["water"], &[count(now / 60 * 60 + 60, 1)]);
        assert_eq!(ahead.series.last().unwrap().gifts, 1);
        assert_eq!(ahead.to, "2023-11-14T22:15:00Z");
    }

    fn share(gateway: &str, weight: u32, healthy: bool) -> RouteShare {
        RouteShare { gateway: gateway.into(), weight, healthy }
    }

    #[test]
    fn the_preferred_gateway_is_explained() {
        let shares = [share("ngenius", 80, true), share("aps", 20, true)];
        let (preferred, why) = explain(Some("AED"), &shares, &[]);
        assert_eq!(preferred.as_deref(), Some("ngenius"));
        assert_eq!(why, "the rule for AED gives it 80% of new gifts");

        let avoided = GatewayHealth {
            gateway: "ngenius".into(),
            starts: 30,
            start_errors: 20,
            paid: 0,
            declined: 0,
            error_rate: Some(0.66),
            decline_rate: None,
            healthy: false,
            reason: Some("67% of the last 30 checkout starts failed (limit 25%)".into()),
        };
        let shares = [share("ngenius", 80, false), share("aps", 20, true)];
        let (preferred, why) = explain(Some("*"), &shares, std::slice::from_ref(&avoided));
        assert_eq!(preferred.as_deref(), Some("aps"));
        assert_eq!(
            why,
            "the catch-all rule (*) gives it 100% of new gifts; ngenius is avoided: 67% of the last 30 checkout \
             starts failed (limit 25%)"
        );

        let (preferred, why) = explain(None, &[share("sandbox", 1, true), share("stripe", 0, true)], &[]);
        assert_eq!(preferred.as_deref(), Some("sandbox"));
        assert!(why.starts_with("no routing rules"), "{why}");

        let (preferred, why) = explain(Some("USD"), &[share("stripe", 1, false)], &[]);
        assert_eq!(preferred.as_deref(), Some("stripe"), "a struggling gateway still takes gifts");
        assert!(why.contains("is avoided"), "{why}");
    }
}
