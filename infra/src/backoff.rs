//! The one backoff of ferry: exponential, capped, used wherever something is tried
//! again after a failure (reactions, projections, timers, fetches).
//!
//! Emits and consumes no event type of its own.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Delays doubling from `first` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub first: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Backoff {
    /// Doubling from `first` up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// The delay before retry number `attempt` (1 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.first.saturating_mul(factor).min(self.max)
    }

    /// Sleeps before retry number `attempt`, unless stopped first. False when stopped.
    pub async fn wait(&self, attempt: u32, shutdown: &CancellationToken) -> bool {
        sleep_or_stop(self.delay(attempt), shutdown).await
    }
}

/// Sleeps `delay`, unless stopped first. False when stopped.
pub async fn sleep_or_stop(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        let delays: Vec<u128> = (1..=7).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, vec![50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
    }
}
