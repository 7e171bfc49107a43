//! The command handler (load → decide → append, retried on conflict) with a small
//! decider made for the test: a checklist of accounts marked ready.

use ferry_events::{AccountMarkedReady, Actor, AggregateType, Event, MigrationEvent};
use ferry_infra::command::{Command, CommandHandler, Decider, HandleError, Refusal, RefusalKind};
use ferry_infra::testkit::TestStack;
use std::collections::BTreeSet;
use uuid::Uuid;

struct Checklist;

#[derive(Debug, thiserror::Error)]
enum ChecklistRefusal {
    #[error("account {0} is already ready")]
    AlreadyReady(String),
    #[error("an account needs a name")]
    Unnamed,
}
use ChecklistRefusal::{AlreadyReady, Unnamed};

impl Refusal for ChecklistRefusal {
    fn kind(&self) -> RefusalKind {
        match self {
            AlreadyReady(_) => RefusalKind::Conflict,
            Unnamed => RefusalKind::Invalid,
        }
    }
}

impl Decider for Checklist {
    type State = BTreeSet<String>;
    type Command = Vec<String>;
    type Event = MigrationEvent;
    type Rejection = ChecklistRefusal;
    const AGGREGATE: AggregateType = AggregateType::Migration;

    fn decide(
        state: &Self::State,
        accounts: &Self::Command,
    ) -> Result<Vec<Self::Event>, Self::Rejection> {
        if accounts.iter().any(String::is_empty) {
            return Err(Unnamed);
        }
        if let Some(done) = accounts.iter().find(|a| state.contains(*a)) {
            return Err(AlreadyReady(done.clone()));
        }
        Ok(accounts
            .iter()
            .map(|a| {
                MigrationEvent::AccountMarkedReady(AccountMarkedReady {
                    account_id: a.clone(),
                })
            })
            .collect())
    }

    fn evolve(mut state: Self::State, event: &Self::Event) -> Self::State {
        if let MigrationEvent::AccountMarkedReady(e) = event {
            state.insert(e.account_id.clone());
        }
        state
    }

    fn select(event: &Event) -> Option<&Self::Event> {
        match event {
            Event::Migration(e) => Some(e),
            _ => None,
        }
    }
}

fn command(aggregate_id: &str, accounts: &[&str]) -> Command<Vec<String>> {
    Command {
        id: Uuid::now_v7(),
        aggregate_id: aggregate_id.to_owned(),
        correlation_id: Uuid::now_v7(),
        actor: Actor::customer("c-42"),
        payload: accounts.iter().map(|a| (*a).to_owned()).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commands_both_land_after_a_retry() {
    let stack = TestStack::new().await;
    let handler = CommandHandler::new(stack.log.clone(), 10);
    let other = CommandHandler::new(stack.second_log().await, 10);
    let id = Uuid::now_v7().to_string();
    for round in 0..10 {
        let (a, b, x) = (
            format!("a{round}"),
            format!("b{round}"),
            format!("x{round}"),
        );
        let (ca, cb) = (command(&id, &[&a]), command(&id, &[&b, &x]));
        let (ra, rb) = tokio::join!(
            handler.handle::<Checklist>(&ca),
            other.handle::<Checklist>(&cb)
        );
        ra.expect("first command lands");
        rb.expect("second command lands");
    }
    let loaded = stack
        .log
        .load(&ferry_infra::event_log::AggregateRef::new(AggregateType::Migration, id).expect("id"))
        .await
        .expect("load");
    assert_eq!(loaded.events.len(), 30, "every command's events, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_handled_twice_appends_once_and_a_refusal_changes_nothing() {
    let stack = TestStack::new().await;
    let handler = CommandHandler::new(stack.log.clone(), 3);
    let id = Uuid::now_v7().to_string();
    let first = command(&id, &["a", "b"]);
    let done = handler.handle::<Checklist>(&first).await.expect("handled");
    assert!(!done.already_handled);
    assert_eq!(done.events.len(), 2);
    assert_eq!(done.state.len(), 2);

    let again = handler
        .handle::<Checklist>(&first)
        .await
        .expect("handled again");
    assert!(again.already_handled, "recognised by its id");
    assert_eq!(again.version, done.version);
    assert_eq!(
        again.events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        done.events.iter().map(|e| e.event_id).collect::<Vec<_>>()
    );

    // The same key with a malformed request is refused as malformed, not answered
    // with the first request's outcome.
    let mut malformed = command(&id, &[""]);
    malformed.id = first.id;
    let refused = handler.handle::<Checklist>(&malformed).await;
    assert!(
        matches!(refused, Err(HandleError::Rejected(Unnamed))),
        "{refused:?}"
    );

    let refused = handler
        .handle::<Checklist>(&command(&id, &["c", "a"]))
        .await;
    assert!(
        matches!(refused, Err(HandleError::Rejected(AlreadyReady(ref a))) if a == "a"),
        "{refused:?}"
    );
    let bad_id = handler
        .handle::<Checklist>(&command("not a token", &["a"]))
        .await;
    assert!(
        matches!(bad_id, Err(HandleError::InvalidAggregate(_))),
        "{bad_id:?}"
    );
    let aggregate =
        ferry_infra::event_log::AggregateRef::new(AggregateType::Migration, id).expect("id");
    assert_eq!(
        stack.log.load(&aggregate).await.expect("load").version,
        done.version,
        "nothing appended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_gives_up_after_its_attempts() {
    let stack = TestStack::new().await;
    let id = Uuid::now_v7().to_string();
    let one_shot = CommandHandler::new(stack.log.clone(), 1);
    let other = CommandHandler::new(stack.second_log().await, 1);
    let mut contention = 0;
    for round in 0..20 {
        let (a, b) = (format!("a{round}"), format!("b{round}"));
        let (ca, cb) = (command(&id, &[&a]), command(&id, &[&b]));
        let (ra, rb) = tokio::join!(
            one_shot.handle::<Checklist>(&ca),
            other.handle::<Checklist>(&cb)
        );
        for r in [ra, rb] {
            match r {
                Ok(_) => {}
                Err(HandleError::Contention { attempts: 1, .. }) => contention += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
    }
    assert!(
        contention > 0,
        "with one attempt, racing commands sometimes give up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_kept_by_one_process_never_hides_what_another_appended() {
    let stack = TestStack::new().await;
    let here = CommandHandler::new(stack.log.clone(), 3);
    let elsewhere = CommandHandler::new(stack.second_log().await, 3);
    let id = Uuid::now_v7().to_string();
    let first = command(&id, &["a"]);
    here.handle::<Checklist>(&first).await.expect("a");
    // Another process moves the aggregate on: what `here` keeps is now stale.
    let b = command(&id, &["b"]);
    elsewhere.handle::<Checklist>(&b).await.expect("b");

    // Accepted on the stale state, refused on the log: refused, nothing appended.
    let refused = here.handle::<Checklist>(&command(&id, &["b"])).await;
    assert!(
        matches!(refused, Err(HandleError::Rejected(AlreadyReady(ref b))) if b == "b"),
        "{refused:?}"
    );
    // Decided on the log: the next one lands after both.
    let next = here
        .handle::<Checklist>(&command(&id, &["c"]))
        .await
        .expect("c");
    assert_eq!(
        next.state,
        BTreeSet::from(["a".into(), "b".into(), "c".into()])
    );
    // A command seen here before is answered from the log, with its events.
    let again = here.handle::<Checklist>(&first).await.expect("again");
    assert!(again.already_handled);
    assert_eq!(again.events.len(), 1);
    // ...and one handled elsewhere, whose id this process never saw, too.
    let b_again = here.handle::<Checklist>(&b).await.expect("b again");
    assert!(b_again.already_handled);
    let aggregate = ferry_infra::event_log::AggregateRef::new(AggregateType::Migration, id.clone())
        .expect("id");
    let loaded = stack.log.load(&aggregate).await.expect("load");
    assert_eq!(loaded.events.len(), 3, "a, b, c once each");
    assert_eq!(loaded.version, next.version);
}
