//! The reconciler: asks gateways about donations left pending (a lost notification, a donor who
//! closed the tab) and expires the ones abandoned long enough.
//!
//! Each round leases a batch of due donations in one statement (`Store::claim_pending`), so
//! several API processes on one PostgreSQL each take different donations; the lease grows with
//! every attempt. Whatever the gateway answers goes through the same exactly-once
//! `apply_event` as notifications, so a reconciler racing a webhook loses nothing.

use std::sync::Arc;
use std::time::Duration;

use crate::db::{ClaimRequest, ClaimedDonation, DbError, PaymentEvent, Store};
use crate::domain::{GatewayEventId, Outcome};
use crate::gateway::{Gateways, PendingPayment};
use crate::settle;
use crate::totals::TotalsCache;

/// Donations asked about per round.
const BATCH: i64 = 100;

pub struct Reconciler {
    pub store: Arc<dyn Store>,
    pub gateways: Gateways,
    pub totals: TotalsCache,
    pub every: Duration,
    /// Donations younger than this are left to the donor and the notification.
    pub min_age: Duration,
    /// Still no verdict after this long: expired.
    pub abandon_after: Duration,
}

/// What a round did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub claimed: usize,
    pub settled: usize,
    pub expired: usize,
    pub errors: usize,
}

impl Reconciler {
    /// Runs a round every `every` until `stop` changes; a round under way is finished first, so
    /// a stopping server never leaves a gateway's answer unapplied.
    pub fn spawn(self, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(self.every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.changed() => break,
                }
                match self.round().await {
                    Ok(round) if round.claimed > 0 => tracing::info!(?round, "reconciled pending donations"),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "reconciler could not read pending donations"),
                }
            }
        })
    }

    /// One batch: claim due donations and ask each one's gateway.
    pub async fn round(&self) -> Result<Round, DbError> {
        let claimed = self
            .store
            .claim_pending(ClaimRequest {
                min_age: self.min_age,
                lease: self.every.max(Duration::from_secs(1)),
                limit: BATCH,
            })
            .await?;
        let mut round = Round { claimed: claimed.len(), ..Round::default() };
        for donation in claimed {
            match self.reconcile(&donation).await {
                Ok(Some(Outcome::Expired)) => round.expired += 1,
                Ok(Some(_)) => round.settled += 1,
                Ok(None) => {}
                Err(error) => {
                    round.errors += 1;
                    tracing::warn!(donation = donation.id.as_str(), gateway = donation.gateway, %error, "reconcile failed");
                }
            }
        }
        Ok(round)
    }

    async fn reconcile(&self, donation: &ClaimedDonation) -> Result<Option<Outcome>, Box<dyn std::error::Error>> {
        let Some(gateway) = self.gateways.by_name(&donation.gateway) else {
            return Err(format!("gateway `{}` is no longer configured", donation.gateway).into());
        };
        let payment = PendingPayment {
            donation_id: donation.id.clone(),
            amount: donation.amount,
            currency: donation.currency,
            gateway_reference: donation.gateway_reference.clone(),
        };
        let status = gateway.fetch_status(&payment).await;
        if status.is_err() {
            self.gateways.record_status_error(&donation.gateway);
        }
        let event = match status? {
            Some(event) => event,
            None if donation.age >= self.abandon_after => PaymentEvent {
                gateway: donation.gateway.clone(),
                event_id: GatewayEventId::parse(&format!("reconciler-expired-{}", donation.id.as_str()))?,
                donation_id: donation.id.clone(),
                outcome: Outcome::Expired,
                amount: donation.amount,
                currency: donation.currency,
                gateway_reference: None,
            },
            None => return Ok(None),
        };
        settle::apply(self.store.as_ref(), &self.gateways, &self.totals, &event).await?;
        Ok(Some(event.outcome))
    }
}
