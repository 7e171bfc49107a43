//! `ferry log redact-copy`: the host operator copies a log recorded with database
//! passwords to a new stream without them ([`ferry_infra::event_log::redact_copy`]),
//! as the setup NATS user, the passwords going to the secret store. Prints what it
//! did, and what to do next.

use anyhow::Context;
use ferry_infra::config::{LogArgs, SecretsArgs};
use ferry_infra::event_log::EventLog;
use ferry_infra::nats_users::NatsUser;
use serde_json::json;

/// Copies the stream `from` to `to`, passwords moved to the secret store.
pub async fn redact_copy(
    from: &str,
    to: &str,
    secrets: &SecretsArgs,
    log: &LogArgs,
    json: bool,
) -> anyhow::Result<()> {
    // As the setup user: the only one that may make and change streams.
    let identity = log
        .credentials
        .credentials()
        .load(NatsUser::Setup)
        .context("the setup NATS user's credentials")?;
    let mut settings = log.settings();
    settings.stream = from.to_owned();
    let event_log = EventLog::connect(&log.nats_url, &identity, settings)
        .await
        .context("connecting to the event log")?;
    let store = secrets.store();
    let report = event_log
        .redact_copy(to, &store)
        .await
        .with_context(|| format!("copying {from} to {to}"))?;
    if json {
        outln!(
            "{}",
            json!({
                "from": from,
                "to": to,
                "already_copied": report.already_copied,
                "messages_copied": report.messages_copied,
                "events_copied": report.events_copied,
                "events_changed": report.events_changed,
                "secrets_stored": report.secrets_stored,
                "unreadable_copied_as_is": report.unreadable,
                "secrets_dir": store.dir().display().to_string(),
            })
        );
        return Ok(());
    }
    outln!(
        "{from} → {to}: {} messages copied ({} events), {} events changed, {} secrets stored in {}",
        report.messages_copied,
        report.events_copied,
        report.events_changed,
        report.secrets_stored,
        store.dir().display()
    );
    if report.already_copied > 0 {
        outln!(
            "{} messages were copied by an earlier run",
            report.already_copied
        );
    }
    if report.unreadable > 0 {
        outln!(
            "{} messages were no event ferry reads, copied as they were",
            report.unreadable
        );
    }
    outln!(
        "next: start ferry with FERRY_STREAM={to} (and FERRY_SECRETS_DIR={}), then delete {from}",
        store.dir().display()
    );
    Ok(())
}
