//! What needs a person, counted for `/ready`: each service registers a named count
//! (messages given up by the notifications outbox, say) that `/ready` lists beside
//! the parked reactions. A count never makes the process unready: the process goes on
//! with everything else, and support sees what waits for it where it looks.

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Counts what waits for a person; the error says why the count is unknown.
pub type Count = Arc<dyn Fn() -> BoxFuture<'static, Result<u64, String>> + Send + Sync>;

/// The counts registered by this process's services.
#[derive(Clone, Default)]
pub struct AttentionBoard {
    counts: Arc<Mutex<Vec<(&'static str, Count)>>>,
}

impl AttentionBoard {
    /// Adds a count listed under `name` in `/ready`'s `needs_attention`.
    pub fn register(&self, name: &'static str, count: Count) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.push((name, count));
        }
    }

    /// Every count now: a number, or why it could not be counted.
    pub async fn snapshot(&self) -> BTreeMap<&'static str, serde_json::Value> {
        let counts: Vec<(&'static str, Count)> = match self.counts.lock() {
            Ok(counts) => counts.clone(),
            Err(_) => Vec::new(),
        };
        let mut answer = BTreeMap::new();
        for (name, count) in counts {
            let value = match count().await {
                Ok(n) => serde_json::Value::from(n),
                Err(e) => serde_json::Value::from(format!("unknown: {e}")),
            };
            answer.insert(name, value);
        }
        answer
    }
}
