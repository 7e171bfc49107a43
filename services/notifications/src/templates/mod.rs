//! The message templates, embedded from `templates/<language>/<audience>/<name>.txt`
//! (first line the subject, a blank line, the body) and rendered with minijinja.
//!
//! Emits and consumes no event.

use ferry_events::NotificationAudience;
use ferry_notifications_domain::policy::Template;
use minijinja::{Environment, UndefinedBehavior};
use std::collections::BTreeMap;

/// Every template file: `<language>/<audience>/<name>` and its text.
pub const FILES: &[(&str, &str)] = &[
    (
        "en/customer/account_move_failed",
        include_str!("../../templates/en/customer/account_move_failed.txt"),
    ),
    (
        "en/customer/account_moved",
        include_str!("../../templates/en/customer/account_moved.txt"),
    ),
    (
        "en/customer/account_relocated",
        include_str!("../../templates/en/customer/account_relocated.txt"),
    ),
    (
        "en/customer/account_relocation_failed",
        include_str!("../../templates/en/customer/account_relocation_failed.txt"),
    ),
    (
        "en/customer/charges_started",
        include_str!("../../templates/en/customer/charges_started.txt"),
    ),
    (
        "en/customer/free_period_ending",
        include_str!("../../templates/en/customer/free_period_ending.txt"),
    ),
    (
        "en/customer/migration_cancelled",
        include_str!("../../templates/en/customer/migration_cancelled.txt"),
    ),
    (
        "en/customer/migration_completed",
        include_str!("../../templates/en/customer/migration_completed.txt"),
    ),
    (
        "en/customer/migration_opened",
        include_str!("../../templates/en/customer/migration_opened.txt"),
    ),
    (
        "en/customer/mx_record_removal",
        include_str!("../../templates/en/customer/mx_record_removal.txt"),
    ),
    (
        "en/customer/reinstall_requested",
        include_str!("../../templates/en/customer/reinstall_requested.txt"),
    ),
    (
        "en/customer/reinstall_started",
        include_str!("../../templates/en/customer/reinstall_started.txt"),
    ),
    (
        "en/customer/relocation_started",
        include_str!("../../templates/en/customer/relocation_started.txt"),
    ),
    (
        "en/customer/server_reinstalled",
        include_str!("../../templates/en/customer/server_reinstalled.txt"),
    ),
    (
        "en/customer/test_migration_failed",
        include_str!("../../templates/en/customer/test_migration_failed.txt"),
    ),
    (
        "en/customer/test_migration_ready",
        include_str!("../../templates/en/customer/test_migration_ready.txt"),
    ),
    (
        "en/customer/transit_installing",
        include_str!("../../templates/en/customer/transit_installing.txt"),
    ),
    (
        "en/customer/transit_queued",
        include_str!("../../templates/en/customer/transit_queued.txt"),
    ),
    (
        "en/customer/transit_ready",
        include_str!("../../templates/en/customer/transit_ready.txt"),
    ),
    (
        "en/customer/transit_requested",
        include_str!("../../templates/en/customer/transit_requested.txt"),
    ),
    (
        "en/support/account_move_failed",
        include_str!("../../templates/en/support/account_move_failed.txt"),
    ),
    (
        "en/support/account_relocation_failed",
        include_str!("../../templates/en/support/account_relocation_failed.txt"),
    ),
    (
        "en/support/account_rollback_failed",
        include_str!("../../templates/en/support/account_rollback_failed.txt"),
    ),
    (
        "en/support/precopy_failed",
        include_str!("../../templates/en/support/precopy_failed.txt"),
    ),
    (
        "en/support/reinstall_requested",
        include_str!("../../templates/en/support/reinstall_requested.txt"),
    ),
    (
        "en/support/relocation_to_arrange",
        include_str!("../../templates/en/support/relocation_to_arrange.txt"),
    ),
    (
        "en/support/transit_installation_failed",
        include_str!("../../templates/en/support/transit_installation_failed.txt"),
    ),
    (
        "en/support/transit_requested",
        include_str!("../../templates/en/support/transit_requested.txt"),
    ),
    (
        "fr/customer/account_move_failed",
        include_str!("../../templates/fr/customer/account_move_failed.txt"),
    ),
    (
        "fr/customer/account_moved",
        include_str!("../../templates/fr/customer/account_moved.txt"),
    ),
    (
        "fr/customer/account_relocated",
        include_str!("../../templates/fr/customer/account_relocated.txt"),
    ),
    (
        "fr/customer/account_relocation_failed",
        include_str!("../../templates/fr/customer/account_relocation_failed.txt"),
    ),
    (
        "fr/customer/charges_started",
        include_str!("../../templates/fr/customer/charges_started.txt"),
    ),
    (
        "fr/customer/free_period_ending",
        include_str!("../../templates/fr/customer/free_period_ending.txt"),
    ),
    (
        "fr/customer/migration_cancelled",
        include_str!("../../templates/fr/customer/migration_cancelled.txt"),
    ),
    (
        "fr/customer/migration_completed",
        include_str!("../../templates/fr/customer/migration_completed.txt"),
    ),
    (
        "fr/customer/migration_opened",
        include_str!("../../templates/fr/customer/migration_opened.txt"),
    ),
    (
        "fr/customer/mx_record_removal",
        include_str!("../../templates/fr/customer/mx_record_removal.txt"),
    ),
    (
        "fr/customer/reinstall_requested",
        include_str!("../../templates/fr/customer/reinstall_requested.txt"),
    ),
    (
        "fr/customer/reinstall_started",
        include_str!("../../templates/fr/customer/reinstall_started.txt"),
    ),
    (
        "fr/customer/relocation_started",
        include_str!("../../templates/fr/customer/relocation_started.txt"),
    ),
    (
        "fr/customer/server_reinstalled",
        include_str!("../../templates/fr/customer/server_reinstalled.txt"),
    ),
    (
        "fr/customer/test_migration_failed",
        include_str!("../../templates/fr/customer/test_migration_failed.txt"),
    ),
    (
        "fr/customer/test_migration_ready",
        include_str!("../../templates/fr/customer/test_migration_ready.txt"),
    ),
    (
        "fr/customer/transit_installing",
        include_str!("../../templates/fr/customer/transit_installing.txt"),
    ),
    (
        "fr/customer/transit_queued",
        include_str!("../../templates/fr/customer/transit_queued.txt"),
    ),
    (
        "fr/customer/transit_ready",
        include_str!("../../templates/fr/customer/transit_ready.txt"),
    ),
    (
        "fr/customer/transit_requested",
        include_str!("../../templates/fr/customer/transit_requested.txt"),
    ),
    (
        "fr/support/account_move_failed",
        include_str!("../../templates/fr/support/account_move_failed.txt"),
    ),
    (
        "fr/support/account_relocation_failed",
        include_str!("../../templates/fr/support/account_relocation_failed.txt"),
    ),
    (
        "fr/support/account_rollback_failed",
        include_str!("../../templates/fr/support/account_rollback_failed.txt"),
    ),
    (
        "fr/support/precopy_failed",
        include_str!("../../templates/fr/support/precopy_failed.txt"),
    ),
    (
        "fr/support/reinstall_requested",
        include_str!("../../templates/fr/support/reinstall_requested.txt"),
    ),
    (
        "fr/support/relocation_to_arrange",
        include_str!("../../templates/fr/support/relocation_to_arrange.txt"),
    ),
    (
        "fr/support/transit_installation_failed",
        include_str!("../../templates/fr/support/transit_installation_failed.txt"),
    ),
    (
        "fr/support/transit_requested",
        include_str!("../../templates/fr/support/transit_requested.txt"),
    ),
];

/// The languages messages are written in.
pub const LANGUAGES: &[&str] = &["en", "fr"];

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

/// A template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// No such template for that audience and language.
    #[error("no template {0}")]
    Unknown(String),
    /// The template failed (a value missing, a syntax error).
    #[error("template {name}: {reason}")]
    Failed {
        /// The template.
        name: String,
        /// Why.
        reason: String,
    },
    /// The text has no subject line and body.
    #[error("template {0} has no subject line followed by a blank line and a body")]
    Shape(String),
}

/// The key of a template file.
pub fn key(template: Template, audience: NotificationAudience, language: &str) -> String {
    let audience = match audience {
        NotificationAudience::Customer => "customer",
        NotificationAudience::Support => "support",
    };
    format!("{language}/{audience}/{}", template.name())
}

/// The templates, loaded once.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// Every embedded template; a value a template names and is not given is an
    /// error, never a blank.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, text) in FILES {
            // Embedded texts are checked by the tests: one failing here is left out
            // and reported as unknown when used.
            if let Err(e) = env.add_template(name, text) {
                tracing::error!(template = %name, error = %e, "template not loaded");
            }
        }
        Self { env }
    }

    /// Whether `template` exists for `audience` in `language`.
    pub fn has(&self, template: Template, audience: NotificationAudience, language: &str) -> bool {
        self.env
            .get_template(&key(template, audience, language))
            .is_ok()
    }

    /// `template` for `audience` in `language` (`en` when the language has none),
    /// rendered with `values`.
    pub fn render(
        &self,
        template: Template,
        audience: NotificationAudience,
        language: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<Rendered, RenderError> {
        let language = if LANGUAGES.contains(&language) {
            language
        } else {
            "en"
        };
        let name = key(template, audience, language);
        let compiled = self
            .env
            .get_template(&name)
            .map_err(|_| RenderError::Unknown(name.clone()))?;
        let text = compiled.render(values).map_err(|e| RenderError::Failed {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        let (subject, body) = text
            .split_once("\n\n")
            .ok_or_else(|| RenderError::Shape(name.clone()))?;
        let subject = subject.trim();
        if subject.is_empty() || subject.contains('\n') {
            return Err(RenderError::Shape(name));
        }
        Ok(Rendered {
            subject: subject.to_owned(),
            body: format!("{}\n", body.trim_matches('\n')),
        })
    }
}

#[cfg(test)]
mod tests;
