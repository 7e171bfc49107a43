//! Given/when/then for pure deciders: `given(history).when(command).then(events)`,
//! with no server. Shared by every service's domain tests.

use crate::command::{Decider, Refusal, RefusalKind};
use std::fmt::Debug;

/// A decider's state after a history.
pub struct Given<D: Decider> {
    state: D::State,
}

/// The state after `history`, folded with the decider's `evolve`.
pub fn given<D: Decider>(history: impl IntoIterator<Item = D::Event>) -> Given<D> {
    let state = history
        .into_iter()
        .fold(D::State::default(), |state, event| D::evolve(state, &event));
    Given { state }
}

impl<D: Decider> Given<D> {
    /// Decides `command` in that state.
    pub fn when(self, command: D::Command) -> Then<D> {
        let outcome = D::decide(&self.state, &command);
        Then {
            state: self.state,
            outcome,
        }
    }

    /// The state.
    pub fn state(&self) -> &D::State {
        &self.state
    }

    /// The state, owned.
    pub fn into_state(self) -> D::State {
        self.state
    }
}

/// What a command decided.
pub struct Then<D: Decider> {
    state: D::State,
    outcome: Result<Vec<D::Event>, D::Rejection>,
}

impl<D> Then<D>
where
    D: Decider,
    D::Event: PartialEq + Debug,
    D::Rejection: Refusal,
{
    /// Asserts the command caused exactly `expected`; returns the state after them.
    #[track_caller]
    pub fn then(self, expected: Vec<D::Event>) -> D::State {
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "decided events");
                events.iter().fold(self.state, |s, e| D::evolve(s, e))
            }
            Err(refusal) => panic!("refused: {refusal}; expected {expected:?}"),
        }
    }

    /// Asserts the command changed nothing and was not refused.
    #[track_caller]
    pub fn then_nothing(self) {
        self.then(Vec::new());
    }

    /// Asserts the command was refused with `kind` and a reason; returns the refusal.
    #[track_caller]
    pub fn then_refused(self, kind: RefusalKind) -> D::Rejection {
        match self.outcome {
            Ok(events) => panic!("accepted with {events:?}; expected a {kind:?} refusal"),
            Err(refusal) => {
                assert_eq!(refusal.kind(), kind, "kind of refusal {refusal}");
                assert!(!refusal.to_string().is_empty(), "a refusal explains itself");
                refusal
            }
        }
    }

    /// Asserts the command was refused with `kind`, its reason containing `reason`.
    #[track_caller]
    pub fn then_refused_because(self, kind: RefusalKind, reason: &str) {
        let text = self.then_refused(kind).to_string();
        assert!(text.contains(reason), "refusal {text:?} lacks {reason:?}");
    }

    /// The events, for assertions on their content.
    #[track_caller]
    pub fn events(self) -> Vec<D::Event> {
        match self.outcome {
            Ok(events) => events,
            Err(refusal) => panic!("refused: {refusal}"),
        }
    }
}
