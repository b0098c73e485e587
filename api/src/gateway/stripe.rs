//! Stripe Checkout, following Stripe's API reference ("Checkout Sessions", "Charges", "Events")
//! and its webhook signature scheme ("Check the webhook signatures").
//!
//! - Start: `POST /v1/checkout/sessions` (form-encoded, `Idempotency-Key: pledge-{donation}`, so
//!   a retried start returns the same session); the donation id travels as
//!   `client_reference_id` and as metadata on the session and its payment intent (so charges,
//!   refunds and disputes carry it too).
//! - Return: Stripe substitutes `{CHECKOUT_SESSION_ID}` in the success URL; the browser's word is
//!   not taken: the session is retrieved and must belong to the donation named.
//! - Webhooks: `Stripe-Signature: t=…,v1=…[,v1=…]`, HMAC-SHA256 over `{t}.{body}` with the
//!   endpoint's signing secret, any `v1` may match, five minutes' tolerance; checked before the
//!   body is parsed. Disputes name only their charge, which is fetched for its metadata.
//! - Status: the session is retrieved again.

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use url::Url;

use super::{
    BrowserReturn, Checkout, CheckoutRequest, GatewayError, Notification, PaymentGateway, PendingPayment,
    VerifiedReturn,
};
use crate::db::PaymentEvent;
use crate::domain::{AmountMinor, Currency, DonationId, GatewayEventId, Outcome};

pub const NAME: &str = "stripe";
pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// How far a webhook's timestamp may be from our clock.
pub const TOLERANCE_SECONDS: u64 = 300;

pub struct StripeGateway {
    secret_key: SecretString,
    webhook_secret: SecretString,
    api_base: Url,
    client: reqwest::Client,
}

impl StripeGateway {
    pub fn from_settings(settings: &crate::Settings) -> Result<Option<Self>, String> {
        match (&settings.stripe_secret_key, &settings.stripe_webhook_secret) {
            (None, None) => Ok(None),
            (Some(secret_key), Some(webhook_secret)) => Ok(Some(Self {
                secret_key: secret_key.clone(),
                webhook_secret: webhook_secret.clone(),
                api_base: settings.stripe_api_base.clone(),
                client: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(15))
                    .build()
                    .map_err(|e| e.to_string())?,
            })),
            (Some(_), None) => Err("PLEDGE_STRIPE_SECRET_KEY is set but PLEDGE_STRIPE_WEBHOOK_SECRET is not".into()),
            (None, Some(_)) => Err("PLEDGE_STRIPE_WEBHOOK_SECRET is set but PLEDGE_STRIPE_SECRET_KEY is not".into()),
        }
    }

    fn url(&self, path: &str) -> Result<Url, GatewayError> {
        self.api_base.join(path).map_err(malformed)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, GatewayError> {
        let response = self.client.get(self.url(path)?).bearer_auth(self.secret_key.expose_secret()).send().await;
        answer(response).await
    }

    async fn session(&self, id: &str) -> Result<Session, GatewayError> {
        if !is_stripe_id(id) {
            return Err(malformed("not a Checkout Session id"));
        }
        self.get(&format!("v1/checkout/sessions/{id}")).await
    }

    /// A dispute's event, with the donation and amounts read from its charge.
    async fn dispute_event(&self, event: &Event, outcome: Outcome) -> Result<Option<PaymentEvent>, GatewayError> {
        let dispute: Dispute = serde_json::from_value(event.data.object.clone()).map_err(malformed)?;
        if !is_stripe_id(&dispute.charge) {
            return Err(malformed("a dispute without a charge id"));
        }
        let charge: Charge = self.get(&format!("v1/charges/{}", dispute.charge)).await?;
        charge.event(&event.id, outcome)
    }
}

fn malformed(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Malformed(e.to_string())
}

/// Stripe ids are short ASCII tokens; anything else never reaches a URL path.
fn is_stripe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

async fn answer<T: serde::de::DeserializeOwned>(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, GatewayError> {
    let response = response.map_err(|e| GatewayError::Unavailable(e.to_string()))?;
    let status = response.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(GatewayError::Unavailable(format!("Stripe answered {status}")));
    }
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let message: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let message = message["error"]["message"].as_str().unwrap_or("no message").to_string();
        return Err(GatewayError::Rejected(format!("Stripe answered {status}: {message}")));
    }
    response.json().await.map_err(|e| GatewayError::Unavailable(format!("unreadable Stripe answer: {e}")))
}

/// The parts of a Checkout Session we read.
#[derive(Debug, Deserialize)]
struct Session {
    id: String,
    url: Option<String>,
    client_reference_id: Option<String>,
    status: Option<String>,
    payment_status: Option<String>,
    amount_total: Option<i64>,
    currency: Option<String>,
}

impl Session {
    /// What the session says: an event when there is a verdict, and whether the payment is
    /// processing (finished at Stripe, money not yet confirmed).
    fn verdict(&self, event_id: Option<&str>) -> Result<(Option<PaymentEvent>, bool), GatewayError> {
        let outcome = match (self.status.as_deref(), self.payment_status.as_deref()) {
            (Some("complete"), Some("paid" | "no_payment_required")) => Outcome::Succeeded,
            (Some("complete"), _) => return Ok((None, true)),
            (Some("expired"), _) => Outcome::Expired,
            _ => return Ok((None, false)),
        };
        let donation = self.client_reference_id.as_deref().ok_or_else(|| malformed("no client_reference_id"))?;
        let event_id = match event_id {
            Some(id) => id.to_string(),
            None => format!("{}:{}", self.id, outcome.as_str()),
        };
        let event = PaymentEvent {
            gateway: NAME.into(),
            event_id: GatewayEventId::parse(&event_id).map_err(malformed)?,
            donation_id: DonationId::parse(donation).map_err(malformed)?,
            outcome,
            amount: AmountMinor::parse(self.amount_total.unwrap_or_default()).map_err(malformed)?,
            currency: Currency::parse(&self.currency.as_deref().unwrap_or_default().to_ascii_uppercase())
                .map_err(malformed)?,
            gateway_reference: Some(self.id.clone()),
        };
        Ok((Some(event), false))
    }
}

#[derive(Debug, Deserialize)]
struct Charge {
    id: String,
    amount: i64,
    #[serde(default)]
    amount_refunded: i64,
    currency: String,
    #[serde(default)]
    metadata: std::collections::BTreeMap<String, String>,
}

impl Charge {
    fn event(&self, event_id: &str, outcome: Outcome) -> Result<Option<PaymentEvent>, GatewayError> {
        // A charge made outside our checkouts (no donation id) is not ours to count.
        let Some(donation) = self.metadata.get("donation_id") else { return Ok(None) };
        Ok(Some(PaymentEvent {
            gateway: NAME.into(),
            event_id: GatewayEventId::parse(event_id).map_err(malformed)?,
            donation_id: DonationId::parse(donation).map_err(malformed)?,
            outcome,
            amount: AmountMinor::parse(self.amount).map_err(malformed)?,
            currency: Currency::parse(&self.currency.to_ascii_uppercase()).map_err(malformed)?,
            gateway_reference: Some(self.id.clone()),
        }))
    }
}

#[derive(Debug, Deserialize)]
struct Dispute {
    charge: String,
    status: String,
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

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
        let donation = request.donation_id.as_str();
        let mut success_url = request.return_url.clone();
        success_url.query_pairs_mut().append_pair("donation", donation);
        // Stripe fills in the placeholder; its braces must reach Stripe unencoded.
        let success_url = format!("{success_url}&session_id={{CHECKOUT_SESSION_ID}}");
        let mut cancel_url = request.return_url.clone();
        cancel_url.query_pairs_mut().append_pair("donation", donation).append_pair("cancelled", "1");
        let amount = request.amount.get().to_string();
        let currency = request.currency.code().to_ascii_lowercase();
        let locale =
            if matches!(request.lang.as_str(), "ar" | "en" | "fr" | "de" | "es") { &request.lang } else { "auto" };
        let form = [
            ("mode", "payment"),
            ("line_items[0][quantity]", "1"),
            ("line_items[0][price_data][currency]", &currency),
            ("line_items[0][price_data][unit_amount]", &amount),
            ("line_items[0][price_data][product_data][name]", "Donation"),
            ("client_reference_id", donation),
            ("metadata[donation_id]", donation),
            ("payment_intent_data[metadata][donation_id]", donation),
            ("success_url", &success_url),
            ("cancel_url", cancel_url.as_str()),
            ("locale", locale),
        ];
        let response = self
            .client
            .post(self.url("v1/checkout/sessions")?)
            .bearer_auth(self.secret_key.expose_secret())
            .header("Idempotency-Key", format!("pledge-{donation}"))
            .form(&form)
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
        let (event, processing) = session.verdict(None)?;
        Ok(VerifiedReturn { donation_id, event, processing })
    }

    async fn verify_notification(&self, notification: &Notification<'_>) -> Result<Option<PaymentEvent>, GatewayError> {
        let header = notification.headers.get(SIGNATURE_HEADER).map(String::as_str);
        verify_signature(self.webhook_secret.expose_secret().as_bytes(), header, notification.body, unix_now())?;
        let event: Event = serde_json::from_slice(notification.body).map_err(malformed)?;
        let object = || event.data.object.clone();
        match event.kind.as_str() {
            "checkout.session.completed" | "checkout.session.expired" => {
                let session: Session = serde_json::from_value(object()).map_err(malformed)?;
                Ok(session.verdict(Some(&event.id))?.0)
            }
            "checkout.session.async_payment_succeeded" | "checkout.session.async_payment_failed" => {
                let session: Session = serde_json::from_value(object()).map_err(malformed)?;
                let (event_result, _) = Session {
                    // The event type, not the session's fields, says how it ended.
                    status: Some("complete".into()),
                    payment_status: Some("paid".into()),
                    ..session
                }
                .verdict(Some(&event.id))?;
                let failed = event.kind.ends_with("failed");
                Ok(event_result
                    .map(|e| PaymentEvent { outcome: if failed { Outcome::Failed } else { e.outcome }, ..e }))
            }
            "charge.refunded" => {
                let charge: Charge = serde_json::from_value(object()).map_err(malformed)?;
                charge.event(&event.id, Outcome::Refunded { total_refunded: charge.amount_refunded })
            }
            "charge.dispute.created" => self.dispute_event(&event, Outcome::DisputeOpened).await,
            "charge.dispute.closed" => {
                let dispute: Dispute = serde_json::from_value(object()).map_err(malformed)?;
                match dispute.status.as_str() {
                    "won" | "warning_closed" => self.dispute_event(&event, Outcome::DisputeWon).await,
                    "lost" => self.dispute_event(&event, Outcome::DisputeLost).await,
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    async fn fetch_status(&self, payment: &PendingPayment) -> Result<Option<PaymentEvent>, GatewayError> {
        let Some(session_id) = payment.gateway_reference.as_deref() else { return Ok(None) };
        Ok(self.session(session_id).await?.verdict(None)?.0)
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The `v1` signature Stripe puts on `body` at `timestamp` (also used by tests).
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a `Stripe-Signature` header: any of its `v1` signatures must match, in constant
/// time, and its timestamp must be within the tolerance.
pub fn verify_signature(secret: &[u8], header: Option<&str>, body: &[u8], now: u64) -> Result<(), GatewayError> {
    let header = header.ok_or(GatewayError::BadSignature)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<u64>().ok(),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(GatewayError::BadSignature)?;
    let matches = signatures.iter().any(|signature| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    });
    if !matches {
        return Err(GatewayError::BadSignature);
    }
    if now.abs_diff(timestamp) > TOLERANCE_SECONDS {
        return Err(GatewayError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1"}"#;

    #[test]
    fn a_signature_over_timestamp_and_body_is_accepted_among_others() {
        let good = sign(SECRET, 1_700_000_000, BODY);
        let header = format!("t=1700000000,v1={},v1={good},v0=ignored", "00".repeat(32));
        assert!(verify_signature(SECRET, Some(&header), BODY, 1_700_000_100).is_ok());
    }

    #[test]
    fn forged_stale_and_malformed_headers_are_refused() {
        let good = sign(SECRET, 1_700_000_000, BODY);
        let cases = [
            (None, "missing"),
            (Some(format!("t=1700000000,v1={}", sign(b"other", 1_700_000_000, BODY))), "wrong secret"),
            (Some(format!("v1={good}")), "no timestamp"),
            (Some("t=1700000000".to_string()), "no signature"),
            (Some(format!("t=1700000001,v1={good}")), "another timestamp"),
            (Some("garbage".to_string()), "garbage"),
        ];
        for (header, why) in cases {
            let result = verify_signature(SECRET, header.as_deref(), BODY, 1_700_000_000);
            assert!(matches!(result, Err(GatewayError::BadSignature)), "{why}: {result:?}");
        }
        let stale = verify_signature(SECRET, Some(&format!("t=1700000000,v1={good}")), BODY, 1_700_000_301);
        assert!(matches!(stale, Err(GatewayError::Stale)));
        let tampered = verify_signature(SECRET, Some(&format!("t=1700000000,v1={good}")), b"{}", 1_700_000_000);
        assert!(matches!(tampered, Err(GatewayError::BadSignature)));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // From `printf '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_test`.
        let expected = "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925";
        assert_eq!(sign(SECRET, 1_700_000_000, BODY), expected);
    }

    #[test]
    fn sessions_say_paid_processing_expired_or_nothing() {
        let session = |status: &str, payment: &str| Session {
            id: "cs_1".into(),
            url: None,
            client_reference_id: Some(DonationId::generate().as_str().into()),
            status: Some(status.into()),
            payment_status: Some(payment.into()),
            amount_total: Some(2500),
            currency: Some("usd".into()),
        };
        let (event, processing) = session("complete", "paid").verdict(None).unwrap();
        let event = event.unwrap();
        assert_eq!((event.outcome, event.amount.get(), event.currency.code()), (Outcome::Succeeded, 2500, "USD"));
        assert_eq!(event.event_id.as_str(), "cs_1:succeeded");
        assert!(!processing);
        assert!(matches!(session("complete", "unpaid").verdict(None).unwrap(), (None, true)));
        assert_eq!(session("expired", "unpaid").verdict(None).unwrap().0.unwrap().outcome, Outcome::Expired);
        assert!(matches!(session("open", "unpaid").verdict(None).unwrap(), (None, false)));
    }
}
