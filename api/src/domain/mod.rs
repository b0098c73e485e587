//! Validated inputs and the donation state machine. Each type has a private field and one
//! `parse` constructor, so past a handler nothing holds an unchecked string or integer.
//! This module imports neither actix nor sqlx.

mod amount;
mod donation;
mod identifiers;

pub use amount::AmountMinor;
pub use campaigns::Currency;
pub use donation::{DonationStatus, Outcome, Payment, Transition};
pub use identifiers::{CampaignSlug, DisplayName, DonationId, GatewayEventId, IdempotencyKey, Language, ReferralCode};

/// Why an input was refused, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);
