//! Payment gateways behind one trait. An adapter turns a pending donation into a redirect to the
//! gateway's hosted page, and turns what the gateway sends back (a browser return or a
//! server-to-server notification) into a verified `PaymentEvent`, refusing anything unsigned.

pub mod sandbox;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use url::Url;

use crate::db::PaymentEvent;
use crate::domain::{AmountMinor, Currency, DonationId};

/// What a gateway needs to start a hosted payment.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub donation_id: DonationId,
    pub amount: AmountMinor,
    pub currency: Currency,
    /// Where the gateway sends the donor's browser back (our return route).
    pub return_url: Url,
    /// Where the gateway posts its server-to-server notification (our webhook route).
    pub notify_url: Url,
}

#[derive(Debug, Clone)]
pub struct Checkout {
    pub redirect_url: Url,
    /// The gateway's id for this payment attempt (a session or order id).
    pub gateway_reference: String,
}

/// A notification as it arrived: headers by lower-case name, and the raw body, because a
/// signature covers the exact bytes.
pub struct Notification<'a> {
    pub headers: BTreeMap<String, String>,
    pub body: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the signature is missing or does not match")]
    BadSignature,
    #[error("the notification is too old or from the future")]
    Stale,
    #[error("malformed gateway message: {0}")]
    Malformed(String),
    #[error("the gateway is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// The name used in our routes (`/api/v1/payments/{name}/return`) and stored on donations.
    fn name(&self) -> &'static str;
    async fn start(&self, request: &CheckoutRequest) -> Result<Checkout, GatewayError>;
    /// Verifies the query string of a browser return; the browser is only a messenger here.
    fn verify_return(&self, query: &str) -> Result<PaymentEvent, GatewayError>;
    fn verify_notification(&self, notification: &Notification<'_>) -> Result<PaymentEvent, GatewayError>;
}

/// The configured gateways; new donations go to the first one.
#[derive(Clone)]
pub struct Gateways {
    all: Vec<Arc<dyn PaymentGateway>>,
}

impl Gateways {
    pub fn new(all: Vec<Arc<dyn PaymentGateway>>) -> Self {
        Self { all }
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn PaymentGateway>> {
        self.all.iter().find(|g| g.name() == name)
    }

    pub fn for_new_donation(&self) -> Option<&Arc<dyn PaymentGateway>> {
        self.all.first()
    }
}
