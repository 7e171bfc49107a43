//! Settings of the transparent redirect: how long a request may be held during a
//! cutover, how many may wait at once, and the timeouts towards the upstreams and
//! for shutting down.

use std::time::Duration;

/// Tuning of [`serve`](super::serve). A plain struct: every field has a default
/// (see [`Default`]) and the caller fills it from its own configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectSettings {
    /// How long a request for a held account waits for its release before it is
    /// answered 503 (default 30 s).
    pub hold_timeout: Duration,
    /// How many requests may wait at once, across all accounts; beyond that a new
    /// request for a held account is answered 503 at once (default 10 000).
    pub max_held: usize,
    /// The `Retry-After` (in seconds) of the 503 answers (default 5).
    pub retry_after_secs: u32,
    /// From sending a request upstream to receiving the response head; past it the
    /// client gets 502 (default 60 s: the upstream is a customer's web server, slow
    /// scripts are common).
    pub upstream_timeout: Duration,
    /// TCP connect to an upstream; past it the client gets 502 (default 5 s).
    pub connect_timeout: Duration,
    /// How long an idle pooled upstream connection is kept (default 60 s).
    pub upstream_idle_timeout: Duration,
    /// Idle upstream connections kept per upstream (default 64).
    pub upstream_max_idle: usize,
    /// How long a client may take to send a request head (default 30 s), so idle
    /// keep-alive connections and slow clients do not pile up.
    pub header_read_timeout: Duration,
    /// After the shutdown token is cancelled, how long in-flight exchanges may
    /// still finish before their connections are dropped (default 10 s).
    pub shutdown_grace: Duration,
}

impl Default for RedirectSettings {
    fn default() -> Self {
        RedirectSettings {
            hold_timeout: Duration::from_secs(30),
            max_held: 10_000,
            retry_after_secs: 5,
            upstream_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            upstream_idle_timeout: Duration::from_secs(60),
            upstream_max_idle: 64,
            header_read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}
