//! Deciders: the pure decision of one aggregate type. `decide(state, command)` gives
//! the events a command causes or why it is refused; `evolve(state, event)` folds an
//! event into the state. No I/O, no clock, no randomness: the command handler of
//! `ferry-infra` loads, decides and appends.
//!
//! Emits and consumes no event type of its own.

use ferry_events::{AggregateType, Event};

/// A pure decider for one aggregate type: no I/O, no clock, no randomness.
pub trait Decider: 'static {
    /// The aggregate's state, folded from its events.
    type State: Default + Clone + Send + Sync + 'static;
    /// What can be asked of it.
    type Command: Send + Sync;
    /// Its events (one variant of the catalogue's [`Event`]).
    type Event: Clone + Into<Event> + Send;
    /// Why a command is refused.
    type Rejection: std::error::Error + Send + Sync + 'static;

    /// The aggregate type it decides for.
    const AGGREGATE: AggregateType;

    /// The events a command causes in the given state, or why it is refused.
    fn decide(
        state: &Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Self::Event>, Self::Rejection>;

    /// The state after an event.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// This aggregate's event inside a catalogue event, if it is one.
    fn select(event: &Event) -> Option<&Self::Event>;

    /// Folds a history into a state.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events
            .into_iter()
            .filter_map(Self::select)
            .fold(Self::State::default(), |state, e| Self::evolve(state, e))
    }
}

/// What kind of refusal a decider's rejection is, so that every edge (HTTP, CLI,
/// reactors) reports it the same way without knowing the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The command itself is malformed or names something impossible.
    Invalid,
    /// The actor may not do this (wrong role, another customer's server).
    Forbidden,
    /// The aggregate or a part of it does not exist.
    NotFound,
    /// Not possible in the aggregate's current state.
    Conflict,
}

/// A decider's rejection that knows its [`RefusalKind`].
pub trait Refusal: std::error::Error + Send + Sync + 'static {
    /// Its kind.
    fn kind(&self) -> RefusalKind;
}

/// A decider that accepts every command refuses with `Infallible`.
impl Refusal for std::convert::Infallible {
    fn kind(&self) -> RefusalKind {
        match *self {}
    }
}
