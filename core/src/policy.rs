//! Policies over local views: how a service reacts to events, its own or other
//! services', without loading anybody's aggregate.
//!
//! A [`View`] folds the facts a service needs from the log into keyed entries (a
//! transfer's kind and destination, a queue's waiting requests, a due time...): a
//! pure function of the events, so `ferry-infra` keeps it as a checkpointed,
//! rebuildable projection. A [`Policy`] is a pure function from an event and the
//! entries of its view it reads to the commands to issue; a command's id derives
//! from the event (or from the fact it records), so a redelivered event, or two
//! events leading to the same fact, issue it once. The edge waits until the view has
//! folded at least the event reacted to, reads the entries, asks the policy and runs
//! the commands.
//!
//! Entries with a due time make a view a set of durable timers: the edge fires
//! [`Policy::on_due`] for each entry once due, until an event removes it or moves
//! its due time.
//!
//! Emits and consumes no event type of its own.

use chrono::{DateTime, Utc};
use ferry_events::{AggregateType, Envelope};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use uuid::Uuid;

/// Entries of a view by key, as read for one reaction.
pub type Entries<E> = BTreeMap<String, E>;

/// A service's local view: the outside facts its policies need, folded from events
/// into entries addressed by key (`"transfer/<id>"`, `"queue/<configuration>"`...).
pub trait View: Send + Sync + 'static {
    /// Unique name: lower-case letters, digits and `_` (its schema is `proj_<name>`).
    const NAME: &'static str;
    /// The aggregate types whose events it folds. A policy over this view reacts to
    /// events of these types only, so the view always folds the event reacted to.
    const AGGREGATES: &'static [AggregateType];

    /// One entry.
    type Entry: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The keys of the entries `event` changes.
    fn keys(event: &Envelope) -> Vec<String>;

    /// Entry `key` after `event` (`None`: the entry is removed).
    fn evolve(key: &str, entry: Option<Self::Entry>, event: &Envelope) -> Option<Self::Entry>;

    /// When the entry is due, if it is a timer.
    fn due(_entry: &Self::Entry) -> Option<DateTime<Utc>> {
        None
    }

    /// Folds events into entries, in order: what the edge keeps in PostgreSQL, here
    /// in memory (for tests and for a policy's given/when/then).
    fn fold<'a>(
        entries: &mut Entries<Self::Entry>,
        events: impl IntoIterator<Item = &'a Envelope>,
    ) {
        for event in events {
            for key in Self::keys(event) {
                let before = entries.remove(&key);
                if let Some(after) = Self::evolve(&key, before, event) {
                    entries.insert(key, after);
                }
            }
        }
    }
}

/// A service's reaction to events: what to do, from the event and its view.
pub trait Policy: Send + Sync + 'static {
    /// The view it reads.
    type View: View;
    /// The commands it issues (run by the service's edge).
    type Command: Clone + Debug + PartialEq + Send + Sync + 'static;

    /// The reactor's name: its durable consumer, and the namespace of its command ids.
    const NAME: &'static str;

    /// The keys of the entries this reaction reads, knowing the entries read so far
    /// (`known`, empty at first): the edge asks again with what it read until no new
    /// key comes, so an entry can lead to another (a transfer to its account).
    fn reads(event: &Envelope, known: &Entries<<Self::View as View>::Entry>) -> Vec<String>;

    /// The commands to issue for `event`, given the entries read. The view has folded
    /// at least `event`, maybe later events too: a policy decides on the facts, not on
    /// which event brought them, and derives its command ids so that two events
    /// leading to the same fact issue the same command. A fact it needs and does not
    /// find is [`Missing`]: never a silent default (the edge parks the reaction,
    /// visibly, and retries it).
    fn react(
        event: &Envelope,
        view: &Entries<<Self::View as View>::Entry>,
    ) -> Result<Vec<Self::Command>, Missing>;

    /// The commands to issue when entry `key` of the view is due (see [`View::due`]).
    /// Fired again (same ids) until an event moves or removes the entry.
    fn on_due(_key: &str, _entry: &<Self::View as View>::Entry) -> Vec<Self::Command> {
        Vec::new()
    }

    /// The lane of the reaction to `event`. Reactions of one lane run one at a time,
    /// in log order, each on a view holding what the one before appended; lanes run
    /// side by side. The default is one lane for everything: right for a policy whose
    /// reactions decide on shared facts that its other reactions change (a pool of
    /// servers). A policy whose reactions depend only on their own process's facts
    /// returns [`process_lane`], so that one migration never waits for another.
    fn lane(_event: &Envelope) -> String {
        String::new()
    }

    /// The process of the reaction to `event`: when it fails and is parked, the later
    /// events of its process wait behind it, so that the process's order holds. By
    /// default, its correlation (the migration, [`process_lane`]); a policy whose
    /// reactions to one migration are independent of each other (the network's IP
    /// routes and its traffic switches) names finer processes.
    fn process(event: &Envelope) -> String {
        process_lane(event)
    }
}

/// The lane of an event's process: its correlation (the migration it is part of).
pub fn process_lane(event: &Envelope) -> String {
    event.correlation_id.to_string()
}

/// The entries a reaction reads, round after round: [`Policy::reads`] asked again
/// with what was read so far, until no new key comes (at most 8 rounds). The edge
/// reads each round's keys from PostgreSQL, the given/when/then from memory.
pub struct ReadRounds<'e, P: Policy> {
    event: &'e Envelope,
    read: Entries<<P::View as View>::Entry>,
    asked: std::collections::BTreeSet<String>,
    rounds: usize,
}

impl<'e, P: Policy> ReadRounds<'e, P> {
    /// The rounds of a reaction to `event`.
    pub fn new(event: &'e Envelope) -> Self {
        Self {
            event,
            read: Entries::new(),
            asked: std::collections::BTreeSet::new(),
            rounds: 0,
        }
    }

    /// The keys to read next, none asked before; `None` once nothing new comes.
    pub fn next_keys(&mut self) -> Option<Vec<String>> {
        if self.rounds == 8 {
            return None;
        }
        self.rounds += 1;
        let asked = &mut self.asked;
        let new: Vec<String> = P::reads(self.event, &self.read)
            .into_iter()
            .filter(|key| asked.insert(key.clone()))
            .collect();
        (!new.is_empty()).then_some(new)
    }

    /// Adds the entries found for the last keys (absent ones are left out).
    pub fn found(&mut self, entries: Entries<<P::View as View>::Entry>) {
        self.read.extend(entries);
    }

    /// Everything read.
    pub fn into_read(self) -> Entries<<P::View as View>::Entry> {
        self.read
    }
}

/// A fact a policy needs is not in its view (another service never reported it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Missing(pub String);

/// The id of a command a reactor issues in response to an event (or to a fact, when
/// `cause` is the id of that fact): the same cause always gives the same command id,
/// so a redelivered event is not acted on twice.
pub fn reaction_id(reactor: &str, cause: Uuid, purpose: &str) -> Uuid {
    Uuid::new_v5(&cause, format!("{reactor}/{purpose}").as_bytes())
}
