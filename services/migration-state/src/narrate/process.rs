//! Lines of the accounts service's events: servers, target infrastructures, required
//! and optional migrations.

use ferry_events::{
    IncompatibilityKind, LanguageVersion, MigrationEvent, MigrationOutcome, OptionalMigrationEvent,
    ServerEvent, TargetInfrastructureEvent,
};
use uuid::Uuid;

use super::{Narration, Narrator, accounts, count, duration};

fn languages(versions: &[LanguageVersion]) -> String {
    versions
        .iter()
        .map(|v| format!("{} {}", v.language, v.version))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn server(event: &ServerEvent) -> Narration {
    use ServerEvent as E;
    Narration::says(match event {
        E::ServerRegistered(e) => format!(
            "server {} ({}, {}, {}) registered for customer {}",
            e.server_id, e.name, e.configuration, e.infrastructure_version, e.customer_id
        ),
        E::ServerDetailsChanged(e) => format!(
            "server details changed: {}, configuration {}, customer {}",
            e.name, e.configuration, e.customer_id
        ),
        E::AccountAdded(e) => format!(
            "account {} ({}) added",
            e.account.account_id, e.account.name
        ),
        E::AccountChanged(e) => format!("account {} description changed", e.account.account_id),
        E::AccountRemoved(e) => format!("account {} removed", e.account_id),
        E::LanguageVersionsRemoved(e) => format!(
            "{} removed from account {}",
            languages(&e.versions),
            e.account_id
        ),
        E::LanguageVersionsRestored(e) => format!(
            "{} given back to account {}",
            languages(&e.versions),
            e.account_id
        ),
        E::InfrastructureVersionChanged(e) => {
            format!("server now runs {} (was {})", e.to, e.from)
        }
        E::RequiredMigrationOpened(e) => format!(
            "required migration {} to {} opened on the server",
            e.migration_id, e.target_version
        ),
        E::ServiceMigrationClaimed(e) => format!(
            "its {} service claimed for optional migration {} ({} to {})",
            service_name(e.schedule.service),
            e.schedule.optional_migration_id,
            e.schedule.from_version,
            e.schedule.to_version
        ),
        E::ServiceMigrationReleased(e) => format!(
            "its {} service released by optional migration {}",
            service_name(e.service),
            e.optional_migration_id
        ),
        E::RequiredMigrationClosed(e) => format!(
            "required migration {} closed: {}",
            e.migration_id,
            match e.outcome {
                MigrationOutcome::Completed => "completed",
                MigrationOutcome::Cancelled => "cancelled",
            }
        ),
    })
}

pub(super) fn target(version: &str, event: &TargetInfrastructureEvent) -> Narration {
    let (verb, languages, databases) = match event {
        TargetInfrastructureEvent::InfrastructureVersionPublished(e) => {
            ("published", e.languages.len(), e.databases.len())
        }
        TargetInfrastructureEvent::InfrastructureVersionSupportChanged(e) => {
            ("support changed", e.languages.len(), e.databases.len())
        }
    };
    Narration::says(format!(
        "infrastructure {version} {verb}: {}, {}",
        count(languages, "language version"),
        count(databases, "database version")
    ))
}

pub(super) fn optional(event: &OptionalMigrationEvent) -> Narration {
    use OptionalMigrationEvent as E;
    match event {
        E::OptionalMigrationScheduled(e) => Narration::says(format!(
            "optional migration of {} from {} to {} scheduled {}",
            service_name(e.service),
            e.from_version,
            e.to_version,
            match e.scheduled_for {
                Some(at) => format!("for {}", at.format("%Y-%m-%d %H:%M UTC")),
                None => "as soon as possible".to_owned(),
            }
        )),
        E::OptionalMigrationStarted(_) => Narration::says("optional migration started".to_owned()),
        E::OptionalMigrationApplied(e) => Narration::with_downtime(
            format!("optional migration applied in {}", duration(e.downtime_ms)),
            Some(e.downtime_ms),
        ),
        E::OptionalMigrationFailed(e) => {
            Narration::says(format!("optional migration failed: {}", e.reason))
        }
        E::OptionalMigrationCancelled(e) => {
            Narration::says(format!("optional migration cancelled: {}", e.reason))
        }
    }
}

fn destination(destination: ferry_events::PreCopyDestination) -> &'static str {
    match destination {
        ferry_events::PreCopyDestination::TransitServer => "transit server",
        ferry_events::PreCopyDestination::ClientServer => "reinstalled client server",
    }
}

impl Narrator {
    pub(super) fn migration(&mut self, id: &str, event: &MigrationEvent) -> Narration {
        use MigrationEvent as E;
        let server = self.server_id.clone();
        let transit = self.transit_name(id);
        let line = match event {
            E::MigrationOpened(e) => format!(
                "migration from {} to {} opened with {} ({})",
                e.from_version,
                e.target_version,
                count(e.accounts.len(), "account"),
                accounts(&e.accounts)
            ),
            E::AccountCompatibilityChecked(e) if e.issues.is_empty() => {
                format!("account {} compatible with the target", e.account_id)
            }
            E::AccountCompatibilityChecked(e) => format!(
                "account {}: {} ({})",
                e.account_id,
                count(e.issues.len(), "compatibility issue"),
                e.issues
                    .iter()
                    .map(|i| match i.kind {
                        IncompatibilityKind::DatabaseVersionUpgraded => {
                            format!("{} upgraded", i.subject)
                        }
                        _ => i.subject.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            E::TestMigrationRequested(e) => {
                format!("test migration of account {} requested", e.account_id)
            }
            E::TestMigrationAvailable(e) => format!(
                "test migration of account {} available at {}",
                e.account_id, e.test_address
            ),
            E::TestMigrationFailed(e) => format!(
                "test migration of account {} failed: {}",
                e.account_id, e.reason
            ),
            E::TestMigrationDiscarded(e) => {
                format!("test migration of account {} discarded", e.account_id)
            }
            E::AccountMarkedReady(e) => format!("account {} marked ready", e.account_id),
            E::AccountReadinessWithdrawn(e) => format!("account {} no longer ready", e.account_id),
            E::TransitServerRequested(e) => {
                format!(
                    "transit server requested (configuration {})",
                    e.configuration
                )
            }
            E::ObsoleteLanguagesRemoved(e) => format!(
                "obsolete language versions removed: {}",
                e.removals
                    .iter()
                    .map(|r| format!("{} from {}", languages(&r.versions), r.account_id))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            E::ObsoleteLanguagesRestored(_) => {
                "obsolete language versions given back: back to step 1".to_owned()
            }
            E::TransitServerQueued(e) => format!(
                "waiting for a {} transit server, position {}",
                e.configuration, e.position
            ),
            E::TransitServerAssigned(e) => {
                if let Ok(migration) = Uuid::parse_str(id) {
                    self.transit_of
                        .insert(migration, e.transit_server_id.clone());
                }
                format!(
                    "transit server {} assigned: installation begins",
                    e.transit_server_id
                )
            }
            E::TransitServerReady(e) => format!(
                "transit server {} ready: accounts can move",
                e.transit_server_id
            ),
            E::PreCopyFailed(e) => format!(
                "pre-copy to the {} failed (attempt {}): {}; {}",
                destination(e.destination),
                e.attempt,
                e.reason,
                match e.retry_at {
                    Some(at) => format!(
                        "ferry tries again at {}",
                        at.format("%Y-%m-%d %H:%M:%S UTC")
                    ),
                    None => "support must retry it".to_owned(),
                }
            ),
            E::PreCopyRetried(e) => format!(
                "pre-copy to the {} tried again (attempt {})",
                destination(e.destination),
                e.attempt
            ),
            E::AccountTransferAborted(e) => format!(
                "transfer of account {} called off: {}",
                e.account_id, e.reason
            ),
            // Its estimate is the rule of thumb: the data mover's fitted one follows
            // (`DowntimeEstimated`), and is the one told.
            E::AccountMoveStarted(e) => format!("account {} moving to {transit}", e.account_id),
            E::AccountMoved(e) => {
                return Narration::with_downtime(
                    format!(
                        "account {} moved to {transit} in {}",
                        e.account_id,
                        duration(e.downtime_ms)
                    ),
                    Some(e.downtime_ms),
                );
            }
            E::AccountMoveFailed(e) => {
                format!("move of account {} failed: {}", e.account_id, e.reason)
            }
            E::AccountVerified(e) => format!("account {} verified on {transit}", e.account_id),
            E::AccountRollbackStarted(e) => {
                format!("account {} rolling back to {server}", e.account_id)
            }
            E::AccountRolledBack(e) => {
                return Narration::with_downtime(
                    format!(
                        "account {} rolled back to {server} in {}",
                        e.account_id,
                        duration(e.downtime_ms)
                    ),
                    Some(e.downtime_ms),
                );
            }
            E::AccountRollbackFailed(e) => {
                format!("rollback of account {} failed: {}", e.account_id, e.reason)
            }
            E::ReinstallRequested(_) => format!("reinstallation of {server} requested"),
            E::ReinstallStarted(e) => format!(
                "reinstallation of {server} started; its IPs rerouted to {}",
                e.ips_rerouted_to
            ),
            E::ServerReinstalled(e) => {
                format!("{server} reinstalled on {}", e.infrastructure_version)
            }
            E::AccountRelocationStarted(e) => {
                format!("account {} relocating to {server}", e.account_id)
            }
            E::AccountRelocated(e) => {
                return Narration::with_downtime(
                    format!(
                        "account {} relocated to {server} in {}",
                        e.account_id,
                        duration(e.downtime_ms)
                    ),
                    Some(e.downtime_ms),
                );
            }
            E::AccountRelocationFailed(e) => {
                format!(
                    "relocation of account {} failed: {}",
                    e.account_id, e.reason
                )
            }
            E::MigrationCompleted(e) => {
                return Narration::with_downtime(
                    format!(
                        "migration completed; total downtime {}",
                        duration(e.total_downtime_ms)
                    ),
                    Some(e.total_downtime_ms),
                );
            }
            E::MigrationCancelled(e) => format!("migration cancelled: {}", e.reason),
        };
        Narration::says(line)
    }
}

/// A service as the API names it (`postgresql`, `mysql`, …).
fn service_name(service: ferry_events::ServiceKind) -> String {
    serde_json::to_value(service)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{service:?}"))
}
