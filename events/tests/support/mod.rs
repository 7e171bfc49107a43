//! One realistic sample of every event type, used only to write the golden fixtures
//! of new event types (see `examples/write_fixtures.rs`). The fixtures on
//! disk, not these samples, are the compatibility guard.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use ferry_events::*;
use uuid::Uuid;

/// The required migration every sample belongs to.
pub const MIGRATION: &str = "0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c01";
const OPTIONAL_MIGRATION: &str = "0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c02";
const CUTOVER: &str = "0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c03";
const NOTIFICATION: &str = "0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c04";
const API_TOKEN: &str = "0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c05";
/// `user_grants_id("c-42", "alice")`.
const USER_GRANTS: &str = "f420b30f-9778-585c-aaad-0a688d9e1e2c";
const COMMAND: &str = "0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c05";
const TEST_COPY: &str = "0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c06";
const ROLLBACK: &str = "0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c07";
const RELOCATION: &str = "0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c08";
const SERVICE_TRANSFER: &str = "0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c09";

fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).expect("sample uuids are valid")
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("sample instants are valid RFC 3339")
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("sample days are valid")
}

fn php(version: &str) -> LanguageVersion {
    LanguageVersion {
        language: "php".into(),
        version: version.into(),
    }
}

fn storage(server: &str) -> ServerStorage {
    ServerStorage {
        files_root: format!("/srv/ferry/{server}/files"),
        mail_root: format!("/srv/ferry/{server}/mail"),
        postgres_url: Some(format!("postgres://ferry@db-{server}:5432/postgres")),
        mysql_url: Some(format!("mysql://ferry@db-{server}:3306")),
        postgres_credential: Some(credential(&format!("postgres_db-{server}_5432_ferry"))),
        mysql_credential: None,
    }
}

fn credential(name: &str) -> CredentialRef {
    CredentialRef::new(name).expect("sample references are valid")
}

fn endpoint(server: &str) -> Endpoint {
    Endpoint {
        server_id: server.into(),
        storage: storage(server),
    }
}

fn eur(cents: i64) -> Money {
    Money::new(cents, "EUR")
}

fn account() -> AccountSpec {
    AccountSpec {
        account_id: "acc-1207".into(),
        name: "bakery".into(),
        files_bytes: 3_221_225_472,
        mail_bytes: 1_073_741_824,
        databases: vec![
            DatabaseSpec {
                engine: DatabaseEngine::Postgres,
                name: "bakery_shop".into(),
                size_bytes: 2_147_483_648,
                version: "13".into(),
            },
            DatabaseSpec {
                engine: DatabaseEngine::Mysql,
                name: "bakery_blog".into(),
                size_bytes: 536_870_912,
                version: "10.5".into(),
            },
        ],
        domains: vec![
            DomainSpec {
                name: "bakery.example".into(),
                dns: DnsHosting::Hosted,
                mail: MailHosting::Hosted,
            },
            DomainSpec {
                name: "bakery-blog.example".into(),
                dns: DnsHosting::External,
                mail: MailHosting::Hosted,
            },
        ],
        languages: vec![php("7.4"), php("8.1")],
    }
}

fn a_record(value: &str) -> DnsRecord {
    DnsRecord {
        name: "bakery.example".into(),
        kind: DnsRecordKind::A,
        value: value.into(),
        priority: None,
        ttl_secs: 300,
    }
}

fn aaaa_record(value: &str) -> DnsRecord {
    DnsRecord {
        name: "bakery.example".into(),
        kind: DnsRecordKind::Aaaa,
        value: value.into(),
        priority: None,
        ttl_secs: 300,
    }
}

fn database_versions() -> Vec<DatabaseVersion> {
    vec![
        DatabaseVersion {
            engine: DatabaseEngine::Postgres,
            version: "16".into(),
        },
        DatabaseVersion {
            engine: DatabaseEngine::Postgres,
            version: "17".into(),
        },
        DatabaseVersion {
            engine: DatabaseEngine::Mysql,
            version: "10.11".into(),
        },
    ]
}

/// One sample per event type: (aggregate id, event, actor).
pub fn samples() -> Vec<(String, Event, Actor)> {
    let server = || "srv-0042".to_owned();
    let migration = || MIGRATION.to_owned();
    let customer = || Actor::customer("c-42");
    let support = || Actor::support("jdoe");
    let system = |service: &str| Actor::system(service);
    let accounts_service = || system("accounts");
    let optional_scheduled = || OptionalMigrationScheduled {
        optional_migration_id: uuid(OPTIONAL_MIGRATION),
        server_id: server(),
        customer_id: "c-42".into(),
        service: ServiceKind::Postgresql,
        from_version: "13".into(),
        to_version: "16".into(),
        scheduled_for: Some(at("2026-12-01T06:00:00Z")),
    };
    let ipv4 = || vec!["203.0.113.42".to_owned()];
    let ipv6 = || vec!["2001:db8::42".to_owned()];

    vec![
        // server
        (
            server(),
            ServerRegistered {
                server_id: server(),
                name: "bakery.hosting.example".into(),
                kind: ServerKind::Vps,
                configuration: "vps-4c-8g".into(),
                infrastructure_version: "v2020".into(),
                ipv4: ipv4(),
                ipv6: ipv6(),
                monthly_price: eur(4_500),
                customer_id: "c-42".into(),
                contact_email: "owner@bakery.example".into(),
                locale: "fr".into(),
                storage: storage("srv-0042"),
            }
            .into(),
            support(),
        ),
        (
            server(),
            ServerDetailsChanged {
                name: "bakery.hosting.example".into(),
                kind: ServerKind::Vps,
                configuration: "vps-4c-8g".into(),
                ipv4: ipv4(),
                ipv6: ipv6(),
                monthly_price: eur(4_900),
                customer_id: "c-42".into(),
                contact_email: "it@bakery.example".into(),
                locale: "en".into(),
                storage: storage("srv-0042"),
            }
            .into(),
            support(),
        ),
        (server(), AccountAdded { account: account() }.into(), customer()),
        (
            server(),
            AccountChanged {
                account: AccountSpec {
                    files_bytes: 3_758_096_384,
                    ..account()
                },
            }
            .into(),
            accounts_service(),
        ),
        (
            server(),
            AccountRemoved {
                account_id: "acc-1301".into(),
            }
            .into(),
            customer(),
        ),
        (
            server(),
            LanguageVersionsRemoved {
                account_id: "acc-1207".into(),
                versions: vec![php("7.4")],
            }
            .into(),
            support(),
        ),
        (
            server(),
            LanguageVersionsRestored {
                account_id: "acc-1207".into(),
                versions: vec![php("7.4")],
            }
            .into(),
            support(),
        ),
        (
            server(),
            InfrastructureVersionChanged {
                from: "v2020".into(),
                to: "v2026".into(),
            }
            .into(),
            support(),
        ),
        // target_infrastructure
        (
            "v2026".into(),
            InfrastructureVersionPublished {
                version: "v2026".into(),
                languages: vec![php("8.1"), php("8.3"), php("8.4")],
                databases: database_versions(),
            }
            .into(),
            support(),
        ),
        (
            "v2026".into(),
            InfrastructureVersionSupportChanged {
                languages: vec![php("8.1"), php("8.2"), php("8.3"), php("8.4")],
                databases: database_versions(),
            }
            .into(),
            support(),
        ),
        // migration
        (
            migration(),
            MigrationOpened {
                migration_id: uuid(MIGRATION),
                server_id: server(),
                customer_id: "c-42".into(),
                from_version: "v2020".into(),
                target_version: "v2026".into(),
                accounts: vec!["acc-1207".into(), "acc-1208".into()],
            }
            .into(),
            support(),
        ),
        (
            migration(),
            AccountCompatibilityChecked {
                account_id: "acc-1207".into(),
                issues: vec![
                    Incompatibility {
                        kind: IncompatibilityKind::LanguageVersionRemoved,
                        subject: "php 7.4".into(),
                        detail: "PHP 7.4 is not available on v2026; use 8.1 or later".into(),
                    },
                    Incompatibility {
                        kind: IncompatibilityKind::DatabaseVersionUpgraded,
                        subject: "bakery_shop".into(),
                        detail: "PostgreSQL 13 becomes 16; check the application's queries"
                            .into(),
                    },
                ],
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            TestMigrationRequested {
                account_id: "acc-1207".into(),
                transfer_id: uuid(TEST_COPY),
            }
            .into(),
            customer(),
        ),
        (
            migration(),
            TestMigrationAvailable {
                account_id: "acc-1207".into(),
                transfer_id: uuid(TEST_COPY),
                test_address: "test-0042.hosting.example".into(),
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            TestMigrationFailed {
                account_id: "acc-1207".into(),
                transfer_id: uuid(TEST_COPY),
                reason: "pg_restore: database \"bakery_shop\" uses extension \"postgis\" 2.5, unavailable on v2026".into(),
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            TestMigrationDiscarded {
                account_id: "acc-1207".into(),
                transfer_id: uuid(TEST_COPY),
            }
            .into(),
            customer(),
        ),
        (
            migration(),
            AccountMarkedReady {
                account_id: "acc-1207".into(),
            }
            .into(),
            customer(),
        ),
        (
            migration(),
            AccountReadinessWithdrawn {
                account_id: "acc-1207".into(),
            }
            .into(),
            customer(),
        ),
        (
            migration(),
            TransitServerRequested {
                configuration: "vps-4c-8g".into(),
            }
            .into(),
            customer(),
        ),
        (
            migration(),
            ObsoleteLanguagesRemoved {
                removals: vec![AccountLanguages {
                    account_id: "acc-1207".into(),
                    versions: vec![php("7.4")],
                }],
            }
            .into(),
            support(),
        ),
        (
            migration(),
            ObsoleteLanguagesRestored {
                restorations: vec![AccountLanguages {
                    account_id: "acc-1207".into(),
                    versions: vec![php("7.4")],
                }],
            }
            .into(),
            support(),
        ),
        (
            migration(),
            TransitServerQueued {
                configuration: "vps-4c-8g".into(),
                position: 2,
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            TransitServerAssigned {
                transit_server_id: "tr-0007".into(),
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            TransitServerReady {
                transit_server_id: "tr-0007".into(),
                ready_at: at("2026-11-21T16:40:00Z"),
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            AccountMoveStarted {
                account_id: "acc-1207".into(),
                transfer_id: uuid(CUTOVER),
                estimated_downtime_ms: 150_000,
            }
            .into(),
            customer(),
        ),
        (
            migration(),
            AccountMoved {
                account_id: "acc-1207".into(),
                transfer_id: uuid(CUTOVER),
                downtime_ms: 138_250,
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            AccountMoveFailed {
                account_id: "acc-1207".into(),
                transfer_id: uuid(CUTOVER),
                reason: "verification failed: table bakery_shop.orders has 10412 rows at the source, 10411 at the destination".into(),
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            AccountVerified {
                account_id: "acc-1207".into(),
            }
            .into(),
            customer(),
        ),
        (
            migration(),
            AccountRollbackStarted {
                account_id: "acc-1207".into(),
                transfer_id: uuid(ROLLBACK),
                estimated_downtime_ms: 150_000,
            }
            .into(),
            customer(),
        ),
        (
            migration(),
            AccountRolledBack {
                account_id: "acc-1207".into(),
                transfer_id: uuid(ROLLBACK),
                downtime_ms: 141_900,
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            AccountRollbackFailed {
                account_id: "acc-1207".into(),
                transfer_id: uuid(ROLLBACK),
                reason: "rsync: connection to srv-0042 timed out".into(),
            }
            .into(),
            accounts_service(),
        ),
        (migration(), ReinstallRequested {}.into(), customer()),
        (
            migration(),
            ReinstallStarted {
                ips_rerouted_to: "tr-0007".into(),
            }
            .into(),
            support(),
        ),
        (
            migration(),
            ServerReinstalled {
                infrastructure_version: "v2026".into(),
            }
            .into(),
            support(),
        ),
        (
            migration(),
            AccountRelocationStarted {
                account_id: "acc-1207".into(),
                transfer_id: uuid(RELOCATION),
                estimated_downtime_ms: 150_000,
            }
            .into(),
            support(),
        ),
        (
            migration(),
            AccountRelocated {
                account_id: "acc-1207".into(),
                transfer_id: uuid(RELOCATION),
                downtime_ms: 136_700,
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            AccountRelocationFailed {
                account_id: "acc-1207".into(),
                transfer_id: uuid(RELOCATION),
                reason: "mysql: access denied for user 'ferry'@'srv-0042'".into(),
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            MigrationCompleted {
                total_downtime_ms: 512_300,
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            MigrationCancelled {
                reason: "the customer is moving to a larger server instead".into(),
            }
            .into(),
            support(),
        ),
        // optional_migration
        (
            OPTIONAL_MIGRATION.into(),
            optional_scheduled().into(),
            customer(),
        ),
        (
            OPTIONAL_MIGRATION.into(),
            OptionalMigrationStarted {
                transfer_id: uuid(SERVICE_TRANSFER),
            }
            .into(),
            accounts_service(),
        ),
        (
            OPTIONAL_MIGRATION.into(),
            OptionalMigrationApplied {
                downtime_ms: 95_400,
            }
            .into(),
            accounts_service(),
        ),
        (
            OPTIONAL_MIGRATION.into(),
            OptionalMigrationFailed {
                reason: "pg_upgrade: incompatible extension \"postgis\"".into(),
            }
            .into(),
            accounts_service(),
        ),
        (
            OPTIONAL_MIGRATION.into(),
            OptionalMigrationCancelled {
                reason: "postponed by the customer".into(),
            }
            .into(),
            customer(),
        ),
        // transit_server
        (
            "tr-0007".into(),
            TransitServerAdded {
                name: "transit-07.hosting.example".into(),
                configuration: "vps-4c-8g".into(),
                infrastructure_version: "v2026".into(),
                ipv4: vec!["198.51.100.7".into()],
                ipv6: vec!["2001:db8:7::7".into()],
                storage: storage("tr-0007"),
            }
            .into(),
            support(),
        ),
        (
            "tr-0007".into(),
            TransitServerReserved {
                migration_id: uuid(MIGRATION),
                client_server_id: server(),
            }
            .into(),
            system("transit-pool"),
        ),
        (
            "tr-0007".into(),
            TransitInstallationStarted {
                migration_id: uuid(MIGRATION),
                infrastructure_version: "v2026".into(),
                expected_duration_ms: 14_400_000,
            }
            .into(),
            system("transit-pool"),
        ),
        (
            "tr-0007".into(),
            TransitInstallationCompleted {
                migration_id: uuid(MIGRATION),
            }
            .into(),
            system("transit-pool"),
        ),
        (
            "tr-0007".into(),
            TransitInstallationFailed {
                migration_id: uuid(MIGRATION),
                reason: "disk /dev/sdb failed its SMART check".into(),
            }
            .into(),
            system("transit-pool"),
        ),
        (
            "tr-0007".into(),
            TransitServerLent {
                migration_id: uuid(MIGRATION),
                lent_at: at("2026-11-21T16:40:00Z"),
            }
            .into(),
            system("transit-pool"),
        ),
        (
            "tr-0007".into(),
            TransitServerReleased {
                migration_id: uuid(MIGRATION),
            }
            .into(),
            system("transit-pool"),
        ),
        (
            "tr-0007".into(),
            TransitServerWipeStarted { expected_duration_ms: 600_000 }.into(),
            system("transit-pool"),
        ),
        (
            "tr-0007".into(),
            TransitServerWiped {}.into(),
            system("transit-pool"),
        ),
        (
            "tr-0007".into(),
            TransitServerTakenOutOfService {
                reason: "memory module replacement".into(),
            }
            .into(),
            support(),
        ),
        (
            "tr-0007".into(),
            TransitServerReturnedToService {}.into(),
            support(),
        ),
        (
            server(),
            RequiredMigrationOpened {
                migration_id: uuid(MIGRATION),
                target_version: "v2026".into(),
            }
            .into(),
            accounts_service(),
        ),
        (
            server(),
            RequiredMigrationClosed {
                migration_id: uuid(MIGRATION),
                outcome: MigrationOutcome::Completed,
            }
            .into(),
            accounts_service(),
        ),
        (
            server(),
            ServiceMigrationClaimed {
                schedule: optional_scheduled(),
            }
            .into(),
            support(),
        ),
        (
            server(),
            ServiceMigrationReleased {
                optional_migration_id: uuid(OPTIONAL_MIGRATION),
                service: ServiceKind::Postgresql,
            }
            .into(),
            accounts_service(),
        ),
        // transit_queue
        (
            "vps-4c-8g".into(),
            TransitRequestQueued {
                migration_id: uuid(MIGRATION),
                client_server_id: server(),
                requested_at: at("2026-11-21T10:05:00Z"),
            }
            .into(),
            system("transit-pool"),
        ),
        (
            "vps-4c-8g".into(),
            TransitRequestServed {
                migration_id: uuid(MIGRATION),
                transit_server_id: "tr-0007".into(),
            }
            .into(),
            system("transit-pool"),
        ),
        (
            "vps-4c-8g".into(),
            TransitRequestWithdrawn {
                migration_id: uuid(MIGRATION),
                reason: "obsolete languages restored: back to preparation".into(),
            }
            .into(),
            system("transit-pool"),
        ),
        (
            "vps-4c-8g".into(),
            TransitServerAvailable {
                transit_server_id: "tr-0007".into(),
            }
            .into(),
            system("transit-pool"),
        ),
        (
            "vps-4c-8g".into(),
            TransitServerWithdrawn {
                transit_server_id: "tr-0007".into(),
                reason: "disk replacement".into(),
            }
            .into(),
            support(),
        ),
        (
            "vps-4c-8g".into(),
            TransitAssignmentEnded {
                migration_id: uuid(MIGRATION),
                transit_server_id: "tr-0007".into(),
            }
            .into(),
            system("transit-pool"),
        ),
        // transfer
        (
            CUTOVER.into(),
            TransferScheduled {
                transfer_id: uuid(CUTOVER),
                kind: TransferKind::Cutover,
                migration_id: Some(uuid(MIGRATION)),
                server_id: server(),
                accounts: vec![account()],
                source: endpoint("srv-0042"),
                destination: endpoint("tr-0007"),
            }
            .into(),
            system("data-mover"),
        ),
        (
            CUTOVER.into(),
            TransferStarted {}.into(),
            system("data-mover"),
        ),
        (
            CUTOVER.into(),
            DowntimeEstimated {
                account_id: "acc-1207".into(),
                estimated_downtime_ms: 3_700,
                measured_cutovers: 12,
            }
            .into(),
            system("data-mover"),
        ),
        (
            CUTOVER.into(),
            TransferProgressed {
                phase: TransferPhase::Databases,
                account_id: Some("acc-1207".into()),
                bytes_done: 1_073_741_824,
                bytes_total: 2_684_354_560,
                run_id: Some(uuid("0193a5c2-7b10-7c3e-9a41-5d2f0e8b1c07")),
                run_bytes_copied: 805_306_368,
                bytes_copied: 1_342_177_280,
            }
            .into(),
            system("data-mover"),
        ),
        (
            CUTOVER.into(),
            AccountFrozen {
                account_id: "acc-1207".into(),
                frozen_at: at("2026-11-22T09:00:00.250Z"),
            }
            .into(),
            system("data-mover"),
        ),
        (
            CUTOVER.into(),
            AccountUnfrozen {
                account_id: "acc-1207".into(),
                unfrozen_at: at("2026-11-22T09:02:18.500Z"),
            }
            .into(),
            system("data-mover"),
        ),
        (
            CUTOVER.into(),
            TransferVerified {
                files_checked: 48_211,
                databases: vec![
                    DatabaseCheck {
                        engine: DatabaseEngine::Postgres,
                        name: "bakery_shop".into(),
                        tables: 37,
                        rows: 1_204_551,
                        checksum: "9f2c4e7a1b3d5f60".into(),
                    },
                    DatabaseCheck {
                        engine: DatabaseEngine::Mysql,
                        name: "bakery_blog".into(),
                        tables: 12,
                        rows: 58_004,
                        checksum: "03ab9e55c6d1f7e2".into(),
                    },
                ],
            }
            .into(),
            system("data-mover"),
        ),
        (
            CUTOVER.into(),
            TransferCompleted {
                bytes_copied: 2_837_000_192,
                duration_ms: 612_000,
                downtime_ms: Some(138_250),
                database_methods: vec![
                    DatabaseMethodUsed {
                        database: "bakery_shop".into(),
                        engine: DatabaseEngine::Postgres,
                        method: DatabaseMethod::LogicalReplication,
                    },
                    DatabaseMethodUsed {
                        database: "bakery_blog".into(),
                        engine: DatabaseEngine::Mysql,
                        method: DatabaseMethod::DumpRestore,
                    },
                ],
                test_address: None,
            }
            .into(),
            system("data-mover"),
        ),
        (
            CUTOVER.into(),
            TransferFailed {
                phase: TransferPhase::FinalSync,
                reason: "rsync exited with code 12: error in rsync protocol data stream"
                    .into(),
                retryable: true,
            }
            .into(),
            system("data-mover"),
        ),
        (
            CUTOVER.into(),
            TransferCancelled {
                reason: "migration cancelled".into(),
            }
            .into(),
            system("data-mover"),
        ),
        // dns_zone
        (
            dns_zone_id("bakery.example"),
            DnsRecordsSwitched {
                domain: "bakery.example".into(),
                account_id: "acc-1207".into(),
                records: vec![a_record("198.51.100.7"), aaaa_record("2001:db8:7::7")],
                from_server_id: server(),
                to_server_id: "tr-0007".into(),
            }
            .into(),
            system("network"),
        ),
        (
            dns_zone_id("bakery.example"),
            DnsRecordsReverted {
                domain: "bakery.example".into(),
                account_id: "acc-1207".into(),
                records: vec![a_record("203.0.113.42"), aaaa_record("2001:db8::42")],
                from_server_id: "tr-0007".into(),
                to_server_id: server(),
            }
            .into(),
            system("network"),
        ),
        (
            dns_zone_id("bakery-blog.example"),
            MxRecordRemovalAdvised {
                domain: "bakery-blog.example".into(),
                account_id: "acc-1207".into(),
                record: DnsRecord {
                    name: "bakery-blog.example".into(),
                    kind: DnsRecordKind::Mx,
                    value: "bakery.hosting.example".into(),
                    priority: Some(5),
                    ttl_secs: 3_600,
                },
                keep: vec![
                    DnsRecord {
                        name: "bakery-blog.example".into(),
                        kind: DnsRecordKind::Mx,
                        value: "mx1.hosting.example".into(),
                        priority: Some(10),
                        ttl_secs: 3_600,
                    },
                    DnsRecord {
                        name: "bakery-blog.example".into(),
                        kind: DnsRecordKind::Mx,
                        value: "mx2.hosting.example".into(),
                        priority: Some(20),
                        ttl_secs: 3_600,
                    },
                ],
            }
            .into(),
            system("network"),
        ),
        (
            dns_zone_id("bakery.example"),
            DnsZonePublished {
                domain: "bakery.example".into(),
                account_id: "acc-1207".into(),
                server_id: server(),
                records: vec![
                    a_record("203.0.113.42"),
                    aaaa_record("2001:db8::42"),
                    DnsRecord {
                        name: "bakery.example".into(),
                        kind: DnsRecordKind::Mx,
                        value: "bakery.hosting.example".into(),
                        priority: Some(5),
                        ttl_secs: 3_600,
                    },
                    DnsRecord {
                        name: "bakery.example".into(),
                        kind: DnsRecordKind::Txt,
                        value: "v=spf1 mx a ~all".into(),
                        priority: None,
                        ttl_secs: 3_600,
                    },
                    DnsRecord {
                        name: "www.bakery.example".into(),
                        kind: DnsRecordKind::Cname,
                        value: "bakery.example".into(),
                        priority: None,
                        ttl_secs: 3_600,
                    },
                ],
            }
            .into(),
            system("network"),
        ),
        (
            dns_zone_id("bakery.example"),
            DnsTtlLowered {
                domain: "bakery.example".into(),
                migration_id: uuid(MIGRATION),
                ttl_secs: 60,
                records: vec![a_record("203.0.113.42"), aaaa_record("2001:db8::42")],
            }
            .into(),
            system("network"),
        ),
        (
            dns_zone_id("bakery.example"),
            DnsTtlRestored {
                domain: "bakery.example".into(),
                migration_id: uuid(MIGRATION),
                records: vec![a_record("203.0.113.42"), aaaa_record("2001:db8::42")],
            }
            .into(),
            system("network"),
        ),
        (
            dns_zone_id("bakery.example"),
            DnsZoneWithdrawn {
                domain: "bakery.example".into(),
                reason: "the domain moved to another DNS provider".into(),
            }
            .into(),
            system("network"),
        ),
        // account_traffic
        (
            "acc-1207".into(),
            RedirectEnabled {
                from_server_id: server(),
                to_server_id: "tr-0007".into(),
            }
            .into(),
            system("network"),
        ),
        (
            "acc-1207".into(),
            RedirectRemoved {
                from_server_id: server(),
            }
            .into(),
            system("network"),
        ),
        (
            "acc-1207".into(),
            AccountTrafficSwitched {
                to_server_id: "tr-0007".into(),
                method: TrafficSwitchMethod::TransparentRedirect,
                switched_at: at("2026-11-22T09:02:18.500Z"),
                transfer_id: Some(uuid(CUTOVER)),
            }
            .into(),
            system("network"),
        ),
        (
            "acc-1207".into(),
            AccountTrafficHeld {
                transfer_id: uuid(CUTOVER),
                held_at: at("2026-11-22T09:02:01.020Z"),
                in_flight: 3,
                cut: 0,
            }
            .into(),
            system("network"),
        ),
        // ip_route
        (
            server(),
            IpRerouteStarted {
                ips: vec!["203.0.113.42".into(), "2001:db8::42".into()],
                to_server_id: "tr-0007".into(),
            }
            .into(),
            system("network"),
        ),
        (
            server(),
            IpsRerouted {
                ips: vec!["203.0.113.42".into(), "2001:db8::42".into()],
                to_server_id: "tr-0007".into(),
                unavailability_ms: 58_300,
            }
            .into(),
            system("network"),
        ),
        (
            server(),
            IpRoutesRestored {
                ips: vec!["203.0.113.42".into(), "2001:db8::42".into()],
                unavailability_ms: 61_020,
            }
            .into(),
            system("network"),
        ),
        // loan
        (
            migration(),
            LoanOpened {
                migration_id: uuid(MIGRATION),
                transit_server_id: "tr-0007".into(),
                customer_id: "c-42".into(),
                client_server_id: server(),
                started_at: at("2026-11-21T16:40:00Z"),
                monthly_price: eur(4500),
                free_period_days: 14,
            }
            .into(),
            system("billing"),
        ),
        (
            migration(),
            LoanFreePeriodChanged {
                free_period_days: 21,
                previous_free_period_days: 14,
                reason: "the reinstall was delayed on our side".into(),
            }
            .into(),
            support(),
        ),
        (
            migration(),
            LoanFreePeriodEnding {
                ends_at: at("2026-12-05T16:40:00Z"),
                days_left: 3,
                first_day_price: eur(145),
            }
            .into(),
            system("billing"),
        ),
        (
            migration(),
            LoanDayCharged {
                day: day("2026-12-06"),
                amount: eur(150),
            }
            .into(),
            system("billing"),
        ),
        (
            migration(),
            LoanClosed {
                ended_at: at("2026-12-08T11:15:00Z"),
                days_used: 17,
                billable_days: 3,
                total: eur(450),
            }
            .into(),
            system("billing"),
        ),
        // notification
        (
            NOTIFICATION.into(),
            NotificationQueued {
                recipient: "owner@bakery.example".into(),
                audience: NotificationAudience::Customer,
                locale: "fr".into(),
                template: "transit_server_ready".into(),
                subject: "Votre serveur de transit est prêt".into(),
                body: "Bonjour,\n\nLe serveur de transit de srv-0042 est prêt : vous pouvez migrer vos comptes un par un.\n".into(),
                cause_event_id: uuid("0193a5c2-8000-7000-8000-000000000018"),
            }
            .into(),
            system("notifications"),
        ),
        (
            NOTIFICATION.into(),
            NotificationSent {
                attempt: 1,
                sent_at: at("2026-11-21T16:40:03Z"),
            }
            .into(),
            system("notifications"),
        ),
        (
            NOTIFICATION.into(),
            NotificationFailed {
                attempt: 1,
                reason: "SMTP 451 4.7.1 greylisted, try again later".into(),
                will_retry: true,
            }
            .into(),
            system("notifications"),
        ),
        (
            NOTIFICATION.into(),
            NotificationSending { attempt: 2 }.into(),
            system("notifications"),
        ),
        (
            NOTIFICATION.into(),
            NotificationRequeued {
                reason: "the relay accepts our mail again".into(),
            }
            .into(),
            support(),
        ),
        // api_token
        (
            API_TOKEN.into(),
            ApiTokenIssued {
                holder: ferry_events::Actor::customer("c-42"),
                label: "backup script".into(),
                expires_at: at("2027-03-01T00:00:00Z"),
                secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$9Xf0m1X9Z8b2rYp4uXW0A7Qy5HkzY2l0eC1mZXJyeQ".into(),
            }
            .into(),
            support(),
        ),
        (
            API_TOKEN.into(),
            ApiTokenRevoked {
                reason: "the laptop holding it was lost".into(),
            }
            .into(),
            ferry_events::Actor::customer("c-42"),
        ),
        // user_grants
        (
            USER_GRANTS.into(),
            MigrationRightsGranted {
                customer_id: "c-42".into(),
                login: "alice".into(),
                scope: GrantScope::account("srv-0042", "acc-1207"),
            }
            .into(),
            ferry_events::Actor::customer("c-42"),
        ),
        (
            USER_GRANTS.into(),
            MigrationRightsRevoked {
                customer_id: "c-42".into(),
                login: "alice".into(),
                scope: GrantScope::server("srv-0042"),
            }
            .into(),
            support(),
        ),
        (
            migration(),
            PreCopyFailed {
                transfer_id: uuid(TEST_COPY),
                destination: PreCopyDestination::TransitServer,
                reason: "account acc-1207 (bakery): its files directory /srv/ferry/srv-0042/files/bakery does not exist".into(),
                retryable: false,
                attempt: 1,
                retry_at: None,
            }
            .into(),
            accounts_service(),
        ),
        (
            migration(),
            PreCopyRetried {
                transfer_id: uuid(CUTOVER),
                destination: PreCopyDestination::TransitServer,
                attempt: 2,
            }
            .into(),
            support(),
        ),
        (
            migration(),
            AccountTransferAborted {
                account_id: "acc-1207".into(),
                transfer_id: uuid(CUTOVER),
                reason: "the final sync hangs on a dead NFS mount".into(),
            }
            .into(),
            support(),
        ),
    ]
}

/// Event types added to the catalogue after its first release, in the order added.
/// They rank after the first release's types, so that adding a type never changes the
/// ids and instants of the fixtures already written.
const ADDED_LATER: &[&str] = &[
    "TransitServerAvailable",
    "TransitServerWithdrawn",
    "TransitAssignmentEnded",
    "RequiredMigrationOpened",
    "RequiredMigrationClosed",
    "PreCopyFailed",
    "PreCopyRetried",
    "AccountTransferAborted",
    "ServiceMigrationClaimed",
    "ServiceMigrationReleased",
    "DowntimeEstimated",
    "DnsZonePublished",
    "DnsTtlLowered",
    "DnsTtlRestored",
    "DnsZoneWithdrawn",
    "AccountTrafficHeld",
    "LoanFreePeriodChanged",
    "LoanFreePeriodEnding",
    "NotificationSending",
    "NotificationRequeued",
    "ApiTokenIssued",
    "ApiTokenRevoked",
    "MigrationRightsGranted",
    "MigrationRightsRevoked",
];

/// A type's rank: its place in the catalogue's first release, then in [`ADDED_LATER`].
fn stable_rank(event_type: &str) -> usize {
    let first_release = Event::TYPES
        .iter()
        .map(|(name, _, _)| *name)
        .filter(|name| !ADDED_LATER.contains(name));
    if let Some(rank) = first_release.clone().position(|name| name == event_type) {
        return rank;
    }
    let added = ADDED_LATER
        .iter()
        .position(|name| *name == event_type)
        .expect("every sample is a catalogue type; list new ones in ADDED_LATER");
    first_release.count() + added
}

/// The sample of every event type as a complete envelope, with fixed ids and
/// instants derived from the event type's rank in [`Event::TYPES`].
pub fn sample_envelopes() -> Vec<Envelope> {
    let start = at("2026-11-21T10:00:00Z");
    samples()
        .into_iter()
        .map(|(aggregate_id, event, actor)| {
            let rank = stable_rank(event.event_type());
            let rank_u32 = u32::try_from(rank).expect("fewer than 2^32 types");
            Envelope {
                event_id: uuid(&format!("0193a5c2-8000-7000-8000-{:012x}", rank + 1)),
                aggregate_type: event.aggregate_type(),
                aggregate_id,
                occurred_at: start + Duration::minutes(i64::from(rank_u32)),
                correlation_id: uuid(MIGRATION),
                causation_id: uuid(COMMAND),
                actor,
                event,
            }
        })
        .collect()
}
