//! The transit server's loan as the customer sees it: days used of the free period
//! and days beyond it. Counted when asked (the loan runs until the transit server is
//! released), from the transit server's lending (or ready) time; the free period is a
//! billing-policy setting (14 days by default). Billing itself is the billing
//! service's: this is what the panel shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::view::TransitAssignment;

const DAY_SECONDS: i64 = 86_400;

/// A migration's loan of its transit server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoanView {
    /// The transit server lent.
    pub transit_server_id: String,
    /// When the loan started (lent, or ready when the lending was not seen).
    pub started_at: DateTime<Utc>,
    /// When it ended (the transit server was released); `None`: still running.
    pub ended_at: Option<DateTime<Utc>>,
    /// Days (started) the server has been lent, until its release or now.
    pub days_used: u32,
    /// Days free of charge from the start.
    pub free_period_days: u32,
    /// Free days not used yet.
    pub free_days_left: u32,
    /// Days beyond the free period: `max(0, days_used - free_period_days)`.
    pub billable_days: u32,
}

/// Days started between `start` and `end`: a part of a day counts as a day, no time
/// at all as none.
pub fn days_used(start: DateTime<Utc>, end: DateTime<Utc>) -> u32 {
    let seconds = (end - start).num_seconds().max(0);
    let days = (seconds + DAY_SECONDS - 1) / DAY_SECONDS;
    u32::try_from(days).unwrap_or(u32::MAX)
}

/// The loan of `assignment` as of `now`; `None` before the transit server was lent.
pub fn loan(
    assignment: &TransitAssignment,
    now: DateTime<Utc>,
    free_period_days: u32,
) -> Option<LoanView> {
    let started_at = assignment.loan_started_at()?;
    let ended_at = assignment.released_at;
    let days_used = days_used(started_at, ended_at.unwrap_or(now));
    Some(LoanView {
        transit_server_id: assignment.transit_server_id.clone(),
        started_at,
        ended_at,
        days_used,
        free_period_days,
        free_days_left: free_period_days.saturating_sub(days_used),
        billable_days: days_used.saturating_sub(free_period_days),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("a valid time")
    }

    fn lent(at: DateTime<Utc>) -> TransitAssignment {
        let mut assignment = TransitAssignment::new("tr-0007");
        assignment.ready_at = Some(at);
        assignment
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
    fn within_the_free_period_nothing_is_billable() {
        let loan = loan(&lent(start()), start() + Duration::hours(30), 14).expect("lent");
        assert_eq!(
            (loan.days_used, loan.free_days_left, loan.billable_days),
            (2, 12, 0)
        );
        assert_eq!(loan.ended_at, None);
    }

    #[test]
    fn beyond_the_free_period_days_are_billable_until_the_release() {
        let mut assignment = lent(start());
        let released = start() + Duration::days(20) + Duration::hours(3);
        assignment.released_at = Some(released);
        let loan = loan(&assignment, released + Duration::days(100), 14).expect("lent");
        assert_eq!(
            (loan.days_used, loan.free_days_left, loan.billable_days),
            (21, 0, 7)
        );
        assert_eq!(loan.ended_at, Some(released));
    }

    #[test]
    fn the_lending_time_wins_and_no_loan_before_it() {
        let mut assignment = TransitAssignment::new("tr-0007");
        assert!(loan(&assignment, start(), 14).is_none());
        assignment.ready_at = Some(start() + Duration::days(1));
        assignment.lent_at = Some(start());
        let loan = loan(&assignment, start() + Duration::days(3), 7).expect("lent");
        assert_eq!((loan.started_at, loan.days_used), (start(), 3));
    }
}
