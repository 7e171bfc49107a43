//! Given/when/then of the target infrastructure aggregate.

use super::*;
use ferry_core::scenario::given;
use ferry_events::DatabaseEngine;

fn php(version: &str) -> LanguageVersion {
    LanguageVersion {
        language: "php".into(),
        version: version.into(),
    }
}

fn pg16() -> DatabaseVersion {
    DatabaseVersion {
        engine: DatabaseEngine::Postgres,
        version: "16".into(),
    }
}

fn publish(languages: Vec<LanguageVersion>) -> Publish {
    Publish {
        actor: Actor::support("jdoe"),
        version: "v2026".into(),
        languages,
        databases: vec![pg16()],
    }
}

fn published() -> TargetInfrastructureEvent {
    InfrastructureVersionPublished {
        version: "v2026".into(),
        languages: vec![php("8.2"), php("8.3")],
        databases: vec![pg16()],
    }
    .into()
}

#[test]
fn a_new_version_is_published() {
    given::<TargetInfrastructureDecider>([])
        .when(publish(vec![php("8.3"), php("8.2")]))
        .then(vec![published()]);
}

#[test]
fn publishing_the_same_lists_again_changes_nothing() {
    given::<TargetInfrastructureDecider>([published()])
        .when(publish(vec![php("8.3"), php("8.2"), php("8.2")]))
        .then_nothing();
}

#[test]
fn other_lists_change_what_it_supports() {
    given::<TargetInfrastructureDecider>([published()])
        .when(publish(vec![php("8.3")]))
        .then(vec![
            InfrastructureVersionSupportChanged {
                languages: vec![php("8.3")],
                databases: vec![pg16()],
            }
            .into(),
        ]);
}

#[test]
fn customers_cannot_publish() {
    let mut command = publish(vec![php("8.3")]);
    command.actor = Actor::customer("c-1");
    given::<TargetInfrastructureDecider>([])
        .when(command)
        .then_refused_because(RefusalKind::Forbidden, "only support");
}

#[test]
fn a_language_without_version_is_invalid() {
    given::<TargetInfrastructureDecider>([])
        .when(publish(vec![php("")]))
        .then_refused_because(RefusalKind::Invalid, "language version");
}
