//! [`Access`]: the access service's command side. Every command goes to one token
//! (aggregate `api_token`, id = the token's uuid) or to one user's grants
//! (aggregate `user_grants`) through the [`CommandHandler`]: load → decide → append.
//!
//! Emits, through their deciders, `ApiTokenIssued`, `ApiTokenRevoked`,
//! `MigrationRightsGranted` and `MigrationRightsRevoked`. Reads, besides its own
//! aggregates, the `server` a grant names (its owner and accounts), from the log.

use crate::domain::api_token::{ApiToken, ApiTokenCommand, ApiTokenRejection, ApiTokenState};
use crate::domain::user_grants::{
    ServerFacts, UserGrants, UserGrantsCommand, UserGrantsRejection, UserGrantsState,
};
use crate::token::{HashError, TokenText};
use chrono::{DateTime, Utc};
use ferry_events::{Actor, AggregateType, Event, GrantScope, Grants, user_grants_id};
use ferry_infra::command::{Command, CommandHandler, HandleError, Handled};
use ferry_infra::event_log::{AggregateRef, EventLog};
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

    /// `actor` grants user `login` of `customer_id` migration rights on `scope`;
    /// `command_id` makes a retried request harmless. The server `scope` names is
    /// read from the log first: the decider checks it is the customer's.
    pub async fn grant(
        &self,
        command_id: Uuid,
        actor: &Actor,
        customer_id: &str,
        login: &str,
        scope: GrantScope,
    ) -> Result<Handled<UserGrantsState>, HandleError<UserGrantsRejection>> {
        let server = self.server_facts(&scope.server_id).await?;
        let command = UserGrantsCommand::Grant {
            actor: actor.clone(),
            customer_id: customer_id.to_owned(),
            login: login.to_owned(),
            scope,
            server,
        };
        self.change_grants(command_id, actor, customer_id, login, command)
            .await
    }

    /// `actor` takes `scope` back from user `login` of `customer_id`.
    pub async fn revoke_grant(
        &self,
        command_id: Uuid,
        actor: &Actor,
        customer_id: &str,
        login: &str,
        scope: GrantScope,
    ) -> Result<Handled<UserGrantsState>, HandleError<UserGrantsRejection>> {
        let command = UserGrantsCommand::Revoke {
            actor: actor.clone(),
            customer_id: customer_id.to_owned(),
            login: login.to_owned(),
            scope,
        };
        self.change_grants(command_id, actor, customer_id, login, command)
            .await
    }

    /// What user `login` of `customer_id` was granted, as its events say now (read
    /// from the log, so that a revocation counts at once).
    pub async fn grants(
        &self,
        customer_id: &str,
        login: &str,
    ) -> Result<Grants, HandleError<UserGrantsRejection>> {
        let (state, _) = self
            .handler
            .state::<UserGrants>(&user_grants_id(customer_id, login))
            .await?;
        Ok(state.grants)
    }

    /// The server `server_id`'s owner and accounts, as its events say; `None` when
    /// no such server was registered (or the id cannot name one).
    async fn server_facts(
        &self,
        server_id: &str,
    ) -> Result<Option<ServerFacts>, HandleError<UserGrantsRejection>> {
        let Ok(server) = AggregateRef::new(AggregateType::Server, server_id) else {
            // Malformed: the decider says so, naming the id.
            return Ok(None);
        };
        let loaded = self.log().load(&server).await.map_err(HandleError::Read)?;
        let events = loaded
            .events
            .iter()
            .filter_map(|recorded| match &recorded.envelope.event {
                Event::Server(event) => Some(event),
                _ => None,
            });
        Ok(ServerFacts::from_events(events))
    }

    async fn change_grants(
        &self,
        command_id: Uuid,
        actor: &Actor,
        customer_id: &str,
        login: &str,
        payload: UserGrantsCommand,
    ) -> Result<Handled<UserGrantsState>, HandleError<UserGrantsRejection>> {
        let aggregate_id = user_grants_id(customer_id, login);
        self.handler
            .handle::<UserGrants>(&Command {
                id: command_id,
                correlation_id: command_id,
                aggregate_id,
                actor: actor.clone(),
                payload,
            })
            .await
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
