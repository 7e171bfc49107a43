//! Downtime estimates of a server's accounts, before they move (the I/O around the
//! pure [`crate::downtime_model`]): each database's method as the data mover would
//! pick it now (its eligibility for replication asked of the server), and the
//! downtime from the rates fitted to every cutover measured so far, read from the log.
//!
//! Emits and consumes no event; reads the servers' storage, accounts and owner from
//! the data mover's view (`data_mover_view`, kept by its policy) and the cutovers
//! measured from `transfer` events (`TransferScheduled`, `TransferCompleted`).

use crate::databases::{CopySpec, mysql_binlog, pg_logical};
use crate::domain::policy::{MoverFact, MoverView, server_key};
use crate::downtime_model::{Rates, Sample};
use crate::engine::databases::located;
use crate::settings::MoverSettings;
use ferry_events::{
    AccountSpec, AggregateType, DatabaseEngine, DatabaseMethod, DatabaseSpec, Event, ServerStorage,
    TransferCompleted, TransferEvent, TransferKind, TransferScheduled,
};
use ferry_infra::event_log::{EventLog, ReadError};
use ferry_infra::policy::view::ViewReader;
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use utoipa::ToSchema;

/// One database of an account, and how it would be moved now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DatabaseEstimate {
    /// Its name.
    pub name: String,
    /// Its engine.
    #[schema(value_type = String, example = "postgres")]
    pub engine: DatabaseEngine,
    /// Its size in bytes, as the inventory says.
    pub size_bytes: u64,
    /// The method the data mover would use.
    #[schema(value_type = String, example = "logical_replication")]
    pub method: DatabaseMethod,
    /// Why not a low-downtime method, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_dump: Option<String>,
}

/// One account's estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AccountEstimate {
    /// The account.
    pub account_id: String,
    /// Its name.
    pub name: String,
    /// Its files and mails, in bytes.
    pub tree_bytes: u64,
    /// Its databases.
    pub databases: Vec<DatabaseEstimate>,
    /// The expected downtime of its move, in milliseconds.
    pub estimated_downtime_ms: u64,
}

/// The fitted rates, for the curious (milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RatesBody {
    /// Per cutover.
    pub fixed_ms: f64,
    /// Per GB of files and mails.
    pub tree_ms_per_gb: f64,
    /// Per GB of databases dumped and restored while frozen.
    pub dumped_ms_per_gb: f64,
    /// Per GB of databases replicated.
    pub replicated_ms_per_gb: f64,
}

/// A server's estimates.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ServerEstimates {
    /// The server.
    pub server_id: String,
    /// Cutovers measured so far, across the fleet, that the rates are fitted to.
    pub measured_cutovers: usize,
    /// The rates.
    pub rates: RatesBody,
    /// Its accounts.
    pub accounts: Vec<AccountEstimate>,
}

/// A server's storage, accounts and owner, as the data mover's view holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerData {
    /// Where its accounts' data lives.
    pub storage: Option<ServerStorage>,
    /// Its accounts by id.
    pub accounts: BTreeMap<String, ferry_events::AccountSpec>,
    /// The customer owning it; `None` for a server ferry does not know.
    pub customer_id: Option<String>,
}

/// Computes estimates from the log.
#[derive(Debug, Clone)]
pub struct Estimates {
    log: EventLog,
    view: ViewReader<MoverView>,
    settings: Arc<MoverSettings>,
}

impl Estimates {
    /// Estimates over `log` and the data mover's `view`, picking methods as
    /// `settings` say.
    pub fn new(log: EventLog, view: ViewReader<MoverView>, settings: Arc<MoverSettings>) -> Self {
        Self {
            log,
            view,
            settings,
        }
    }

    /// A server's data, as the view holds it now (for access checks and sizes).
    pub async fn server(&self, server_id: &str) -> Result<ServerData, ReadError> {
        let key = server_key(server_id);
        let entries = self
            .view
            .entries(std::slice::from_ref(&key))
            .await
            .map_err(|e| ReadError::Unavailable(e.to_string()))?;
        Ok(match entries.get(&key) {
            Some(MoverFact::Server {
                customer_id,
                storage,
                accounts,
            }) => ServerData {
                storage: storage.clone(),
                accounts: accounts.clone(),
                customer_id: customer_id.clone(),
            },
            _ => ServerData::default(),
        })
    }

    /// Every measured cutover of the fleet.
    pub async fn samples(&self) -> Result<Vec<Sample>, ReadError> {
        let replay = self
            .log
            .replay_filtered(1, vec![self.log.type_filter(AggregateType::Transfer)])
            .await?;
        tokio::pin!(replay);
        let mut scheduled: HashMap<String, TransferScheduled> = HashMap::new();
        let mut samples = Vec::new();
        while let Some(recorded) = replay.next().await {
            let recorded = recorded?;
            let id = recorded.envelope.aggregate_id.clone();
            match recorded.envelope.event {
                Event::Transfer(TransferEvent::TransferScheduled(s)) => {
                    scheduled.insert(id, s);
                }
                Event::Transfer(TransferEvent::TransferCompleted(done)) => {
                    if let Some(s) = scheduled.remove(&id)
                        && let Some(sample) = sample_of(&s, &done)
                    {
                        samples.push(sample);
                    }
                }
                _ => {}
            }
        }
        Ok(samples)
    }

    /// The estimates of a server's accounts; `data` as [`Estimates::server`] read it.
    pub async fn of(
        &self,
        server_id: &str,
        data: ServerData,
    ) -> Result<ServerEstimates, ReadError> {
        let samples = self.samples().await?;
        let rates = Rates::fit(&samples);
        let mut accounts = Vec::with_capacity(data.accounts.len());
        for account in data.accounts.into_values() {
            accounts.push(self.account(&rates, data.storage.as_ref(), &account).await);
        }
        Ok(ServerEstimates {
            server_id: server_id.to_owned(),
            measured_cutovers: samples.len(),
            rates: RatesBody {
                fixed_ms: rates.fixed_ms,
                tree_ms_per_gb: rates.tree_ms_per_gb,
                dumped_ms_per_gb: rates.dumped_ms_per_gb,
                replicated_ms_per_gb: rates.replicated_ms_per_gb,
            },
            accounts,
        })
    }

    /// The estimate of one account whose databases are on `storage`, fitted now on
    /// every measured cutover, and how many there were: what a cutover announces
    /// as it starts (`DowntimeEstimated`).
    pub async fn of_account(
        &self,
        account: &AccountSpec,
        storage: &ServerStorage,
    ) -> Result<(AccountEstimate, usize), ReadError> {
        let samples = self.samples().await?;
        let rates = Rates::fit(&samples);
        Ok((
            self.account(&rates, Some(storage), account).await,
            samples.len(),
        ))
    }

    async fn account(
        &self,
        rates: &Rates,
        storage: Option<&ServerStorage>,
        account: &AccountSpec,
    ) -> AccountEstimate {
        let mut databases = Vec::with_capacity(account.databases.len());
        for database in &account.databases {
            let (method, why_dump) = self.method_for(storage, database).await;
            databases.push(DatabaseEstimate {
                name: database.name.clone(),
                engine: database.engine,
                size_bytes: database.size_bytes,
                method,
                why_dump,
            });
        }
        let estimated_downtime_ms = rates.estimate(account, |d| {
            databases
                .iter()
                .find(|e| e.name == d.name)
                .map_or(DatabaseMethod::DumpRestore, |e| e.method)
        });
        AccountEstimate {
            account_id: account.account_id.clone(),
            name: account.name.clone(),
            tree_bytes: account.files_bytes.saturating_add(account.mail_bytes),
            databases,
            estimated_downtime_ms,
        }
    }

    /// The method the data mover would pick for `database` now, and why a dump.
    async fn method_for(
        &self,
        storage: Option<&ServerStorage>,
        database: &DatabaseSpec,
    ) -> (DatabaseMethod, Option<String>) {
        let dump = |why: String| (DatabaseMethod::DumpRestore, Some(why));
        if !self.settings.low_downtime {
            return dump("low-downtime methods are off (FERRY_LOW_DOWNTIME)".into());
        }
        let url = match storage
            .map(|s| crate::credentials::connect_url(&self.settings, s, database.engine))
        {
            Some(Ok(Some(url))) => url,
            Some(Err(why)) => return dump(format!("its server could not be asked: {why}")),
            Some(Ok(None)) | None => {
                return dump("the server has no such database server".into());
            }
        };
        let (url, prefix) = located(&url);
        let name = format!("{prefix}{}", database.name);
        // The destination is not known yet: a server like the source is assumed.
        let spec =
            CopySpec::new(url.clone(), url, name.clone()).renamed(format!("{name}_estimate"));
        let eligibility = match database.engine {
            DatabaseEngine::Postgres => pg_logical::eligibility(&spec).await.map(|e| match e {
                pg_logical::Eligibility::Eligible => None,
                pg_logical::Eligibility::NotEligible(why) => Some(why),
            }),
            DatabaseEngine::Mysql => mysql_binlog::eligibility(&spec).await.map(|e| match e {
                mysql_binlog::Eligibility::Eligible => None,
                mysql_binlog::Eligibility::NotEligible(why) => Some(why),
            }),
        };
        match eligibility {
            Ok(None) => match database.engine {
                DatabaseEngine::Postgres => (DatabaseMethod::LogicalReplication, None),
                DatabaseEngine::Mysql => (DatabaseMethod::BinlogReplication, None),
            },
            Ok(Some(why)) => dump(why),
            Err(e) => dump(format!("its server could not be asked: {e}")),
        }
    }
}

/// A completed cutover as a sample: its account's sizes by method, its downtime.
fn sample_of(scheduled: &TransferScheduled, done: &TransferCompleted) -> Option<Sample> {
    if !matches!(
        scheduled.kind,
        TransferKind::Cutover | TransferKind::Rollback | TransferKind::Relocation
    ) {
        return None;
    }
    let account = scheduled.accounts.first()?;
    let (mut dumped, mut replicated) = (0_u64, 0_u64);
    for database in &account.databases {
        let method = done
            .database_methods
            .iter()
            .find(|m| m.engine == database.engine && m.database.ends_with(&database.name))
            .map_or(DatabaseMethod::DumpRestore, |m| m.method);
        match method {
            DatabaseMethod::DumpRestore => dumped = dumped.saturating_add(database.size_bytes),
            _ => replicated = replicated.saturating_add(database.size_bytes),
        }
    }
    Some(Sample {
        tree_bytes: account.files_bytes.saturating_add(account.mail_bytes),
        dumped_bytes: dumped,
        replicated_bytes: replicated,
        downtime_ms: done.downtime_ms?,
    })
}
