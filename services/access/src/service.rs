//! [`Access`]: the access service's command side. Every command goes to one token
//! (aggregate `api_token`, id = the token's uuid) through the [`CommandHandler`]:
//! load → decide → append.
//!
//! Emits, through the token's decider, `ApiTokenIssued` and `ApiTokenRevoked`;
//! reads nothing else.

use crate::domain::api_token::{ApiToken, ApiTokenCommand, ApiTokenRejection, ApiTokenState};
use crate::token::{HashError, TokenText};
use chrono::{DateTime, Utc};
use ferry_events::Actor;
use ferry_infra::command::{Command, CommandHandler, HandleError, Handled};
use ferry_infra::event_log::EventLog;
use uuid::Uuid;

/// How many times a command is decided again when the token changed meanwhile.
const MAX_ATTEMPTS: u32 = 5;

/// A token just issued: the only time its text is known.
#[derive(Debug)]
pub struct Issued {
    /// The token, to show once.
    pub token: TokenText,
    /// What the command did.
    pub handled: Handled<ApiTokenState>,
}

/// Why a token was not issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// Refused, or the log did not answer.
    #[error(transparent)]
    Handle(#[from] HandleError<ApiTokenRejection>),
    /// The secret could not be hashed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The hashing task died.
    #[error("the hashing task failed: {0}")]
    Task(String),
}

/// The access service's command side. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Access {
    handler: CommandHandler,
}

impl Access {
    /// Tokens kept in `log`.
    pub fn new(log: EventLog) -> Self {
        Self {
            handler: CommandHandler::new(log, MAX_ATTEMPTS),
        }
    }

    /// The event log (and its clock).
    pub fn log(&self) -> &EventLog {
        self.handler.log()
    }

    /// `actor` has a token issued to `holder`, labelled `label`, expiring at
    /// `expires_at`. A new token every call: its id is its command's.
    pub async fn issue(
        &self,
        actor: &Actor,
        holder: Actor,
        label: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<Issued, IssueError> {
        let id = Uuid::now_v7();
        let token = TokenText::generate(id);
        // Argon2 takes tens of milliseconds of CPU: off the async threads.
        let hashing = token.clone();
        let secret_hash = tokio::task::spawn_blocking(move || hashing.hash())
            .await
            .map_err(|e| IssueError::Task(e.to_string()))??;
        let command = ApiTokenCommand::Issue {
            actor: actor.clone(),
            holder,
            label: label.to_owned(),
            expires_at,
            secret_hash,
            now: self.log().clock().now(),
        };
        let handled = self.handle(id, actor, id, command).await?;
        Ok(Issued { token, handled })
    }

    /// `actor` revokes token `id`; `command_id` makes a retried request harmless.
    pub async fn revoke(
        &self,
        command_id: Uuid,
        actor: &Actor,
        id: Uuid,
        reason: &str,
    ) -> Result<Handled<ApiTokenState>, HandleError<ApiTokenRejection>> {
        let command = ApiTokenCommand::Revoke {
            actor: actor.clone(),
            reason: reason.to_owned(),
        };
        self.handle(command_id, actor, id, command).await
    }

    /// Token `id` as its events say now (read from the log, so that a revocation is
    /// refused at once).
    pub async fn token(&self, id: Uuid) -> Result<ApiTokenState, HandleError<ApiTokenRejection>> {
        let (state, _) = self.handler.state::<ApiToken>(&id.to_string()).await?;
        Ok(state)
    }

    async fn handle(
        &self,
        command_id: Uuid,
        actor: &Actor,
        token_id: Uuid,
        payload: ApiTokenCommand,
    ) -> Result<Handled<ApiTokenState>, HandleError<ApiTokenRejection>> {
        self.handler
            .handle::<ApiToken>(&Command {
                id: command_id,
                aggregate_id: token_id.to_string(),
                correlation_id: token_id,
                actor: actor.clone(),
                payload,
            })
            .await
    }
}
