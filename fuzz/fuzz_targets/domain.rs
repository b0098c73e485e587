//! The domain's newtypes and amounts: each `parse` refuses or accepts without panicking, and
//! what it accepts it accepts again from its own text, unchanged; amounts typed in a currency
//! format back to text that parses to the same minor units; the donation state machine keeps a
//! payment's refunds within its amount and moves the campaign's total by exactly the change in
//! what the donation counts.
#![no_main]

use std::sync::OnceLock;

use api::domain::{
    AmountMinor, CampaignSlug, Currency, DisplayName, DonationId, DonationStatus, GatewayEventId, IdempotencyKey,
    Language, Outcome, Payment, ReferralCode, Transition,
};
use arbitrary::Arbitrary;
use campaigns::Campaigns;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    text: &'a str,
    typed: &'a str,
    currency: &'a str,
    minor: i64,
    status: u8,
    refunded: i64,
    outcome: (u8, i64),
}

fn campaigns() -> &'static Campaigns {
    static CAMPAIGNS: OnceLock<Campaigns> = OnceLock::new();
    CAMPAIGNS.get_or_init(pledge_fuzz::campaigns)
}

fuzz_target!(|input: Input| {
    let text = input.text;
    if let Ok(id) = DonationId::parse(text) {
        assert!(
            id.as_str().len() == 32 && id.as_str().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(DonationId::parse(id.as_str()).unwrap(), id);
    }
    if let Ok(code) = ReferralCode::parse(text) {
        assert!((3..=32).contains(&code.as_str().len()));
        assert_eq!(ReferralCode::parse(code.as_str()).unwrap(), code);
    }
    if let Ok(id) = GatewayEventId::parse(text) {
        assert_eq!(GatewayEventId::parse(id.as_str()).unwrap(), id);
    }
    if let Ok(key) = IdempotencyKey::parse(text) {
        assert_eq!(IdempotencyKey::parse(key.as_str()).unwrap(), key);
    }
    if let Ok(Some(name)) = DisplayName::parse(Some(text)) {
        assert!(name.as_str().chars().count() <= DisplayName::MAX_CHARS);
        assert_eq!(DisplayName::parse(Some(name.as_str())).unwrap(), Some(name));
    }
    let language = Language::parse(Some(text), campaigns());
    assert!(campaigns().has_language(language.as_str()));
    if let Ok(slug) = CampaignSlug::parse(text, campaigns()) {
        assert!(campaigns().get(slug.as_str()).is_some());
    }
    if let Some(status) = DonationStatus::parse(text) {
        assert_eq!(status.as_str(), text);
    }
    assert_eq!(AmountMinor::parse(input.minor).is_ok(), input.minor > 0);

    for code in [input.currency, "USD", "JPY", "KWD", "CLF"] {
        let Ok(currency) = Currency::parse(code) else { continue };
        assert_eq!(Currency::parse(currency.code()).unwrap(), currency);
        if let Ok(minor) = currency.parse_major(input.typed) {
            assert!(minor > 0, "{minor} from {:?}", input.typed);
            assert_eq!(currency.parse_major(&currency.format_major(minor)), Ok(minor));
        }
        if input.minor > 0 {
            let text = currency.format_major(input.minor);
            assert_eq!(currency.parse_major(&text), Ok(input.minor), "{text} in {}", currency.code());
        }
    }

    // A reachable payment: a positive amount, refunds between zero and the amount.
    let Ok(amount) = AmountMinor::parse(input.minor) else { return };
    let amount = amount.get();
    let status = DonationStatus::ALL[usize::from(input.status) % DonationStatus::ALL.len()];
    let below_amount = (input.refunded.unsigned_abs() % amount.unsigned_abs()) as i64;
    let refunded = match status {
        DonationStatus::Refunded => amount,
        DonationStatus::Succeeded | DonationStatus::Disputed | DonationStatus::ChargedBack => below_amount,
        _ => 0,
    };
    let payment = Payment { status, amount, refunded };
    let outcome = match input.outcome.0 % 7 {
        0 => Outcome::Succeeded,
        1 => Outcome::Failed,
        2 => Outcome::Expired,
        3 => Outcome::Refunded { total_refunded: input.outcome.1 },
        4 => Outcome::DisputeOpened,
        5 => Outcome::DisputeWon,
        _ => Outcome::DisputeLost,
    };
    if let Transition::Move { to, refunded, raised_delta, donors_delta } = payment.apply(outcome) {
        assert!((0..=amount).contains(&refunded), "{payment:?} + {outcome:?} refunds {refunded}");
        assert!(refunded >= payment.refunded, "a refund went back: {payment:?} + {outcome:?}");
        let next = Payment { status: to, amount, refunded };
        assert_eq!(raised_delta, next.counted() - payment.counted());
        assert!((-1..=1).contains(&donors_delta));
        if status.was_paid() {
            assert!(to.was_paid(), "paid stays paid: {payment:?} + {outcome:?} -> {to}");
        }
    }
});
