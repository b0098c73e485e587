//! Gateway callbacks: the browser return (verified, then a 303 to the static result page), the
//! server-to-server notification (verified before it is parsed, applied exactly once), and the
//! forward page for gateways whose hosted page is reached by a form post.

use std::collections::BTreeMap;

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::db::EventResult;
use crate::domain::{DonationId, DonationStatus};
use crate::error::{ApiError, BrowserError};
use crate::gateway::{BrowserReturn, Notification, PaymentGateway};
use crate::settle;
use crate::state::AppState;

fn gateway<'a>(state: &'a AppState, name: &str) -> Result<&'a dyn PaymentGateway, ApiError> {
    state.gateways.by_name(name).map(|g| g.as_ref()).ok_or_else(|| {
        ApiError::NotFound(format!("No payment gateway called \"{}\".", name.chars().take(32).collect::<String>()))
    })
}

/// The donor's browser back from the gateway, by GET (a redirect) or POST (a form the gateway
/// posts back).
#[tracing::instrument(name = "payment_return", skip_all, fields(gateway = %name))]
pub async fn payment_return(
    request: HttpRequest,
    name: web::Path<String>,
    form: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, BrowserError> {
    let gateway = gateway(&state, &name)?;
    let verified = gateway
        .verify_return(&BrowserReturn { query: request.query_string(), form: &form })
        .await
        .map_err(ApiError::from)?;
    let donation = match &verified.event {
        Some(event) => match settle::apply(state.store.as_ref(), &state.gateways, &state.totals, event)
            .await
            .map_err(ApiError::from)?
        {
            EventResult::Applied(donation) | EventResult::Unchanged(donation) | EventResult::Refused(donation, _) => {
                Some(donation)
            }
            EventResult::Duplicate | EventResult::UnknownDonation => None,
        },
        None => None,
    };
    let donation = match donation {
        Some(donation) => donation,
        None => state
            .store
            .donation(&verified.donation_id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound("We have no record of this donation.".into()))?,
    };
    let location = state.result_page(&donation, verified.processing)?;
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
    let Some(event) = gateway.verify_notification(&Notification { headers, body: &body }).await? else {
        return Ok(HttpResponse::Ok().json(serde_json::json!({ "received": true, "result": "ignored" })));
    };
    let result = settle::apply(state.store.as_ref(), &state.gateways, &state.totals, &event).await?;
    let outcome = settle::describe(&result);
    tracing::info!(event = event.event_id.as_str(), donation = event.donation_id.as_str(), outcome, "notification");
    // Acknowledge everything verified, even what we refused, so the gateway stops retrying;
    // refused events are on record for review.
    Ok(HttpResponse::Ok().json(serde_json::json!({ "received": true, "result": outcome })))
}

/// The page that posts a donor on to a gateway reached by a form post. The form is built again
/// from the stored donation, so this URL carries nothing a visitor could change.
#[tracing::instrument(name = "payment_forward", skip_all, fields(gateway = %path.0))]
pub async fn payment_forward(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, BrowserError> {
    let (name, id) = path.into_inner();
    let gateway = gateway(&state, &name)?;
    let not_found = || ApiError::NotFound("We have no record of this donation.".into());
    let id = DonationId::parse(&id).map_err(|_| not_found())?;
    let donation = state.store.donation(&id).await.map_err(ApiError::from)?.ok_or_else(not_found)?;
    if donation.gateway != gateway.name() {
        return Err(not_found().into());
    }
    if donation.status != DonationStatus::Pending {
        let location = state.result_page(&donation, false)?;
        return Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, location.as_str())).finish());
    }
    let request =
        state.checkout_request(&donation.id, donation.amount, donation.currency, donation.lang.as_str(), gateway)?;
    let form = gateway
        .forward_form(&request)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound(format!("The {} gateway needs no forward page.", gateway.name())))?;
    let fields: String = form
        .fields
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(k), escape(v)))
        .collect();
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Continue to payment</title>
<script src="{script}" defer></script></head><body><main>
<form id="forward" method="post" action="{action}">{fields}
<p>Taking you to the secure payment page…</p><button>Continue to payment</button></form></main></body></html>"#,
        action = escape(form.action.as_str()),
        script = escape(state.api_url("/api/v1/payments/forward.js")?.as_str()),
    );
    // Only its own script; no `form-action`, since a gateway's page may redirect the post on
    // to hosts of its own, which the browser would then block.
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'",
        ))
        .body(html))
}

/// Submits the forward page's form; a separate file, so the page needs no inline script.
pub async fn forward_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body("document.getElementById('forward').submit();\n")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
