//! The charging rule of a loan, in one place.
//!
//! - Day `k` (1-based) of a loan starts at `started_at + (k-1)×24h`.
//! - Days `1..=free_period_days` are free; the free period ends (`ends_at`) when day
//!   `free_period_days + 1` starts.
//! - Each later day is charged once, as soon as it starts. Its `day` is the UTC
//!   calendar date on which it starts, and its amount is the monthly price divided by
//!   the number of days of that date's calendar month, in integer minor units,
//!   rounded half up (`(monthly×2 + days) / (2×days)`), in the price's currency.
//! - A loan released has used every day started by then (at least one).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use ferry_events::Money;

/// One day of a loan.
pub const DAY: Duration = Duration::hours(24);

/// When day `k` (1-based) of a loan started at `started_at` starts.
pub fn day_start(started_at: DateTime<Utc>, k: u32) -> DateTime<Utc> {
    started_at
        .checked_add_signed(DAY * i32::try_from(k.saturating_sub(1)).unwrap_or(i32::MAX))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The UTC calendar date on which day `k` of the loan starts (what a charge names).
pub fn day_date(started_at: DateTime<Utc>, k: u32) -> NaiveDate {
    day_start(started_at, k).date_naive()
}

/// When the free period of `free_period_days` days ends: the start of the first
/// billable day.
pub fn free_period_ends_at(started_at: DateTime<Utc>, free_period_days: u32) -> DateTime<Utc> {
    day_start(started_at, free_period_days.saturating_add(1))
}

/// How many days of the loan have started at `now` (0 before it started).
pub fn days_started(started_at: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
    if now < started_at {
        return 0;
    }
    let whole = (now - started_at).num_milliseconds() / DAY.num_milliseconds();
    u32::try_from(whole.saturating_add(1)).unwrap_or(u32::MAX)
}

/// The number of days of the calendar month of `date` (28 to 31).
pub fn days_in_month(date: NaiveDate) -> i64 {
    let (year, month) = (date.year(), date.month());
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(first), Some(next)) => (next - first).num_days(),
        _ => 30,
    }
}

/// The price of a day starting on `date` for a monthly price: the monthly price ÷
/// the days of that month, rounded half up to the minor unit (away from zero for a
/// negative price).
pub fn day_price(monthly: &Money, date: NaiveDate) -> Money {
    let days = days_in_month(date);
    let magnitude = i128::from(monthly.amount_cents).abs();
    let rounded = (magnitude * 2 + i128::from(days)) / (2 * i128::from(days));
    let signed = if monthly.amount_cents < 0 {
        -rounded
    } else {
        rounded
    };
    Money::new(
        i64::try_from(signed).unwrap_or(i64::MAX),
        monthly.currency.clone(),
    )
}

/// The same amount of money as `12.34` (no currency): what the CSV shows.
pub fn decimal(amount_cents: i64) -> String {
    let sign = if amount_cents < 0 { "-" } else { "" };
    let cents = amount_cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn a_day_costs_the_monthly_price_over_the_days_of_its_month_rounded_half_up() {
        let monthly = Money::new(3000, "EUR");
        // February 2027: 28 days; 3000/28 = 107.14 → 107.
        assert_eq!(day_price(&monthly, date(2027, 2, 10)).amount_cents, 107);
        // February 2028 (leap): 29 days; 3000/29 = 103.45 → 103.
        assert_eq!(day_price(&monthly, date(2028, 2, 10)).amount_cents, 103);
        // January: 31 days; 3000/31 = 96.77 → 97.
        assert_eq!(day_price(&monthly, date(2027, 1, 31)).amount_cents, 97);
        // April: 30 days: exactly 100.
        assert_eq!(day_price(&monthly, date(2027, 4, 1)).amount_cents, 100);
        // Half up: 45/30 = 1.5 → 2; 44/30 = 1.47 → 1; 75/30 = 2.5 → 3.
        assert_eq!(
            day_price(&Money::new(45, "EUR"), date(2027, 4, 1)).amount_cents,
            2
        );
        assert_eq!(
            day_price(&Money::new(44, "EUR"), date(2027, 4, 1)).amount_cents,
            1
        );
        assert_eq!(
            day_price(&Money::new(75, "EUR"), date(2027, 4, 1)).amount_cents,
            3
        );
        assert_eq!(day_price(&monthly, date(2027, 4, 1)).currency, "EUR");
    }

    #[test]
    fn days_start_every_24_hours_from_the_start() {
        let start: DateTime<Utc> = "2027-01-30T22:00:00Z".parse().expect("instant");
        assert_eq!(day_date(start, 1), date(2027, 1, 30));
        assert_eq!(day_date(start, 3), date(2027, 2, 1));
        assert_eq!(days_started(start, start), 1);
        assert_eq!(days_started(start, start + DAY - Duration::seconds(1)), 1);
        assert_eq!(days_started(start, start + DAY), 2);
        assert_eq!(days_started(start, start - Duration::seconds(1)), 0);
        assert_eq!(free_period_ends_at(start, 14), start + DAY * 14);
        assert_eq!(decimal(1234), "12.34");
        assert_eq!(decimal(-5), "-0.05");
        assert_eq!(decimal(0), "0.00");
    }
}
