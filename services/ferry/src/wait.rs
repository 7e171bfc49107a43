//! `--wait` on an account's move, rollback or relocation: after the command, the CLI
//! follows the migration on the read side, printing the transfer's progress (phase,
//! bytes) on stderr, until the account's transfer ended. It then prints the measured
//! downtime against the estimate and exits 0, or fails with the reason (exit 1): a
//! script learns the outcome from the exit code.
//!
//! The transfer is the account's current one once the command is seen; its end is
//! its own (completed, failed, called off), or what it adds to the account: a new
//! measured downtime or a new failure, compared with a snapshot taken before the
//! command was sent. A completed transfer ends the wait even while the account waits
//! for its traffic switch (the network's), which is said. Interrupting the wait
//! (Ctrl-C) leaves the transfer running.

use crate::client::Api;
use anyhow::bail;
use ferry_migration_state::narrate::duration;
use ferry_migration_state::response::MigrationDetail;
use ferry_migration_state::view::TransferStatus;
use std::time::Duration;
use uuid::Uuid;

/// How often the read side is asked.
const POLL: Duration = Duration::from_millis(500);

/// What the account had before the command: its downtimes and its last failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Before {
    downtimes: usize,
    failure: Option<(Uuid, chrono::DateTime<chrono::Utc>)>,
}

async fn detail(api: &Api, migration_id: Uuid) -> anyhow::Result<MigrationDetail> {
    api.fetch(&format!("/migrations/{migration_id}"))
        .await?
        .read()
}

/// The account as it is now, before the command.
pub async fn before(api: &Api, migration_id: Uuid, account: &str) -> anyhow::Result<Before> {
    let detail = detail(api, migration_id).await?;
    Ok(snapshot(&detail, account))
}

fn snapshot(detail: &MigrationDetail, account: &str) -> Before {
    let downtimes = detail
        .view
        .accounts
        .iter()
        .find(|a| a.account_id == account)
        .map_or(0, |a| a.downtimes.len());
    let failure = detail
        .accounts
        .iter()
        .find(|a| a.account_id == account)
        .and_then(|a| a.last_failure.as_ref())
        .map(|f| (f.transfer_id, f.at));
    Before { downtimes, failure }
}

/// How a followed transfer ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done: the measured downtime, in milliseconds, and whether the account is
    /// recorded where it went (else it waits for its traffic switch).
    Done(u64, bool),
    /// Failed or called off, with the reason.
    Failed(String),
}

/// The transfer the account is in, if one runs.
fn current(detail: &MigrationDetail, account: &str) -> Option<Uuid> {
    detail
        .accounts
        .iter()
        .find(|a| a.account_id == account)?
        .current_transfer
        .as_ref()
        .map(|t| t.transfer_id)
}

/// How `transfer` ended, as the read side knows it, if it did.
fn transfer_ended(detail: &MigrationDetail, transfer: Uuid) -> Option<Outcome> {
    let view = detail
        .view
        .transfers
        .iter()
        .find(|t| t.transfer_id == transfer)?;
    match view.status {
        TransferStatus::Completed => Some(Outcome::Done(view.downtime_ms.unwrap_or(0), false)),
        TransferStatus::Failed | TransferStatus::Cancelled => Some(Outcome::Failed(
            view.failure
                .clone()
                .unwrap_or_else(|| "no reason given".into()),
        )),
        _ => None,
    }
}

/// What changed since `before`, if the account's transfer ended.
fn ended(detail: &MigrationDetail, account: &str, before: &Before) -> Option<Outcome> {
    let now = snapshot(detail, account);
    if now.failure != before.failure {
        let reason = detail
            .accounts
            .iter()
            .find(|a| a.account_id == account)
            .and_then(|a| a.last_failure.as_ref())
            .map_or_else(|| "no reason given".to_owned(), |f| f.reason.clone());
        return Some(Outcome::Failed(reason));
    }
    if now.downtimes > before.downtimes {
        let downtime = detail
            .view
            .accounts
            .iter()
            .find(|a| a.account_id == account)
            .and_then(|a| a.downtimes.last())
            .map_or(0, |d| d.downtime_ms);
        return Some(Outcome::Done(downtime, true));
    }
    None
}

/// One line of progress, if a transfer of the account runs: what was measured.
fn progress(detail: &MigrationDetail, account: &str) -> Option<String> {
    let line = detail.accounts.iter().find(|a| a.account_id == account)?;
    let transfer = line.current_transfer.as_ref()?;
    let frozen = if transfer.frozen_at.is_some() && transfer.unfrozen_at.is_none() {
        ", frozen"
    } else {
        ""
    };
    Some(format!(
        "{account}: {}{frozen}",
        crate::render::transfer_line(transfer)
    ))
}

/// Follows the account's transfer until it ended (see the module).
pub async fn until_ended(
    api: &Api,
    migration_id: Uuid,
    account: &str,
    before: &Before,
) -> anyhow::Result<Outcome> {
    let mut last = String::new();
    let mut transfer = None;
    loop {
        let detail = detail(api, migration_id).await?;
        if let Some(outcome) = ended(&detail, account, before) {
            return Ok(outcome);
        }
        transfer = current(&detail, account).or(transfer);
        if let Some(outcome) = transfer.and_then(|t| transfer_ended(&detail, t)) {
            return Ok(outcome);
        }
        if let Some(line) = progress(&detail, account)
            && line != last
        {
            eprintln!("  {line}");
            last = line;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Prints the outcome; a failure is the command's error.
pub fn report(account: &str, what: &str, outcome: &Outcome) -> anyhow::Result<()> {
    match outcome {
        Outcome::Done(downtime_ms, true) => {
            outln!("{account} {what}: downtime {}", duration(*downtime_ms));
            Ok(())
        }
        Outcome::Done(downtime_ms, false) => {
            outln!(
                "{account} copied and verified at its destination, serving there: downtime {}; \
                 it shows as {what} once its traffic is switched there",
                duration(*downtime_ms)
            );
            Ok(())
        }
        Outcome::Failed(reason) => bail!("the {what} of {account} did not complete: {reason}"),
    }
}
