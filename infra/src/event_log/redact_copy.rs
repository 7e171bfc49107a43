//! The redacting copy of a log recorded before credential references: every message
//! of the old stream, in order, appended to a new stream with the same subject,
//! headers (message id, event count, trace context) and stream sequence, each
//! password of a storage moved to the secret store and the event upcast to the
//! version that names its reference instead ([`ferry_events::credential`]). Messages
//! holding no password are copied byte for byte.
//!
//! Two streams may not share subjects: the old stream is first bound to
//! `<prefix>.retired.<old stream>` (nothing writes there; its messages stay, under
//! their subjects), then the new one is made with ferry's configuration. Run again,
//! the copy resumes after the last message the new stream holds (checked to be the
//! same message of the old one), so it is idempotent. The setup user's work: ferry
//! must be stopped while it runs.

use std::collections::BTreeSet;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{DeliverPolicy, push::OrderedConfig};
use bytes::Bytes;
use ferry_events::credential::{STORAGE_EVENTS, strip_storage_passwords};
use futures::StreamExt;
use serde_json::Value;

use super::EventLog;
use crate::secrets::{SecretError, SecretStore};

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Messages the new stream held already from an earlier run.
    pub already_copied: u64,
    /// Messages appended by this run.
    pub messages_copied: u64,
    /// Events in those messages.
    pub events_copied: u64,
    /// Events whose passwords were taken out (upcast to the version with references).
    pub events_changed: u64,
    /// Distinct credential references written to the secret store.
    pub secrets_stored: u64,
    /// Messages that are no event ferry can read, copied as they were.
    pub unreadable: u64,
}

/// Why a copy stopped. What was copied stays copied; running it again resumes.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// NATS did not do what was asked.
    #[error("{action}: {reason}")]
    Nats {
        /// What was being done.
        action: String,
        /// The server's or client's words.
        reason: String,
    },
    /// The new stream holds something else than a copy of the old one.
    #[error("the stream {to} is not a copy of {from}: {why}; choose another --to")]
    NotACopy {
        /// The old stream.
        from: String,
        /// The new stream.
        to: String,
        /// What differs.
        why: String,
    },
    /// A password could not be stored.
    #[error("message {sequence}: {source}")]
    Secret {
        /// The old stream's sequence of the message.
        sequence: u64,
        /// The store's error (never the secret).
        source: SecretError,
    },
}

fn nats(action: impl Into<String>) -> impl FnOnce(String) -> CopyError {
    let action = action.into();
    move |reason| CopyError::Nats { action, reason }
}

/// Headers of a message that describe how it was appended to the old stream, not
/// what it is: not copied (the copy sets its own expectation).
fn appended_only(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("nats-expected-") || name.starts_with("nats-batch-")
}

impl EventLog {
    /// Copies this log's stream to the stream `to`, passwords moved to `secrets`.
    /// This log must be opened as the setup user.
    pub async fn redact_copy(
        &self,
        to: &str,
        secrets: &SecretStore,
    ) -> Result<CopyReport, CopyError> {
        let from = self.settings.stream.clone();
        if from == to {
            return Err(CopyError::NotACopy {
                from,
                to: to.to_owned(),
                why: "it is the same stream".into(),
            });
        }
        let mut old = self
            .js
            .get_stream(&from)
            .await
            .map_err(|e| nats(format!("opening the stream {from}"))(e.to_string()))?;
        let old_info = old
            .info()
            .await
            .map_err(|e| nats(format!("reading the stream {from}"))(e.to_string()))?
            .clone();
        // The old stream gives its subjects up to the new one.
        let retired = format!("{}.retired.{from}", self.settings.subject_prefix);
        if old_info.config.subjects != [retired.clone()] {
            let mut config = old_info.config.clone();
            config.subjects = vec![retired];
            self.js
                .update_stream(config)
                .await
                .map_err(|e| nats(format!("retiring the subjects of {from}"))(e.to_string()))?;
        }
        let mut config = self.stream_config();
        config.name = to.to_owned();
        config.description = Some(format!(
            "ferry: every event of every aggregate, kept forever (a redacting copy of {from})"
        ));
        let first = old_info.state.first_sequence.max(1);
        if first > 1 {
            config.first_sequence = Some(first);
        }
        let mut new = self
            .js
            .get_or_create_stream(config)
            .await
            .map_err(|e| nats(format!("making the stream {to}"))(e.to_string()))?;
        let mut last = new
            .info()
            .await
            .map_err(|e| nats(format!("reading the stream {to}"))(e.to_string()))?
            .state
            .last_sequence;
        let old_last = old_info.state.last_sequence;
        let mut report = CopyReport::default();
        if last >= first {
            self.check_same(&mut old, &mut new, last, to).await?;
            report.already_copied = last - first + 1;
        }
        if last >= old_last {
            return Ok(report);
        }
        let start = last.max(first - 1) + 1;
        let consumer = old
            .create_consumer(OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| nats(format!("reading {from}"))(e.to_string()))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| nats(format!("reading {from}"))(e.to_string()))?;
        let mut stored = BTreeSet::new();
        while last < old_last {
            let message = messages
                .next()
                .await
                .ok_or_else(|| nats(format!("reading {from}"))("the consumer ended".into()))?
                .map_err(|e| nats(format!("reading {from}"))(e.to_string()))?;
            let sequence = message
                .info()
                .map_err(|e| nats(format!("reading {from}"))(e.to_string()))?
                .stream_sequence;
            let copied = redact(&message.payload, sequence, secrets, &mut stored)?;
            let mut headers = HeaderMap::new();
            if let Some(original) = &message.headers {
                for (name, values) in original.iter() {
                    if appended_only(name.as_ref()) {
                        continue;
                    }
                    for value in values {
                        headers.append(name.as_ref(), value.as_str());
                    }
                }
            }
            headers.insert("Nats-Expected-Last-Sequence", last.to_string().as_str());
            let payload = match &copied {
                Redacted::Changed { payload, .. } => Bytes::from(payload.clone()),
                Redacted::Unchanged { .. } | Redacted::Unreadable => message.payload.clone(),
            };
            let ack = self
                .js
                .publish_with_headers(message.subject.clone(), headers, payload)
                .await
                .map_err(|e| nats(format!("copying message {sequence}"))(e.to_string()))?
                .await
                .map_err(|e| nats(format!("copying message {sequence}"))(e.to_string()))?;
            if ack.duplicate || ack.sequence != sequence {
                return Err(CopyError::NotACopy {
                    from: from.clone(),
                    to: to.to_owned(),
                    why: format!(
                        "message {sequence} of {from} landed as {} (duplicate: {}): its id was \
                         already in {to}",
                        ack.sequence, ack.duplicate
                    ),
                });
            }
            last = sequence;
            report.messages_copied += 1;
            match copied {
                Redacted::Changed {
                    events, changed, ..
                } => {
                    report.events_copied += events;
                    report.events_changed += changed;
                }
                Redacted::Unchanged { events } => report.events_copied += events,
                Redacted::Unreadable => report.unreadable += 1,
            }
        }
        report.secrets_stored = u64::try_from(stored.len()).unwrap_or(u64::MAX);
        Ok(report)
    }

    /// Checks that the new stream's message at `sequence` is the old one's.
    async fn check_same(
        &self,
        old: &mut async_nats::jetstream::stream::Stream,
        new: &mut async_nats::jetstream::stream::Stream,
        sequence: u64,
        to: &str,
    ) -> Result<(), CopyError> {
        let from = self.settings.stream.clone();
        let id = |message: &async_nats::jetstream::message::StreamMessage| {
            (
                message.subject.to_string(),
                message
                    .headers
                    .get("Nats-Msg-Id")
                    .map(|v| v.as_str().to_owned()),
            )
        };
        let read = |what: &str, e: String| nats(format!("reading message {sequence} of {what}"))(e);
        let theirs = old
            .get_raw_message(sequence)
            .await
            .map_err(|e| read(&from, e.to_string()))?;
        let ours = new
            .get_raw_message(sequence)
            .await
            .map_err(|e| read(to, e.to_string()))?;
        if id(&theirs) != id(&ours) {
            return Err(CopyError::NotACopy {
                from,
                to: to.to_owned(),
                why: format!("their message {sequence} differs (subject or message id)"),
            });
        }
        Ok(())
    }
}

/// One message's payload, once its passwords are out.
enum Redacted {
    /// Passwords were taken out: the new payload.
    Changed {
        payload: Vec<u8>,
        events: u64,
        changed: u64,
    },
    /// Nothing to take out: copied as it is.
    Unchanged { events: u64 },
    /// Not ferry's JSON: copied as it is.
    Unreadable,
}

/// Takes the passwords out of a message's events (one envelope, or an array of
/// them), storing each under its reference.
fn redact(
    payload: &[u8],
    sequence: u64,
    secrets: &SecretStore,
    stored: &mut BTreeSet<String>,
) -> Result<Redacted, CopyError> {
    let Ok(mut body) = serde_json::from_slice::<Value>(payload) else {
        return Ok(Redacted::Unreadable);
    };
    let envelopes: Vec<&mut Value> = match &mut body {
        Value::Array(items) => items.iter_mut().collect(),
        single => vec![single],
    };
    let events = u64::try_from(envelopes.len()).unwrap_or(u64::MAX);
    let mut changed = 0;
    for envelope in envelopes {
        let event_type = envelope["type"].as_str().unwrap_or_default().to_owned();
        let version = envelope["schema_version"].as_u64().unwrap_or(0);
        let Some((_, with_references, _)) = STORAGE_EVENTS
            .iter()
            .find(|(name, added, _)| *name == event_type && version < u64::from(*added))
        else {
            continue;
        };
        let Some(mut data) = envelope.get("data").cloned() else {
            continue;
        };
        let found = strip_storage_passwords(&event_type, &mut data);
        if found.is_empty() {
            // No password: left as it was, read through its upcaster.
            continue;
        }
        envelope["data"] = data;
        for password in found {
            secrets
                .store(&password.reference, &password.secret)
                .map_err(|source| CopyError::Secret { sequence, source })?;
            stored.insert(password.reference.to_string());
        }
        envelope["schema_version"] = Value::from(*with_references);
        changed += 1;
    }
    if changed == 0 {
        return Ok(Redacted::Unchanged { events });
    }
    let payload = serde_json::to_vec(&body).map_err(|e| CopyError::Nats {
        action: format!("writing message {sequence}"),
        reason: e.to_string(),
    })?;
    Ok(Redacted::Changed {
        payload,
        events,
        changed,
    })
}
