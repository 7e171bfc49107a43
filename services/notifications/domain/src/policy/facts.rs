//! The notifications view: the outside facts the messages need (see the parent
//! module for its keys).

use ferry_core::policy::View;
use ferry_events::{
    AggregateType, Envelope, Event, LoanEvent, MigrationEvent, ServerEvent, TransitServerEvent,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A client server, as its messages need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFact {
    /// Its host name.
    pub name: String,
    /// The customer's contact e-mail.
    pub contact_email: String,
    /// The customer's locale, e.g. `fr` or `en`.
    pub locale: String,
    /// Its accounts' names by id.
    pub accounts: BTreeMap<String, String>,
}

/// One entry of the view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fact")]
pub enum Fact {
    /// A client server (`server/<id>`).
    Server(ServerFact),
    /// The server an account is on (`account/<id>`).
    Account {
        /// The server.
        server_id: String,
    },
    /// A migration (`migration/<id>`).
    Migration {
        /// Its client server.
        server_id: String,
        /// The version it migrates to.
        target_version: String,
    },
    /// A transit loan (`loan/<migration id>`).
    Loan {
        /// Its client server, once opened.
        server_id: Option<String>,
        /// The event of its first day charged.
        first_charge: Option<Uuid>,
    },
}

/// The notifications view.
#[derive(Debug)]
pub struct NotificationsView;

impl View for NotificationsView {
    const NAME: &'static str = "notifications_view";
    const AGGREGATES: &'static [AggregateType] = &[
        AggregateType::Server,
        AggregateType::Migration,
        AggregateType::TransitServer,
        AggregateType::DnsZone,
        AggregateType::Loan,
    ];
    type Entry = Fact;

    fn keys(event: &Envelope) -> Vec<String> {
        let id = &event.aggregate_id;
        match &event.event {
            Event::Server(
                ServerEvent::ServerRegistered(_)
                | ServerEvent::ServerDetailsChanged(_)
                | ServerEvent::AccountChanged(_),
            ) => vec![format!("server/{id}")],
            Event::Server(ServerEvent::AccountAdded(e)) => vec![
                format!("server/{id}"),
                format!("account/{}", e.account.account_id),
            ],
            Event::Server(ServerEvent::AccountRemoved(e)) => vec![format!("server/{id}"), {
                format!("account/{}", e.account_id)
            }],
            Event::Migration(MigrationEvent::MigrationOpened(_)) => vec![format!("migration/{id}")],
            Event::Loan(LoanEvent::LoanOpened(_) | LoanEvent::LoanDayCharged(_)) => {
                vec![format!("loan/{id}")]
            }
            _ => Vec::new(),
        }
    }

    fn evolve(key: &str, entry: Option<Fact>, event: &Envelope) -> Option<Fact> {
        match (&event.event, entry) {
            (Event::Server(ServerEvent::ServerRegistered(e)), before) => {
                let accounts = match before {
                    Some(Fact::Server(s)) => s.accounts,
                    _ => BTreeMap::new(),
                };
                Some(Fact::Server(ServerFact {
                    name: e.name.clone(),
                    contact_email: e.contact_email.clone(),
                    locale: e.locale.clone(),
                    accounts,
                }))
            }
            (Event::Server(ServerEvent::ServerDetailsChanged(e)), Some(Fact::Server(s))) => {
                Some(Fact::Server(ServerFact {
                    name: e.name.clone(),
                    contact_email: e.contact_email.clone(),
                    locale: e.locale.clone(),
                    accounts: s.accounts,
                }))
            }
            (
                Event::Server(ServerEvent::AccountAdded(ferry_events::AccountAdded { account }))
                | Event::Server(ServerEvent::AccountChanged(ferry_events::AccountChanged {
                    account,
                })),
                before,
            ) => {
                if key.starts_with("account/") {
                    return Some(Fact::Account {
                        server_id: event.aggregate_id.clone(),
                    });
                }
                match before {
                    Some(Fact::Server(mut s)) => {
                        s.accounts
                            .insert(account.account_id.clone(), account.name.clone());
                        Some(Fact::Server(s))
                    }
                    other => other,
                }
            }
            (Event::Server(ServerEvent::AccountRemoved(e)), before) => {
                if key.starts_with("account/") {
                    return None;
                }
                match before {
                    Some(Fact::Server(mut s)) => {
                        s.accounts.remove(&e.account_id);
                        Some(Fact::Server(s))
                    }
                    other => other,
                }
            }
            (Event::Migration(MigrationEvent::MigrationOpened(e)), _) => Some(Fact::Migration {
                server_id: e.server_id.clone(),
                target_version: e.target_version.clone(),
            }),
            (Event::Loan(LoanEvent::LoanOpened(e)), before) => {
                let first_charge = match before {
                    Some(Fact::Loan { first_charge, .. }) => first_charge,
                    _ => None,
                };
                Some(Fact::Loan {
                    server_id: Some(e.client_server_id.clone()),
                    first_charge,
                })
            }
            (Event::Loan(LoanEvent::LoanDayCharged(_)), before) => match before {
                Some(Fact::Loan {
                    server_id,
                    first_charge,
                }) => Some(Fact::Loan {
                    server_id,
                    first_charge: first_charge.or(Some(event.event_id)),
                }),
                _ => Some(Fact::Loan {
                    server_id: None,
                    first_charge: Some(event.event_id),
                }),
            },
            (Event::TransitServer(TransitServerEvent::TransitInstallationFailed(_)), before) => {
                before
            }
            (_, before) => before,
        }
    }
}
