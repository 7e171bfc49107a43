//! The loan of a migration's transit server as billing recorded it: the free period
//! in force, the days charged and their amounts, and its close.
//!
//! Folded from the `loan` events of the billing service (aggregate id: the
//! migration). Nothing here is guessed from lending times or settings: a loan billing
//! has not opened yet is absent.

use chrono::{DateTime, NaiveDate, Utc};
use ferry_events::LoanEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A migration's loan, as billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoanRecord {
    /// The transit server lent.
    pub transit_server_id: String,
    /// When the loan started.
    pub started_at: DateTime<Utc>,
    /// Days free of charge from the start (as last set).
    pub free_period_days: u32,
    /// The client server's monthly price the loan is billed at, in minor units.
    pub monthly_price_cents: i64,
    /// Its currency (ISO 4217).
    pub currency: String,
    /// Days charged so far.
    pub days_charged: u32,
    /// Amount charged so far, in minor units.
    pub charged_cents: i64,
    /// The last day charged (UTC calendar day it started on).
    pub last_charged_day: Option<NaiveDate>,
    /// The notices of the free period's end given (days left: 3, 1).
    pub ending_notices: Vec<u32>,
    /// How it ended, once the transit server was released.
    pub closed: Option<LoanEnd>,
}

/// The end of a loan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoanEnd {
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Days (started) the server was lent.
    pub days_used: u32,
    /// Days charged.
    pub billable_days: u32,
    /// Total charged, in minor units.
    pub total_cents: i64,
}

impl LoanRecord {
    /// The loan after `event`; `None` before billing opened it.
    pub fn fold(loan: Option<Self>, event: &LoanEvent) -> Option<Self> {
        match (loan, event) {
            (None, LoanEvent::LoanOpened(e)) => Some(LoanRecord {
                transit_server_id: e.transit_server_id.clone(),
                started_at: e.started_at,
                free_period_days: e.free_period_days,
                monthly_price_cents: e.monthly_price.amount_cents,
                currency: e.monthly_price.currency.clone(),
                days_charged: 0,
                charged_cents: 0,
                last_charged_day: None,
                ending_notices: Vec::new(),
                closed: None,
            }),
            (None, _) => None,
            (Some(loan), LoanEvent::LoanOpened(_)) => Some(loan),
            (Some(mut loan), LoanEvent::LoanDayCharged(e)) => {
                loan.days_charged = loan.days_charged.saturating_add(1);
                loan.charged_cents = loan.charged_cents.saturating_add(e.amount.amount_cents);
                loan.last_charged_day = Some(e.day);
                Some(loan)
            }
            (Some(mut loan), LoanEvent::LoanFreePeriodChanged(e)) => {
                loan.free_period_days = e.free_period_days;
                Some(loan)
            }
            (Some(mut loan), LoanEvent::LoanFreePeriodEnding(e)) => {
                loan.ending_notices.push(e.days_left);
                Some(loan)
            }
            (Some(mut loan), LoanEvent::LoanClosed(e)) => {
                loan.closed = Some(LoanEnd {
                    ended_at: e.ended_at,
                    days_used: e.days_used,
                    billable_days: e.billable_days,
                    total_cents: e.total.amount_cents,
                });
                Some(loan)
            }
        }
    }
}
