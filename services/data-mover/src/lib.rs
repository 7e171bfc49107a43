//! ferry data-mover service: owns transfers (aggregate `transfer`), the real copies of
//! accounts' files, mails and databases between servers, verified at the destination
//! before any switch; the source is never deleted or modified before that.
//!
//! - [`domain`]: the pure transfer decider.
//! - [`files`]: files and mails with rsync, and their verification.
//! - [`databases`]: PostgreSQL and MySQL/MariaDB databases, and their verification.

pub mod databases;
pub mod domain;
pub mod files;
