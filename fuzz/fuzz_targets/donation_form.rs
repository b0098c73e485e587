//! The donation form as a browser posts it (urlencoded) or a client sends it (JSON), with an
//! optional `Idempotency-Key` header, decoded and checked against the site's campaigns exactly
//! as `POST /api/v1/donations` does. Whatever the body: a donation within its campaign's rules,
//! or an error answered with a 4xx, never a 500 and never a panic.
#![no_main]

use std::sync::OnceLock;

use api::fuzzing::{decode_donation, status};
use campaigns::Campaigns;
use libfuzzer_sys::fuzz_target;

/// The first byte says how the rest is sent: bit 0 JSON rather than a form, bit 1 with an
/// `Idempotency-Key` header (the text up to the first newline). Plain bytes, so a seed is a
/// readable file: `\x00campaign=water&amount=25`.
fn split(data: &[u8]) -> Option<(bool, Option<&str>, &[u8])> {
    let (&flags, rest) = data.split_first()?;
    if flags & 2 == 0 {
        return Some((flags & 1 == 1, None, rest));
    }
    let newline = rest.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(&rest[..newline]).ok()?;
    Some((flags & 1 == 1, Some(header), &rest[newline + 1..]))
}

fn campaigns() -> &'static Campaigns {
    static CAMPAIGNS: OnceLock<Campaigns> = OnceLock::new();
    CAMPAIGNS.get_or_init(pledge_fuzz::campaigns)
}

fuzz_target!(|data: &[u8]| {
    let Some((is_json, header_key, body)) = split(data) else { return };
    let campaigns = campaigns();
    match decode_donation(body, is_json, header_key, campaigns) {
        Ok(fields) => {
            let campaign = campaigns.get(fields.campaign.as_str()).expect("a known campaign");
            assert_eq!(fields.currency, campaign.currency);
            assert!((campaign.min_minor..=campaign.max_minor).contains(&fields.amount.get()));
            assert!(campaigns.has_language(fields.lang.as_str()));
            if let Some(key) = &fields.idempotency_key {
                assert!(!key.as_str().is_empty() && key.as_str().len() <= 255);
                assert!(key.as_str().bytes().all(|b| b.is_ascii_graphic()));
            }
            if let Some(name) = &fields.display_name {
                let name = name.as_str();
                assert!(!name.is_empty() && name.chars().count() <= 60);
                assert!(!name.chars().any(char::is_control) && name.trim() == name, "{name:?}");
            }
        }
        Err(error) => {
            let code = status(&error);
            assert!((400..500).contains(&code), "{code} for {:?}: {error}", String::from_utf8_lossy(body));
        }
    }
});
