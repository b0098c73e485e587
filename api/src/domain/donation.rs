//! The donation state machine.
//!
//! ```text
//! pending ──▶ succeeded ──▶ refunded (partial refunds stay succeeded, with the amount refunded)
//!    │            │
//!    │            └──▶ disputed ──▶ succeeded (dispute won) | charged_back (dispute lost)
//!    └──▶ failed | expired   (both can still turn into succeeded: money that arrives counts)
//! ```
//!
//! A payment's state is its status plus the amount refunded so far. Every transition is
//! computed here, and the change to the campaign's total is derived from what the donation
//! counts before and after (`Payment::counted`), never from the event alone. So however events
//! repeat or arrive out of order, a campaign's total is always the sum of what its donations
//! count: succeeded (and disputed, until lost) amounts minus refunds.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DonationStatus {
    Pending,
    Succeeded,
    Failed,
    Expired,
    /// Refunded in full; a partial refund leaves the donation `Succeeded`.
    Refunded,
    /// A chargeback is open: the money is still counted until the dispute is lost.
    Disputed,
    /// A dispute was lost: the bank took the money back.
    ChargedBack,
}

/// What a gateway says happened to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    Expired,
    /// Refunds so far, in minor units: gateways report the running total, which makes a
    /// repeated or reordered refund notice harmless.
    Refunded {
        total_refunded: i64,
    },
    DisputeOpened,
    DisputeWon,
    DisputeLost,
}

/// A donation's payment as the state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    pub status: DonationStatus,
    pub amount: i64,
    pub refunded: i64,
}

/// The effect of an outcome on a donation and its campaign's running total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Move to `to` (with `refunded` minor units refunded); add `raised_delta` minor units and
    /// `donors_delta` gifts to the campaign.
    Move { to: DonationStatus, refunded: i64, raised_delta: i64, donors_delta: i64 },
    /// Nothing new (a repeated notice, the return and the webhook both arriving, stale news).
    Unchanged,
    /// Contradicts what we know (a failure after success, a refund above the amount): kept
    /// for review, nothing moves.
    Refused,
}

impl DonationStatus {
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Succeeded,
        Self::Failed,
        Self::Expired,
        Self::Refunded,
        Self::Disputed,
        Self::ChargedBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
            Self::Disputed => "disputed",
            Self::ChargedBack => "charged_back",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether the gateway has captured money for the donation (whatever happened after).
    pub fn was_paid(self) -> bool {
        matches!(self, Self::Succeeded | Self::Refunded | Self::Disputed | Self::ChargedBack)
    }

    /// Whether the donation is still waiting for the gateway's verdict.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Failed | Self::Expired)
    }
}

impl Payment {
    /// Minor units this donation adds to its campaign's total.
    pub fn counted(&self) -> i64 {
        match self.status {
            DonationStatus::Succeeded | DonationStatus::Refunded | DonationStatus::Disputed => {
                self.amount - self.refunded
            }
            _ => 0,
        }
    }

    /// Whether it counts as a gift in the donors figure.
    pub fn counts_as_donor(&self) -> bool {
        self.counted() > 0
    }

    /// The transition `outcome` causes.
    pub fn apply(&self, outcome: Outcome) -> Transition {
        use DonationStatus as S;
        let next = match (self.status, outcome) {
            (s, Outcome::Succeeded) if s.is_open() => self.with(S::Succeeded, self.refunded),
            (_, Outcome::Succeeded) => None,

            (S::Pending, Outcome::Failed) => self.with(S::Failed, 0),
            (S::Failed | S::Expired, Outcome::Failed) => None,
            (_, Outcome::Failed) => return Transition::Refused,

            (S::Pending, Outcome::Expired) => self.with(S::Expired, 0),
            // An expiry after anything else is stale news (a reconciler racing a webhook).
            (_, Outcome::Expired) => None,

            (_, Outcome::Refunded { total_refunded }) if total_refunded <= 0 || total_refunded > self.amount => {
                return Transition::Refused;
            }
            // A refund proves the payment succeeded, even if we never heard so.
            (s, Outcome::Refunded { total_refunded }) if s.is_open() || s == S::Succeeded || s == S::Refunded => {
                let refunded = total_refunded.max(self.refunded);
                let to = if refunded == self.amount { S::Refunded } else { S::Succeeded };
                self.with(to, refunded)
            }
            (S::ChargedBack, Outcome::Refunded { .. }) => None,
            (_, Outcome::Refunded { .. }) => return Transition::Refused,

            (S::Refunded, Outcome::DisputeOpened | Outcome::DisputeLost) => return Transition::Refused,
            (S::ChargedBack, Outcome::DisputeOpened | Outcome::DisputeLost) => None,
            (S::Disputed, Outcome::DisputeOpened) => None,
            (_, Outcome::DisputeOpened) => self.with(S::Disputed, self.refunded),
            (_, Outcome::DisputeLost) => self.with(S::ChargedBack, self.refunded),

            (S::ChargedBack, Outcome::DisputeWon) => return Transition::Refused,
            (S::Disputed, Outcome::DisputeWon) | (S::Pending | S::Failed | S::Expired, Outcome::DisputeWon) => {
                let to = if self.refunded == self.amount { S::Refunded } else { S::Succeeded };
                self.with(to, self.refunded)
            }
            (_, Outcome::DisputeWon) => None,
        };
        match next {
            Some(next) => Transition::Move {
                to: next.status,
                refunded: next.refunded,
                raised_delta: next.counted() - self.counted(),
                donors_delta: i64::from(next.counts_as_donor()) - i64::from(self.counts_as_donor()),
            },
            None => Transition::Unchanged,
        }
    }

    /// `Some` of the payment in `status` with `refunded`, or `None` when that is where it is.
    fn with(&self, status: DonationStatus, refunded: i64) -> Option<Self> {
        let next = Self { status, refunded, ..*self };
        (next != *self).then_some(next)
    }
}

impl Outcome {
    /// A stable name for the event log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Refunded { .. } => "refunded",
            Self::DisputeOpened => "dispute_opened",
            Self::DisputeWon => "dispute_won",
            Self::DisputeLost => "dispute_lost",
        }
    }
}

impl fmt::Display for DonationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DonationStatus as S;

    fn payment(status: S, refunded: i64) -> Payment {
        Payment { status, amount: 500, refunded }
    }

    fn moved(to: S, refunded: i64, raised_delta: i64, donors_delta: i64) -> Transition {
        Transition::Move { to, refunded, raised_delta, donors_delta }
    }

    #[test]
    fn money_moves_only_on_the_first_success_and_back_on_refund() {
        assert_eq!(payment(S::Pending, 0).apply(Outcome::Succeeded), moved(S::Succeeded, 0, 500, 1));
        assert_eq!(payment(S::Succeeded, 0).apply(Outcome::Succeeded), Transition::Unchanged);
        let full = Outcome::Refunded { total_refunded: 500 };
        assert_eq!(payment(S::Succeeded, 0).apply(full), moved(S::Refunded, 500, -500, -1));
        assert_eq!(payment(S::Refunded, 500).apply(full), Transition::Unchanged);
    }

    #[test]
    fn partial_refunds_take_the_running_total_and_never_go_back() {
        let part = |total_refunded| Outcome::Refunded { total_refunded };
        assert_eq!(payment(S::Succeeded, 0).apply(part(200)), moved(S::Succeeded, 200, -200, 0));
        assert_eq!(payment(S::Succeeded, 200).apply(part(300)), moved(S::Succeeded, 300, -100, 0));
        // An older notice (smaller running total) arriving late changes nothing.
        assert_eq!(payment(S::Succeeded, 300).apply(part(200)), Transition::Unchanged);
        assert_eq!(payment(S::Succeeded, 300).apply(part(500)), moved(S::Refunded, 500, -200, -1));
        assert_eq!(payment(S::Succeeded, 0).apply(part(501)), Transition::Refused);
    }

    #[test]
    fn a_refund_seen_before_the_success_counts_the_rest() {
        let outcome = Outcome::Refunded { total_refunded: 100 };
        assert_eq!(payment(S::Pending, 0).apply(outcome), moved(S::Succeeded, 100, 400, 1));
        assert_eq!(payment(S::Succeeded, 100).apply(Outcome::Succeeded), Transition::Unchanged);
    }

    #[test]
    fn disputes_hold_the_money_until_lost() {
        assert_eq!(payment(S::Succeeded, 0).apply(Outcome::DisputeOpened), moved(S::Disputed, 0, 0, 0));
        assert_eq!(payment(S::Disputed, 0).apply(Outcome::DisputeWon), moved(S::Succeeded, 0, 0, 0));
        assert_eq!(payment(S::Disputed, 0).apply(Outcome::DisputeLost), moved(S::ChargedBack, 0, -500, -1));
        assert_eq!(payment(S::ChargedBack, 0).apply(Outcome::DisputeWon), Transition::Refused);
        assert_eq!(payment(S::ChargedBack, 0).apply(Outcome::Succeeded), Transition::Unchanged);
    }

    #[test]
    fn a_late_failure_never_undoes_a_success() {
        assert_eq!(payment(S::Succeeded, 0).apply(Outcome::Failed), Transition::Refused);
        assert_eq!(payment(S::Succeeded, 0).apply(Outcome::Expired), Transition::Unchanged);
        assert_eq!(payment(S::Pending, 0).apply(Outcome::Failed), moved(S::Failed, 0, 0, 0));
        assert_eq!(payment(S::Expired, 0).apply(Outcome::Succeeded), moved(S::Succeeded, 0, 500, 1));
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for status in S::ALL {
            assert_eq!(S::parse(status.as_str()), Some(status));
        }
    }
}
