//! The network's live state: what its DNS server and its redirect serve, folded
//! from the log in memory ([`state`]) and applied to them as each event comes
//! ([`follow`]).

pub mod follow;
pub mod state;

pub use follow::{Served, follow};
pub use state::{LiveChange, LiveState};
