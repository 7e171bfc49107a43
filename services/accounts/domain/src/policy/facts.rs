//! The accounts service's view: the facts its policy reads, folded from events.

use chrono::{DateTime, Utc};
use ferry_core::policy::View;
use ferry_events::{
    AccountTrafficEvent, AggregateType, Envelope, Event, MigrationEvent, OptionalMigrationEvent,
    ServerStorage, ServiceKind, TransferEvent, TransferKind, TransitQueueEvent,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub(super) fn migration_key(id: &str) -> String {
    format!("migration/{id}")
}
pub(super) fn queue_key(configuration: &str) -> String {
    format!("queue/{configuration}")
}
pub(super) fn transfer_key(id: &str) -> String {
    format!("transfer/{id}")
}
pub(super) fn account_key(id: &str) -> String {
    format!("account/{id}")
}
pub(super) fn traffic_key(id: &str) -> String {
    format!("traffic/{id}")
}
pub(super) fn optional_key(id: Uuid) -> String {
    format!("optional/{id}")
}

/// One entry of the accounts view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fact")]
pub enum AccountsFact {
    /// The server a migration moves.
    Migration {
        /// The client server.
        server_id: String,
        /// A failed pre-copy ferry retries when due: these entries are timers.
        #[serde(default)]
        pre_copy_retry: Option<PreCopyRetry>,
    },
    /// The migrations waiting in a configuration's queue, first come first.
    Queue {
        /// Waiting migrations, in order.
        waiting: Vec<Uuid>,
    },
    /// A transfer of the data mover (boxed: the largest fact by far).
    Transfer(Box<TransferFacts>),
    /// The account's latest cutover, rollback or relocation.
    AccountTransfer {
        /// The transfer.
        transfer_id: Uuid,
    },
    /// Where the network last switched an account's traffic.
    Traffic {
        /// The server serving it.
        to_server_id: String,
    },
    /// An optional migration.
    Optional {
        /// The server whose service it migrates.
        #[serde(default)]
        server_id: String,
        /// The service it migrates; absent in an entry folded before it was kept.
        #[serde(default)]
        service: Option<ServiceKind>,
        /// The version it moves the service to.
        to_version: String,
        /// When it is due, while it waits for its scheduled time.
        due: Option<DateTime<Utc>>,
    },
}

/// What the accounts service knows of a transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferFacts {
    /// The transfer.
    pub transfer_id: Uuid,
    /// What it is for.
    pub kind: TransferKind,
    /// The migration (or optional migration) it serves.
    pub migration_id: Option<Uuid>,
    /// The client server.
    pub server_id: String,
    /// The accounts it moves.
    pub accounts: Vec<String>,
    /// Where to.
    pub destination: String,
    /// Storage of its source.
    pub source_storage: ServerStorage,
    /// Storage of its destination.
    pub destination_storage: ServerStorage,
    /// How it ended, once it has.
    pub outcome: Option<TransferOutcome>,
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum TransferOutcome {
    /// Copied and verified.
    Completed {
        /// How long its accounts were frozen.
        downtime_ms: Option<u64>,
        /// Where a test copy is reachable.
        test_address: Option<String>,
    },
    /// Stopped on an error.
    Failed {
        /// Why.
        reason: String,
        /// Whether trying again may succeed.
        #[serde(default)]
        retryable: bool,
    },
}

/// A failed pre-copy's automatic retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreCopyRetry {
    /// The failed pre-copy.
    pub failed: Uuid,
    /// When to try again.
    pub due: DateTime<Utc>,
}

/// The accounts service's view.
#[derive(Debug)]
pub struct AccountsView;

impl View for AccountsView {
    const NAME: &'static str = "accounts_view";
    const AGGREGATES: &'static [AggregateType] = &[
        AggregateType::Migration,
        AggregateType::TransitQueue,
        AggregateType::TransitServer,
        AggregateType::Transfer,
        AggregateType::AccountTraffic,
        AggregateType::OptionalMigration,
        AggregateType::Server,
    ];
    type Entry = AccountsFact;

    fn keys(event: &Envelope) -> Vec<String> {
        let id = &event.aggregate_id;
        match &event.event {
            Event::Migration(
                MigrationEvent::MigrationOpened(_)
                | MigrationEvent::PreCopyFailed(_)
                | MigrationEvent::PreCopyRetried(_)
                | MigrationEvent::TransitServerReady(_)
                | MigrationEvent::ServerReinstalled(_)
                | MigrationEvent::ObsoleteLanguagesRestored(_)
                | MigrationEvent::MigrationCancelled(_)
                | MigrationEvent::MigrationCompleted(_),
            ) => vec![migration_key(id)],
            Event::TransitQueue(
                TransitQueueEvent::TransitRequestQueued(_)
                | TransitQueueEvent::TransitRequestServed(_)
                | TransitQueueEvent::TransitRequestWithdrawn(_),
            ) => vec![queue_key(id)],
            Event::Transfer(TransferEvent::TransferScheduled(s)) => {
                let mut keys = vec![transfer_key(id)];
                if is_account_move(s.kind) {
                    keys.extend(s.accounts.iter().map(|a| account_key(&a.account_id)));
                }
                keys
            }
            Event::Transfer(
                TransferEvent::TransferCompleted(_) | TransferEvent::TransferFailed(_),
            ) => {
                vec![transfer_key(id)]
            }
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(_)) => {
                vec![traffic_key(id)]
            }
            Event::OptionalMigration(_) => match id.parse::<Uuid>() {
                Ok(id) => vec![optional_key(id)],
                Err(_) => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    fn evolve(key: &str, entry: Option<AccountsFact>, event: &Envelope) -> Option<AccountsFact> {
        match &event.event {
            Event::Migration(MigrationEvent::MigrationOpened(e)) => Some(AccountsFact::Migration {
                server_id: e.server_id.clone(),
                pre_copy_retry: None,
            }),
            Event::Migration(e) => match entry {
                Some(AccountsFact::Migration { server_id, .. }) => {
                    let pre_copy_retry = match e {
                        MigrationEvent::PreCopyFailed(failed) => {
                            failed.retry_at.map(|due| PreCopyRetry {
                                failed: failed.transfer_id,
                                due,
                            })
                        }
                        // Retried, ready, or the migration moved on: nothing is due.
                        _ => None,
                    };
                    Some(AccountsFact::Migration {
                        server_id,
                        pre_copy_retry,
                    })
                }
                other => other,
            },
            Event::TransitQueue(e) => {
                let mut waiting = match entry {
                    Some(AccountsFact::Queue { waiting }) => waiting,
                    _ => Vec::new(),
                };
                match e {
                    TransitQueueEvent::TransitRequestQueued(q) => waiting.push(q.migration_id),
                    TransitQueueEvent::TransitRequestServed(s) => {
                        waiting.retain(|m| *m != s.migration_id)
                    }
                    TransitQueueEvent::TransitRequestWithdrawn(w) => {
                        waiting.retain(|m| *m != w.migration_id)
                    }
                    _ => {}
                }
                Some(AccountsFact::Queue { waiting })
            }
            Event::Transfer(TransferEvent::TransferScheduled(s)) => {
                if key.starts_with("account/") {
                    return Some(AccountsFact::AccountTransfer {
                        transfer_id: s.transfer_id,
                    });
                }
                Some(AccountsFact::Transfer(Box::new(TransferFacts {
                    transfer_id: s.transfer_id,
                    kind: s.kind,
                    migration_id: s.migration_id,
                    server_id: s.server_id.clone(),
                    accounts: s.accounts.iter().map(|a| a.account_id.clone()).collect(),
                    destination: s.destination.server_id.clone(),
                    source_storage: s.source.storage.clone(),
                    destination_storage: s.destination.storage.clone(),
                    outcome: None,
                })))
            }
            Event::Transfer(TransferEvent::TransferCompleted(done)) => match entry {
                Some(AccountsFact::Transfer(mut t)) => {
                    t.outcome = Some(TransferOutcome::Completed {
                        downtime_ms: done.downtime_ms,
                        test_address: done.test_address.clone(),
                    });
                    Some(AccountsFact::Transfer(t))
                }
                other => other,
            },
            Event::Transfer(TransferEvent::TransferFailed(failed)) => match entry {
                Some(AccountsFact::Transfer(mut t)) => {
                    t.outcome = Some(TransferOutcome::Failed {
                        reason: failed.reason.clone(),
                        retryable: failed.retryable,
                    });
                    Some(AccountsFact::Transfer(t))
                }
                other => other,
            },
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(s)) => {
                Some(AccountsFact::Traffic {
                    to_server_id: s.to_server_id.clone(),
                })
            }
            Event::OptionalMigration(OptionalMigrationEvent::OptionalMigrationScheduled(s)) => {
                Some(AccountsFact::Optional {
                    server_id: s.server_id.clone(),
                    service: Some(s.service),
                    to_version: s.to_version.clone(),
                    due: s.scheduled_for,
                })
            }
            // Under way, done, failed (a person retries) or called off: no longer due.
            Event::OptionalMigration(_) => match entry {
                Some(AccountsFact::Optional {
                    server_id,
                    service,
                    to_version,
                    ..
                }) => Some(AccountsFact::Optional {
                    server_id,
                    service,
                    to_version,
                    due: None,
                }),
                other => other,
            },
            _ => entry,
        }
    }

    fn due(entry: &AccountsFact) -> Option<DateTime<Utc>> {
        match entry {
            AccountsFact::Optional { due, .. } => *due,
            AccountsFact::Migration {
                pre_copy_retry: Some(retry),
                ..
            } => Some(retry.due),
            _ => None,
        }
    }
}

/// A transfer moving an account's traffic-bearing copy (not a pre-copy or a test).
fn is_account_move(kind: TransferKind) -> bool {
    matches!(
        kind,
        TransferKind::Cutover | TransferKind::Rollback | TransferKind::Relocation
    )
}
