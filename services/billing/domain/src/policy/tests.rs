use super::*;
use crate::loan::Notice;
use ferry_core::scenario::given_view;
use ferry_events::{
    Actor, LoanClosed, LoanDayCharged, LoanFreePeriodChanged, LoanFreePeriodEnding, LoanOpened,
    MigrationOpened, ServerKind, ServerRegistered, ServerStorage, TransitServerLent,
    TransitServerReleased,
};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("instant")
}

const MIGRATION: Uuid = Uuid::from_u128(0x42);

fn envelope(aggregate_id: &str, event: impl Into<Event>, occurred_at: &str) -> Envelope {
    let mut envelope = Envelope::new(
        aggregate_id,
        event,
        MIGRATION,
        Uuid::from_u128(1),
        Actor::system("test"),
    );
    envelope.occurred_at = at(occurred_at);
    envelope
}

fn server_registered() -> Envelope {
    envelope(
        "srv-1",
        ServerRegistered {
            server_id: "srv-1".into(),
            name: "bakery.example".into(),
            kind: ServerKind::Vps,
            configuration: "vps-4c-8g".into(),
            infrastructure_version: "v2020".into(),
            ipv4: vec!["192.0.2.1".into()],
            ipv6: vec![],
            monthly_price: Money::new(3100, "EUR"),
            customer_id: "c-42".into(),
            contact_email: "owner@bakery.example".into(),
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
        "2026-12-01T00:00:00Z",
    )
}

fn migration_opened() -> Envelope {
    envelope(
        &MIGRATION.to_string(),
        MigrationOpened {
            migration_id: MIGRATION,
            server_id: "srv-1".into(),
            customer_id: "c-42".into(),
            from_version: "v2020".into(),
            target_version: "v2026".into(),
            accounts: vec!["acc-1".into()],
        },
        "2026-12-20T00:00:00Z",
    )
}

fn lent(occurred_at: &str) -> Envelope {
    envelope(
        "tr-1",
        TransitServerEvent::TransitServerLent(TransitServerLent {
            migration_id: MIGRATION,
            lent_at: at(occurred_at),
        }),
        occurred_at,
    )
}

fn loan(event: LoanEvent, occurred_at: &str) -> Envelope {
    envelope(&MIGRATION.to_string(), event, occurred_at)
}

fn loan_opened(free_period_days: u32) -> Envelope {
    loan(
        LoanEvent::LoanOpened(LoanOpened {
            migration_id: MIGRATION,
            transit_server_id: "tr-1".into(),
            customer_id: "c-42".into(),
            client_server_id: "srv-1".into(),
            started_at: at("2027-01-01T10:00:00Z"),
            monthly_price: Money::new(3100, "EUR"),
            free_period_days,
        }),
        "2027-01-01T10:00:01Z",
    )
}

fn advance(purpose: &str, notice: Option<Notice>) -> BillingCommand {
    BillingCommand {
        id: reaction_id(NAME, MIGRATION, purpose),
        correlation_id: MIGRATION,
        action: BillingAction::Advance {
            migration_id: MIGRATION,
            notice,
        },
    }
}

#[test]
fn a_lent_transit_server_opens_the_loan_at_the_client_servers_price() {
    let lent = lent("2027-01-01T10:00:00Z");
    given_view::<BillingPolicy>([&server_registered(), &migration_opened()])
        .when(&lent)
        .then(vec![BillingCommand {
            id: reaction_id(NAME, lent.event_id, "open"),
            correlation_id: MIGRATION,
            action: BillingAction::Open {
                migration_id: MIGRATION,
                transit_server_id: "tr-1".into(),
                customer_id: "c-42".into(),
                client_server_id: "srv-1".into(),
                started_at: at("2027-01-01T10:00:00Z"),
                monthly_price: Money::new(3100, "EUR"),
            },
        }]);
}

#[test]
fn a_missing_price_or_migration_is_missing_never_zero() {
    given_view::<BillingPolicy>([&migration_opened()])
        .when(&lent("2027-01-01T10:00:00Z"))
        .then_missing("never registered");
    given_view::<BillingPolicy>([&server_registered()])
        .when(&lent("2027-01-01T10:00:00Z"))
        .then_missing("never opened");
}

#[test]
fn a_released_transit_server_closes_the_loan_when_released() {
    let released = envelope(
        "tr-1",
        TransitServerEvent::TransitServerReleased(TransitServerReleased {
            migration_id: MIGRATION,
        }),
        "2027-01-03T08:00:00Z",
    );
    given_view::<BillingPolicy>([&loan_opened(14)])
        .when(&released)
        .then(vec![BillingCommand {
            id: reaction_id(NAME, released.event_id, "close"),
            correlation_id: MIGRATION,
            action: BillingAction::Close {
                migration_id: MIGRATION,
                ended_at: at("2027-01-03T08:00:00Z"),
            },
        }]);
}

#[test]
fn the_timer_gives_the_notices_then_charges_each_day_as_it_starts() {
    let opened = loan_opened(14);
    let ends_at = at("2027-01-15T10:00:00Z");
    let three = Notice {
        ends_at,
        days_left: 3,
    };
    // Nothing due before the 3-day notice.
    given_view::<BillingPolicy>([&opened])
        .when_due(at("2027-01-12T09:59:59Z"))
        .then_nothing();
    given_view::<BillingPolicy>([&opened])
        .when_due(at("2027-01-12T10:00:00Z"))
        .then(vec![advance(
            "advance/2027-01-12T10:00:00+00:00/14/0/0",
            Some(three),
        )]);
    let notice = |days_left| {
        loan(
            LoanEvent::LoanFreePeriodEnding(LoanFreePeriodEnding {
                ends_at,
                days_left,
                first_day_price: Money::new(100, "EUR"),
            }),
            "2027-01-12T10:00:00Z",
        )
    };
    let (three_given, one_given) = (notice(3), notice(1));
    given_view::<BillingPolicy>([&opened, &three_given])
        .when_due(at("2027-01-14T10:00:00Z"))
        .then(vec![advance(
            "advance/2027-01-14T10:00:00+00:00/14/0/1",
            Some(Notice {
                ends_at,
                days_left: 1,
            }),
        )]);
    let view = given_view::<BillingPolicy>([&opened, &three_given, &one_given]);
    assert_eq!(
        view.entries()
            .get(&format!("loan/{MIGRATION}"))
            .and_then(BillingView::due),
        Some(ends_at),
        "then the first billable day"
    );
    view.when_due(ends_at).then(vec![advance(
        "advance/2027-01-15T10:00:00+00:00/14/0/2",
        None,
    )]);
    let day_15 = loan(
        LoanEvent::LoanDayCharged(LoanDayCharged {
            day: ends_at.date_naive(),
            amount: Money::new(100, "EUR"),
        }),
        "2027-01-15T10:00:00Z",
    );
    let view = given_view::<BillingPolicy>([&opened, &three_given, &one_given, &day_15]);
    assert_eq!(
        view.entries()
            .get(&format!("loan/{MIGRATION}"))
            .and_then(BillingView::due),
        Some(at("2027-01-16T10:00:00Z")),
        "the next day"
    );
    // A closed loan is no timer any more.
    let closed = loan(
        LoanEvent::LoanClosed(LoanClosed {
            ended_at: at("2027-01-15T12:00:00Z"),
            days_used: 15,
            billable_days: 1,
            total: Money::new(100, "EUR"),
        }),
        "2027-01-15T12:00:00Z",
    );
    given_view::<BillingPolicy>([&opened, &three_given, &one_given, &day_15, &closed])
        .when_due(at("2028-01-01T00:00:00Z"))
        .then_nothing();
}

#[test]
fn a_short_free_period_gets_only_the_notices_still_ahead() {
    // Two days free: the 3-day notice would fall before the loan started.
    let opened = loan_opened(2);
    given_view::<BillingPolicy>([&opened])
        .when_due(at("2027-01-02T10:00:00Z"))
        .then(vec![advance(
            "advance/2027-01-02T10:00:00+00:00/2/0/0",
            Some(Notice {
                ends_at: at("2027-01-03T10:00:00Z"),
                days_left: 1,
            }),
        )]);
    // No free period: no notice, day 1 charged at once.
    given_view::<BillingPolicy>([&loan_opened(0)])
        .when_due(at("2027-01-01T10:00:00Z"))
        .then(vec![advance(
            "advance/2027-01-01T10:00:00+00:00/0/0/0",
            None,
        )]);
}

#[test]
fn a_changed_free_period_plans_its_notices_again_from_the_change() {
    let opened = loan_opened(14);
    // On day 10, support extends to 20 days: notices at days 18 and 20 for day 21.
    let changed = loan(
        LoanEvent::LoanFreePeriodChanged(LoanFreePeriodChanged {
            free_period_days: 20,
            previous_free_period_days: 14,
            reason: "gesture".into(),
        }),
        "2027-01-10T12:00:00Z",
    );
    given_view::<BillingPolicy>([&opened, &changed])
        .when_due(at("2027-01-18T10:00:00Z"))
        .then(vec![advance(
            "advance/2027-01-18T10:00:00+00:00/20/0/0",
            Some(Notice {
                ends_at: at("2027-01-21T10:00:00Z"),
                days_left: 3,
            }),
        )]);
    // Shortened to 10 days on day 10 (2.x days before the new end): only the 1-day notice.
    let shortened = loan(
        LoanEvent::LoanFreePeriodChanged(LoanFreePeriodChanged {
            free_period_days: 11,
            previous_free_period_days: 14,
            reason: "new policy".into(),
        }),
        "2027-01-10T12:00:00Z",
    );
    let view = given_view::<BillingPolicy>([&opened, &shortened]);
    let entry = view
        .entries()
        .get(&format!("loan/{MIGRATION}"))
        .cloned()
        .expect("loan entry");
    assert_eq!(
        entry.next_notice().map(|n| (n.days_left, n.due)),
        Some((1, at("2027-01-11T10:00:00Z")))
    );
}

#[test]
fn the_same_step_of_a_loan_always_gets_the_same_command_id() {
    let opened = loan_opened(0);
    let first = given_view::<BillingPolicy>([&opened])
        .when_due(at("2027-01-01T10:00:00Z"))
        .commands();
    let again = given_view::<BillingPolicy>([&opened])
        .when_due(at("2027-01-03T10:00:00Z"))
        .commands();
    assert_eq!(first, again, "a timer fired late or twice: same command");
}

#[test]
fn a_lending_reacted_to_after_its_release_opens_and_closes_the_loan() {
    let lent = lent("2027-01-01T10:00:00Z");
    let released = envelope(
        "tr-1",
        TransitServerEvent::TransitServerReleased(TransitServerReleased {
            migration_id: MIGRATION,
        }),
        "2027-01-20T08:00:00Z",
    );
    let commands =
        given_view::<BillingPolicy>([&server_registered(), &migration_opened(), &released])
            .when(&lent)
            .commands();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert!(matches!(commands[0].action, BillingAction::Open { .. }));
    assert_eq!(
        commands[1].action,
        BillingAction::Close {
            migration_id: MIGRATION,
            ended_at: at("2027-01-20T08:00:00Z"),
        }
    );
}
