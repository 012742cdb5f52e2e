//! The one subscription model: what state a Roku push leaves a (Roku customer, product) in,
//! and what that state means for access and for Instant Signup eligibility.

use std::{fmt, str::FromStr};

use super::time::EpochMs;
use crate::roku::events::{PushEvent, TransactionType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionState {
    Active,
    /// Payment failed; Roku keeps access while it retries.
    Grace,
    /// Payment failed past grace; no access until recovered.
    OnHold,
    /// Renewal turned off: access runs to the paid end (`expires_at`).
    Cancelled,
    /// Refunded or charged back: access ends now.
    Refunded,
    /// A Catalog 2.0 add-on whose every base plan is gone.
    Revoked,
}

impl SubscriptionState {
    pub const ALL: [SubscriptionState; 6] = [
        Self::Active,
        Self::Grace,
        Self::OnHold,
        Self::Cancelled,
        Self::Refunded,
        Self::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Grace => "grace",
            Self::OnHold => "on_hold",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
            Self::Revoked => "revoked",
        }
    }

    /// The state a push moves its subscription to; `None` when the push does not change it.
    pub fn after(kind: &TransactionType) -> Option<Self> {
        use TransactionType::*;
        Some(match kind {
            Sale
            | Resubscribe
            | GraceRecovered
            | OnHoldRecovered
            | UpgradeSale
            | DowngradeSale
            | ChargebackReversed
            | CancellationOfferInitiated => Self::Active,
            GraceInitiated => Self::Grace,
            OnHoldInitiated => Self::OnHold,
            Cancellation | UpgradeCancellation | DowngradeCancellation | CancellationOfferEnded => {
                Self::Cancelled
            }
            Refund | Chargeback | SecondChargeback => Self::Refunded,
            Credit | Unknown(_) => return None,
        })
    }

    /// Whether a subscriber in this state holds the product now: active, in grace, or cancelled
    /// with paid time left. On hold, refunded and revoked do not (and since October 2024 Roku
    /// requires Instant Signup offers for such lapsed customers).
    pub fn is_current(self, expires_at: Option<EpochMs>, now: EpochMs) -> bool {
        match self {
            Self::Active | Self::Grace => true,
            Self::Cancelled => expires_at.is_some_and(|e| e > now),
            Self::OnHold | Self::Refunded | Self::Revoked => false,
        }
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for SubscriptionState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown subscription state {s:?}"))
    }
}

/// A subscription as the pushes left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub roku_customer_id: String,
    pub product_code: String,
    pub state: SubscriptionState,
    pub expires_at: Option<EpochMs>,
    pub cancelled_at: Option<EpochMs>,
    pub last_transaction_id: Option<String>,
    /// When the event that set this state happened; an older event never overwrites it.
    pub last_event_at: EpochMs,
}

impl Subscription {
    pub fn is_current(&self, now: EpochMs) -> bool {
        self.state.is_current(self.expires_at, now)
    }

    /// The row a push writes, if it changes a subscription.
    pub fn from_push(event: &PushEvent, now: EpochMs) -> Option<Self> {
        let rcid = event.customer_id.as_deref()?;
        let product = event.product_code.as_deref()?;
        let state = SubscriptionState::after(&event.transaction_type)?;
        // Replays arrive out of order: events are ordered by when they happened.
        let at = event.event_date.map(EpochMs).unwrap_or(now);
        Some(Self {
            roku_customer_id: rcid.to_string(),
            product_code: product.to_string(),
            state,
            expires_at: event.expiration_date.map(EpochMs),
            cancelled_at: (state == SubscriptionState::Cancelled).then_some(at),
            last_transaction_id: event.transaction_id.clone(),
            last_event_at: at,
        })
    }
}

/// Types that can leave an add-on without its base. Plan changes are not among them: the
/// change's other half (the new plan's sale) re-bases the add-on, and Roku sends the two in
/// either order.
pub fn ends_a_plan(kind: &TransactionType) -> bool {
    use TransactionType::*;
    matches!(
        kind,
        Cancellation | Refund | Chargeback | SecondChargeback | CancellationOfferEnded
    )
}

/// Types whose arrival can settle a receipt the bridge is confirming.
pub fn is_purchase(kind: &TransactionType) -> bool {
    matches!(
        kind,
        TransactionType::Sale
            | TransactionType::UpgradeSale
            | TransactionType::DowngradeSale
            | TransactionType::Resubscribe
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roku::events::parse_event;

    #[test]
    fn every_documented_type_has_a_deliberate_state() {
        let states: Vec<_> = TransactionType::ALL
            .iter()
            .map(SubscriptionState::after)
            .collect();
        assert_eq!(
            states.iter().filter(|s| s.is_none()).count(),
            1,
            "only Credit leaves the state alone"
        );
        use SubscriptionState as S;
        assert_eq!(S::after(&TransactionType::GraceInitiated), Some(S::Grace));
        assert_eq!(S::after(&TransactionType::OnHoldInitiated), Some(S::OnHold));
        assert_eq!(S::after(&TransactionType::Refund), Some(S::Refunded));
        assert_eq!(S::after(&TransactionType::Unknown("Reversal".into())), None);
        for s in S::ALL {
            assert_eq!(s.as_str().parse::<S>(), Ok(s));
        }
    }

    #[test]
    fn a_cancellation_records_when_it_happened() {
        let event = parse_event(&serde_json::json!({
            "transactionType": "Cancellation", "customerId": "rc1", "productCode": "S1-US",
            "transactionId": "t9", "eventDate": "2022-07-11T19:50:18Z", "expirationDate": "2022-08-11T19:50:16Z"
        }))
        .unwrap();
        let s = Subscription::from_push(&event, EpochMs(0)).unwrap();
        assert_eq!(s.state, SubscriptionState::Cancelled);
        assert_eq!(s.cancelled_at, Some(EpochMs(1_657_569_018_000)));
        assert_eq!(s.last_event_at, EpochMs(1_657_569_018_000));
        assert_eq!(s.expires_at, Some(EpochMs(1_660_247_416_000)));
        assert!(s.is_current(EpochMs(1_660_247_416_000 - 1)));
        assert!(!s.is_current(EpochMs(1_660_247_416_000)));
        let credit = parse_event(&serde_json::json!({"transactionType": "Credit", "customerId": "rc1", "productCode": "S1-US"})).unwrap();
        assert_eq!(Subscription::from_push(&credit, EpochMs(0)), None);
    }

    #[test]
    fn current_subscribers_are_active_in_grace_or_cancelled_with_time_left() {
        let now = EpochMs(1_000_000);
        let at = |ms: i64| Some(EpochMs(ms));
        use SubscriptionState as S;
        assert!(S::Active.is_current(None, now));
        assert!(S::Grace.is_current(at(now.0 - 1), now));
        assert!(S::Cancelled.is_current(at(now.0 + 1), now));
        assert!(!S::Cancelled.is_current(at(now.0 - 1), now));
        assert!(!S::Cancelled.is_current(None, now));
        assert!(!S::Refunded.is_current(at(now.0 + 1), now));
        assert!(!S::OnHold.is_current(at(now.0 + 1), now));
    }

    #[test]
    fn lapsed_states_are_not_current() {
        let now = EpochMs(10);
        use SubscriptionState as S;
        assert!(S::Active.is_current(None, now));
        assert!(S::Grace.is_current(None, now));
        for lapsed in [S::OnHold, S::Refunded, S::Revoked] {
            assert!(!lapsed.is_current(Some(EpochMs(99)), now));
        }
        assert!(!S::Cancelled.is_current(None, now));
    }
}
