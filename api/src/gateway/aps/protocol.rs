//! The pure half of the APS protocol: signatures, parameter parsing, and what a verified set of
//! response parameters says about a payment. Nothing here does IO.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use url::{Host, Url};

use super::NAME;
use crate::db::PaymentEvent;
use crate::domain::{AmountMinor, Currency, DonationId, GatewayEventId, Outcome};
use crate::gateway::GatewayError;

/// APS requires an email with every purchase and donors give none on our form; used when our
/// own address has no domain to put after `no-reply@`.
const FALLBACK_EMAIL: &str = "no-reply@example.org";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShaType {
    Sha256,
    Sha512,
}

impl ShaType {
    /// The account's "SHA Type" setting. APS also offers HMAC variants; they are not supported.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "sha256" | "sha-256" => Some(Self::Sha256),
            "sha512" | "sha-512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

/// The phrases and hash that sign APS messages.
pub struct Signer {
    pub sha: ShaType,
    pub request_phrase: SecretString,
    pub response_phrase: SecretString,
}

impl Signer {
    /// The signature of `params` (any `signature` among them is left out): the `name=value`
    /// pairs sorted by name, joined with nothing between, wrapped in `phrase`, hashed, hex.
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

    /// What we send to APS is signed with the request phrase.
    pub fn sign_request(&self, params: &[(String, String)]) -> String {
        self.sign(self.request_phrase.expose_secret(), params)
    }

    /// What APS sends us is signed with the response phrase.
    pub fn sign_response(&self, params: &[(String, String)]) -> String {
        self.sign(self.response_phrase.expose_secret(), params)
    }

    /// Checks a response's `signature` in constant time.
    pub fn verify_response(&self, params: &Params) -> Result<(), GatewayError> {
        let given = params.get("signature").ok_or(GatewayError::BadSignature)?;
        let expected = self.sign_response(&params.0);
        if bool::from(expected.as_bytes().ct_eq(given.to_ascii_lowercase().as_bytes())) {
            Ok(())
        } else {
            Err(GatewayError::BadSignature)
        }
    }
}

/// Response parameters as APS sent them, each name once.
#[derive(Debug, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// From a form body, or the query string when the body is empty (APS returns the browser
    /// by a form post, some integrations by a redirect).
    pub fn from_form(form: &[u8], query: &str) -> Result<Self, GatewayError> {
        let source = if form.is_empty() { query.as_bytes() } else { form };
        Self::unique(url::form_urlencoded::parse(source).into_owned().collect())
    }

    /// From a JSON object: strings and numbers as the text the signature covers.
    pub fn from_json(body: &[u8]) -> Result<Self, GatewayError> {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).map_err(malformed)?;
        let pairs = object
            .into_iter()
            .filter_map(|(key, value)| match value {
                serde_json::Value::String(text) => Some((key, text)),
                serde_json::Value::Number(number) => Some((key, number.to_string())),
                _ => None,
            })
            .collect();
        Self::unique(pairs)
    }

    fn unique(pairs: Vec<(String, String)>) -> Result<Self, GatewayError> {
        let mut names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(malformed("a parameter appears twice"));
        }
        Ok(Self(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &str) -> Result<&str, GatewayError> {
        self.get(name).ok_or_else(|| malformed(format!("no `{name}`")))
    }

    pub fn donation_id(&self) -> Result<DonationId, GatewayError> {
        DonationId::parse(self.require("merchant_reference")?).map_err(malformed)
    }
}

pub fn malformed(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Malformed(e.to_string())
}

/// APS's two-digit purchase statuses: 14 succeeded, 13 failed, 00 an invalid request (nothing
/// was charged); anything else (19 pending, 20 on hold) is no verdict yet.
pub fn purchase_outcome(status: &str) -> Option<Outcome> {
    match status {
        "14" => Some(Outcome::Succeeded),
        "13" | "00" => Some(Outcome::Failed),
        _ => None,
    }
}

/// Statuses where the donor is done and APS is still deciding.
pub fn is_processing(status: &str) -> bool {
    matches!(status, "19" | "20")
}

/// The event a verified purchase response (a return or a feedback) reports; `source` keeps the
/// return's and the feedback's ids apart.
pub fn purchase_event(params: &Params, source: &str) -> Result<Option<PaymentEvent>, GatewayError> {
    let Some(outcome) = purchase_outcome(params.get("status").unwrap_or_default()) else { return Ok(None) };
    let (amount, currency) = match (params.get("amount"), params.get("currency")) {
        (Some(amount), Some(currency)) => (amount, Currency::parse(currency).map_err(malformed)?),
        // A refused request (a bad parameter, say) may name no amount; nothing was charged.
        _ if outcome == Outcome::Failed => return Ok(None),
        _ => return Err(malformed("a purchase without `amount` and `currency`")),
    };
    let reference = params.get("fort_id").or(params.get("merchant_reference")).unwrap_or_default();
    event(params, &format!("{source}:{reference}:{}", outcome.as_str()), outcome, amount, currency).map(Some)
}

/// What a verified `CHECK_STATUS` answer (status 12) says. Refunds come first: after one, the
/// transaction's latest action is the refund, not the purchase. `currency` stands in when the
/// answer names none (the purchase was signed in the donation's currency).
pub fn status_event(params: &Params, currency: Currency) -> Result<Option<PaymentEvent>, GatewayError> {
    let refunded: i64 = match params.get("refunded_amount").filter(|v| !v.is_empty()) {
        Some(text) => text.parse().map_err(malformed)?,
        None => 0,
    };
    let outcome = if refunded > 0 {
        Outcome::Refunded { total_refunded: refunded }
    } else {
        match purchase_outcome(params.get("transaction_status").unwrap_or_default()) {
            Some(outcome) => outcome,
            None => return Ok(None),
        }
    };
    let amount = ["amount", "authorized_amount", "captured_amount"]
        .into_iter()
        .find_map(|name| params.get(name).filter(|v| !v.is_empty()))
        .ok_or_else(|| malformed("no amount"))?;
    let currency = match params.get("currency").filter(|v| !v.is_empty()) {
        Some(code) => Currency::parse(code).map_err(malformed)?,
        None => currency,
    };
    let reference = params.get("fort_id").or(params.get("merchant_reference")).unwrap_or_default();
    let id = format!("status:{reference}:{}:{refunded}", outcome.as_str());
    event(params, &id, outcome, amount, currency).map(Some)
}

fn event(
    params: &Params,
    id: &str,
    outcome: Outcome,
    amount: &str,
    currency: Currency,
) -> Result<PaymentEvent, GatewayError> {
    Ok(PaymentEvent {
        gateway: NAME.into(),
        event_id: GatewayEventId::parse(id).map_err(malformed)?,
        donation_id: params.donation_id()?,
        outcome,
        amount: AmountMinor::parse(amount.parse().map_err(malformed)?).map_err(malformed)?,
        currency,
        gateway_reference: params.get("fort_id").map(str::to_string),
    })
}

/// The email APS requires with a purchase: a no-reply address at our own domain, so nothing APS
/// sends reaches a stranger.
pub fn placeholder_email(our_url: &Url) -> String {
    match our_url.host() {
        Some(Host::Domain(domain)) if domain.contains('.') => format!("no-reply@{domain}"),
        _ => FALLBACK_EMAIL.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DONATION: &str = "0123456789abcdef0123456789abcdef";

    fn signer(sha: ShaType) -> Signer {
        Signer { sha, request_phrase: "reqPHRASE".to_string().into(), response_phrase: "resPHRASE".to_string().into() }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn signed(list: &[(&str, &str)]) -> Params {
        let mut params = pairs(list);
        params.push(("signature".into(), signer(ShaType::Sha256).sign_response(&params)));
        Params(params)
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
        let signer = signer(ShaType::Sha512);
        let mut params = pairs(&[("merchant_reference", "d1"), ("amount", "1000"), ("status", "14")]);
        params.push(("signature".into(), signer.sign_response(&params)));
        assert!(signer.verify_response(&Params(params.clone())).is_ok());

        let mut tampered = params.clone();
        tampered[1].1 = "1".into();
        assert!(matches!(signer.verify_response(&Params(tampered)), Err(GatewayError::BadSignature)));

        let mut wrong_phrase = params[..3].to_vec();
        wrong_phrase.push(("signature".into(), signer.sign_request(&wrong_phrase)));
        assert!(matches!(signer.verify_response(&Params(wrong_phrase)), Err(GatewayError::BadSignature)));

        assert!(matches!(signer.verify_response(&Params(params[..3].to_vec())), Err(GatewayError::BadSignature)));
    }

    #[test]
    fn sha_types_parse_and_hmac_is_refused() {
        assert_eq!(ShaType::parse("SHA256"), Some(ShaType::Sha256));
        assert_eq!(ShaType::parse("sha-512"), Some(ShaType::Sha512));
        assert_eq!(ShaType::parse("hmac256"), None);
    }

    #[test]
    fn parameters_come_from_the_form_the_query_or_json_and_never_twice() {
        let form = Params::from_form(b"a=1&b=x+y", "a=2").unwrap();
        assert_eq!((form.get("a"), form.get("b")), (Some("1"), Some("x y")));
        assert_eq!(Params::from_form(b"", "a=2").unwrap().get("a"), Some("2"));
        assert!(matches!(Params::from_form(b"a=1&a=2", ""), Err(GatewayError::Malformed(_))));
        let json = Params::from_json(br#"{"amount": 1000, "status": "14", "nested": {}}"#).unwrap();
        assert_eq!((json.get("amount"), json.get("status"), json.get("nested")), (Some("1000"), Some("14"), None));
    }

    #[test]
    fn purchase_statuses_map_to_outcomes() {
        let paid = signed(&[
            ("merchant_reference", DONATION),
            ("fort_id", "169000001"),
            ("amount", "2500"),
            ("currency", "USD"),
            ("status", "14"),
        ]);
        let event = purchase_event(&paid, "return").unwrap().unwrap();
        assert_eq!(event.event_id.as_str(), "return:169000001:succeeded");
        assert_eq!((event.outcome, event.amount.get(), event.currency.code()), (Outcome::Succeeded, 2500, "USD"));
        assert_eq!(event.donation_id.as_str(), DONATION);

        assert_eq!(purchase_outcome("13"), Some(Outcome::Failed));
        let invalid = signed(&[("merchant_reference", DONATION), ("status", "00"), ("response_code", "00008")]);
        assert!(purchase_event(&invalid, "return").unwrap().is_none());
        let paid_without_amount = signed(&[("merchant_reference", DONATION), ("status", "14")]);
        assert!(matches!(purchase_event(&paid_without_amount, "return"), Err(GatewayError::Malformed(_))));
        assert_eq!(purchase_outcome("20"), None);
        assert!(is_processing("19") && !is_processing("14"));
    }

    #[test]
    fn check_status_reads_refunds_first_and_borrows_the_currency_when_absent() {
        let usd = Currency::parse("USD").unwrap();
        let paid = signed(&[
            ("merchant_reference", DONATION),
            ("fort_id", "1"),
            ("transaction_status", "14"),
            ("authorized_amount", "2500"),
            ("refunded_amount", "0"),
        ]);
        let event = status_event(&paid, usd).unwrap().unwrap();
        assert_eq!((event.outcome, event.amount.get(), event.currency.code()), (Outcome::Succeeded, 2500, "USD"));
        assert_eq!(event.event_id.as_str(), "status:1:succeeded:0");

        let refunded = signed(&[
            ("merchant_reference", DONATION),
            ("transaction_status", "06"),
            ("authorized_amount", "2500"),
            ("refunded_amount", "1000"),
            ("currency", "USD"),
        ]);
        let event = status_event(&refunded, usd).unwrap().unwrap();
        assert_eq!(event.outcome, Outcome::Refunded { total_refunded: 1000 });

        let not_found = signed(&[("merchant_reference", DONATION), ("response_code", "12036")]);
        assert!(status_event(&not_found, usd).unwrap().is_none());
    }

    #[test]
    fn the_placeholder_email_is_at_our_own_domain() {
        let ours = Url::parse("https://give.example.net/api/v1/payments/aps/webhook").unwrap();
        assert_eq!(placeholder_email(&ours), "no-reply@give.example.net");
        assert_eq!(placeholder_email(&Url::parse("http://127.0.0.1:8080/").unwrap()), FALLBACK_EMAIL);
        assert_eq!(placeholder_email(&Url::parse("http://localhost/").unwrap()), FALLBACK_EMAIL);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn a_signed_response_verifies_after_a_form_and_one_changed_value_does_not(
                map in prop::collection::btree_map("[a-z_]{1,12}", "\\PC{0,16}", 1..6),
                sha512 in any::<bool>(),
                which in any::<prop::sample::Index>(),
            ) {
                let signer = signer(if sha512 { ShaType::Sha512 } else { ShaType::Sha256 });
                let mut params: Vec<(String, String)> = map.into_iter().filter(|(k, _)| k != "signature").collect();
                params.push(("signature".into(), signer.sign_response(&params)));
                let form = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
                let parsed = Params::from_form(form.as_bytes(), "").unwrap();
                prop_assert!(signer.verify_response(&parsed).is_ok());
                let mut tampered = parsed.0.clone();
                which.get_mut(&mut tampered).1.push('x');
                prop_assert!(signer.verify_response(&Params(tampered)).is_err());
            }
        }
    }
}
