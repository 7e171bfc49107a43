//! The `server` aggregate: a client server, its accounts, and which required migration
//! holds it. Registration is a sync: registering a server again with the same details
//! changes nothing, so a fleet file can be imported any number of times. A database
//! service moved by an optional migration updates where its databases live.
//!
//! Emits `ServerRegistered`, `ServerDetailsChanged`, `AccountAdded`, `AccountChanged`,
//! `AccountRemoved`, `LanguageVersionsRemoved`, `LanguageVersionsRestored`,
//! `InfrastructureVersionChanged`, `RequiredMigrationOpened`, `RequiredMigrationClosed`,
//! `ServiceMigrationClaimed`, `ServiceMigrationReleased`.

use super::access::{Allowed, Target, check};
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::Grants;
use ferry_events::{
    AccountAdded, AccountChanged, AccountRemoved, AccountSpec, Actor, AggregateType,
    DatabaseEngine, InfrastructureVersionChanged, LanguageVersion, LanguageVersionsRemoved,
    LanguageVersionsRestored, MigrationOutcome, OptionalMigrationScheduled,
    RequiredMigrationClosed, RequiredMigrationOpened, ServerDetailsChanged, ServerEvent,
    ServerRegistered, ServiceKind, ServiceMigrationClaimed, ServiceMigrationReleased,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// A client server as ferry knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerState {
    /// Its details, once registered.
    pub details: Option<ServerDetailsChanged>,
    /// The infrastructure version it runs.
    pub infrastructure_version: String,
    /// Its accounts by id.
    pub accounts: BTreeMap<String, AccountSpec>,
    /// Language versions support removed in step 2, per account (given back on restore).
    pub removed_languages: BTreeMap<String, BTreeSet<LanguageVersion>>,
    /// The required migration in progress, if any.
    pub open_migration: Option<Uuid>,
    /// The optional migration holding each service being migrated.
    pub service_claims: Vec<(ServiceKind, Uuid)>,
}

impl ServerState {
    /// The optional migration holding `service`, if one does.
    pub fn service_claim(&self, service: ServiceKind) -> Option<Uuid> {
        self.service_claims
            .iter()
            .find(|(claimed, _)| *claimed == service)
            .map(|(_, id)| *id)
    }
}

impl ServerState {
    /// The owning customer, empty before registration.
    pub fn customer_id(&self) -> &str {
        self.details.as_ref().map_or("", |d| d.customer_id.as_str())
    }
}

/// What can be asked of a server.
#[derive(Debug, Clone, PartialEq)]
// Commands are short-lived values; boxing the registration would only burden callers.
#[allow(clippy::large_enum_variant)]
pub enum ServerCommand {
    /// Registers the server, or brings it in line with these details and accounts.
    Register {
        /// Who asks (support or a fleet import).
        actor: Actor,
        /// The server as it should be.
        server: ServerRegistered,
        /// Its accounts as they should be.
        accounts: Vec<AccountSpec>,
    },
    /// Claims the server for a required migration (one at a time).
    OpenMigration {
        /// The migration.
        migration_id: Uuid,
        /// Its target version.
        target_version: String,
    },
    /// Claims one service for an optional migration (one per service at a time).
    ClaimService {
        /// The optional migration, as it is to be scheduled.
        schedule: OptionalMigrationScheduled,
    },
    /// Frees a service from its optional migration (applied or cancelled).
    ReleaseService {
        /// The optional migration.
        optional_migration_id: Uuid,
        /// Its service.
        service: ServiceKind,
    },
    /// Frees the server from its migration.
    CloseMigration {
        /// The migration.
        migration_id: Uuid,
        /// How it ended.
        outcome: MigrationOutcome,
    },
    /// Removes language versions from an account (step 2, by the migration).
    RemoveLanguages {
        /// The account.
        account_id: String,
        /// The versions.
        versions: Vec<LanguageVersion>,
    },
    /// Gives back removed language versions.
    RestoreLanguages {
        /// The account.
        account_id: String,
        /// The versions.
        versions: Vec<LanguageVersion>,
    },
    /// Records that the server now runs another infrastructure version (step 6).
    ChangeInfrastructureVersion {
        /// The version it runs now.
        to: String,
    },
    /// Records that one of its database services moved to a server running a new
    /// version (an optional migration applied): where its databases live now, and
    /// the version they run.
    MoveDatabaseService {
        /// The engine moved.
        engine: DatabaseEngine,
        /// The connection URL of the new version's server (no password).
        url: String,
        /// The reference of its login's password in the secret store, if it has one.
        credential: Option<ferry_events::CredentialRef>,
        /// The version it runs, e.g. `"16"`.
        version: String,
    },
}

/// Why a server command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerRefusal {
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such server.
    #[error("server is not registered")]
    UnknownServer,
    /// No such account on the server.
    #[error("no account {0} on this server")]
    UnknownAccount(String),
    /// The registration is malformed.
    #[error("invalid server: {0}")]
    Invalid(String),
    /// The infrastructure version changes only through a migration.
    #[error(
        "the server runs {current}, not {requested}: its infrastructure version changes only through a migration"
    )]
    VersionChangedOutsideMigration {
        /// What it runs.
        current: String,
        /// What the registration says.
        requested: String,
    },
    /// Another migration holds the server.
    #[error("migration {0} is already in progress on this server")]
    MigrationInProgress(Uuid),
    /// Another optional migration of the service is not finished (a failed one waits
    /// for a retry or a cancel).
    #[error(
        "optional migration {0} of this service is not finished (scheduled, under way, or failed and waiting for a retry): it must be applied or cancelled first"
    )]
    ServiceMigrationInProgress(Uuid),
    /// Who owns the server and which transit servers fit it are fixed while a
    /// migration moves it.
    #[error(
        "{field} cannot change while migration {migration} is in progress (it is {current:?}, the registration says {requested:?})"
    )]
    FixedDuringMigration {
        /// The field, e.g. `customer_id`.
        field: &'static str,
        /// The migration.
        migration: Uuid,
        /// Its value.
        current: String,
        /// What the registration says.
        requested: String,
    },
    /// Accounts cannot be removed while a migration moves them.
    #[error("accounts {0} cannot be removed while migration {1} is in progress")]
    AccountsInMigration(String, Uuid),
}

impl Refusal for ServerRefusal {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::Forbidden(_) => RefusalKind::Forbidden,
            Self::UnknownServer | Self::UnknownAccount(_) => RefusalKind::NotFound,
            Self::Invalid(_) => RefusalKind::Invalid,
            Self::VersionChangedOutsideMigration { .. }
            | Self::MigrationInProgress(_)
            | Self::ServiceMigrationInProgress(_)
            | Self::FixedDuringMigration { .. }
            | Self::AccountsInMigration(..) => RefusalKind::Conflict,
        }
    }
}

/// The server decider.
#[derive(Debug)]
pub struct ServerDecider;

impl Decider for ServerDecider {
    type State = ServerState;
    type Command = ServerCommand;
    type Event = ServerEvent;
    type Rejection = ServerRefusal;
    const AGGREGATE: AggregateType = AggregateType::Server;

    fn decide(
        state: &ServerState,
        command: &ServerCommand,
    ) -> Result<Vec<ServerEvent>, ServerRefusal> {
        match command {
            ServerCommand::Register {
                actor,
                server,
                accounts,
            } => register(state, actor, server, accounts),
            ServerCommand::OpenMigration {
                migration_id,
                target_version,
            } => {
                registered(state)?;
                match state.open_migration {
                    Some(open) if open == *migration_id => Ok(vec![]),
                    Some(open) => Err(ServerRefusal::MigrationInProgress(open)),
                    None => Ok(vec![
                        RequiredMigrationOpened {
                            migration_id: *migration_id,
                            target_version: target_version.clone(),
                        }
                        .into(),
                    ]),
                }
            }
            ServerCommand::ClaimService { schedule } => {
                registered(state)?;
                match state.service_claim(schedule.service) {
                    Some(held) if held == schedule.optional_migration_id => Ok(vec![]),
                    Some(held) => Err(ServerRefusal::ServiceMigrationInProgress(held)),
                    None => Ok(vec![
                        ServiceMigrationClaimed {
                            schedule: schedule.clone(),
                        }
                        .into(),
                    ]),
                }
            }
            ServerCommand::ReleaseService {
                optional_migration_id,
                service,
            } => {
                registered(state)?;
                if state.service_claim(*service) != Some(*optional_migration_id) {
                    return Ok(vec![]);
                }
                Ok(vec![
                    ServiceMigrationReleased {
                        optional_migration_id: *optional_migration_id,
                        service: *service,
                    }
                    .into(),
                ])
            }
            ServerCommand::CloseMigration {
                migration_id,
                outcome,
            } => {
                registered(state)?;
                if state.open_migration != Some(*migration_id) {
                    return Ok(vec![]);
                }
                Ok(vec![
                    RequiredMigrationClosed {
                        migration_id: *migration_id,
                        outcome: *outcome,
                    }
                    .into(),
                ])
            }
            ServerCommand::RemoveLanguages {
                account_id,
                versions,
            } => {
                let account = account(state, account_id)?;
                let versions: Vec<_> = versions
                    .iter()
                    .filter(|v| account.languages.contains(v))
                    .cloned()
                    .collect();
                if versions.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![
                    LanguageVersionsRemoved {
                        account_id: account_id.clone(),
                        versions,
                    }
                    .into(),
                ])
            }
            ServerCommand::RestoreLanguages {
                account_id,
                versions,
            } => {
                account(state, account_id)?;
                let removed = state.removed_languages.get(account_id);
                let versions: Vec<_> = versions
                    .iter()
                    .filter(|v| removed.is_some_and(|r| r.contains(v)))
                    .cloned()
                    .collect();
                if versions.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![
                    LanguageVersionsRestored {
                        account_id: account_id.clone(),
                        versions,
                    }
                    .into(),
                ])
            }
            ServerCommand::MoveDatabaseService {
                engine,
                url,
                credential,
                version,
            } => move_database_service(state, *engine, url, credential.as_ref(), version),
            ServerCommand::ChangeInfrastructureVersion { to } => {
                registered(state)?;
                if state.infrastructure_version == *to {
                    return Ok(vec![]);
                }
                Ok(vec![
                    InfrastructureVersionChanged {
                        from: state.infrastructure_version.clone(),
                        to: to.clone(),
                    }
                    .into(),
                ])
            }
        }
    }

    fn evolve(mut state: ServerState, event: &ServerEvent) -> ServerState {
        match event {
            ServerEvent::ServerRegistered(e) => {
                state.infrastructure_version = e.infrastructure_version.clone();
                state.details = Some(details_of(e));
            }
            ServerEvent::ServerDetailsChanged(e) => state.details = Some(e.clone()),
            ServerEvent::AccountAdded(AccountAdded { account })
            | ServerEvent::AccountChanged(AccountChanged { account }) => {
                state
                    .accounts
                    .insert(account.account_id.clone(), account.clone());
            }
            ServerEvent::AccountRemoved(e) => {
                state.accounts.remove(&e.account_id);
                state.removed_languages.remove(&e.account_id);
            }
            ServerEvent::LanguageVersionsRemoved(e) => {
                if let Some(account) = state.accounts.get_mut(&e.account_id) {
                    account.languages.retain(|l| !e.versions.contains(l));
                }
                state
                    .removed_languages
                    .entry(e.account_id.clone())
                    .or_default()
                    .extend(e.versions.iter().cloned());
            }
            ServerEvent::LanguageVersionsRestored(e) => {
                if let Some(account) = state.accounts.get_mut(&e.account_id) {
                    for version in &e.versions {
                        if !account.languages.contains(version) {
                            account.languages.push(version.clone());
                        }
                    }
                }
                if let Some(removed) = state.removed_languages.get_mut(&e.account_id) {
                    removed.retain(|l| !e.versions.contains(l));
                    if removed.is_empty() {
                        state.removed_languages.remove(&e.account_id);
                    }
                }
            }
            ServerEvent::InfrastructureVersionChanged(e) => {
                state.infrastructure_version = e.to.clone();
            }
            ServerEvent::RequiredMigrationOpened(e) => state.open_migration = Some(e.migration_id),
            ServerEvent::RequiredMigrationClosed(_) => state.open_migration = None,
            ServerEvent::ServiceMigrationClaimed(e) => state
                .service_claims
                .push((e.schedule.service, e.schedule.optional_migration_id)),
            ServerEvent::ServiceMigrationReleased(e) => state
                .service_claims
                .retain(|claim| *claim != (e.service, e.optional_migration_id)),
        }
        state
    }

    fn select(event: &ferry_events::Event) -> Option<&ServerEvent> {
        match event {
            ferry_events::Event::Server(e) => Some(e),
            _ => None,
        }
    }
}

/// The server's storage pointing at the new server, and its accounts' databases of
/// that engine at the new version; nothing for what already is.
fn move_database_service(
    state: &ServerState,
    engine: DatabaseEngine,
    url: &str,
    credential: Option<&ferry_events::CredentialRef>,
    version: &str,
) -> Result<Vec<ServerEvent>, ServerRefusal> {
    let details = registered(state)?;
    let field = match engine {
        DatabaseEngine::Postgres => "postgres_url",
        DatabaseEngine::Mysql => "mysql_url",
    };
    ferry_events::input::parse_recorded_url(field, engine, url)
        .map_err(|e| ServerRefusal::Invalid(e.to_string()))?;
    let mut events = Vec::new();
    let mut storage = details.storage.clone();
    let (current, current_credential) = match engine {
        DatabaseEngine::Postgres => (&mut storage.postgres_url, &mut storage.postgres_credential),
        DatabaseEngine::Mysql => (&mut storage.mysql_url, &mut storage.mysql_credential),
    };
    if current.as_deref() != Some(url) || current_credential.as_ref() != credential {
        *current = Some(url.to_owned());
        *current_credential = credential.cloned();
        events.push(
            ServerDetailsChanged {
                storage,
                ..details.clone()
            }
            .into(),
        );
    }
    for account in state.accounts.values() {
        let mut moved = account.clone();
        for database in moved.databases.iter_mut().filter(|d| d.engine == engine) {
            database.version = version.to_owned();
        }
        if moved != *account {
            events.push(AccountChanged { account: moved }.into());
        }
    }
    Ok(events)
}

fn registered(state: &ServerState) -> Result<&ServerDetailsChanged, ServerRefusal> {
    state.details.as_ref().ok_or(ServerRefusal::UnknownServer)
}

fn account<'a>(state: &'a ServerState, id: &str) -> Result<&'a AccountSpec, ServerRefusal> {
    registered(state)?;
    state
        .accounts
        .get(id)
        .ok_or_else(|| ServerRefusal::UnknownAccount(id.to_owned()))
}

fn details_of(e: &ServerRegistered) -> ServerDetailsChanged {
    ServerDetailsChanged {
        name: e.name.clone(),
        kind: e.kind,
        configuration: e.configuration.clone(),
        ipv4: e.ipv4.clone(),
        ipv6: e.ipv6.clone(),
        monthly_price: e.monthly_price.clone(),
        customer_id: e.customer_id.clone(),
        contact_email: e.contact_email.clone(),
        locale: e.locale.clone(),
        storage: e.storage.clone(),
    }
}

/// The owner (its customer's rights on the migration) and the configuration (the
/// transit server lent) cannot change under a migration.
fn fixed_during_migration(
    current: &ServerDetailsChanged,
    wanted: &ServerDetailsChanged,
    migration: Uuid,
) -> Result<(), ServerRefusal> {
    for (field, now, then) in [
        ("customer_id", &current.customer_id, &wanted.customer_id),
        (
            "configuration",
            &current.configuration,
            &wanted.configuration,
        ),
    ] {
        if now != then {
            return Err(ServerRefusal::FixedDuringMigration {
                field,
                migration,
                current: now.clone(),
                requested: then.clone(),
            });
        }
    }
    Ok(())
}

fn register(
    state: &ServerState,
    actor: &Actor,
    server: &ServerRegistered,
    accounts: &[AccountSpec],
) -> Result<Vec<ServerEvent>, ServerRefusal> {
    check(
        actor,
        &Grants::none(),
        Allowed::SupportOrSystem,
        &server.customer_id,
        Target::Server(&server.server_id),
    )
    .map_err(ServerRefusal::Forbidden)?;
    super::validation::server(server, accounts).map_err(ServerRefusal::Invalid)?;
    let mut events: Vec<ServerEvent> = Vec::new();
    match &state.details {
        None => events.push(server.clone().into()),
        Some(current) => {
            if state.infrastructure_version != server.infrastructure_version {
                return Err(ServerRefusal::VersionChangedOutsideMigration {
                    current: state.infrastructure_version.clone(),
                    requested: server.infrastructure_version.clone(),
                });
            }
            let wanted = details_of(server);
            if let Some(migration) = state.open_migration {
                fixed_during_migration(current, &wanted, migration)?;
            }
            if *current != wanted {
                events.push(wanted.into());
            }
        }
    }
    let wanted: BTreeMap<&str, &AccountSpec> = accounts
        .iter()
        .map(|a| (a.account_id.as_str(), a))
        .collect();
    let gone: Vec<&String> = state
        .accounts
        .keys()
        .filter(|id| !wanted.contains_key(id.as_str()))
        .collect();
    if let (Some(migration), false) = (state.open_migration, gone.is_empty()) {
        let names: Vec<&str> = gone.iter().map(|s| s.as_str()).collect();
        return Err(ServerRefusal::AccountsInMigration(
            names.join(", "),
            migration,
        ));
    }
    for account in accounts {
        match state.accounts.get(&account.account_id) {
            None => events.push(
                AccountAdded {
                    account: account.clone(),
                }
                .into(),
            ),
            Some(current) if !same_as_imported(state, current, account) => events.push(
                AccountChanged {
                    account: account.clone(),
                }
                .into(),
            ),
            Some(_) => {}
        }
    }
    for id in gone {
        events.push(
            AccountRemoved {
                account_id: id.clone(),
            }
            .into(),
        );
    }
    Ok(events)
}

/// Whether an account as imported equals the account as it is, counting the language
/// versions support removed in step 2 as still there: re-importing the fleet file
/// must not undo step 2.
fn same_as_imported(state: &ServerState, current: &AccountSpec, imported: &AccountSpec) -> bool {
    let mut current = current.clone();
    if let Some(removed) = state.removed_languages.get(&current.account_id) {
        current.languages.extend(removed.iter().cloned());
    }
    let sorted = |mut languages: Vec<LanguageVersion>| {
        languages.sort();
        languages.dedup();
        languages
    };
    let mut imported = imported.clone();
    current.languages = sorted(current.languages);
    imported.languages = sorted(imported.languages);
    current == imported
}

#[cfg(test)]
mod tests;
