//! Concurrency limits: transfers running at once in all, and per server (a transfer
//! counts against both its source and its destination server); and one transfer at a
//! time per account, so that, say, the pre-copy back after a reinstall and the
//! account's relocation never prepare the same staging database together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits, shared by every transfer of the process.
#[derive(Debug, Clone)]
pub struct Limits {
    total: Arc<Semaphore>,
    per_server: usize,
    servers: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    accounts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
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
            accounts: Arc::default(),
        }
    }

    fn semaphore(
        map: &Mutex<HashMap<String, Arc<Semaphore>>>,
        key: &str,
        permits: usize,
    ) -> Arc<Semaphore> {
        let mut map = map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(key.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(permits)))
            .clone()
    }

    /// Waits for each of `accounts` to be free of other transfers, then for a slot on
    /// both servers, then in all. Always in the same order (accounts then servers, each
    /// by name), so that two transfers never hold part of what the other waits for.
    pub async fn acquire(&self, accounts: &[&str], source: &str, destination: &str) -> Slot {
        let mut accounts = accounts.to_vec();
        accounts.sort_unstable();
        accounts.dedup();
        let mut servers = vec![source, destination];
        servers.sort_unstable();
        servers.dedup();
        let mut permits = Vec::with_capacity(accounts.len() + 3);
        for account in accounts {
            let semaphore = Self::semaphore(&self.accounts, account, 1);
            if let Ok(permit) = semaphore.acquire_owned().await {
                permits.push(permit);
            }
        }
        for server in servers {
            let semaphore = Self::semaphore(&self.servers, server, self.per_server);
            if let Ok(permit) = semaphore.acquire_owned().await {
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
        let first = limits.acquire(&["a1"], "srv-1", "tr-1").await;
        // srv-1 is busy: a second transfer from it waits.
        let blocked = tokio::time::timeout(
            Duration::from_millis(50),
            limits.acquire(&["a2"], "srv-1", "tr-2"),
        )
        .await;
        assert!(blocked.is_err());
        let other = limits.acquire(&["a3"], "srv-2", "tr-2").await;
        assert_eq!(limits.available(), 0);
        // The total is reached: another server waits too.
        let blocked = tokio::time::timeout(
            Duration::from_millis(50),
            limits.acquire(&["a4"], "srv-3", "tr-3"),
        )
        .await;
        assert!(blocked.is_err());
        drop(first);
        let again = tokio::time::timeout(
            Duration::from_millis(200),
            limits.acquire(&["a1"], "srv-1", "tr-1"),
        )
        .await;
        assert!(again.is_ok());
        drop(other);
    }

    #[tokio::test]
    async fn an_account_takes_one_transfer_at_a_time() {
        let limits = Limits::new(8, 8);
        let wait = |accounts: &'static [&'static str]| {
            let limits = limits.clone();
            async move {
                tokio::time::timeout(
                    Duration::from_millis(100),
                    limits.acquire(accounts, "tr-1", "srv-1"),
                )
                .await
            }
        };
        let pre_copy = limits.acquire(&["a1", "a2"], "tr-1", "srv-1").await;
        assert!(wait(&["a2"]).await.is_err(), "a2 waits for the pre-copy");
        assert!(wait(&["a3"]).await.is_ok(), "another account does not");
        drop(pre_copy);
        assert!(wait(&["a2"]).await.is_ok());
    }
}
