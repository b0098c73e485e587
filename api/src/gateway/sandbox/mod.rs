//! The sandbox gateway: a stand-in for a real gateway that speaks a signed redirect protocol
//! (see `protocol`), so development and tests exercise the same verification paths real money
//! takes. `SandboxGateway` is our side; `hosted_page` is the gateway's side.

pub mod hosted_page;
pub mod protocol;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{Checkout, CheckoutRequest, GatewayError, Notification, PaymentGateway};
use crate::db::PaymentEvent;
use crate::domain::{AmountMinor, Currency, DonationId, GatewayEventId, Outcome};

pub const NAME: &str = "sandbox";

pub struct SandboxGateway {
    secret: SecretString,
    pay_url: Url,
}

impl SandboxGateway {
    /// `pay_url` is the hosted payment page (`…/sandbox/pay` where `pledge serve` mounts it).
    pub fn new(secret: SecretString, pay_url: Url) -> Self {
        Self { secret, pay_url }
    }

    fn key(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }
}

/// The JSON body of a sandbox notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotificationBody {
    pub event_id: String,
    pub payment_id: String,
    pub merchant_reference: String,
    pub status: PaymentStatus,
    pub amount_minor: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    Paid,
    Declined,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Declined => "declined",
        }
    }

    fn parse(text: &str) -> Result<Self, GatewayError> {
        match text {
            "paid" => Ok(Self::Paid),
            "declined" => Ok(Self::Declined),
            other => Err(GatewayError::Malformed(format!("unknown status `{other}`"))),
        }
    }

    fn outcome(self) -> Outcome {
        match self {
            Self::Paid => Outcome::Succeeded,
            Self::Declined => Outcome::Failed,
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Malformed(e.to_string())
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

    fn verify_return(&self, query: &str) -> Result<PaymentEvent, GatewayError> {
        let pairs = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let params = protocol::verify(self.key(), pairs)?;
        let field =
            |name: &str| params.get(name).map(String::as_str).ok_or_else(|| malformed(format!("missing `{name}`")));
        let payment_id = field("payment_id")?;
        Ok(PaymentEvent {
            gateway: NAME.into(),
            // The return and the notification report the same payment; distinct ids keep both
            // on record, and the state machine makes the second one change nothing.
            event_id: GatewayEventId::parse(&format!("return-{payment_id}")).map_err(malformed)?,
            donation_id: DonationId::parse(field("merchant_reference")?).map_err(malformed)?,
            outcome: PaymentStatus::parse(field("status")?)?.outcome(),
            amount: AmountMinor::parse(field("amount_minor")?.parse().map_err(malformed)?).map_err(malformed)?,
            currency: Currency::parse(field("currency")?).map_err(malformed)?,
            gateway_reference: Some(payment_id.to_string()),
        })
    }

    fn verify_notification(&self, notification: &Notification<'_>) -> Result<PaymentEvent, GatewayError> {
        let header = notification.headers.get(protocol::SIGNATURE_HEADER).map(String::as_str);
        protocol::verify_notification(self.key(), header, notification.body, protocol::unix_now())?;
        let body: NotificationBody = serde_json::from_slice(notification.body).map_err(malformed)?;
        Ok(PaymentEvent {
            gateway: NAME.into(),
            event_id: GatewayEventId::parse(&body.event_id).map_err(malformed)?,
            donation_id: DonationId::parse(&body.merchant_reference).map_err(malformed)?,
            outcome: body.status.outcome(),
            amount: AmountMinor::parse(body.amount_minor).map_err(malformed)?,
            currency: Currency::parse(&body.currency).map_err(malformed)?,
            gateway_reference: Some(body.payment_id),
        })
    }
}
