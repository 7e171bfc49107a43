//! Given/when/then for deciders: `given(history).when(command).then(events)`.

use ferry_infra::command::{Decider, Refusal, RefusalKind};
use std::fmt::Debug;

/// A decider's state after a history.
pub(crate) struct Given<D: Decider> {
    state: D::State,
}

/// The state after `history`, folded with the decider's `evolve`.
pub(crate) fn given<D: Decider>(history: impl IntoIterator<Item = D::Event>) -> Given<D> {
    let state = history
        .into_iter()
        .fold(D::State::default(), |state, event| D::evolve(state, &event));
    Given { state }
}

impl<D: Decider> Given<D> {
    /// Decides `command` in that state.
    pub(crate) fn when(self, command: D::Command) -> Then<D> {
        Then {
            outcome: D::decide(&self.state, &command),
        }
    }

    /// The state itself.
    pub(crate) fn state(&self) -> &D::State {
        &self.state
    }
}

/// What a command decided.
pub(crate) struct Then<D: Decider> {
    outcome: Result<Vec<D::Event>, D::Rejection>,
}

impl<D> Then<D>
where
    D: Decider,
    D::Event: PartialEq + Debug,
    D::Rejection: Refusal,
{
    /// Asserts the command caused exactly `expected`.
    #[track_caller]
    pub(crate) fn then(self, expected: Vec<D::Event>) {
        match self.outcome {
            Ok(events) => assert_eq!(events, expected),
            Err(refusal) => panic!("refused: {refusal}; expected {expected:?}"),
        }
    }

    /// Asserts the command changed nothing and was not refused.
    #[track_caller]
    pub(crate) fn then_nothing(self) {
        self.then(Vec::new());
    }

    /// Asserts the command was refused with `kind`, its reason containing `reason`.
    #[track_caller]
    pub(crate) fn then_refused(self, kind: RefusalKind, reason: &str) {
        match self.outcome {
            Ok(events) => panic!("accepted with {events:?}; expected a {kind:?} refusal"),
            Err(refusal) => {
                assert_eq!(refusal.kind(), kind, "refusal: {refusal}");
                let text = refusal.to_string();
                assert!(text.contains(reason), "refusal {text:?} lacks {reason:?}");
            }
        }
    }

    /// The events, for assertions on their content.
    #[track_caller]
    pub(crate) fn events(self) -> Vec<D::Event> {
        match self.outcome {
            Ok(events) => events,
            Err(refusal) => panic!("refused: {refusal}"),
        }
    }
}
