//! The accounts service's command side: loads what a decision needs from the log
//! (the server, the target version, the migration), builds the command and hands it
//! to the command handler. Every entry point takes the actor and the command id (the
//! client's idempotency key), so a retried request is carried out once.

use crate::domain::calendar::WorkingCalendar;
use crate::domain::compatibility::{self, TargetSupport};
use crate::domain::migration::{
    Action, MigrationCommand, MigrationDecider, MigrationRefusal, Phase,
};
use crate::domain::optional_migration::{
    OptionalAction, OptionalCommand, OptionalMigrationDecider, OptionalRefusal,
};
use crate::domain::server::{ServerCommand, ServerDecider, ServerRefusal, ServerState};
use crate::domain::target_infrastructure::{Publish, TargetInfrastructureDecider, TargetRefusal};
use chrono::{DateTime, Utc};
use ferry_events::{
    AccountLanguages, AccountSpec, Actor, Grants, Incompatibility, OptionalMigrationScheduled,
    ServerRegistered,
};
use ferry_infra::api::ApiError;
use ferry_infra::command::{Command, CommandHandler, Decider, HandleError, Handled};
use ferry_infra::config::AllowedRoots;
use ferry_infra::event_log::EventLog;
use ferry_infra::secrets::SecretStore;
use ferry_infra::secrets::edge::take_passwords;
use uuid::Uuid;

/// How long a request opening a migration waits for the policy to open it.
const OPENING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// First pause between two looks while waiting (growing up to ten times).
const OPENING_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// The accounts service's commands.
#[derive(Debug, Clone)]
pub struct Accounts {
    handler: CommandHandler,
    calendar: WorkingCalendar,
    storage_roots: AllowedRoots,
    secrets: Option<SecretStore>,
}

/// What a customer or support asks of a migration, before the service adds what the
/// decision needs from the log.
#[derive(Debug, Clone, PartialEq)]
pub enum MigrationRequest {
    /// Checks the accounts against the target again.
    CheckCompatibility,
    /// Test migration of an account.
    RequestTest(String),
    /// Throws a test copy away.
    DiscardTest(String),
    /// Marks an account ready.
    MarkReady(String),
    /// Takes an account's readiness back.
    WithdrawReadiness(String),
    /// Asks for the transit server.
    RequestTransit,
    /// Support removes the obsolete language versions and hands the request to the pool.
    RemoveObsoleteLanguages,
    /// Support gives them back (back to step 1).
    RestoreObsoleteLanguages,
    /// Moves an account to the transit server.
    Move(String),
    /// Confirms a moved account works.
    Verify(String),
    /// Moves an account back before the reinstall.
    Rollback(String),
    /// Asks for the reinstall.
    RequestReinstall,
    /// Support starts the reinstall.
    StartReinstall,
    /// Support records the reinstall done, with the version that was installed.
    RecordReinstalled {
        /// What the server runs now, as the reinstall reported it.
        infrastructure_version: String,
    },
    /// Support moves an account back to the reinstalled server.
    Relocate(String),
    /// Abandons the migration.
    Cancel(String),
    /// Support tries the failed pre-copy again.
    RetryPreCopy,
    /// Support calls an account's move, rollback or relocation off (account, reason).
    AbortTransfer(String, String),
}

/// Per account, what will not work on a target version.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AccountCompatibility {
    /// The account.
    pub account_id: String,
    /// Its name.
    pub name: String,
    /// What will not work, empty when compatible.
    #[schema(value_type = Vec<Object>)]
    pub issues: Vec<Incompatibility>,
}

impl Accounts {
    /// The service over `log`, relocating in `calendar`'s working hours.
    pub fn new(log: EventLog, calendar: WorkingCalendar) -> Self {
        Self {
            // Generous: fleet imports and reactors may race on one aggregate.
            handler: CommandHandler::new(log, 20),
            calendar,
            storage_roots: AllowedRoots::default(),
            secrets: None,
        }
    }

    /// The same service, keeping the passwords of registered servers' database URLs
    /// in `store` (`FERRY_SECRETS_DIR`); without one, a URL with a password is
    /// refused.
    pub fn with_secrets(mut self, store: SecretStore) -> Self {
        self.secrets = Some(store);
        self
    }

    /// The same service, taking servers whose storage roots lie in `roots` only
    /// (`FERRY_STORAGE_ROOTS`; [`AllowedRoots::default`] otherwise).
    pub fn with_storage_roots(mut self, roots: AllowedRoots) -> Self {
        self.storage_roots = roots;
        self
    }

    /// The command handler (and through it the log).
    pub fn handler(&self) -> &CommandHandler {
        &self.handler
    }

    /// Registers a server and its accounts, or brings them in line (support).
    pub async fn register_server(
        &self,
        actor: Actor,
        id: Uuid,
        mut server: ServerRegistered,
        accounts: Vec<AccountSpec>,
    ) -> Result<Handled<ServerState>, ApiError> {
        // The roots' place is configuration, so checked here; the rest of the
        // registration (and who may register) is the decider's. A customer is
        // refused by the decider as such, not told where roots may lie.
        if matches!(
            actor.role,
            ferry_events::ActorRole::Support | ferry_events::ActorRole::System
        ) && let Err(reason) = self.storage_roots.check_storage(&server.storage)
        {
            return Err(
                HandleError::<ServerRefusal>::Rejected(ServerRefusal::Invalid(reason)).into(),
            );
        }
        // Passwords out, into the secret store, before anything is decided; only for
        // those who may register (a customer's storage is the decider's to refuse,
        // and never reaches the store).
        if actor.role != ferry_events::ActorRole::Customer {
            take_passwords(self.secrets.as_ref(), "storage", &mut server.storage)?;
        }
        let command = Command {
            id,
            aggregate_id: server.server_id.clone(),
            correlation_id: id,
            actor: actor.clone(),
            payload: ServerCommand::Register {
                actor,
                server,
                accounts,
            },
        };
        Ok(self.handler.handle::<ServerDecider>(&command).await?)
    }

    /// Publishes an infrastructure version, or brings what it supports in line.
    pub async fn publish_target(
        &self,
        actor: Actor,
        id: Uuid,
        publish: Publish,
    ) -> Result<Handled<crate::domain::target_infrastructure::TargetState>, ApiError> {
        let command = Command {
            id,
            aggregate_id: publish.version.clone(),
            correlation_id: id,
            actor: actor.clone(),
            payload: Publish { actor, ..publish },
        };
        Ok(self
            .handler
            .handle::<TargetInfrastructureDecider>(&command)
            .await?)
    }

    /// The compatibility of every account of a server with a target version.
    pub async fn compatibility(
        &self,
        actor: &Actor,
        grants: &Grants,
        server_id: &str,
        target_version: &str,
    ) -> Result<Vec<AccountCompatibility>, ApiError> {
        let server = self.server(server_id).await?;
        crate::domain::access::check_read(actor, grants, server.customer_id(), server_id)
            .map_err(ApiError::forbidden)?;
        let target = self.target(target_version).await?;
        Ok(server
            .accounts
            .values()
            .map(|account| AccountCompatibility {
                account_id: account.account_id.clone(),
                name: account.name.clone(),
                issues: compatibility::check(account, &target),
            })
            .collect())
    }

    /// The migration in progress on a server, from its history (owner or support).
    pub async fn current_migration(
        &self,
        actor: &Actor,
        grants: &Grants,
        server_id: &str,
    ) -> Result<Uuid, ApiError> {
        let server = self.server(server_id).await?;
        crate::domain::access::check_read(actor, grants, server.customer_id(), server_id)
            .map_err(ApiError::forbidden)?;
        let none = |ended: String| {
            ApiError::not_found(format!(
                "server {server_id} has no migration in progress{ended}; open one with `ferry migration open {server_id} --target <version>`"
            ))
        };
        let Some(migration_id) = server.open_migration else {
            return Err(none(String::new()));
        };
        match self.ended(migration_id).await? {
            Some(state) => Err(none(format!(" (migration {migration_id} is {state})"))),
            None => Ok(migration_id),
        }
    }

    /// How `migration_id` ended (`cancelled`, `completed`), if it did. A migration
    /// just over is still the server's open one for a moment (the accounts policy
    /// closes it): the caller's last write counts, not that delay.
    async fn ended(&self, migration_id: Uuid) -> Result<Option<&'static str>, ApiError> {
        let loaded: Result<_, ferry_infra::command::HandleError<MigrationRefusal>> = self
            .handler
            .state::<MigrationDecider>(&migration_id.to_string())
            .await;
        let (migration, _) = loaded?;
        Ok(
            matches!(migration.phase(), Phase::Completed | Phase::Cancelled)
                .then(|| migration.state_name()),
        )
    }

    /// Opens a migration of a server (owner or support). The migration id derives
    /// from the command id, so a retried request opens the same migration.
    ///
    /// One write here: the server is claimed for the migration (one aggregate's
    /// decision: two racing openings, one claim). The accounts policy then opens the
    /// migration from the claim (or, if the opening became impossible meanwhile,
    /// gives the claim back); this waits for either, so that the request answers
    /// with the opened migration. A crash anywhere leaves a claim the policy acts
    /// on when it resumes, and a retried request (same key) finds it.
    pub async fn open_migration(
        &self,
        actor: Actor,
        grants: &Grants,
        id: Uuid,
        server_id: &str,
        target_version: &str,
    ) -> Result<(Uuid, Handled<crate::domain::migration::MigrationState>), ApiError> {
        let server = self.server_after_its_last_migration(server_id).await?;
        let target = self.target(target_version).await?;
        let migration_id = Uuid::new_v5(&id, b"migration");
        // Decide first without writing, so that a refused opening claims nothing.
        MigrationDecider::decide(
            &Default::default(),
            &MigrationCommand {
                actor: actor.clone(),
                grants: grants.clone(),
                action: Action::Open {
                    migration_id,
                    server_id: server_id.to_owned(),
                    customer_id: server.customer_id().to_owned(),
                    from_version: server.infrastructure_version.clone(),
                    accounts: server.accounts.values().cloned().collect(),
                    target,
                },
            },
        )
        .map_err(|refusal| ApiError::refused(&refusal))?;
        let claim = Command {
            id: Uuid::new_v5(&id, b"claim"),
            aggregate_id: server_id.to_owned(),
            correlation_id: migration_id,
            actor,
            payload: ServerCommand::OpenMigration {
                migration_id,
                target_version: target_version.to_owned(),
            },
        };
        let claimed = self.handler.handle::<ServerDecider>(&claim).await?;
        self.opened(server_id, migration_id, claimed.already_handled)
            .await
            .map(|handled| (migration_id, handled))
    }

    /// The server, once a migration of it that just ended (cancelled or completed)
    /// is closed on it too, which the accounts policy does a moment later: a script
    /// that cancels then opens again sees its cancel (bounded by the opening's wait).
    async fn server_after_its_last_migration(
        &self,
        server_id: &str,
    ) -> Result<ServerState, ApiError> {
        let deadline = tokio::time::Instant::now() + OPENING_WAIT;
        loop {
            let server = self.server(server_id).await?;
            let Some(open) = server.open_migration else {
                return Ok(server);
            };
            let over = self.ended(open).await?.is_some();
            if !over || tokio::time::Instant::now() >= deadline {
                return Ok(server);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits until the policy has opened `migration_id` (its `Open` command's events
    /// are in its history), or has given the server's claim back.
    async fn opened(
        &self,
        server_id: &str,
        migration_id: Uuid,
        already_handled: bool,
    ) -> Result<Handled<crate::domain::migration::MigrationState>, ApiError> {
        let open_id = crate::domain::policy::open_command_id(migration_id);
        let aggregate = ferry_infra::event_log::AggregateRef::new(
            ferry_events::AggregateType::Migration,
            migration_id.to_string(),
        )
        .map_err(|e| ApiError::invalid(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + OPENING_WAIT;
        let mut attempt = 0;
        loop {
            let loaded = self
                .handler
                .log()
                .load(&aggregate)
                .await
                .map_err(|e| ApiError::unavailable(e.to_string()))?;
            if loaded
                .events
                .iter()
                .any(|r| r.envelope.causation_id == open_id)
            {
                let state = MigrationDecider::fold(loaded.events.iter().map(|r| &r.envelope.event));
                return Ok(Handled {
                    events: loaded
                        .events
                        .into_iter()
                        .map(|r| r.envelope)
                        .filter(|e| e.causation_id == open_id)
                        .collect(),
                    version: loaded.version,
                    state,
                    already_handled,
                });
            }
            let server = self.server(server_id).await?;
            if server.open_migration != Some(migration_id) {
                return Err(ApiError::conflict(format!(
                    "the migration of {server_id} could not be opened: the server or the target changed meanwhile; check and try again"
                )));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::unavailable(format!(
                    "{server_id} is claimed for migration {migration_id}, which is being opened; repeat the request with the same idempotency key"
                )));
            }
            attempt += 1;
            tokio::time::sleep(OPENING_POLL.saturating_mul(attempt.min(10))).await;
        }
    }

    /// Carries out a request on a migration, adding what it needs from the log.
    pub async fn request(
        &self,
        actor: Actor,
        grants: &Grants,
        id: Uuid,
        migration_id: Uuid,
        request: MigrationRequest,
        now: DateTime<Utc>,
    ) -> Result<Handled<crate::domain::migration::MigrationState>, ApiError> {
        let (migration, server, target) = self.migration_facts(migration_id).await?;
        let transfer_id = Uuid::new_v5(&id, b"transfer");
        let action = action_for(
            &migration,
            &server,
            &target,
            &self.calendar,
            request,
            transfer_id,
            now,
        )?;
        self.migration_command(actor, grants, id, migration_id, action)
            .await
    }

    /// What `actor` (granted `grants`) may ask of migration `migration_id` now:
    /// every request, dry-run through the migration's decider without writing,
    /// offered when it would change something; and those the decider refuses only
    /// for being outside support's working hours, with the next opening it names.
    /// The rules are the decider's alone.
    pub async fn allowed_requests(
        &self,
        actor: &Actor,
        grants: &Grants,
        migration_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(Vec<AllowedRequest>, Vec<DeferredRequest>), ApiError> {
        let (migration, server, target) = self.migration_facts(migration_id).await?;
        crate::domain::access::check_read(
            actor,
            grants,
            &migration.customer_id,
            &migration.server_id,
        )
        .map_err(ApiError::forbidden)?;
        let accounts: Vec<String> = migration.accounts.keys().cloned().collect();
        let dry_run = Uuid::nil();
        let mut allowed = Vec::new();
        let mut later = Vec::new();
        for (name, account, request) in candidate_requests(&accounts, &migration.target_version) {
            let Ok(action) = action_for(
                &migration,
                &server,
                &target,
                &self.calendar,
                request,
                dry_run,
                now,
            ) else {
                continue;
            };
            let command = MigrationCommand {
                actor: actor.clone(),
                grants: grants.clone(),
                action,
            };
            match MigrationDecider::decide(&migration, &command) {
                Ok(events) if !events.is_empty() => allowed.push(AllowedRequest {
                    action: name.to_owned(),
                    account_id: account,
                }),
                Err(MigrationRefusal::OutsideWorkingHours { next }) => {
                    later.push(DeferredRequest {
                        action: name.to_owned(),
                        account_id: account,
                        opens_at: next,
                    });
                }
                Ok(_) | Err(_) => {}
            }
        }
        Ok((allowed, later))
    }

    /// A migration as its events leave it, with its server and target: what its
    /// requests are built from.
    async fn migration_facts(
        &self,
        migration_id: Uuid,
    ) -> Result<
        (
            crate::domain::migration::MigrationState,
            ServerState,
            TargetSupport,
        ),
        ApiError,
    > {
        let (migration, _) = self
            .handler
            .state::<MigrationDecider>(&migration_id.to_string())
            .await?;
        if migration.server_id.is_empty() {
            return Err(ApiError::not_found(format!("no migration {migration_id}")));
        }
        let server = self.server(&migration.server_id).await?;
        let target = self.target(&migration.target_version).await?;
        Ok((migration, server, target))
    }

    /// Hands one migration command to the handler.
    pub async fn migration_command(
        &self,
        actor: Actor,
        grants: &Grants,
        id: Uuid,
        migration_id: Uuid,
        action: Action,
    ) -> Result<Handled<crate::domain::migration::MigrationState>, ApiError> {
        let command = Command {
            id,
            aggregate_id: migration_id.to_string(),
            correlation_id: migration_id,
            actor: actor.clone(),
            payload: MigrationCommand {
                actor,
                grants: grants.clone(),
                action,
            },
        };
        let handled: Result<_, ferry_infra::command::HandleError<MigrationRefusal>> =
            self.handler.handle::<MigrationDecider>(&command).await;
        Ok(handled?)
    }

    /// Schedules an optional migration of one service of a server (support).
    pub async fn schedule_optional(
        &self,
        actor: Actor,
        grants: &Grants,
        id: Uuid,
        server_id: &str,
        mut scheduled: OptionalMigrationScheduled,
    ) -> Result<Handled<crate::domain::optional_migration::OptionalState>, ApiError> {
        let server = self.server(server_id).await?;
        scheduled.optional_migration_id = Uuid::new_v5(&id, b"optional-migration");
        scheduled.server_id = server_id.to_owned();
        scheduled.customer_id = server.customer_id().to_owned();
        let optional_id = scheduled.optional_migration_id;
        let schedule = OptionalCommand {
            actor: actor.clone(),
            grants: grants.clone(),
            action: OptionalAction::Schedule(scheduled.clone()),
        };
        // Decide first without writing, so that a refused request claims nothing.
        OptionalMigrationDecider::decide(&Default::default(), &schedule)
            .map_err(|refusal| ApiError::refused(&refusal))?;
        // One optional migration per service at a time: the server's claim refuses
        // a second (409) until the first is applied or cancelled. The claim carries
        // the schedule, which the accounts policy writes too, so that a crash
        // between the two writes leaves no service claimed by nothing.
        let claim = Command {
            id: Uuid::new_v5(&id, b"claim-service"),
            aggregate_id: server_id.to_owned(),
            correlation_id: optional_id,
            actor: actor.clone(),
            payload: ServerCommand::ClaimService {
                schedule: scheduled.clone(),
            },
        };
        self.handler.handle::<ServerDecider>(&claim).await?;
        self.optional_command(actor, grants, id, optional_id, schedule.action)
            .await
    }

    /// Hands one optional migration command to the handler.
    pub async fn optional_command(
        &self,
        actor: Actor,
        grants: &Grants,
        id: Uuid,
        optional_id: Uuid,
        action: OptionalAction,
    ) -> Result<Handled<crate::domain::optional_migration::OptionalState>, ApiError> {
        let command = Command {
            id,
            aggregate_id: optional_id.to_string(),
            correlation_id: optional_id,
            actor: actor.clone(),
            payload: OptionalCommand {
                actor,
                grants: grants.clone(),
                action,
            },
        };
        let handled: Result<_, ferry_infra::command::HandleError<OptionalRefusal>> = self
            .handler
            .handle::<OptionalMigrationDecider>(&command)
            .await;
        Ok(handled?)
    }

    /// A registered server's state.
    pub async fn server(&self, server_id: &str) -> Result<ServerState, ApiError> {
        let loaded: Result<_, ferry_infra::command::HandleError<ServerRefusal>> =
            self.handler.state::<ServerDecider>(server_id).await;
        let (server, _) = loaded?;
        if server.details.is_none() {
            return Err(ApiError::not_found(format!("no server {server_id}")));
        }
        Ok(server)
    }

    /// A published target version.
    pub async fn target(&self, version: &str) -> Result<TargetSupport, ApiError> {
        // Said in the caller's terms, not as the log's "invalid aggregate id".
        if version.is_empty() {
            return Err(ApiError::invalid(
                "target_version is empty: name a published infrastructure version (e.g. v2026)"
                    .to_owned(),
            ));
        }
        let loaded: Result<_, ferry_infra::command::HandleError<TargetRefusal>> = self
            .handler
            .state::<TargetInfrastructureDecider>(version)
            .await;
        let (target, _) = loaded?;
        target.support.ok_or_else(|| {
            ApiError::not_found(format!("no infrastructure version {version} is published"))
        })
    }
}

/// A request one may make of a migration now, as `GET /migrations/{id}/actions`
/// lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AllowedRequest {
    /// Its name, as the panel and the CLI call it: `check-compatibility`, `test`,
    /// `discard-test`, `ready`, `withdraw-readiness`, `request-transit`,
    /// `remove-languages`, `restore-languages`, `move`, `verify`, `rollback`,
    /// `request-reinstall`, `start-reinstall`, `reinstalled`, `relocate`, `cancel`,
    /// `retry-pre-copy`, `abort`.
    pub action: String,
    /// The account it concerns, for an account's request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// A request the migration's rules would accept but for support's working hours:
/// offered from `opens_at`, the next opening the decider named.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DeferredRequest {
    /// Its name, as in [`AllowedRequest::action`] (today only `relocate`).
    pub action: String,
    /// The account it concerns, for an account's request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// When support's working hours open next (UTC).
    pub opens_at: DateTime<Utc>,
}

/// Every request that could be made of a migration with these accounts, named.
/// The reasons given (cancel, abort) only stand in for the dry run.
fn candidate_requests(
    accounts: &[String],
    target_version: &str,
) -> Vec<(&'static str, Option<String>, MigrationRequest)> {
    let whole = |name, request| (name, None, request);
    let mut candidates = vec![
        whole("check-compatibility", MigrationRequest::CheckCompatibility),
        whole("request-transit", MigrationRequest::RequestTransit),
        whole(
            "remove-languages",
            MigrationRequest::RemoveObsoleteLanguages,
        ),
        whole(
            "restore-languages",
            MigrationRequest::RestoreObsoleteLanguages,
        ),
        whole("request-reinstall", MigrationRequest::RequestReinstall),
        whole("start-reinstall", MigrationRequest::StartReinstall),
        whole(
            "reinstalled",
            MigrationRequest::RecordReinstalled {
                infrastructure_version: target_version.to_owned(),
            },
        ),
        whole("retry-pre-copy", MigrationRequest::RetryPreCopy),
        whole("cancel", MigrationRequest::Cancel("dry run".into())),
    ];
    for account in accounts {
        let one = |name, request| (name, Some(account.clone()), request);
        candidates.extend([
            one("test", MigrationRequest::RequestTest(account.clone())),
            one(
                "discard-test",
                MigrationRequest::DiscardTest(account.clone()),
            ),
            one("ready", MigrationRequest::MarkReady(account.clone())),
            one(
                "withdraw-readiness",
                MigrationRequest::WithdrawReadiness(account.clone()),
            ),
            one("move", MigrationRequest::Move(account.clone())),
            one("verify", MigrationRequest::Verify(account.clone())),
            one("rollback", MigrationRequest::Rollback(account.clone())),
            one("relocate", MigrationRequest::Relocate(account.clone())),
            one(
                "abort",
                MigrationRequest::AbortTransfer(account.clone(), "dry run".into()),
            ),
        ]);
    }
    candidates
}

/// The migration action `request` stands for, with what it needs from the migration,
/// its server and its target (a transfer's id, the sizes of the databases, the
/// calendar and the time).
fn action_for(
    migration: &crate::domain::migration::MigrationState,
    server: &ServerState,
    target: &TargetSupport,
    calendar: &WorkingCalendar,
    request: MigrationRequest,
    transfer_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Action, ApiError> {
    let migration_id = migration.migration_id;
    let database_bytes = |server: &ServerState, account_id: &str| {
        server.accounts.get(account_id).map_or(0, |a| {
            ferry_events::input::total_bytes(a.databases.iter().map(|d| d.size_bytes))
        })
    };
    Ok(match request {
        MigrationRequest::CheckCompatibility => Action::CheckCompatibility {
            accounts: server.accounts.values().cloned().collect(),
            target: target.clone(),
        },
        MigrationRequest::RequestTest(account_id) => Action::RequestTest {
            account_id,
            transfer_id,
        },
        MigrationRequest::DiscardTest(account_id) => Action::DiscardTest { account_id },
        MigrationRequest::MarkReady(account_id) => Action::MarkReady { account_id },
        MigrationRequest::WithdrawReadiness(account_id) => Action::WithdrawReadiness { account_id },
        MigrationRequest::RequestTransit => {
            // Its configuration names the transit servers that fit: none is a fact
            // missing, never an empty configuration.
            let configuration = server
                .details
                .as_ref()
                .map(|d| d.configuration.clone())
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "server {} of migration {migration_id} is not registered",
                        migration.server_id
                    ))
                })?;
            Action::RequestTransit { configuration }
        }
        MigrationRequest::RemoveObsoleteLanguages => {
            let removals = server
                .accounts
                .values()
                .filter(|a| migration.accounts.contains_key(&a.account_id))
                .map(|a| AccountLanguages {
                    account_id: a.account_id.clone(),
                    versions: compatibility::obsolete_languages(a, target),
                })
                .filter(|r| !r.versions.is_empty())
                .collect();
            Action::RemoveObsoleteLanguages { removals }
        }
        MigrationRequest::RestoreObsoleteLanguages => Action::RestoreObsoleteLanguages,
        MigrationRequest::Move(account_id) => Action::StartMove {
            database_bytes: database_bytes(server, &account_id),
            account_id,
            transfer_id,
        },
        MigrationRequest::Verify(account_id) => Action::Verify { account_id },
        MigrationRequest::Rollback(account_id) => Action::StartRollback {
            database_bytes: database_bytes(server, &account_id),
            account_id,
            transfer_id,
        },
        MigrationRequest::RequestReinstall => Action::RequestReinstall,
        MigrationRequest::StartReinstall => Action::StartReinstall,
        MigrationRequest::RecordReinstalled {
            infrastructure_version,
        } => Action::RecordReinstalled {
            infrastructure_version,
        },
        MigrationRequest::Relocate(account_id) => Action::Relocate {
            database_bytes: database_bytes(server, &account_id),
            account_id,
            transfer_id,
            now,
            calendar: calendar.clone(),
        },
        MigrationRequest::Cancel(reason) => Action::Cancel { reason },
        MigrationRequest::RetryPreCopy => Action::RetryPreCopy {
            failed_transfer_id: None,
        },
        MigrationRequest::AbortTransfer(account_id, reason) => {
            Action::AbortTransfer { account_id, reason }
        }
    })
}
