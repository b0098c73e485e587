//! Webhook bodies, as they would arrive once their signature checked (a leaked secret, or a
//! bug on Stripe's side, must still not crash us): read into an event for our donation, a
//! dispute naming a charge, or nothing, or refused as malformed. Events come out whole: a
//! positive amount, a donation id and an event id that parse again.
#![no_main]

use api::domain::{DonationId, GatewayEventId};
use api::fuzzing::{StripeWebhook, is_stripe_id, stripe_interpret};
use api::gateway::GatewayError;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match stripe_interpret(body) {
        Ok(StripeWebhook::Event(event)) => {
            assert!(event.amount.get() > 0);
            assert_eq!(DonationId::parse(event.donation_id.as_str()).unwrap(), event.donation_id);
            assert_eq!(GatewayEventId::parse(event.event_id.as_str()).unwrap(), event.event_id);
            assert_eq!(event.gateway, "stripe");
        }
        Ok(StripeWebhook::Dispute { charge, .. }) => assert!(is_stripe_id(&charge), "{charge:?}"),
        Ok(StripeWebhook::Ignored) | Err(GatewayError::Malformed(_)) => {}
        Err(error) => panic!("an unsigned-kind error from parsing: {error}"),
    }
});
