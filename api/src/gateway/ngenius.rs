//! Network International's N-Genius Online hosted payment page, following its API guide
//! ("Request an access token", "Create an order", "Retrieve order status", "Webhooks").
//!
//! - An access token from `POST /identity/auth/access-token` (`Authorization: Basic {api key}`),
//!   kept until shortly before it expires, and fetched again once if a call answers 401.
//! - Start: `POST /transactions/outlets/{outlet}/orders` (action `PURCHASE`, the amount in minor
//!   units, our donation id as `merchantOrderReference`); the donor goes to the order's
//!   `_links.payment.href`. N-Genius has no idempotency key: a retried start of the same
//!   donation is held back by the donation route until the first one finishes.
//! - Return: N-Genius appends `?ref={order reference}` to our URL; the order is then fetched,
//!   so only N-Genius's own answer counts.
//! - Notifications are unsigned and not retried: they are only a prompt to fetch the order
//!   they name; nothing in their body is believed.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::{
    BrowserReturn, Checkout, CheckoutRequest, GatewayError, Notification, PaymentGateway, PendingPayment,
    VerifiedReturn,
};
use crate::db::PaymentEvent;
use crate::domain::{AmountMinor, Currency, DonationId, GatewayEventId, Outcome};

pub const NAME: &str = "ngenius";
const PAYMENT_MEDIA_TYPE: &str = "application/vnd.ni-payment.v2+json";
const IDENTITY_MEDIA_TYPE: &str = "application/vnd.ni-identity.v1+json";
/// A token is fetched again this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);

pub struct NgeniusGateway {
    api_key: SecretString,
    outlet: String,
    api_base: Url,
    client: reqwest::Client,
    token: Mutex<Option<(SecretString, Instant)>>,
}

impl NgeniusGateway {
    pub fn from_settings(settings: &crate::Settings) -> Result<Option<Self>, String> {
        let Some(api_key) = &settings.ngenius_api_key else {
            return match settings.ngenius_outlet_ref {
                Some(_) => Err("PLEDGE_NGENIUS_OUTLET_REF is set but PLEDGE_NGENIUS_API_KEY is not".into()),
                None => Ok(None),
            };
        };
        let outlet = settings
            .ngenius_outlet_ref
            .clone()
            .ok_or("PLEDGE_NGENIUS_API_KEY is set but PLEDGE_NGENIUS_OUTLET_REF is not")?;
        if !is_reference(&outlet) {
            return Err("PLEDGE_NGENIUS_OUTLET_REF is not an outlet reference".into());
        }
        Ok(Some(Self {
            api_key: api_key.clone(),
            outlet,
            api_base: settings.ngenius_api_base.clone(),
            client: reqwest::Client::builder().timeout(Duration::from_secs(15)).build().map_err(|e| e.to_string())?,
            token: Mutex::new(None),
        }))
    }

    fn url(&self, path: &str) -> Result<Url, GatewayError> {
        self.api_base.join(path).map_err(malformed)
    }

    /// A valid access token, fetched when there is none or it is about to expire.
    async fn token(&self, refresh: bool) -> Result<SecretString, GatewayError> {
        let mut token = self.token.lock().await;
        if let Some((value, expires)) = token.as_ref()
            && !refresh
            && Instant::now() + TOKEN_MARGIN < *expires
        {
            return Ok(value.clone());
        }
        let response = self
            .client
            .post(self.url("identity/auth/access-token")?)
            .header("authorization", format!("Basic {}", self.api_key.expose_secret()))
            .header("content-type", IDENTITY_MEDIA_TYPE)
            .header("accept", IDENTITY_MEDIA_TYPE)
            .send()
            .await;
        let issued: AccessToken = answer(response).await?;
        let value = SecretString::from(issued.access_token);
        *token = Some((value.clone(), Instant::now() + Duration::from_secs(issued.expires_in.unwrap_or(300))));
        Ok(value)
    }

    /// Sends a request with a token, fetching a new token and trying once more on a 401.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        build: impl Fn() -> Result<reqwest::RequestBuilder, GatewayError>,
    ) -> Result<T, GatewayError> {
        for refresh in [false, true] {
            let token = self.token(refresh).await?;
            let response =
                build()?.bearer_auth(token.expose_secret()).header("accept", PAYMENT_MEDIA_TYPE).send().await;
            if let Ok(response) = &response
                && response.status() == reqwest::StatusCode::UNAUTHORIZED
                && !refresh
            {
                continue;
            }
            return answer(response).await;
        }
        Err(GatewayError::Rejected("N-Genius refused a fresh access token".into()))
    }

    async fn order(&self, reference: &str) -> Result<Order, GatewayError> {
        if !is_reference(reference) {
            return Err(malformed("not an order reference"));
        }
        let url = self.url(&format!("transactions/outlets/{}/orders/{reference}", self.outlet))?;
        self.call(|| Ok(self.client.get(url.clone()))).await
    }
}

fn malformed(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Malformed(e.to_string())
}

/// Order and outlet references are UUIDs; anything else never reaches a URL path.
fn is_reference(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

async fn answer<T: serde::de::DeserializeOwned>(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, GatewayError> {
    let response = response.map_err(|e| GatewayError::Unavailable(e.to_string()))?;
    let status = response.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(GatewayError::Unavailable(format!("N-Genius answered {status}")));
    }
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(GatewayError::Malformed("N-Genius knows no such order".into()));
    }
    if !status.is_success() {
        return Err(GatewayError::Rejected(format!("N-Genius answered {status}")));
    }
    response.json().await.map_err(|e| GatewayError::Unavailable(format!("unreadable N-Genius answer: {e}")))
}

#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    reference: String,
    merchant_order_reference: Option<String>,
    amount: Money,
    #[serde(rename = "_links", default)]
    links: Option<Links>,
    #[serde(rename = "_embedded", default)]
    embedded: Option<Embedded>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Money {
    currency_code: String,
    value: i64,
}

#[derive(Debug, Deserialize)]
struct Links {
    payment: Option<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    href: String,
}

#[derive(Debug, Default, Deserialize)]
struct Embedded {
    #[serde(default)]
    payment: Vec<Payment>,
}

#[derive(Debug, Deserialize)]
struct Payment {
    state: String,
    #[serde(rename = "_embedded", default)]
    embedded: Option<PaymentEmbedded>,
}

#[derive(Debug, Default, Deserialize)]
struct PaymentEmbedded {
    #[serde(rename = "cnp:refund", default)]
    refunds: Vec<Refund>,
}

#[derive(Debug, Deserialize)]
struct Refund {
    amount: Money,
    #[serde(default)]
    state: Option<String>,
}

impl Order {
    fn donation_id(&self) -> Result<DonationId, GatewayError> {
        DonationId::parse(self.merchant_order_reference.as_deref().unwrap_or_default()).map_err(malformed)
    }

    /// What the order's latest payment says, `None` while it is still open.
    fn outcome(&self) -> Option<Outcome> {
        let payment = self.embedded.as_ref()?.payment.last()?;
        Some(match payment.state.as_str() {
            "PURCHASED" | "CAPTURED" => Outcome::Succeeded,
            "FAILED" | "DECLINED" => Outcome::Failed,
            "REFUNDED" => Outcome::Refunded { total_refunded: self.amount.value },
            // Refunds so far: the sum of the refunds that went through.
            "PARTIALLY_REFUNDED" => Outcome::Refunded {
                total_refunded: payment
                    .embedded
                    .as_ref()
                    .map(|e| {
                        e.refunds
                            .iter()
                            .filter(|r| r.state.as_deref().is_none_or(|s| s == "SUCCESS"))
                            .map(|r| r.amount.value)
                            .sum()
                    })
                    .unwrap_or(0),
            },
            _ => return None,
        })
    }

    fn event(&self) -> Result<Option<PaymentEvent>, GatewayError> {
        let Some(outcome) = self.outcome() else { return Ok(None) };
        let refunded = match outcome {
            Outcome::Refunded { total_refunded } => format!(":{total_refunded}"),
            _ => String::new(),
        };
        Ok(Some(PaymentEvent {
            gateway: NAME.into(),
            event_id: GatewayEventId::parse(&format!("{}:{}{refunded}", self.reference, outcome.as_str()))
                .map_err(malformed)?,
            donation_id: self.donation_id()?,
            outcome,
            amount: AmountMinor::parse(self.amount.value).map_err(malformed)?,
            currency: Currency::parse(&self.amount.currency_code).map_err(malformed)?,
            gateway_reference: Some(self.reference.clone()),
        }))
    }
}

#[derive(Deserialize)]
struct ReturnQuery {
    #[serde(rename = "ref", default)]
    reference: Option<String>,
    #[serde(default)]
    donation: Option<String>,
}

/// The one thing read from a notification: which order to ask about.
#[derive(Deserialize)]
struct Prompt {
    order: PromptOrder,
}

#[derive(Deserialize)]
struct PromptOrder {
    reference: String,
}

#[async_trait]
impl PaymentGateway for NgeniusGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn start(&self, request: &CheckoutRequest) -> Result<Checkout, GatewayError> {
        let mut cancel_url = request.return_url.clone();
        cancel_url.query_pairs_mut().append_pair("donation", request.donation_id.as_str());
        let body = serde_json::json!({
            "action": "PURCHASE",
            "amount": { "currencyCode": request.currency.code(), "value": request.amount.get() },
            "merchantOrderReference": request.donation_id.as_str(),
            "language": if request.lang == "ar" { "ar" } else { "en" },
            "merchantAttributes": {
                "redirectUrl": request.return_url.as_str(),
                "cancelUrl": cancel_url.as_str(),
                "skipConfirmationPage": true,
            },
        });
        let url = self.url(&format!("transactions/outlets/{}/orders", self.outlet))?;
        let order: Order = self
            .call(|| {
                Ok(self.client.post(url.clone()).header("content-type", PAYMENT_MEDIA_TYPE).body(body.to_string()))
            })
            .await?;
        let href = order.links.as_ref().and_then(|l| l.payment.as_ref()).ok_or_else(|| malformed("no payment link"))?;
        Ok(Checkout { redirect_url: Url::parse(&href.href).map_err(malformed)?, gateway_reference: order.reference })
    }

    async fn verify_return(&self, browser: &BrowserReturn<'_>) -> Result<VerifiedReturn, GatewayError> {
        let query: ReturnQuery = serde_urlencoded::from_str(browser.query).map_err(malformed)?;
        let Some(reference) = query.reference else {
            // The cancel URL: no verdict, just where to send the donor.
            let donation = query.donation.ok_or_else(|| malformed("neither `ref` nor `donation`"))?;
            let donation_id = DonationId::parse(&donation).map_err(malformed)?;
            return Ok(VerifiedReturn { donation_id, event: None, processing: false });
        };
        let order = self.order(&reference).await?;
        Ok(VerifiedReturn { donation_id: order.donation_id()?, event: order.event()?, processing: false })
    }

    async fn verify_notification(&self, notification: &Notification<'_>) -> Result<Option<PaymentEvent>, GatewayError> {
        let prompt: Prompt = serde_json::from_slice(notification.body).map_err(malformed)?;
        self.order(&prompt.order.reference).await?.event()
    }

    async fn fetch_status(&self, payment: &PendingPayment) -> Result<Option<PaymentEvent>, GatewayError> {
        let Some(reference) = payment.gateway_reference.as_deref() else { return Ok(None) };
        self.order(reference).await?.event()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(state: &str, refunds: &[i64]) -> Order {
        let refunds: Vec<serde_json::Value> = refunds
            .iter()
            .map(|v| serde_json::json!({ "amount": { "currencyCode": "KWD", "value": v }, "state": "SUCCESS" }))
            .collect();
        serde_json::from_value(serde_json::json!({
            "reference": "3f1c-order",
            "merchantOrderReference": DonationId::generate().as_str(),
            "amount": { "currencyCode": "KWD", "value": 12345 },
            "_embedded": { "payment": [{ "state": state, "_embedded": { "cnp:refund": refunds } }] },
        }))
        .unwrap()
    }

    #[test]
    fn payment_states_map_to_outcomes() {
        assert_eq!(order("PURCHASED", &[]).outcome(), Some(Outcome::Succeeded));
        assert_eq!(order("CAPTURED", &[]).outcome(), Some(Outcome::Succeeded));
        assert_eq!(order("FAILED", &[]).outcome(), Some(Outcome::Failed));
        assert_eq!(order("STARTED", &[]).outcome(), None);
        assert_eq!(order("AWAIT_3DS", &[]).outcome(), None);
        assert_eq!(order("REFUNDED", &[]).outcome(), Some(Outcome::Refunded { total_refunded: 12345 }));
        assert_eq!(
            order("PARTIALLY_REFUNDED", &[1000, 2345]).outcome(),
            Some(Outcome::Refunded { total_refunded: 3345 })
        );
    }

    #[test]
    fn amounts_are_minor_units_of_the_orders_currency() {
        let event = order("PURCHASED", &[]).event().unwrap().unwrap();
        assert_eq!((event.amount.get(), event.currency.code()), (12345, "KWD"));
        assert_eq!(event.event_id.as_str(), "3f1c-order:succeeded");
    }

    #[test]
    fn only_uuid_like_references_reach_a_url() {
        assert!(is_reference("9d5b0c1e-5a3e-4a8e-9f3c-2f1e0d6b7a11"));
        for bad in ["", "../admin", "a/b", "a?b", "a b"] {
            assert!(!is_reference(bad), "{bad}");
        }
    }
}
