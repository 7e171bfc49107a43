//! The redirect's counters: what a caller reads through
//! [`RedirectTable::stats`](super::RedirectTable::stats) (requests held now, the
//! longest hold, failures by cause), kept as atomics the requests update without
//! locking.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// The live counters behind [`RedirectStats`], updated by every request.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) held_now: AtomicUsize,
    pub(super) longest_hold_micros: AtomicU64,
    pub(super) forwarded: AtomicU64,
    pub(super) failed_upstream: AtomicU64,
    pub(super) hold_timeouts: AtomicU64,
    pub(super) too_many_held: AtomicU64,
    pub(super) unknown_host: AtomicU64,
    pub(super) aborted_by_hold: AtomicU64,
}

/// A snapshot of the redirect's counters (see [`RedirectTable::stats`](super::RedirectTable::stats)); totals
/// count since the table was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RedirectStats {
    /// Requests waiting on a hold right now.
    pub held_now: usize,
    /// The longest time a request has waited on a hold, whatever its outcome.
    pub longest_hold: Duration,
    /// Requests admitted to an upstream.
    pub forwarded: u64,
    /// Requests answered 502/504 because the upstream could not be reached, failed
    /// or timed out, or whose response body broke off.
    pub failed_upstream: u64,
    /// Requests answered 503 because their hold outlasted `hold_timeout`.
    pub hold_timeouts: u64,
    /// Requests answered 503 at once because `max_held` requests were waiting.
    pub too_many_held: u64,
    /// Requests answered 421 because their host is not in the table.
    pub unknown_host: u64,
    /// In-flight requests aborted because a `hold` bound passed before they finished.
    pub aborted_by_hold: u64,
}

/// Counts one request as held until dropped, and records how long it waited;
/// dropped on every way out of the wait, including the client going away.
pub(super) struct HeldSlot<'a> {
    pub(super) counters: &'a Counters,
    pub(super) since: Instant,
}

impl Drop for HeldSlot<'_> {
    fn drop(&mut self) {
        self.counters.held_now.fetch_sub(1, Ordering::AcqRel);
        let micros = u64::try_from(self.since.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counters
            .longest_hold_micros
            .fetch_max(micros, Ordering::AcqRel);
    }
}

impl Counters {
    pub(super) fn snapshot(&self) -> RedirectStats {
        RedirectStats {
            held_now: self.held_now.load(Ordering::Acquire),
            longest_hold: Duration::from_micros(self.longest_hold_micros.load(Ordering::Acquire)),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            failed_upstream: self.failed_upstream.load(Ordering::Relaxed),
            hold_timeouts: self.hold_timeouts.load(Ordering::Relaxed),
            too_many_held: self.too_many_held.load(Ordering::Relaxed),
            unknown_host: self.unknown_host.load(Ordering::Relaxed),
            aborted_by_hold: self.aborted_by_hold.load(Ordering::Relaxed),
        }
    }
}
