//! An account's issues with a target version.

use super::*;
use ferry_events::DatabaseSpec;

fn lang(language: &str, version: &str) -> LanguageVersion {
    LanguageVersion {
        language: language.into(),
        version: version.into(),
    }
}

fn target() -> TargetSupport {
    TargetSupport {
        version: "v2026".into(),
        languages: vec![
            lang("php", "8.2"),
            lang("php", "8.3"),
            lang("python", "3.12"),
        ],
        databases: vec![
            DatabaseVersion {
                engine: DatabaseEngine::Postgres,
                version: "16".into(),
            },
            DatabaseVersion {
                engine: DatabaseEngine::Mysql,
                version: "10.11".into(),
            },
        ],
    }
}

fn account(languages: Vec<LanguageVersion>, databases: Vec<DatabaseSpec>) -> AccountSpec {
    AccountSpec {
        account_id: "acc-1".into(),
        name: "bakery".into(),
        files_bytes: 0,
        mail_bytes: 0,
        databases,
        domains: vec![],
        languages,
    }
}

fn db(engine: DatabaseEngine, name: &str, version: &str) -> DatabaseSpec {
    DatabaseSpec {
        engine,
        name: name.into(),
        size_bytes: 1,
        version: version.into(),
    }
}

#[test]
fn a_supported_account_has_no_issue() {
    let a = account(
        vec![lang("php", "8.2")],
        vec![db(DatabaseEngine::Postgres, "shop", "16")],
    );
    assert!(check(&a, &target()).is_empty());
}

#[test]
fn a_removed_php_version_is_listed_with_the_versions_to_use() {
    let issues = check(&account(vec![lang("php", "7.4")], vec![]), &target());
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].kind, IncompatibilityKind::LanguageVersionRemoved);
    assert_eq!(issues[0].subject, "php 7.4");
    assert!(
        issues[0].detail.contains("use one of 8.2, 8.3"),
        "{}",
        issues[0].detail
    );
}

#[test]
fn a_language_the_target_lacks_entirely_says_so() {
    let issues = check(&account(vec![lang("ruby", "2.7")], vec![]), &target());
    assert!(issues[0].detail.contains("ruby is not offered at all"));
}

#[test]
fn an_older_database_is_upgraded_and_a_newer_one_is_unsupported() {
    let a = account(
        vec![],
        vec![
            db(DatabaseEngine::Postgres, "old", "13"),
            db(DatabaseEngine::Mysql, "newer", "11.4"),
        ],
    );
    let issues = check(&a, &target());
    assert_eq!(issues[0].kind, IncompatibilityKind::DatabaseVersionUpgraded);
    assert!(issues[0].detail.contains("PostgreSQL 16"));
    assert_eq!(
        issues[1].kind,
        IncompatibilityKind::DatabaseVersionUnsupported
    );
    assert_eq!(issues[1].subject, "newer");
}

#[test]
fn obsolete_languages_are_those_the_target_lacks() {
    let a = account(vec![lang("php", "7.4"), lang("php", "8.2")], vec![]);
    assert_eq!(obsolete_languages(&a, &target()), vec![lang("php", "7.4")]);
}

#[test]
fn versions_compare_numerically() {
    assert_eq!(compare_versions("10.11", "10.6"), Ordering::Greater);
    assert_eq!(compare_versions("8", "8.0"), Ordering::Less);
    assert_eq!(compare_versions("16", "16"), Ordering::Equal);
}
