//! The fold, given events and then checked, without any database: the migration's
//! states and steps ([`migration`]), and everything else the read model keeps
//! ([`others`]).

mod migration;
mod others;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ferry_events::*;
use uuid::Uuid;

use super::*;

pub(super) const SERVER: &str = "srv-0042";
pub(super) const CONFIG: &str = "vps-4c-8g";
pub(super) const TRANSIT: &str = "tr-0007";

/// A history folded into one read model, one event at a time, a minute apart.
pub(super) struct History {
    pub(super) model: ReadModel,
    sequence: u64,
    clock: DateTime<Utc>,
    pub(super) envelopes: Vec<(u64, Envelope)>,
}

impl History {
    pub(super) fn new() -> Self {
        Self {
            model: ReadModel::default(),
            sequence: 0,
            clock: Utc
                .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
                .single()
                .expect("a valid time"),
            envelopes: Vec::new(),
        }
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock
    }

    pub(super) fn push(&mut self, aggregate_id: &str, event: impl Into<Event>) -> &mut Self {
        self.push_correlated(aggregate_id, event, Uuid::now_v7())
    }

    /// Like [`History::push`], as part of `correlation` (a migration).
    pub(super) fn push_correlated(
        &mut self,
        aggregate_id: &str,
        event: impl Into<Event>,
        correlation: Uuid,
    ) -> &mut Self {
        self.sequence += 1;
        self.clock += Duration::minutes(1);
        let mut envelope = Envelope::new(
            aggregate_id,
            event,
            correlation,
            correlation,
            Actor::system("test"),
        );
        envelope.occurred_at = self.clock;
        self.model.apply(self.sequence, &envelope);
        self.envelopes.push((self.sequence, envelope));
        self
    }

    pub(super) fn migration(&self, id: Uuid) -> &MigrationView {
        self.model
            .migrations
            .get(&id)
            .expect("the migration exists")
    }

    pub(super) fn account(&self, id: Uuid, account: &str) -> &MigrationAccount {
        self.migration(id)
            .account(account)
            .expect("the account exists")
    }

    pub(super) fn server(&self) -> &ServerView {
        self.model.servers.get(SERVER).expect("the server exists")
    }
}

pub(super) fn storage(root: &str) -> ServerStorage {
    ServerStorage {
        files_root: format!("/srv/{root}/files"),
        mail_root: format!("/srv/{root}/mail"),
        postgres_url: None,
        mysql_url: None,
        postgres_credential: None,
        mysql_credential: None,
    }
}

pub(super) fn spec(id: &str) -> AccountSpec {
    AccountSpec {
        account_id: id.into(),
        name: format!("name-{id}"),
        files_bytes: 1_000,
        mail_bytes: 500,
        databases: Vec::new(),
        domains: Vec::new(),
        languages: vec![php("7.4"), php("8.2")],
    }
}

pub(super) fn php(version: &str) -> LanguageVersion {
    LanguageVersion {
        language: "php".into(),
        version: version.into(),
    }
}

pub(super) fn registered() -> ServerRegistered {
    ServerRegistered {
        server_id: SERVER.into(),
        name: "bakery.hosting.example".into(),
        kind: ServerKind::Vps,
        configuration: CONFIG.into(),
        infrastructure_version: "v2020".into(),
        ipv4: vec!["192.0.2.10".into()],
        ipv6: Vec::new(),
        monthly_price: Money::new(3_000, "EUR"),
        customer_id: "c-42".into(),
        contact_email: "owner@bakery.example".into(),
        locale: "fr".into(),
        storage: storage("client"),
    }
}

pub(super) fn opened(migration: Uuid, accounts: &[&str]) -> MigrationOpened {
    MigrationOpened {
        migration_id: migration,
        server_id: SERVER.into(),
        customer_id: "c-42".into(),
        from_version: "v2020".into(),
        target_version: "v2026".into(),
        accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
    }
}

pub(super) fn scheduled(
    transfer: Uuid,
    migration: Uuid,
    kind: TransferKind,
    accounts: &[&str],
) -> TransferScheduled {
    TransferScheduled {
        transfer_id: transfer,
        kind,
        migration_id: Some(migration),
        server_id: SERVER.into(),
        accounts: accounts.iter().map(|a| spec(a)).collect(),
        source: Endpoint {
            server_id: SERVER.into(),
            storage: storage("client"),
        },
        destination: Endpoint {
            server_id: TRANSIT.into(),
            storage: storage("transit"),
        },
    }
}

pub(super) fn completed(downtime_ms: Option<u64>) -> TransferCompleted {
    TransferCompleted {
        bytes_copied: 1_500,
        duration_ms: 9_000,
        downtime_ms,
        database_methods: Vec::new(),
        test_address: None,
    }
}

pub(super) fn transit_added() -> TransitServerAdded {
    TransitServerAdded {
        name: "transit-07.hosting.example".into(),
        configuration: CONFIG.into(),
        infrastructure_version: "v2026".into(),
        ipv4: vec!["192.0.2.70".into()],
        ipv6: Vec::new(),
        storage: storage("transit"),
    }
}

/// A cutover (or rollback, relocation) transfer run to completion.
pub(super) fn run_transfer(
    h: &mut History,
    transfer: Uuid,
    migration: Uuid,
    kind: TransferKind,
    account: &str,
    downtime: u64,
) {
    let id = transfer.to_string();
    h.push(&id, scheduled(transfer, migration, kind, &[account]))
        .push(&id, TransferStarted {})
        .push(
            &id,
            TransferProgressed {
                phase: TransferPhase::Databases,
                account_id: Some(account.into()),
                bytes_done: 400,
                bytes_total: 1_000,
                run_id: None,
                run_bytes_copied: 0,
                bytes_copied: 0,
            },
        )
        .push(
            &id,
            TransferVerified {
                files_checked: 12,
                databases: Vec::new(),
            },
        )
        .push(&id, completed(Some(downtime)));
}

/// Server registered, migration opened, every account ready, transit requested.
pub(super) fn up_to_transit_request(h: &mut History, migration: Uuid, accounts: &[&str]) {
    h.push(SERVER, registered());
    for account in accounts {
        h.push(
            SERVER,
            AccountAdded {
                account: spec(account),
            },
        );
    }
    let id = migration.to_string();
    h.push(
        SERVER,
        RequiredMigrationOpened {
            migration_id: migration,
            target_version: "v2026".into(),
        },
    )
    .push(&id, opened(migration, accounts));
    for account in accounts {
        h.push(
            &id,
            AccountMarkedReady {
                account_id: (*account).into(),
            },
        );
    }
    h.push(
        &id,
        TransitServerRequested {
            configuration: CONFIG.into(),
        },
    );
}

/// The transit server reserved, installed and lent: the migration reaches step 4.
pub(super) fn transit_ready(h: &mut History, migration: Uuid) {
    let id = migration.to_string();
    h.push(
        TRANSIT,
        TransitServerReserved {
            migration_id: migration,
            client_server_id: SERVER.into(),
        },
    )
    .push(
        &id,
        TransitServerAssigned {
            transit_server_id: TRANSIT.into(),
        },
    )
    .push(
        TRANSIT,
        TransitInstallationStarted {
            migration_id: migration,
            infrastructure_version: "v2026".into(),
            expected_duration_ms: 3_600_000,
        },
    )
    .push(
        TRANSIT,
        TransitInstallationCompleted {
            migration_id: migration,
        },
    );
    let lent_at = h.now();
    h.push(
        TRANSIT,
        TransitServerLent {
            migration_id: migration,
            lent_at,
        },
    )
    .push(
        &id,
        TransitServerReady {
            transit_server_id: TRANSIT.into(),
            ready_at: lent_at,
        },
    );
}

pub(super) fn states(view: &MigrationView) -> Vec<(MigrationStatus, Option<u8>)> {
    view.history.iter().map(|c| (c.state, c.step)).collect()
}
