//! A loan charged through the durable timers, with the log's clock moved forward:
//! the notice before the free period ends, each day once as it starts, across a
//! restart and a replay of the whole log, then the close on release.

use crate::support::{Running, lent, loan_where, migration_opened, released, server_registered};
use chrono::Duration;
use ferry_billing::domain::loan::LoanDecider;
use ferry_billing::domain::policy::{BillingPolicy, BillingView};
use ferry_billing::domain::pricing::{day_date, day_price};
use ferry_billing::{Billing, BillingExecutor};
use ferry_core::Decider;
use ferry_core::policy::{Entries, Policy, View};
use ferry_core::scenario::read_rounds;
use ferry_events::{AggregateType, Event, LoanEvent, Money};
use ferry_infra::event_log::{AggregateRef, EventLog};
use ferry_infra::policy::Execute;
use ferry_infra::testkit::TestStack;
use uuid::Uuid;

async fn loan_events(log: &EventLog, migration_id: Uuid) -> Vec<LoanEvent> {
    let aggregate = AggregateRef::new(AggregateType::Loan, migration_id.to_string()).expect("id");
    log.load(&aggregate)
        .await
        .expect("load")
        .events
        .into_iter()
        .filter_map(|r| match r.envelope.event {
            Event::Loan(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// Every event billing's policy reads (of these aggregates) through the policy again,
/// in log order (the same command ids), then every timer due now: what a
/// redelivery of the whole log would issue.
async fn replay_everything(
    log: &EventLog,
    billing: &Billing,
    aggregates: &[(AggregateType, String)],
) {
    let executor = BillingExecutor::new(billing.clone());
    let mut recorded = Vec::new();
    for (kind, id) in aggregates {
        let aggregate = AggregateRef::new(*kind, id.clone()).expect("id");
        recorded.extend(log.load(&aggregate).await.expect("load").events);
    }
    recorded.sort_by_key(|r| (r.sequence, r.index));
    let mut entries = Entries::new();
    for envelope in recorded.into_iter().map(|r| r.envelope) {
        BillingView::fold(&mut entries, [&envelope]);
        let read = read_rounds::<BillingPolicy>(&envelope, &entries);
        for command in BillingPolicy::react(&envelope, &read).expect("facts") {
            executor.execute(&command).await.expect("replayed command");
        }
    }
    let now = log.clock().now();
    for (key, entry) in &entries {
        if BillingView::due(entry).is_some_and(|due| due <= now) {
            for command in BillingPolicy::on_due(key, entry) {
                executor.execute(&command).await.expect("replayed timer");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loan_is_charged_day_by_day_through_the_timer_once_across_a_restart_and_a_replay() {
    let stack = TestStack::new().await;
    let log = stack.log.clone();
    let clock = log.clock().clone();
    let billing = Billing::new(log.clone(), 2);
    let migration = Uuid::now_v7();
    server_registered(&log, "srv-1", "c-42", 3100).await;
    migration_opened(&log, migration, "srv-1", "c-42").await;
    let running = Running::start(&stack, &billing, log.clone()).await;

    let started_at = lent(&log, "tr-1", migration).await;
    let loan = loan_where(&billing, migration, "the loan opened", |l| {
        l.opened.is_some()
    })
    .await;
    let opened = loan.opened.expect("opened");
    assert_eq!(
        opened.started_at, started_at,
        "from the lent event's instant"
    );
    assert_eq!(opened.free_period_days, 2, "the setting in force");
    assert_eq!(opened.monthly_price, Money::new(3100, "EUR"));
    assert_eq!(opened.customer_id, "c-42");
    assert_eq!(opened.client_server_id, "srv-1");

    // Two free days: only the 1-day notice (the 3-day one would fall before the start).
    clock.advance(Duration::days(1) + Duration::minutes(1));
    let loan = loan_where(&billing, migration, "the 1-day notice", |l| {
        !l.notices.is_empty()
    })
    .await;
    assert_eq!(
        loan.notices,
        vec![(started_at + Duration::days(2), 1)],
        "one notice, 1 day before the end"
    );
    assert!(
        loan.charged.is_empty(),
        "nothing charged in the free period"
    );

    // Day 3 starts: charged at once.
    clock.advance(Duration::days(1));
    loan_where(&billing, migration, "day 3 charged", |l| {
        l.charged.len() == 1
    })
    .await;

    // Stopped while days 4 and 5 start: the restarted timers charge them, once each.
    running.stop().await;
    clock.advance(Duration::days(2));
    let running = Running::start(&stack, &billing, stack.second_log().await).await;
    let loan = loan_where(&billing, migration, "days 4 and 5 charged", |l| {
        l.charged.len() == 3
    })
    .await;
    let expected: Vec<_> = (3..=5)
        .map(|k| {
            let day = day_date(started_at, k);
            (day, day_price(&Money::new(3100, "EUR"), day))
        })
        .collect();
    assert_eq!(loan.charged.into_iter().collect::<Vec<_>>(), expected);

    // A replay of the whole log, and the timers firing again meanwhile, change nothing.
    let before = loan_events(&log, migration).await;
    replay_everything(
        &log,
        &billing,
        &[
            (AggregateType::Server, "srv-1".to_owned()),
            (AggregateType::Migration, migration.to_string()),
            (AggregateType::TransitServer, "tr-1".to_owned()),
            (AggregateType::Loan, migration.to_string()),
        ],
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let after = loan_events(&log, migration).await;
    assert_eq!(before, after, "nothing charged twice");
    let charges = after
        .iter()
        .filter(|e| matches!(e, LoanEvent::LoanDayCharged(_)))
        .count();
    assert_eq!(charges, 3);

    // Released within day 5: closed, 5 days used, 3 charged.
    released(&log, "tr-1", migration).await;
    let loan = loan_where(&billing, migration, "the loan closed", |l| {
        l.closed.is_some()
    })
    .await;
    let closed = loan.closed.clone().expect("closed");
    assert_eq!(closed.days_used, 5);
    assert_eq!(closed.billable_days, 3);
    let total: i64 = expected.iter().map(|(_, m)| m.amount_cents).sum();
    assert_eq!(closed.total, Money::new(total, "EUR"));
    // The loan folded from the log agrees.
    let folded = LoanDecider::fold(
        loan_events(&log, migration)
            .await
            .into_iter()
            .map(Event::Loan)
            .collect::<Vec<_>>()
            .iter(),
    );
    assert_eq!(folded, loan);

    // Closed: later days are not charged.
    clock.advance(Duration::days(3));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(loan_events(&log, migration).await.len(), after.len() + 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loan_released_inside_its_free_period_closes_at_zero_and_the_setting_binds_new_loans_only()
 {
    let stack = TestStack::new().await;
    let log = stack.log.clone();
    let billing = Billing::new(log.clone(), 14);
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    server_registered(&log, "srv-1", "c-42", 3100).await;
    migration_opened(&log, first, "srv-1", "c-42").await;
    let running = Running::start(&stack, &billing, log.clone()).await;
    lent(&log, "tr-1", first).await;
    loan_where(&billing, first, "opened", |l| l.opened.is_some()).await;
    log.clock().advance(Duration::days(3));
    released(&log, "tr-1", first).await;
    let loan = loan_where(&billing, first, "closed", |l| l.closed.is_some()).await;
    let closed = loan.closed.expect("closed");
    assert_eq!(
        (closed.days_used, closed.billable_days, closed.total),
        (4, 0, Money::new(0, "EUR"))
    );
    running.stop().await;

    // The setting changes to 7 days: a new loan gets 7, the closed one kept 14.
    let billing7 = Billing::new(log.clone(), 7);
    let running = Running::start(&stack, &billing7, log.clone()).await;
    migration_opened(&log, second, "srv-1", "c-42").await;
    lent(&log, "tr-2", second).await;
    let loan = loan_where(&billing7, second, "opened", |l| l.opened.is_some()).await;
    assert_eq!(loan.free_period_days, 7);
    assert_eq!(
        billing7.loan(first).await.expect("loan").free_period_days,
        14
    );
    running.stop().await;
}
