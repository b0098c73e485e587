//! Gateway callbacks: the browser return (verified, then a 303 to the static result page) and
//! the server-to-server notification (verified before it is parsed, applied exactly once).

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::db::EventResult;
use crate::error::{ApiError, BrowserError};
use crate::gateway::{Notification, PaymentGateway};
use crate::state::AppState;

fn gateway<'a>(state: &'a AppState, name: &str) -> Result<&'a dyn PaymentGateway, ApiError> {
    state.gateways.by_name(name).map(|g| g.as_ref()).ok_or_else(|| {
        ApiError::NotFound(format!("No payment gateway called \"{}\".", name.chars().take(32).collect::<String>()))
    })
}

#[tracing::instrument(name = "payment_return", skip_all, fields(gateway = %name))]
pub async fn payment_return(
    request: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, BrowserError> {
    let gateway = gateway(&state, &name)?;
    let event = gateway.verify_return(request.query_string()).map_err(ApiError::from)?;
    let result = state.store.apply_event(&event).await.map_err(ApiError::from)?;
    let donation = match result {
        EventResult::Applied(donation) => {
            state.totals.mark_changed();
            Some(donation)
        }
        EventResult::Unchanged(donation) | EventResult::Refused(donation, _) => Some(donation),
        EventResult::Duplicate => state.store.donation(&event.donation_id).await.map_err(ApiError::from)?,
        EventResult::UnknownDonation => None,
    };
    let donation = donation.ok_or_else(|| ApiError::NotFound("We have no record of this donation.".into()))?;
    let location = state.result_page(&donation)?;
    Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, location.as_str())).finish())
}

#[tracing::instrument(name = "payment_webhook", skip_all, fields(gateway = %name))]
pub async fn payment_webhook(
    request: HttpRequest,
    name: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let gateway = gateway(&state, &name)?;
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_string())))
        .collect();
    let event = gateway.verify_notification(&Notification { headers, body: &body })?;
    let result = state.store.apply_event(&event).await?;
    let outcome = match &result {
        EventResult::Applied(_) => {
            state.totals.mark_changed();
            "applied"
        }
        EventResult::Unchanged(_) => "unchanged",
        EventResult::Duplicate => "duplicate",
        EventResult::Refused(..) => "stored for review",
        EventResult::UnknownDonation => "unknown donation, stored for review",
    };
    tracing::info!(event = event.event_id.as_str(), donation = event.donation_id.as_str(), outcome, "notification");
    // Acknowledge everything verified, even what we refused, so the gateway stops retrying;
    // refused events are on record for review.
    Ok(HttpResponse::Ok().json(serde_json::json!({ "received": true, "result": outcome })))
}
