//! A software infrastructure version that servers migrate to, and what it supports.

use chrono::{DateTime, Utc};
use ferry_events::{
    DatabaseVersion, InfrastructureVersionPublished, LanguageVersion, TargetInfrastructureEvent,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::At;

/// A target infrastructure version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TargetInfrastructureView {
    /// The version, e.g. `v2026`.
    pub version: String,
    /// Every language version it supports.
    #[schema(value_type = Vec<Object>)]
    pub languages: Vec<LanguageVersion>,
    /// Every database engine version it supports.
    #[schema(value_type = Vec<Object>)]
    pub databases: Vec<DatabaseVersion>,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// When what it supports last changed.
    pub changed_at: DateTime<Utc>,
}

impl TargetInfrastructureView {
    /// A version published.
    pub fn published(event: &InfrastructureVersionPublished, at: At) -> Self {
        Self {
            version: event.version.clone(),
            languages: event.languages.clone(),
            databases: event.databases.clone(),
            published_at: at.occurred_at,
            changed_at: at.occurred_at,
        }
    }

    /// Folds one event of the version.
    pub fn apply(&mut self, event: &TargetInfrastructureEvent, at: At) {
        match event {
            TargetInfrastructureEvent::InfrastructureVersionPublished(e) => {
                self.languages = e.languages.clone();
                self.databases = e.databases.clone();
            }
            TargetInfrastructureEvent::InfrastructureVersionSupportChanged(e) => {
                self.languages = e.languages.clone();
                self.databases = e.databases.clone();
            }
        }
        self.changed_at = at.occurred_at;
    }
}
