//! N-Genius answers (orders with their payments and refunds, access tokens) and our return and
//! notification inputs, read as JSON or a query: nothing panics, and an order's event is whole
//! (a positive amount, a refund that is not zero).
#![no_main]

use api::domain::Outcome;
use api::fuzzing::{NgeniusAccessToken, NgeniusOrder, NgeniusPrompt, NgeniusReturnQuery, usable_for};
use api::gateway::GatewayError;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(order) = serde_json::from_slice::<NgeniusOrder>(data) {
        let _ = order.pay_page();
        let _ = order.donation_id();
        match order.event() {
            Ok(Some(event)) => {
                assert!(event.amount.get() > 0);
                // A partial refund with no refund that went through is no refund at all; a
                // nonsensical total (negative, or above the amount) is the state machine's to
                // refuse.
                if let Outcome::Refunded { total_refunded } = event.outcome {
                    assert_ne!(total_refunded, 0);
                }
            }
            Ok(None) | Err(GatewayError::Malformed(_)) => {}
            Err(error) => panic!("{error}"),
        }
    }
    if let Ok(token) = serde_json::from_slice::<NgeniusAccessToken>(data) {
        let lifetime = std::time::Duration::from_secs(token.expires_in.unwrap_or(300));
        assert!(usable_for(token.expires_in) <= lifetime);
    }
    let _ = serde_json::from_slice::<NgeniusPrompt>(data);
    let _ = serde_urlencoded::from_bytes::<NgeniusReturnQuery>(data);
});
