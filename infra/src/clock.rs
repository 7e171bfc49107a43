//! [`Clock`]: the time ferry records facts at and fires its timers by.
//!
//! The system clock, optionally shifted by an offset: `FERRY_CLOCK_OFFSET` runs a
//! whole `ferry up` as if it were that much later (a rehearsal of a transit kept past
//! its free period on a test fleet), and a test moves a clock forward while services
//! run ([`Clock::advance`]). One clock per event log ([`crate::event_log::EventLog::clock`]):
//! the instants of the envelopes it appends and the due times its policies' timers
//! compare with come from the same place, so a shifted process stays consistent.
//!
//! Emits and consumes no event type of its own.

use chrono::{DateTime, SubsecRound, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The system clock shifted by an offset, shared by its clones: moving one moves all.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// The system clock, `offset` later.
    pub fn offset_by(offset: chrono::Duration) -> Self {
        Self {
            offset_ms: Arc::new(AtomicI64::new(offset.num_milliseconds())),
        }
    }

    /// Now, to the microsecond (the precision of PostgreSQL timestamps, so that read
    /// models store exactly the instant the log holds).
    pub fn now(&self) -> DateTime<Utc> {
        (Utc::now() + self.offset()).trunc_subsecs(6)
    }

    /// How far ahead of the system clock it is.
    pub fn offset(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves it (and its clones) `by` forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

/// Reads an offset such as `0`, `90s`, `36h` or `16d` (a whole number and a unit:
/// `s`, `m`, `h` or `d`; at most 10 years).
pub fn parse_offset(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(chrono::Duration::zero());
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&at| at > 0)
        .ok_or_else(|| {
            format!("`{text}` is no offset: write a whole number and s, m, h or d, e.g. 16d")
        })?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("`{text}`: the number is too large"))?;
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit is s, m, h or d")),
    };
    let seconds = number
        .checked_mul(seconds_per)
        .filter(|s| *s <= 10 * 366 * 86_400)
        .ok_or_else(|| format!("`{text}`: at most 10 years"))?;
    Ok(chrono::Duration::seconds(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_with_their_unit() {
        assert_eq!(parse_offset("0"), Ok(chrono::Duration::zero()));
        assert_eq!(parse_offset("16d"), Ok(chrono::Duration::days(16)));
        assert_eq!(parse_offset("36h"), Ok(chrono::Duration::hours(36)));
        assert_eq!(parse_offset("90s"), Ok(chrono::Duration::seconds(90)));
        for bad in [
            "",
            "d",
            "16",
            "16w",
            "-1d",
            "1.5d",
            "99999999999999999999d",
            "4000d",
        ] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_clock_moved_moves_its_clones() {
        let clock = Clock::system();
        let clone = clock.clone();
        let before = clone.now();
        clock.advance(chrono::Duration::days(15));
        assert!(clone.now() - before >= chrono::Duration::days(15));
        assert_eq!(clone.offset(), chrono::Duration::days(15));
    }
}
