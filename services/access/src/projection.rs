//! The `access` projection: the tokens issued, in the PostgreSQL schema
//! `proj_access`, folded from the `api_token` events alone, for `GET /tokens`.
//! It never holds a token's hash: authentication reads the log, not this table.
//!
//! Each event is applied in log order inside the batch's transaction; nothing
//! depends on anything but the events, so a rebuild equals the live table.

use ferry_events::{AggregateType, ApiTokenEvent, Event};
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
";

/// The `access` projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessReadModel;

impl Projection for AccessReadModel {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> &'static [AggregateType] {
        &[AggregateType::ApiToken]
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
            let Event::ApiToken(event) = &recorded.envelope.event else {
                continue;
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
                    let holder_role = match e.holder.role {
                        ferry_events::ActorRole::Customer => "customer",
                        ferry_events::ActorRole::Support => "support",
                        ferry_events::ActorRole::System => "system",
                    };
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
