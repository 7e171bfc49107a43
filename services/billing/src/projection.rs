//! The `billing` projection: billing's read model in the PostgreSQL schema
//! `proj_billing`, folded from the `loan` events alone.
//!
//! - `loans`: one row per loan (who, what, since when, free period, charged so far,
//!   how it ended);
//! - `charges`: one row per charged day, with the loan's customer and servers and
//!   the calendar month (`YYYY-MM`) of the day;
//! - `invoices`: per customer, calendar month and currency, the total and number of
//!   lines (the charges of that month);
//! - `free_period_changes`, `notices`: the loan's history, who and why.
//!
//! Each event is applied in log order inside the batch's transaction; nothing
//! depends on anything but the events, so a rebuild equals the live tables.

use chrono::{Datelike, NaiveDate};
use ferry_events::{AggregateType, Event, LoanEvent};
use ferry_infra::event_log::Recorded;
use ferry_infra::projection::{ApplyError, Projection};
use uuid::Uuid;

/// The name of the projection; its live schema is `proj_billing`.
pub const NAME: &str = "billing";

/// The live schema holding the tables, for queries.
pub const SCHEMA_NAME: &str = "proj_billing";

// The definition (this text) changing rebuilds the projection from the log.
const SCHEMA: &str = "
-- v1: folds loan events
CREATE TABLE loans (
    migration_id uuid PRIMARY KEY,
    customer_id text NOT NULL,
    client_server_id text NOT NULL,
    transit_server_id text NOT NULL,
    started_at timestamptz NOT NULL,
    free_period_days integer NOT NULL,
    monthly_price_cents bigint NOT NULL,
    currency text NOT NULL,
    days_charged integer NOT NULL,
    charged_cents bigint NOT NULL,
    ended_at timestamptz,
    days_used integer,
    billable_days integer,
    total_cents bigint
);
CREATE INDEX loans_by_customer ON loans (customer_id, started_at);
CREATE TABLE charges (
    migration_id uuid NOT NULL,
    day date NOT NULL,
    customer_id text NOT NULL,
    client_server_id text NOT NULL,
    transit_server_id text NOT NULL,
    month text NOT NULL,
    amount_cents bigint NOT NULL,
    currency text NOT NULL,
    sequence bigint NOT NULL,
    PRIMARY KEY (migration_id, day)
);
CREATE INDEX charges_by_customer ON charges (customer_id, month, day, migration_id);
CREATE TABLE invoices (
    customer_id text NOT NULL,
    month text NOT NULL,
    currency text NOT NULL,
    total_cents bigint NOT NULL,
    lines integer NOT NULL,
    PRIMARY KEY (customer_id, month, currency)
);
CREATE TABLE free_period_changes (
    migration_id uuid NOT NULL,
    sequence bigint NOT NULL,
    position integer NOT NULL,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    free_period_days integer NOT NULL,
    previous_free_period_days integer NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (migration_id, sequence, position)
);
CREATE TABLE notices (
    migration_id uuid NOT NULL,
    sequence bigint NOT NULL,
    position integer NOT NULL,
    at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    days_left integer NOT NULL,
    first_day_price_cents bigint NOT NULL,
    currency text NOT NULL,
    PRIMARY KEY (migration_id, sequence, position)
);
";

/// The calendar month of a day, `YYYY-MM`.
pub fn month_of(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// Billing's read model (`billing`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BillingReadModel;

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn seq(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Projection for BillingReadModel {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> &'static [AggregateType] {
        &[AggregateType::Loan]
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    async fn apply<'a>(
        &'a self,
        tx: &'a tokio_postgres::Transaction<'a>,
        events: &'a [Recorded],
    ) -> Result<(), ApplyError> {
        for recorded in events {
            if let Event::Loan(event) = &recorded.envelope.event {
                apply_one(tx, recorded, event).await?;
            }
        }
        Ok(())
    }
}

async fn apply_one(
    tx: &tokio_postgres::Transaction<'_>,
    recorded: &Recorded,
    event: &LoanEvent,
) -> Result<(), ApplyError> {
    let envelope = &recorded.envelope;
    let migration_id: Uuid = envelope.aggregate_id.parse().map_err(|_| {
        ApplyError::Invalid(format!(
            "loan id {:?} is not a migration uuid",
            envelope.aggregate_id
        ))
    })?;
    let (sequence, position) = (
        seq(recorded.sequence),
        i32::try_from(recorded.index).unwrap_or(i32::MAX),
    );
    match event {
        LoanEvent::LoanOpened(e) => {
            tx.execute(
                "INSERT INTO loans (migration_id, customer_id, client_server_id, transit_server_id,
                    started_at, free_period_days, monthly_price_cents, currency, days_charged,
                    charged_cents)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0)
                 ON CONFLICT (migration_id) DO NOTHING",
                &[
                    &migration_id,
                    &e.customer_id,
                    &e.client_server_id,
                    &e.transit_server_id,
                    &e.started_at,
                    &int(e.free_period_days),
                    &e.monthly_price.amount_cents,
                    &e.monthly_price.currency,
                ],
            )
            .await?;
        }
        LoanEvent::LoanDayCharged(e) => {
            let month = month_of(e.day);
            let inserted = tx
                .execute(
                    "INSERT INTO charges (migration_id, day, customer_id, client_server_id,
                        transit_server_id, month, amount_cents, currency, sequence)
                     SELECT migration_id, $2, customer_id, client_server_id, transit_server_id,
                        $3, $4, $5, $6
                     FROM loans WHERE migration_id = $1
                     ON CONFLICT (migration_id, day) DO NOTHING",
                    &[
                        &migration_id,
                        &e.day,
                        &month,
                        &e.amount.amount_cents,
                        &e.amount.currency,
                        &sequence,
                    ],
                )
                .await?;
            if inserted == 1 {
                tx.execute(
                    "UPDATE loans SET days_charged = days_charged + 1,
                        charged_cents = charged_cents + $2
                     WHERE migration_id = $1",
                    &[&migration_id, &e.amount.amount_cents],
                )
                .await?;
                tx.execute(
                    "INSERT INTO invoices (customer_id, month, currency, total_cents, lines)
                     SELECT customer_id, $2, $3, $4, 1 FROM loans WHERE migration_id = $1
                     ON CONFLICT (customer_id, month, currency) DO UPDATE
                     SET total_cents = invoices.total_cents + EXCLUDED.total_cents,
                         lines = invoices.lines + 1",
                    &[
                        &migration_id,
                        &month,
                        &e.amount.currency,
                        &e.amount.amount_cents,
                    ],
                )
                .await?;
            }
        }
        LoanEvent::LoanFreePeriodChanged(e) => {
            tx.execute(
                "UPDATE loans SET free_period_days = $2 WHERE migration_id = $1",
                &[&migration_id, &int(e.free_period_days)],
            )
            .await?;
            tx.execute(
                "INSERT INTO free_period_changes (migration_id, sequence, position, at, actor,
                    free_period_days, previous_free_period_days, reason)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT DO NOTHING",
                &[
                    &migration_id,
                    &sequence,
                    &position,
                    &envelope.occurred_at,
                    &envelope.actor.to_string(),
                    &int(e.free_period_days),
                    &int(e.previous_free_period_days),
                    &e.reason,
                ],
            )
            .await?;
        }
        LoanEvent::LoanFreePeriodEnding(e) => {
            tx.execute(
                "INSERT INTO notices (migration_id, sequence, position, at, ends_at, days_left,
                    first_day_price_cents, currency)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT DO NOTHING",
                &[
                    &migration_id,
                    &sequence,
                    &position,
                    &envelope.occurred_at,
                    &e.ends_at,
                    &int(e.days_left),
                    &e.first_day_price.amount_cents,
                    &e.first_day_price.currency,
                ],
            )
            .await?;
        }
        LoanEvent::LoanClosed(e) => {
            tx.execute(
                "UPDATE loans SET ended_at = $2, days_used = $3, billable_days = $4,
                    total_cents = $5
                 WHERE migration_id = $1",
                &[
                    &migration_id,
                    &e.ended_at,
                    &int(e.days_used),
                    &int(e.billable_days),
                    &e.total.amount_cents,
                ],
            )
            .await?;
        }
    }
    Ok(())
}
