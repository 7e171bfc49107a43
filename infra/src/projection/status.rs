//! What each projection is doing, shared with the health endpoints.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The state of one projection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProjectionState {
    /// Waiting to become the single active runner of this projection.
    Starting,
    /// Rebuilding from sequence 1.
    Rebuilding,
    /// Applying events as they come.
    Running,
    /// Stopped on an event it cannot apply; retried periodically, never skipped.
    Stalled {
        /// The event's stream sequence.
        sequence: u64,
        /// Why it cannot be applied.
        error: String,
    },
    /// Stopped (shutdown).
    Stopped,
}

/// Progress of one projection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProjectionStatus {
    /// Its name.
    pub name: String,
    /// What it is doing.
    #[serde(flatten)]
    pub state: ProjectionState,
    /// Stream sequence its tables cover.
    pub checkpoint: u64,
    /// Events in the log it has not applied yet (None until first measured).
    pub lag: Option<u64>,
}

/// Every projection's status in this process.
#[derive(Debug, Clone)]
pub struct StatusBoard {
    statuses: Arc<Mutex<BTreeMap<String, ProjectionStatus>>>,
    changes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for StatusBoard {
    fn default() -> Self {
        Self {
            statuses: Arc::default(),
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

impl StatusBoard {
    /// Wakes up on every status change (a checkpoint moved, a state changed).
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Records a projection's status.
    pub fn set(&self, status: ProjectionStatus) {
        if let Ok(mut board) = self.statuses.lock() {
            board.insert(status.name.clone(), status);
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Changes one projection's status in place.
    pub fn update(&self, name: &str, change: impl FnOnce(&mut ProjectionStatus)) {
        if let Ok(mut board) = self.statuses.lock() {
            let status = board
                .entry(name.to_owned())
                .or_insert_with(|| ProjectionStatus {
                    name: name.to_owned(),
                    state: ProjectionState::Starting,
                    checkpoint: 0,
                    lag: None,
                });
            change(status);
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// A snapshot of every projection's status.
    pub fn snapshot(&self) -> Vec<ProjectionStatus> {
        self.statuses
            .lock()
            .map(|b| b.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One projection's status.
    pub fn get(&self, name: &str) -> Option<ProjectionStatus> {
        self.statuses.lock().ok().and_then(|b| b.get(name).cloned())
    }
}
