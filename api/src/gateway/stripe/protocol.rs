//! Stripe's side of the wire, without IO: the Checkout Session parameters we send, the webhook
//! signature, the objects Stripe answers with (Checkout Session, Charge, Dispute, Event), and
//! what each says about a donation.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::NAME;
use crate::db::PaymentEvent;
use crate::domain::{AmountMinor, Currency, DonationId, GatewayEventId, Outcome};
use crate::gateway::{CheckoutRequest, GatewayError};

pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// How far a webhook's timestamp may be from our clock, either way (Stripe's libraries default
/// to five minutes too).
pub const TOLERANCE_SECONDS: u64 = 300;

/// The languages Stripe's hosted Checkout page speaks (the `locale` parameter of "Create a
/// Checkout Session"). Stripe refuses any other value, Arabic included (Stripe.js speaks it,
/// Checkout does not), so those get `auto`: Stripe follows the donor's browser.
const CHECKOUT_LOCALES: &[&str] = &[
    "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id",
    "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th",
    "tr", "vi", "zh", "zh-HK", "zh-TW",
];

pub fn checkout_locale(lang: &str) -> &'static str {
    CHECKOUT_LOCALES.iter().find(|locale| **locale == lang).copied().unwrap_or("auto")
}

/// The form of "Create a Checkout Session" for one donation: one line item of the whole gift,
/// the donation id as `client_reference_id` and as metadata on the session and on its payment
/// intent (Stripe copies a payment intent's metadata onto the charge it makes, so refunds and
/// disputes lead back to the donation).
///
/// `unit_amount` is in the currency's minor units as ISO 4217 counts them, which is Stripe's
/// count too: whole yen for JPY (a "zero-decimal" currency), fils for KWD. Stripe takes the
/// three-decimal currencies (KWD, BHD, JOD, OMR, TND) only in multiples of 10; an amount that
/// is not is sent as it is and refused by Stripe, so the donation fails over to another gateway.
pub fn session_form(request: &CheckoutRequest) -> Vec<(&'static str, String)> {
    let donation = request.donation_id.as_str();
    let mut success_url = request.return_url.clone();
    success_url.query_pairs_mut().append_pair("donation", donation);
    // Stripe fills in the placeholder when it sends the donor back; `Url` would encode its
    // braces, so it is added to the finished URL by hand.
    let success_url = format!("{success_url}&session_id={{CHECKOUT_SESSION_ID}}");
    let mut cancel_url = request.return_url.clone();
    cancel_url.query_pairs_mut().append_pair("donation", donation).append_pair("cancelled", "1");
    vec![
        ("mode", "payment".into()),
        ("line_items[0][quantity]", "1".into()),
        ("line_items[0][price_data][currency]", request.currency.code().to_ascii_lowercase()),
        ("line_items[0][price_data][unit_amount]", request.amount.get().to_string()),
        ("line_items[0][price_data][product_data][name]", "Donation".into()),
        ("client_reference_id", donation.into()),
        ("metadata[donation_id]", donation.into()),
        ("payment_intent_data[metadata][donation_id]", donation.into()),
        ("success_url", success_url),
        ("cancel_url", cancel_url.into()),
        ("locale", checkout_locale(&request.lang).into()),
    ]
}

/// The key that makes Stripe answer a repeated create with the session it already made.
pub fn idempotency_key(donation: &DonationId) -> String {
    format!("pledge-{}", donation.as_str())
}

/// The `v1` signature Stripe puts on `body` at `timestamp`: HMAC-SHA256 of `{timestamp}.{body}`
/// with the endpoint's signing secret, in hex.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    hex::encode(signed_payload_mac(secret, timestamp, body).finalize().into_bytes())
}

fn signed_payload_mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks a `Stripe-Signature` header (`t=…,v1=…[,v1=…]`; `v0` and unknown schemes ignored):
/// one of its `v1` signatures must match, compared in constant time, and only then is its
/// timestamp judged, so a forger learns nothing about our clock.
pub fn verify_signature(secret: &[u8], header: Option<&str>, body: &[u8], now: u64) -> Result<(), GatewayError> {
    let header = header.ok_or(GatewayError::BadSignature)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value.parse::<u64>().map_err(|_| GatewayError::BadSignature)?),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(GatewayError::BadSignature)?;
    let matches =
        signatures.iter().any(|signature| signed_payload_mac(secret, timestamp, body).verify_slice(signature).is_ok());
    if !matches {
        return Err(GatewayError::BadSignature);
    }
    if now.abs_diff(timestamp) > TOLERANCE_SECONDS {
        return Err(GatewayError::Stale);
    }
    Ok(())
}

pub fn malformed(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Malformed(e.to_string())
}

/// Stripe ids are short ASCII tokens (`cs_…`, `ch_…`); anything else never reaches a URL path.
pub fn is_stripe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn event(
    event_id: &str,
    donation: &str,
    outcome: Outcome,
    amount: i64,
    currency: &str,
    reference: &str,
) -> Result<PaymentEvent, GatewayError> {
    Ok(PaymentEvent {
        gateway: NAME.into(),
        event_id: GatewayEventId::parse(event_id).map_err(malformed)?,
        donation_id: DonationId::parse(donation).map_err(malformed)?,
        outcome,
        amount: AmountMinor::parse(amount).map_err(malformed)?,
        currency: Currency::parse(&currency.to_ascii_uppercase()).map_err(malformed)?,
        gateway_reference: Some(reference.into()),
    })
}

/// The parts of a Checkout Session we read.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub amount_total: i64,
    #[serde(default)]
    pub currency: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// The donor has not finished (or has left without paying).
    Open,
    /// Finished, money confirmed.
    Paid,
    /// Finished with a payment method that confirms later (a bank debit).
    Processing,
    Expired,
}

impl Session {
    pub fn state(&self) -> SessionState {
        match (self.status.as_deref(), self.payment_status.as_deref()) {
            (Some("complete"), Some("paid" | "no_payment_required")) => SessionState::Paid,
            (Some("complete"), _) => SessionState::Processing,
            (Some("expired"), _) => SessionState::Expired,
            _ => SessionState::Open,
        }
    }

    fn event(&self, event_id: &str, outcome: Outcome) -> Result<PaymentEvent, GatewayError> {
        let donation = self.client_reference_id.as_deref().ok_or_else(|| malformed("a session without a donation"))?;
        event(event_id, donation, outcome, self.amount_total, &self.currency, &self.id)
    }

    /// What a retrieved session says: an event when there is a verdict (its id
    /// `{session}:{outcome}`, the same however often we ask), and whether the payment is
    /// processing.
    pub fn verdict(&self) -> Result<(Option<PaymentEvent>, bool), GatewayError> {
        let outcome = match self.state() {
            SessionState::Paid => Outcome::Succeeded,
            SessionState::Expired => Outcome::Expired,
            SessionState::Processing => return Ok((None, true)),
            SessionState::Open => return Ok((None, false)),
        };
        Ok((Some(self.event(&format!("{}:{}", self.id, outcome.as_str()), outcome)?), false))
    }
}

#[derive(Debug, Deserialize)]
pub struct Charge {
    id: String,
    amount: i64,
    #[serde(default)]
    amount_refunded: i64,
    currency: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

impl Charge {
    /// `None` for a charge made outside our checkouts (no donation id): not ours to count.
    pub fn event(&self, event_id: &str, outcome: Outcome) -> Result<Option<PaymentEvent>, GatewayError> {
        let Some(donation) = self.metadata.get("donation_id") else { return Ok(None) };
        event(event_id, donation, outcome, self.amount, &self.currency, &self.id).map(Some)
    }
}

#[derive(Debug, Deserialize)]
struct Dispute {
    charge: String,
    status: String,
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// What a (verified) webhook event means for us.
#[derive(Debug)]
pub enum Webhook {
    Event(PaymentEvent),
    /// A dispute names only its charge; the charge says which donation it was and how much.
    Dispute {
        event_id: String,
        charge: String,
        outcome: Outcome,
    },
    /// Genuine, but nothing to count: another event type, a session or charge that is not one
    /// of ours, a payment still processing.
    Ignored,
}

/// Reads a webhook body whose signature has been checked.
pub fn interpret(body: &[u8]) -> Result<Webhook, GatewayError> {
    let Event { id, kind, data } = serde_json::from_slice(body).map_err(malformed)?;
    let object = data.object;
    let session_outcome = match kind.as_str() {
        "checkout.session.completed" => Some(None),
        "checkout.session.async_payment_succeeded" => Some(Some(Outcome::Succeeded)),
        "checkout.session.async_payment_failed" => Some(Some(Outcome::Failed)),
        "checkout.session.expired" => Some(Some(Outcome::Expired)),
        _ => None,
    };
    if let Some(outcome) = session_outcome {
        let session: Session = serde_json::from_value(object).map_err(malformed)?;
        if session.client_reference_id.is_none() {
            return Ok(Webhook::Ignored);
        }
        // A completed session is paid, or waits for an asynchronous payment's own event.
        let outcome = match (outcome, session.state()) {
            (Some(outcome), _) => outcome,
            (None, SessionState::Paid) => Outcome::Succeeded,
            (None, _) => return Ok(Webhook::Ignored),
        };
        return session.event(&id, outcome).map(Webhook::Event);
    }
    match kind.as_str() {
        "charge.refunded" => {
            let charge: Charge = serde_json::from_value(object).map_err(malformed)?;
            let outcome = Outcome::Refunded { total_refunded: charge.amount_refunded };
            Ok(charge.event(&id, outcome)?.map_or(Webhook::Ignored, Webhook::Event))
        }
        "charge.dispute.created" | "charge.dispute.closed" => {
            let dispute: Dispute = serde_json::from_value(object).map_err(malformed)?;
            let outcome = match (kind.as_str(), dispute.status.as_str()) {
                ("charge.dispute.created", _) => Outcome::DisputeOpened,
                // `warning_closed`: an inquiry closed without a chargeback.
                (_, "won" | "warning_closed") => Outcome::DisputeWon,
                (_, "lost") => Outcome::DisputeLost,
                _ => return Ok(Webhook::Ignored),
            };
            if !is_stripe_id(&dispute.charge) {
                return Err(malformed("a dispute without a charge id"));
            }
            Ok(Webhook::Dispute { event_id: id, charge: dispute.charge, outcome })
        }
        _ => Ok(Webhook::Ignored),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use url::Url;

    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1"}"#;
    const T: u64 = 1_700_000_000;

    /// The expected signature, computed here without our `sign`: one HMAC over the whole
    /// signed payload.
    fn independent_signature(secret: &[u8], payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Also `printf '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_test`.
        let expected = "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925";
        assert_eq!(independent_signature(SECRET, br#"1700000000.{"id":"evt_1"}"#), expected);
        assert_eq!(sign(SECRET, T, BODY), expected);
    }

    #[test]
    fn any_v1_signature_may_match_and_other_schemes_are_ignored() {
        let good = independent_signature(SECRET, br#"1700000000.{"id":"evt_1"}"#);
        let header = format!("t={T},v1={},v1={good},v0={},v2=future", "00".repeat(32), "11".repeat(32));
        assert!(verify_signature(SECRET, Some(&header), BODY, T + 100).is_ok());
        let spaced = format!("t={T}, v1={good}");
        assert!(verify_signature(SECRET, Some(&spaced), BODY, T).is_ok());
    }

    #[test]
    fn forged_and_malformed_headers_are_refused() {
        let good = sign(SECRET, T, BODY);
        let cases = [
            (None, "missing"),
            (Some(format!("t={T},v1={}", sign(b"other", T, BODY))), "wrong secret"),
            (Some(format!("v1={good}")), "no timestamp"),
            (Some(format!("t={T}")), "no signature"),
            (Some(format!("t={T},v0={good}")), "only a v0 signature"),
            (Some(format!("t={},v1={good}", T + 1)), "another timestamp"),
            (Some(format!("t=soon,v1={good}")), "a timestamp that is not a number"),
            (Some(format!("t={T},v1=not-hex")), "a signature that is not hex"),
            (Some(format!("t={T},v1={}", &good[..32])), "a truncated signature"),
            (Some(String::new()), "empty"),
            (Some("garbage".to_string()), "garbage"),
        ];
        for (header, why) in cases {
            let result = verify_signature(SECRET, header.as_deref(), BODY, T);
            assert!(matches!(result, Err(GatewayError::BadSignature)), "{why}: {result:?}");
        }
        let tampered = verify_signature(SECRET, Some(&format!("t={T},v1={good}")), b"{}", T);
        assert!(matches!(tampered, Err(GatewayError::BadSignature)));
    }

    #[test]
    fn signatures_older_or_newer_than_five_minutes_are_stale() {
        let header = format!("t={T},v1={}", sign(SECRET, T, BODY));
        for now in [T + 300, T - 300] {
            assert!(verify_signature(SECRET, Some(&header), BODY, now).is_ok(), "{now}");
        }
        for now in [T + 301, T - 301] {
            assert!(matches!(verify_signature(SECRET, Some(&header), BODY, now), Err(GatewayError::Stale)), "{now}");
        }
    }

    fn request(lang: &str, currency: &str, amount: i64) -> CheckoutRequest {
        let url = |path: &str| Url::parse("https://api.test/").unwrap().join(path).unwrap();
        CheckoutRequest {
            donation_id: DonationId::generate(),
            amount: AmountMinor::parse(amount).unwrap(),
            currency: Currency::parse(currency).unwrap(),
            return_url: url("api/v1/payments/stripe/return"),
            notify_url: url("api/v1/payments/stripe/webhook"),
            forward_url: url("api/v1/payments/stripe/forward"),
            lang: lang.into(),
        }
    }

    fn field<'a>(form: &'a [(&str, String)], name: &str) -> &'a str {
        form.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str()).unwrap()
    }

    #[test]
    fn the_session_form_keeps_the_placeholder_and_the_minor_units() {
        let request = request("ar", "JPY", 1000);
        let form = session_form(&request);
        let id = request.donation_id.as_str();
        assert_eq!(
            field(&form, "success_url"),
            format!("https://api.test/api/v1/payments/stripe/return?donation={id}&session_id={{CHECKOUT_SESSION_ID}}")
        );
        assert_eq!(
            field(&form, "cancel_url"),
            format!("https://api.test/api/v1/payments/stripe/return?donation={id}&cancelled=1")
        );
        assert_eq!(field(&form, "line_items[0][price_data][unit_amount]"), "1000", "whole yen");
        assert_eq!(field(&form, "line_items[0][price_data][currency]"), "jpy");
        assert_eq!(field(&form, "payment_intent_data[metadata][donation_id]"), id);
        assert_eq!(field(&form, "locale"), "auto", "Checkout does not speak Arabic");
        assert_eq!(field(&session_form(&self::request("en", "KWD", 1250)), "locale"), "en");
        assert_eq!(
            field(&session_form(&self::request("en", "KWD", 1250)), "line_items[0][price_data][unit_amount]"),
            "1250"
        );
    }

    fn session(status: &str, payment: &str) -> Session {
        Session {
            id: "cs_1".into(),
            url: None,
            client_reference_id: Some(DonationId::generate().as_str().into()),
            status: Some(status.into()),
            payment_status: Some(payment.into()),
            amount_total: 2500,
            currency: "usd".into(),
        }
    }

    #[test]
    fn sessions_say_paid_processing_expired_or_nothing() {
        let (event, processing) = session("complete", "paid").verdict().unwrap();
        let event = event.unwrap();
        assert_eq!((event.outcome, event.amount.get(), event.currency.code()), (Outcome::Succeeded, 2500, "USD"));
        assert_eq!((event.event_id.as_str(), event.gateway_reference.as_deref()), ("cs_1:succeeded", Some("cs_1")));
        assert!(!processing);
        assert!(matches!(session("complete", "unpaid").verdict().unwrap(), (None, true)));
        assert_eq!(session("expired", "unpaid").verdict().unwrap().0.unwrap().event_id.as_str(), "cs_1:expired");
        assert!(matches!(session("open", "unpaid").verdict().unwrap(), (None, false)));
    }

    fn webhook(kind: &str, object: serde_json::Value) -> Webhook {
        interpret(&serde_json::to_vec(&json!({ "id": "evt_1", "type": kind, "data": { "object": object } })).unwrap())
            .unwrap()
    }

    fn outcome_of(webhook: Webhook) -> Option<Outcome> {
        match webhook {
            Webhook::Event(event) => {
                assert_eq!(event.event_id.as_str(), "evt_1");
                Some(event.outcome)
            }
            Webhook::Dispute { outcome, .. } => Some(outcome),
            Webhook::Ignored => None,
        }
    }

    #[test]
    fn webhook_events_say_what_happened_to_the_payment() {
        let donation = DonationId::generate();
        let session = |status: &str, payment: &str| {
            json!({ "id": "cs_1", "object": "checkout.session", "client_reference_id": donation.as_str(),
                    "status": status, "payment_status": payment, "amount_total": 2500, "currency": "usd" })
        };
        let charge = json!({ "id": "ch_1", "amount": 2500, "amount_refunded": 1000, "currency": "usd",
                             "metadata": { "donation_id": donation.as_str() } });
        let dispute = |status: &str| json!({ "id": "dp_1", "charge": "ch_1", "status": status });
        let cases = [
            ("checkout.session.completed", session("complete", "paid"), Some(Outcome::Succeeded)),
            ("checkout.session.completed", session("complete", "unpaid"), None),
            ("checkout.session.async_payment_succeeded", session("complete", "paid"), Some(Outcome::Succeeded)),
            ("checkout.session.async_payment_failed", session("complete", "unpaid"), Some(Outcome::Failed)),
            ("checkout.session.expired", session("expired", "unpaid"), Some(Outcome::Expired)),
            ("charge.refunded", charge.clone(), Some(Outcome::Refunded { total_refunded: 1000 })),
            ("charge.dispute.created", dispute("needs_response"), Some(Outcome::DisputeOpened)),
            ("charge.dispute.closed", dispute("won"), Some(Outcome::DisputeWon)),
            ("charge.dispute.closed", dispute("lost"), Some(Outcome::DisputeLost)),
            ("charge.dispute.updated", dispute("under_review"), None),
            ("customer.created", json!({ "id": "cus_1" }), None),
        ];
        for (kind, object, expected) in cases {
            assert_eq!(outcome_of(webhook(kind, object)), expected, "{kind}");
        }
    }

    #[test]
    fn sessions_and_charges_that_are_not_ours_are_ignored() {
        let shop = json!({ "id": "cs_2", "status": "complete", "payment_status": "paid", "amount_total": 900, "currency": "usd" });
        assert!(matches!(webhook("checkout.session.completed", shop), Webhook::Ignored));
        let charge = json!({ "id": "ch_2", "amount": 900, "amount_refunded": 900, "currency": "usd", "metadata": {} });
        assert!(matches!(webhook("charge.refunded", charge), Webhook::Ignored));
    }

    #[test]
    fn unreadable_events_are_malformed() {
        for body in
            [&b"not json"[..], br#"{"id":"evt_1"}"#, br#"{"id":"evt_1","type":"charge.refunded","data":{"object":{}}}"#]
        {
            assert!(matches!(interpret(body), Err(GatewayError::Malformed(_))));
        }
    }

    #[test]
    fn locales_stripe_checkout_lacks_become_auto() {
        assert_eq!((checkout_locale("en"), checkout_locale("pt-BR")), ("en", "pt-BR"));
        assert_eq!((checkout_locale("ar"), checkout_locale("xx"), checkout_locale("")), ("auto", "auto", "auto"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn what_sign_signs_verifies_and_a_changed_body_does_not(
                body in prop::collection::vec(any::<u8>(), 0..128),
                t in 0..u64::MAX / 2,
                flip in any::<prop::sample::Index>(),
                bit in 0..8_u8,
            ) {
                let header = format!("t={t},v1={}", sign(SECRET, t, &body));
                prop_assert!(verify_signature(SECRET, Some(&header), &body, t).is_ok());
                let mut changed = body.clone();
                if changed.is_empty() { changed.push(b'{') } else { *flip.get_mut(&mut changed) ^= 1 << bit }
                prop_assert!(matches!(verify_signature(SECRET, Some(&header), &changed, t), Err(GatewayError::BadSignature)));
            }

            #[test]
            fn arbitrary_headers_and_bodies_never_panic(header in "\\PC{0,80}|[tv01=,a-f ]{0,80}", body in prop::collection::vec(any::<u8>(), 0..64)) {
                let _ = verify_signature(SECRET, Some(&header), &body, T);
                let _ = interpret(&body);
            }
        }
    }
}
