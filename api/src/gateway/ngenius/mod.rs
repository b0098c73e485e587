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
//! - Status (for the reconciler): the same order query, by the reference `start` returned.
//!
//! Facts learnt by asking carry the event id `{order reference}:{outcome}` (refunds add the
//! running total), so a return, a notification and a status query about the same state are one
//! event, applied once.

pub(crate) mod protocol;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use url::Url;

use super::{
    BrowserReturn, Checkout, CheckoutRequest, GatewayError, Notification, PaymentGateway, PendingPayment,
    VerifiedReturn,
};
use crate::db::PaymentEvent;
use crate::domain::DonationId;
use protocol::{
    AccessToken, IDENTITY_MEDIA_TYPE, Order, PAYMENT_MEDIA_TYPE, Prompt, ReturnQuery, is_reference, malformed,
    order_request, usable_for,
};

pub const NAME: &str = "ngenius";

pub struct NgeniusGateway {
    api_key: SecretString,
    outlet: String,
    api_base: Url,
    client: reqwest::Client,
    /// The current access token and when to stop using it. The lock is held while a token is
    /// fetched, so concurrent calls wait for one fetch rather than each starting their own.
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

    /// A valid access token, fetched when there is none, it is about to expire, or it is the
    /// `refused` one (unless another call has replaced it meanwhile).
    async fn token(&self, refused: Option<&SecretString>) -> Result<SecretString, GatewayError> {
        let mut token = self.token.lock().await;
        if let Some((value, renew_at)) = token.as_ref()
            && refused.is_none_or(|r| r.expose_secret() != value.expose_secret())
            && Instant::now() < *renew_at
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
        let issued: AccessToken = answer(response, not_configured).await?;
        let value = SecretString::from(issued.access_token);
        *token = Some((value.clone(), Instant::now() + usable_for(issued.expires_in)));
        Ok(value)
    }

    /// Sends a request with a token, fetching a new token and trying once more on a 401.
    /// `not_found` says what a 404 means for this request.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        build: impl Fn() -> Result<reqwest::RequestBuilder, GatewayError>,
        not_found: fn() -> GatewayError,
    ) -> Result<T, GatewayError> {
        let mut refused = None;
        loop {
            let token = self.token(refused.as_ref()).await?;
            let response =
                build()?.bearer_auth(token.expose_secret()).header("accept", PAYMENT_MEDIA_TYPE).send().await;
            if let Ok(response) = &response
                && response.status() == reqwest::StatusCode::UNAUTHORIZED
                && refused.is_none()
            {
                refused = Some(token);
                continue;
            }
            return answer(response, not_found).await;
        }
    }

    #[tracing::instrument(name = "ngenius_order", skip_all, fields(order = reference))]
    async fn order(&self, reference: &str) -> Result<Order, GatewayError> {
        if !is_reference(reference) {
            return Err(malformed("not an order reference"));
        }
        let url = self.url(&format!("transactions/outlets/{}/orders/{reference}", self.outlet))?;
        // An order N-Genius does not know was named by whoever sent us its reference.
        self.call(|| Ok(self.client.get(url.clone())), || malformed("N-Genius knows no such order")).await
    }
}

/// A 404 from the token or order-creation endpoint: the API base or outlet is wrong.
fn not_configured() -> GatewayError {
    GatewayError::Rejected("N-Genius answered 404: check PLEDGE_NGENIUS_API_BASE and PLEDGE_NGENIUS_OUTLET_REF".into())
}

/// Reads N-Genius's answer: connection failures, 429 and 5xx are worth retrying, other refusals
/// are not.
async fn answer<T: serde::de::DeserializeOwned>(
    response: Result<reqwest::Response, reqwest::Error>,
    not_found: fn() -> GatewayError,
) -> Result<T, GatewayError> {
    let response = response.map_err(|e| GatewayError::Unavailable(e.to_string()))?;
    let status = response.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(GatewayError::Unavailable(format!("N-Genius answered {status}")));
    }
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(not_found());
    }
    if !status.is_success() {
        return Err(GatewayError::Rejected(format!("N-Genius answered {status}")));
    }
    response.json().await.map_err(|e| GatewayError::Unavailable(format!("unreadable N-Genius answer: {e}")))
}

#[async_trait]
impl PaymentGateway for NgeniusGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Creates an order. N-Genius has no idempotency key, so each call opens a new order: a
    /// retried start of the same donation is held back by the donation route instead.
    #[tracing::instrument(name = "ngenius_start", skip_all, fields(donation = request.donation_id.as_str()))]
    async fn start(&self, request: &CheckoutRequest) -> Result<Checkout, GatewayError> {
        let body = order_request(request).to_string();
        let url = self.url(&format!("transactions/outlets/{}/orders", self.outlet))?;
        let order: Order = self
            .call(
                || Ok(self.client.post(url.clone()).header("content-type", PAYMENT_MEDIA_TYPE).body(body.clone())),
                not_configured,
            )
            .await?;
        Ok(Checkout { redirect_url: order.pay_page()?, gateway_reference: order.reference })
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
