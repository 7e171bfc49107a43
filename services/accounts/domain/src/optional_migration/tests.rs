//! Given/when/then of optional single-service migrations.

use super::*;
use ferry_core::RefusalKind::{Conflict, Forbidden, Invalid, NotFound};
use ferry_core::scenario::given;

const ID: Uuid = Uuid::from_u128(7);
const T1: Uuid = Uuid::from_u128(0xa1);
const T2: Uuid = Uuid::from_u128(0xa2);

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid instant")
        .with_timezone(&Utc)
}

fn scheduled() -> OptionalMigrationScheduled {
    OptionalMigrationScheduled {
        optional_migration_id: ID,
        server_id: "srv-42".into(),
        customer_id: "c-42".into(),
        service: ServiceKind::Postgresql,
        from_version: "15".into(),
        to_version: "16".into(),
        scheduled_for: Some(at("2026-12-01T02:00:00Z")),
    }
}

fn by(actor: Actor, action: OptionalAction) -> OptionalCommand {
    OptionalCommand {
        actor,
        grants: ferry_events::Grants::none(),
        action,
    }
}

fn apply(transfer_id: Uuid, now: &str) -> OptionalAction {
    OptionalAction::Apply {
        transfer_id,
        now: at(now),
    }
}

fn started() -> Vec<OptionalMigrationEvent> {
    vec![
        scheduled().into(),
        OptionalMigrationStarted { transfer_id: T1 }.into(),
    ]
}

#[test]
fn support_schedules_once() {
    given::<OptionalMigrationDecider>([])
        .when(by(
            Actor::support("jdoe"),
            OptionalAction::Schedule(scheduled()),
        ))
        .then(vec![scheduled().into()]);
    given::<OptionalMigrationDecider>([scheduled().into()])
        .when(by(
            Actor::support("jdoe"),
            OptionalAction::Schedule(scheduled()),
        ))
        .then_nothing();
    let mut other = scheduled();
    other.to_version = "17".into();
    given::<OptionalMigrationDecider>([scheduled().into()])
        .when(by(Actor::support("jdoe"), OptionalAction::Schedule(other)))
        .then_refused_because(Conflict, "already scheduled");
}

#[test]
fn scheduling_refusals() {
    given::<OptionalMigrationDecider>([])
        .when(by(
            Actor::customer("c-42"),
            OptionalAction::Schedule(scheduled()),
        ))
        .then_refused_because(Forbidden, "only support");
    let mut same = scheduled();
    same.to_version = "15".into();
    given::<OptionalMigrationDecider>([])
        .when(by(Actor::support("jdoe"), OptionalAction::Schedule(same)))
        .then_refused_because(Invalid, "PostgreSQL");
    given::<OptionalMigrationDecider>([])
        .when(by(
            Actor::customer("c-42"),
            apply(T1, "2026-12-01T03:00:00Z"),
        ))
        .then_refused_because(NotFound, "no such optional migration");
}

#[test]
fn it_is_applied_directly_no_earlier_than_scheduled() {
    given::<OptionalMigrationDecider>([scheduled().into()])
        .when(by(
            Actor::customer("c-42"),
            apply(T1, "2026-11-30T03:00:00Z"),
        ))
        .then_refused_because(Conflict, "scheduled for");
    given::<OptionalMigrationDecider>([scheduled().into()])
        .when(by(
            Actor::customer("c-42"),
            apply(T1, "2026-12-01T02:00:00Z"),
        ))
        .then(vec![OptionalMigrationStarted { transfer_id: T1 }.into()]);
    given::<OptionalMigrationDecider>([scheduled().into()])
        .when(by(
            Actor::customer("c-99"),
            apply(T1, "2026-12-01T02:00:00Z"),
        ))
        .then_refused_because(Forbidden, "does not own");
    given::<OptionalMigrationDecider>(started())
        .when(by(
            Actor::customer("c-42"),
            apply(T2, "2026-12-01T02:00:00Z"),
        ))
        .then_refused_because(Conflict, "being applied");
}

#[test]
fn its_downtime_is_recorded_or_its_failure_allows_a_retry() {
    let system = || Actor::system("accounts");
    given::<OptionalMigrationDecider>(started())
        .when(by(
            system(),
            OptionalAction::RecordResult {
                transfer_id: T1,
                outcome: Ok(4_200),
            },
        ))
        .then(vec![OptionalMigrationApplied { downtime_ms: 4_200 }.into()]);
    given::<OptionalMigrationDecider>(started())
        .when(by(
            system(),
            OptionalAction::RecordResult {
                transfer_id: T2,
                outcome: Ok(1),
            },
        ))
        .then_nothing();
    given::<OptionalMigrationDecider>(started())
        .when(by(
            Actor::support("jdoe"),
            OptionalAction::RecordResult {
                transfer_id: T1,
                outcome: Ok(1),
            },
        ))
        .then_refused_because(Forbidden, "only ferry itself");
    let mut failed = started();
    failed.push(
        OptionalMigrationFailed {
            reason: "pg_restore".into(),
        }
        .into(),
    );
    given::<OptionalMigrationDecider>(failed)
        .when(by(
            Actor::support("jdoe"),
            apply(T2, "2026-12-02T02:00:00Z"),
        ))
        .then(vec![OptionalMigrationStarted { transfer_id: T2 }.into()]);
}

#[test]
fn it_is_cancelled_only_before_being_applied() {
    given::<OptionalMigrationDecider>([scheduled().into()])
        .when(by(
            Actor::customer("c-42"),
            OptionalAction::Cancel {
                reason: "later".into(),
            },
        ))
        .then(vec![
            OptionalMigrationCancelled {
                reason: "later".into(),
            }
            .into(),
        ]);
    given::<OptionalMigrationDecider>(started())
        .when(by(
            Actor::customer("c-42"),
            OptionalAction::Cancel {
                reason: "later".into(),
            },
        ))
        .then_refused_because(Conflict, "being applied");
}

#[test]
fn ferry_applies_a_migration_scheduled_for_a_time_once_due() {
    let system = || Actor::system("accounts");
    given::<OptionalMigrationDecider>([scheduled().into()])
        .when(by(system(), apply(T1, "2026-12-01T02:00:00Z")))
        .then(vec![OptionalMigrationStarted { transfer_id: T1 }.into()]);
    given::<OptionalMigrationDecider>([scheduled().into()])
        .when(by(system(), apply(T1, "2026-12-01T01:59:59Z")))
        .then_refused_because(Conflict, "scheduled for");
    let mut unscheduled = scheduled();
    unscheduled.scheduled_for = None;
    given::<OptionalMigrationDecider>([unscheduled.into()])
        .when(by(system(), apply(T1, "2026-12-01T02:00:00Z")))
        .then_refused_because(Forbidden, "only the server's owner or support");
}

#[test]
fn a_service_whose_data_ferry_does_not_move_is_refused_at_the_request() {
    for service in [
        ServiceKind::Redis,
        ServiceKind::Memcached,
        ServiceKind::Elasticsearch,
        ServiceKind::RabbitMq,
    ] {
        let mut asked = scheduled();
        asked.service = service;
        let refusal = given::<OptionalMigrationDecider>([])
            .when(by(Actor::support("jdoe"), OptionalAction::Schedule(asked)))
            .then_refused(ferry_core::RefusalKind::Invalid);
        assert!(
            refusal
                .to_string()
                .contains("PostgreSQL and MySQL/MariaDB data only"),
            "{refusal}"
        );
    }
}
