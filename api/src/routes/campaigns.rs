//! Campaign listing and the totals route that every page polls.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::domain::CampaignSlug;
use crate::error::ApiError;
use crate::state::AppState;

/// Lets a CDN answer every poller from one origin request per second, and keep answering
/// from its copy for a while if the origin fails.
const TOTALS_CACHE_CONTROL: &str = "public, max-age=2, s-maxage=1, stale-while-revalidate=10, stale-if-error=300";

#[derive(Serialize)]
struct CampaignSummary<'a> {
    slug: &'a str,
    currency: &'static str,
    exponent: u8,
    goal_minor: i64,
    min_amount_minor: i64,
    max_amount_minor: i64,
    suggested_amounts_minor: &'a [i64],
    totals_url: String,
}

pub async fn list_campaigns(state: web::Data<AppState>) -> HttpResponse {
    let campaigns: Vec<CampaignSummary<'_>> = state
        .campaigns
        .iter()
        .map(|c| CampaignSummary {
            slug: &c.slug,
            currency: c.currency.code(),
            exponent: c.currency.exponent(),
            goal_minor: c.goal_minor,
            min_amount_minor: c.min_minor,
            max_amount_minor: c.max_minor,
            suggested_amounts_minor: &c.suggested_minor,
            totals_url: format!("/api/v1/campaigns/{}/totals", c.slug),
        })
        .collect();
    HttpResponse::Ok().json(serde_json::json!({ "campaigns": campaigns }))
}

pub async fn get_totals(
    request: HttpRequest,
    slug: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // Fresh, or while the database is away the last totals known, marked stale: pages keep
    // their numbers through an outage. Each has its own tag, so a poller holding the fresh
    // one hears the totals went stale, and later that they are fresh again.
    let served = state.totals.representation(&slug).ok_or_else(|| {
        ApiError::NotFound(format!("There is no campaign called \"{}\".", slug.chars().take(64).collect::<String>()))
    })?;
    let cache_control = HeaderValue::from_static(TOTALS_CACHE_CONTROL);
    if matches_etag(request.headers().get(header::IF_NONE_MATCH), &served.etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, served.etag))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .insert_header((header::ETAG, served.etag))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .body(served.body))
}

/// `If-None-Match` is a list of tags, `*`, and tags may be weak (`W/"…"`); all match weakly.
fn matches_etag(if_none_match: Option<&HeaderValue>, etag: &HeaderValue) -> bool {
    let Some(value) = if_none_match.and_then(|v| v.to_str().ok()) else { return false };
    let etag = etag.as_bytes();
    value.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag)
}

/// `GET /api/v1/campaigns/{slug}/leaderboard`: the share links that raised most, among those
/// whose makers agreed to be listed.
pub async fn get_leaderboard(slug: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let campaign = CampaignSlug::parse(&slug, &state.campaigns).map_err(|e| ApiError::NotFound(e.0))?;
    let entries = state.store.leaderboard(&campaign, 10).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=0, s-maxage=10"))
        .json(serde_json::json!({ "campaign": campaign.as_str(), "leaders": entries })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let tag = &HeaderValue::from_static("\"abc\"");
        for header in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*"] {
            assert!(matches_etag(Some(&HeaderValue::from_static(header)), tag), "{header}");
        }
        assert!(!matches_etag(Some(&HeaderValue::from_static("\"abd\"")), tag));
        assert!(!matches_etag(None, tag));
    }
}
