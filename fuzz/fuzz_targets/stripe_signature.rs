//! `Stripe-Signature` headers: an arbitrary header is never believed unless one of its `v1`
//! values is the signature of this body at its `t`; a header built from our `sign` verifies
//! whatever unknown schemes and spaces surround it, and is refused once the body changes by
//! one byte or the clock moves past the tolerance.
#![no_main]

use api::gateway::GatewayError;
use api::gateway::stripe::{TOLERANCE_SECONDS, sign, verify_signature};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"whsec_fuzz";

#[derive(Arbitrary, Debug)]
struct Input {
    header: String,
    body: Vec<u8>,
    timestamp: u64,
    now: u64,
    /// Parts put around a good signature: other schemes, wrong `v1` values.
    noise: Vec<(String, String)>,
    flip: usize,
}

fuzz_target!(|input: Input| {
    let Input { header, body, timestamp, now, noise, flip } = input;

    if verify_signature(SECRET, Some(&header), &body, now).is_ok() {
        let lowercase = header.to_ascii_lowercase();
        let timestamp = header
            .split(',')
            .filter_map(|p| p.trim().strip_prefix("t=")?.parse::<u64>().ok())
            .next_back()
            .expect("verified without a timestamp");
        assert!(lowercase.contains(&sign(SECRET, timestamp, &body)), "verified without our signature: {header:?}");
        assert!(now.abs_diff(timestamp) <= TOLERANCE_SECONDS);
    }

    // A good signature among noise (parts that are neither `t` nor `v1`, or `v1` values that
    // are not this signature).
    let good = sign(SECRET, timestamp, &body);
    let mut parts = vec![format!("t={timestamp}")];
    for (scheme, value) in &noise {
        let scheme = scheme.trim();
        if scheme == "t" || scheme.contains([',', '=']) || value.contains(',') || value.trim() == good {
            continue;
        }
        parts.push(format!(" {scheme}={value}"));
    }
    let at = flip % parts.len() + 1;
    parts.insert(at, format!("v1={good}"));
    let header = parts.join(",");
    let skew = now % (TOLERANCE_SECONDS + 1);
    let close = timestamp.saturating_add(skew);
    assert!(verify_signature(SECRET, Some(&header), &body, close).is_ok(), "refused: {header:?}");
    if timestamp.checked_add(TOLERANCE_SECONDS + 1 + skew).is_some() {
        let late = timestamp + TOLERANCE_SECONDS + 1 + skew;
        assert!(matches!(verify_signature(SECRET, Some(&header), &body, late), Err(GatewayError::Stale)));
    }
    let mut changed = body.clone();
    if changed.is_empty() {
        changed.push(b'x');
    } else {
        let i = flip % changed.len();
        changed[i] ^= 1 << (flip % 8);
    }
    assert!(matches!(verify_signature(SECRET, Some(&header), &changed, close), Err(GatewayError::BadSignature)));
});
