//! The redirect table: which account each host belongs to, where each account's
//! HTTP lives now, and the hold gate of an account in cutover. Every request is
//! admitted to an upstream here, under its account's lock, which is what makes the
//! hold guarantee (see [`RedirectTable::hold`]) hold.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::host::normalize_host;
use super::stats::{Counters, HeldSlot, RedirectStats};

/// Where traffic for each host goes; a cheap handle (clones share the table),
/// safe to use from any thread, updated live while [`serve`](super::serve) runs.
///
/// Readers (every proxied request) take read locks on the host and account maps
/// and the account's own mutex, each for a lookup or a counter update only; writers
/// hold them as briefly, so no request waits on an update for longer than that.
#[derive(Clone, Default)]
pub struct RedirectTable {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Normalised host (lowercase, no port, no trailing dot) → account id.
    hosts: RwLock<HashMap<Box<str>, Arc<str>>>,
    accounts: RwLock<HashMap<Arc<str>, Arc<AccountRoute>>>,
    counters: Counters,
}

/// One account's routing state; shared by the table and the requests in flight.
pub(crate) struct AccountRoute {
    state: Mutex<RouteState>,
    /// Wakes the requests waiting on a hold when the account is released.
    released: Notify,
    /// Wakes `hold` when the last in-flight request of the account finishes, or
    /// when the account is released.
    finished: Notify,
}

struct RouteState {
    /// Where the account's HTTP lives now; `None` until [`RedirectTable::locate`].
    upstream: Option<SocketAddr>,
    held: bool,
    /// Requests admitted to an upstream whose exchange has not finished.
    in_flight: usize,
    /// Handed to every admitted request; cancelled by `hold` when its bound passes
    /// with requests still in flight, which aborts them.
    abort: CancellationToken,
}

impl AccountRoute {
    fn new() -> Self {
        AccountRoute {
            state: Mutex::new(RouteState {
                upstream: None,
                held: false,
                in_flight: 0,
                abort: CancellationToken::new(),
            }),
            released: Notify::new(),
            finished: Notify::new(),
        }
    }

    /// A panic while the lock was held cannot leave the state half-updated (every
    /// critical section is a few assignments), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, RouteState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What [`RedirectTable::hold`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldReport {
    /// Requests of the account already admitted to its upstream when the hold
    /// began; `hold` waited for them.
    pub in_flight_at_hold: usize,
    /// Of those, how many had not finished when the bound passed and were aborted
    /// (0 when all finished in time).
    pub aborted: usize,
    /// How long `hold` waited for the in-flight requests.
    pub waited: Duration,
}

/// Why a request was not admitted to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The account is routed but `locate` was never called for it.
    NoLocation,
    /// The hold outlasted `hold_timeout`.
    HoldTimedOut,
    /// `max_held` requests were already waiting.
    TooManyHeld,
    /// The proxy is shutting down while the request was held.
    ShuttingDown,
}

/// A request admitted to `upstream`: while it lives the account counts it as in
/// flight, so a `hold` waits for it.
pub(crate) struct Admitted {
    pub(crate) upstream: SocketAddr,
    /// Cancelled when a `hold` gives up waiting for this request: the request must
    /// then stop talking to its upstream.
    pub(crate) abort: CancellationToken,
    pub(crate) in_flight: InFlight,
}

/// Counts one request of an account as in flight until dropped.
pub(crate) struct InFlight {
    route: Arc<AccountRoute>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let last = {
            let mut state = self.route.lock();
            state.in_flight -= 1;
            state.in_flight == 0
        };
        if last {
            self.route.finished.notify_waiters();
        }
    }
}

/// The limits of a request's wait on a hold.
pub(crate) struct HoldLimits<'a> {
    pub(crate) timeout: Duration,
    pub(crate) max_held: usize,
    pub(crate) shutdown: &'a CancellationToken,
}

impl RedirectTable {
    /// An empty table: every host is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends requests for `host` to the account `account_id` (wherever it is
    /// located); replaces an earlier route of the host. `host` is normalised (see
    /// [`normalize_host`](super::normalize_host)), so `Example.COM.` and `example.com` are the same.
    pub fn route_host(&self, host: &str, account_id: &str) {
        let account: Arc<str> = self.route_entry_key(account_id);
        write(&self.shared.hosts).insert(normalize_host(host).into_boxed_str(), account);
    }

    /// Forgets `host`: its requests get 421 from now on.
    pub fn remove_host(&self, host: &str) {
        write(&self.shared.hosts).remove(normalize_host(host).as_str());
    }

    /// Where the account's HTTP lives now. Requests admitted from now on go there;
    /// requests already forwarded finish where they are. During a hold it only
    /// records the place: the held requests go there on [`release`](Self::release).
    pub fn locate(&self, account_id: &str, upstream: SocketAddr) {
        let route = self.route_entry(account_id);
        route.lock().upstream = Some(upstream);
    }

    /// Holds the account's new requests (they wait, bounded by the proxy's
    /// `hold_timeout` and `max_held`) and waits up to `in_flight_bound` for the
    /// requests already forwarded to finish.
    ///
    /// Guarantee: a request is admitted to an upstream under the account's lock,
    /// only while the account is not held, and the upstream it goes to is read in
    /// the same critical section. `hold` sets the account held under that lock, so
    /// every request of the account is either admitted before the hold (counted in
    /// [`HoldReport::in_flight_at_hold`]) or waits for the release and then goes to
    /// the location current at the release — never to the old one. When `hold`
    /// returns, every request admitted before it has finished — the upstream's
    /// response was received to its end (a client that went away meanwhile does
    /// not end it sooner: the proxy still waits for the upstream's response head),
    /// or the exchange failed (connection refused or broken, or no response head
    /// within `upstream_timeout`: an upstream that timed out may still be working
    /// on it) — except the [`HoldReport::aborted`] ones still running at
    /// `in_flight_bound`: those are aborted (their request body stops, the
    /// upstream connection is dropped instead of reused, the client gets 502 or a
    /// cut response) at their next step, so they send no more of the request,
    /// though what they had already sent may still be processed by the old
    /// upstream. A tunnel (WebSocket) counts as in flight until it closes, so it
    /// is among the aborted ones unless it closed within the bound.
    /// An `aborted` of 0 therefore means that, upstream timeouts aside,
    /// no request of the account is still being processed by the old upstream on
    /// the proxy's behalf.
    ///
    /// The account is held from the first poll of the returned future; dropping
    /// the future before it completes leaves the account held (only
    /// [`release`](Self::release) ends a hold). Holding an account the table does
    /// not know yet creates it (held, no location); holding a held account waits
    /// again for what is still in flight. A [`release`](Self::release) while
    /// `hold` waits ends the wait at once, aborting nothing.
    pub async fn hold(&self, account_id: &str, in_flight_bound: Duration) -> HoldReport {
        let route = self.route_entry(account_id);
        let started = Instant::now();
        let deadline = started + in_flight_bound;
        let in_flight_at_hold = {
            let mut state = route.lock();
            state.held = true;
            state.in_flight
        };
        loop {
            // Created before the check so a finish between the check and the wait
            // still wakes us (`notify_waiters` wakes every `Notified` created
            // before it is called).
            let finished = route.finished.notified();
            tokio::pin!(finished);
            let (in_flight, held) = {
                let state = route.lock();
                (state.in_flight, state.held)
            };
            // Released meanwhile (a cutover given up): the requests in flight now
            // include new ones, which this hold must neither wait for nor abort.
            if in_flight == 0 || !held {
                return HoldReport {
                    in_flight_at_hold,
                    aborted: 0,
                    waited: started.elapsed(),
                };
            }
            tokio::select! {
                () = &mut finished => {}
                () = tokio::time::sleep_until(deadline) => {
                    let aborted = {
                        let mut state = route.lock();
                        let left = if state.held { state.in_flight } else { 0 };
                        if left > 0 {
                            // A fresh token for the requests admitted after the
                            // release; the old one aborts those still running.
                            std::mem::replace(&mut state.abort, CancellationToken::new()).cancel();
                        }
                        left
                    };
                    self.shared
                        .counters
                        .aborted_by_hold
                        .fetch_add(aborted as u64, Ordering::Relaxed);
                    return HoldReport {
                        in_flight_at_hold,
                        aborted,
                        waited: started.elapsed(),
                    };
                }
            }
        }
    }

    /// Ends the account's hold: the waiting requests and the new ones go to its
    /// location current now (call [`locate`](Self::locate) first to switch; after
    /// a failed cutover, release without it to go back to the old location). A
    /// no-op for an account that is not held or not known.
    pub fn release(&self, account_id: &str) {
        let Some(route) = read(&self.shared.accounts).get(account_id).cloned() else {
            return;
        };
        route.lock().held = false;
        route.released.notify_waiters();
        // A `hold` still waiting for in-flight requests stops waiting.
        route.finished.notify_waiters();
    }

    /// Whether the account is held now.
    pub fn is_held(&self, account_id: &str) -> bool {
        read(&self.shared.accounts)
            .get(account_id)
            .is_some_and(|route| route.lock().held)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RedirectStats {
        self.shared.counters.snapshot()
    }

    /// The account a request's `Host` header value routes to, or `None` (counted
    /// as an unknown host).
    pub(crate) fn route_for_host(&self, host_header: &str) -> Option<Arc<AccountRoute>> {
        let host = normalize_host(host_header);
        let route = read(&self.shared.hosts)
            .get(host.as_str())
            .cloned()
            .and_then(|account| read(&self.shared.accounts).get(&account).cloned());
        if route.is_none() {
            self.shared
                .counters
                .unknown_host
                .fetch_add(1, Ordering::Relaxed);
        }
        route
    }

    /// Admits a request of the account to its upstream, waiting first while the
    /// account is held.
    pub(crate) async fn admit(
        &self,
        route: &Arc<AccountRoute>,
        limits: HoldLimits<'_>,
    ) -> Result<Admitted, Refusal> {
        let counters = &self.shared.counters;
        let mut held: Option<HeldSlot<'_>> = None;
        let deadline = Instant::now() + limits.timeout;
        loop {
            // Created before the check: `notify_waiters` wakes every `Notified`
            // created before it is called, so a release right after the check is
            // not missed. Not enabled: registering would lock the `Notify` on every
            // request, held or not.
            let released = route.released.notified();
            tokio::pin!(released);
            {
                let mut state = route.lock();
                if !state.held {
                    let upstream = state.upstream.ok_or(Refusal::NoLocation)?;
                    state.in_flight += 1;
                    let abort = state.abort.clone();
                    drop(state);
                    counters.forwarded.fetch_add(1, Ordering::Relaxed);
                    return Ok(Admitted {
                        upstream,
                        abort,
                        in_flight: InFlight {
                            route: Arc::clone(route),
                        },
                    });
                }
            }
            if held.is_none() {
                if counters.held_now.fetch_add(1, Ordering::AcqRel) >= limits.max_held {
                    counters.held_now.fetch_sub(1, Ordering::AcqRel);
                    counters.too_many_held.fetch_add(1, Ordering::Relaxed);
                    return Err(Refusal::TooManyHeld);
                }
                held = Some(HeldSlot {
                    counters,
                    since: Instant::now(),
                });
            }
            tokio::select! {
                () = &mut released => {}
                () = tokio::time::sleep_until(deadline) => {
                    counters.hold_timeouts.fetch_add(1, Ordering::Relaxed);
                    return Err(Refusal::HoldTimedOut);
                }
                () = limits.shutdown.cancelled() => return Err(Refusal::ShuttingDown),
            }
        }
    }

    pub(crate) fn count_failed_upstream(&self) {
        self.shared
            .counters
            .failed_upstream
            .fetch_add(1, Ordering::Relaxed);
    }

    fn route_entry(&self, account_id: &str) -> Arc<AccountRoute> {
        if let Some(route) = read(&self.shared.accounts).get(account_id) {
            return Arc::clone(route);
        }
        let mut accounts = write(&self.shared.accounts);
        Arc::clone(
            accounts
                .entry(Arc::from(account_id))
                .or_insert_with(|| Arc::new(AccountRoute::new())),
        )
    }

    /// The table's shared id of the account, creating its entry if needed.
    fn route_entry_key(&self, account_id: &str) -> Arc<str> {
        let mut accounts = write(&self.shared.accounts);
        if let Some((key, _)) = accounts.get_key_value(account_id) {
            return Arc::clone(key);
        }
        let key: Arc<str> = Arc::from(account_id);
        accounts.insert(Arc::clone(&key), Arc::new(AccountRoute::new()));
        key
    }
}

/// As with the account lock, every write is a single map operation, so a poisoned
/// map is still consistent.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for RedirectTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectTable")
            .field("hosts", &read(&self.shared.hosts).len())
            .field("accounts", &read(&self.shared.accounts).len())
            .finish()
    }
}
