//! Admin routes behind a bearer token: gifts received outside the gateways, and the finance
//! export. Without a configured token they do not exist (404); with one, anyone else gets 401
//! and learns nothing else.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::form::{self, FlagField};
use crate::db::{DonationRecord, NewDonation};
use crate::domain::{AmountMinor, CampaignSlug, DisplayName, DonationId, IdempotencyKey, Language};
use crate::error::ApiError;
use crate::state::AppState;

/// Rows per database round trip of the export; memory stays flat whatever the table's size.
const EXPORT_PAGE: i64 = 1000;

/// Lets in whoever presents the admin token, as a bearer token (scripts) or as the password of
/// HTTP Basic auth with any user name (browsers). Without a configured token the admin routes
/// do not exist.
pub(super) fn authorize(request: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let Some(token) = &state.admin_token else {
        return Err(ApiError::NotFound("No such page.".into()));
    };
    let credentials = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let presented = match credentials.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.as_bytes().to_vec(),
        Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => basic_password(encoded).unwrap_or_default(),
        _ => Vec::new(),
    };
    if bool::from(presented.ct_eq(token.expose_secret().as_bytes())) { Ok(()) } else { Err(ApiError::Unauthorized) }
}

/// The password of `user:password` in Basic credentials.
fn basic_password(encoded: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}

#[derive(Debug, Deserialize)]
struct OfflineGift {
    campaign: String,
    amount: String,
    method: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    anonymous: Option<FlagField>,
}

/// `POST /api/v1/admin/donations`: a cheque, transfer or cash gift, counted at once.
#[tracing::instrument(name = "record_offline_gift", skip_all)]
pub async fn record_offline_gift(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // Authorise before reading the body, so nothing about it is answered to a stranger.
    authorize(&request, &state)?;
    let gift: OfflineGift = form::parse(&body, true, "gift")?;
    let campaign_slug = CampaignSlug::parse(&gift.campaign, &state.campaigns)?;
    let campaign = state
        .campaigns
        .get(campaign_slug.as_str())
        .ok_or_else(|| ApiError::Unexpected("a parsed campaign slug has no campaign".into()))?;
    let method = match gift.method.as_str() {
        "cheque" | "bank_transfer" | "cash" => gift.method.as_str(),
        other => {
            return Err(ApiError::Invalid(format!("Method must be cheque, bank_transfer or cash, not {other:?}.")));
        }
    };
    let idempotency_key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(IdempotencyKey::parse)
        .transpose()?;
    let new = NewDonation {
        id: DonationId::generate(),
        amount: AmountMinor::parse_for(&gift.amount, campaign)?,
        currency: campaign.currency,
        campaign: campaign_slug,
        lang: Language::parse(None, &state.campaigns),
        gateway: format!("offline-{method}"),
        idempotency_key,
        display_name: DisplayName::parse(gift.display_name.as_deref())?,
        anonymous: gift.anonymous.as_ref().is_some_and(FlagField::is_set),
        referral: None,
    };
    let donation = state.store.record_offline_gift(&new).await?;
    state.totals.mark_changed();
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": donation.id.as_str(),
        "status": donation.status.as_str(),
        "amount_minor": donation.amount.get(),
        "currency": donation.currency.code(),
    })))
}

/// `GET /api/v1/admin/donations.csv`: every donation, streamed page by page.
pub async fn export_donations(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    let header_row = csv_rows(&[], true).map_err(|e| ApiError::Unexpected(e.into()))?;
    let pages = futures_util::stream::unfold(Some(String::new()), move |cursor| {
        let state = state.clone();
        async move {
            let after = cursor?;
            match state.store.donations_after(Some(&after), EXPORT_PAGE).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = (rows.len() as i64 == EXPORT_PAGE).then(|| rows[rows.len() - 1].id.clone());
                    let bytes =
                        csv_rows(&rows, false).map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()));
                    Some((bytes, next))
                }
                Err(error) => {
                    // The status line is sent already; cutting the stream short tells the client.
                    tracing::error!(%error, "the donations export failed part-way");
                    Some((Err(actix_web::error::ErrorServiceUnavailable("export interrupted")), None))
                }
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok::<_, actix_web::Error>(header_row) }).chain(pages);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"donations.csv\""))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

fn csv_rows(rows: &[DonationRecord], with_header: bool) -> Result<web::Bytes, csv::Error> {
    let mut writer = csv::WriterBuilder::new().has_headers(with_header).from_writer(Vec::new());
    if with_header {
        writer.write_record([
            "id",
            "created_at",
            "updated_at",
            "campaign",
            "status",
            "amount_minor",
            "currency",
            "gateway",
            "gateway_reference",
            "display_name",
            "anonymous",
            "referral_code",
            "lang",
        ])?;
    }
    for row in rows {
        writer.serialize(row)?;
    }
    writer.into_inner().map(web::Bytes::from).map_err(|e| e.into_error().into())
}

/// `GET /api/v1/admin/payments`: how payments are doing: each gateway's recent record, how each
/// campaign's currency is routed now (and which gateways failover avoids, and why), and the
/// latest events kept for review.
pub async fn payments_health(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    let routing: Vec<_> = state
        .campaigns
        .iter()
        .map(|c| {
            serde_json::json!({
                "campaign": c.slug,
                "currency": c.currency.code(),
                "gateways": state.gateways.routing(c.currency),
            })
        })
        .collect();
    let review = state.store.events_for_review(50).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(serde_json::json!({
        "gateways": state.gateways.health(),
        "routing": routing,
        "review": review,
    })))
}
