//! The loan of a transit server to one migration (aggregate `loan`, id = the
//! migration uuid): opened when the server is lent, charged day by day past its free
//! period (see [`crate::pricing`]), warned about before the free period ends, closed
//! when the server is released.
//!
//! Emits `LoanOpened`, `LoanFreePeriodChanged`, `LoanFreePeriodEnding`,
//! `LoanDayCharged`, `LoanClosed`. The time a decision depends on comes in the
//! command (`now`, `ended_at`), never from a clock.

use crate::pricing::{day_date, day_price, days_started, free_period_ends_at};
use chrono::{DateTime, NaiveDate, Utc};
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{
    Actor, ActorRole, AggregateType, Event, LoanClosed, LoanDayCharged, LoanEvent,
    LoanFreePeriodChanged, LoanFreePeriodEnding, LoanOpened, Money, is_blank,
};
use std::collections::BTreeMap;

/// The longest free period, in days.
pub const MAX_FREE_PERIOD_DAYS: u32 = 365;

/// The days before the end of the free period at which the customer is told.
pub const NOTICE_DAYS: [u32; 2] = [3, 1];

/// A loan, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loan {
    /// How it opened; `None` before.
    pub opened: Option<LoanOpened>,
    /// The free period in force, in days from the start.
    pub free_period_days: u32,
    /// The days charged (the UTC date each started on) and their amounts.
    pub charged: BTreeMap<NaiveDate, Money>,
    /// The notices given: the end of the free period they announced, and the days
    /// left they said.
    pub notices: Vec<(DateTime<Utc>, u32)>,
    /// How it ended, once the transit server was released.
    pub closed: Option<LoanClosed>,
}

impl Loan {
    /// When the free period in force ends, once opened.
    pub fn free_period_ends_at(&self) -> Option<DateTime<Utc>> {
        self.opened
            .as_ref()
            .map(|o| free_period_ends_at(o.started_at, self.free_period_days))
    }

    /// The total charged so far, in the loan's currency.
    pub fn total(&self) -> Option<Money> {
        self.opened.as_ref().map(|o| {
            Money::new(
                self.charged.values().map(|m| m.amount_cents).sum(),
                o.monthly_price.currency.clone(),
            )
        })
    }

    /// Whether a notice of `days_left` for the free period ending at `ends_at` is
    /// already given, or superseded by a later one (fewer days left).
    pub fn notice_given(&self, ends_at: DateTime<Utc>, days_left: u32) -> bool {
        self.notices
            .iter()
            .any(|(at, days)| *at == ends_at && *days <= days_left)
    }

    /// The charges of every billable day started at `now` and not charged yet.
    fn charges_due(&self, opened: &LoanOpened, now: DateTime<Utc>) -> Vec<LoanDayCharged> {
        let started = days_started(opened.started_at, now);
        (self.free_period_days.saturating_add(1)..=started)
            .map(|k| day_date(opened.started_at, k))
            .filter(|day| !self.charged.contains_key(day))
            .map(|day| LoanDayCharged {
                day,
                amount: day_price(&opened.monthly_price, day),
            })
            .collect()
    }
}

/// The notice of the free period's end a timer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The end of the free period it announces.
    pub ends_at: DateTime<Utc>,
    /// The days left it says (3 or 1).
    pub days_left: u32,
}

/// What can be asked of a loan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoanCommand {
    /// The transit server was lent: open the loan (the free period is the setting in
    /// force now). Already open for the same transit server: no change.
    Open(LoanOpened),
    /// Bring the loan up to `now`: charge every billable day started and not yet
    /// charged, and give `notice` if it is still to be given (the loan open, its free
    /// period still ending then and not over, the notice due and not given).
    Advance {
        /// Now, by the log's clock.
        now: DateTime<Utc>,
        /// The notice due, if any.
        notice: Option<Notice>,
    },
    /// The transit server was released at `ended_at`: charge the billable days
    /// started and not charged, then close. Already closed: no change.
    Close {
        /// When it was released.
        ended_at: DateTime<Utc>,
    },
    /// Support applies another free period to the open loan.
    ChangeFreePeriod {
        /// Who asks (support only).
        actor: Actor,
        /// The new number of free days from the start.
        free_period_days: u32,
        /// Why (not blank).
        reason: String,
    },
}

/// Why a loan command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoanRejection {
    /// There is no loan for this migration.
    #[error("no loan for this migration: no transit server was lent to it")]
    NotOpened,
    /// The loan is closed.
    #[error("the loan of migration {0} is closed: its transit server was released")]
    Closed(String),
    /// The migration already has a loan of another transit server.
    #[error("migration {migration} already borrows transit server {held}, not {asked}")]
    OtherServer {
        /// The migration.
        migration: String,
        /// The server it holds.
        held: String,
        /// The server named.
        asked: String,
    },
    /// Only support may change a free period.
    #[error("{0} may not change a free period: support only")]
    NotSupport(String),
    /// No reason given.
    #[error("a reason is required to change a free period")]
    NoReason,
    /// Too long a free period.
    #[error("a free period is 0 to {MAX_FREE_PERIOD_DAYS} days, not {0}")]
    TooLong(u32),
}

impl Refusal for LoanRejection {
    fn kind(&self) -> RefusalKind {
        match self {
            LoanRejection::NotOpened => RefusalKind::NotFound,
            LoanRejection::Closed(_) | LoanRejection::OtherServer { .. } => RefusalKind::Conflict,
            LoanRejection::NotSupport(_) => RefusalKind::Forbidden,
            LoanRejection::NoReason | LoanRejection::TooLong(_) => RefusalKind::Invalid,
        }
    }
}

/// The loan's decider.
#[derive(Debug)]
pub struct LoanDecider;

fn name(loan: &Loan) -> String {
    loan.opened
        .as_ref()
        .map(|o| o.migration_id.to_string())
        .unwrap_or_default()
}

impl Decider for LoanDecider {
    type State = Loan;
    type Command = LoanCommand;
    type Event = LoanEvent;
    type Rejection = LoanRejection;
    const AGGREGATE: AggregateType = AggregateType::Loan;

    fn decide(loan: &Loan, command: &LoanCommand) -> Result<Vec<LoanEvent>, LoanRejection> {
        match command {
            LoanCommand::Open(opening) => open(loan, opening),
            LoanCommand::ChangeFreePeriod {
                actor,
                free_period_days,
                reason,
            } => change_free_period(loan, actor, *free_period_days, reason),
            LoanCommand::Advance { now, notice } => {
                let Some(opened) = &loan.opened else {
                    return Err(LoanRejection::NotOpened);
                };
                if loan.closed.is_some() {
                    return Ok(Vec::new());
                }
                let mut events = Vec::new();
                if let Some(notice) = notice
                    && notice_due(loan, opened, notice, *now)
                {
                    // A notice given late (the service was down, the clock moved)
                    // says what is true now: when a later notice is due too, that
                    // one is given instead ("1 day left", not "3 days left").
                    let days_left = NOTICE_DAYS
                        .iter()
                        .copied()
                        .filter(|&d| {
                            notice.ends_at - crate::pricing::DAY * i32::try_from(d).unwrap_or(0)
                                <= *now
                        })
                        .min()
                        .unwrap_or(notice.days_left);
                    events.push(LoanEvent::LoanFreePeriodEnding(LoanFreePeriodEnding {
                        ends_at: notice.ends_at,
                        days_left,
                        first_day_price: day_price(
                            &opened.monthly_price,
                            notice.ends_at.date_naive(),
                        ),
                    }));
                }
                events.extend(
                    loan.charges_due(opened, *now)
                        .into_iter()
                        .map(LoanEvent::LoanDayCharged),
                );
                Ok(events)
            }
            LoanCommand::Close { ended_at } => {
                let Some(opened) = &loan.opened else {
                    return Err(LoanRejection::NotOpened);
                };
                if loan.closed.is_some() {
                    return Ok(Vec::new());
                }
                let charges = loan.charges_due(opened, *ended_at);
                let billable_days = loan.charged.len() + charges.len();
                let total = loan.charged.values().map(|m| m.amount_cents).sum::<i64>()
                    + charges.iter().map(|c| c.amount.amount_cents).sum::<i64>();
                let mut events: Vec<LoanEvent> =
                    charges.into_iter().map(LoanEvent::LoanDayCharged).collect();
                events.push(LoanEvent::LoanClosed(LoanClosed {
                    ended_at: *ended_at,
                    days_used: days_started(opened.started_at, *ended_at).max(1),
                    billable_days: u32::try_from(billable_days).unwrap_or(u32::MAX),
                    total: Money::new(total, opened.monthly_price.currency.clone()),
                }));
                Ok(events)
            }
        }
    }

    fn evolve(mut loan: Loan, event: &LoanEvent) -> Loan {
        match event {
            LoanEvent::LoanOpened(e) => {
                if loan.opened.is_none() {
                    loan.free_period_days = e.free_period_days;
                    loan.opened = Some(e.clone());
                }
            }
            LoanEvent::LoanFreePeriodChanged(e) => loan.free_period_days = e.free_period_days,
            LoanEvent::LoanFreePeriodEnding(e) => loan.notices.push((e.ends_at, e.days_left)),
            LoanEvent::LoanDayCharged(e) => {
                loan.charged.insert(e.day, e.amount.clone());
            }
            LoanEvent::LoanClosed(e) => loan.closed = Some(e.clone()),
        }
        loan
    }

    fn select(event: &Event) -> Option<&LoanEvent> {
        match event {
            Event::Loan(e) => Some(e),
            _ => None,
        }
    }
}

fn open(loan: &Loan, opening: &LoanOpened) -> Result<Vec<LoanEvent>, LoanRejection> {
    if let Some(opened) = &loan.opened {
        if opened.transit_server_id == opening.transit_server_id {
            return Ok(Vec::new());
        }
        return Err(LoanRejection::OtherServer {
            migration: opened.migration_id.to_string(),
            held: opened.transit_server_id.clone(),
            asked: opening.transit_server_id.clone(),
        });
    }
    if opening.free_period_days > MAX_FREE_PERIOD_DAYS {
        return Err(LoanRejection::TooLong(opening.free_period_days));
    }
    Ok(vec![LoanEvent::LoanOpened(opening.clone())])
}

fn change_free_period(
    loan: &Loan,
    actor: &Actor,
    free_period_days: u32,
    reason: &str,
) -> Result<Vec<LoanEvent>, LoanRejection> {
    if actor.role != ActorRole::Support {
        return Err(LoanRejection::NotSupport(actor.to_string()));
    }
    if is_blank(reason) {
        return Err(LoanRejection::NoReason);
    }
    if free_period_days > MAX_FREE_PERIOD_DAYS {
        return Err(LoanRejection::TooLong(free_period_days));
    }
    if loan.opened.is_none() {
        return Err(LoanRejection::NotOpened);
    }
    if loan.closed.is_some() {
        return Err(LoanRejection::Closed(name(loan)));
    }
    if loan.free_period_days == free_period_days {
        return Ok(Vec::new());
    }
    Ok(vec![LoanEvent::LoanFreePeriodChanged(
        LoanFreePeriodChanged {
            free_period_days,
            previous_free_period_days: loan.free_period_days,
            reason: reason.trim().to_owned(),
        },
    )])
}

/// Whether `notice` is to be given at `now`: it announces the free period in force,
/// is due, the period is not over, and neither it nor a later one was given.
fn notice_due(loan: &Loan, opened: &LoanOpened, notice: &Notice, now: DateTime<Utc>) -> bool {
    let ends_at = free_period_ends_at(opened.started_at, loan.free_period_days);
    let due = ends_at - crate::pricing::DAY * i32::try_from(notice.days_left).unwrap_or(0);
    notice.ends_at == ends_at
        && NOTICE_DAYS.contains(&notice.days_left)
        && due <= now
        && now < ends_at
        && !loan.notice_given(ends_at, notice.days_left)
}

#[cfg(test)]
mod tests;
