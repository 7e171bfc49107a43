//! MySQL/MariaDB copies: data with the `mariadb-dump` and `mariadb` tools, queries
//! through the `mysql_async` driver (`client`).
//!
//! MariaDB cannot rename a schema, and tables carrying triggers, views, routines and
//! events cannot move between schemas; so a copy runs in two parts:
//!
//! 1. the data ([`copy`](copy())): `mariadb-dump --single-transaction --skip-triggers`
//!    (views left out) piped into `mariadb` on the staging schema
//!    `<name>__ferry_incoming`, then verified against the source ([`checksum()`]);
//! 2. the switch (`switch`): a marker table `__ferry_switching` is created in the
//!    staging schema, the final schema is created, every table and sequence moves
//!    there in **one atomic** `RENAME TABLE`, then triggers, routines, events and views
//!    (dumped from the source with `--no-data`, `objects`) are created in it, and the
//!    staging schema is dropped.
//!
//! A kill before the switch leaves only the staging schema; a kill during the switch
//! leaves the marker, which tells the next attempt that the final schema is its own
//! unfinished work: it drops both and starts again. Any other existing final schema is
//! refused ([`DbError::AlreadyExists`]), unless [`CopySpec::replace_existing`]: it is
//! then kept aside under [`replaced_name`] by the switch, in one atomic rename with the
//! new tables.
//!
//! The switch is shared with the binary-log catch-up copy ([`super::mysql_binlog`]).
//! This module also owns the **freeze** of a schema for a cutover ([`freeze()`],
//! [`MysqlFreeze`], [`thaw`], [`retire`], [`unretire`]): its accounts locked durably
//! and their sessions killed, its tables read-locked while ferry runs.
//!
//! - `client`: sessions, bound parameters, quoted identifiers, errors.
//! - `schema`: a schema's existence, character set, tables, creation and removal.
//! - `sessions`: other sessions on a schema, killed.
//! - `objects`: triggers, routines, events and views, dumped, loaded, dropped.
//! - `copy`, `switch`: the two parts of a copy.
//! - `checksum`: the per-table checks verification compares.
//! - `freeze`, `accounts`: the cutover's freeze, and its durable half (the accounts'
//!   locks and ferry's records of them).
//!
//! [`DbError::AlreadyExists`]: crate::databases::DbError::AlreadyExists
//! [`CopySpec::replace_existing`]: crate::databases::CopySpec::replace_existing
//! [`replaced_name`]: crate::databases::replaced_name

mod accounts;
mod checksum;
pub(crate) mod chunks;
pub(crate) mod client;
mod copy;
mod freeze;
mod objects;
mod schema;
mod sessions;
mod switch;

pub use checksum::checksum;
pub use copy::copy;
pub(crate) use copy::{data_dump, ends, prepare_final, verify_staging};
pub use freeze::{MysqlFreeze, freeze, retire, thaw, unretire};
pub(crate) use objects::dump_objects;
pub(crate) use schema::{create_schema, drop_schema, schema, tables_of};
pub(crate) use switch::switch;

/// Longest MySQL/MariaDB schema name, in characters.
pub(crate) const MAX_NAME: usize = 64;

/// The table marking a staging schema whose switch has begun.
pub(crate) const MARKER: &str = "__ferry_switching";

/// The table marking a final schema whose replacing switch has begun: created in the
/// staging schema, it moves into the final schema with the atomic rename, so that its
/// presence there tells a retry that the final schema holds the copy's own unfinished
/// switch (and the replaced one is safe under [`replaced_name`]).
///
/// [`replaced_name`]: crate::databases::replaced_name
pub(crate) const REPLACING_MARKER: &str = "__ferry_replacing";

/// The table of a kept-aside (replaced) schema holding the SQL of its triggers,
/// routines, events and views, which are not re-created there (see `switch`).
pub(crate) const KEPT_OBJECTS: &str = "__ferry_objects";
