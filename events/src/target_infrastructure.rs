//! Events of a software infrastructure version (aggregate `target_infrastructure`,
//! written by the accounts service). Aggregate id: the version, e.g. `v2026`.

use serde::{Deserialize, Serialize};

use crate::values::{DatabaseVersion, LanguageVersion};

/// A new infrastructure version became available as a migration target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfrastructureVersionPublished {
    /// The version (the aggregate id), e.g. `v2026`.
    pub version: String,
    /// Every language version it supports; an account using another one is
    /// incompatible.
    pub languages: Vec<LanguageVersion>,
    /// Every database engine version it supports.
    pub databases: Vec<DatabaseVersion>,
}

/// What an infrastructure version supports changed. Carries the complete new lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfrastructureVersionSupportChanged {
    /// Every language version it now supports.
    pub languages: Vec<LanguageVersion>,
    /// Every database engine version it now supports.
    pub databases: Vec<DatabaseVersion>,
}

aggregate_events! {
    /// An event of an infrastructure version (aggregate `target_infrastructure`).
    pub enum TargetInfrastructureEvent for TargetInfrastructure {
        InfrastructureVersionPublished = 1,
        InfrastructureVersionSupportChanged = 1,
    }
}
