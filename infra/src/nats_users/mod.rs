//! ferry's NATS users: who may do what on the event log's server.
//!
//! Each service connects to NATS as **its own user** ([`NatsUser`]), authenticated by
//! an nkey (an ed25519 key pair: the server knows only the public key, the service
//! proves it holds the seed by signing the server's nonce, so no secret crosses the
//! wire). A service user may publish only the subjects of the aggregates its service
//! writes ([`NatsUser::publishes`], from [`NatsUser::owner`]), use the JetStream API it
//! needs to read the log, and receive replies on its own inbox prefix. The `setup`
//! user creates and updates the stream (and the tests use it to set up theirs); the
//! `read` user is the read side's (queries, audits, the log index, health), which
//! publishes no event at all. Nobody connects anonymously.
//!
//! - [`permissions`]: the permissions as nats-server configuration
//!   (`deploy/nats/permissions.conf`, checked against this module by a test).
//! - [`credentials`]: where each user's seed is read from (a directory of
//!   `<user>.nk` files, or one `*_FILE` per user) and the typed errors of a missing
//!   or unreadable one.

pub mod credentials;
pub mod permissions;

pub use credentials::{CredentialError, NatsCredentials, NatsIdentity};

use ferry_events::AggregateType;

/// One of ferry's NATS users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NatsUser {
    /// Creates and updates the stream; every permission. `ferry up` uses it once at
    /// start, the tests for their own streams; no service publishes through it.
    Setup,
    /// The accounts service: servers, target infrastructures, migrations, optional
    /// migrations.
    Accounts,
    /// The transit pool: transit servers and their queues.
    TransitPool,
    /// The data mover: transfers.
    DataMover,
    /// The network: DNS zones, accounts' traffic, IP routes.
    Network,
    /// Billing: loans.
    Billing,
    /// Notifications: notifications.
    Notifications,
    /// Access: API tokens (`ferry up`'s gate reads them; `ferry token create`, run
    /// where the log is, issues them as this user).
    Access,
    /// The read side (migration state, audits, the log index) and the process's
    /// health: reads only.
    Read,
}

impl NatsUser {
    /// Every user, the setup user first.
    pub const ALL: &'static [NatsUser] = &[
        NatsUser::Setup,
        NatsUser::Accounts,
        NatsUser::TransitPool,
        NatsUser::DataMover,
        NatsUser::Network,
        NatsUser::Billing,
        NatsUser::Notifications,
        NatsUser::Access,
        NatsUser::Read,
    ];

    /// Its name: the credential's file name (`<name>.nk`), its inbox prefix
    /// (`_INBOX.<name>`) and its connection's name (`ferry-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            NatsUser::Setup => "setup",
            NatsUser::Accounts => "accounts",
            NatsUser::TransitPool => "transit-pool",
            NatsUser::DataMover => "data-mover",
            NatsUser::Network => "network",
            NatsUser::Billing => "billing",
            NatsUser::Notifications => "notifications",
            NatsUser::Access => "access",
            NatsUser::Read => "read",
        }
    }

    /// The user whose service writes aggregates of type `kind`: the only one allowed
    /// to publish their subjects. (Each aggregate type has exactly one writer; a new
    /// type must be given one here.)
    pub fn owner(kind: AggregateType) -> NatsUser {
        match kind {
            AggregateType::Server
            | AggregateType::TargetInfrastructure
            | AggregateType::Migration
            | AggregateType::OptionalMigration => NatsUser::Accounts,
            AggregateType::TransitServer | AggregateType::TransitQueue => NatsUser::TransitPool,
            AggregateType::Transfer => NatsUser::DataMover,
            AggregateType::DnsZone | AggregateType::AccountTraffic | AggregateType::IpRoute => {
                NatsUser::Network
            }
            AggregateType::Loan => NatsUser::Billing,
            AggregateType::Notification => NatsUser::Notifications,
            AggregateType::ApiToken | AggregateType::UserGrants => NatsUser::Access,
        }
    }

    /// The aggregate types whose events this user may publish (every one for the
    /// setup user, none for the read side).
    pub fn publishes(self) -> Vec<AggregateType> {
        AggregateType::ALL
            .iter()
            .copied()
            .filter(|kind| self == NatsUser::Setup || NatsUser::owner(*kind) == self)
            .collect()
    }

    /// The prefix of its inboxes, where the server answers its requests and delivers
    /// its ordered consumers: its own, so that no other service can subscribe to
    /// its answers (which carry events).
    pub fn inbox_prefix(self) -> String {
        match self {
            NatsUser::Setup => "_INBOX".to_owned(),
            user => format!("_INBOX.{}", user.name()),
        }
    }

    /// The environment variable naming its credential file, e.g.
    /// `FERRY_NATS_DATA_MOVER_NKEY_FILE`.
    pub fn file_variable(self) -> String {
        format!(
            "FERRY_NATS_{}_NKEY_FILE",
            self.name().replace('-', "_").to_uppercase()
        )
    }

    /// The file name of its seed in a credentials directory: `<name>.nk`.
    pub fn file_name(self) -> String {
        format!("{}.nk", self.name())
    }
}

impl std::fmt::Display for NatsUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for NatsUser {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NatsUser::ALL
            .iter()
            .copied()
            .find(|user| user.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = NatsUser::ALL.iter().map(|u| u.name()).collect();
                format!("no NATS user {s:?}: one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aggregate_type_has_exactly_one_service_writing_it() {
        for kind in AggregateType::ALL {
            let writers: Vec<NatsUser> = NatsUser::ALL
                .iter()
                .copied()
                .filter(|u| *u != NatsUser::Setup && u.publishes().contains(kind))
                .collect();
            assert_eq!(writers, vec![NatsUser::owner(*kind)], "{kind}");
        }
        assert!(NatsUser::Read.publishes().is_empty());
        assert_eq!(NatsUser::Setup.publishes(), AggregateType::ALL);
    }

    #[test]
    fn names_variables_and_inboxes() {
        assert_eq!(
            NatsUser::DataMover.file_variable(),
            "FERRY_NATS_DATA_MOVER_NKEY_FILE"
        );
        assert_eq!(NatsUser::TransitPool.file_name(), "transit-pool.nk");
        assert_eq!(NatsUser::Accounts.inbox_prefix(), "_INBOX.accounts");
        for user in NatsUser::ALL {
            assert_eq!(user.name().parse::<NatsUser>(), Ok(*user));
        }
        assert!("admin".parse::<NatsUser>().is_err());
    }
}
