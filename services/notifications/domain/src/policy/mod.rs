//! Who must hear of what: the notifications policy over its own view.
//!
//! The view (`notifications_view`) folds the outside facts the messages need:
//! - `server/<id>`: a client server's name, its customer's contact e-mail and locale
//!   and its accounts' names (`ServerRegistered`, `ServerDetailsChanged`,
//!   `AccountAdded`, `AccountChanged`, `AccountRemoved`);
//! - `account/<id>`: the server an account is on (for the DNS advice, which names the
//!   account only);
//! - `migration/<id>`: the client server and target version of a migration
//!   (`MigrationOpened`), and the transit server it was given;
//! - `loan/<migration id>`: the client server of a transit loan (`LoanOpened`) and
//!   the first day charged (`LoanDayCharged`), whose event alone announces the
//!   charges.
//!
//! A fact a message needs and that the view lacks is [`Missing`], never a blank: the
//! edge parks the reaction visibly and retries it.
//!
//! | event | template | audience |
//! |---|---|---|
//! | `MigrationOpened` | `migration_opened` | customer |
//! | `TestMigrationAvailable` | `test_migration_ready` | customer |
//! | `TestMigrationFailed` | `test_migration_failed` | customer |
//! | `TransitServerRequested` | `transit_requested` | customer, support |
//! | `TransitServerQueued` | `transit_queued` (queue position) | customer |
//! | `TransitServerAssigned` | `transit_installing` | customer |
//! | `TransitServerReady` | `transit_ready` | customer |
//! | `TransitInstallationFailed` (transit_server) | `transit_installation_failed` | support |
//! | `PreCopyFailed` not retryable | `precopy_failed` | support |
//! | `AccountMoved` | `account_moved` (downtime) | customer |
//! | `AccountMoveFailed` | `account_move_failed` | customer, support |
//! | `AccountRollbackFailed` | `account_rollback_failed` | support |
//! | `ReinstallRequested` | `reinstall_requested` | customer, support |
//! | `ReinstallStarted` | `reinstall_started` | customer |
//! | `ServerReinstalled` | `server_reinstalled` (customer), `relocation_to_arrange` (support) | customer, support |
//! | `AccountRelocationStarted` | `relocation_started` | customer |
//! | `AccountRelocated` | `account_relocated` (downtime) | customer |
//! | `AccountRelocationFailed` | `account_relocation_failed` | customer, support |
//! | `MigrationCompleted` | `migration_completed` | customer |
//! | `MigrationCancelled` | `migration_cancelled` | customer |
//! | `MxRecordRemovalAdvised` (dns_zone) | `mx_record_removal` | customer |
//! | `LoanFreePeriodEnding` (loan) | `free_period_ending` | customer |
//! | the first `LoanDayCharged` of a loan | `charges_started` | customer |
//!
//! A message's id derives from (cause event, template, audience)
//! ([`notification_id`]): a redelivered or replayed event queues nothing twice.

mod facts;
mod template;

pub use facts::{Fact, NotificationsView};
pub use template::Template;

use ferry_core::policy::{Entries, Missing, Policy, process_lane};
use ferry_events::{
    DnsZoneEvent, Envelope, Event, LoanEvent, MigrationEvent, NotificationAudience,
    TransitServerEvent,
};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The reactor's name: its durable consumer and the namespace of its command ids.
pub const NAME: &str = "notifications";

/// The id of the message telling `audience` of event `cause` with `template`: the
/// same cause, template and audience always give the same message.
pub fn notification_id(cause: Uuid, template: Template, audience: NotificationAudience) -> Uuid {
    let audience = match audience {
        NotificationAudience::Customer => "customer",
        NotificationAudience::Support => "support",
    };
    Uuid::new_v5(
        &cause,
        format!("{NAME}/{}/{audience}", template.name()).as_bytes(),
    )
}

/// Who a message goes to, as the policy knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// The customer owning the server: their contact address and language.
    Customer {
        /// Contact e-mail.
        email: String,
        /// Language of the templates: `en` or `fr`.
        language: String,
    },
    /// Support, whose address and language are settings of the edge.
    Support,
}

impl Recipient {
    /// The audience.
    pub fn audience(&self) -> NotificationAudience {
        match self {
            Self::Customer { .. } => NotificationAudience::Customer,
            Self::Support => NotificationAudience::Support,
        }
    }
}

/// Queue a message: render `template` in the recipient's language with `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNotification {
    /// The message's id ([`notification_id`]).
    pub notification_id: Uuid,
    /// The migration it is about (the cause's correlation).
    pub correlation_id: Uuid,
    /// The event it tells about.
    pub cause_event_id: Uuid,
    /// What to say.
    pub template: Template,
    /// To whom.
    pub recipient: Recipient,
    /// The values the template is rendered with.
    pub values: BTreeMap<String, String>,
}

/// The language of the templates for a customer's locale (`fr`, `fr_FR`, `fr-CA`…
/// give `fr`; anything else `en`).
pub fn language(locale: &str) -> &'static str {
    let primary = locale
        .split(['_', '-', '.'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if primary == "fr" { "fr" } else { "en" }
}

/// A duration as the messages write it: `45 s`, `3 min 05 s`, `2 h 07 min`.
pub fn duration_text(ms: u64) -> String {
    let secs = ms.div_ceil(1000);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {:02} s", secs / 60, secs % 60),
        _ => format!("{} h {:02} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// The notifications policy.
#[derive(Debug)]
pub struct NotificationsPolicy;

fn migration_key(id: impl std::fmt::Display) -> String {
    format!("migration/{id}")
}

fn server_key(id: &str) -> String {
    format!("server/{id}")
}

fn account_key(id: &str) -> String {
    format!("account/{id}")
}

fn loan_key(id: impl std::fmt::Display) -> String {
    format!("loan/{id}")
}

/// The migration an event is about, when it is about one.
fn migration_of(event: &Envelope) -> Option<String> {
    match &event.event {
        Event::Migration(_) | Event::Loan(_) => Some(event.aggregate_id.clone()),
        Event::TransitServer(TransitServerEvent::TransitInstallationFailed(e)) => {
            Some(e.migration_id.to_string())
        }
        _ => None,
    }
}

impl Policy for NotificationsPolicy {
    type View = NotificationsView;
    type Command = QueueNotification;
    const NAME: &'static str = NAME;

    fn reads(event: &Envelope, known: &Entries<Fact>) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(migration) = migration_of(event) {
            keys.push(migration_key(&migration));
            if matches!(event.event, Event::Loan(_)) {
                keys.push(loan_key(&migration));
            }
        }
        if let Event::DnsZone(DnsZoneEvent::MxRecordRemovalAdvised(e)) = &event.event {
            keys.push(account_key(&e.account_id));
        }
        for fact in known.values() {
            match fact {
                Fact::Migration { server_id, .. } | Fact::Account { server_id } => {
                    keys.push(server_key(server_id))
                }
                Fact::Loan {
                    server_id: Some(server_id),
                    ..
                } => keys.push(server_key(server_id)),
                _ => {}
            }
        }
        keys
    }

    fn react(event: &Envelope, view: &Entries<Fact>) -> Result<Vec<QueueNotification>, Missing> {
        let messages = messages(event, view)?;
        let Some(messages) = messages else {
            return Ok(Vec::new());
        };
        let Messages {
            about,
            mut values,
            to,
        } = messages;
        let server = about.server(view)?;
        values.insert("server".into(), server.name.clone());
        values.insert("server_id".into(), about.server_id.clone());
        if let Some(version) = &about.target_version {
            values.insert("target_version".into(), version.clone());
        }
        let mut commands = Vec::new();
        for (template, audience) in to {
            let recipient = match audience {
                NotificationAudience::Customer => Recipient::Customer {
                    email: server.contact_email.clone(),
                    language: language(&server.locale).to_owned(),
                },
                NotificationAudience::Support => Recipient::Support,
            };
            commands.push(QueueNotification {
                notification_id: notification_id(event.event_id, template, audience),
                correlation_id: event.correlation_id,
                cause_event_id: event.event_id,
                template,
                recipient,
                values: values.clone(),
            });
        }
        Ok(commands)
    }

    fn lane(event: &Envelope) -> String {
        process_lane(event)
    }
}

/// The client server a message is about, and the migration's target version.
struct About {
    server_id: String,
    target_version: Option<String>,
}

impl About {
    fn server<'v>(&self, view: &'v Entries<Fact>) -> Result<&'v facts::ServerFact, Missing> {
        match view.get(&server_key(&self.server_id)) {
            Some(Fact::Server(server)) => Ok(server),
            _ => Err(Missing(format!(
                "server {} (its contact e-mail and locale) is not known: no ServerRegistered",
                self.server_id
            ))),
        }
    }
}

/// The messages an event causes.
struct Messages {
    about: About,
    values: BTreeMap<String, String>,
    to: Vec<(Template, NotificationAudience)>,
}

fn about_migration(event: &Envelope, view: &Entries<Fact>) -> Result<About, Missing> {
    let id = migration_of(event).unwrap_or_else(|| event.correlation_id.to_string());
    match view.get(&migration_key(&id)) {
        Some(Fact::Migration {
            server_id,
            target_version,
            ..
        }) => Ok(About {
            server_id: server_id.clone(),
            target_version: Some(target_version.clone()),
        }),
        _ => Err(Missing(format!(
            "migration {id} is not known: no MigrationOpened"
        ))),
    }
}

fn account_name(view: &Entries<Fact>, about: &About, account_id: &str) -> String {
    match view.get(&server_key(&about.server_id)) {
        Some(Fact::Server(server)) => server
            .accounts
            .get(account_id)
            .cloned()
            .unwrap_or_else(|| account_id.to_owned()),
        _ => account_id.to_owned(),
    }
}

fn values<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

const CUSTOMER: NotificationAudience = NotificationAudience::Customer;
const SUPPORT: NotificationAudience = NotificationAudience::Support;

/// The messages `event` causes, `None` if nobody needs to hear of it.
fn messages(event: &Envelope, view: &Entries<Fact>) -> Result<Option<Messages>, Missing> {
    use MigrationEvent as M;
    use Template as T;
    let (values, to): (
        BTreeMap<String, String>,
        Vec<(Template, NotificationAudience)>,
    ) = match &event.event {
        Event::Migration(m) => {
            let about = about_migration(event, view)?;
            let account = |id: &str| account_name(view, &about, id);
            let (values, to) = match m {
                M::MigrationOpened(e) => (
                    values([("accounts", e.accounts.len().to_string())]),
                    vec![(T::MigrationOpened, CUSTOMER)],
                ),
                M::TestMigrationAvailable(e) => (
                    values([
                        ("account", account(&e.account_id)),
                        ("test_address", e.test_address.clone()),
                    ]),
                    vec![(T::TestMigrationReady, CUSTOMER)],
                ),
                M::TestMigrationFailed(e) => (
                    values([
                        ("account", account(&e.account_id)),
                        ("reason", e.reason.clone()),
                    ]),
                    vec![(T::TestMigrationFailed, CUSTOMER)],
                ),
                M::TransitServerRequested(e) => (
                    values([("configuration", e.configuration.clone())]),
                    vec![
                        (T::TransitRequested, CUSTOMER),
                        (T::TransitRequested, SUPPORT),
                    ],
                ),
                M::TransitServerQueued(e) => (
                    values([
                        ("configuration", e.configuration.clone()),
                        ("position", e.position.to_string()),
                    ]),
                    vec![(T::TransitQueued, CUSTOMER)],
                ),
                M::TransitServerAssigned(e) => (
                    values([("transit_server", e.transit_server_id.clone())]),
                    vec![(T::TransitInstalling, CUSTOMER)],
                ),
                M::TransitServerReady(e) => (
                    values([("transit_server", e.transit_server_id.clone())]),
                    vec![(T::TransitReady, CUSTOMER)],
                ),
                M::PreCopyFailed(e) if !e.retryable => (
                    values([
                        (
                            "destination",
                            match e.destination {
                                ferry_events::PreCopyDestination::TransitServer => {
                                    "transit_server".to_owned()
                                }
                                ferry_events::PreCopyDestination::ClientServer => {
                                    "client_server".to_owned()
                                }
                            },
                        ),
                        ("reason", e.reason.clone()),
                        ("attempt", e.attempt.to_string()),
                    ]),
                    vec![(T::PreCopyFailed, SUPPORT)],
                ),
                M::AccountMoved(e) => (
                    values([
                        ("account", account(&e.account_id)),
                        ("downtime", duration_text(e.downtime_ms)),
                    ]),
                    vec![(T::AccountMoved, CUSTOMER)],
                ),
                M::AccountMoveFailed(e) => (
                    values([
                        ("account", account(&e.account_id)),
                        ("reason", e.reason.clone()),
                    ]),
                    vec![
                        (T::AccountMoveFailed, CUSTOMER),
                        (T::AccountMoveFailed, SUPPORT),
                    ],
                ),
                M::AccountRollbackFailed(e) => (
                    values([
                        ("account", account(&e.account_id)),
                        ("reason", e.reason.clone()),
                    ]),
                    vec![(T::AccountRollbackFailed, SUPPORT)],
                ),
                M::ReinstallRequested(_) => (
                    BTreeMap::new(),
                    vec![
                        (T::ReinstallRequested, CUSTOMER),
                        (T::ReinstallRequested, SUPPORT),
                    ],
                ),
                M::ReinstallStarted(e) => (
                    values([("transit_server", e.ips_rerouted_to.clone())]),
                    vec![(T::ReinstallStarted, CUSTOMER)],
                ),
                M::ServerReinstalled(e) => (
                    values([("infrastructure_version", e.infrastructure_version.clone())]),
                    vec![
                        (T::ServerReinstalled, CUSTOMER),
                        (T::RelocationToArrange, SUPPORT),
                    ],
                ),
                M::AccountRelocationStarted(e) => (
                    values([
                        ("account", account(&e.account_id)),
                        ("estimated_downtime", duration_text(e.estimated_downtime_ms)),
                    ]),
                    vec![(T::RelocationStarted, CUSTOMER)],
                ),
                M::AccountRelocated(e) => (
                    values([
                        ("account", account(&e.account_id)),
                        ("downtime", duration_text(e.downtime_ms)),
                    ]),
                    vec![(T::AccountRelocated, CUSTOMER)],
                ),
                M::AccountRelocationFailed(e) => (
                    values([
                        ("account", account(&e.account_id)),
                        ("reason", e.reason.clone()),
                    ]),
                    vec![
                        (T::AccountRelocationFailed, CUSTOMER),
                        (T::AccountRelocationFailed, SUPPORT),
                    ],
                ),
                M::MigrationCompleted(e) => (
                    values([("total_downtime", duration_text(e.total_downtime_ms))]),
                    vec![(T::MigrationCompleted, CUSTOMER)],
                ),
                M::MigrationCancelled(e) => (
                    values([("reason", e.reason.clone())]),
                    vec![(T::MigrationCancelled, CUSTOMER)],
                ),
                _ => return Ok(None),
            };
            return Ok(Some(Messages { about, values, to }));
        }
        Event::TransitServer(TransitServerEvent::TransitInstallationFailed(e)) => (
            values([
                ("transit_server", event.aggregate_id.clone()),
                ("reason", e.reason.clone()),
            ]),
            vec![(T::TransitInstallationFailed, SUPPORT)],
        ),
        Event::Loan(LoanEvent::LoanFreePeriodEnding(e)) => (
            values([
                (
                    "ends_at",
                    e.ends_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                ),
                ("days_left", e.days_left.to_string()),
                ("day_price", e.first_day_price.to_string()),
            ]),
            vec![(T::FreePeriodEnding, CUSTOMER)],
        ),
        Event::Loan(LoanEvent::LoanDayCharged(e)) => {
            let first = matches!(
                view.get(&loan_key(&event.aggregate_id)),
                Some(Fact::Loan { first_charge: Some(first), .. }) if *first == event.event_id
            );
            if !first {
                return Ok(None);
            }
            (
                values([
                    ("day", e.day.format("%Y-%m-%d").to_string()),
                    ("amount", e.amount.to_string()),
                ]),
                vec![(T::ChargesStarted, CUSTOMER)],
            )
        }
        Event::DnsZone(DnsZoneEvent::MxRecordRemovalAdvised(e)) => {
            let server_id = match view.get(&account_key(&e.account_id)) {
                Some(Fact::Account { server_id }) => server_id.clone(),
                _ => {
                    return Err(Missing(format!(
                        "account {} is not known: no AccountAdded",
                        e.account_id
                    )));
                }
            };
            let about = About {
                server_id,
                target_version: None,
            };
            let record = |r: &ferry_events::DnsRecord| match r.priority {
                Some(p) => format!("MX {p} {}", r.value),
                None => format!("MX {}", r.value),
            };
            let keep: Vec<String> = e.keep.iter().map(record).collect();
            let values = values([
                ("account", account_name(view, &about, &e.account_id)),
                ("domain", e.domain.clone()),
                ("record", record(&e.record)),
                ("keep", keep.join(", ")),
            ]);
            return Ok(Some(Messages {
                about,
                values,
                to: vec![(T::MxRecordRemoval, CUSTOMER)],
            }));
        }
        _ => return Ok(None),
    };
    // Loan and transit server events: about the migration they name.
    let mut about = about_migration(event, view)?;
    if let Some(Fact::Loan {
        server_id: Some(server_id),
        ..
    }) = view.get(&loan_key(&event.aggregate_id))
        && matches!(event.event, Event::Loan(_))
    {
        about.server_id = server_id.clone();
    }
    Ok(Some(Messages { about, values, to }))
}

#[cfg(test)]
mod tests;
