//! [`Billing`]: billing's command side. Every command goes to one loan (aggregate
//! `loan`, id = the migration) through the [`CommandHandler`]: load → decide → append.
//!
//! Emits, through the loan's decider, `LoanOpened`, `LoanFreePeriodChanged`,
//! `LoanFreePeriodEnding`, `LoanDayCharged` and `LoanClosed`; reads nothing else.

use crate::domain::loan::{Loan, LoanCommand, LoanDecider, LoanRejection};
use ferry_events::Actor;
use ferry_infra::command::{Command, CommandHandler, HandleError, Handled};
use ferry_infra::event_log::EventLog;
use uuid::Uuid;

/// How many times a command is decided again when the loan changed meanwhile.
const MAX_ATTEMPTS: u32 = 20;

/// Who gives a command, under which id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    /// The command id (idempotency: carried out once per loan).
    pub id: Uuid,
    /// Who asks.
    pub actor: Actor,
}

impl CommandMeta {
    /// A command with id `id` (e.g. an HTTP idempotency key) given by `actor`.
    pub fn new(id: Uuid, actor: Actor) -> Self {
        Self { id, actor }
    }
}

/// The outcome of a loan command.
pub type LoanResult = Result<Handled<Loan>, HandleError<LoanRejection>>;

/// Billing's command side. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Billing {
    handler: CommandHandler,
    free_period_days: u32,
}

impl Billing {
    /// Billing writing to `log`, opening loans with `free_period_days` free days.
    pub fn new(log: EventLog, free_period_days: u32) -> Self {
        Self {
            handler: CommandHandler::new(log, MAX_ATTEMPTS),
            free_period_days,
        }
    }

    /// The event log (and its clock).
    pub fn log(&self) -> &EventLog {
        self.handler.log()
    }

    /// The free period new loans get, in days.
    pub fn free_period_days(&self) -> u32 {
        self.free_period_days
    }

    /// Any command to the loan of `migration_id`, correlated with the migration.
    pub async fn handle(
        &self,
        meta: &CommandMeta,
        migration_id: Uuid,
        command: LoanCommand,
    ) -> LoanResult {
        self.handler
            .handle::<LoanDecider>(&Command {
                id: meta.id,
                aggregate_id: migration_id.to_string(),
                correlation_id: migration_id,
                actor: meta.actor.clone(),
                payload: command,
            })
            .await
    }

    /// Support applies another free period to an open loan.
    pub async fn change_free_period(
        &self,
        meta: &CommandMeta,
        migration_id: Uuid,
        free_period_days: u32,
        reason: &str,
    ) -> LoanResult {
        let command = LoanCommand::ChangeFreePeriod {
            actor: meta.actor.clone(),
            free_period_days,
            reason: reason.to_owned(),
        };
        self.handle(meta, migration_id, command).await
    }

    /// The loan of `migration_id` as its events say now.
    pub async fn loan(&self, migration_id: Uuid) -> Result<Loan, HandleError<LoanRejection>> {
        let (loan, _) = self
            .handler
            .state::<LoanDecider>(&migration_id.to_string())
            .await?;
        Ok(loan)
    }
}
