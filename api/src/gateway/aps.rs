//! PLACEHOLDER: being written.

use async_trait::async_trait;

use super::{
    BrowserReturn, Checkout, CheckoutRequest, GatewayError, Notification, PaymentGateway, PendingPayment,
    VerifiedReturn,
};
use crate::db::PaymentEvent;

pub struct ApsGateway;

impl ApsGateway {
    pub fn from_settings(_settings: &crate::Settings) -> Result<Option<Self>, String> {
        Ok(None)
    }
}

#[async_trait]
impl PaymentGateway for ApsGateway {
    fn name(&self) -> &'static str {
        "aps"
    }
    async fn start(&self, _request: &CheckoutRequest) -> Result<Checkout, GatewayError> {
        Err(GatewayError::Unavailable("not built yet".into()))
    }
    async fn verify_return(&self, _browser: &BrowserReturn<'_>) -> Result<VerifiedReturn, GatewayError> {
        Err(GatewayError::Unavailable("not built yet".into()))
    }
    async fn verify_notification(&self, _n: &Notification<'_>) -> Result<Option<PaymentEvent>, GatewayError> {
        Err(GatewayError::Unavailable("not built yet".into()))
    }
    async fn fetch_status(&self, _payment: &PendingPayment) -> Result<Option<PaymentEvent>, GatewayError> {
        Err(GatewayError::Unavailable("not built yet".into()))
    }
}
