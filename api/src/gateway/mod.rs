//! Payment gateways behind one trait. An adapter turns a pending donation into a redirect to the
//! gateway's hosted page, and turns what the gateway sends back (a browser return or a
//! server-to-server notification) into a verified `PaymentEvent`, refusing anything unsigned.

pub mod aps;
pub mod ngenius;
pub mod routing;
pub mod sandbox;
pub mod stripe;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use url::Url;

use crate::db::PaymentEvent;
use crate::domain::{AmountMinor, Currency, DonationId};

pub use routing::{FailoverPolicy, GatewayHealth, Gateways, RouteShare, Routes, RoutesError};

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
    /// Our page that posts the donor's browser on to the gateway, for gateways whose hosted
    /// page must be reached by a form post (see `PaymentGateway::forward_form`).
    pub forward_url: Url,
    /// The language the donor is using (`en`, `ar`), for gateways that localise their page.
    pub lang: String,
}

/// A form our forward page posts to the gateway's hosted page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardForm {
    pub action: Url,
    pub fields: Vec<(String, String)>,
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
    /// The gateway could not be reached or answered with a server error: worth retrying,
    /// and counted against its health.
    #[error("the gateway is unavailable: {0}")]
    Unavailable(String),
    /// The gateway refused our request (bad credentials, invalid parameters): a configuration
    /// problem on our side, not worth retrying.
    #[error("the gateway refused the request: {0}")]
    Rejected(String),
}

/// What came back with the donor's browser: the query string, and the form body for gateways
/// that post the browser back.
pub struct BrowserReturn<'a> {
    pub query: &'a str,
    pub form: &'a [u8],
}

/// A verified browser return.
#[derive(Debug, Clone)]
pub struct VerifiedReturn {
    pub donation_id: DonationId,
    /// What the gateway confirmed (by signature or by answering our query); `None` while it
    /// has no verdict yet.
    pub event: Option<PaymentEvent>,
    /// The donor finished at the gateway and the payment is processing (a bank debit, say):
    /// thank them rather than send them to the failure page.
    pub processing: bool,
}

/// A pending donation the reconciler asks its gateway about.
#[derive(Debug, Clone)]
pub struct PendingPayment {
    pub donation_id: DonationId,
    pub amount: AmountMinor,
    pub currency: Currency,
    /// The gateway's id for the attempt (session, order), if the start got that far.
    pub gateway_reference: Option<String>,
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// The name used in our routes (`/api/v1/payments/{name}/return`) and stored on donations.
    fn name(&self) -> &'static str;
    /// Starts a hosted payment. Gateways that support it are asked to deduplicate by donation
    /// id, so a retried start opens one session, not two.
    async fn start(&self, request: &CheckoutRequest) -> Result<Checkout, GatewayError>;
    /// Verifies a browser return; the browser is only a messenger, so what it carries is either
    /// signed or confirmed with the gateway.
    async fn verify_return(&self, browser: &BrowserReturn<'_>) -> Result<VerifiedReturn, GatewayError>;
    /// Verifies and parses a server-to-server notification. `Ok(None)`: genuine, but about
    /// nothing we track (an event type we do not use).
    async fn verify_notification(&self, notification: &Notification<'_>) -> Result<Option<PaymentEvent>, GatewayError>;
    /// Asks the gateway where a payment stands. `Ok(None)`: no verdict yet (still open).
    async fn fetch_status(&self, payment: &PendingPayment) -> Result<Option<PaymentEvent>, GatewayError>;
    /// For gateways reached by a form post rather than a redirect: the form for this payment.
    /// Such a gateway's `start` returns `request.forward_url` as its redirect, and our forward
    /// page builds this form again from the stored donation, so it must be deterministic.
    fn forward_form(&self, _request: &CheckoutRequest) -> Result<Option<ForwardForm>, GatewayError> {
        Ok(None)
    }
}

/// The real gateways the settings configure, in a fixed order (Stripe, APS, N-Genius). A
/// gateway with some of its settings but not all is an error, never silently off.
pub fn configured(settings: &crate::Settings) -> Result<Vec<Arc<dyn PaymentGateway>>, String> {
    let mut gateways: Vec<Arc<dyn PaymentGateway>> = Vec::new();
    if let Some(stripe) = stripe::StripeGateway::from_settings(settings)? {
        gateways.push(Arc::new(stripe));
    }
    if let Some(aps) = aps::ApsGateway::from_settings(settings)? {
        gateways.push(Arc::new(aps));
    }
    if let Some(ngenius) = ngenius::NgeniusGateway::from_settings(settings)? {
        gateways.push(Arc::new(ngenius));
    }
    Ok(gateways)
}
