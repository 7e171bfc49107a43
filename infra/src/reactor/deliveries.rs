//! A reactor's durable consumer read message after message: fetched in batches,
//! fetched again after a failure (with backoff), and, when stopping, what is still in
//! hand given back at once. The one reading loop of [`super::run`],
//! [`super::run_concurrently`] and [`super::run_in_lanes`].
//!
//! Emits and consumes no event type of its own.

use super::{Reactor, ReactorError, ReactorSettings};
use crate::event_log::EventLog;
use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::consumer::pull::Batch;
use futures::StreamExt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The messages of a reactor's durable consumer, `size` per fetch, until shutdown.
pub(super) struct Deliveries {
    name: &'static str,
    consumer: PullConsumer,
    size: usize,
    settings: ReactorSettings,
    shutdown: CancellationToken,
    /// The current fetch, while it has messages.
    batch: Option<Batch>,
    /// Fetches failed in a row (for the backoff).
    failures: u32,
}

impl Deliveries {
    /// Opens (or finds again) the reactor's durable consumer.
    pub(super) async fn open<R: Reactor>(
        reactor: &R,
        log: &EventLog,
        size: usize,
        settings: &ReactorSettings,
        shutdown: &CancellationToken,
    ) -> Result<Self, ReactorError> {
        let name = reactor.name();
        let consumer = log
            .durable_consumer(name, reactor.filters(log), settings.ack_wait)
            .await
            .map_err(|e| ReactorError {
                name,
                reason: e.to_string(),
            })?;
        Ok(Self {
            name,
            consumer,
            size,
            settings: settings.clone(),
            shutdown: shutdown.clone(),
            batch: None,
            failures: 0,
        })
    }

    /// The next message; `None` once stopping (what the current fetch still holds is
    /// then given back).
    pub(super) async fn next(&mut self) -> Option<async_nats::jetstream::Message> {
        loop {
            if self.shutdown.is_cancelled() {
                self.give_back().await;
                return None;
            }
            let Some(batch) = self.batch.as_mut() else {
                self.batch = self.fetch().await;
                continue;
            };
            let next = tokio::select! {
                _ = self.shutdown.cancelled() => continue,
                next = batch.next() => next,
            };
            match next {
                Some(Ok(message)) => return Some(message),
                Some(Err(e)) => {
                    tracing::warn!(reactor = self.name, error = %e, "delivery interrupted");
                    self.batch = None;
                }
                None => self.batch = None,
            }
        }
    }

    /// Gives back, unhandled, the messages of the current fetch still in hand when
    /// stopping, so that the next instance gets them at once rather than after
    /// `ack_wait`.
    pub(super) async fn give_back(&mut self) {
        let Some(mut batch) = self.batch.take() else {
            return;
        };
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout(Duration::from_millis(50), batch.next()).await
        {
            message.ack_with(AckKind::Nak(None)).await.ok();
        }
    }

    /// Fetches up to `size` messages (waiting a second at most). `None` when stopped,
    /// or when the fetch failed: then after a backoff that grows with the failures in
    /// a row.
    async fn fetch(&mut self) -> Option<Batch> {
        let fetched = self
            .consumer
            .fetch()
            .max_messages(self.size)
            .expires(Duration::from_secs(1))
            .messages();
        tokio::select! {
            _ = self.shutdown.cancelled() => None,
            fetched = fetched => match fetched {
                Ok(messages) => {
                    self.failures = 0;
                    Some(messages)
                }
                Err(e) => {
                    self.failures += 1;
                    tracing::warn!(reactor = self.name, error = %e, "cannot fetch; retrying");
                    self.settings.backoff.wait(self.failures, &self.shutdown).await;
                    None
                }
            },
        }
    }
}
