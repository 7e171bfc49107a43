//! Progress of an rsync run, read from its `--info=progress2` lines and handed to a
//! callback at a bounded rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// A progress callback, given where the sync of a tree is ([`TreeProgress`]).
pub type ProgressFn = Arc<dyn Fn(TreeProgress) + Send + Sync>;

/// Where the sync of a tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeProgress {
    /// How much of the tree is up to date at the destination, so that a delta sync
    /// that skips unchanged files moves a progress bar as well.
    pub done: u64,
    /// The tree's size (the `bytes_total_hint` of the options when given, e.g. from
    /// [`TreeSize`](super::TreeSize), otherwise rsync's estimate).
    pub total: u64,
    /// File data this rsync run has sent so far: what it actually copied.
    pub sent: u64,
}

/// One `--info=progress2` line, e.g.
/// `     20,000,000  46%  952.11MB/s    0:00:00 (xfr#1, to-chk=3/7)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProgressLine {
    /// Bytes transferred so far in this run.
    pub transferred: u64,
    /// Percentage of the whole tree's size done (unchanged files count as done).
    pub percent: u64,
}

/// Parses a progress line; `None` for any other line (e.g. the `--stats` block).
pub(crate) fn parse_progress2(line: &str) -> Option<ProgressLine> {
    let mut words = line.split_whitespace();
    let bytes = words.next()?;
    let percent = words.next()?.strip_suffix('%')?;
    let rate = words.next()?;
    if !rate.ends_with("/s") || !bytes.bytes().all(|b| b.is_ascii_digit() || b == b',') {
        return None;
    }
    Some(ProgressLine {
        transferred: bytes.replace(',', "").parse().ok()?,
        percent: percent.parse().ok()?,
    })
}

/// Turns progress lines into [`TreeProgress`] calls, at most one per `interval`.
pub(crate) struct Reporter {
    callback: ProgressFn,
    interval: Duration,
    total_hint: Option<u64>,
    last: Option<Instant>,
}

impl Reporter {
    pub(crate) fn new(callback: ProgressFn, interval: Duration, total_hint: Option<u64>) -> Self {
        Self {
            callback,
            interval,
            total_hint,
            last: None,
        }
    }

    /// Handles one progress line, calling back if the interval has passed and a total
    /// is known.
    pub(crate) fn observe(&mut self, line: ProgressLine) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < self.interval)
        {
            return;
        }
        let Some((done, total)) = done_and_total(line, self.total_hint) else {
            return;
        };
        self.last = Some(now);
        (self.callback)(TreeProgress {
            done,
            total,
            sent: line.transferred,
        });
    }
}

/// `(bytes_done, bytes_total)` for a line: the total is the hint, or estimated from the
/// percentage (unknown at 0%); done is the larger of the bytes sent and the percentage
/// of the total, never above the total.
fn done_and_total(line: ProgressLine, hint: Option<u64>) -> Option<(u64, u64)> {
    let percent = line.percent.min(100);
    let total = match hint {
        Some(total) => total,
        None if percent > 0 => line.transferred.saturating_mul(100) / percent,
        None => return None,
    };
    let by_percent = u64::try_from(u128::from(total) * u128::from(percent) / 100).unwrap_or(total);
    let done = line.transferred.max(by_percent).min(total);
    Some((done, total.max(done)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_progress2_lines() {
        assert_eq!(
            parse_progress2("     20,000,000  46%  952.11MB/s    0:00:00 (xfr#1, to-chk=3/7)"),
            Some(ProgressLine {
                transferred: 20_000_000,
                percent: 46
            })
        );
        assert_eq!(
            parse_progress2("         32,768   0%    0.00kB/s    0:00:00  "),
            Some(ProgressLine {
                transferred: 32_768,
                percent: 0
            })
        );
        assert_eq!(
            parse_progress2("Number of files: 7 (reg: 3, dir: 3, link: 1)"),
            None
        );
        assert_eq!(parse_progress2("Total bytes sent: 3,000,938"), None);
    }

    #[test]
    fn done_and_total_prefers_the_hint() {
        let line = ProgressLine {
            transferred: 3_000,
            percent: 50,
        };
        assert_eq!(done_and_total(line, Some(10_000)), Some((5_000, 10_000)));
        assert_eq!(done_and_total(line, None), Some((3_000, 6_000)));
        let start = ProgressLine {
            transferred: 0,
            percent: 0,
        };
        assert_eq!(done_and_total(start, None), None);
        assert_eq!(done_and_total(start, Some(7)), Some((0, 7)));
    }
}
