//! N-Genius's side of the conversation as data: the access token and order JSON it answers,
//! what a payment's state means for a donation, the order we ask it to create, and what our
//! return route and webhook read. No IO here.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::NAME;
use crate::db::PaymentEvent;
use crate::domain::{AmountMinor, Currency, DonationId, GatewayEventId, Outcome};
use crate::gateway::{CheckoutRequest, GatewayError};

pub const PAYMENT_MEDIA_TYPE: &str = "application/vnd.ni-payment.v2+json";
pub const IDENTITY_MEDIA_TYPE: &str = "application/vnd.ni-identity.v1+json";
/// A token is fetched again this long before it expires (or halfway through its life, if that
/// is sooner), so a call never sets out with a token about to lapse.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);

/// How long a token issued for `expires_in` seconds is used (N-Genius issues five minutes).
pub fn usable_for(expires_in: Option<u64>) -> Duration {
    let lifetime = Duration::from_secs(expires_in.unwrap_or(300));
    lifetime - TOKEN_MARGIN.min(lifetime / 2)
}

pub fn malformed(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Malformed(e.to_string())
}

/// Order and outlet references are UUIDs; anything else never reaches a URL path.
pub fn is_reference(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[derive(Deserialize)]
pub struct AccessToken {
    pub access_token: String,
    pub expires_in: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub reference: String,
    merchant_order_reference: Option<String>,
    amount: Money,
    #[serde(rename = "_links", default)]
    links: Option<Links>,
    #[serde(rename = "_embedded", default)]
    embedded: Option<Embedded>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    currency_code: String,
    value: i64,
}

#[derive(Debug, Deserialize)]
pub struct Links {
    payment: Option<Link>,
}

#[derive(Debug, Deserialize)]
pub struct Link {
    href: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Embedded {
    #[serde(default)]
    payment: Vec<Payment>,
}

#[derive(Debug, Deserialize)]
pub struct Payment {
    state: String,
    #[serde(rename = "_embedded", default)]
    embedded: Option<PaymentEmbedded>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PaymentEmbedded {
    #[serde(rename = "cnp:refund", default)]
    refunds: Vec<Refund>,
}

#[derive(Debug, Deserialize)]
pub struct Refund {
    amount: Money,
    #[serde(default)]
    state: Option<String>,
}

impl Payment {
    fn was_paid(&self) -> bool {
        matches!(self.state.as_str(), "PURCHASED" | "CAPTURED" | "PARTIALLY_REFUNDED" | "REFUNDED")
    }

    /// The refunds that went through (`SUCCESS`, or no state given), in minor units.
    fn refunded(&self) -> i64 {
        let Some(embedded) = &self.embedded else { return 0 };
        embedded
            .refunds
            .iter()
            .filter(|r| r.state.as_deref().is_none_or(|s| s == "SUCCESS"))
            .map(|r| r.amount.value)
            // Saturating: refund values an answer fills with huge numbers must not overflow (a
            // panic in debug builds, a wrapped and so plausible total in release); a sum past
            // the amount is refused by the state machine as a contradiction.
            .fold(0_i64, i64::saturating_add)
    }
}

impl Order {
    /// The hosted payment page for this order, where the donor goes.
    pub fn pay_page(&self) -> Result<Url, GatewayError> {
        let link = self.links.as_ref().and_then(|l| l.payment.as_ref()).ok_or_else(|| malformed("no payment link"))?;
        Url::parse(&link.href).map_err(malformed)
    }

    pub fn donation_id(&self) -> Result<DonationId, GatewayError> {
        DonationId::parse(self.merchant_order_reference.as_deref().unwrap_or_default()).map_err(malformed)
    }

    /// What the order's payment says, `None` while it is still open. An order whose page was
    /// tried more than once holds several payments: one that went through outranks the failed
    /// attempts before it, otherwise the latest counts.
    fn outcome(&self) -> Option<Outcome> {
        let payments = &self.embedded.as_ref()?.payment;
        let payment = payments.iter().find(|p| p.was_paid()).or(payments.last())?;
        Some(match payment.state.as_str() {
            "PURCHASED" | "CAPTURED" => Outcome::Succeeded,
            "FAILED" | "DECLINED" => Outcome::Failed,
            // A full refund is the whole amount, whatever refund records the order lists.
            "REFUNDED" => Outcome::Refunded { total_refunded: self.amount.value },
            // A partial refund is the sum of the refunds that went through; without such
            // records there is no total to report, only that the payment was made.
            "PARTIALLY_REFUNDED" => match payment.refunded() {
                0 => Outcome::Succeeded,
                total_refunded => Outcome::Refunded { total_refunded },
            },
            _ => return None,
        })
    }

    pub fn event(&self) -> Result<Option<PaymentEvent>, GatewayError> {
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

/// The body of "Create an order": a purchase of the amount in minor units (N-Genius's `value`
/// uses the currency's ISO 4217 exponent, as `AmountMinor` does), our donation id as the
/// merchant's reference, and our return route for both the paid and the cancelled donor.
pub fn order_request(request: &CheckoutRequest) -> serde_json::Value {
    let mut cancel_url = request.return_url.clone();
    cancel_url.query_pairs_mut().append_pair("cancelled", "1").append_pair("donation", request.donation_id.as_str());
    serde_json::json!({
        "action": "PURCHASE",
        "amount": { "currencyCode": request.currency.code(), "value": request.amount.get() },
        "merchantOrderReference": request.donation_id.as_str(),
        "language": if request.lang == "ar" { "ar" } else { "en" },
        "merchantAttributes": {
            "redirectUrl": request.return_url.as_str(),
            "cancelUrl": cancel_url.as_str(),
            "skipConfirmationPage": true,
        },
    })
}

/// Our return route's query: `ref` when N-Genius sends the donor back from its page, or what
/// our own cancel URL carries (`cancelled=1&donation=…`).
#[derive(Deserialize)]
pub struct ReturnQuery {
    #[serde(rename = "ref", default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub donation: Option<String>,
}

/// The one thing read from a notification: which order to ask about.
#[derive(Deserialize)]
pub struct Prompt {
    pub order: PromptOrder,
}

#[derive(Deserialize)]
pub struct PromptOrder {
    pub reference: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn order(state: &str, refunds: &[(i64, &str)]) -> Order {
        let refunds: Vec<serde_json::Value> = refunds
            .iter()
            .map(|(value, state)| json!({ "amount": { "currencyCode": "KWD", "value": value }, "state": state }))
            .collect();
        serde_json::from_value(json!({
            "reference": "3f1c-order",
            "merchantOrderReference": DonationId::generate().as_str(),
            "amount": { "currencyCode": "KWD", "value": 12345 },
            "_embedded": { "payment": [{ "state": state, "_embedded": { "cnp:refund": refunds } }] },
        }))
        .unwrap()
    }

    #[test]
    fn payment_states_map_to_outcomes() {
        let cases = [
            ("PURCHASED", &[][..], Some(Outcome::Succeeded)),
            ("CAPTURED", &[], Some(Outcome::Succeeded)),
            ("FAILED", &[], Some(Outcome::Failed)),
            ("STARTED", &[], None),
            ("AWAIT_3DS", &[], None),
            ("AUTHORISED", &[], None),
            ("CANCELLED", &[], None),
            ("REVERSED", &[], None),
            ("REFUNDED", &[], Some(Outcome::Refunded { total_refunded: 12345 })),
            (
                "PARTIALLY_REFUNDED",
                &[(1000, "SUCCESS"), (2345, "SUCCESS"), (500, "FAILURE")],
                Some(Outcome::Refunded { total_refunded: 3345 }),
            ),
            ("PARTIALLY_REFUNDED", &[], Some(Outcome::Succeeded)),
        ];
        for (state, refunds, expected) in cases {
            assert_eq!(order(state, refunds).outcome(), expected, "{state} {refunds:?}");
        }
    }

    #[test]
    fn refunds_too_large_to_add_up_saturate_instead_of_overflowing() {
        // Refund values come from outside; their sum used to overflow i64 (a panic in debug).
        let huge = order("PARTIALLY_REFUNDED", &[(i64::MAX, "SUCCESS"), (i64::MAX, "SUCCESS")]);
        assert_eq!(huge.outcome(), Some(Outcome::Refunded { total_refunded: i64::MAX }));
        let payment =
            crate::domain::Payment { status: crate::domain::DonationStatus::Succeeded, amount: 12345, refunded: 0 };
        assert_eq!(payment.apply(huge.outcome().unwrap()), crate::domain::Transition::Refused);
    }

    #[test]
    fn a_payment_that_went_through_outranks_failed_attempts() {
        let order: Order = serde_json::from_value(json!({
            "reference": "3f1c-order",
            "amount": { "currencyCode": "AED", "value": 1000 },
            "_embedded": { "payment": [{ "state": "FAILED" }, { "state": "PURCHASED" }, { "state": "FAILED" }] },
        }))
        .unwrap();
        assert_eq!(order.outcome(), Some(Outcome::Succeeded));
    }

    #[test]
    fn an_order_as_ngenius_returns_it_becomes_an_event() {
        let donation = DonationId::generate();
        let order: Order = serde_json::from_value(json!({
            "_id": "urn:order:8f0f3c38-2d0e-4a55-9a4b-6c1d2e3f4a5b",
            "_links": {
                "self": { "href": "https://gateway.test/transactions/outlets/o/orders/8f0f3c38" },
                "payment": { "href": "https://paypage.test/?code=5d2b9a" },
            },
            "type": "SINGLE",
            "merchantDefinedData": {},
            "action": "PURCHASE",
            "amount": { "currencyCode": "AED", "value": 1000 },
            "language": "en",
            "merchantAttributes": { "redirectUrl": "https://api.test/return", "skipConfirmationPage": "true" },
            "reference": "8f0f3c38-2d0e-4a55-9a4b-6c1d2e3f4a5b",
            "outletId": "5edab6d7-5946-43f4-b8c7-06b29c272bdd",
            "createDateTime": "2026-11-24T10:00:00.000Z",
            "paymentMethods": { "card": ["VISA", "MASTERCARD"] },
            "merchantOrderReference": donation.as_str(),
            "formattedAmount": "د.إ.‏ 10",
            "_embedded": { "payment": [{
                "_id": "urn:payment:0d1e2f3a",
                "state": "PURCHASED",
                "amount": { "currencyCode": "AED", "value": 1000 },
                "paymentMethod": { "expiry": "2030-12", "cardholderName": "A Donor", "name": "VISA" },
                "authResponse": { "success": true, "resultCode": "00" },
            }] },
        }))
        .unwrap();

        let event = order.event().unwrap().unwrap();

        assert_eq!(event.gateway, NAME);
        assert_eq!(event.donation_id, donation);
        assert_eq!(event.outcome, Outcome::Succeeded);
        assert_eq!((event.amount.get(), event.currency.code()), (1000, "AED"));
        assert_eq!(event.event_id.as_str(), "8f0f3c38-2d0e-4a55-9a4b-6c1d2e3f4a5b:succeeded");
        assert_eq!(event.gateway_reference.as_deref(), Some("8f0f3c38-2d0e-4a55-9a4b-6c1d2e3f4a5b"));
    }

    #[test]
    fn asking_twice_about_the_same_state_gives_the_same_event_id() {
        let (first, second) = (order("PURCHASED", &[]), order("CAPTURED", &[]));
        assert_eq!(first.event().unwrap().unwrap().event_id, second.event().unwrap().unwrap().event_id);
        let refunded = order("PARTIALLY_REFUNDED", &[(1000, "SUCCESS")]).event().unwrap().unwrap();
        assert_eq!(refunded.event_id.as_str(), "3f1c-order:refunded:1000");
        assert!(order("STARTED", &[]).event().unwrap().is_none());
    }

    #[test]
    fn an_order_without_our_donation_id_is_malformed() {
        let order: Order = serde_json::from_value(json!({
            "reference": "3f1c-order",
            "merchantOrderReference": "not ours!",
            "amount": { "currencyCode": "AED", "value": 1000 },
            "_embedded": { "payment": [{ "state": "PURCHASED" }] },
        }))
        .unwrap();
        assert!(matches!(order.event(), Err(GatewayError::Malformed(_))));
    }

    fn checkout(currency: &str, typed: &str, lang: &str) -> CheckoutRequest {
        let currency = Currency::parse(currency).unwrap();
        let url = |path: &str| Url::parse("https://api.test/api/v1/payments/ngenius/").unwrap().join(path).unwrap();
        CheckoutRequest {
            donation_id: DonationId::generate(),
            amount: AmountMinor::parse(currency.parse_major(typed).unwrap()).unwrap(),
            currency,
            return_url: url("return"),
            notify_url: url("webhook"),
            forward_url: url("forward"),
            lang: lang.into(),
        }
    }

    #[test]
    fn orders_ask_for_minor_units_of_the_currency() {
        for (currency, typed, value) in [("AED", "10.50", 1050), ("KWD", "1.250", 1250), ("JPY", "500", 500)] {
            let body = order_request(&checkout(currency, typed, "en"));
            assert_eq!(body["amount"], json!({ "currencyCode": currency, "value": value }), "{typed} {currency}");
        }
    }

    #[test]
    fn orders_carry_our_reference_language_and_return_routes() {
        let request = checkout("AED", "10", "ar");
        let body = order_request(&request);
        let id = request.donation_id.as_str();

        assert_eq!(body["action"], "PURCHASE");
        assert_eq!(body["merchantOrderReference"], id);
        assert_eq!(body["language"], "ar");
        assert_eq!(body["merchantAttributes"]["redirectUrl"], "https://api.test/api/v1/payments/ngenius/return");
        assert_eq!(
            body["merchantAttributes"]["cancelUrl"],
            format!("https://api.test/api/v1/payments/ngenius/return?cancelled=1&donation={id}")
        );
        assert_eq!(order_request(&checkout("AED", "10", "fr"))["language"], "en");
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        assert_eq!(usable_for(Some(300)), Duration::from_secs(270));
        assert_eq!(usable_for(Some(10)), Duration::from_secs(5));
        assert_eq!(usable_for(None), Duration::from_secs(270));
    }

    #[test]
    fn only_uuid_like_references_reach_a_url() {
        assert!(is_reference("9d5b0c1e-5a3e-4a8e-9f3c-2f1e0d6b7a11"));
        for bad in ["", "../admin", "a/b", "a?b", "a b", "a%2Fb"] {
            assert!(!is_reference(bad), "{bad}");
        }
    }
}
