//! ferry access service, pure domain: the API tokens that let a person into ferry's
//! API (aggregate `api_token`, id = the token's uuid). No I/O, no clock, no
//! randomness: the token's hash and the time a decision needs come in its command.
//!
//! - [`api_token`]: the token's decider (`ApiTokenIssued`, `ApiTokenRevoked`) and
//!   the rule that says whether a presented token is accepted now.
//!
//! Unit tests: a module with tests is a directory, `foo/mod.rs` for its code and
//! `foo/tests.rs` for its tests.

pub mod api_token;
pub mod user_grants;
