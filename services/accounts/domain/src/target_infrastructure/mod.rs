//! The `target_infrastructure` aggregate: the catalogue entry of one infrastructure
//! version and what it supports. Publishing again with the same lists changes nothing.
//!
//! Emits `InfrastructureVersionPublished`, `InfrastructureVersionSupportChanged`.

use super::access::{Allowed, Target, check};
use super::compatibility::TargetSupport;
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::Grants;
use ferry_events::{
    Actor, AggregateType, DatabaseVersion, InfrastructureVersionPublished,
    InfrastructureVersionSupportChanged, LanguageVersion, TargetInfrastructureEvent,
    validate_aggregate_id, validate_token,
};

/// An infrastructure version, once published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetState {
    /// What it supports; `None` before publication.
    pub support: Option<TargetSupport>,
}

/// Publishes a version, or brings what it supports in line with these lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// Who asks.
    pub actor: Actor,
    /// The version, e.g. `v2026`.
    pub version: String,
    /// Every language version it supports.
    pub languages: Vec<LanguageVersion>,
    /// Every database engine version it supports.
    pub databases: Vec<DatabaseVersion>,
}

/// Why publishing is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefusal {
    /// Only support publishes versions.
    #[error("{0}")]
    Forbidden(String),
    /// The lists are malformed.
    #[error("invalid infrastructure version: {0}")]
    Invalid(String),
}

impl Refusal for TargetRefusal {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::Forbidden(_) => RefusalKind::Forbidden,
            Self::Invalid(_) => RefusalKind::Invalid,
        }
    }
}

/// The target infrastructure decider.
#[derive(Debug)]
pub struct TargetInfrastructureDecider;

impl Decider for TargetInfrastructureDecider {
    type State = TargetState;
    type Command = Publish;
    type Event = TargetInfrastructureEvent;
    type Rejection = TargetRefusal;
    const AGGREGATE: AggregateType = AggregateType::TargetInfrastructure;

    fn decide(state: &TargetState, command: &Publish) -> Result<Vec<Self::Event>, TargetRefusal> {
        check(
            &command.actor,
            &Grants::none(),
            Allowed::SupportOrSystem,
            "",
            Target::Server(""),
        )
        .map_err(TargetRefusal::Forbidden)?;
        validate_aggregate_id(&command.version)
            .map_err(|e| TargetRefusal::Invalid(format!("version: {e}")))?;
        let languages = normalized(&command.languages);
        let mut databases = command.databases.clone();
        databases.sort_by(|a, b| (a.engine as u8, &a.version).cmp(&(b.engine as u8, &b.version)));
        databases.dedup();
        for language in &languages {
            validate_token("language", &language.language)
                .and_then(|()| validate_token("language version", &language.version))
                .map_err(TargetRefusal::Invalid)?;
        }
        for database in &databases {
            validate_token("database version", &database.version)
                .map_err(TargetRefusal::Invalid)?;
        }
        match &state.support {
            None => Ok(vec![
                InfrastructureVersionPublished {
                    version: command.version.clone(),
                    languages,
                    databases,
                }
                .into(),
            ]),
            Some(current) if current.languages == languages && current.databases == databases => {
                Ok(vec![])
            }
            Some(_) => Ok(vec![
                InfrastructureVersionSupportChanged {
                    languages,
                    databases,
                }
                .into(),
            ]),
        }
    }

    fn evolve(mut state: TargetState, event: &Self::Event) -> TargetState {
        match event {
            TargetInfrastructureEvent::InfrastructureVersionPublished(e) => {
                state.support = Some(TargetSupport {
                    version: e.version.clone(),
                    languages: e.languages.clone(),
                    databases: e.databases.clone(),
                });
            }
            TargetInfrastructureEvent::InfrastructureVersionSupportChanged(e) => {
                if let Some(support) = state.support.as_mut() {
                    support.languages = e.languages.clone();
                    support.databases = e.databases.clone();
                }
            }
        }
        state
    }

    fn select(event: &ferry_events::Event) -> Option<&Self::Event> {
        match event {
            ferry_events::Event::TargetInfrastructure(e) => Some(e),
            _ => None,
        }
    }
}

/// Sorted and deduplicated, so that the same lists in another order are the same.
fn normalized(languages: &[LanguageVersion]) -> Vec<LanguageVersion> {
    let mut languages = languages.to_vec();
    languages.sort();
    languages.dedup();
    languages
}

#[cfg(test)]
mod tests;
