//! The dashboard's tables as CSV for the finance team: one file per section, amounts in minor
//! units with their currency, a header row even when there are no rows.

use std::borrow::Borrow;

use serde::Serialize;

use super::data::{Dashboard, GatewayRow, GiftBucket};
use crate::db::{PendingDonation, ReferralFunnel, ReviewEvent};

/// The sections, in the order the page shows them.
pub const SECTIONS: [&str; 9] =
    ["campaigns", "recent", "gifts", "gateways", "routing", "pending", "review", "referrals", "system"];

/// Sections read only from memory, available while the database is not.
pub fn needs_database(section: &str) -> bool {
    !matches!(section, "campaigns" | "system")
}

#[derive(Default, Serialize)]
struct CampaignRow<'a> {
    campaign: &'a str,
    currency: &'a str,
    goal_minor: i64,
    raised_minor: i64,
    donors: i64,
    average_gift_minor: Option<i64>,
}

#[derive(Default, Serialize)]
struct RecentRow<'a> {
    campaign: &'a str,
    at: &'a str,
    /// Empty where the donor gave no name or asked to stay anonymous.
    name: Option<&'a str>,
    amount_minor: i64,
    currency: &'a str,
}

#[derive(Default, Serialize)]
struct RoutingRow<'a> {
    campaign: &'a str,
    currency: &'a str,
    rule: Option<&'a str>,
    gateway: &'a str,
    weight: u32,
    healthy: bool,
    preferred: bool,
    why: &'a str,
}

#[derive(Default, Serialize)]
struct SystemRow<'a> {
    version: &'a str,
    uptime_seconds: u64,
    requests: u64,
    responses_2xx: u64,
    responses_3xx: u64,
    responses_4xx: u64,
    responses_5xx: u64,
    requests_per_minute: f64,
    last_minute_requests: u64,
    error_rate: f64,
    last_minute_error_rate: Option<f64>,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    totals_age_ms: Option<u64>,
    totals_refresh_ms: u64,
    totals_stale: bool,
    database_reachable: bool,
    pending_donations: i64,
    oldest_pending_seconds: Option<i64>,
}

/// `section` as CSV; `None` for a section that does not exist.
pub fn section(dashboard: &Dashboard, section: &str) -> Option<Result<Vec<u8>, csv::Error>> {
    let payments = &dashboard.payments;
    Some(match section {
        "campaigns" => write::<CampaignRow>(dashboard.campaigns.iter().map(|c| CampaignRow {
            campaign: &c.slug,
            currency: &c.currency,
            goal_minor: c.goal_minor,
            raised_minor: c.raised_minor,
            donors: c.donors,
            average_gift_minor: c.average_gift_minor,
        })),
        "recent" => write::<RecentRow>(dashboard.campaigns.iter().flat_map(|c| {
            c.recent.iter().map(|g| RecentRow {
                campaign: &c.slug,
                at: &g.at,
                name: g.name.as_deref(),
                amount_minor: g.amount_minor,
                currency: &c.currency,
            })
        })),
        "gifts" => write::<GiftBucket>(dashboard.gifts.series.iter()),
        "gateways" => write::<GatewayRow>(payments.gateways.iter()),
        "routing" => write::<RoutingRow>(payments.routing.iter().flat_map(|r| {
            r.gateways.iter().map(|share| RoutingRow {
                campaign: &r.campaign,
                currency: &r.currency,
                rule: r.rule.as_deref(),
                gateway: &share.gateway,
                weight: share.weight,
                healthy: share.healthy,
                preferred: r.preferred.as_deref() == Some(share.gateway.as_str()),
                why: &r.why,
            })
        })),
        "pending" => write::<PendingDonation>(payments.pending.oldest.iter()),
        "review" => write::<ReviewEvent>(payments.review.iter()),
        "referrals" => write::<ReferralFunnel>(dashboard.referrals.links.iter()),
        "system" => {
            let (system, requests) = (&dashboard.system, &dashboard.system.requests);
            write::<SystemRow>(std::iter::once(SystemRow {
                version: system.version,
                uptime_seconds: requests.uptime_seconds,
                requests: requests.requests,
                responses_2xx: requests.responses_2xx,
                responses_3xx: requests.responses_3xx,
                responses_4xx: requests.responses_4xx,
                responses_5xx: requests.responses_5xx,
                requests_per_minute: requests.requests_per_minute,
                last_minute_requests: requests.last_minute_requests,
                error_rate: requests.error_rate,
                last_minute_error_rate: requests.last_minute_error_rate,
                mean_ms: requests.mean_ms,
                p50_ms: requests.p50_ms,
                p90_ms: requests.p90_ms,
                p99_ms: requests.p99_ms,
                totals_age_ms: system.totals_age_ms,
                totals_refresh_ms: system.totals_refresh_ms,
                totals_stale: system.totals_stale,
                database_reachable: system.database_reachable,
                pending_donations: payments.pending.count,
                oldest_pending_seconds: payments.pending.oldest_seconds,
            }))
        }
        _ => return None,
    })
}

/// The rows under a header taken from the row type, so an empty section still says what its
/// columns are.
fn write<T: Serialize + Default>(rows: impl Iterator<Item = impl Borrow<T>>) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer.write_byte_record(&header::<T>()?)?;
    for row in rows {
        writer.serialize(row.borrow())?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

fn header<T: Serialize + Default>() -> Result<csv::ByteRecord, csv::Error> {
    let mut probe = csv::Writer::from_writer(Vec::new());
    probe.serialize(T::default())?;
    let bytes = probe.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice());
    let mut record = csv::ByteRecord::new();
    reader.read_byte_record(&mut record)?;
    Ok(record)
}
