//! The answers of billing's HTTP API, public so that other crates (the CLI) can
//! decode them: every type is serde `Serialize` + `Deserialize` and described in
//! the OpenAPI document.
//!
//! This module emits and consumes no event.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An amount of money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Amount {
    /// In minor units (hundredths of the currency unit).
    pub amount_cents: i64,
    /// ISO 4217 currency code, e.g. `EUR`.
    pub currency: String,
}

impl Amount {
    /// `amount_cents` of `currency`.
    pub fn new(amount_cents: i64, currency: impl Into<String>) -> Self {
        Self {
            amount_cents,
            currency: currency.into(),
        }
    }

    /// `12.34 EUR`.
    pub fn display(&self) -> String {
        ferry_events::Money::new(self.amount_cents, self.currency.clone()).to_string()
    }
}

/// One charged day of a loan: a line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChargeLine {
    /// The migration whose loan it is.
    pub migration_id: Uuid,
    /// The client server being migrated.
    pub client_server_id: String,
    /// The transit server lent.
    pub transit_server_id: String,
    /// The UTC calendar day on which the charged day of the loan started.
    pub day: NaiveDate,
    /// The amount charged (the monthly price over the days of that month).
    pub amount: Amount,
}

/// A change of a loan's free period by support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FreePeriodChange {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`support:<login>`).
    pub by: String,
    /// The new free period, in days from the start.
    pub free_period_days: u32,
    /// The one it replaced.
    pub previous_free_period_days: u32,
    /// Why.
    pub reason: String,
}

/// A notice of the free period's end given to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoticeGiven {
    /// When it was given.
    pub at: DateTime<Utc>,
    /// The end of the free period it announced.
    pub ends_at: DateTime<Utc>,
    /// Days left it said (3 or 1).
    pub days_left: u32,
    /// The price of the first billable day.
    pub first_day_price: Amount,
}

/// How a loan ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoanEnd {
    /// When the transit server was released.
    pub ended_at: DateTime<Utc>,
    /// Days (started) the server was lent.
    pub days_used: u32,
    /// Days charged.
    pub billable_days: u32,
    /// Total charged.
    pub total: Amount,
}

/// A loan of a transit server, as billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoanDetail {
    /// The migration (the loan's id).
    pub migration_id: Uuid,
    /// The customer billed.
    pub customer_id: String,
    /// The client server being migrated.
    pub client_server_id: String,
    /// The transit server lent.
    pub transit_server_id: String,
    /// When the loan started.
    pub started_at: DateTime<Utc>,
    /// The client server's monthly price the loan is billed at.
    pub monthly_price: Amount,
    /// Days free of charge from the start (in force).
    pub free_period_days: u32,
    /// When the free period ends (the first billable day starts).
    pub free_period_ends_at: DateTime<Utc>,
    /// Days started so far (by the log's clock), or used in all once closed.
    pub days_used: u32,
    /// Billable days charged so far.
    pub billable_days_charged: u32,
    /// Amount charged so far.
    pub charged: Amount,
    /// The same, for a human, e.g. `12.34 EUR`.
    pub charged_display: String,
    /// The days charged, in order.
    pub charges: Vec<ChargeLine>,
    /// Changes of the free period by support.
    pub free_period_changes: Vec<FreePeriodChange>,
    /// Notices of the free period's end given.
    pub notices: Vec<NoticeGiven>,
    /// Whether the loan is closed (the transit server released).
    pub closed: bool,
    /// How it ended, once closed.
    pub ended: Option<LoanEnd>,
}

/// An open loan whose free period ends soon, or has ended: support's list of the
/// loans to talk to their customers about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EndingLoan {
    /// The migration (the loan's id).
    pub migration_id: Uuid,
    /// The customer billed.
    pub customer_id: String,
    /// The client server being migrated.
    pub client_server_id: String,
    /// The transit server lent.
    pub transit_server_id: String,
    /// When the loan started.
    pub started_at: DateTime<Utc>,
    /// Days free of charge from the start (in force).
    pub free_period_days: u32,
    /// When the free period ends (the first billable day starts).
    pub free_period_ends_at: DateTime<Utc>,
    /// Days started so far, by the log's clock.
    pub days_used: u32,
    /// Free days not started yet (0 once the free period is over).
    pub free_days_left: u32,
    /// Amount charged so far.
    pub charged: Amount,
    /// The same, for a human, e.g. `12.34 EUR`.
    pub charged_display: String,
}

/// The open loans whose free period ends within the days asked, or has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EndingLoans {
    /// The window asked for, in days from now.
    pub ending_within_days: u32,
    /// The time the list was made at (the log's clock).
    pub as_of: DateTime<Utc>,
    /// The loans, the free period ending first (or ended longest ago) first.
    pub loans: Vec<EndingLoan>,
}

/// A customer's charges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChargeList {
    /// The customer.
    pub customer_id: String,
    /// The month asked for (`YYYY-MM`), if any.
    pub month: Option<String>,
    /// The charges, by day.
    pub charges: Vec<ChargeLine>,
    /// Their totals, per currency.
    pub totals: Vec<Amount>,
}

/// One month's invoice, in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceSummary {
    /// The calendar month, `YYYY-MM`.
    pub month: String,
    /// Number of lines (days charged).
    pub lines: u32,
    /// Totals per currency.
    pub totals: Vec<Amount>,
}

/// A customer's invoices, one per calendar month with charges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceList {
    /// The customer.
    pub customer_id: String,
    /// The months, oldest first.
    pub invoices: Vec<InvoiceSummary>,
}

/// A customer's invoice for one calendar month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invoice {
    /// The customer.
    pub customer_id: String,
    /// The calendar month, `YYYY-MM`.
    pub month: String,
    /// The charges of the month, by day.
    pub lines: Vec<ChargeLine>,
    /// Totals per currency.
    pub totals: Vec<Amount>,
}

/// Support gives a loan another free period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreePeriodBody {
    /// Days free of charge from the loan's start, 0 to 365.
    #[schema(minimum = 0, maximum = 365)]
    #[serde(deserialize_with = "ferry_events::whole_number::whole")]
    pub free_period_days: u32,
    /// Why, for the customer and the audit: not blank.
    #[schema(pattern = "\\S")]
    pub reason: String,
}

/// What a change of free period did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FreePeriodAnswer {
    /// Whether anything changed (false: it was already so).
    pub changed: bool,
    /// The types of the events caused, in order.
    pub events: Vec<String>,
    /// The free period in force now.
    pub free_period_days: u32,
    /// When it ends.
    pub free_period_ends_at: DateTime<Utc>,
}
