//! `POST /api/v1/donations`: a plain HTML form or JSON in, a pending donation stored, then a 303
//! to the gateway's hosted page (JSON clients get 201 with the same URL).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use campaigns::Campaigns;
use serde::Deserialize;
use url::Url;

use crate::db::{CheckoutRecord, Donation, Inserted, NewDonation};
use crate::domain::{
    AmountMinor, CampaignSlug, Currency, DisplayName, DonationId, DonationStatus, IdempotencyKey, Language,
};
use crate::error::ApiError;
use crate::prometheus::RateLimit;
use crate::state::AppState;

use super::form::{self, FlagField};

/// The request as sent: every field text, checked only when parsed into domain types.
/// The donate form sends a chosen suggested `amount` and, when the donor typed one,
/// `other_amount`, which wins; JSON clients send `amount` alone.
#[derive(Debug, Deserialize)]
struct DonationRequest {
    campaign: String,
    #[serde(default)]
    amount: Option<AmountField>,
    #[serde(default)]
    other_amount: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    anonymous: Option<FlagField>,
    /// The share code the page remembered (`ref`); the `/r/` cookie is the fallback.
    #[serde(default, rename = "ref")]
    referral: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// A form sends text; a JSON client may send `"25.50"` or `25.5`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AmountField {
    Text(String),
    Number(serde_json::Number),
}

impl AmountField {
    fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Number(number) => number.to_string(),
        }
    }
}

pub async fn create_donation(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let is_json = form::is_json(&request);
    match start_donation(&request, &body, is_json, &state).await {
        Ok((id, redirect)) if is_json => Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, redirect.as_str()))
            .json(serde_json::json!({ "id": id.as_str(), "redirect_url": redirect.as_str() }))),
        Ok((_, redirect)) => Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, redirect.as_str())).finish()),
        Err(error) if is_json => Err(error.into()),
        Err(error) => Err(error.for_browser().into()),
    }
}

#[tracing::instrument(name = "create_donation", skip_all, fields(campaign, donation))]
async fn start_donation(
    request: &HttpRequest,
    body: &[u8],
    is_json: bool,
    state: &AppState,
) -> Result<(DonationId, Url), ApiError> {
    // Before anything is parsed or stored: a script posting in a loop costs almost nothing.
    if let Err(wait) = state.donation_limiter.check(state.address_key(request, "donation")) {
        state.prometheus.record_rate_limited(RateLimit::Donation);
        return Err(ApiError::RateLimited {
            detail: "Several gifts were started from this address just now; please wait a few minutes and try again."
                .into(),
            retry_after: wait,
        });
    }
    let header_key = request.headers().get("idempotency-key").and_then(|v| v.to_str().ok());
    let fields = decode_donation(body, is_json, header_key, &state.campaigns)?;
    let new = parse_donation(request, fields, state)?;
    tracing::Span::current().record("campaign", new.campaign.as_str()).record("donation", new.id.as_str());
    let donation_id = match state.store.insert_donation(&new).await? {
        Inserted::New => new.id.clone(),
        Inserted::Existing(existing) => {
            check_same_request(&existing, &new)?;
            if existing.status != DonationStatus::Pending {
                // Already settled: a retry must not open another payment for it.
                return Ok((existing.id.clone(), state.result_page(&existing, false)?));
            }
            if let Some(url) = first_attempts_checkout(state, existing.clone()).await? {
                return Ok((existing.id, url));
            }
            // Stored, but the first attempt never reached a gateway (it failed, or its process
            // died): start it now, on the same gateway first.
            existing.id
        }
    };
    let mut candidates = state.gateways.candidates(new.currency);
    if let Some(position) = candidates.iter().position(|g| g.name() == new.gateway) {
        candidates[..=position].rotate_right(1);
    }
    let mut last_error = None;
    for gateway in candidates {
        let request =
            state.checkout_request(&donation_id, new.amount, new.currency, new.lang.as_str(), gateway.as_ref())?;
        match gateway.start(&request).await {
            Ok(checkout) => {
                state.gateways.record_start(gateway.name(), true);
                let record = CheckoutRecord {
                    gateway: gateway.name(),
                    gateway_reference: &checkout.gateway_reference,
                    checkout_url: checkout.redirect_url.as_str(),
                };
                state.store.set_checkout(&donation_id, &record).await?;
                return Ok((donation_id, checkout.redirect_url));
            }
            Err(error) => {
                // Fail over: the donor is better served by the next gateway than by an error.
                state.gateways.record_start(gateway.name(), false);
                tracing::warn!(gateway = gateway.name(), %error, "checkout could not start");
                last_error = Some(error);
            }
        }
    }
    Err(last_error.map_or_else(|| ApiError::Unavailable("no payment gateway takes this currency".into()), Into::into))
}

/// The checkout of a donation another request (a double click, a retry) is starting: it may be
/// talking to the gateway this very moment, and a second start would open a second session
/// on gateways without idempotency keys, so wait a little for it to finish.
async fn first_attempts_checkout(state: &AppState, mut donation: Donation) -> Result<Option<Url>, ApiError> {
    for _ in 0..FIRST_ATTEMPT_POLLS {
        if let Some(url) = donation.checkout_url.as_deref().and_then(|u| Url::parse(u).ok()) {
            return Ok(Some(url));
        }
        tokio::time::sleep(FIRST_ATTEMPT_POLL).await;
        match state.store.donation(&donation.id).await? {
            Some(latest) => donation = latest,
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// How long a retry waits for the first attempt's checkout: longer than a gateway usually takes
/// to open a session, shorter than a donor's patience.
const FIRST_ATTEMPT_POLL: std::time::Duration = std::time::Duration::from_millis(100);
const FIRST_ATTEMPT_POLLS: u32 = 50;

/// What a donation request's body says, checked against the site's campaigns: everything but
/// the gateway and the share-link cookie, which need the running service. Whatever the body,
/// the answer is a value or a 4xx error (the form fuzz target holds it to that).
#[derive(Debug)]
pub struct DonationFields {
    pub campaign: CampaignSlug,
    pub currency: Currency,
    pub amount: AmountMinor,
    pub lang: Language,
    pub idempotency_key: Option<IdempotencyKey>,
    pub display_name: Option<DisplayName>,
    pub anonymous: bool,
    /// The `ref` field as sent; attribution checks it against the cookie and the campaign.
    pub referral: Option<String>,
}

/// Decodes a donation form or JSON body; `header_key` is the `Idempotency-Key` header, which
/// wins over the body's field.
pub fn decode_donation(
    body: &[u8],
    is_json: bool,
    header_key: Option<&str>,
    campaigns: &Campaigns,
) -> Result<DonationFields, ApiError> {
    let fields: DonationRequest = form::parse(body, is_json, "donation")?;
    let campaign_slug = CampaignSlug::parse(&fields.campaign, campaigns)?;
    let campaign = campaigns
        .get(campaign_slug.as_str())
        .ok_or_else(|| ApiError::Unexpected("a parsed campaign slug has no campaign".into()))?;
    if let Some(currency) = fields.currency.as_deref().map(str::trim).filter(|c| !c.is_empty())
        && !currency.eq_ignore_ascii_case(campaign.currency.code())
    {
        return Err(ApiError::Invalid(format!(
            "This campaign takes gifts in {}, not {}.",
            campaign.currency.code(),
            currency.chars().take(8).collect::<String>()
        )));
    }
    let typed = fields.other_amount.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_string);
    let amount_text = typed.or_else(|| fields.amount.as_ref().map(AmountField::text)).unwrap_or_default();
    let amount = AmountMinor::parse_for(&amount_text, campaign)?;
    let idempotency_key = header_key
        .or(fields.idempotency_key.as_deref())
        .filter(|k| !k.trim().is_empty())
        .map(IdempotencyKey::parse)
        .transpose()?;
    Ok(DonationFields {
        campaign: campaign_slug,
        currency: campaign.currency,
        amount,
        lang: Language::parse(fields.lang.as_deref(), campaigns),
        idempotency_key,
        display_name: DisplayName::parse(fields.display_name.as_deref())?,
        anonymous: fields.anonymous.as_ref().is_some_and(FlagField::is_set),
        referral: fields.referral,
    })
}

fn parse_donation(request: &HttpRequest, fields: DonationFields, state: &AppState) -> Result<NewDonation, ApiError> {
    let gateway =
        state.gateways.candidates(fields.currency).into_iter().next().ok_or_else(|| {
            ApiError::Unavailable(format!("no payment gateway takes {}", fields.currency.code()).into())
        })?;
    Ok(NewDonation {
        id: DonationId::generate(),
        currency: fields.currency,
        campaign: fields.campaign,
        amount: fields.amount,
        lang: fields.lang,
        gateway: gateway.name().to_string(),
        idempotency_key: fields.idempotency_key,
        display_name: fields.display_name,
        anonymous: fields.anonymous,
        referral: super::referrals::attributed_code(request, fields.referral.as_deref(), state),
    })
}

/// A retried request must be the same request; reusing a key for another gift is a client bug.
fn check_same_request(existing: &Donation, new: &NewDonation) -> Result<(), ApiError> {
    if existing.campaign != new.campaign || existing.amount != new.amount {
        return Err(ApiError::Conflict("This idempotency key was already used for a different donation.".into()));
    }
    Ok(())
}
