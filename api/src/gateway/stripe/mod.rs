//! Stripe Checkout, following Stripe's API reference ("Create a Checkout Session", "Retrieve a
//! Checkout Session", "Retrieve a charge", "The Event object", "Idempotent requests") and its
//! webhook guide ("Verify webhook signatures").
//!
//! - Start: `POST /v1/checkout/sessions`, form-encoded, `Authorization: Bearer {secret key}`,
//!   `Idempotency-Key: pledge-{donation}` so a retried start returns the same session (see
//!   `protocol::session_form` for the parameters and the minor units). The donation id travels
//!   as `client_reference_id` and as metadata on the session and on its payment intent.
//! - Return: Stripe substitutes `{CHECKOUT_SESSION_ID}` in our success URL. The browser's word
//!   is not taken: the session is retrieved, and must belong to the donation the URL names.
//!   A cancel return carries no verdict.
//! - Webhooks: `Stripe-Signature: t=…,v1=…[,v1=…]`, HMAC-SHA256 over `{t}.{body}` with the
//!   endpoint's signing secret, any `v1` may match, five minutes' tolerance; checked before the
//!   body is parsed. Session events (completed, async payment succeeded/failed, expired),
//!   `charge.refunded` (the running total) and disputes; a dispute names only its charge,
//!   which is retrieved for its metadata and amount.
//! - Status (for the reconciler): the session is retrieved again.
//!
//! Facts learnt by asking carry the event id `{session}:{outcome}`, so a return and a status
//! query about the same state are one event; webhooks carry Stripe's event id (`evt_…`).

pub(crate) mod protocol;

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::{
    BrowserReturn, Checkout, CheckoutRequest, GatewayError, Notification, PaymentGateway, PendingPayment,
    VerifiedReturn,
};
use crate::db::PaymentEvent;
use crate::domain::DonationId;
use protocol::{Charge, Session, Webhook, is_stripe_id, malformed};
pub use protocol::{SIGNATURE_HEADER, TOLERANCE_SECONDS, checkout_locale, sign, verify_signature};

pub const NAME: &str = "stripe";

pub struct StripeGateway {
    secret_key: SecretString,
    webhook_secret: SecretString,
    api_base: Url,
    client: reqwest::Client,
}

impl StripeGateway {
    pub fn from_settings(settings: &crate::Settings) -> Result<Option<Self>, String> {
        let (secret_key, webhook_secret) = match (&settings.stripe_secret_key, &settings.stripe_webhook_secret) {
            (None, None) => return Ok(None),
            (Some(secret_key), Some(webhook_secret)) => (secret_key.clone(), webhook_secret.clone()),
            (Some(_), None) => {
                return Err("PLEDGE_STRIPE_SECRET_KEY is set but PLEDGE_STRIPE_WEBHOOK_SECRET is not".into());
            }
            (None, Some(_)) => {
                return Err("PLEDGE_STRIPE_WEBHOOK_SECRET is set but PLEDGE_STRIPE_SECRET_KEY is not".into());
            }
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("the Stripe HTTP client: {e}"))?;
        Ok(Some(Self { secret_key, webhook_secret, api_base: settings.stripe_api_base.clone(), client }))
    }

    fn url(&self, path: &str) -> Result<Url, GatewayError> {
        self.api_base.join(path).map_err(malformed)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GatewayError> {
        let response = self.client.get(self.url(path)?).bearer_auth(self.secret_key.expose_secret()).send().await;
        answer(response).await
    }

    async fn session(&self, id: &str) -> Result<Session, GatewayError> {
        if !is_stripe_id(id) {
            return Err(malformed("not a Checkout Session id"));
        }
        self.get(&format!("v1/checkout/sessions/{id}")).await
    }
}

/// Stripe's answer, or why there is none: 429 and 5xx are worth retrying, other refusals are
/// ours to fix (and carry Stripe's message, never our key).
async fn answer<T: DeserializeOwned>(response: Result<reqwest::Response, reqwest::Error>) -> Result<T, GatewayError> {
    let response = response.map_err(|e| GatewayError::Unavailable(e.without_url().to_string()))?;
    let status = response.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(GatewayError::Unavailable(format!("Stripe answered {status}")));
    }
    if !status.is_success() {
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        return Err(GatewayError::Rejected(format!("Stripe answered {status}: {message}")));
    }
    response.json().await.map_err(|e| GatewayError::Unavailable(format!("unreadable Stripe answer: {e}")))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The query of our success and cancel URLs, as Stripe sends the donor back.
#[derive(Debug, Deserialize)]
struct ReturnQuery {
    donation: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    cancelled: Option<String>,
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn start(&self, request: &CheckoutRequest) -> Result<Checkout, GatewayError> {
        let response = self
            .client
            .post(self.url("v1/checkout/sessions")?)
            .bearer_auth(self.secret_key.expose_secret())
            .header("Idempotency-Key", protocol::idempotency_key(&request.donation_id))
            .form(&protocol::session_form(request))
            .send()
            .await;
        let session: Session = answer(response).await?;
        let redirect_url = session.url.as_deref().ok_or_else(|| malformed("a session without a URL"))?;
        Ok(Checkout { redirect_url: Url::parse(redirect_url).map_err(malformed)?, gateway_reference: session.id })
    }

    async fn verify_return(&self, browser: &BrowserReturn<'_>) -> Result<VerifiedReturn, GatewayError> {
        let query: ReturnQuery = serde_urlencoded::from_str(browser.query).map_err(malformed)?;
        let donation_id = DonationId::parse(&query.donation).map_err(malformed)?;
        let Some(session_id) = query.session_id.filter(|_| query.cancelled.is_none()) else {
            return Ok(VerifiedReturn { donation_id, event: None, processing: false });
        };
        let session = self.session(&session_id).await?;
        if session.client_reference_id.as_deref() != Some(donation_id.as_str()) {
            return Err(malformed("the session belongs to another donation"));
        }
        let (event, processing) = session.verdict()?;
        Ok(VerifiedReturn { donation_id, event, processing })
    }

    async fn verify_notification(&self, notification: &Notification<'_>) -> Result<Option<PaymentEvent>, GatewayError> {
        let header = notification.headers.get(SIGNATURE_HEADER).map(String::as_str);
        verify_signature(self.webhook_secret.expose_secret().as_bytes(), header, notification.body, unix_now())?;
        match protocol::interpret(notification.body)? {
            Webhook::Event(event) => Ok(Some(event)),
            Webhook::Dispute { event_id, charge, outcome } => {
                let charge: Charge = self.get(&format!("v1/charges/{charge}")).await?;
                charge.event(&event_id, outcome)
            }
            Webhook::Ignored => Ok(None),
        }
    }

    async fn fetch_status(&self, payment: &PendingPayment) -> Result<Option<PaymentEvent>, GatewayError> {
        let Some(session_id) = payment.gateway_reference.as_deref() else { return Ok(None) };
        let (event, _processing) = self.session(session_id).await?.verdict()?;
        Ok(event)
    }
}
