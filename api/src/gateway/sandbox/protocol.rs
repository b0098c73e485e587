//! The sandbox gateway's signed redirect protocol, shared by our adapter (the merchant side)
//! and the hosted page (the gateway side), as both sides of a real gateway share its spec.
//!
//! - Redirect to the hosted page: `GET {pay_url}?merchant_reference=…&amount_minor=…&currency=…
//!   &return_url=…&notify_url=…&signature=…`.
//! - Browser return: `GET {return_url}?merchant_reference=…&payment_id=…&status=paid|declined
//!   &amount_minor=…&currency=…&signature=…`.
//! - `signature` is hex HMAC-SHA256 over the other parameters sorted by name and joined as
//!   `name=value&name=value`, names and values form-urlencoded (so a `&` or `=` inside a value
//!   cannot pass for a boundary between parameters).
//! - Notification: `POST {notify_url}` with a JSON body (`event_id`, `payment_id`,
//!   `merchant_reference`, `status`, `amount_minor`, `currency`) and the header
//!   `Sandbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>.<body>">`; a receiver
//!   refuses timestamps more than five minutes away from its clock.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::gateway::GatewayError;

pub const SIGNATURE_HEADER: &str = "sandbox-signature";
pub const TOLERANCE_SECONDS: u64 = 300;

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length")
}

fn canonical(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "signature").collect();
    sorted.sort();
    // Encoded, not joined as they are: `a=1&b=2` would otherwise be the text of one parameter
    // `a` = `1&b=2` too, and a signature over one would verify the other.
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(sorted).finish()
}

/// Signs parameters; returns them with `signature` added.
pub fn sign(secret: &[u8], mut params: Vec<(String, String)>) -> Vec<(String, String)> {
    params.retain(|(k, _)| k != "signature");
    let mut mac = mac(secret);
    mac.update(canonical(&params).as_bytes());
    params.push(("signature".into(), hex::encode(mac.finalize().into_bytes())));
    params
}

/// Checks the `signature` parameter in constant time and returns the parameters by name.
pub fn verify(
    secret: &[u8],
    params: Vec<(String, String)>,
) -> Result<std::collections::BTreeMap<String, String>, GatewayError> {
    let signature =
        params.iter().find(|(k, _)| k == "signature").map(|(_, v)| v.as_str()).ok_or(GatewayError::BadSignature)?;
    let signature = hex::decode(signature).map_err(|_| GatewayError::BadSignature)?;
    let mut mac = mac(secret);
    mac.update(canonical(&params).as_bytes());
    mac.verify_slice(&signature).map_err(|_| GatewayError::BadSignature)?;
    let mut by_name = std::collections::BTreeMap::new();
    for (k, v) in params {
        if by_name.insert(k.clone(), v).is_some() {
            return Err(GatewayError::Malformed(format!("parameter `{k}` appears twice")));
        }
    }
    Ok(by_name)
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The `Sandbox-Signature` header value for a notification body sent at `timestamp`.
pub fn sign_notification(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies a notification's signature header against its exact body and our clock.
pub fn verify_notification(secret: &[u8], header: Option<&str>, body: &[u8], now: u64) -> Result<(), GatewayError> {
    let header = header.ok_or(GatewayError::BadSignature)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
            Some(("v1", v)) => signatures.push(hex::decode(v).map_err(|_| GatewayError::BadSignature)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(GatewayError::BadSignature)?;
    let valid = signatures.iter().any(|signature| {
        let mut mac = mac(secret);
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    });
    if !valid {
        return Err(GatewayError::BadSignature);
    }
    if now.abs_diff(timestamp) > TOLERANCE_SECONDS {
        return Err(GatewayError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        vec![("b".into(), "2".into()), ("a".into(), "x y&z".into())]
    }

    #[test]
    fn a_signed_message_verifies_and_a_changed_one_does_not() {
        let signed = sign(b"secret", params());
        assert_eq!(verify(b"secret", signed.clone()).unwrap()["a"], "x y&z");
        assert!(matches!(verify(b"other", signed.clone()), Err(GatewayError::BadSignature)));
        let mut tampered = signed;
        tampered[0].1 = "3".into();
        assert!(matches!(verify(b"secret", tampered), Err(GatewayError::BadSignature)));
        assert!(matches!(verify(b"secret", params()), Err(GatewayError::BadSignature)));
    }

    #[test]
    fn parameters_regrouped_under_the_same_signature_are_refused() {
        // Joined unencoded, these read the same (the `sandbox` fuzz target checks regrouping).
        let signed = sign(b"secret", vec![("a".into(), "1&b=2".into())]);
        let regrouped = vec![("a".into(), "1".into()), ("b".into(), "2".into()), signed[1].clone()];
        assert!(matches!(verify(b"secret", regrouped), Err(GatewayError::BadSignature)));
        assert!(verify(b"secret", signed).is_ok());
    }

    #[test]
    fn notifications_are_bound_to_their_body_and_time() {
        let header = sign_notification(b"secret", 1_000, b"{}");
        assert!(verify_notification(b"secret", Some(&header), b"{}", 1_100).is_ok());
        assert!(matches!(
            verify_notification(b"secret", Some(&header), b"{ }", 1_100),
            Err(GatewayError::BadSignature)
        ));
        assert!(matches!(verify_notification(b"secret", Some(&header), b"{}", 2_000), Err(GatewayError::Stale)));
        assert!(matches!(verify_notification(b"secret", None, b"{}", 1_000), Err(GatewayError::BadSignature)));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Parameters with distinct names, `signature` among none of them.
        fn params() -> impl Strategy<Value = Vec<(String, String)>> {
            prop::collection::btree_map("[a-z_]{1,12}", "\\PC{0,16}|[a-z0-9&=%+ ]{0,16}", 1..6)
                .prop_map(|m| m.into_iter().filter(|(k, _)| k != "signature").collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn what_sign_signs_verifies_and_one_changed_byte_does_not(
                params in params(),
                which in any::<prop::sample::Index>(),
                at in any::<prop::sample::Index>(),
                in_name in any::<bool>(),
            ) {
                let signed = sign(b"secret", params);
                prop_assert!(verify(b"secret", signed.clone()).is_ok());
                let mut tampered = signed.clone();
                let pair = which.get_mut(&mut tampered);
                let text = if in_name { &mut pair.0 } else { &mut pair.1 };
                if !text.is_empty() {
                    // One byte: an ASCII byte changes to another ASCII byte, a multi-byte
                    // character's first byte to `?`, so the text stays UTF-8.
                    let mut bytes = std::mem::take(text).into_bytes();
                    let index = at.index(bytes.len());
                    let start = (0..=index).rev().find(|&i| bytes[i] < 0x80 || bytes[i] >= 0xC0).unwrap();
                    let width = bytes[start..].iter().skip(1).take_while(|b| (0x80..0xC0).contains(*b)).count() + 1;
                    let replacement = if bytes[start] == b'a' { b'b' } else { b'a' };
                    bytes.splice(start..start + width, [replacement]);
                    *text = String::from_utf8(bytes).unwrap();
                    prop_assert!(verify(b"secret", tampered).is_err());
                }
            }

            #[test]
            fn a_notification_verifies_only_with_its_own_body(body in prop::collection::vec(any::<u8>(), 0..64), flip in any::<prop::sample::Index>()) {
                let header = sign_notification(b"secret", 1_000, &body);
                prop_assert!(verify_notification(b"secret", Some(&header), &body, 1_000).is_ok());
                let mut changed = body.clone();
                if changed.is_empty() { changed.push(0) } else { *flip.get_mut(&mut changed) ^= 0x20 }
                prop_assert!(matches!(verify_notification(b"secret", Some(&header), &changed, 1_000), Err(GatewayError::BadSignature)));
            }
        }
    }
}
