//! Every message the policy can ask for renders, in both languages, with the values
//! the policy gives: the events of a whole migration, one of each.

use super::*;
use crate::domain::policy::{NotificationsPolicy, Template};
use chrono::{NaiveDate, TimeZone, Utc};
use ferry_core::policy::{Entries, Policy, View};
use ferry_events::*;
use std::collections::BTreeSet;
use uuid::Uuid;

const SERVER: &str = "srv-0042";

fn migration() -> Uuid {
    Uuid::from_u128(0x42)
}

fn envelope(aggregate_id: &str, event: impl Into<Event>) -> Envelope {
    Envelope::new(
        aggregate_id,
        event,
        migration(),
        Uuid::now_v7(),
        Actor::system("test"),
    )
}

fn on_migration(event: impl Into<Event>) -> Envelope {
    envelope(&migration().to_string(), event)
}

fn money(cents: i64) -> Money {
    Money {
        amount_cents: cents,
        currency: "EUR".into(),
    }
}

fn transfer() -> Uuid {
    Uuid::from_u128(7)
}

fn mx(value: &str, priority: u16) -> DnsRecord {
    DnsRecord {
        name: "shop.example".into(),
        kind: DnsRecordKind::Mx,
        value: value.into(),
        priority: Some(priority),
        ttl_secs: 300,
    }
}

/// The facts, then one event of each kind that is told about.
fn events(locale: &str) -> (Vec<Envelope>, Vec<Envelope>) {
    let at = Utc
        .with_ymd_and_hms(2026, 12, 4, 9, 0, 0)
        .single()
        .expect("a date");
    let facts = vec![
        envelope(
            SERVER,
            ServerRegistered {
                server_id: SERVER.into(),
                name: "vps42.hosting.example".into(),
                kind: ServerKind::Vps,
                configuration: "vps-4c-8g".into(),
                infrastructure_version: "v2020".into(),
                ipv4: vec![],
                ipv6: vec![],
                monthly_price: money(4_500),
                customer_id: "c-42".into(),
                contact_email: "jane@example.org".into(),
                locale: locale.into(),
                storage: ServerStorage {
                    files_root: "/f".into(),
                    mail_root: "/m".into(),
                    postgres_url: None,
                    mysql_url: None,
                    postgres_credential: None,
                    mysql_credential: None,
                },
            },
        ),
        envelope(
            SERVER,
            AccountAdded {
                account: AccountSpec {
                    account_id: "acc-1".into(),
                    name: "shop".into(),
                    files_bytes: 0,
                    mail_bytes: 0,
                    databases: vec![],
                    domains: vec![],
                    languages: vec![],
                },
            },
        ),
        on_migration(LoanOpened {
            migration_id: migration(),
            transit_server_id: "tr-0007".into(),
            customer_id: "c-42".into(),
            client_server_id: SERVER.into(),
            started_at: at,
            monthly_price: money(4_500),
            free_period_days: 14,
        }),
    ];
    let account = "acc-1".to_owned();
    let told = vec![
        on_migration(MigrationOpened {
            migration_id: migration(),
            server_id: SERVER.into(),
            customer_id: "c-42".into(),
            from_version: "v2020".into(),
            target_version: "v2026".into(),
            accounts: vec![account.clone()],
        }),
        on_migration(TestMigrationAvailable {
            account_id: account.clone(),
            transfer_id: transfer(),
            test_address: "pg-test.hosting.example:5432".into(),
        }),
        on_migration(TestMigrationFailed {
            account_id: account.clone(),
            transfer_id: transfer(),
            reason: "dump failed".into(),
        }),
        on_migration(TransitServerRequested {
            configuration: "vps-4c-8g".into(),
        }),
        on_migration(TransitServerQueued {
            configuration: "vps-4c-8g".into(),
            position: 2,
        }),
        on_migration(TransitServerAssigned {
            transit_server_id: "tr-0007".into(),
        }),
        envelope(
            "tr-0007",
            TransitInstallationFailed {
                migration_id: migration(),
                reason: "disk fault".into(),
            },
        ),
        on_migration(PreCopyFailed {
            transfer_id: transfer(),
            destination: PreCopyDestination::TransitServer,
            reason: "rsync: no space left".into(),
            retryable: false,
            attempt: 3,
            retry_at: None,
        }),
        on_migration(TransitServerReady {
            transit_server_id: "tr-0007".into(),
            ready_at: at,
        }),
        on_migration(AccountMoved {
            account_id: account.clone(),
            transfer_id: transfer(),
            downtime_ms: 61_000,
        }),
        on_migration(AccountMoveFailed {
            account_id: account.clone(),
            transfer_id: transfer(),
            reason: "verify failed".into(),
        }),
        on_migration(AccountRollbackFailed {
            account_id: account.clone(),
            transfer_id: transfer(),
            reason: "verify failed".into(),
        }),
        envelope(
            "shop_example",
            MxRecordRemovalAdvised {
                domain: "shop.example".into(),
                account_id: account.clone(),
                record: mx("vps42.hosting.example", 5),
                keep: vec![mx("mx1.hosting.example", 10)],
            },
        ),
        on_migration(ReinstallRequested {}),
        on_migration(ReinstallStarted {
            ips_rerouted_to: "tr-0007".into(),
        }),
        on_migration(ServerReinstalled {
            infrastructure_version: "v2026".into(),
        }),
        on_migration(AccountRelocationStarted {
            account_id: account.clone(),
            transfer_id: transfer(),
            estimated_downtime_ms: 60_000,
        }),
        on_migration(AccountRelocated {
            account_id: account.clone(),
            transfer_id: transfer(),
            downtime_ms: 58_000,
        }),
        on_migration(AccountRelocationFailed {
            account_id: account,
            transfer_id: transfer(),
            reason: "verify failed".into(),
        }),
        on_migration(LoanFreePeriodEnding {
            ends_at: at,
            days_left: 2,
            first_day_price: money(150),
        }),
        on_migration(LoanDayCharged {
            day: NaiveDate::from_ymd_opt(2026, 12, 18).expect("a day"),
            amount: money(150),
        }),
        on_migration(MigrationCompleted {
            total_downtime_ms: 119_000,
        }),
        on_migration(MigrationCancelled {
            reason: "customer's choice".into(),
        }),
    ];
    (facts, told)
}

#[test]
fn every_message_of_a_migration_renders_in_both_languages() {
    let templates = Templates::new();
    for (locale, support_language) in [("fr_FR", "en"), ("en", "fr")] {
        let support = SupportContact {
            email: "support@hosting.example".into(),
            language: support_language.into(),
        };
        let (facts, told) = events(locale);
        let mut view: Entries<_> = Entries::new();
        <NotificationsPolicy as Policy>::View::fold(&mut view, &facts);
        let mut seen = BTreeSet::new();
        for event in &told {
            <NotificationsPolicy as Policy>::View::fold(&mut view, [event]);
            let read = ferry_core::scenario::read_rounds::<NotificationsPolicy>(event, &view);
            let commands = NotificationsPolicy::react(event, &read)
                .unwrap_or_else(|m| panic!("{}: {m}", event.event_type()));
            assert!(!commands.is_empty(), "{} tells nobody", event.event_type());
            for command in commands {
                let queued = render(&templates, &support, &command)
                    .unwrap_or_else(|e| panic!("{}: {e}", command.template));
                let expected = match command.recipient {
                    Recipient::Customer { .. } => crate::domain::policy::language(locale),
                    Recipient::Support => support_language,
                };
                assert_eq!(queued.locale, expected);
                assert!(!queued.body.contains("{{"), "{}", queued.body);
                seen.insert(command.template);
            }
        }
        let all: BTreeSet<Template> = Template::ALL.iter().copied().collect();
        assert_eq!(seen, all, "every template is used");
    }
}
