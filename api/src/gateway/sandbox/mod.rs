//! The sandbox gateway: a stand-in for a real gateway that speaks a signed redirect protocol
//! (see `protocol`), so development and tests exercise the same verification paths real money
//! takes. `SandboxGateway` is our side; `hosted_page` is the gateway's side.

pub mod hosted_page;
pub mod protocol;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{
    BrowserReturn, Checkout, CheckoutRequest, GatewayError, Notification, PaymentGateway, PendingPayment,
    VerifiedReturn,
};
use crate::db::PaymentEvent;
use crate::domain::{AmountMinor, Currency, DonationId, GatewayEventId, Outcome};

pub const NAME: &str = "sandbox";

pub struct SandboxGateway {
    secret: SecretString,
    pay_url: Url,
    client: reqwest::Client,
}

impl SandboxGateway {
    /// `pay_url` is the hosted payment page (`…/sandbox/pay` where `pledge serve` mounts it);
    /// the status query lives beside it (`…/sandbox/status`).
    pub fn new(secret: SecretString, pay_url: Url, client: reqwest::Client) -> Self {
        Self { secret, pay_url, client }
    }

    fn key(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }
}

/// The JSON body of a sandbox notification, and of its answer to a status query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotificationBody {
    pub event_id: String,
    pub payment_id: String,
    pub merchant_reference: String,
    pub status: PaymentStatus,
    pub amount_minor: i64,
    pub currency: String,
    /// Refunded so far (with `status: refunded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_minor: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Paid,
    Declined,
    /// The donor left the hosted page without paying: no verdict, no notification.
    Cancelled,
    /// Paid, then (partly) refunded.
    Refunded,
    DisputeOpened,
    DisputeWon,
    DisputeLost,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
            Self::DisputeOpened => "dispute_opened",
            Self::DisputeWon => "dispute_won",
            Self::DisputeLost => "dispute_lost",
        }
    }

    fn parse(text: &str) -> Result<Self, GatewayError> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
            GatewayError::Malformed(format!("unknown status `{}`", text.chars().take(32).collect::<String>()))
        })
    }

    /// What the status says happened; `None` when there is no verdict.
    fn outcome(self, refunded_minor: Option<i64>) -> Result<Option<Outcome>, GatewayError> {
        Ok(Some(match self {
            Self::Paid => Outcome::Succeeded,
            Self::Declined => Outcome::Failed,
            Self::Cancelled => return Ok(None),
            Self::Refunded => Outcome::Refunded {
                total_refunded: refunded_minor.ok_or_else(|| malformed("a refund without `refunded_minor`"))?,
            },
            Self::DisputeOpened => Outcome::DisputeOpened,
            Self::DisputeWon => Outcome::DisputeWon,
            Self::DisputeLost => Outcome::DisputeLost,
        }))
    }
}

fn malformed(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Malformed(e.to_string())
}

impl NotificationBody {
    fn into_event(self, event_id: &str) -> Result<Option<PaymentEvent>, GatewayError> {
        let Some(outcome) = self.status.outcome(self.refunded_minor)? else {
            return Ok(None);
        };
        Ok(Some(PaymentEvent {
            gateway: NAME.into(),
            event_id: GatewayEventId::parse(event_id).map_err(malformed)?,
            donation_id: DonationId::parse(&self.merchant_reference).map_err(malformed)?,
            outcome,
            amount: AmountMinor::parse(self.amount_minor).map_err(malformed)?,
            currency: Currency::parse(&self.currency).map_err(malformed)?,
            gateway_reference: Some(self.payment_id),
        }))
    }
}

#[async_trait]
impl PaymentGateway for SandboxGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn start(&self, request: &CheckoutRequest) -> Result<Checkout, GatewayError> {
        let params = protocol::sign(
            self.key(),
            vec![
                ("merchant_reference".into(), request.donation_id.as_str().into()),
                ("amount_minor".into(), request.amount.get().to_string()),
                ("currency".into(), request.currency.code().into()),
                ("return_url".into(), request.return_url.to_string()),
                ("notify_url".into(), request.notify_url.to_string()),
            ],
        );
        let mut redirect_url = self.pay_url.clone();
        redirect_url.query_pairs_mut().extend_pairs(params);
        Ok(Checkout { redirect_url, gateway_reference: request.donation_id.as_str().into() })
    }

    async fn verify_return(&self, browser: &BrowserReturn<'_>) -> Result<VerifiedReturn, GatewayError> {
        let pairs = url::form_urlencoded::parse(browser.query.as_bytes()).into_owned().collect();
        let params = protocol::verify(self.key(), pairs)?;
        let field =
            |name: &str| params.get(name).map(String::as_str).ok_or_else(|| malformed(format!("missing `{name}`")));
        let payment_id = field("payment_id")?;
        let body = NotificationBody {
            event_id: String::new(),
            payment_id: payment_id.to_string(),
            merchant_reference: field("merchant_reference")?.to_string(),
            status: PaymentStatus::parse(field("status")?)?,
            amount_minor: field("amount_minor")?.parse().map_err(malformed)?,
            currency: field("currency")?.to_string(),
            refunded_minor: None,
        };
        let donation_id = DonationId::parse(&body.merchant_reference).map_err(malformed)?;
        // The return and the notification report the same payment; distinct ids keep both on
        // record, and the state machine makes the second one change nothing.
        let event = body.into_event(&format!("return-{payment_id}"))?;
        Ok(VerifiedReturn { donation_id, event, processing: false })
    }

    async fn verify_notification(&self, notification: &Notification<'_>) -> Result<Option<PaymentEvent>, GatewayError> {
        let header = notification.headers.get(protocol::SIGNATURE_HEADER).map(String::as_str);
        protocol::verify_notification(self.key(), header, notification.body, protocol::unix_now())?;
        let body: NotificationBody = serde_json::from_slice(notification.body).map_err(malformed)?;
        let event_id = body.event_id.clone();
        body.into_event(&event_id)
    }

    async fn fetch_status(&self, payment: &PendingPayment) -> Result<Option<PaymentEvent>, GatewayError> {
        let mut url = self.pay_url.join("status").map_err(malformed)?;
        let query =
            protocol::sign(self.key(), vec![("merchant_reference".into(), payment.donation_id.as_str().into())]);
        url.query_pairs_mut().extend_pairs(query);
        let response = self
            .client
            .get(url)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => return Ok(None),
            status if status.is_server_error() => return Err(GatewayError::Unavailable(status.to_string())),
            status if !status.is_success() => return Err(GatewayError::Rejected(status.to_string())),
            _ => {}
        }
        let header =
            response.headers().get(protocol::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = response.bytes().await.map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        protocol::verify_notification(self.key(), header.as_deref(), &body, protocol::unix_now())?;
        let status: NotificationBody = serde_json::from_slice(&body).map_err(malformed)?;
        let event_id = format!(
            "status-{}-{}-{}",
            status.payment_id,
            status.status.as_str(),
            status.refunded_minor.unwrap_or_default()
        );
        status.into_event(&event_id)
    }
}
