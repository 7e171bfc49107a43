//! The billing policy, pure, over its local view `billing_view`.
//!
//! The view folds what billing needs from the log:
//! - `server/<id>`: a client server's customer and monthly price
//!   (`ServerRegistered`, `ServerDetailsChanged`);
//! - `migration/<id>`: a migration's client server and customer (`MigrationOpened`);
//! - `released/<migration id>`: when the migration's transit server was released;
//! - `loan/<migration id>`: an open loan's start, free period in force (and since
//!   when), days charged and notices given, from the loan's own events; removed when
//!   it closes. These entries are billing's durable timers: an entry is due at the
//!   start of its next billable day not charged, or when its next notice of the free
//!   period's end is due, whichever comes first.
//!
//! | event (aggregate) | command |
//! |---|---|
//! | `TransitServerLent` (transit_server) | loan `Open`, started at the event's `occurred_at`, for the migration's customer and client server at the server's monthly price |
//! | `TransitServerReleased` (transit_server) | loan `Close` at the event's `occurred_at` |
//! | `TransitServerLent` after its release (its reaction retried late, a fact having been missing) | loan `Open`, then `Close` at the release |
//! | a loan entry due | loan `Advance` (charges the days started, gives the notice due) |
//!
//! Notices: at 3 days and at 1 day before the free period ends, each once per end
//! of free period (a change by support plans them again for the new end). A notice
//! is planned only if it falls due after its free period was set (a free period of
//! 2 days gets the 1-day notice only), is dropped once the first billable day is
//! charged, and a 3-day notice is dropped once the 1-day one is given.
//!
//! Command ids derive from the event (reactions) or from the loan entry's state
//! (timers): a redelivered event, a timer fired twice or after a restart, issue the
//! same command, carried out once.

use crate::loan::NOTICE_DAYS;
use crate::pricing::{DAY, day_date, day_start, free_period_ends_at};
use chrono::{DateTime, NaiveDate, Utc};
use ferry_core::policy::{Entries, Missing, Policy, View, reaction_id};
use ferry_events::{
    AggregateType, Envelope, Event, LoanEvent, MigrationEvent, Money, ServerEvent,
    TransitServerEvent,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// The reactor's name: its durable consumer and the namespace of its command ids.
pub const NAME: &str = "billing";

/// One entry of billing's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fact")]
pub enum BillingFact {
    /// A client server.
    Server {
        /// Its owner.
        customer_id: String,
        /// What its owner pays for it per month.
        monthly_price: Money,
    },
    /// A migration.
    Migration {
        /// Its client server.
        server_id: String,
        /// Its customer.
        customer_id: String,
    },
    /// The transit server lent to a migration was released (kept so that a loan
    /// opened late, its lending's reaction retried after the release, closes too).
    Released {
        /// When.
        ended_at: DateTime<Utc>,
    },
    /// An open loan: a timer.
    Loan {
        /// When it started.
        started_at: DateTime<Utc>,
        /// The free period in force, in days.
        free_period_days: u32,
        /// Since when that free period is in force.
        since: DateTime<Utc>,
        /// The days charged (UTC dates they started on).
        charged: BTreeSet<NaiveDate>,
        /// The notices given.
        notices: Vec<GivenNotice>,
    },
}

/// A notice of the free period's end that was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GivenNotice {
    /// The end it announced.
    pub ends_at: DateTime<Utc>,
    /// The days left it said.
    pub days_left: u32,
}

/// A notice to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedNotice {
    /// When the free period ends.
    pub ends_at: DateTime<Utc>,
    /// The days left (3 or 1).
    pub days_left: u32,
    /// When it is due.
    pub due: DateTime<Utc>,
}

impl BillingFact {
    /// For a loan: the start of the next billable day not charged.
    pub fn next_charge(&self) -> Option<DateTime<Utc>> {
        let BillingFact::Loan {
            started_at,
            free_period_days,
            charged,
            ..
        } = self
        else {
            return None;
        };
        let mut k = free_period_days.saturating_add(1);
        while charged.contains(&day_date(*started_at, k)) && k < u32::MAX {
            k += 1;
        }
        Some(day_start(*started_at, k))
    }

    /// For a loan: the next notice of the free period's end still to give.
    pub fn next_notice(&self) -> Option<PlannedNotice> {
        let BillingFact::Loan {
            started_at,
            free_period_days,
            since,
            charged,
            notices,
        } = self
        else {
            return None;
        };
        let ends_at = free_period_ends_at(*started_at, *free_period_days);
        if charged.contains(&ends_at.date_naive()) {
            return None;
        }
        NOTICE_DAYS.iter().find_map(|&days_left| {
            let due = ends_at - DAY * i32::try_from(days_left).unwrap_or(0);
            let given = notices
                .iter()
                .any(|n| n.ends_at == ends_at && n.days_left <= days_left);
            (due >= *since && !given).then_some(PlannedNotice {
                ends_at,
                days_left,
                due,
            })
        })
    }
}

/// Billing's view.
#[derive(Debug)]
pub struct BillingView;

fn server_key(id: &str) -> String {
    format!("server/{id}")
}

fn migration_key(id: impl std::fmt::Display) -> String {
    format!("migration/{id}")
}

fn loan_key(id: impl std::fmt::Display) -> String {
    format!("loan/{id}")
}

fn released_key(id: impl std::fmt::Display) -> String {
    format!("released/{id}")
}

impl View for BillingView {
    const NAME: &'static str = "billing_view";
    const AGGREGATES: &'static [AggregateType] = &[
        AggregateType::Server,
        AggregateType::Migration,
        AggregateType::TransitServer,
        AggregateType::Loan,
    ];
    type Entry = BillingFact;

    fn keys(event: &Envelope) -> Vec<String> {
        match &event.event {
            Event::Server(
                ServerEvent::ServerRegistered(_) | ServerEvent::ServerDetailsChanged(_),
            ) => vec![server_key(&event.aggregate_id)],
            Event::Migration(MigrationEvent::MigrationOpened(_)) => {
                vec![migration_key(&event.aggregate_id)]
            }
            Event::Loan(_) => vec![loan_key(&event.aggregate_id)],
            Event::TransitServer(TransitServerEvent::TransitServerReleased(e)) => {
                vec![released_key(e.migration_id)]
            }
            _ => Vec::new(),
        }
    }

    fn evolve(_key: &str, entry: Option<BillingFact>, event: &Envelope) -> Option<BillingFact> {
        match &event.event {
            Event::Server(ServerEvent::ServerRegistered(e)) => Some(BillingFact::Server {
                customer_id: e.customer_id.clone(),
                monthly_price: e.monthly_price.clone(),
            }),
            Event::Server(ServerEvent::ServerDetailsChanged(e)) => Some(BillingFact::Server {
                customer_id: e.customer_id.clone(),
                monthly_price: e.monthly_price.clone(),
            }),
            Event::Migration(MigrationEvent::MigrationOpened(e)) => Some(BillingFact::Migration {
                server_id: e.server_id.clone(),
                customer_id: e.customer_id.clone(),
            }),
            Event::Loan(e) => evolve_loan(entry, e, event.occurred_at),
            Event::TransitServer(TransitServerEvent::TransitServerReleased(_)) => {
                Some(BillingFact::Released {
                    ended_at: event.occurred_at,
                })
            }
            _ => entry,
        }
    }

    fn due(entry: &BillingFact) -> Option<DateTime<Utc>> {
        let charge = entry.next_charge()?;
        Some(match entry.next_notice() {
            Some(notice) => notice.due.min(charge),
            None => charge,
        })
    }
}

fn evolve_loan(
    entry: Option<BillingFact>,
    event: &LoanEvent,
    occurred_at: DateTime<Utc>,
) -> Option<BillingFact> {
    if let LoanEvent::LoanOpened(e) = event {
        return match entry {
            Some(loan @ BillingFact::Loan { .. }) => Some(loan),
            _ => Some(BillingFact::Loan {
                started_at: e.started_at,
                free_period_days: e.free_period_days,
                since: e.started_at,
                charged: BTreeSet::new(),
                notices: Vec::new(),
            }),
        };
    }
    let Some(BillingFact::Loan {
        started_at,
        mut free_period_days,
        mut since,
        mut charged,
        mut notices,
    }) = entry
    else {
        return entry;
    };
    match event {
        LoanEvent::LoanClosed(_) => return None,
        LoanEvent::LoanDayCharged(e) => {
            charged.insert(e.day);
        }
        LoanEvent::LoanFreePeriodChanged(e) => {
            free_period_days = e.free_period_days;
            since = occurred_at;
        }
        LoanEvent::LoanFreePeriodEnding(e) => notices.push(GivenNotice {
            ends_at: e.ends_at,
            days_left: e.days_left,
        }),
        LoanEvent::LoanOpened(_) => {}
    }
    Some(BillingFact::Loan {
        started_at,
        free_period_days,
        since,
        charged,
        notices,
    })
}

/// A command billing's policy issues, with its id and correlation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingCommand {
    /// The command id, derived from its cause.
    pub id: Uuid,
    /// The migration it belongs to.
    pub correlation_id: Uuid,
    /// What to do.
    pub action: BillingAction,
}

/// What billing's policy asks of a loan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingAction {
    /// Open the loan (the free period is the setting in force, added by the edge).
    Open {
        /// The migration (the loan's id).
        migration_id: Uuid,
        /// The transit server lent.
        transit_server_id: String,
        /// The customer billed.
        customer_id: String,
        /// The client server.
        client_server_id: String,
        /// When the server was lent.
        started_at: DateTime<Utc>,
        /// The client server's monthly price.
        monthly_price: Money,
    },
    /// Charge what has started, give the notice if due (now is the edge's clock).
    Advance {
        /// The migration (the loan's id).
        migration_id: Uuid,
        /// The notice due with it, if any.
        notice: Option<crate::loan::Notice>,
    },
    /// Close the loan.
    Close {
        /// The migration (the loan's id).
        migration_id: Uuid,
        /// When the server was released.
        ended_at: DateTime<Utc>,
    },
}

/// Billing's policy.
#[derive(Debug)]
pub struct BillingPolicy;

impl Policy for BillingPolicy {
    type View = BillingView;
    type Command = BillingCommand;
    const NAME: &'static str = NAME;

    fn reads(event: &Envelope, known: &Entries<BillingFact>) -> Vec<String> {
        match &event.event {
            Event::TransitServer(TransitServerEvent::TransitServerLent(e)) => {
                let mut keys = vec![migration_key(e.migration_id), released_key(e.migration_id)];
                if let Some(BillingFact::Migration { server_id, .. }) =
                    known.get(&migration_key(e.migration_id))
                {
                    keys.push(server_key(server_id));
                }
                keys
            }
            _ => Vec::new(),
        }
    }

    fn react(
        event: &Envelope,
        view: &Entries<BillingFact>,
    ) -> Result<Vec<BillingCommand>, Missing> {
        match &event.event {
            Event::TransitServer(TransitServerEvent::TransitServerLent(lent)) => {
                let Some(BillingFact::Migration {
                    server_id,
                    customer_id,
                }) = view.get(&migration_key(lent.migration_id))
                else {
                    return Err(Missing(format!(
                        "transit server {} was lent to migration {}, which was never opened",
                        event.aggregate_id, lent.migration_id
                    )));
                };
                let Some(BillingFact::Server { monthly_price, .. }) =
                    view.get(&server_key(server_id))
                else {
                    return Err(Missing(format!(
                        "client server {server_id} of migration {} was never registered: \
                         no monthly price to bill its transit server at",
                        lent.migration_id
                    )));
                };
                let mut commands = vec![BillingCommand {
                    id: reaction_id(NAME, event.event_id, "open"),
                    correlation_id: lent.migration_id,
                    action: BillingAction::Open {
                        migration_id: lent.migration_id,
                        transit_server_id: event.aggregate_id.clone(),
                        customer_id: customer_id.clone(),
                        client_server_id: server_id.clone(),
                        started_at: event.occurred_at,
                        monthly_price: monthly_price.clone(),
                    },
                }];
                // Released already (this reaction retried late): closed at once.
                if let Some(BillingFact::Released { ended_at }) =
                    view.get(&released_key(lent.migration_id))
                    && *ended_at >= event.occurred_at
                {
                    commands.push(BillingCommand {
                        id: reaction_id(NAME, event.event_id, "close-released"),
                        correlation_id: lent.migration_id,
                        action: BillingAction::Close {
                            migration_id: lent.migration_id,
                            ended_at: *ended_at,
                        },
                    });
                }
                Ok(commands)
            }
            Event::TransitServer(TransitServerEvent::TransitServerReleased(released)) => {
                Ok(vec![BillingCommand {
                    id: reaction_id(NAME, event.event_id, "close"),
                    correlation_id: released.migration_id,
                    action: BillingAction::Close {
                        migration_id: released.migration_id,
                        ended_at: event.occurred_at,
                    },
                }])
            }
            _ => Ok(Vec::new()),
        }
    }

    fn on_due(key: &str, entry: &BillingFact) -> Vec<BillingCommand> {
        let Some(migration_id) = key
            .strip_prefix("loan/")
            .and_then(|id| id.parse::<Uuid>().ok())
        else {
            return Vec::new();
        };
        let (
            Some(due),
            BillingFact::Loan {
                free_period_days,
                charged,
                notices,
                ..
            },
        ) = (BillingView::due(entry), entry)
        else {
            return Vec::new();
        };
        let notice = entry
            .next_notice()
            .filter(|n| n.due <= due)
            .map(|n| crate::loan::Notice {
                ends_at: n.ends_at,
                days_left: n.days_left,
            });
        // The entry's state names the command: each step of the loan is a new one.
        let purpose = format!(
            "advance/{}/{free_period_days}/{}/{}",
            due.to_rfc3339(),
            charged.len(),
            notices.len()
        );
        vec![BillingCommand {
            id: reaction_id(NAME, migration_id, &purpose),
            correlation_id: migration_id,
            action: BillingAction::Advance {
                migration_id,
                notice,
            },
        }]
    }
}

#[cfg(test)]
mod tests;
