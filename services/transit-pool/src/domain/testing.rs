//! Given/when/then helpers for the deciders' unit tests.

use ferry_infra::command::{Decider, Refusal, RefusalKind};
use std::fmt::Debug;

/// A decider's state built from past events.
pub(crate) struct Given<D: Decider> {
    state: D::State,
}

/// The state after `events`.
pub(crate) fn given<D: Decider>(events: impl IntoIterator<Item = D::Event>) -> Given<D> {
    let state = events
        .into_iter()
        .fold(D::State::default(), |state, e| D::evolve(state, &e));
    Given { state }
}

/// What a command decided.
pub(crate) struct Then<D: Decider> {
    state: D::State,
    outcome: Result<Vec<D::Event>, D::Rejection>,
}

impl<D: Decider> Given<D> {
    /// Decides `command` in the given state.
    pub(crate) fn when(self, command: D::Command) -> Then<D> {
        let outcome = D::decide(&self.state, &command);
        Then {
            state: self.state,
            outcome,
        }
    }

    /// The given state itself.
    pub(crate) fn state(self) -> D::State {
        self.state
    }
}

impl<D: Decider> Then<D>
where
    D::Event: Debug + PartialEq,
    D::Rejection: Refusal,
{
    /// The command caused exactly `expected`; returns the state after them.
    #[track_caller]
    pub(crate) fn then(self, expected: Vec<D::Event>) -> D::State {
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "decided events");
                events.iter().fold(self.state, |s, e| D::evolve(s, e))
            }
            Err(refusal) => panic!("expected {expected:?}, refused: {refusal}"),
        }
    }

    /// The command changed nothing.
    #[track_caller]
    pub(crate) fn then_nothing(self) {
        self.then(Vec::new());
    }

    /// The command was refused with `kind`; returns the refusal for further checks.
    #[track_caller]
    pub(crate) fn then_refused(self, kind: RefusalKind) -> D::Rejection {
        match self.outcome {
            Ok(events) => panic!("expected a {kind:?} refusal, decided {events:?}"),
            Err(refusal) => {
                assert_eq!(refusal.kind(), kind, "kind of refusal {refusal}");
                assert!(!refusal.to_string().is_empty(), "a refusal explains itself");
                refusal
            }
        }
    }
}
