//! The operators' dashboard: the campaign now, gifts over time, payments health, share links
//! and the system, as one page (`/admin/`), as JSON and as CSV. Behind the admin token
//! (HTTP Basic for browsers); never part of the static site.

mod charts;
mod page;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::admin::authorize;
use crate::db::{GatewayCounts, GiftBucket, PendingSummary, RecentGift, ReferralStats, ReviewEvent, TimeBucket};
use crate::error::ApiError;
use crate::gateway::{GatewayHealth, RouteShare};
use crate::metrics::RequestReport;
use crate::state::AppState;

/// Buckets shown on the gifts chart.
const BUCKETS: i64 = 60;

/// Everything on the dashboard.
#[derive(Debug, Serialize)]
pub struct Dashboard {
    pub version: &'static str,
    pub campaigns: Vec<CampaignNow>,
    pub gifts: GiftsOverTime,
    pub payments: Payments,
    pub referrals: Vec<ReferralStats>,
    pub system: System,
}

#[derive(Debug, Serialize)]
pub struct CampaignNow {
    pub slug: String,
    pub currency: String,
    pub goal_minor: i64,
    pub raised_minor: i64,
    pub donors: i64,
    pub average_gift_minor: Option<i64>,
    /// Latest gifts; names only where donors allowed them.
    pub recent: Vec<RecentGift>,
}

#[derive(Debug, Serialize)]
pub struct GiftsOverTime {
    pub bucket: TimeBucket,
    /// Newest first.
    pub series: Vec<GiftBucket>,
}

#[derive(Debug, Serialize)]
pub struct Payments {
    pub gateways: Vec<GatewayCounts>,
    pub health: Vec<GatewayHealth>,
    pub routing: Vec<Routing>,
    pub pending: PendingSummary,
    pub review: Vec<ReviewEvent>,
}

#[derive(Debug, Serialize)]
pub struct Routing {
    pub campaign: String,
    pub currency: String,
    pub gateways: Vec<RouteShare>,
}

#[derive(Debug, Serialize)]
pub struct System {
    pub requests: RequestReport,
    /// How old the in-memory totals are.
    pub totals_age_ms: Option<u64>,
    pub database_reachable: bool,
}

#[derive(Debug, Deserialize)]
pub struct Query {
    #[serde(default)]
    bucket: Option<String>,
}

impl Query {
    fn bucket(&self) -> Result<TimeBucket, ApiError> {
        match self.bucket.as_deref() {
            None | Some("") => Ok(TimeBucket::Minute),
            Some(text) => {
                TimeBucket::parse(text).ok_or_else(|| ApiError::Invalid("bucket is one of minute, hour, day".into()))
            }
        }
    }
}

async fn gather(state: &AppState, bucket: TimeBucket) -> Result<Dashboard, ApiError> {
    let store = state.store.as_ref();
    let recent = store.recent_gifts(10).await?;
    let campaigns = state
        .totals
        .all()
        .into_iter()
        .map(|t| CampaignNow {
            average_gift_minor: (t.donors > 0).then(|| t.raised_minor / t.donors),
            recent: recent.iter().filter(|g| g.campaign == t.slug).cloned().collect(),
            slug: t.slug,
            currency: t.currency,
            goal_minor: t.goal_minor,
            raised_minor: t.raised_minor,
            donors: t.donors,
        })
        .collect();
    let routing = state
        .campaigns
        .iter()
        .map(|c| Routing {
            campaign: c.slug.clone(),
            currency: c.currency.code().into(),
            gateways: state.gateways.routing(c.currency),
        })
        .collect();
    Ok(Dashboard {
        version: env!("CARGO_PKG_VERSION"),
        campaigns,
        gifts: GiftsOverTime { bucket, series: store.gifts_over_time(bucket, BUCKETS).await? },
        payments: Payments {
            gateways: store.gateway_counts().await?,
            health: state.gateways.health(),
            routing,
            pending: store.pending_summary().await?,
            review: store.events_for_review(50).await?,
        },
        referrals: store.referral_funnel(100).await?,
        system: System {
            requests: state.metrics.report(),
            totals_age_ms: state.totals.age().map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            database_reachable: store.ping().await.is_ok(),
        },
    })
}

/// `GET /admin/`: the page. A browser without credentials gets the login prompt.
pub async fn page(
    request: HttpRequest,
    query: web::Query<Query>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    let dashboard = gather(&state, query.bucket()?).await?;
    let html = page::render(&dashboard, &state.campaigns, &state.api_url("/admin/dashboard.css")?);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            "content-security-policy",
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ))
        .body(html))
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(include_str!("dashboard.css"))
}

/// `GET /api/v1/admin/dashboard.json`.
pub async fn json(
    request: HttpRequest,
    query: web::Query<Query>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    let dashboard = gather(&state, query.bucket()?).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(dashboard))
}

/// A campaign's figures as one CSV row.
#[derive(Serialize)]
struct CampaignRow {
    slug: String,
    currency: String,
    goal_minor: i64,
    raised_minor: i64,
    donors: i64,
    average_gift_minor: Option<i64>,
}

/// `GET /api/v1/admin/dashboard/{section}.csv`: `campaigns`, `gifts`, `gateways`, `review` or
/// `referrals`.
pub async fn csv(
    request: HttpRequest,
    section: web::Path<String>,
    query: web::Query<Query>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    let store = state.store.as_ref();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let written = match section.as_str() {
        "campaigns" => write_rows(
            &mut writer,
            state
                .totals
                .all()
                .into_iter()
                .map(|t| CampaignRow {
                    average_gift_minor: (t.donors > 0).then(|| t.raised_minor / t.donors),
                    slug: t.slug,
                    currency: t.currency,
                    goal_minor: t.goal_minor,
                    raised_minor: t.raised_minor,
                    donors: t.donors,
                })
                .collect(),
        ),
        "gifts" => write_rows(&mut writer, store.gifts_over_time(query.bucket()?, BUCKETS).await?),
        "review" => write_rows(&mut writer, store.events_for_review(10_000).await?),
        "gateways" => write_rows(&mut writer, store.gateway_counts().await?),
        "referrals" => write_rows(&mut writer, store.referral_funnel(10_000).await?),
        _ => {
            return Err(ApiError::NotFound(
                "The sections are campaigns, gifts, gateways, review and referrals.".into(),
            ));
        }
    };
    written.map_err(|e| ApiError::Unexpected(e.into()))?;
    let body = writer.into_inner().map_err(|e| ApiError::Unexpected(e.to_string().into()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{section}.csv\"")))
        .body(body))
}

fn write_rows<T: Serialize>(writer: &mut csv::Writer<Vec<u8>>, rows: Vec<T>) -> Result<(), csv::Error> {
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    Ok(())
}
