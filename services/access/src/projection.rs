//! The `access` projection, in the PostgreSQL schema `proj_access`: the tokens
//! issued (folded from the `api_token` events, for `GET /tokens`; never a token's
//! hash: authentication reads the log, not this table) and the rights customers
//! granted their users (folded from the `user_grants` events, for `GET
//! /customers/{customer_id}/grants`; commands and authentication read the log).
//!
//! Each event is applied in log order inside the batch's transaction; nothing
//! depends on anything but the events, so a rebuild equals the live table.

use ferry_events::{AggregateType, ApiTokenEvent, Event, UserGrantsEvent};
use ferry_infra::event_log::Recorded;
use ferry_infra::projection::{ApplyError, Projection};
use uuid::Uuid;

/// The projection's name.
pub const NAME: &str = "access";
/// Its live schema.
pub const SCHEMA_NAME: &str = "proj_access";

// The definition (this text) changing rebuilds the projection from the log.
const SCHEMA: &str = "
-- v1: folds api_token events, without their hashes
CREATE TABLE api_tokens (
    token_id uuid PRIMARY KEY,
    holder text NOT NULL,
    holder_role text NOT NULL,
    holder_id text NOT NULL,
    label text NOT NULL,
    expires_at timestamptz NOT NULL,
    issued_at timestamptz NOT NULL,
    issued_by text NOT NULL,
    revoked_at timestamptz,
    revoked_by text,
    revoke_reason text
);
CREATE INDEX api_tokens_by_holder ON api_tokens (holder, issued_at);
-- v2: the grants in force ('' as account_id: the whole server)
CREATE TABLE grants (
    customer_id text NOT NULL,
    login text NOT NULL,
    server_id text NOT NULL,
    account_id text NOT NULL,
    granted_at timestamptz NOT NULL,
    granted_by text NOT NULL,
    PRIMARY KEY (customer_id, login, server_id, account_id)
);
";

/// The `access` projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessReadModel;

impl Projection for AccessReadModel {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> &'static [AggregateType] {
        &[AggregateType::ApiToken, AggregateType::UserGrants]
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    async fn apply<'a>(
        &'a self,
        tx: &'a tokio_postgres::Transaction<'a>,
        events: &'a [Recorded],
    ) -> Result<(), ApplyError> {
        for recorded in events {
            let event = match &recorded.envelope.event {
                Event::ApiToken(event) => event,
                Event::UserGrants(event) => {
                    apply_grant(tx, recorded, event).await?;
                    continue;
                }
                _ => continue,
            };
            let envelope = &recorded.envelope;
            let token_id: Uuid = envelope.aggregate_id.parse().map_err(|_| {
                ApplyError::Invalid(format!(
                    "api_token id {:?} is not a uuid",
                    envelope.aggregate_id
                ))
            })?;
            let role = |actor: &ferry_events::Actor| actor.to_string();
            match event {
                ApiTokenEvent::ApiTokenIssued(e) => {
                    let holder_role = e.holder.role.as_str();
                    tx.execute(
                        "INSERT INTO api_tokens (token_id, holder, holder_role, holder_id, label,
                            expires_at, issued_at, issued_by)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         ON CONFLICT (token_id) DO NOTHING",
                        &[
                            &token_id,
                            &role(&e.holder),
                            &holder_role,
                            &e.holder.id,
                            &e.label,
                            &e.expires_at,
                            &envelope.occurred_at,
                            &role(&envelope.actor),
                        ],
                    )
                    .await?;
                }
                ApiTokenEvent::ApiTokenRevoked(e) => {
                    tx.execute(
                        "UPDATE api_tokens SET revoked_at = $2, revoked_by = $3, revoke_reason = $4
                         WHERE token_id = $1 AND revoked_at IS NULL",
                        &[
                            &token_id,
                            &envelope.occurred_at,
                            &role(&envelope.actor),
                            &e.reason,
                        ],
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }
}

async fn apply_grant(
    tx: &tokio_postgres::Transaction<'_>,
    recorded: &Recorded,
    event: &UserGrantsEvent,
) -> Result<(), ApplyError> {
    let envelope = &recorded.envelope;
    match event {
        UserGrantsEvent::MigrationRightsGranted(e) => {
            tx.execute(
                "INSERT INTO grants (customer_id, login, server_id, account_id, granted_at,
                    granted_by)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT DO NOTHING",
                &[
                    &e.customer_id,
                    &e.login,
                    &e.scope.server_id,
                    &e.scope.account_id.as_deref().unwrap_or_default(),
                    &envelope.occurred_at,
                    &envelope.actor.to_string(),
                ],
            )
            .await?;
        }
        UserGrantsEvent::MigrationRightsRevoked(e) => {
            tx.execute(
                "DELETE FROM grants
                 WHERE customer_id = $1 AND login = $2 AND server_id = $3 AND account_id = $4",
                &[
                    &e.customer_id,
                    &e.login,
                    &e.scope.server_id,
                    &e.scope.account_id.as_deref().unwrap_or_default(),
                ],
            )
            .await?;
        }
    }
    Ok(())
}
