//! APS responses: form bodies, query strings and JSON documents read into parameters (each
//! name once), never believed unless signed with the response phrase; what the signer signs
//! verifies after a trip through a form, and refuses one changed character; the events that
//! signed purchase and status answers yield are whole.
#![no_main]

use api::db::PaymentEvent;
use api::domain::Currency;
use api::fuzzing::{ApsParams, purchase_event, status_event};
use api::gateway::GatewayError;
use api::gateway::aps::{ShaType, Signer};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    form: Vec<u8>,
    query: String,
    json: Vec<u8>,
    params: Vec<(String, String)>,
    sha512: bool,
    change: (usize, usize, bool),
}

fn signer(sha512: bool) -> Signer {
    Signer {
        sha: if sha512 { ShaType::Sha512 } else { ShaType::Sha256 },
        request_phrase: "reqFUZZ".to_string().into(),
        response_phrase: "resFUZZ".to_string().into(),
    }
}

fn unique_names(params: &ApsParams) {
    let mut names: Vec<&str> = params.0.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    assert!(names.windows(2).all(|w| w[0] != w[1]), "a name twice: {:?}", params.0);
}

fn whole(event: Result<Option<PaymentEvent>, GatewayError>) {
    match event {
        Ok(Some(event)) => assert!(event.amount.get() > 0 && event.gateway == "aps"),
        Ok(None) | Err(GatewayError::Malformed(_)) => {}
        Err(error) => panic!("{error}"),
    }
}

/// `text` with its `at`-th character replaced by another one.
fn changed(text: &str, at: usize) -> Option<String> {
    let (index, c) = text.char_indices().nth(at % text.chars().count().max(1))?;
    let other = if c == 'a' { 'b' } else { 'a' };
    Some(format!("{}{other}{}", &text[..index], &text[index + c.len_utf8()..]))
}

fuzz_target!(|input: Input| {
    let signer = signer(input.sha512);
    for parsed in [ApsParams::from_form(&input.form, &input.query), ApsParams::from_json(&input.json)] {
        let Ok(params) = parsed else { continue };
        unique_names(&params);
        if signer.verify_response(&params).is_ok() {
            let expected = signer.sign_response(&params.0);
            assert_eq!(params.get("signature").unwrap().to_ascii_lowercase(), expected);
        }
        whole(status_event(&params, Currency::parse("SAR").unwrap()));
        whole(purchase_event(&params, "fuzz"));
    }

    // Signed by APS (the response phrase), sent as a form, read back: it verifies.
    let mut pairs: Vec<(String, String)> = input.params;
    pairs.retain(|(k, _)| k != "signature");
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs.dedup_by(|a, b| a.0 == b.0);
    let signature = signer.sign_response(&pairs);
    pairs.push(("signature".into(), signature));
    let form = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
    let params = ApsParams::from_form(form.as_bytes(), "").expect("a form of unique names");
    assert_eq!(params.0, pairs);
    assert!(signer.verify_response(&params).is_ok(), "refused its own signature: {pairs:?}");
    // The request phrase never signs a response.
    let mut by_request = pairs.clone();
    by_request.last_mut().unwrap().1 = signer.sign_request(&pairs);
    assert!(signer.verify_response(&ApsParams(by_request)).is_err());
    whole(purchase_event(&params, "return"));
    whole(status_event(&params, Currency::parse("AED").unwrap()));

    // One changed character in a value (the signature's included) is refused.
    let (which, at, _) = input.change;
    let mut tampered = pairs.clone();
    let index = which % tampered.len();
    if let Some(new) = changed(&tampered[index].1, at) {
        tampered[index].1 = new;
        assert!(signer.verify_response(&ApsParams(tampered.clone())).is_err(), "verified: {tampered:?}");
    }
});
