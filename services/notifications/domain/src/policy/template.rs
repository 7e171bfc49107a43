//! The templates of the messages: one per thing a customer or support hears of,
//! written in English and French (`services/notifications/templates/{en,fr}/<name>.txt`,
//! rendered by the edge).

use serde::{Deserialize, Serialize};

macro_rules! templates {
    ($($variant:ident => $name:literal,)*) => {
        /// A message's template.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Template {
            $(
                #[doc = concat!("Template `", $name, "`.")]
                $variant,
            )*
        }

        impl Template {
            /// Every template.
            pub const ALL: &'static [Template] = &[$(Template::$variant,)*];

            /// Its name, the file name of its text.
            pub fn name(self) -> &'static str {
                match self {
                    $(Template::$variant => $name,)*
                }
            }

            /// The template named `name`.
            pub fn named(name: &str) -> Option<Template> {
                Self::ALL.iter().copied().find(|t| t.name() == name)
            }
        }
    };
}

templates! {
    MigrationOpened => "migration_opened",
    TestMigrationReady => "test_migration_ready",
    TestMigrationFailed => "test_migration_failed",
    TransitRequested => "transit_requested",
    TransitQueued => "transit_queued",
    TransitInstalling => "transit_installing",
    TransitReady => "transit_ready",
    TransitInstallationFailed => "transit_installation_failed",
    PreCopyFailed => "precopy_failed",
    AccountMoved => "account_moved",
    AccountMoveFailed => "account_move_failed",
    AccountRollbackFailed => "account_rollback_failed",
    ReinstallRequested => "reinstall_requested",
    ReinstallStarted => "reinstall_started",
    ServerReinstalled => "server_reinstalled",
    RelocationToArrange => "relocation_to_arrange",
    RelocationStarted => "relocation_started",
    AccountRelocated => "account_relocated",
    AccountRelocationFailed => "account_relocation_failed",
    MigrationCompleted => "migration_completed",
    MigrationCancelled => "migration_cancelled",
    MxRecordRemoval => "mx_record_removal",
    FreePeriodEnding => "free_period_ending",
    ChargesStarted => "charges_started",
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
