//! Working hours and days: when support is open next.

use super::*;

fn paris() -> WorkingCalendar {
    WorkingCalendar::parse("mon-fri", "09:00-18:00", "Europe/Paris", "2026-12-25")
        .expect("valid calendar")
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid instant")
        .with_timezone(&Utc)
}

#[test]
fn inside_working_hours_is_open() {
    // Monday 23 Nov 2026, 10:00 in Paris = 09:00 UTC.
    assert!(paris().is_open(utc("2026-11-23T09:00:00Z")));
}

#[test]
fn before_opening_the_next_time_is_the_same_morning() {
    let cal = paris();
    let at = utc("2026-11-23T06:00:00Z");
    assert!(!cal.is_open(at));
    assert_eq!(cal.next_open(at), Some(utc("2026-11-23T08:00:00Z")));
}

#[test]
fn friday_evening_waits_for_monday() {
    // Friday 27 Nov 2026, 19:00 in Paris.
    let next = paris().next_open(utc("2026-11-27T18:00:00Z"));
    assert_eq!(next, Some(utc("2026-11-30T08:00:00Z")));
}

#[test]
fn holidays_are_skipped() {
    // Friday 25 Dec 2026 is a holiday: next is Monday 28 Dec.
    let next = paris().next_open(utc("2026-12-25T10:00:00Z"));
    assert_eq!(next, Some(utc("2026-12-28T08:00:00Z")));
}

#[test]
fn summer_time_shifts_the_utc_opening() {
    // Monday 5 July 2027, 09:00 in Paris = 07:00 UTC.
    let next = paris().next_open(utc("2027-07-05T05:00:00Z"));
    assert_eq!(next, Some(utc("2027-07-05T07:00:00Z")));
}

#[test]
fn a_round_the_clock_calendar_is_always_open() {
    let cal = WorkingCalendar::parse("mon-sun", "00:00-24:00", "UTC", "").expect("valid");
    assert!(cal.is_open(utc("2026-11-28T23:59:59Z")));
    assert!(cal.is_open(utc("2026-11-29T00:00:00Z")));
}

#[test]
fn day_lists_and_wrapping_ranges_parse() {
    let cal = WorkingCalendar::parse("sat-mon", "08:00-12:00", "UTC", "").expect("valid");
    assert_eq!(cal.days, BTreeSet::from([0, 5, 6]));
    let cal = WorkingCalendar::parse("mon,wed", "08:00-12:00", "UTC", "").expect("valid");
    assert_eq!(cal.days, BTreeSet::from([0, 2]));
}

#[test]
fn bad_settings_are_refused_with_a_reason() {
    for (days, hours, tz, holidays, reason) in [
        ("mon-fri", "09:00-18:00", "Mars/Olympus", "", "time zone"),
        ("mon-fri", "18:00-09:00", "UTC", "", "end before"),
        ("funday", "09:00-18:00", "UTC", "", "day of the week"),
        ("mon-fri", "9h-18h", "UTC", "", "HH:MM"),
        ("mon-fri", "09:00-18:00", "UTC", "25/12/2026", "YYYY-MM-DD"),
    ] {
        let error = WorkingCalendar::parse(days, hours, tz, holidays).expect_err("refused");
        assert!(error.to_string().contains(reason), "{error}");
    }
}
