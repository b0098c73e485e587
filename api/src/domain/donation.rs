//! The donation state machine: pending → succeeded | failed | expired, and succeeded → refunded.
//! Every transition is decided here, so both storage backends apply the same rules and a
//! repeated or late event can never move money twice.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DonationStatus {
    Pending,
    Succeeded,
    Failed,
    Expired,
    Refunded,
}

/// What a gateway says happened to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    Expired,
    Refunded,
}

/// The effect of an outcome on a donation and its campaign's running total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Move to `to`; add `raised_delta` minor units and `donors_delta` gifts to the campaign.
    Move { to: DonationStatus, raised_delta: i64, donors_delta: i64 },
    /// Already there (a repeated notification, or the return and the webhook both arriving).
    Unchanged,
    /// Not allowed from the current status (a failure after success); kept for review.
    Refused,
}

impl DonationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            "refunded" => Self::Refunded,
            _ => return None,
        })
    }

    /// The transition an outcome causes for a donation of `amount` minor units in this status.
    pub fn apply(self, outcome: Outcome, amount: i64) -> Transition {
        use DonationStatus as S;
        use Outcome as O;
        match (self, outcome) {
            (S::Pending, O::Succeeded) => Transition::Move { to: S::Succeeded, raised_delta: amount, donors_delta: 1 },
            // A payment declined or abandoned at first can still succeed on a retry at the
            // gateway; money that arrives is always counted.
            (S::Failed | S::Expired, O::Succeeded) => {
                Transition::Move { to: S::Succeeded, raised_delta: amount, donors_delta: 1 }
            }
            (S::Pending, O::Failed) => Transition::Move { to: S::Failed, raised_delta: 0, donors_delta: 0 },
            (S::Pending, O::Expired) => Transition::Move { to: S::Expired, raised_delta: 0, donors_delta: 0 },
            (S::Succeeded, O::Refunded) => {
                Transition::Move { to: S::Refunded, raised_delta: -amount, donors_delta: -1 }
            }
            (S::Succeeded, O::Succeeded)
            | (S::Failed, O::Failed)
            | (S::Expired, O::Expired | O::Failed)
            | (S::Failed, O::Expired)
            | (S::Refunded, O::Refunded | O::Succeeded) => Transition::Unchanged,
            (S::Succeeded, O::Failed | O::Expired)
            | (S::Pending | S::Failed | S::Expired, O::Refunded)
            | (S::Refunded, _) => Transition::Refused,
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
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

    #[test]
    fn money_moves_only_on_the_first_success_and_back_on_refund() {
        let moved = S::Pending.apply(Outcome::Succeeded, 500);
        assert_eq!(moved, Transition::Move { to: S::Succeeded, raised_delta: 500, donors_delta: 1 });
        assert_eq!(S::Succeeded.apply(Outcome::Succeeded, 500), Transition::Unchanged);
        assert_eq!(
            S::Succeeded.apply(Outcome::Refunded, 500),
            Transition::Move { to: S::Refunded, raised_delta: -500, donors_delta: -1 }
        );
        assert_eq!(S::Refunded.apply(Outcome::Refunded, 500), Transition::Unchanged);
    }

    #[test]
    fn a_late_failure_never_undoes_a_success() {
        assert_eq!(S::Succeeded.apply(Outcome::Failed, 500), Transition::Refused);
        assert_eq!(S::Pending.apply(Outcome::Refunded, 500), Transition::Refused);
        assert_eq!(
            S::Pending.apply(Outcome::Failed, 500),
            Transition::Move { to: S::Failed, raised_delta: 0, donors_delta: 0 }
        );
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for status in [S::Pending, S::Succeeded, S::Failed, S::Expired, S::Refunded] {
            assert_eq!(S::parse(status.as_str()), Some(status));
        }
    }
}
