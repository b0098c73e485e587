//! Amazon Payment Services (formerly PayFort), redirection integration, following its
//! "Redirection", "Transaction Feedback" and "Check Status" API documentation.
//!
//! - Signatures: every parameter but `signature`, sorted by name, joined as `name=value` with
//!   nothing between, wrapped in the request phrase (what we send) or the response phrase
//!   (what APS sends) at both ends, hashed with SHA-256 or SHA-512, in lower-case hex.
//! - Start: the donor's browser must post a signed form to the hosted page, so the redirect goes
//!   to our forward page, which rebuilds the form from the stored donation (`forward_form`).
//! - Return and feedback (server to server): the same signed response parameters; `status` 14
//!   is a successful purchase, 13 a failed one.
//! - Status: `CHECK_STATUS` on the payment API, answered with a signed JSON document that also
//!   carries the amount refunded so far (APS's refund feedback gives one refund's amount only,
//!   so refunds are always read from there).

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use url::Url;

use super::{
    BrowserReturn, Checkout, CheckoutRequest, ForwardForm, GatewayError, Notification, PaymentGateway, PendingPayment,
    VerifiedReturn,
};
use crate::db::PaymentEvent;
use crate::domain::{AmountMinor, Currency, DonationId, GatewayEventId, Outcome};

pub const NAME: &str = "aps";
/// APS requires an email with every purchase; donors give none on our form.
const DONOR_EMAIL: &str = "donor@example.org";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShaType {
    Sha256,
    Sha512,
}

/// The phrases and hash that sign APS messages.
pub struct Signer {
    pub sha: ShaType,
    pub request_phrase: SecretString,
    pub response_phrase: SecretString,
}

impl Signer {
    /// The signature of `params` (any `signature` among them is left out).
    pub fn sign(&self, phrase: &str, params: &[(String, String)]) -> String {
        let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "signature").collect();
        sorted.sort();
        let mut text = String::from(phrase);
        for (key, value) in sorted {
            text.push_str(key);
            text.push('=');
            text.push_str(value);
        }
        text.push_str(phrase);
        match self.sha {
            ShaType::Sha256 => hex::encode(Sha256::digest(text.as_bytes())),
            ShaType::Sha512 => hex::encode(Sha512::digest(text.as_bytes())),
        }
    }

    pub fn sign_request(&self, params: &[(String, String)]) -> String {
        self.sign(self.request_phrase.expose_secret(), params)
    }

    pub fn sign_response(&self, params: &[(String, String)]) -> String {
        self.sign(self.response_phrase.expose_secret(), params)
    }

    /// Checks a response's `signature` in constant time.
    fn verify_response(&self, params: &[(String, String)]) -> Result<(), GatewayError> {
        let given = params.iter().find(|(k, _)| k == "signature").map(|(_, v)| v.as_str());
        let given = given.ok_or(GatewayError::BadSignature)?;
        let expected = self.sign_response(params);
        if bool::from(expected.as_bytes().ct_eq(given.to_ascii_lowercase().as_bytes())) {
            Ok(())
        } else {
            Err(GatewayError::BadSignature)
        }
    }
}

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
        let sha = match settings.aps_sha_type.to_ascii_lowercase().as_str() {
            "sha256" | "sha-256" => ShaType::Sha256,
            "sha512" | "sha-512" => ShaType::Sha512,
            other => return Err(format!("PLEDGE_APS_SHA_TYPE `{other}` is not sha256 or sha512")),
        };
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
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .map_err(|e| e.to_string())?,
        }))
    }

    /// A verified response's event; `source` keeps the return's and the feedback's ids apart.
    async fn response_event(
        &self,
        params: &[(String, String)],
        source: &str,
    ) -> Result<Option<PaymentEvent>, GatewayError> {
        self.signer.verify_response(params)?;
        let field = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if field("command") == Some("REFUND") {
            // A refund's feedback names one refund; the running total comes from CHECK_STATUS.
            let donation = DonationId::parse(field("merchant_reference").unwrap_or_default()).map_err(malformed)?;
            return self.check_status(&donation).await;
        }
        let Some(outcome) = purchase_outcome(field("status").unwrap_or_default()) else { return Ok(None) };
        let reference = field("fort_id").or(field("merchant_reference")).unwrap_or_default();
        event(params, &format!("{source}:{reference}:{}", outcome.as_str()), outcome).map(Some)
    }

    async fn check_status(&self, donation: &DonationId) -> Result<Option<PaymentEvent>, GatewayError> {
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
        let answer: serde_json::Map<String, serde_json::Value> =
            response.json().await.map_err(|e| GatewayError::Unavailable(format!("unreadable APS answer: {e}")))?;
        let params = flatten(answer);
        self.signer.verify_response(&params)?;
        let field = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let refunded: i64 = field("refunded_amount").and_then(|v| v.parse().ok()).unwrap_or(0);
        let outcome = match purchase_outcome(field("transaction_status").unwrap_or_default()) {
            Some(Outcome::Succeeded) if refunded > 0 => Outcome::Refunded { total_refunded: refunded },
            Some(outcome) => outcome,
            None => return Ok(None),
        };
        let reference = field("fort_id").unwrap_or(donation.as_str());
        let id = format!("status:{reference}:{}:{refunded}", outcome.as_str());
        // CHECK_STATUS reports the purchase's amount as `authorized_amount` where `amount` is absent.
        let mut params = params.clone();
        if !params.iter().any(|(k, _)| k == "amount")
            && let Some(authorized) = field("authorized_amount").map(str::to_string)
        {
            params.push(("amount".into(), authorized));
        }
        event(&params, &id, outcome).map(Some)
    }
}

fn malformed(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Malformed(e.to_string())
}

/// APS's two-digit purchase statuses: 14 succeeded, 13 failed; others (pending, on hold) are
/// no verdict yet.
fn purchase_outcome(status: &str) -> Option<Outcome> {
    match status {
        "14" => Some(Outcome::Succeeded),
        "13" | "00" => Some(Outcome::Failed),
        _ => None,
    }
}

fn event(params: &[(String, String)], id: &str, outcome: Outcome) -> Result<PaymentEvent, GatewayError> {
    let field = |name: &str| {
        params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).ok_or_else(|| malformed(format!("no `{name}`")))
    };
    Ok(PaymentEvent {
        gateway: NAME.into(),
        event_id: GatewayEventId::parse(id).map_err(malformed)?,
        donation_id: DonationId::parse(field("merchant_reference")?).map_err(malformed)?,
        outcome,
        amount: AmountMinor::parse(field("amount")?.parse().map_err(malformed)?).map_err(malformed)?,
        currency: Currency::parse(field("currency")?).map_err(malformed)?,
        gateway_reference: params.iter().find(|(k, _)| k == "fort_id").map(|(_, v)| v.clone()),
    })
}

/// A JSON answer as the `name=value` pairs its signature covers (strings and numbers as text).
fn flatten(object: serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
    object
        .into_iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::String(text) => Some((key, text)),
            serde_json::Value::Number(number) => Some((key, number.to_string())),
            _ => None,
        })
        .collect()
}

/// Response parameters from a form body, a query string, or a JSON body.
fn response_params(form: &[u8], query: &str, json: bool) -> Result<Vec<(String, String)>, GatewayError> {
    if json {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(form).map_err(malformed)?;
        return Ok(flatten(object));
    }
    let source = if form.is_empty() { query.as_bytes() } else { form };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(source).into_owned().collect();
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(malformed("a parameter appears twice"));
    }
    Ok(params)
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
            ("customer_email".into(), DONOR_EMAIL.into()),
            ("return_url".into(), request.return_url.to_string()),
        ];
        fields.push(("signature".into(), self.signer.sign_request(&fields)));
        Ok(Some(ForwardForm { action: self.page_url.clone(), fields }))
    }

    async fn verify_return(&self, browser: &BrowserReturn<'_>) -> Result<VerifiedReturn, GatewayError> {
        let params = response_params(browser.form, browser.query, false)?;
        let event = self.response_event(&params, "return").await?;
        let reference = params.iter().find(|(k, _)| k == "merchant_reference").map(|(_, v)| v.as_str());
        let donation_id = DonationId::parse(reference.unwrap_or_default()).map_err(malformed)?;
        Ok(VerifiedReturn { donation_id, event, processing: false })
    }

    async fn verify_notification(&self, notification: &Notification<'_>) -> Result<Option<PaymentEvent>, GatewayError> {
        let json = notification.headers.get("content-type").is_some_and(|t| t.starts_with("application/json"));
        let params = response_params(notification.body, "", json)?;
        self.response_event(&params, "feedback").await
    }

    async fn fetch_status(&self, payment: &PendingPayment) -> Result<Option<PaymentEvent>, GatewayError> {
        self.check_status(&payment.donation_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(sha: ShaType) -> Signer {
        Signer { sha, request_phrase: "reqPHRASE".to_string().into(), response_phrase: "resPHRASE".to_string().into() }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_signature_is_the_hash_of_sorted_pairs_between_phrases() {
        let params =
            pairs(&[("merchant_reference", "d1"), ("amount", "1000"), ("command", "PURCHASE"), ("signature", "x")]);
        let text = "reqPHRASEamount=1000command=PURCHASEmerchant_reference=d1reqPHRASE";
        assert_eq!(signer(ShaType::Sha256).sign_request(&params), hex::encode(Sha256::digest(text)));
        assert_eq!(signer(ShaType::Sha512).sign_request(&params), hex::encode(Sha512::digest(text)));
        // From `printf '%s' "$text" | sha256sum`.
        assert_eq!(
            signer(ShaType::Sha256).sign_request(&params),
            "9c1ad897746c61b74ca1e060b043983e358a379d1ecc3236bf9c82b6683619da"
        );
    }

    #[test]
    fn a_tampered_response_fails_and_the_request_phrase_does_not_sign_responses() {
        let signer = signer(ShaType::Sha256);
        let mut params = pairs(&[("merchant_reference", "d1"), ("amount", "1000"), ("status", "14")]);
        params.push(("signature".into(), signer.sign_response(&params)));
        assert!(signer.verify_response(&params).is_ok());

        let mut tampered = params.clone();
        tampered[1].1 = "1".into();
        assert!(matches!(signer.verify_response(&tampered), Err(GatewayError::BadSignature)));

        let mut wrong_phrase = params[..3].to_vec();
        wrong_phrase.push(("signature".into(), signer.sign_request(&wrong_phrase)));
        assert!(matches!(signer.verify_response(&wrong_phrase), Err(GatewayError::BadSignature)));
    }

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(purchase_outcome("14"), Some(Outcome::Succeeded));
        assert_eq!(purchase_outcome("13"), Some(Outcome::Failed));
        assert_eq!(purchase_outcome("20"), None);
    }
}
