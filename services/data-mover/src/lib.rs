//! ferry data-mover service: owns transfers (aggregate `transfer`), the real copies of
//! accounts' files, mails and databases between servers, verified at the destination
//! before any switch; the source is never deleted or modified before that.
//!
//! - [`domain`]: the pure transfer decider.
//! - [`files`]: files and mails with rsync, and their verification.
//! - [`databases`]: PostgreSQL and MySQL/MariaDB databases, and their verification.
//! - [`engine`]: carries out a transfer with those tools, recording each step.
//! - [`inventory`]: where data lives, read from the log.
//! - [`reactor`]: what the data mover does on which event (so far: the pre-copy of
//!   files and mails to an installed transit server).
//!
//! Emits the `transfer` events; consumes `TransitInstallationCompleted`, and reads
//! `server`, `transit_server` and `migration` events for where data lives.

pub mod databases;
mod disk;
pub mod domain;
pub mod engine;
pub mod files;
pub mod inventory;
pub mod reactor;

use ferry_infra::reactor::ReactorSettings;
use ferry_infra::runtime::Runtime;
use std::sync::Arc;

/// Starts the data mover's reactor in `runtime`.
pub fn service(runtime: &Runtime) {
    let handler = ferry_infra::command::CommandHandler::new(runtime.log.clone(), 20);
    let reactor = reactor::DataMoverReactor::new(
        engine::Mover::new(handler),
        inventory::Inventory::new(runtime.log.clone()),
    );
    runtime.spawn(
        "data mover reactor",
        ferry_infra::reactor::run(
            Arc::new(reactor),
            runtime.log.clone(),
            ReactorSettings::default(),
            runtime.shutdown.clone(),
        ),
    );
}
