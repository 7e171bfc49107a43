//! The compatibility check: what of an account will not work, or will work
//! differently, on a target infrastructure version. Pure: it compares the account's
//! language and database versions with what the target supports.

use ferry_events::{
    AccountSpec, DatabaseEngine, DatabaseVersion, Incompatibility, IncompatibilityKind,
    LanguageVersion,
};
use std::cmp::Ordering;

/// What a target infrastructure version supports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetSupport {
    /// The version, e.g. `v2026`.
    pub version: String,
    /// The language versions it runs.
    pub languages: Vec<LanguageVersion>,
    /// The database engine versions it runs.
    pub databases: Vec<DatabaseVersion>,
}

/// Every incompatibility of `account` with `target`, empty when none.
pub fn check(account: &AccountSpec, target: &TargetSupport) -> Vec<Incompatibility> {
    let mut issues = Vec::new();
    for language in &account.languages {
        if target.languages.contains(language) {
            continue;
        }
        let mut available: Vec<&str> = target
            .languages
            .iter()
            .filter(|l| l.language == language.language)
            .map(|l| l.version.as_str())
            .collect();
        available.sort_by(|a, b| compare_versions(a, b));
        let hint = if available.is_empty() {
            format!(
                "{} is not offered at all on {}",
                language.language, target.version
            )
        } else {
            format!("use one of {}", available.join(", "))
        };
        issues.push(Incompatibility {
            kind: IncompatibilityKind::LanguageVersionRemoved,
            subject: format!("{} {}", language.language, language.version),
            detail: format!(
                "{} {} is not available on {}; {hint}; support removes it before the transit server is prepared",
                language.language, language.version, target.version
            ),
        });
    }
    for database in &account.databases {
        let supported: Vec<&str> = target
            .databases
            .iter()
            .filter(|d| d.engine == database.engine)
            .map(|d| d.version.as_str())
            .collect();
        if supported.contains(&database.version.as_str()) {
            continue;
        }
        let engine = engine_name(database.engine);
        let newer = supported
            .iter()
            .filter(|v| compare_versions(v, &database.version) == Ordering::Greater)
            .min_by(|a, b| compare_versions(a, b));
        issues.push(match newer {
            Some(newer) => Incompatibility {
                kind: IncompatibilityKind::DatabaseVersionUpgraded,
                subject: database.name.clone(),
                detail: format!(
                    "{} runs on {engine} {}, which {} no longer offers; it will run on {engine} {newer}: run a test migration to check the application's queries",
                    database.name, database.version, target.version
                ),
            },
            None => Incompatibility {
                kind: IncompatibilityKind::DatabaseVersionUnsupported,
                subject: database.name.clone(),
                detail: format!(
                    "{} runs on {engine} {}, and {} offers no {engine} version at or above it",
                    database.name, database.version, target.version
                ),
            },
        });
    }
    issues
}

/// The language versions of `account` that `target` no longer supports.
pub fn obsolete_languages(account: &AccountSpec, target: &TargetSupport) -> Vec<LanguageVersion> {
    account
        .languages
        .iter()
        .filter(|l| !target.languages.contains(l))
        .cloned()
        .collect()
}

fn engine_name(engine: DatabaseEngine) -> &'static str {
    match engine {
        DatabaseEngine::Postgres => "PostgreSQL",
        DatabaseEngine::Mysql => "MySQL/MariaDB",
    }
}

/// Compares dotted versions numerically where they are numbers (`10.11` > `10.6`).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
