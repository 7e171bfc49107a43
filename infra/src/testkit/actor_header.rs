//! For one service's route tests, served without `ferry up`'s gate: the test names
//! the actor in an `x-ferry-actor` header (`customer:c-42`, `support:jdoe`,
//! `user:c-42/alice`) and a user's grants in `x-ferry-grants` (`srv-1 srv-2/acc-7`:
//! a whole server, or one account of it), and this layer puts them where the gate
//! would. Never part of a running ferry (this module is
//! compiled with the `testkit` feature only): there, only a bearer token says who
//! asks, and `ferry up`'s own tests go through the real gate with real tokens.

use crate::api::auth::{Authenticated, Granted, SeesDetails};
use crate::api::parse_actor;
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use ferry_events::{ActorRole, GrantScope, Grants};

/// The header the tests name their actor in.
pub const TEST_ACTOR_HEADER: &str = "x-ferry-actor";
/// The header the tests name a user's grants in.
pub const TEST_GRANTS_HEADER: &str = "x-ferry-grants";

/// `router` with its requests' `x-ferry-actor` header read as their authenticated
/// actor (a malformed one is left out: the request is then unauthenticated).
pub fn trusting_actor_header(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(stand_in_for_the_gate))
}

async fn stand_in_for_the_gate(mut request: Request, next: Next) -> Response {
    let actor = request
        .headers()
        .get(TEST_ACTOR_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| parse_actor(text).ok());
    if let Some(actor) = actor {
        if actor.role == ActorRole::Support {
            request.extensions_mut().insert(SeesDetails);
        }
        let grants = request
            .headers()
            .get(TEST_GRANTS_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(read_grants)
            .unwrap_or_default();
        request.extensions_mut().insert(Authenticated(actor));
        request.extensions_mut().insert(Granted(grants));
    }
    next.run(request).await
}

/// `srv-1 srv-2/acc-7` (spaces or commas between): a whole server, or one account.
fn read_grants(text: &str) -> Grants {
    text.split([' ', ','])
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('/') {
            Some((server, account)) => GrantScope::account(server, account),
            None => GrantScope::server(part),
        })
        .collect()
}
