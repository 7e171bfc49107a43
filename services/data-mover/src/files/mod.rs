//! Files and mails: copied with rsync, verified by checksums.
//!
//! This module owns everything the data mover does to an account's directory trees
//! (its files directory under `files_root`, its mail directory under `mail_root`):
//!
//! - [`sync()`]: one rsync run copying a source tree into a destination tree, local or
//!   `host:/path` over SSH, with progress, cancellation and clear errors; repeated runs
//!   only send what changed. The source is only read, never modified.
//! - [`verify()`]: the destination compared with the source by content checksums.
//! - [`TreeSize`]: the files and bytes of a local tree, for progress totals and
//!   estimates.
//! - [`TreeWatch`]: what changed in a local source tree since a point in time, so that
//!   a frozen final sync and check handle only that ([`SyncOptions::files_from`],
//!   [`VerifyOptions::only`]).
//!
//! It knows nothing of events or transfers: the transfer logic calls these functions
//! and turns their reports and [`FileError`]s into events.

mod error;
mod list;
mod process;
mod progress;
mod rsync;
mod stats;
mod tree;
mod verify;
mod watch;

pub use error::FileError;
pub use progress::{ProgressFn, TreeProgress};
pub(crate) use rsync::is_remote;
pub use rsync::{PARTIAL_DIR, SyncOptions, SyncReport, sync};
pub use tree::TreeSize;
pub use verify::{TreeCheck, VerifyOptions, verify};
pub use watch::{Changes, DEFAULT_MAX_CHANGES, TreeWatch, WatchOptions};
