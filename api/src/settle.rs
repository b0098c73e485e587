//! Applying a verified gateway event, wherever it came from (a browser return, a notification,
//! the reconciler): store it exactly once, let the totals know, and feed the gateway's health.

use crate::db::{DbError, EventResult, PaymentEvent, Store};
use crate::domain::Outcome;
use crate::gateway::Gateways;
use crate::totals::TotalsCache;

pub async fn apply(
    store: &dyn Store,
    gateways: &Gateways,
    totals: &TotalsCache,
    event: &PaymentEvent,
) -> Result<EventResult, DbError> {
    let result = store.apply_event(event).await?;
    if let EventResult::Applied(_) = &result {
        totals.mark_changed();
        // Only the first word on a payment counts towards the decline rate.
        match event.outcome {
            Outcome::Succeeded => gateways.record_payment(&event.gateway, true),
            Outcome::Failed => gateways.record_payment(&event.gateway, false),
            _ => {}
        }
    }
    Ok(result)
}

/// A word for the logs and the webhook's answer.
pub fn describe(result: &EventResult) -> &'static str {
    match result {
        EventResult::Applied(_) => "applied",
        EventResult::Unchanged(_) => "unchanged",
        EventResult::Duplicate => "duplicate",
        EventResult::Refused(..) => "stored for review",
        EventResult::UnknownDonation => "unknown donation, stored for review",
    }
}
