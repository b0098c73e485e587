//! Share links: following one (`/r/{code}`), making one, and what one has raised.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use url::Url;

use super::form::{self, FlagField};
use crate::db::NewReferralCode;
use crate::domain::{CampaignSlug, DisplayName, ReferralCode};
use crate::error::{ApiError, escape_html};
use crate::prometheus::RateLimit;
use crate::state::AppState;

/// The cookie that remembers the last link a visitor followed: `code.unix-seconds`.
pub const REFERRAL_COOKIE: &str = "pledge_ref";

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `GET /r/{code}?to=/a/path/`: counts the click and sends the visitor to a page of the site
/// with `?ref=code`, remembering the code in a cookie. Whatever the code or `to`, the visitor
/// lands on the site: an unknown code counts nothing, and `to` can never leave the site.
pub async fn follow_referral(
    request: HttpRequest,
    code: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let to = url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "to")
        .map(|(_, value)| value.into_owned());
    let mut target = site_target(&state.site_url, to.as_deref());
    let mut response = HttpResponse::Found();
    if let Ok(code) = ReferralCode::parse(&code) {
        // Over the limit the visitor still lands on the site; only the count is spared.
        if state.click_limiter.check(state.address_key(&request, "click")).is_ok() {
            state.clicks.record(&code, state.visitor(&request, &format!("click:{}", code.as_str())));
        } else {
            state.prometheus.record_rate_limited(RateLimit::Click);
        }
        target.query_pairs_mut().append_pair("ref", code.as_str());
        let window = time::Duration::seconds(i64::try_from(state.referral_window.as_secs()).unwrap_or(i64::MAX));
        response.cookie(
            Cookie::build(REFERRAL_COOKIE, format!("{}.{}", code.as_str(), unix_now()))
                .path("/")
                .max_age(window)
                .same_site(SameSite::Lax)
                .http_only(true)
                .secure(state.public_url.scheme() == "https")
                .finish(),
        );
    }
    response
        .insert_header((header::LOCATION, target.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The site URL a `to` parameter names, or the home page. Only a plain absolute path is taken,
/// it is checked before and after percent-decoding, and the joined URL must still be on the
/// site: the URL parser itself has the last word on where it points.
fn site_target(site: &Url, to: Option<&str>) -> Url {
    let plain = |path: &str| {
        path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') && !path.chars().any(char::is_control)
    };
    let Some(to) = to.filter(|to| plain(to)) else { return site.clone() };
    let decoded = percent_encoding::percent_decode_str(to).decode_utf8_lossy();
    if !plain(&decoded) {
        return site.clone();
    }
    match site.join(to.trim_start_matches('/')) {
        Ok(url) if url.origin() == site.origin() && url.path().starts_with(site.path()) => url,
        _ => site.clone(),
    }
}

/// The code a donation is credited to: the form's `ref` (the page's own last-touch memory),
/// else the cookie set by `/r/`, if followed within the window. Anything unreadable is no code.
pub fn attributed_code(request: &HttpRequest, from_form: Option<&str>, state: &AppState) -> Option<ReferralCode> {
    if let Some(code) = from_form.filter(|c| !c.trim().is_empty()).and_then(|c| ReferralCode::parse(c).ok()) {
        return Some(code);
    }
    let cookie = request.cookie(REFERRAL_COOKIE)?;
    let (code, clicked_at) = cookie.value().rsplit_once('.')?;
    let clicked_at: u64 = clicked_at.parse().ok()?;
    let within_window = unix_now().saturating_sub(clicked_at) <= state.referral_window.as_secs();
    within_window.then(|| ReferralCode::parse(code).ok()).flatten()
}

#[derive(Debug, Deserialize)]
struct ReferralRequest {
    campaign: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    leaderboard: Option<FlagField>,
}

/// `POST /api/v1/referrals`: a supporter asks for a share link (their own code, or a random one).
pub async fn create_referral(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let is_json = form::is_json(&request);
    let created = create(&request, &body, is_json, &state).await;
    match created {
        Ok((code, link)) if is_json => Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, link.as_str()))
            .json(serde_json::json!({ "code": code.as_str(), "url": link.as_str() }))),
        Ok((_, link)) => Ok(crate::page_headers::secure_page(&mut HttpResponse::Created())
            .content_type("text/html; charset=utf-8")
            .body(link_page(&link))),
        Err(error) if is_json => Err(error.into()),
        Err(error) => Err(error.for_browser().into()),
    }
}

async fn create(
    request: &HttpRequest,
    body: &[u8],
    is_json: bool,
    state: &AppState,
) -> Result<(ReferralCode, Url), ApiError> {
    if let Err(wait) = state.referral_limiter.check(state.address_key(request, "create-referral")) {
        state.prometheus.record_rate_limited(RateLimit::ShareLink);
        return Err(ApiError::RateLimited {
            detail: "You have made several links already; please try again in an hour.".into(),
            retry_after: wait,
        });
    }
    let fields: ReferralRequest = form::parse(body, is_json, "share link")?;
    let campaign = CampaignSlug::parse(&fields.campaign, &state.campaigns)?;
    let display_name = DisplayName::parse(fields.display_name.as_deref())?;
    let leaderboard = fields.leaderboard.as_ref().is_some_and(FlagField::is_set);
    let chosen = fields.code.as_deref().filter(|c| !c.trim().is_empty()).map(ReferralCode::parse).transpose()?;
    // A random code can collide in theory; a chosen one is simply taken.
    let attempts = if chosen.is_some() { 1 } else { 3 };
    for _ in 0..attempts {
        let code = chosen.clone().unwrap_or_else(ReferralCode::generate);
        let new = NewReferralCode {
            code: code.clone(),
            campaign: campaign.clone(),
            display_name: display_name.clone(),
            leaderboard,
        };
        if state.store.create_referral_code(&new).await? {
            let link = state.api_url(&format!("/r/{}", code.as_str()))?;
            return Ok((code, link));
        }
    }
    Err(ApiError::Conflict("That link code is taken; please choose another.".into()))
}

fn link_page(link: &Url) -> String {
    let link = escape_html(link.as_str());
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Your share link</title>\
         <style>{style}</style></head><body><main><h1>Your share link</h1>\
         <p><label for=\"link\">Share this link; every gift made through it is counted for you.</label></p>\
         <p><input id=\"link\" value=\"{link}\" readonly></p></main></body></html>",
        style = crate::page_headers::PAGE_STYLE
    )
}

/// `GET /api/v1/referrals/{code}`: clicks, donations and amount raised through a link.
pub async fn get_referral(code: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let code = ReferralCode::parse(&code)?;
    let stats = state
        .store
        .referral_stats(&code)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("There is no share link \"{}\".", code.as_str())))?;
    let currency = state.campaigns.get(&stats.campaign).map(|c| c.currency.code());
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "code": stats.code,
        "campaign": stats.campaign,
        "clicks": stats.clicks,
        "donations": stats.donations,
        "raised_minor": stats.raised_minor,
        "currency": currency,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_outside_the_site_fall_back_to_its_home_page() {
        let site = Url::parse("https://site.test/").unwrap();
        let escapes = [
            "https://evil.test/",
            "//evil.test/",
            "/\\evil.test/",
            "\\\\evil.test",
            "/%2F%2Fevil.test",
            "/%2f/evil.test",
            "%2F%2Fevil.test",
            "/%5Cevil.test",
            "/\t/evil.test",
            "https:evil.test",
            "javascript:alert(1)",
            "/\u{0000}/evil.test",
            "@evil.test",
        ];
        for to in escapes {
            assert_eq!(site_target(&site, Some(to)), site, "{to:?}");
        }
        assert_eq!(site_target(&site, Some("/donate/")).as_str(), "https://site.test/donate/");
        assert_eq!(site_target(&site, Some("/ar/تبرع/")).host_str(), Some("site.test"));
        assert_eq!(site_target(&site, Some("/／evil.test")).host_str(), Some("site.test"));
        assert_eq!(site_target(&site, None), site);
    }
}
