//! One message of the outbox (aggregate `notification`, id: the notification uuid).
//!
//! Life: queued → sending (attempt n, recorded before the attempt) → sent, or failed
//! → (retrying → sending …) → given up after the last attempt. An attempt whose
//! outcome was never recorded stays `sending`: the message may have left, so it is
//! never sent again blindly; support checks and puts it back ([`NotificationCommand::Requeue`]),
//! as it does for a message given up on.

use chrono::{DateTime, Utc};
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{
    AggregateType, Event, NotificationEvent, NotificationFailed, NotificationQueued,
    NotificationRequeued, NotificationSending, NotificationSent,
};

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stage {
    /// Not queued.
    #[default]
    None,
    /// Waiting for its first attempt (or put back by support).
    Queued,
    /// An attempt began and its outcome is not recorded yet.
    Sending,
    /// Handed to the mail system.
    Sent,
    /// An attempt failed; another will be made.
    Retrying,
    /// The last attempt failed; support must act.
    GivenUp,
}

/// The state of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// Where it is.
    pub stage: Stage,
    /// Attempts begun so far.
    pub attempts: u32,
    /// Attempts begun before support last put it back: each round gets the full
    /// number of attempts.
    pub attempts_before_requeue: u32,
}

impl Notification {
    /// The number of the next attempt.
    pub fn next_attempt(&self) -> u32 {
        self.attempts.saturating_add(1)
    }
}

/// What can be asked of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationCommand {
    /// Put the rendered message in the outbox (once: queued again, nothing changes).
    Queue(NotificationQueued),
    /// Record that attempt `attempt` begins (before making it).
    BeginAttempt {
        /// The attempt's number: the next one.
        attempt: u32,
    },
    /// Record that attempt `attempt` handed the message over.
    RecordSent {
        /// The attempt.
        attempt: u32,
        /// When.
        sent_at: DateTime<Utc>,
    },
    /// Record that attempt `attempt` failed.
    RecordFailure {
        /// The attempt.
        attempt: u32,
        /// Why.
        reason: String,
        /// How many attempts are made in all before giving up.
        max_attempts: u32,
    },
    /// Support puts a message given up on, or whose attempt was interrupted, back.
    Requeue {
        /// Why, for the audit.
        reason: String,
    },
}

/// Why a command on a message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationRejection {
    /// No such message.
    #[error("no such notification")]
    NotQueued,
    /// Not the next attempt, or the message is not waiting for one.
    #[error("attempt {attempt} cannot begin: the message is {stage:?} after {attempts} attempt(s)")]
    NotDue {
        /// The attempt asked for.
        attempt: u32,
        /// Where the message is.
        stage: Stage,
        /// Attempts begun.
        attempts: u32,
    },
    /// No such attempt under way.
    #[error("attempt {0} is not under way")]
    NoSuchAttempt(u32),
    /// Only a message given up on, or whose attempt was interrupted, is put back.
    #[error(
        "only a message given up on or whose last attempt was interrupted is put back in the outbox; this one is {0:?}"
    )]
    NotRequeueable(Stage),
    /// A requeue needs a reason.
    #[error("say why the message is put back (a reason that is not blank)")]
    NoReason,
}

impl Refusal for NotificationRejection {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotQueued => RefusalKind::NotFound,
            Self::NoReason => RefusalKind::Invalid,
            Self::NotDue { .. } | Self::NoSuchAttempt(_) | Self::NotRequeueable(_) => {
                RefusalKind::Conflict
            }
        }
    }
}

/// The decider of a message.
#[derive(Debug)]
pub struct NotificationDecider;

impl Decider for NotificationDecider {
    type State = Notification;
    type Command = NotificationCommand;
    type Event = NotificationEvent;
    type Rejection = NotificationRejection;
    const AGGREGATE: AggregateType = AggregateType::Notification;

    fn decide(
        state: &Notification,
        command: &NotificationCommand,
    ) -> Result<Vec<NotificationEvent>, NotificationRejection> {
        use NotificationCommand as C;
        match command {
            C::Queue(queued) => Ok(if state.stage == Stage::None {
                vec![queued.clone().into()]
            } else {
                Vec::new()
            }),
            _ if state.stage == Stage::None => Err(NotificationRejection::NotQueued),
            C::BeginAttempt { attempt } => {
                let waiting = matches!(state.stage, Stage::Queued | Stage::Retrying);
                if waiting && *attempt == state.next_attempt() {
                    Ok(vec![NotificationSending { attempt: *attempt }.into()])
                } else {
                    Err(NotificationRejection::NotDue {
                        attempt: *attempt,
                        stage: state.stage,
                        attempts: state.attempts,
                    })
                }
            }
            C::RecordSent { attempt, sent_at } => match state.stage {
                Stage::Sent => Ok(Vec::new()),
                // Put back by support while that attempt was in fact under way: it
                // left, which is what counts.
                Stage::Sending | Stage::Queued if *attempt == state.attempts && *attempt > 0 => {
                    Ok(vec![
                        NotificationSent {
                            attempt: *attempt,
                            sent_at: *sent_at,
                        }
                        .into(),
                    ])
                }
                _ => Err(NotificationRejection::NoSuchAttempt(*attempt)),
            },
            C::RecordFailure {
                attempt,
                reason,
                max_attempts,
            } => {
                if state.stage == Stage::Sending && *attempt == state.attempts {
                    Ok(vec![
                        NotificationFailed {
                            attempt: *attempt,
                            reason: reason.clone(),
                            will_retry: attempt.saturating_sub(state.attempts_before_requeue)
                                < *max_attempts,
                        }
                        .into(),
                    ])
                } else {
                    Err(NotificationRejection::NoSuchAttempt(*attempt))
                }
            }
            C::Requeue { reason } => {
                if ferry_events::is_blank(reason) {
                    return Err(NotificationRejection::NoReason);
                }
                match state.stage {
                    Stage::GivenUp | Stage::Sending => Ok(vec![
                        NotificationRequeued {
                            reason: reason.clone(),
                        }
                        .into(),
                    ]),
                    other => Err(NotificationRejection::NotRequeueable(other)),
                }
            }
        }
    }

    fn evolve(mut state: Notification, event: &NotificationEvent) -> Notification {
        match event {
            NotificationEvent::NotificationQueued(_) => state.stage = Stage::Queued,
            NotificationEvent::NotificationSending(e) => {
                state.stage = Stage::Sending;
                state.attempts = state.attempts.max(e.attempt);
            }
            NotificationEvent::NotificationSent(_) => state.stage = Stage::Sent,
            NotificationEvent::NotificationFailed(e) => {
                state.stage = if e.will_retry {
                    Stage::Retrying
                } else {
                    Stage::GivenUp
                };
            }
            NotificationEvent::NotificationRequeued(_) => {
                state.stage = Stage::Queued;
                state.attempts_before_requeue = state.attempts;
            }
        }
        state
    }

    fn select(event: &Event) -> Option<&NotificationEvent> {
        match event {
            Event::Notification(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
