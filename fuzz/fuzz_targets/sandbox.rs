//! The sandbox gateway's signed protocol, from both ends. Arbitrary parameters and headers are
//! never believed unless they carry the signature our own `sign` makes; what `sign` makes
//! always verifies; a signed message changed in one character, or regrouped into other
//! parameters under the same signature, is refused. Signed returns and notifications then go
//! through the real adapter, whose parsing behind the signature refuses bad fields as
//! malformed and never panics.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use api::gateway::sandbox::SandboxGateway;
use api::gateway::sandbox::protocol::{sign, sign_notification, unix_now, verify, verify_notification};
use api::gateway::{BrowserReturn, GatewayError, Notification, PaymentGateway};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pledge_fuzz::ready;

const SECRET: &[u8] = b"sandbox-fuzz-secret";

#[derive(Arbitrary, Debug)]
struct Input {
    params: Vec<(String, String)>,
    /// Which parameter, and which character in it, to change.
    change: (usize, usize, bool),
    header: String,
    body: Vec<u8>,
    now: u64,
}

fn gateway() -> &'static SandboxGateway {
    static GATEWAY: OnceLock<SandboxGateway> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let secret = String::from_utf8(SECRET.to_vec()).unwrap().into();
        SandboxGateway::new(secret, "http://127.0.0.1:9/sandbox/pay".parse().unwrap(), reqwest::Client::new())
    })
}

/// Parameters as a multiset, to tell a changed message from a reordered one.
fn multiset(params: &[(String, String)]) -> BTreeMap<&(String, String), usize> {
    let mut counts = BTreeMap::new();
    for pair in params {
        *counts.entry(pair).or_insert(0) += 1;
    }
    counts
}

fn has_duplicate_names(params: &[(String, String)]) -> bool {
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.windows(2).any(|w| w[0] == w[1])
}

/// `text` with its `at`-th character replaced by another one.
fn changed(text: &str, at: usize) -> Option<String> {
    let (index, c) = text.char_indices().nth(at % text.chars().count().max(1))?;
    let other = if c == 'a' { 'b' } else { 'a' };
    Some(format!("{}{other}{}", &text[..index], &text[index + c.len_utf8()..]))
}

/// The same `name=value&name=value` text with one value's `&` moved into a parameter boundary:
/// `a=1&b=2` as one parameter `a` = `1&b=2`, or the other way round.
fn regrouped(params: &[(String, String)]) -> Option<Vec<(String, String)>> {
    for (i, (key, value)) in params.iter().enumerate() {
        if let Some((first, rest)) = value.split_once('&')
            && let Some((name, second)) = rest.split_once('=')
        {
            let mut other = params.to_vec();
            other[i] = (key.clone(), first.to_string());
            other.push((name.to_string(), second.to_string()));
            return Some(other);
        }
    }
    None
}

fuzz_target!(|input: Input| {
    let Input { params, change, header, body, now } = input;

    // Arbitrary parameters verify only with the signature `sign` would give them.
    if verify(SECRET, params.clone()).is_ok() {
        let given = params.iter().find(|(k, _)| k == "signature").unwrap().1.to_ascii_lowercase();
        let expected = sign(SECRET, params.clone()).pop().unwrap().1;
        assert_eq!(given, expected, "verified without our signature: {params:?}");
    }

    let signed = sign(SECRET, params);
    match verify(SECRET, signed.clone()) {
        Ok(by_name) => {
            assert_eq!(by_name.len(), signed.len());
            assert!(signed.iter().all(|(k, v)| by_name[k] == *v));
        }
        Err(GatewayError::Malformed(_)) => assert!(has_duplicate_names(&signed)),
        Err(error) => panic!("our own signature was refused: {error}: {signed:?}"),
    }

    // One character changed anywhere, name or value, signature included: refused.
    let (which, at, in_name) = change;
    let mut tampered = signed.clone();
    let pair = &mut tampered[which % signed.len()];
    let target = if in_name { &mut pair.0 } else { &mut pair.1 };
    if let Some(new) = changed(target, at) {
        *target = new;
        assert!(verify(SECRET, tampered.clone()).is_err(), "a changed message verified: {tampered:?}");
    }
    // Other parameters under the same signature: refused, even when they read the same once joined.
    let unsigned: Vec<(String, String)> = signed.iter().filter(|(k, _)| k != "signature").cloned().collect();
    if let Some(mut other) = regrouped(&unsigned) {
        other.push(signed.last().unwrap().clone());
        if multiset(&other) != multiset(&signed) {
            assert!(verify(SECRET, other.clone()).is_err(), "regrouped parameters verified: {other:?} for {signed:?}");
        }
    }

    // A signed browser return through the adapter: never a signature error, since it is ours.
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&signed).finish();
    match ready(gateway().verify_return(&BrowserReturn { query: &query, form: b"" })) {
        Ok(verified) => {
            if let Some(event) = verified.event {
                assert_eq!(event.donation_id, verified.donation_id);
                assert!(event.amount.get() > 0);
            }
        }
        Err(GatewayError::Malformed(_)) => {}
        Err(error) => panic!("a signed return was refused: {error}: {query}"),
    }

    // Arbitrary notification headers verify only with the signature of this body at their time.
    if verify_notification(SECRET, Some(&header), &body, now).is_ok() {
        let lowercase = header.to_ascii_lowercase();
        let timestamps = lowercase.split(',').filter_map(|p| p.trim().strip_prefix("t=")?.parse::<u64>().ok());
        assert!(
            timestamps.into_iter().any(|t| {
                let signature = sign_notification(SECRET, t, &body);
                lowercase.contains(signature.split_once(",v1=").unwrap().1)
            }),
            "verified without our signature: {header:?}"
        );
    }
    // A signed notification through the adapter: parsed or malformed, never unsigned or stale.
    let signed_header = sign_notification(SECRET, unix_now(), &body);
    let headers = BTreeMap::from([("sandbox-signature".to_string(), signed_header)]);
    match ready(gateway().verify_notification(&Notification { headers, body: &body })) {
        Ok(Some(event)) => assert!(event.amount.get() > 0),
        Ok(None) | Err(GatewayError::Malformed(_)) => {}
        Err(error) => panic!("a signed notification was refused: {error}"),
    }
});
