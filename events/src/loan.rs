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

/// Days per month of the daily price of loans opened under schema versions 1 and 2
/// of [`LoanOpened`]: they carried a daily price, read today as this many days of a
/// monthly price.
pub const LOAN_OPENED_V2_DAYS_PER_MONTH: i64 = 30;

/// A transit server was lent to a migration: the loan's clock starts.
///
/// Schema version 2 added [`free_period_days`](Self::free_period_days); version 1
/// events are read with [`LOAN_OPENED_V1_FREE_PERIOD_DAYS`]. Version 3 replaced the
/// daily price by the client server's [`monthly_price`](Self::monthly_price): a
/// billable day costs the monthly price divided by the days of its calendar month,
/// so the price of a day depends on the month (versions 1 and 2 are read with a
/// monthly price of [`LOAN_OPENED_V2_DAYS_PER_MONTH`] daily prices).
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
    /// What the customer pays for the client server per month when the loan opened:
    /// the loan is billed at that price, pro rata day by day.
    pub monthly_price: Money,
    /// Number of days free of charge from the start: the billing policy in force
    /// when the loan opened (a later change of the setting leaves it alone).
    pub free_period_days: u32,
}

/// Support gave an open loan another free period (a commercial gesture, or the new
/// policy applied to a loan opened under the old one). Who did it is the envelope's
/// actor. Days already charged stay charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanFreePeriodChanged {
    /// The new number of free days from the loan's start.
    pub free_period_days: u32,
    /// The number it replaces.
    pub previous_free_period_days: u32,
    /// Why, for the customer and the audit.
    pub reason: String,
}

/// The loan's free period ends soon: the customer is told before the first charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanFreePeriodEnding {
    /// When the free period ends and the first billable day starts.
    pub ends_at: DateTime<Utc>,
    /// Whole days left before then when the notice was given (3, then 1).
    pub days_left: u32,
    /// The price of the first billable day.
    pub first_day_price: Money,
}

/// One billable day of the loan was charged (a day of the loan is 24 hours from its
/// start; it is charged once started).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanDayCharged {
    /// The day charged: the UTC calendar day on which that day of the loan started,
    /// whose month gives the pro rata.
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
        LoanOpened = 3,
        LoanDayCharged = 1,
        LoanClosed = 1,
        LoanFreePeriodChanged = 1,
        LoanFreePeriodEnding = 1,
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

/// `LoanOpened` v2 → v3: the daily price becomes a monthly price of
/// [`LOAN_OPENED_V2_DAYS_PER_MONTH`] days.
pub(crate) fn loan_opened_v2_to_v3(mut payload: Value) -> Result<Value, UpcastError> {
    let object = payload
        .as_object_mut()
        .ok_or_else(|| UpcastError::new("the LoanOpened v2 payload is not a JSON object"))?;
    let daily = object
        .remove("daily_price")
        .ok_or_else(|| UpcastError::new("the LoanOpened v2 payload has no daily_price"))?;
    let mut daily: Money = serde_json::from_value(daily)
        .map_err(|e| UpcastError::new(format!("the LoanOpened v2 daily_price: {e}")))?;
    daily.amount_cents = daily
        .amount_cents
        .checked_mul(LOAN_OPENED_V2_DAYS_PER_MONTH)
        .ok_or_else(|| UpcastError::new("the LoanOpened v2 daily_price is out of range"))?;
    let monthly = serde_json::to_value(daily)
        .map_err(|e| UpcastError::new(format!("the LoanOpened v2 daily_price: {e}")))?;
    object.insert("monthly_price".to_owned(), monthly);
    Ok(payload)
}
