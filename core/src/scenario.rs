//! Given/when/then with no server, shared by every service's domain tests:
//! `given(history).when(command).then(events)` for deciders, and
//! `given_view(history).when(event).then(commands)` for policies.

use crate::decider::{Decider, Refusal, RefusalKind};
use crate::policy::{Entries, Policy, View};
use ferry_events::Envelope;
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

/// A policy's view after a history of events.
pub struct GivenView<P: Policy> {
    entries: Entries<<P::View as View>::Entry>,
}

/// The view of `P` after `history`, folded with the view's `evolve`.
pub fn given_view<'a, P: Policy>(history: impl IntoIterator<Item = &'a Envelope>) -> GivenView<P> {
    let mut entries = Entries::new();
    P::View::fold(&mut entries, history);
    GivenView { entries }
}

impl<P: Policy> GivenView<P> {
    /// Reacts to `event`, as the edge does: the view folds the event first (a policy
    /// reads a view at least as new as its event), then the policy reads the entries
    /// it asks for, round after round, and decides on them alone.
    pub fn when(mut self, event: &Envelope) -> ThenCommands<P> {
        P::View::fold(&mut self.entries, [event]);
        stored_and_read_back::<P::View>(&self.entries);
        let read = read_rounds::<P>(event, &self.entries);
        ThenCommands {
            commands: P::react(event, &read),
        }
    }

    /// The entries of the view.
    pub fn entries(&self) -> &Entries<<P::View as View>::Entry> {
        &self.entries
    }

    /// The commands fired for every entry due at `now`, as the timer runner fires them.
    pub fn when_due(self, now: chrono::DateTime<chrono::Utc>) -> ThenCommands<P> {
        stored_and_read_back::<P::View>(&self.entries);
        let commands = self
            .entries
            .iter()
            .filter(|(_, entry)| P::View::due(entry).is_some_and(|due| due <= now))
            .flat_map(|(key, entry)| P::on_due(key, entry))
            .collect();
        ThenCommands {
            commands: Ok(commands),
        }
    }
}

/// Asserts every entry reads back as written from its JSON form, as the edge
/// stores it in PostgreSQL (a serde tag clashing with a field shows here).
#[track_caller]
fn stored_and_read_back<V: View>(entries: &Entries<V::Entry>) {
    for (key, entry) in entries {
        let stored = serde_json::to_value(entry)
            .unwrap_or_else(|e| panic!("view {} entry {key} cannot be stored: {e}", V::NAME));
        let read: V::Entry = serde_json::from_value(stored)
            .unwrap_or_else(|e| panic!("view {} entry {key} cannot be read back: {e}", V::NAME));
        assert_eq!(&read, entry, "view {} entry {key} read back", V::NAME);
    }
}

/// The entries a reaction to `event` reads from `view`: the keys the policy asks
/// for, asked again with what was read until no new key comes (at most 8 rounds).
pub fn read_rounds<P: Policy>(
    event: &Envelope,
    view: &Entries<<P::View as View>::Entry>,
) -> Entries<<P::View as View>::Entry> {
    let mut rounds = crate::policy::ReadRounds::<P>::new(event);
    while let Some(keys) = rounds.next_keys() {
        rounds.found(
            keys.into_iter()
                .filter_map(|key| view.get(&key).map(|entry| (key, entry.clone())))
                .collect(),
        );
    }
    rounds.into_read()
}

/// What a policy decided.
pub struct ThenCommands<P: Policy> {
    commands: Result<Vec<P::Command>, crate::policy::Missing>,
}

impl<P: Policy> ThenCommands<P> {
    /// Asserts the policy issued exactly `expected`, in that order.
    #[track_caller]
    pub fn then(self, expected: Vec<P::Command>) {
        assert_eq!(self.commands(), expected, "commands issued");
    }

    /// Asserts the policy found a fact missing, saying `reason`.
    #[track_caller]
    pub fn then_missing(self, reason: &str) {
        match self.commands {
            Ok(commands) => panic!("issued {commands:?}; expected a missing fact"),
            Err(missing) => assert!(
                missing.0.contains(reason),
                "missing fact {:?} lacks {reason:?}",
                missing.0
            ),
        }
    }

    /// Asserts the policy issued nothing.
    #[track_caller]
    pub fn then_nothing(self) {
        self.then(Vec::new());
    }

    /// The commands, for assertions on their content.
    #[track_caller]
    pub fn commands(self) -> Vec<P::Command> {
        match self.commands {
            Ok(commands) => commands,
            Err(missing) => panic!("a fact is missing: {missing}"),
        }
    }
}
