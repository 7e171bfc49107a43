//! The states of the aggregates this process wrote to last, kept in memory so that a
//! command on one of them needs no load: it is decided on the kept state and appended
//! at the kept version. The append's version check keeps this safe whatever another
//! process did meanwhile: a stale state ends in a conflict, and the handler then loads
//! the aggregate as usual. Bounded (least recently used out), per process.
//!
//! Emits and consumes no event type of its own.

use crate::event_log::AggregateRef;
use ferry_core::Decider;
use std::any::{Any, TypeId};
use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use uuid::Uuid;

/// Aggregates kept by default.
pub(super) const DEFAULT_CAPACITY: NonZeroUsize = match NonZeroUsize::new(10_000) {
    Some(capacity) => capacity,
    None => NonZeroUsize::MIN,
};

/// One aggregate as this process last knew it.
struct Kept {
    /// `D::State` of the decider that wrote it.
    state: Box<dyn Any + Send + Sync>,
    version: u64,
    /// The ids of the commands in its history: a command seen again is answered from
    /// the log (its events), not decided twice.
    commands: HashSet<Uuid>,
}

/// What a lookup found.
pub(super) enum Lookup<S> {
    /// Not kept (or kept by another decider).
    Miss,
    /// Kept: the state and version to decide on.
    Hit { state: S, version: u64 },
    /// The command is already in the aggregate's history.
    AlreadyHandled,
}

/// The kept states, shared by the clones of a command handler.
#[derive(Clone)]
pub(super) struct StateCache {
    kept: Arc<Mutex<lru::LruCache<(TypeId, AggregateRef), Kept>>>,
}

impl std::fmt::Debug for StateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCache").finish_non_exhaustive()
    }
}

impl StateCache {
    /// Keeps up to `capacity` aggregates.
    pub(super) fn new(capacity: NonZeroUsize) -> Self {
        Self {
            kept: Arc::new(Mutex::new(lru::LruCache::new(capacity))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<(TypeId, AggregateRef), Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept state of `aggregate` for decider `D`, unless `command` is in its history.
    pub(super) fn lookup<D: Decider>(
        &self,
        aggregate: &AggregateRef,
        command: Uuid,
    ) -> Lookup<D::State> {
        let mut kept = self.lock();
        let Some(entry) = kept.get(&(TypeId::of::<D>(), aggregate.clone())) else {
            return Lookup::Miss;
        };
        if entry.commands.contains(&command) {
            return Lookup::AlreadyHandled;
        }
        match entry.state.downcast_ref::<D::State>() {
            Some(state) => Lookup::Hit {
                state: state.clone(),
                version: entry.version,
            },
            None => Lookup::Miss,
        }
    }

    /// Keeps `aggregate` as loaded: its state, version and the commands of its history.
    pub(super) fn keep<D: Decider>(
        &self,
        aggregate: &AggregateRef,
        state: &D::State,
        version: u64,
        commands: HashSet<Uuid>,
    ) {
        self.lock().put(
            (TypeId::of::<D>(), aggregate.clone()),
            Kept {
                state: Box::new(state.clone()),
                version,
                commands,
            },
        );
    }

    /// `command` moved `aggregate` to `state` at `version`; `known_version` is the
    /// version it was decided at. Kept only if the entry is still at `known_version`
    /// (another task may have moved it meanwhile) or absent.
    pub(super) fn advance<D: Decider>(
        &self,
        aggregate: &AggregateRef,
        known_version: u64,
        state: &D::State,
        version: u64,
        command: Uuid,
    ) {
        let mut kept = self.lock();
        let key = (TypeId::of::<D>(), aggregate.clone());
        match kept.get_mut(&key) {
            Some(entry) if entry.version == known_version => {
                entry.state = Box::new(state.clone());
                entry.version = version;
                entry.commands.insert(command);
            }
            Some(_) => {
                kept.pop(&key);
            }
            None => {}
        }
    }

    /// Forgets `aggregate`: what is kept of it is stale.
    pub(super) fn forget<D: Decider>(&self, aggregate: &AggregateRef) {
        self.lock().pop(&(TypeId::of::<D>(), aggregate.clone()));
    }
}
