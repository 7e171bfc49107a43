use super::*;
use chrono::TimeZone;
use ferry_core::scenario::given;
use ferry_events::NotificationAudience;
use uuid::Uuid;

fn queued() -> NotificationQueued {
    NotificationQueued {
        recipient: "jane@example.org".into(),
        audience: NotificationAudience::Customer,
        locale: "fr".into(),
        template: "transit_ready".into(),
        subject: "Le serveur de transit est prêt".into(),
        body: "…".into(),
        cause_event_id: Uuid::from_u128(7),
    }
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0)
        .single()
        .expect("a date")
}

fn failure(attempt: u32) -> NotificationCommand {
    NotificationCommand::RecordFailure {
        attempt,
        reason: "connection refused".into(),
        max_attempts: 2,
    }
}

#[test]
fn a_message_is_queued_once() {
    given::<NotificationDecider>([])
        .when(NotificationCommand::Queue(queued()))
        .then(vec![queued().into()]);
    given::<NotificationDecider>([queued().into()])
        .when(NotificationCommand::Queue(queued()))
        .then_nothing();
}

#[test]
fn each_attempt_is_recorded_before_it_is_made_and_in_order() {
    given::<NotificationDecider>([queued().into()])
        .when(NotificationCommand::BeginAttempt { attempt: 1 })
        .then(vec![NotificationSending { attempt: 1 }.into()]);
    given::<NotificationDecider>([queued().into()])
        .when(NotificationCommand::BeginAttempt { attempt: 2 })
        .then_refused(RefusalKind::Conflict);
    // An attempt under way is never begun again: its outcome is unknown.
    given::<NotificationDecider>([queued().into(), NotificationSending { attempt: 1 }.into()])
        .when(NotificationCommand::BeginAttempt { attempt: 2 })
        .then_refused(RefusalKind::Conflict);
    given::<NotificationDecider>([])
        .when(NotificationCommand::BeginAttempt { attempt: 1 })
        .then_refused(RefusalKind::NotFound);
}

#[test]
fn a_sent_message_stays_sent() {
    let state =
        given::<NotificationDecider>([queued().into(), NotificationSending { attempt: 1 }.into()])
            .when(NotificationCommand::RecordSent {
                attempt: 1,
                sent_at: at(),
            })
            .then(vec![
                NotificationSent {
                    attempt: 1,
                    sent_at: at(),
                }
                .into(),
            ]);
    assert_eq!(state.stage, Stage::Sent);
    given::<NotificationDecider>([
        queued().into(),
        NotificationSending { attempt: 1 }.into(),
        NotificationSent {
            attempt: 1,
            sent_at: at(),
        }
        .into(),
    ])
    .when(NotificationCommand::BeginAttempt { attempt: 2 })
    .then_refused(RefusalKind::Conflict);
}

#[test]
fn failures_are_retried_then_given_up_then_requeued_for_a_new_round() {
    let retrying =
        given::<NotificationDecider>([queued().into(), NotificationSending { attempt: 1 }.into()])
            .when(failure(1))
            .then(vec![
                NotificationFailed {
                    attempt: 1,
                    reason: "connection refused".into(),
                    will_retry: true,
                }
                .into(),
            ]);
    assert_eq!(retrying.stage, Stage::Retrying);
    let history: Vec<NotificationEvent> = vec![
        queued().into(),
        NotificationSending { attempt: 1 }.into(),
        NotificationFailed {
            attempt: 1,
            reason: "x".into(),
            will_retry: true,
        }
        .into(),
        NotificationSending { attempt: 2 }.into(),
    ];
    let given_up = given::<NotificationDecider>(history.clone())
        .when(failure(2))
        .then(vec![
            NotificationFailed {
                attempt: 2,
                reason: "connection refused".into(),
                will_retry: false,
            }
            .into(),
        ]);
    assert_eq!(given_up.stage, Stage::GivenUp);
    let mut after = history;
    after.push(
        NotificationFailed {
            attempt: 2,
            reason: "x".into(),
            will_retry: false,
        }
        .into(),
    );
    given::<NotificationDecider>(after.clone())
        .when(NotificationCommand::BeginAttempt { attempt: 3 })
        .then_refused(RefusalKind::Conflict);
    given::<NotificationDecider>(after.clone())
        .when(NotificationCommand::Requeue { reason: " ".into() })
        .then_refused(RefusalKind::Invalid);
    after.push(
        NotificationRequeued {
            reason: "mail relay mended".into(),
        }
        .into(),
    );
    after.push(NotificationSending { attempt: 3 }.into());
    // A new round: attempt 3 is the first of two again.
    given::<NotificationDecider>(after)
        .when(failure(3))
        .then(vec![
            NotificationFailed {
                attempt: 3,
                reason: "connection refused".into(),
                will_retry: true,
            }
            .into(),
        ]);
}

#[test]
fn an_interrupted_attempt_is_requeued_only_by_support_and_a_queued_one_is_not() {
    given::<NotificationDecider>([queued().into(), NotificationSending { attempt: 1 }.into()])
        .when(NotificationCommand::Requeue {
            reason: "checked: it never arrived".into(),
        })
        .then(vec![
            NotificationRequeued {
                reason: "checked: it never arrived".into(),
            }
            .into(),
        ]);
    given::<NotificationDecider>([queued().into()])
        .when(NotificationCommand::Requeue {
            reason: "again".into(),
        })
        .then_refused_because(RefusalKind::Conflict, "put back");
}
