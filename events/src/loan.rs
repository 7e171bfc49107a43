//! Events of the loan of a transit server to one migration, for billing (aggregate
//! `loan`, written by the billing service). Aggregate id: the migration uuid,
//! hyphenated lowercase.
//!
//! The transit server is free for a free period (a billing-policy setting, 14 days by
//! default), then billed per day, pro rata, at the client server's price, on top of
//! the client server itself.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::upcast::UpcastError;
use crate::values::Money;

/// The free period of loans opened under schema version 1 of [`LoanOpened`], in
/// days: the pricing page of the time promised one week.
pub const LOAN_OPENED_V1_FREE_PERIOD_DAYS: u32 = 7;

/// A transit server was lent to a migration: the loan's clock starts.
///
/// Schema version 2 added [`free_period_days`](Self::free_period_days); version 1
/// events are read with [`LOAN_OPENED_V1_FREE_PERIOD_DAYS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanOpened {
    /// The migration borrowing the server (the aggregate id).
    pub migration_id: Uuid,
    /// The transit server lent.
    pub transit_server_id: String,
    /// The customer billed.
    pub customer_id: String,
    /// The client server being migrated, whose price the loan follows.
    pub client_server_id: String,
    /// When the loan started.
    pub started_at: DateTime<Utc>,
    /// Price of one billable day (the client server's price, pro rata per day).
    pub daily_price: Money,
    /// Number of days free of charge from the start.
    pub free_period_days: u32,
}

/// One billable day of the loan was charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanDayCharged {
    /// The day charged (UTC calendar day).
    pub day: NaiveDate,
    /// The amount charged for it.
    pub amount: Money,
}

/// The loan ended (the transit server was released).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanClosed {
    /// When the loan ended.
    pub ended_at: DateTime<Utc>,
    /// Days (started) the server was lent.
    pub days_used: u32,
    /// Days beyond the free period, charged.
    pub billable_days: u32,
    /// Total charged for the loan.
    pub total: Money,
}

aggregate_events! {
    /// An event of a transit server loan (aggregate `loan`).
    pub enum LoanEvent for Loan {
        LoanOpened = 2,
        LoanDayCharged = 1,
        LoanClosed = 1,
    }
}

/// `LoanOpened` v1 → v2: v1 had no free period field; it was one week then.
pub(crate) fn loan_opened_v1_to_v2(mut payload: Value) -> Result<Value, UpcastError> {
    let object = payload
        .as_object_mut()
        .ok_or_else(|| UpcastError::new("the LoanOpened v1 payload is not a JSON object"))?;
    object.insert(
        "free_period_days".to_owned(),
        Value::from(LOAN_OPENED_V1_FREE_PERIOD_DAYS),
    );
    Ok(payload)
}
