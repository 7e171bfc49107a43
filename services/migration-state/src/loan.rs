//! The transit server's loan as the customer sees it, from billing's record
//! ([`LoanRecord`], folded from the `loan` events): the free period in force, days
//! used, days charged and the amount so far. Only the days used of a loan still open
//! are counted when asked (they grow with time); everything billed comes from the
//! events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::view::LoanRecord;

const DAY_SECONDS: i64 = 86_400;

/// A migration's loan of its transit server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoanView {
    /// The transit server lent.
    pub transit_server_id: String,
    /// When the loan started (the transit server was lent).
    pub started_at: DateTime<Utc>,
    /// When it ended (the transit server was released); `None`: still running.
    pub ended_at: Option<DateTime<Utc>>,
    /// Days (started) the server has been lent, until its release or now.
    pub days_used: u32,
    /// Days free of charge from the start, as billing applies them to this loan.
    pub free_period_days: u32,
    /// Free days not used yet.
    pub free_days_left: u32,
    /// When the free period ends (the first billable day starts).
    pub free_period_ends_at: DateTime<Utc>,
    /// Days charged so far (billing's charges).
    pub billable_days: u32,
    /// Amount charged so far, in minor units of [`currency`](Self::currency).
    pub amount_cents: i64,
    /// The currency (ISO 4217).
    pub currency: String,
    /// The client server's monthly price the loan is billed at (pro rata per day of
    /// each calendar month), in minor units.
    pub monthly_price_cents: i64,
}

/// Days started between `start` and `end`: a part of a day counts as a day, no time
/// at all as none.
pub fn days_used(start: DateTime<Utc>, end: DateTime<Utc>) -> u32 {
    let seconds = (end - start).num_seconds().max(0);
    let days = (seconds + DAY_SECONDS - 1) / DAY_SECONDS;
    u32::try_from(days).unwrap_or(u32::MAX)
}

/// The loan billing recorded, as of `now`.
pub fn loan(record: &LoanRecord, now: DateTime<Utc>) -> LoanView {
    let ended_at = record.closed.as_ref().map(|c| c.ended_at);
    let days_used = match &record.closed {
        Some(closed) => closed.days_used,
        None => days_used(record.started_at, now),
    };
    let (billable_days, amount_cents) = match &record.closed {
        Some(closed) => (closed.billable_days, closed.total_cents),
        None => (record.days_charged, record.charged_cents),
    };
    LoanView {
        transit_server_id: record.transit_server_id.clone(),
        started_at: record.started_at,
        ended_at,
        days_used,
        free_period_days: record.free_period_days,
        free_days_left: record.free_period_days.saturating_sub(days_used),
        free_period_ends_at: record.started_at
            + chrono::Duration::days(i64::from(record.free_period_days)),
        billable_days,
        amount_cents,
        currency: record.currency.clone(),
        monthly_price_cents: record.monthly_price_cents,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::LoanEnd;
    use chrono::{Duration, TimeZone};

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("a valid time")
    }

    fn opened() -> LoanRecord {
        LoanRecord {
            transit_server_id: "tr-0007".into(),
            started_at: start(),
            free_period_days: 14,
            monthly_price_cents: 3_100,
            currency: "EUR".into(),
            days_charged: 0,
            charged_cents: 0,
            last_charged_day: None,
            ending_notices: vec![],
            closed: None,
        }
    }

    #[test]
    fn started_days_count() {
        assert_eq!(days_used(start(), start()), 0);
        assert_eq!(days_used(start(), start() + Duration::seconds(1)), 1);
        assert_eq!(days_used(start(), start() + Duration::days(14)), 14);
        assert_eq!(
            days_used(start(), start() + Duration::hours(14 * 24 + 1)),
            15
        );
        assert_eq!(days_used(start(), start() - Duration::days(1)), 0);
    }

    #[test]
    fn an_open_loan_counts_its_days_now_and_shows_what_billing_charged() {
        let mut record = opened();
        record.days_charged = 2;
        record.charged_cents = 200;
        let loan = loan(&record, start() + Duration::hours(15 * 24 + 2));
        assert_eq!(
            (loan.days_used, loan.free_days_left, loan.billable_days),
            (16, 0, 2)
        );
        assert_eq!((loan.amount_cents, loan.currency.as_str()), (200, "EUR"));
        assert_eq!(loan.free_period_ends_at, start() + Duration::days(14));
        assert_eq!(loan.ended_at, None);
    }

    #[test]
    fn a_closed_loan_shows_what_billing_closed_it_with() {
        let mut record = opened();
        let ended = start() + Duration::days(20) + Duration::hours(3);
        record.closed = Some(LoanEnd {
            ended_at: ended,
            days_used: 21,
            billable_days: 7,
            total_cents: 700,
        });
        let loan = loan(&record, ended + Duration::days(100));
        assert_eq!(
            (loan.days_used, loan.billable_days, loan.amount_cents),
            (21, 7, 700)
        );
        assert_eq!(loan.ended_at, Some(ended));
    }
}
