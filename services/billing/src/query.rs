//! Queries of billing's read model (`proj_billing`), answered as [`crate::api`]
//! types. Who may see what is decided here: support sees everything, a customer only
//! their own loans, charges and invoices (anything else is "not found", so that a
//! customer learns nothing of another's).
//!
//! This module emits and consumes no event.

use crate::api::{
    Amount, ChargeLine, ChargeList, EndingLoan, EndingLoans, FreePeriodChange, Invoice,
    InvoiceList, InvoiceSummary, LoanDetail, LoanEnd, NoticeGiven,
};
use crate::domain::pricing::{days_started, free_period_ends_at};
use crate::projection::SCHEMA_NAME;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Pool;
use ferry_events::{Actor, ActorRole};
use ferry_infra::api::ApiError;
use std::collections::BTreeMap;
use tokio_postgres::Row;
use uuid::Uuid;

/// A query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Nothing by that name (or not the asker's).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// Support's alone.
    #[error("{0}")]
    Forbidden(String),
    /// The read model is not built yet.
    #[error("the billing read model is being built; try again shortly")]
    NotReady,
    /// PostgreSQL could not be reached.
    #[error("billing read model unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// PostgreSQL refused a query.
    #[error("billing read model query failed: {0}")]
    Database(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for QueryError {
    fn from(error: tokio_postgres::Error) -> Self {
        let undefined = error.code().is_some_and(|c| {
            *c == tokio_postgres::error::SqlState::UNDEFINED_TABLE
                || *c == tokio_postgres::error::SqlState::INVALID_SCHEMA_NAME
        });
        if undefined {
            QueryError::NotReady
        } else {
            QueryError::Database(error)
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        let reason = error.to_string();
        match error {
            QueryError::NotFound(_) => ApiError::not_found(reason),
            QueryError::Invalid(_) => ApiError::invalid(reason),
            QueryError::Forbidden(_) => ApiError::forbidden(reason),
            QueryError::NotReady | QueryError::Pool(_) | QueryError::Database(_) => {
                ApiError::unavailable(reason)
            }
        }
    }
}

/// Allows `actor` to see the things of `customer_id`: the customer itself and
/// support. A customer's other users are granted migration rights, never its bills.
pub fn may_see_customer(actor: &Actor, customer_id: &str) -> Result<(), QueryError> {
    match actor.role {
        ActorRole::Customer if actor.id != customer_id => Err(QueryError::NotFound(format!(
            "no billing records of customer {customer_id} for customer {}",
            actor.id
        ))),
        ActorRole::User => Err(QueryError::NotFound(format!(
            "no billing records of customer {customer_id} for {actor}: billing is the customer's own"
        ))),
        ActorRole::Customer | ActorRole::Support | ActorRole::System => Ok(()),
    }
}

/// Reads a month `YYYY-MM`.
pub fn parse_month(text: &str) -> Result<NaiveDate, QueryError> {
    let valid = text.len() == 7 && text.as_bytes().get(4) == Some(&b'-');
    valid
        .then(|| NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| QueryError::Invalid(format!("month {text:?} is not YYYY-MM")))
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn charge_line(row: &Row) -> ChargeLine {
    ChargeLine {
        migration_id: row.get("migration_id"),
        client_server_id: row.get("client_server_id"),
        transit_server_id: row.get("transit_server_id"),
        day: row.get("day"),
        amount: Amount::new(row.get("amount_cents"), row.get::<_, String>("currency")),
    }
}

fn totals(lines: &[ChargeLine]) -> Vec<Amount> {
    let mut by_currency: BTreeMap<&str, i64> = BTreeMap::new();
    for line in lines {
        *by_currency.entry(&line.amount.currency).or_default() += line.amount.amount_cents;
    }
    by_currency
        .into_iter()
        .map(|(currency, cents)| Amount::new(cents, currency))
        .collect()
}

/// The loan of `migration_id`, with `now` (the log's clock) for the days used so far.
pub async fn loan(
    pool: &Pool,
    actor: &Actor,
    migration_id: Uuid,
    now: DateTime<Utc>,
) -> Result<LoanDetail, QueryError> {
    let client = pool.get().await?;
    let not_found = || QueryError::NotFound(format!("no loan for migration {migration_id}"));
    let row = client
        .query_opt(
            &format!("SELECT * FROM {SCHEMA_NAME}.loans WHERE migration_id = $1"),
            &[&migration_id],
        )
        .await?
        .ok_or_else(not_found)?;
    let customer_id: String = row.get("customer_id");
    if may_see_customer(actor, &customer_id).is_err() {
        return Err(not_found());
    }
    let charges: Vec<ChargeLine> = client
        .query(
            &format!("SELECT * FROM {SCHEMA_NAME}.charges WHERE migration_id = $1 ORDER BY day"),
            &[&migration_id],
        )
        .await?
        .iter()
        .map(charge_line)
        .collect();
    let free_period_changes = client
        .query(
            &format!(
                "SELECT * FROM {SCHEMA_NAME}.free_period_changes WHERE migration_id = $1
                 ORDER BY sequence, position"
            ),
            &[&migration_id],
        )
        .await?
        .iter()
        .map(|r| FreePeriodChange {
            at: r.get("at"),
            by: r.get("actor"),
            free_period_days: count(r.get("free_period_days")),
            previous_free_period_days: count(r.get("previous_free_period_days")),
            reason: r.get("reason"),
        })
        .collect();
    let notices = client
        .query(
            &format!(
                "SELECT * FROM {SCHEMA_NAME}.notices WHERE migration_id = $1
                 ORDER BY sequence, position"
            ),
            &[&migration_id],
        )
        .await?
        .iter()
        .map(|r| NoticeGiven {
            at: r.get("at"),
            ends_at: r.get("ends_at"),
            days_left: count(r.get("days_left")),
            first_day_price: Amount::new(
                r.get("first_day_price_cents"),
                r.get::<_, String>("currency"),
            ),
        })
        .collect();
    let currency: String = row.get("currency");
    let started_at: DateTime<Utc> = row.get("started_at");
    let free_period_days = count(row.get("free_period_days"));
    let ended_at: Option<DateTime<Utc>> = row.get("ended_at");
    let ended = ended_at.map(|ended_at| LoanEnd {
        ended_at,
        days_used: count(row.get::<_, Option<i32>>("days_used").unwrap_or(0)),
        billable_days: count(row.get::<_, Option<i32>>("billable_days").unwrap_or(0)),
        total: Amount::new(
            row.get::<_, Option<i64>>("total_cents").unwrap_or(0),
            currency.clone(),
        ),
    });
    let days_used = match &ended {
        Some(end) => end.days_used,
        None => days_started(started_at, now),
    };
    let charged = Amount::new(row.get("charged_cents"), currency.clone());
    Ok(LoanDetail {
        migration_id,
        customer_id,
        client_server_id: row.get("client_server_id"),
        transit_server_id: row.get("transit_server_id"),
        started_at,
        monthly_price: Amount::new(row.get("monthly_price_cents"), currency),
        free_period_days,
        free_period_ends_at: free_period_ends_at(started_at, free_period_days),
        days_used,
        billable_days_charged: count(row.get("days_charged")),
        charged_display: charged.display(),
        charged,
        charges,
        free_period_changes,
        notices,
        closed: ended.is_some(),
        ended,
    })
}

/// The most days ahead [`ending_loans`] looks.
pub const MAX_ENDING_WITHIN_DAYS: u32 = 365;

/// The open loans whose free period ends before `now` + `within_days` days, or has
/// ended already, the soonest first (support only).
pub async fn ending_loans(
    pool: &Pool,
    actor: &Actor,
    now: DateTime<Utc>,
    within_days: u32,
) -> Result<EndingLoans, QueryError> {
    if actor.role != ActorRole::Support {
        return Err(QueryError::Forbidden(format!(
            "the loans ending soon are support's list, not {actor}'s"
        )));
    }
    if within_days > MAX_ENDING_WITHIN_DAYS {
        return Err(QueryError::Invalid(format!(
            "ending_within_days {within_days} is more than {MAX_ENDING_WITHIN_DAYS}"
        )));
    }
    let until = now + crate::domain::pricing::DAY * i32::try_from(within_days).unwrap_or(0);
    let client = pool.get().await?;
    // A free period ends `free_period_days` whole days of 24 h after the start
    // (`pricing::free_period_ends_at`).
    let rows = client
        .query(
            &format!(
                "SELECT * FROM {SCHEMA_NAME}.loans
                 WHERE ended_at IS NULL
                   AND started_at + make_interval(hours => free_period_days * 24) <= $1
                 ORDER BY started_at + make_interval(hours => free_period_days * 24), migration_id"
            ),
            &[&until],
        )
        .await?;
    let loans = rows
        .iter()
        .map(|row| {
            let started_at: DateTime<Utc> = row.get("started_at");
            let free_period_days = count(row.get("free_period_days"));
            let days_used = days_started(started_at, now);
            let charged = Amount::new(row.get("charged_cents"), row.get::<_, String>("currency"));
            EndingLoan {
                migration_id: row.get("migration_id"),
                customer_id: row.get("customer_id"),
                client_server_id: row.get("client_server_id"),
                transit_server_id: row.get("transit_server_id"),
                started_at,
                free_period_days,
                free_period_ends_at: free_period_ends_at(started_at, free_period_days),
                days_used,
                free_days_left: free_period_days.saturating_sub(days_used),
                charged_display: charged.display(),
                charged,
            }
        })
        .collect();
    Ok(EndingLoans {
        ending_within_days: within_days,
        as_of: now,
        loans,
    })
}

/// The charges of `customer_id`, of one month if given.
pub async fn charges(
    pool: &Pool,
    actor: &Actor,
    customer_id: &str,
    month: Option<&str>,
) -> Result<ChargeList, QueryError> {
    may_see_customer(actor, customer_id)?;
    if let Some(month) = month {
        parse_month(month)?;
    }
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "SELECT * FROM {SCHEMA_NAME}.charges
                 WHERE customer_id = $1 AND ($2::text IS NULL OR month = $2)
                 ORDER BY day, migration_id"
            ),
            &[&customer_id, &month],
        )
        .await?;
    let charges: Vec<ChargeLine> = rows.iter().map(charge_line).collect();
    Ok(ChargeList {
        customer_id: customer_id.to_owned(),
        month: month.map(str::to_owned),
        totals: totals(&charges),
        charges,
    })
}

/// The invoices of `customer_id`: months with charges, with their totals.
pub async fn invoices(
    pool: &Pool,
    actor: &Actor,
    customer_id: &str,
) -> Result<InvoiceList, QueryError> {
    may_see_customer(actor, customer_id)?;
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "SELECT month, currency, total_cents, lines FROM {SCHEMA_NAME}.invoices
                 WHERE customer_id = $1 ORDER BY month, currency"
            ),
            &[&customer_id],
        )
        .await?;
    let mut invoices: Vec<InvoiceSummary> = Vec::new();
    for row in &rows {
        let month: String = row.get("month");
        let total = Amount::new(row.get("total_cents"), row.get::<_, String>("currency"));
        let lines = count(row.get("lines"));
        match invoices.last_mut() {
            Some(last) if last.month == month => {
                last.lines += lines;
                last.totals.push(total);
            }
            _ => invoices.push(InvoiceSummary {
                month,
                lines,
                totals: vec![total],
            }),
        }
    }
    Ok(InvoiceList {
        customer_id: customer_id.to_owned(),
        invoices,
    })
}

/// The invoice of `customer_id` for `month`; not found when nothing was charged then.
pub async fn invoice(
    pool: &Pool,
    actor: &Actor,
    customer_id: &str,
    month: &str,
) -> Result<Invoice, QueryError> {
    let list = charges(pool, actor, customer_id, Some(month)).await?;
    if list.charges.is_empty() {
        return Err(QueryError::NotFound(format!(
            "no invoice of customer {customer_id} for {month}: nothing was charged that month"
        )));
    }
    Ok(Invoice {
        customer_id: list.customer_id,
        month: month.to_owned(),
        lines: list.charges,
        totals: list.totals,
    })
}

/// An invoice as CSV: a header row, then one line per charge, amounts as decimals.
pub fn invoice_csv(invoice: &Invoice) -> String {
    let mut csv = String::from(
        "customer_id,month,day,migration_id,client_server_id,transit_server_id,amount,currency\n",
    );
    for line in &invoice.lines {
        let fields = [
            invoice.customer_id.clone(),
            invoice.month.clone(),
            line.day.to_string(),
            line.migration_id.to_string(),
            line.client_server_id.clone(),
            line.transit_server_id.clone(),
            crate::domain::pricing::decimal(line.amount.amount_cents),
            line.amount.currency.clone(),
        ];
        let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        csv.push_str(&quoted.join(","));
        csv.push('\n');
    }
    csv
}

/// A CSV field, quoted when it holds a comma, a quote or a line break; a leading
/// `=`, `+`, `-` or `@` is prefixed with `'` so that no spreadsheet runs it.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '@'])
        || (text.starts_with('-') && text.parse::<f64>().is_err())
    {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}
