//! Creating the stream: the log keeps everything, forever, on disk.

use super::{EventLog, SetupError};
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};

impl EventLog {
    pub(super) fn stream_config(&self) -> Config {
        Config {
            name: self.settings.stream.clone(),
            description: Some("ferry: every event of every aggregate, kept forever".into()),
            subjects: vec![self.all_filter()],
            storage: StorageType::File,
            retention: RetentionPolicy::Limits,
            // No limit on count, bytes or age: the log is the source of truth and audits replay it.
            max_messages: -1,
            max_bytes: -1,
            max_age: std::time::Duration::ZERO,
            max_messages_per_subject: -1,
            discard: DiscardPolicy::New,
            duplicate_window: self.settings.duplicate_window,
            // Events are immutable facts: nobody deletes or purges them.
            deny_delete: true,
            deny_purge: true,
            // Direct gets serve `load` and conflict resolution without a consumer.
            allow_direct: true,
            ..Default::default()
        }
    }

    /// Creates the stream, or brings an existing one to the configuration above: the
    /// setup user's work (a service's user may not).
    pub async fn ensure_stream(&self) -> Result<(), SetupError> {
        self.js
            .create_or_update_stream(self.stream_config())
            .await
            .map(|_| ())
            .map_err(|e| SetupError::Stream {
                stream: self.settings.stream.clone(),
                reason: e.to_string(),
            })
    }

    /// Sequence of the last message in the stream (0 when empty).
    pub async fn last_sequence(&self) -> Result<u64, super::ReadError> {
        let mut stream = self
            .js
            .get_stream(&self.settings.stream)
            .await
            .map_err(|e| super::ReadError::Unavailable(e.to_string()))?;
        let info = stream
            .info()
            .await
            .map_err(|e| super::ReadError::Unavailable(e.to_string()))?;
        Ok(info.state.last_sequence)
    }
}
