//! Given/when/then of the server aggregate.

use super::*;
use ferry_core::RefusalKind::{Conflict, Forbidden, Invalid, NotFound};
use ferry_core::scenario::given;
use ferry_events::{DnsHosting, DomainSpec, MailHosting, Money, ServerKind, ServerStorage};

const M1: Uuid = Uuid::from_u128(1);
const M2: Uuid = Uuid::from_u128(2);

fn php(version: &str) -> LanguageVersion {
    LanguageVersion {
        language: "php".into(),
        version: version.into(),
    }
}

fn registered() -> ServerRegistered {
    ServerRegistered {
        server_id: "srv-42".into(),
        name: "bakery.hosting.example".into(),
        kind: ServerKind::Vps,
        configuration: "vps-4c-8g".into(),
        infrastructure_version: "v2020".into(),
        ipv4: vec!["192.0.2.10".into()],
        ipv6: vec!["2001:db8::10".into()],
        monthly_price: Money::new(4_900, "EUR"),
        customer_id: "c-42".into(),
        contact_email: "owner@bakery.example".into(),
        locale: "fr".into(),
        storage: ServerStorage {
            files_root: "/srv/srv-42/files".into(),
            mail_root: "/srv/srv-42/mail".into(),
            postgres_url: None,
            mysql_url: None,
            postgres_credential: None,
            mysql_credential: None,
        },
    }
}

fn account(id: &str) -> AccountSpec {
    AccountSpec {
        account_id: id.into(),
        name: id.replace("acc-", "site"),
        files_bytes: 10,
        mail_bytes: 10,
        databases: vec![],
        domains: vec![DomainSpec {
            name: format!("{id}.example"),
            dns: DnsHosting::Hosted,
            mail: MailHosting::External,
        }],
        languages: vec![php("7.4"), php("8.3")],
    }
}

fn register(accounts: Vec<AccountSpec>) -> ServerCommand {
    ServerCommand::Register {
        actor: Actor::support("jdoe"),
        server: registered(),
        accounts,
    }
}

fn history() -> Vec<ServerEvent> {
    vec![
        registered().into(),
        AccountAdded {
            account: account("acc-1"),
        }
        .into(),
    ]
}

#[test]
fn a_new_server_is_registered_with_its_accounts() {
    given::<ServerDecider>([])
        .when(register(vec![account("acc-1")]))
        .then(history());
}

#[test]
fn registering_the_same_server_again_changes_nothing() {
    given::<ServerDecider>(history())
        .when(register(vec![account("acc-1")]))
        .then_nothing();
}

#[test]
fn a_re_import_adds_changes_and_removes_accounts_and_details() {
    let mut changed = account("acc-1");
    changed.files_bytes = 99;
    let mut server = registered();
    server.contact_email = "new@bakery.example".into();
    let command = ServerCommand::Register {
        actor: Actor::support("jdoe"),
        server: server.clone(),
        accounts: vec![changed.clone(), account("acc-2")],
    };
    let events = given::<ServerDecider>(with_account(history(), "acc-3"))
        .when(command)
        .events();
    assert!(
        matches!(&events[0], ServerEvent::ServerDetailsChanged(d) if d.contact_email == "new@bakery.example")
    );
    assert_eq!(events[1], AccountChanged { account: changed }.into());
    assert_eq!(
        events[2],
        AccountAdded {
            account: account("acc-2")
        }
        .into()
    );
    assert_eq!(
        events[3],
        AccountRemoved {
            account_id: "acc-3".into()
        }
        .into()
    );
}

fn with_account(mut events: Vec<ServerEvent>, id: &str) -> Vec<ServerEvent> {
    events.push(
        AccountAdded {
            account: account(id),
        }
        .into(),
    );
    events
}

#[test]
fn a_re_import_after_step_2_does_not_undo_the_language_removal() {
    let removed = {
        let mut h = history();
        h.push(
            LanguageVersionsRemoved {
                account_id: "acc-1".into(),
                versions: vec![php("7.4")],
            }
            .into(),
        );
        h
    };
    given::<ServerDecider>(removed)
        .when(register(vec![account("acc-1")]))
        .then_nothing();
}

#[test]
fn the_infrastructure_version_changes_only_through_a_migration() {
    let mut server = registered();
    server.infrastructure_version = "v2026".into();
    given::<ServerDecider>(history())
        .when(ServerCommand::Register {
            actor: Actor::support("jdoe"),
            server,
            accounts: vec![account("acc-1")],
        })
        .then_refused_because(Conflict, "only through a migration");
    given::<ServerDecider>(history())
        .when(ServerCommand::ChangeInfrastructureVersion { to: "v2026".into() })
        .then(vec![
            InfrastructureVersionChanged {
                from: "v2020".into(),
                to: "v2026".into(),
            }
            .into(),
        ]);
}

#[test]
fn customers_cannot_register_servers() {
    given::<ServerDecider>([])
        .when(ServerCommand::Register {
            actor: Actor::customer("c-42"),
            server: registered(),
            accounts: vec![],
        })
        .then_refused_because(Forbidden, "only support");
}

/// Spoils one field of a registration.
type Spoil = Box<dyn Fn(&mut ServerRegistered, &mut Vec<AccountSpec>)>;

#[test]
fn bad_registrations_are_refused_naming_the_field() {
    let cases: Vec<(Spoil, &str)> = vec![
        (Box::new(|s, _| s.ipv4 = vec!["300.1.1.1".into()]), "ipv4"),
        (Box::new(|s, _| s.ipv6 = vec!["nope".into()]), "ipv6"),
        (
            Box::new(|s, _| {
                s.ipv4.clear();
                s.ipv6.clear();
            }),
            "at least one IP",
        ),
        (
            Box::new(|s, _| s.contact_email = "owner".into()),
            "contact_email",
        ),
        (
            Box::new(|s, _| s.monthly_price = Money::new(-1, "EUR")),
            "negative",
        ),
        (
            Box::new(|s, _| s.monthly_price = Money::new(1, "euro")),
            "ISO 4217",
        ),
        (
            Box::new(|s, _| s.configuration = "vps 4c".into()),
            "configuration",
        ),
        (Box::new(|_, a| a.push(account("acc-1"))), "listed twice"),
        (
            Box::new(|_, a| a[0].name = "../etc".into()),
            "not an account name",
        ),
        (
            Box::new(|_, a| a[0].domains[0].name = "Bakery.Example".into()),
            "lowercase domain",
        ),
        (
            Box::new(|_, a| {
                a[0].databases.push(ferry_events::DatabaseSpec {
                    engine: ferry_events::DatabaseEngine::Postgres,
                    name: "shop".into(),
                    size_bytes: 1,
                    version: "15".into(),
                })
            }),
            "postgres_url",
        ),
    ];
    refused(cases);
}

fn refused(cases: Vec<(Spoil, &str)>) {
    for (spoil, reason) in cases {
        let (mut server, mut accounts) = (registered(), vec![account("acc-1")]);
        spoil(&mut server, &mut accounts);
        given::<ServerDecider>([])
            .when(ServerCommand::Register {
                actor: Actor::support("jdoe"),
                server,
                accounts,
            })
            .then_refused_because(Invalid, reason);
    }
}

/// Issue 14's probes: what reaches a file system, a tool's command line or a database
/// server is refused, with the reason, and nothing is recorded.
#[test]
fn hostile_registrations_are_refused_naming_the_field() {
    fn root(root: &'static str) -> Spoil {
        Box::new(move |s, _| s.storage.files_root = root.into())
    }
    fn mail_root(root: &'static str) -> Spoil {
        Box::new(move |s, _| s.storage.mail_root = root.into())
    }
    fn pg_url(url: &'static str) -> Spoil {
        Box::new(move |s, _| s.storage.postgres_url = Some(url.into()))
    }
    fn database(name: &'static str, size_bytes: u64) -> Spoil {
        Box::new(move |s, a| {
            s.storage.postgres_url = Some("postgres://ferry@db-42:5432/postgres".into());
            a[0].databases.push(ferry_events::DatabaseSpec {
                engine: ferry_events::DatabaseEngine::Postgres,
                name: name.into(),
                size_bytes,
                version: "15".into(),
            });
        })
    }
    refused(vec![
        (
            root("/"),
            "storage.files_root: \"/\" is the file system's root",
        ),
        (root("/etc"), "system directory"),
        (root("srv/files"), "not an absolute path"),
        (root("-oProxyCommand=sh"), "starts with '-'"),
        (root("/srv/../etc"), "normalised"),
        (root("/srv/files/"), "ends with '/'"),
        (
            mail_root("/etc"),
            "storage.mail_root: \"/etc\" is a system directory",
        ),
        (pg_url("postgres://u@db;reboot/x"), "shell metacharacter"),
        (pg_url("postgres://u@-oProxyCommand=sh/x"), "host"),
        (pg_url("postgres://u@db/x?options=-c%20a%3Db"), "options"),
        (database("-d", 1), "not a database name"),
        (database("--help", 1), "not a database name"),
        (database("shop", u64::MAX), "1 PiB"),
        (
            Box::new(|s, a| {
                database("x", 1)(s, a);
                s.storage.postgres_url =
                    Some("postgres://ferry@db-42/postgres?prefix=srv42_".into());
                a[0].databases[0].name = "x".repeat(60);
            }),
            "longer than 63 bytes",
        ),
        (
            Box::new(|_, a| a[0].name = "-rf".into()),
            "not an account name",
        ),
        (
            Box::new(|_, a| a[0].name = "ssl/..".into()),
            "not an account name",
        ),
        (Box::new(|_, a| a[0].files_bytes = u64::MAX), "files_bytes"),
        (Box::new(|_, a| a[0].mail_bytes = 1 << 51), "1 PiB"),
        (
            Box::new(|_, a| a[0].account_id = "-acc".into()),
            "account_id",
        ),
        (Box::new(|s, _| s.server_id = "-srv".into()), "server_id"),
    ]);
    // Within bounds, the largest sizes are taken.
    let mut big = account("acc-1");
    big.files_bytes = ferry_events::input::MAX_ITEM_BYTES;
    big.mail_bytes = ferry_events::input::MAX_ITEM_BYTES;
    given::<ServerDecider>([])
        .when(register(vec![big.clone()]))
        .then(vec![
            registered().into(),
            AccountAdded { account: big }.into(),
        ]);
}

#[test]
fn a_database_service_moves_only_to_a_well_formed_url() {
    given::<ServerDecider>(history())
        .when(ServerCommand::MoveDatabaseService {
            engine: ferry_events::DatabaseEngine::Postgres,
            url: "postgres://u@pg16;curl evil/postgres".into(),
            credential: None,
            version: "16".into(),
        })
        .then_refused_because(Invalid, "postgres_url");
}

#[test]
fn a_database_service_never_records_a_password() {
    given::<ServerDecider>(history())
        .when(ServerCommand::MoveDatabaseService {
            engine: ferry_events::DatabaseEngine::Postgres,
            url: "postgres://u:hunter2@pg16/postgres".into(),
            credential: None,
            version: "16".into(),
        })
        .then_refused_because(Invalid, "secret store");
}

#[test]
fn one_required_migration_at_a_time() {
    let open = |m| ServerCommand::OpenMigration {
        migration_id: m,
        target_version: "v2026".into(),
    };
    given::<ServerDecider>(history()).when(open(M1)).then(vec![
        RequiredMigrationOpened {
            migration_id: M1,
            target_version: "v2026".into(),
        }
        .into(),
    ]);
    let mut held = history();
    held.push(
        RequiredMigrationOpened {
            migration_id: M1,
            target_version: "v2026".into(),
        }
        .into(),
    );
    given::<ServerDecider>(held.clone())
        .when(open(M1))
        .then_nothing();
    given::<ServerDecider>(held.clone())
        .when(open(M2))
        .then_refused_because(Conflict, "already in progress");
    given::<ServerDecider>(held.clone())
        .when(ServerCommand::CloseMigration {
            migration_id: M1,
            outcome: MigrationOutcome::Cancelled,
        })
        .then(vec![
            RequiredMigrationClosed {
                migration_id: M1,
                outcome: MigrationOutcome::Cancelled,
            }
            .into(),
        ]);
    held.push(
        RequiredMigrationClosed {
            migration_id: M1,
            outcome: MigrationOutcome::Cancelled,
        }
        .into(),
    );
    given::<ServerDecider>(held).when(open(M2)).then(vec![
        RequiredMigrationOpened {
            migration_id: M2,
            target_version: "v2026".into(),
        }
        .into(),
    ]);
}

#[test]
fn accounts_are_not_removed_during_a_migration() {
    let mut held = with_account(history(), "acc-2");
    held.push(
        RequiredMigrationOpened {
            migration_id: M1,
            target_version: "v2026".into(),
        }
        .into(),
    );
    given::<ServerDecider>(held)
        .when(register(vec![account("acc-1")]))
        .then_refused_because(Conflict, "acc-2");
}

#[test]
fn owner_and_configuration_are_fixed_during_a_migration() {
    let mut held = history();
    held.push(
        RequiredMigrationOpened {
            migration_id: M1,
            target_version: "v2026".into(),
        }
        .into(),
    );
    let changed = |change: fn(&mut ServerRegistered)| {
        let mut server = registered();
        change(&mut server);
        ServerCommand::Register {
            actor: Actor::support("jdoe"),
            server,
            accounts: vec![account("acc-1")],
        }
    };
    given::<ServerDecider>(held.clone())
        .when(changed(|s| s.customer_id = "c-77".into()))
        .then_refused_because(Conflict, "customer_id cannot change while migration");
    given::<ServerDecider>(held.clone())
        .when(changed(|s| s.configuration = "vps-8c-16g".into()))
        .then_refused_because(Conflict, "configuration cannot change while migration");
    // Other details still follow the fleet; without a migration, both may change.
    let details = |change: fn(&mut ServerRegistered)| {
        let mut server = registered();
        change(&mut server);
        vec![super::details_of(&server).into()]
    };
    given::<ServerDecider>(held)
        .when(changed(|s| s.contact_email = "ops@bakery.example".into()))
        .then(details(|s| s.contact_email = "ops@bakery.example".into()));
    given::<ServerDecider>(history())
        .when(changed(|s| s.customer_id = "c-77".into()))
        .then(details(|s| s.customer_id = "c-77".into()));
}

#[test]
fn languages_are_removed_and_restored() {
    given::<ServerDecider>(history())
        .when(ServerCommand::RemoveLanguages {
            account_id: "acc-1".into(),
            versions: vec![php("7.4"), php("5.6")],
        })
        .then(vec![
            LanguageVersionsRemoved {
                account_id: "acc-1".into(),
                versions: vec![php("7.4")],
            }
            .into(),
        ]);
    let mut removed = history();
    removed.push(
        LanguageVersionsRemoved {
            account_id: "acc-1".into(),
            versions: vec![php("7.4")],
        }
        .into(),
    );
    given::<ServerDecider>(removed.clone())
        .when(ServerCommand::RestoreLanguages {
            account_id: "acc-1".into(),
            versions: vec![php("7.4")],
        })
        .then(vec![
            LanguageVersionsRestored {
                account_id: "acc-1".into(),
                versions: vec![php("7.4")],
            }
            .into(),
        ]);
    given::<ServerDecider>(history())
        .when(ServerCommand::RestoreLanguages {
            account_id: "acc-1".into(),
            versions: vec![php("7.4")],
        })
        .then_nothing();
    given::<ServerDecider>(history())
        .when(ServerCommand::RemoveLanguages {
            account_id: "acc-9".into(),
            versions: vec![],
        })
        .then_refused_because(NotFound, "acc-9");
}

#[test]
fn an_unregistered_server_refuses_everything_but_registration() {
    given::<ServerDecider>([])
        .when(ServerCommand::OpenMigration {
            migration_id: M1,
            target_version: "v2026".into(),
        })
        .then_refused_because(NotFound, "not registered");
}

#[test]
fn a_moved_database_service_changes_where_the_databases_live_and_their_version() {
    let mut server = registered();
    server.storage.postgres_url = Some("postgres://ferry@pg13.example/postgres".into());
    let mut shop = account("acc-1");
    shop.databases = vec![
        ferry_events::DatabaseSpec {
            engine: DatabaseEngine::Postgres,
            name: "shop".into(),
            size_bytes: 1,
            version: "13".into(),
        },
        ferry_events::DatabaseSpec {
            engine: DatabaseEngine::Mysql,
            name: "blog".into(),
            size_bytes: 1,
            version: "10.6".into(),
        },
    ];
    let history: Vec<ServerEvent> = vec![
        server.clone().into(),
        AccountAdded {
            account: shop.clone(),
        }
        .into(),
        AccountAdded {
            account: account("acc-2"),
        }
        .into(),
    ];
    let moved = ServerCommand::MoveDatabaseService {
        engine: DatabaseEngine::Postgres,
        url: "postgres://ferry@pg16.example/postgres".into(),
        credential: None,
        version: "16".into(),
    };
    let mut storage = server.storage.clone();
    storage.postgres_url = Some("postgres://ferry@pg16.example/postgres".into());
    let mut upgraded = shop.clone();
    upgraded.databases[0].version = "16".into();
    let expected: Vec<ServerEvent> = vec![
        ServerDetailsChanged {
            storage,
            ..details_of(&server)
        }
        .into(),
        AccountChanged { account: upgraded }.into(),
    ];
    let events = given::<ServerDecider>(history.clone())
        .when(moved.clone())
        .events();
    assert_eq!(
        events, expected,
        "the MariaDB database and acc-2 are untouched"
    );
    let mut after = history;
    after.extend(events);
    given::<ServerDecider>(after).when(moved).then_nothing();
}

#[test]
fn one_optional_migration_per_service_at_a_time() {
    let (first, second) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
    let schedule = |id, service| ferry_events::OptionalMigrationScheduled {
        optional_migration_id: id,
        server_id: "srv-0042".into(),
        customer_id: "c-42".into(),
        service,
        from_version: "13".into(),
        to_version: "16".into(),
        scheduled_for: None,
    };
    let claim = |id, service| ServerCommand::ClaimService {
        schedule: schedule(id, service),
    };
    let claimed = |id, service| -> ServerEvent {
        ServiceMigrationClaimed {
            schedule: schedule(id, service),
        }
        .into()
    };
    given::<ServerDecider>(history())
        .when(claim(first, ServiceKind::Postgresql))
        .then(vec![claimed(first, ServiceKind::Postgresql)]);
    let mut held = history();
    held.push(claimed(first, ServiceKind::Postgresql));
    given::<ServerDecider>(held.clone())
        .when(claim(first, ServiceKind::Postgresql))
        .then_nothing();
    given::<ServerDecider>(held.clone())
        .when(claim(second, ServiceKind::Postgresql))
        .then_refused_because(Conflict, "is not finished");
    given::<ServerDecider>(held.clone())
        .when(claim(second, ServiceKind::Mysql))
        .then(vec![claimed(second, ServiceKind::Mysql)]);
    let release = |id| ServerCommand::ReleaseService {
        optional_migration_id: id,
        service: ServiceKind::Postgresql,
    };
    given::<ServerDecider>(held.clone())
        .when(release(second))
        .then_nothing();
    let released: ServerEvent = ServiceMigrationReleased {
        optional_migration_id: first,
        service: ServiceKind::Postgresql,
    }
    .into();
    given::<ServerDecider>(held.clone())
        .when(release(first))
        .then(vec![released.clone()]);
    held.push(released);
    given::<ServerDecider>(held)
        .when(claim(second, ServiceKind::Postgresql))
        .then(vec![claimed(second, ServiceKind::Postgresql)]);
}
