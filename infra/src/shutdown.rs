//! Graceful, bounded shutdown: SIGTERM or SIGINT cancels a token that every task
//! watches; in-flight work then gets a grace period to finish, after which the process
//! stops regardless.

use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A token cancelled on the first SIGTERM or SIGINT.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
    token
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the process");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Waits for every tracked task to finish, at most `grace`. True if they all did.
pub async fn drain(tracker: &TaskTracker, grace: Duration) -> bool {
    tracker.close();
    match tokio::time::timeout(grace, tracker.wait()).await {
        Ok(()) => true,
        Err(_) => {
            tracing::warn!(
                remaining = tracker.len(),
                grace_secs = grace.as_secs(),
                "shutdown grace period over; stopping anyway"
            );
            false
        }
    }
}
