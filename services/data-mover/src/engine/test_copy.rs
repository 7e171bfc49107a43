//! Test copies (step 1): an account's databases copied to the test servers under
//! names of their own, while the account keeps serving from its untouched original.
//! The copy is a consistent snapshot (pg_dump's, mariadb-dump's single transaction),
//! verified table by table; its address is returned in `TransferCompleted`. A new
//! request refreshes the same copy (the older one is replaced); a discard drops it.

use super::databases::{self, Purpose, db_failure};
use super::{EngineError, Mover, Step, StepFailure, millis};
use crate::databases::{mysql, postgres};
use crate::domain::transfer::TransferCommand;
use crate::settings::MoverSettings;
use ferry_events::{
    DatabaseEngine, ServerStorage, TransferPhase, TransferScheduled, TransferVerified,
    transfer::Endpoint,
};
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

/// The test servers, as a transfer's destination.
pub fn test_endpoint(settings: &MoverSettings) -> Endpoint {
    Endpoint {
        server_id: "test-servers".into(),
        storage: ServerStorage {
            files_root: String::new(),
            mail_root: String::new(),
            postgres_url: settings.test_postgres_url.clone(),
            mysql_url: settings.test_mysql_url.clone(),
            postgres_credential: settings.test_postgres_credential.clone(),
            mysql_credential: settings.test_mysql_credential.clone(),
        },
    }
}

/// The host part of a connection URL (`scheme://user:pw@host:port/db` → `host:port`),
/// never its credentials.
fn host_of(url: &str) -> String {
    let Ok(url) = Url::parse(url) else {
        return "an unreadable address".to_owned();
    };
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Runs a started test copy to its completion.
pub(crate) async fn run(
    mover: &Mover,
    scheduled: &TransferScheduled,
    stop: &CancellationToken,
) -> Step<()> {
    let started = Instant::now();
    let planned = match databases::plan(mover.settings(), scheduled, Purpose::Test) {
        Ok(planned) => planned,
        Err(failure) => return Ok(Err(failure)),
    };
    let (mut checks, mut methods, mut bytes, mut names) = (vec![], vec![], 0u64, vec![]);
    for p in &planned {
        let copied = match p.engine {
            DatabaseEngine::Postgres => postgres::copy(&p.spec, stop).await,
            DatabaseEngine::Mysql => mysql::copy(&p.spec, stop).await,
        };
        match copied {
            Ok(report) => {
                names.push(format!(
                    "{} {} on {}",
                    if p.engine == DatabaseEngine::Postgres {
                        "PostgreSQL"
                    } else {
                        "MySQL"
                    },
                    report.database,
                    host_of(&p.spec.destination_url)
                ));
                methods.push(report.method_used());
                checks.push(report.check);
                bytes = bytes.saturating_add(report.dump_bytes);
            }
            Err(e) => return Ok(Err(db_failure(TransferPhase::Databases, &e))),
        }
    }
    let address = match (&mover.settings().test_address, names.is_empty()) {
        (_, true) => "no database to copy: the account's sites need no test server".to_owned(),
        (Some(address), false) => format!("{address} ({})", names.join(", ")),
        (None, false) => names.join(", "),
    };
    let verified = TransferVerified {
        files_checked: 0,
        databases: checks,
    };
    let complete = TransferCommand::Complete {
        // It reports no progress: its bytes are all its run's.
        run_id: None,
        bytes_copied: bytes,
        duration_ms: millis(started),
        database_methods: methods,
        test_address: Some(address),
    };
    mover
        .verified_and_completed(scheduled, verified, complete)
        .await?;
    Ok(Ok(()))
}

/// Drops a test copy's databases from the test servers (and any copy it replaced).
pub async fn discard(mover: &Mover, scheduled: &TransferScheduled) -> Result<(), EngineError> {
    let failed = |reason: String| EngineError {
        transfer_id: scheduled.transfer_id,
        reason,
    };
    let planned = match databases::plan(mover.settings(), scheduled, Purpose::Test) {
        Ok(planned) => planned,
        Err(StepFailure { reason, .. }) => {
            // The copy could not have been made either: nothing to drop.
            tracing::info!(transfer_id = %scheduled.transfer_id, %reason, "no test copy to discard");
            return Ok(());
        }
    };
    for p in planned {
        databases::drop_copy(p.engine, &p.spec.destination_url, &p.spec.destination_name)
            .await
            .map_err(|e| {
                failed(format!(
                    "cannot drop test copy {}: {e}",
                    p.spec.destination_name
                ))
            })?;
    }
    tracing::info!(transfer_id = %scheduled.transfer_id, "test copy discarded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_shown_without_credentials() {
        assert_eq!(
            host_of("postgres://u:secret@test-pg.example:5432/postgres"),
            "test-pg.example:5432"
        );
        assert_eq!(host_of("mysql://root@127.0.0.1:3306"), "127.0.0.1:3306");
        assert_eq!(host_of("mysql://h?prefix=t_"), "h");
        assert_eq!(host_of("host=db password=secret"), "an unreadable address");
    }
}
