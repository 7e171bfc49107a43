//! Concurrency limits: transfers running at once in all, and per server (a transfer
//! counts against both its source and its destination server).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits, shared by every transfer of the process.
#[derive(Debug, Clone)]
pub struct Limits {
    total: Arc<Semaphore>,
    per_server: usize,
    servers: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

/// The right to run one transfer; released when dropped.
#[derive(Debug)]
pub struct Slot {
    _permits: Vec<OwnedSemaphorePermit>,
}

impl Limits {
    /// At most `total` transfers at once, and `per_server` touching one server.
    pub fn new(total: usize, per_server: usize) -> Self {
        Self {
            total: Arc::new(Semaphore::new(total.max(1))),
            per_server: per_server.max(1),
            servers: Arc::default(),
        }
    }

    fn server(&self, server_id: &str) -> Arc<Semaphore> {
        let mut servers = self
            .servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        servers
            .entry(server_id.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_server)))
            .clone()
    }

    /// Waits for a slot on both servers (in name order, so that two transfers between
    /// the same servers never hold one each), then in all.
    pub async fn acquire(&self, source: &str, destination: &str) -> Slot {
        let mut servers = vec![source, destination];
        servers.sort_unstable();
        servers.dedup();
        let mut permits = Vec::with_capacity(3);
        for server in servers {
            if let Ok(permit) = self.server(server).acquire_owned().await {
                permits.push(permit);
            }
        }
        if let Ok(permit) = self.total.clone().acquire_owned().await {
            permits.push(permit);
        }
        Slot { _permits: permits }
    }

    /// Transfers that could start now in all.
    pub fn available(&self) -> usize {
        self.total.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_server_takes_at_most_its_share_and_all_at_most_the_total() {
        let limits = Limits::new(2, 1);
        let first = limits.acquire("srv-1", "tr-1").await;
        // srv-1 is busy: a second transfer from it waits.
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), limits.acquire("srv-1", "tr-2")).await;
        assert!(blocked.is_err());
        let other = limits.acquire("srv-2", "tr-2").await;
        assert_eq!(limits.available(), 0);
        // The total is reached: another server waits too.
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), limits.acquire("srv-3", "tr-3")).await;
        assert!(blocked.is_err());
        drop(first);
        let again =
            tokio::time::timeout(Duration::from_millis(200), limits.acquire("srv-1", "tr-1")).await;
        assert!(again.is_ok());
        drop(other);
    }
}
