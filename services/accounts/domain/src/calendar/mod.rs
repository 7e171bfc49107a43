//! Working hours and days: support relocates accounts back (step 7) only inside them.
//! Pure: the time is given, never read from a clock.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::str::FromStr;

/// When support works: days of the week, hours of the day in a time zone, and
/// holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    /// The time zone the hours are in.
    pub time_zone: Tz,
    /// The working days.
    pub days: BTreeSet<u32>,
    /// Start of the working day, local time.
    pub opens: NaiveTime,
    /// End of the working day, local time (exclusive).
    pub closes: NaiveTime,
    /// Days off, local dates.
    pub holidays: BTreeSet<NaiveDate>,
}

/// A calendar setting that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CalendarError(String);

impl WorkingCalendar {
    /// Builds a calendar from its settings: `days` like `mon-fri` or `mon,tue,thu`,
    /// `hours` like `09:00-18:00` (`24:00` for the end of the day), `time_zone` an IANA name like `Europe/Paris`,
    /// `holidays` comma-separated `YYYY-MM-DD` dates (may be empty).
    pub fn parse(
        days: &str,
        hours: &str,
        time_zone: &str,
        holidays: &str,
    ) -> Result<Self, CalendarError> {
        let time_zone = Tz::from_str(time_zone.trim()).map_err(|_| {
            CalendarError(format!(
                "{time_zone:?} is not an IANA time zone (e.g. Europe/Paris)"
            ))
        })?;
        let (opens, closes) = hours
            .split_once('-')
            .ok_or_else(|| CalendarError(format!("hours {hours:?} are not HH:MM-HH:MM")))?;
        let time = |t: &str| match t.trim() {
            // The end of the day, for round-the-clock calendars.
            "24:00" => NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999)
                .ok_or_else(|| CalendarError("24:00".into())),
            t => NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| CalendarError(format!("{t:?} is not a HH:MM time"))),
        };
        let (opens, closes) = (time(opens)?, time(closes)?);
        if opens >= closes {
            return Err(CalendarError(format!(
                "working hours {hours:?} end before they start"
            )));
        }
        let days = parse_days(days)?;
        let holidays = holidays
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| CalendarError(format!("holiday {d:?} is not a YYYY-MM-DD date")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            time_zone,
            days,
            opens,
            closes,
            holidays,
        })
    }

    /// Whether `at` is inside working hours.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.next_open(at) == Some(at)
    }

    /// `at` itself when it is inside working hours, else the next time they start;
    /// `None` if no working day comes within a year (every day a holiday).
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.time_zone);
        let mut date = local.date_naive();
        for _ in 0..=370 {
            if self.is_working_day(date) {
                let opens = self.instant(date, self.opens);
                let closes = self.instant(date, self.closes);
                if let (Some(opens), Some(closes)) = (opens, closes) {
                    if at < opens {
                        return Some(opens);
                    }
                    if at < closes {
                        return Some(at);
                    }
                }
            }
            date = date.succ_opt()?;
        }
        None
    }

    fn is_working_day(&self, date: NaiveDate) -> bool {
        self.days.contains(&date.weekday().num_days_from_monday()) && !self.holidays.contains(&date)
    }

    /// The instant of a local date and time; the first one if the clock went back,
    /// the next valid one if it skipped forward.
    fn instant(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        let local = date.and_time(time);
        (0..=2)
            .filter_map(|h| {
                self.time_zone
                    .from_local_datetime(&(local + chrono::Duration::hours(h)))
                    .earliest()
            })
            .next()
            .map(|t| t.with_timezone(&Utc))
    }
}

fn parse_days(text: &str) -> Result<BTreeSet<u32>, CalendarError> {
    let day = |name: &str| {
        Weekday::from_str(name.trim())
            .map(|d| d.num_days_from_monday())
            .map_err(|_| {
                CalendarError(format!("{name:?} is not a day of the week (mon, tue, ...)"))
            })
    };
    let mut days = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day(from)?, day(to)?);
                let mut d = from;
                loop {
                    days.insert(d);
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => {
                days.insert(day(part)?);
            }
        }
    }
    if days.is_empty() {
        return Err(CalendarError("no working day given".into()));
    }
    Ok(days)
}

#[cfg(test)]
mod tests;
