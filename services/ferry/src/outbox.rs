//! `ferry outbox …` (support): the notifications outbox read and printed, and a
//! message given up on put back.

use crate::cli::OutboxCommand;
use crate::client::{Answer, Api};
use crate::render::{named, show, table};
use ferry_notifications::{NotificationDetail, NotificationList, RequeueAnswer};
use reqwest::Method;
use serde_json::json;

/// Runs an outbox subcommand.
pub async fn run(api: &Api, command: OutboxCommand, json: bool) -> anyhow::Result<()> {
    match command {
        OutboxCommand::List { state, limit } => {
            let mut path = format!("/notifications?limit={limit}");
            if let Some(state) = state {
                path.push_str(&format!("&state={state}"));
            }
            list(&api.fetch(&path).await?, json)
        }
        OutboxCommand::Show { id } => {
            detail(&api.fetch(&format!("/notifications/{id}")).await?, json)
        }
        OutboxCommand::Requeue { id, reason } => requeue(
            &api.send(
                Method::POST,
                &format!("/notifications/{id}/requeue"),
                Some(json!({ "reason": reason })),
            )
            .await?,
            json,
        ),
    }
}

/// The outbox's messages and counts.
pub fn list(answer: &Answer<NotificationList>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |list| {
        let c = &list.counts;
        outln!(
            "{} queued, {} sending, {} interrupted, {} retrying, {} given up, {} sent",
            c.queued,
            c.sending,
            c.interrupted,
            c.retrying,
            c.given_up,
            c.sent
        );
        if list.notifications.is_empty() {
            return;
        }
        let rows = list
            .notifications
            .iter()
            .map(|n| {
                vec![
                    n.notification_id.to_string(),
                    named(&n.state),
                    n.attempts.to_string(),
                    n.recipient.clone(),
                    n.template.clone(),
                    n.subject.clone(),
                ]
            })
            .collect();
        table(&["ID", "STATE", "TRIES", "TO", "TEMPLATE", "SUBJECT"], rows);
        for n in list.notifications.iter().filter(|n| n.last_error.is_some()) {
            outln!(
                "{}: {}",
                n.notification_id,
                n.last_error.as_deref().unwrap_or_default()
            );
        }
    })
}

/// One message.
pub fn detail(answer: &Answer<NotificationDetail>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |detail| {
        let n = &detail.summary;
        outln!(
            "{} ({}, {} attempt(s))",
            n.notification_id,
            named(&n.state),
            n.attempts
        );
        outln!(
            "to:       {} ({}, {})",
            n.recipient,
            named(&n.audience),
            n.locale
        );
        outln!("subject:  {}", n.subject);
        outln!(
            "template: {} (about event {})",
            n.template,
            n.cause_event_id
        );
        outln!();
        outln!("{}", detail.body.trim_end());
        outln!();
        for entry in &detail.history {
            outln!(
                "{}  {}{} by {}{}",
                named(&entry.at),
                entry.event,
                entry.attempt.map_or_else(String::new, |a| format!(" #{a}")),
                entry.actor,
                entry
                    .detail
                    .as_deref()
                    .map_or_else(String::new, |d| format!(": {d}"))
            );
        }
    })
}

/// A message put back.
pub fn requeue(answer: &Answer<RequeueAnswer>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |answer| {
        if answer.changed {
            outln!("{} is back in the outbox", answer.notification_id);
        } else {
            outln!("{} was already back in the outbox", answer.notification_id);
        }
    })
}
