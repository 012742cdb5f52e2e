//! A receipt's life, as a state machine the store enforces.
//!
//! ```text
//!   claimed ──forward ok──► forwarded ──access granted──► granted
//!      │  └──provider down──► queued ──relay forwards──┘
//!      └──────────────┴──provider refuses──► rejected
//! ```
//! `granted` and `rejected` are final. Every write of a receipt's state names the step, and the
//! store applies it only from a state that allows it (a conditional UPDATE), so two writers —
//! a confirmation and the relay, or two replicas — can never move a receipt backwards.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptState {
    /// Held for one customer; not yet sent to the provider.
    Claimed,
    /// The provider was down: the forward waits in the outbox.
    Queued,
    /// The provider took it (asynchronously); access is not confirmed yet.
    Forwarded,
    Granted,
    Rejected,
}

impl ReceiptState {
    pub const ALL: [ReceiptState; 5] = [
        Self::Claimed,
        Self::Queued,
        Self::Forwarded,
        Self::Granted,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Queued => "queued",
            Self::Forwarded => "forwarded",
            Self::Granted => "granted",
            Self::Rejected => "rejected",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Granted | Self::Rejected)
    }

    /// Where `step` leads from here, or `None` when this state does not allow it. Repeating the
    /// step that led here is allowed and changes nothing (replays are normal: a device retries,
    /// a relay attempt is repeated after a lost lease).
    pub fn after(self, step: Step) -> Option<ReceiptState> {
        use ReceiptState::*;
        let to = step.target();
        let allowed = match (self, to) {
            (from, to) if from == to => true,
            (Claimed, Queued | Forwarded | Rejected) => true,
            (Queued, Forwarded | Rejected) => true,
            (Forwarded, Granted) => true,
            _ => false,
        };
        allowed.then_some(to)
    }

    /// The states from which `step` may be applied: what the store's conditional update checks.
    pub fn sources_of(step: Step) -> Vec<ReceiptState> {
        Self::ALL
            .into_iter()
            .filter(|s| s.after(step).is_some())
            .collect()
    }
}

impl fmt::Display for ReceiptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown receipt state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for ReceiptState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// What happened to a receipt: the only ways its state changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The provider accepted the forward.
    Forwarded,
    /// The provider could not be reached; the forward went to the outbox.
    Queued,
    /// The provider's access check said yes.
    Granted,
    /// The provider refused the receipt.
    Rejected,
}

impl Step {
    pub const ALL: [Step; 4] = [Self::Forwarded, Self::Queued, Self::Granted, Self::Rejected];

    pub fn target(self) -> ReceiptState {
        match self {
            Self::Forwarded => ReceiptState::Forwarded,
            Self::Queued => ReceiptState::Queued,
            Self::Granted => ReceiptState::Granted,
            Self::Rejected => ReceiptState::Rejected,
        }
    }
}

/// What a final state records beside it (the store's `outcome_json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Outcome {
    // First: an untagged `Granted` would take any object (its one field is optional).
    Rejected {
        code: String,
        message: String,
    },
    Granted {
        /// Epoch seconds, as the provider gave it.
        #[serde(rename = "expiresAt")]
        expires_at: Option<i64>,
    },
}

/// Where a receipt stands for a device asking about it: the stored state, plus what only the
/// process confirming it knows (a round running now, a provider that just failed).
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// A worker is forwarding or polling right now.
    Confirming,
    /// The provider was down when the receipt came: it waits in the outbox, durably.
    Queued,
    /// Forwarded, not granted yet, nobody polling: the next request starts a new round.
    Pending,
    Granted {
        expires_at: Option<i64>,
    },
    /// The provider refused the receipt. Final.
    Rejected {
        code: String,
        message: String,
    },
    /// The provider or the store could not be reached; the next request tries again.
    Unavailable {
        retry_after: Duration,
    },
}

impl Phase {
    pub fn is_final(&self) -> bool {
        matches!(self, Phase::Granted { .. } | Phase::Rejected { .. })
    }

    /// The stored state as a phase. An outcome that does not match its state (a row written by
    /// hand, say) reads as the state with nothing known beyond it.
    pub fn of(state: ReceiptState, outcome: Option<&Outcome>) -> Phase {
        match (state, outcome) {
            (ReceiptState::Granted, Some(Outcome::Granted { expires_at })) => Phase::Granted {
                expires_at: *expires_at,
            },
            (ReceiptState::Granted, _) => Phase::Granted { expires_at: None },
            (ReceiptState::Rejected, Some(Outcome::Rejected { code, message })) => {
                Phase::Rejected {
                    code: code.clone(),
                    message: message.clone(),
                }
            }
            (ReceiptState::Rejected, _) => Phase::Rejected {
                code: String::new(),
                message: String::new(),
            },
            (ReceiptState::Queued, _) => Phase::Queued,
            (ReceiptState::Claimed | ReceiptState::Forwarded, _) => Phase::Pending,
        }
    }

    /// The word a device (and a metric label) sees.
    pub fn label(&self) -> &'static str {
        match self {
            Phase::Granted { .. } => "granted",
            Phase::Rejected { .. } => "rejected",
            Phase::Queued => "queued",
            Phase::Unavailable { .. } => "unavailable",
            Phase::Confirming | Phase::Pending => "pending",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_have_one_spelling() {
        for s in ReceiptState::ALL {
            assert_eq!(s.as_str().parse::<ReceiptState>(), Ok(s));
        }
        assert!("granted ".parse::<ReceiptState>().is_err());
    }

    #[test]
    fn final_states_only_repeat() {
        for from in [ReceiptState::Granted, ReceiptState::Rejected] {
            for step in Step::ALL {
                let to = from.after(step);
                assert!(to.is_none() || to == Some(from), "{from} {step:?}");
            }
        }
        assert_eq!(
            ReceiptState::Claimed.after(Step::Granted),
            None,
            "access is confirmed only after a forward"
        );
        assert_eq!(
            ReceiptState::sources_of(Step::Forwarded),
            vec![
                ReceiptState::Claimed,
                ReceiptState::Queued,
                ReceiptState::Forwarded
            ]
        );
    }

    proptest::proptest! {
        /// Any sequence of steps from any state: each move is allowed from where it starts,
        /// finals never leave, and a step applied twice in a row is the step applied once.
        #[test]
        fn steps_only_move_forward(
            start in proptest::sample::select(ReceiptState::ALL.to_vec()),
            steps in proptest::collection::vec(proptest::sample::select(Step::ALL.to_vec()), 0..16),
        ) {
            let mut state = start;
            for step in steps {
                let next = state.after(step).unwrap_or(state);
                proptest::prop_assert!(next == state || ReceiptState::sources_of(step).contains(&state));
                proptest::prop_assert!(!state.is_final() || next == state);
                proptest::prop_assert_eq!(next.after(step).unwrap_or(next), next);
                state = next;
            }
        }
    }

    #[test]
    fn stored_outcomes_keep_their_old_shape() {
        let granted: Outcome = serde_json::from_str(r#"{"expiresAt": 1893456000}"#).unwrap();
        assert_eq!(
            Phase::of(ReceiptState::Granted, Some(&granted)),
            Phase::Granted {
                expires_at: Some(1893456000)
            }
        );
        let rejected: Outcome =
            serde_json::from_str(r#"{"code": "REQ0001", "message": "bad"}"#).unwrap();
        assert_eq!(
            Phase::of(ReceiptState::Rejected, Some(&rejected)),
            Phase::Rejected {
                code: "REQ0001".into(),
                message: "bad".into()
            }
        );
        assert_eq!(
            serde_json::to_string(&Outcome::Granted { expires_at: None }).unwrap(),
            r#"{"expiresAt":null}"#
        );
        assert_eq!(Phase::of(ReceiptState::Queued, None), Phase::Queued);
        assert_eq!(Phase::of(ReceiptState::Claimed, None), Phase::Pending);
    }
}
