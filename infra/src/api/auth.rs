//! Authentication at the edge of the HTTP API: the **gate** every request of
//! `ferry up` goes through before any route sees it.
//!
//! A request proves who it is with `Authorization: Bearer <token>`: a token ferry
//! issued or one signed by the host's identity provider, checked by an
//! [`Authenticate`] implementation (the access service's). The gate puts the
//! [`Authenticated`] actor in the request's extensions, where [`RequestActor`]
//! (and nothing else) reads it: no header a client sets names the actor. Beside it,
//! the rights a customer's user was granted ([`Granted`], read by
//! [`RequestGrants`]), checked by the services against each command. The gate
//! also
//! - refuses (401) any request without a valid token but to `/health` and `/ready`,
//!   before any route reads its path or body;
//! - leaves `/health` open, and the web panel's pages (`/panel/…`) to the panel,
//!   which authenticates its sessions itself and calls the API back through this
//!   gate with the person's token; serves `/metrics` and `/openapi.json` to support or to
//!   the holder of the metrics token only; `/ready` says ready or not to anyone and
//!   its details ([`SeesDetails`]) to those two only;
//! - refuses a client (by IP address) that failed to authenticate too often lately
//!   with 429 and `Retry-After`, before checking anything, so that guessing tokens
//!   is slow.
//!
//! This module emits and consumes no event.
//!
//! [`RequestActor`]: super::RequestActor
//! [`RequestGrants`]: super::RequestGrants

use super::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferry_events::{Actor, ActorRole, Grants};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The actor a request authenticated as; set by the gate only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated(pub Actor);

/// The migration rights the authenticated actor holds by grant (a customer's user's;
/// none for anyone else), read when it authenticated; set by the gate only, beside
/// [`Authenticated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted(pub Grants);

/// Who a bearer token stands for, and what it was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The person.
    pub actor: Actor,
    /// Its grants now (a customer's user's; empty for anyone else).
    pub grants: Grants,
}

/// Marks a request allowed to read operational details (`/ready`'s, `/metrics`):
/// support, or the metrics token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeesDetails;

/// Why a presented credential is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// Not a credential ferry accepts (unknown, expired, revoked, badly signed…):
    /// 401, counted against the client.
    #[error("{0}")]
    Refused(String),
    /// What checks it did not answer (the event log): 503, not the client's fault.
    #[error("{0}")]
    Unavailable(String),
}

/// The future an [`Authenticate`] gives.
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<Identity, AuthFailure>> + Send + 'a>>;

/// Says who a bearer token stands for.
pub trait Authenticate: Send + Sync + 'static {
    /// The person `bearer` (the text after `Bearer `) authenticates and what it was
    /// granted, or why not.
    fn authenticate<'a>(&'a self, bearer: &'a str) -> AuthFuture<'a>;
}

/// How many failed authentications a client may make within [`FAILURE_WINDOW`]
/// before it is refused for the rest of the window, unless configured otherwise.
pub const MAX_FAILURES: u32 = 10;
/// The window failed authentications are counted over.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The most clients whose failures are remembered: past it the oldest windows go,
/// so that a flood of addresses cannot grow memory without bound.
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// Counts failed authentications per client address.
#[derive(Debug)]
struct FailureCounter {
    max_failures: u32,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureCounter {
    fn new(max_failures: u32) -> Self {
        Self {
            max_failures,
            clients: Mutex::default(),
        }
    }

    /// The seconds a client must wait, if it failed too often lately.
    fn blocked_for(&self, client: IpAddr, now: Instant) -> Option<u64> {
        let clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (since, count) = clients.get(&client)?;
        let elapsed = now.duration_since(*since);
        (*count >= self.max_failures && elapsed < FAILURE_WINDOW)
            .then(|| (FAILURE_WINDOW - elapsed).as_secs().max(1))
    }

    fn record(&self, client: IpAddr, now: Instant) {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if clients.len() >= MAX_TRACKED_CLIENTS {
            clients.retain(|_, (since, _)| now.duration_since(*since) < FAILURE_WINDOW);
        }
        let entry = clients.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= FAILURE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// The gate's settings and state. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    authenticator: Arc<dyn Authenticate>,
    metrics_token: Option<Arc<str>>,
    failures: Arc<FailureCounter>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<set>"),
            )
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate checking tokens with `authenticator`; `metrics_token`, if any, opens
    /// `/metrics` and `/ready`'s details (a monitoring system's credential); a client
    /// failing `max_failures` times within [`FAILURE_WINDOW`] waits for its end.
    pub fn new(
        authenticator: Arc<dyn Authenticate>,
        metrics_token: Option<String>,
        max_failures: u32,
    ) -> Self {
        Self {
            authenticator,
            metrics_token: metrics_token.map(Arc::from),
            failures: Arc::new(FailureCounter::new(max_failures.max(1))),
        }
    }

    fn is_metrics_token(&self, bearer: &str) -> bool {
        self.metrics_token
            .as_deref()
            .is_some_and(|token| constant_time_eq(token.as_bytes(), bearer.as_bytes()))
    }
}

/// Compares without an early exit, so that timing tells nothing of how much of a
/// guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthenticated(reason: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", reason)
}

/// The text after `Bearer ` in `Authorization`, if there is such a header.
fn bearer(request: &Request) -> Option<Result<&str, ApiError>> {
    let value = request.headers().get(header::AUTHORIZATION)?;
    let text = value
        .to_str()
        .ok()
        .and_then(|text| {
            text.strip_prefix("Bearer ")
                .or_else(|| text.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|token| !token.is_empty());
    Some(text.ok_or_else(|| unauthenticated("Authorization must be `Bearer <token>`")))
}

/// Routes only support and the metrics token see.
fn operational(path: &str) -> bool {
    matches!(path, "/metrics" | "/openapi.json")
}

/// The gate, as an axum middleware: `axum::middleware::from_fn_with_state(gate, auth::gate)`.
pub async fn gate(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    // The panel signs people in with the same tokens and keeps them server-side:
    // its pages answer a request without a session with the sign-in page, and
    // every call it makes to the API comes back through this gate with the token.
    if path == "/health" || path == "/panel" || path.starts_with("/panel/") {
        return next.run(request).await;
    }
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let now = Instant::now();
    if let Some(wait) = client.and_then(|ip| gate.failures.blocked_for(ip, now)) {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failures",
            format!("too many failed authentications from this address: try again in {wait} s"),
        )
        .into_response();
        if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let mut sees_details = false;
    let mut actor = None;
    match bearer(&request) {
        None => {}
        Some(Err(error)) => return error.into_response(),
        Some(Ok(token)) if gate.is_metrics_token(token) => sees_details = true,
        Some(Ok(token)) => match gate.authenticator.authenticate(token).await {
            Ok(who) => {
                sees_details = who.actor.role == ActorRole::Support;
                actor = Some(who);
            }
            Err(AuthFailure::Refused(reason)) => {
                if let Some(ip) = client {
                    gate.failures.record(ip, now);
                }
                tracing::info!(?client, %path, %reason, "authentication refused");
                return unauthenticated(reason).into_response();
            }
            Err(AuthFailure::Unavailable(reason)) => {
                return ApiError::unavailable(format!("cannot check the token now: {reason}"))
                    .into_response();
            }
        },
    }
    // Everything but `/health` and `/ready` is for someone: refused here, before any
    // route reads its path or body.
    if actor.is_none() && !sees_details && path != "/ready" {
        return unauthenticated(
            "say who you are: send `Authorization: Bearer <token>` (`ferry token create` issues one)",
        )
        .into_response();
    }
    if operational(&path) && !sees_details {
        return match actor {
            None => unauthenticated(format!(
                "{path} is for support and monitoring: send `Authorization: Bearer <token>`"
            )),
            Some(_) => ApiError::forbidden(format!("{path} is for support and monitoring")),
        }
        .into_response();
    }
    if sees_details {
        request.extensions_mut().insert(SeesDetails);
    }
    if let Some(Identity { actor, grants }) = actor {
        request.extensions_mut().insert(Authenticated(actor));
        request.extensions_mut().insert(Granted(grants));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_blocked_after_too_many_failures_for_the_rest_of_the_window() {
        let counter = FailureCounter::new(MAX_FAILURES);
        let client: IpAddr = [192, 0, 2, 7].into();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            counter.record(client, start);
        }
        assert_eq!(counter.blocked_for(client, start), None);
        counter.record(client, start);
        assert_eq!(counter.blocked_for(client, start), Some(60));
        let other: IpAddr = [192, 0, 2, 8].into();
        assert_eq!(counter.blocked_for(other, start), None);
        assert_eq!(counter.blocked_for(client, start + FAILURE_WINDOW), None);
        counter.record(client, start + FAILURE_WINDOW);
        assert_eq!(counter.blocked_for(client, start + FAILURE_WINDOW), None);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
