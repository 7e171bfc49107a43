use super::*;
use chrono::{TimeZone, Utc};
use ferry_core::scenario::given_view;
use ferry_events::{
    AccountAdded, AccountMoved, AccountSpec, Actor, DnsRecord, DnsRecordKind, LoanDayCharged,
    LoanFreePeriodEnding, LoanOpened, MigrationOpened, Money, MxRecordRemovalAdvised,
    ServerDetailsChanged, ServerKind, ServerRegistered, ServerStorage, TransitServerQueued,
    TransitServerReady, TransitServerRequested,
};

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

fn price() -> Money {
    Money {
        amount_cents: 4_500,
        currency: "EUR".into(),
    }
}

fn registered(locale: &str) -> Envelope {
    envelope(
        SERVER,
        ServerRegistered {
            server_id: SERVER.into(),
            name: "vps42.hosting.example".into(),
            kind: ServerKind::Vps,
            configuration: "vps-4c-8g".into(),
            infrastructure_version: "v2020".into(),
            ipv4: vec!["192.0.2.42".into()],
            ipv6: vec![],
            monthly_price: price(),
            customer_id: "c-42".into(),
            contact_email: "jane@example.org".into(),
            locale: locale.into(),
            storage: ServerStorage {
                files_root: "/srv/files".into(),
                mail_root: "/srv/mail".into(),
                postgres_url: None,
                mysql_url: None,
                postgres_credential: None,
                mysql_credential: None,
            },
        },
    )
}

fn account_added() -> Envelope {
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
    )
}

fn opened() -> Envelope {
    on_migration(MigrationOpened {
        migration_id: migration(),
        server_id: SERVER.into(),
        customer_id: "c-42".into(),
        from_version: "v2020".into(),
        target_version: "v2026".into(),
        accounts: vec!["acc-1".into()],
    })
}

fn history(locale: &str) -> Vec<Envelope> {
    vec![registered(locale), account_added(), opened()]
}

fn customer(language: &str) -> Recipient {
    Recipient::Customer {
        email: "jane@example.org".into(),
        language: language.into(),
    }
}

#[test]
fn the_transit_request_goes_to_the_customer_and_to_support() {
    let history = history("fr_FR");
    let event = on_migration(TransitServerRequested {
        configuration: "vps-4c-8g".into(),
    });
    let commands = given_view::<NotificationsPolicy>(&history)
        .when(&event)
        .commands();
    let sent: Vec<(Template, Recipient)> = commands
        .iter()
        .map(|c| (c.template, c.recipient.clone()))
        .collect();
    assert_eq!(
        sent,
        vec![
            (Template::TransitRequested, customer("fr")),
            (Template::TransitRequested, Recipient::Support),
        ]
    );
    let first = &commands[0];
    assert_eq!(first.cause_event_id, event.event_id);
    assert_eq!(first.correlation_id, migration());
    assert_eq!(
        first.notification_id,
        notification_id(
            event.event_id,
            Template::TransitRequested,
            NotificationAudience::Customer
        )
    );
    assert_ne!(commands[0].notification_id, commands[1].notification_id);
    assert_eq!(first.values["server"], "vps42.hosting.example");
    assert_eq!(first.values["configuration"], "vps-4c-8g");
    assert_eq!(first.values["target_version"], "v2026");
}

#[test]
fn the_same_event_gives_the_same_messages() {
    let history = history("en");
    let event = on_migration(TransitServerReady {
        transit_server_id: "tr-0007".into(),
        ready_at: Utc::now(),
    });
    let once = given_view::<NotificationsPolicy>(&history)
        .when(&event)
        .commands();
    let again = given_view::<NotificationsPolicy>(&history)
        .when(&event)
        .commands();
    assert_eq!(once, again);
    assert_eq!(once.len(), 1);
    assert_eq!(once[0].template, Template::TransitReady);
    assert_eq!(once[0].recipient, customer("en"));
}

#[test]
fn the_latest_contact_details_are_used() {
    let mut history = history("en");
    history.push(envelope(
        SERVER,
        ServerDetailsChanged {
            name: "vps42.hosting.example".into(),
            kind: ServerKind::Vps,
            configuration: "vps-4c-8g".into(),
            ipv4: vec![],
            ipv6: vec![],
            monthly_price: price(),
            customer_id: "c-42".into(),
            contact_email: "ops@example.fr".into(),
            locale: "fr".into(),
            storage: ServerStorage {
                files_root: "/srv/files".into(),
                mail_root: "/srv/mail".into(),
                postgres_url: None,
                mysql_url: None,
                postgres_credential: None,
                mysql_credential: None,
            },
        },
    ));
    let commands = given_view::<NotificationsPolicy>(&history)
        .when(&on_migration(TransitServerQueued {
            configuration: "vps-4c-8g".into(),
            position: 3,
        }))
        .commands();
    assert_eq!(
        commands[0].recipient,
        Recipient::Customer {
            email: "ops@example.fr".into(),
            language: "fr".into()
        }
    );
    assert_eq!(commands[0].template, Template::TransitQueued);
    assert_eq!(commands[0].values["position"], "3");
}

#[test]
fn an_account_moved_tells_its_name_and_downtime() {
    let commands = given_view::<NotificationsPolicy>(&history("en"))
        .when(&on_migration(AccountMoved {
            account_id: "acc-1".into(),
            transfer_id: Uuid::from_u128(9),
            downtime_ms: 125_000,
        }))
        .commands();
    assert_eq!(commands[0].template, Template::AccountMoved);
    assert_eq!(commands[0].values["account"], "shop");
    assert_eq!(commands[0].values["downtime"], "2 min 05 s");
}

#[test]
fn a_missing_contact_is_missing_never_blank() {
    given_view::<NotificationsPolicy>(&[opened()])
        .when(&on_migration(TransitServerRequested {
            configuration: "vps-4c-8g".into(),
        }))
        .then_missing("srv-0042");
    given_view::<NotificationsPolicy>(&[registered("en")])
        .when(&on_migration(TransitServerRequested {
            configuration: "vps-4c-8g".into(),
        }))
        .then_missing("MigrationOpened");
}

#[test]
fn mx_advice_goes_to_the_account_owner() {
    let record = |value: &str, priority| DnsRecord {
        name: "shop.example".into(),
        kind: DnsRecordKind::Mx,
        value: value.into(),
        priority: Some(priority),
        ttl_secs: 300,
    };
    let event = envelope(
        "shop_example",
        MxRecordRemovalAdvised {
            domain: "shop.example".into(),
            account_id: "acc-1".into(),
            record: record("vps42.hosting.example", 5),
            keep: vec![
                record("mx1.hosting.example", 10),
                record("mx2.hosting.example", 20),
            ],
        },
    );
    let commands = given_view::<NotificationsPolicy>(&history("fr"))
        .when(&event)
        .commands();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].template, Template::MxRecordRemoval);
    assert_eq!(commands[0].values["record"], "MX 5 vps42.hosting.example");
    assert_eq!(
        commands[0].values["keep"],
        "MX 10 mx1.hosting.example, MX 20 mx2.hosting.example"
    );
    given_view::<NotificationsPolicy>(&[registered("fr")])
        .when(&event)
        .then_missing("acc-1");
}

#[test]
fn charges_are_announced_on_the_first_day_charged_only() {
    let mut history = history("en");
    history.push(on_migration(LoanOpened {
        migration_id: migration(),
        transit_server_id: "tr-0007".into(),
        customer_id: "c-42".into(),
        client_server_id: SERVER.into(),
        started_at: Utc::now(),
        monthly_price: price(),
        free_period_days: 14,
    }));
    let day = |d| LoanDayCharged {
        day: chrono::NaiveDate::from_ymd_opt(2026, 12, d).expect("a day"),
        amount: Money {
            amount_cents: 150,
            currency: "EUR".into(),
        },
    };
    let first = on_migration(day(18));
    let commands = given_view::<NotificationsPolicy>(&history)
        .when(&first)
        .commands();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].template, Template::ChargesStarted);
    assert_eq!(commands[0].values["amount"], "1.50 EUR");
    history.push(first);
    given_view::<NotificationsPolicy>(&history)
        .when(&on_migration(day(19)))
        .then_nothing();
}

#[test]
fn the_free_period_end_is_announced() {
    let event = on_migration(LoanFreePeriodEnding {
        ends_at: Utc
            .with_ymd_and_hms(2026, 12, 18, 9, 30, 0)
            .single()
            .expect("a date"),
        days_left: 2,
        first_day_price: price(),
    });
    let commands = given_view::<NotificationsPolicy>(&history("fr"))
        .when(&event)
        .commands();
    assert_eq!(commands[0].template, Template::FreePeriodEnding);
    assert_eq!(commands[0].recipient, customer("fr"));
    assert_eq!(commands[0].values["ends_at"], "2026-12-18 09:30 UTC");
    assert_eq!(commands[0].values["days_left"], "2");
}

#[test]
fn events_nobody_needs_to_hear_of_queue_nothing() {
    given_view::<NotificationsPolicy>(&history("en"))
        .when(&registered("en"))
        .then_nothing();
    given_view::<NotificationsPolicy>(&history("en"))
        .when(&on_migration(ferry_events::AccountMarkedReady {
            account_id: "acc-1".into(),
        }))
        .then_nothing();
}

#[test]
fn locales_and_durations_read_as_the_messages_need() {
    assert_eq!(language("fr"), "fr");
    assert_eq!(language("fr_FR.UTF-8"), "fr");
    assert_eq!(language("FR-ca"), "fr");
    assert_eq!(language("en_GB"), "en");
    assert_eq!(language("de"), "en");
    assert_eq!(duration_text(0), "0 s");
    assert_eq!(duration_text(45_000), "45 s");
    assert_eq!(duration_text(3_600_000 + 7 * 60_000), "1 h 07 min");
}

#[test]
fn templates_are_named_once() {
    let mut names: Vec<&str> = Template::ALL.iter().map(|t| t.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Template::ALL.len());
    for t in Template::ALL {
        assert_eq!(Template::named(t.name()), Some(*t));
    }
}

#[test]
fn only_failures_that_need_a_person_reach_support() {
    let precopy = |retryable| {
        on_migration(ferry_events::PreCopyFailed {
            transfer_id: Uuid::from_u128(3),
            destination: ferry_events::PreCopyDestination::ClientServer,
            reason: "rsync: no space left".into(),
            retryable,
            attempt: 2,
            retry_at: None,
        })
    };
    given_view::<NotificationsPolicy>(&history("en"))
        .when(&precopy(true))
        .then_nothing();
    let commands = given_view::<NotificationsPolicy>(&history("en"))
        .when(&precopy(false))
        .commands();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].template, Template::PreCopyFailed);
    assert_eq!(commands[0].recipient, Recipient::Support);
    assert_eq!(commands[0].values["destination"], "client_server");
    let failed = envelope(
        "tr-0007",
        ferry_events::TransitInstallationFailed {
            migration_id: migration(),
            reason: "disk fault".into(),
        },
    );
    let commands = given_view::<NotificationsPolicy>(&history("fr"))
        .when(&failed)
        .commands();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].template, Template::TransitInstallationFailed);
    assert_eq!(commands[0].recipient, Recipient::Support);
    assert_eq!(commands[0].values["transit_server"], "tr-0007");
    assert_eq!(commands[0].values["server"], "vps42.hosting.example");
}
