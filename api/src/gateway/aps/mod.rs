//! Amazon Payment Services (formerly PayFort), redirection integration, following its
//! "Redirection", "Transaction Feedback" and "Check Status" API documentation.
//!
//! - Signatures: every parameter but `signature`, sorted by name, joined as `name=value` with
//!   nothing between, wrapped in the request phrase (what we send) or the response phrase
//!   (what APS sends) at both ends, hashed with SHA-256 or SHA-512, in lower-case hex
//!   (`protocol`). The HMAC "SHA types" APS also offers are not supported.
//! - Start: the donor's browser must post a signed `PURCHASE` form to the hosted page, so the
//!   redirect goes to our forward page, which rebuilds the form from the stored donation
//!   (`forward_form`). Amounts are in the currency's smallest unit, as ours are.
//! - Return (form post or query) and feedback (server to server, form or JSON): the same signed
//!   response parameters; `status` 14 is a successful purchase, 13 a failed one.
//! - Status: `CHECK_STATUS` on the payment API, answered with a signed JSON document that also
//!   carries the amount refunded so far. A refund's feedback names one refund's amount only, so
//!   refunds are always read from there as a running total.

pub(crate) mod protocol;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use protocol::{ShaType, Signer};

use super::{
    BrowserReturn, Checkout, CheckoutRequest, ForwardForm, GatewayError, Notification, PaymentGateway, PendingPayment,
    VerifiedReturn,
};
use crate::db::PaymentEvent;
use crate::domain::{Currency, DonationId};
use protocol::{Params, malformed};

pub const NAME: &str = "aps";

pub struct ApsGateway {
    merchant: String,
    access_code: SecretString,
    signer: Signer,
    page_url: Url,
    api_url: Url,
    client: reqwest::Client,
}

impl ApsGateway {
    pub fn from_settings(settings: &crate::Settings) -> Result<Option<Self>, String> {
        let Some(merchant) = &settings.aps_merchant_identifier else {
            let partly = settings.aps_access_code.is_some()
                || settings.aps_request_phrase.is_some()
                || settings.aps_response_phrase.is_some();
            return if partly {
                Err("APS settings are given but PLEDGE_APS_MERCHANT_IDENTIFIER is not".into())
            } else {
                Ok(None)
            };
        };
        let missing = |name: &str| format!("PLEDGE_APS_MERCHANT_IDENTIFIER is set but {name} is not");
        let sha = ShaType::parse(&settings.aps_sha_type).ok_or_else(|| {
            format!(
                "PLEDGE_APS_SHA_TYPE `{}` is not sha256 or sha512 (HMAC types are not supported)",
                settings.aps_sha_type
            )
        })?;
        Ok(Some(Self {
            merchant: merchant.clone(),
            access_code: settings.aps_access_code.clone().ok_or_else(|| missing("PLEDGE_APS_ACCESS_CODE"))?,
            signer: Signer {
                sha,
                request_phrase: settings
                    .aps_request_phrase
                    .clone()
                    .ok_or_else(|| missing("PLEDGE_APS_REQUEST_PHRASE"))?,
                response_phrase: settings
                    .aps_response_phrase
                    .clone()
                    .ok_or_else(|| missing("PLEDGE_APS_RESPONSE_PHRASE"))?,
            },
            page_url: settings.aps_page_url.clone(),
            api_url: settings.aps_api_url.clone(),
            client: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .map_err(|e| e.to_string())?,
        }))
    }

    /// A verified response's event: a purchase's verdict, or for a refund, the running total
    /// `CHECK_STATUS` reports.
    async fn response_event(&self, params: &Params, source: &str) -> Result<Option<PaymentEvent>, GatewayError> {
        self.signer.verify_response(params)?;
        if params.get("command") == Some("REFUND") {
            let currency = Currency::parse(params.get("currency").unwrap_or_default()).map_err(malformed)?;
            return self.check_status(&params.donation_id()?, currency).await;
        }
        protocol::purchase_event(params, source)
    }

    #[tracing::instrument(name = "aps_check_status", skip_all, fields(donation = donation.as_str()))]
    async fn check_status(
        &self,
        donation: &DonationId,
        currency: Currency,
    ) -> Result<Option<PaymentEvent>, GatewayError> {
        let mut params: Vec<(String, String)> = vec![
            ("query_command".into(), "CHECK_STATUS".into()),
            ("access_code".into(), self.access_code.expose_secret().to_string()),
            ("merchant_identifier".into(), self.merchant.clone()),
            ("merchant_reference".into(), donation.as_str().into()),
            ("language".into(), "en".into()),
        ];
        params.push(("signature".into(), self.signer.sign_request(&params)));
        let body: serde_json::Map<String, serde_json::Value> = params.into_iter().map(|(k, v)| (k, v.into())).collect();
        let response = self.client.post(self.api_url.clone()).json(&body).send().await;
        let response = response.map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(GatewayError::Unavailable(format!("APS answered {status}")));
        }
        if !status.is_success() {
            return Err(GatewayError::Rejected(format!("APS answered {status}")));
        }
        let answer = response.bytes().await.map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let answer =
            Params::from_json(&answer).map_err(|e| GatewayError::Unavailable(format!("unreadable APS answer: {e}")))?;
        // Status 12 is an answered query ("order not found" included); 00 an invalid request
        // (a wrong access code or phrase: ours to fix); anything else worth asking again.
        let code = || {
            let text = format!(
                "{} {}",
                answer.get("response_code").unwrap_or_default(),
                answer.get("response_message").unwrap_or_default()
            );
            text.chars().take(120).collect::<String>()
        };
        match answer.get("status") {
            Some("12") => {}
            Some("00") => return Err(GatewayError::Rejected(format!("APS refused CHECK_STATUS: {}", code()))),
            _ => return Err(GatewayError::Unavailable(format!("APS could not check the status: {}", code()))),
        }
        self.signer.verify_response(&answer)?;
        if answer.get("merchant_reference") != Some(donation.as_str()) {
            return Err(malformed("CHECK_STATUS answered about another payment"));
        }
        protocol::status_event(&answer, currency)
    }
}

#[async_trait]
impl PaymentGateway for ApsGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn start(&self, request: &CheckoutRequest) -> Result<Checkout, GatewayError> {
        Ok(Checkout {
            redirect_url: request.forward_url.clone(),
            gateway_reference: request.donation_id.as_str().into(),
        })
    }

    fn forward_form(&self, request: &CheckoutRequest) -> Result<Option<ForwardForm>, GatewayError> {
        let mut fields: Vec<(String, String)> = vec![
            ("command".into(), "PURCHASE".into()),
            ("access_code".into(), self.access_code.expose_secret().to_string()),
            ("merchant_identifier".into(), self.merchant.clone()),
            ("merchant_reference".into(), request.donation_id.as_str().into()),
            ("amount".into(), request.amount.get().to_string()),
            ("currency".into(), request.currency.code().into()),
            ("language".into(), if request.lang == "ar" { "ar" } else { "en" }.into()),
            ("customer_email".into(), protocol::placeholder_email(&request.notify_url)),
            ("return_url".into(), request.return_url.to_string()),
        ];
        fields.push(("signature".into(), self.signer.sign_request(&fields)));
        Ok(Some(ForwardForm { action: self.page_url.clone(), fields }))
    }

    async fn verify_return(&self, browser: &BrowserReturn<'_>) -> Result<VerifiedReturn, GatewayError> {
        let params = Params::from_form(browser.form, browser.query)?;
        let event = self.response_event(&params, "return").await?;
        let processing = protocol::is_processing(params.get("status").unwrap_or_default());
        Ok(VerifiedReturn { donation_id: params.donation_id()?, event, processing })
    }

    async fn verify_notification(&self, notification: &Notification<'_>) -> Result<Option<PaymentEvent>, GatewayError> {
        let json = notification.headers.get("content-type").is_some_and(|t| t.starts_with("application/json"));
        let params =
            if json { Params::from_json(notification.body)? } else { Params::from_form(notification.body, "")? };
        self.response_event(&params, "feedback").await
    }

    async fn fetch_status(&self, payment: &PendingPayment) -> Result<Option<PaymentEvent>, GatewayError> {
        self.check_status(&payment.donation_id, payment.currency).await
    }
}
