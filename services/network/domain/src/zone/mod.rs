//! One domain's DNS (aggregate `dns_zone`, id [`ferry_events::dns_zone_id`]): the
//! zone the provider's DNS serves for a domain on its DNS, and the advice given for a
//! domain whose DNS is elsewhere.
//!
//! ```text
//! (none) → published ⇄ (switched, TTL lowered/restored) → withdrawn → published …
//! ```
//!
//! Every event carries the records as they are after it, so the DNS server serves
//! the last record set of each zone, with the zone's event count as SOA serial.
//! Commands that would change nothing cause no event: reactions redelivered, or two
//! causes of one fact, are harmless.
//!
//! Emits every event of [`ferry_events::dns_zone`].

#[cfg(test)]
mod tests;

use crate::records::{self, ServerAddresses};
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{
    AggregateType, DnsRecord, DnsRecordsReverted, DnsRecordsSwitched, DnsTtlLowered,
    DnsTtlRestored, DnsZoneEvent, DnsZonePublished, DnsZoneWithdrawn, Event,
    MxRecordRemovalAdvised,
};
use uuid::Uuid;

/// The decider of the `dns_zone` aggregate.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsZoneDecider;

/// One domain's DNS, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsZone {
    /// The zone served, while the provider's DNS serves it.
    pub served: Option<ServedZone>,
    /// The migration that lowered the address TTL, and to what.
    pub lowered: Option<(Uuid, u32)>,
    /// The MX record advised removed at another DNS provider, once advised.
    pub advised: Option<DnsRecord>,
}

/// A zone the provider's DNS serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedZone {
    /// The account the domain belongs to.
    pub account_id: String,
    /// The server its address records point at.
    pub server_id: String,
    /// Its records (but SOA and NS).
    pub records: Vec<DnsRecord>,
}

/// What can be asked of a domain's DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsZoneCommand {
    /// Serve the zone with these records (built at the TTL of outside migrations:
    /// lowered here while a migration has it lowered).
    Publish {
        /// The domain.
        domain: String,
        /// The account it belongs to.
        account_id: String,
        /// The server the records point at.
        server_id: String,
        /// The records.
        records: Vec<DnsRecord>,
    },
    /// Point the address records at another server: a cutover, or a relocation back
    /// (`revert`: a rollback to the server they pointed at before).
    Switch {
        /// The domain.
        domain: String,
        /// The server now serving the account.
        to_server_id: String,
        /// Its name and addresses.
        to: SwitchTarget,
        /// Whether this undoes the switch before (a rollback).
        revert: bool,
    },
    /// Lower the address records' TTL for a migration.
    LowerTtl {
        /// The domain.
        domain: String,
        /// The migration.
        migration_id: Uuid,
        /// The lowered TTL, in seconds.
        ttl_secs: u32,
    },
    /// Give the address records their TTL back once the migration is over.
    RestoreTtl {
        /// The domain.
        domain: String,
        /// The migration that lowered it.
        migration_id: Uuid,
        /// The TTL outside migrations, in seconds.
        ttl_secs: u32,
    },
    /// Tell the customer which MX record to delete at their DNS provider.
    AdviseMxRemoval {
        /// The domain.
        domain: String,
        /// The account it belongs to.
        account_id: String,
        /// The record to delete.
        record: DnsRecord,
        /// The records to keep.
        keep: Vec<DnsRecord>,
    },
    /// Stop serving the zone.
    Withdraw {
        /// The domain.
        domain: String,
        /// Why.
        reason: String,
    },
}

/// The server a switch points the records at (owned: commands outlive the view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchTarget {
    /// Its host name.
    pub name: String,
    /// Its IPv4 addresses.
    pub ipv4: Vec<String>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<String>,
}

impl SwitchTarget {
    fn addresses(&self) -> ServerAddresses<'_> {
        ServerAddresses {
            name: &self.name,
            ipv4: &self.ipv4,
            ipv6: &self.ipv6,
        }
    }
}

/// Why a command to a domain's DNS is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsZoneRejection {
    /// The zone is not served: nothing to switch.
    #[error("the provider's DNS does not serve {0}")]
    NotServed(String),
    /// A switch to a server without any address.
    #[error("server {0} has no address to point {1} at")]
    NoAddress(String, String),
}

impl Refusal for DnsZoneRejection {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotServed(_) => RefusalKind::Conflict,
            Self::NoAddress(..) => RefusalKind::Invalid,
        }
    }
}

impl Decider for DnsZoneDecider {
    type State = DnsZone;
    type Command = DnsZoneCommand;
    type Event = DnsZoneEvent;
    type Rejection = DnsZoneRejection;
    const AGGREGATE: AggregateType = AggregateType::DnsZone;

    fn decide(
        state: &DnsZone,
        command: &DnsZoneCommand,
    ) -> Result<Vec<DnsZoneEvent>, DnsZoneRejection> {
        match command {
            DnsZoneCommand::Publish {
                domain,
                account_id,
                server_id,
                records,
            } => Ok(publish(state, domain, account_id, server_id, records)),
            DnsZoneCommand::Switch {
                domain,
                to_server_id,
                to,
                revert,
            } => switch(state, domain, to_server_id, to, *revert),
            DnsZoneCommand::LowerTtl {
                domain,
                migration_id,
                ttl_secs,
            } => Ok(lower(state, domain, *migration_id, *ttl_secs)),
            DnsZoneCommand::RestoreTtl {
                domain,
                migration_id,
                ttl_secs,
            } => Ok(restore(state, domain, *migration_id, *ttl_secs)),
            DnsZoneCommand::AdviseMxRemoval {
                domain,
                account_id,
                record,
                keep,
            } => Ok(if state.advised.as_ref() == Some(record) {
                vec![]
            } else {
                vec![DnsZoneEvent::MxRecordRemovalAdvised(
                    MxRecordRemovalAdvised {
                        domain: domain.clone(),
                        account_id: account_id.clone(),
                        record: record.clone(),
                        keep: keep.clone(),
                    },
                )]
            }),
            DnsZoneCommand::Withdraw { domain, reason } => Ok(match state.served {
                None => vec![],
                Some(_) => vec![DnsZoneEvent::DnsZoneWithdrawn(DnsZoneWithdrawn {
                    domain: domain.clone(),
                    reason: reason.clone(),
                })],
            }),
        }
    }

    fn evolve(mut state: DnsZone, event: &DnsZoneEvent) -> DnsZone {
        match event {
            DnsZoneEvent::DnsZonePublished(e) => {
                state.served = Some(ServedZone {
                    account_id: e.account_id.clone(),
                    server_id: e.server_id.clone(),
                    records: e.records.clone(),
                });
            }
            DnsZoneEvent::DnsRecordsSwitched(e) => {
                state.served = Some(ServedZone {
                    account_id: e.account_id.clone(),
                    server_id: e.to_server_id.clone(),
                    records: e.records.clone(),
                });
            }
            DnsZoneEvent::DnsRecordsReverted(e) => {
                state.served = Some(ServedZone {
                    account_id: e.account_id.clone(),
                    server_id: e.to_server_id.clone(),
                    records: e.records.clone(),
                });
            }
            DnsZoneEvent::DnsTtlLowered(e) => {
                state.lowered = Some((e.migration_id, e.ttl_secs));
                if let Some(served) = &mut state.served {
                    served.records = e.records.clone();
                }
            }
            DnsZoneEvent::DnsTtlRestored(e) => {
                state.lowered = None;
                if let Some(served) = &mut state.served {
                    served.records = e.records.clone();
                }
            }
            DnsZoneEvent::MxRecordRemovalAdvised(e) => state.advised = Some(e.record.clone()),
            DnsZoneEvent::DnsZoneWithdrawn(_) => state.served = None,
        }
        state
    }

    fn select(event: &Event) -> Option<&DnsZoneEvent> {
        match event {
            Event::DnsZone(e) => Some(e),
            _ => None,
        }
    }
}

fn publish(
    state: &DnsZone,
    domain: &str,
    account_id: &str,
    server_id: &str,
    records: &[DnsRecord],
) -> Vec<DnsZoneEvent> {
    let records = match state.lowered {
        Some((_, ttl)) => records::with_address_ttl(records, ttl),
        None => records.to_vec(),
    };
    let unchanged = state.served.as_ref().is_some_and(|s| {
        s.account_id == account_id && s.server_id == server_id && s.records == records
    });
    if unchanged {
        return vec![];
    }
    vec![DnsZoneEvent::DnsZonePublished(DnsZonePublished {
        domain: domain.to_owned(),
        account_id: account_id.to_owned(),
        server_id: server_id.to_owned(),
        records,
    })]
}

fn switch(
    state: &DnsZone,
    domain: &str,
    to_server_id: &str,
    to: &SwitchTarget,
    revert: bool,
) -> Result<Vec<DnsZoneEvent>, DnsZoneRejection> {
    let served = state
        .served
        .as_ref()
        .ok_or_else(|| DnsZoneRejection::NotServed(domain.to_owned()))?;
    if served.server_id == to_server_id {
        return Ok(vec![]);
    }
    if to.ipv4.is_empty() && to.ipv6.is_empty() {
        return Err(DnsZoneRejection::NoAddress(
            to_server_id.to_owned(),
            domain.to_owned(),
        ));
    }
    let records = records::point_at(&served.records, domain, &to.addresses());
    let (domain, account_id) = (domain.to_owned(), served.account_id.clone());
    let (from_server_id, to_server_id) = (served.server_id.clone(), to_server_id.to_owned());
    Ok(vec![if revert {
        DnsZoneEvent::DnsRecordsReverted(DnsRecordsReverted {
            domain,
            account_id,
            records,
            from_server_id,
            to_server_id,
        })
    } else {
        DnsZoneEvent::DnsRecordsSwitched(DnsRecordsSwitched {
            domain,
            account_id,
            records,
            from_server_id,
            to_server_id,
        })
    }])
}

fn lower(state: &DnsZone, domain: &str, migration_id: Uuid, ttl: u32) -> Vec<DnsZoneEvent> {
    match &state.served {
        Some(served) if state.lowered != Some((migration_id, ttl)) => {
            vec![DnsZoneEvent::DnsTtlLowered(DnsTtlLowered {
                domain: domain.to_owned(),
                migration_id,
                ttl_secs: ttl,
                records: records::with_address_ttl(&served.records, ttl),
            })]
        }
        _ => vec![],
    }
}

fn restore(state: &DnsZone, domain: &str, migration_id: Uuid, ttl: u32) -> Vec<DnsZoneEvent> {
    match (&state.served, state.lowered) {
        (Some(served), Some((lowered_by, _))) if lowered_by == migration_id => {
            vec![DnsZoneEvent::DnsTtlRestored(DnsTtlRestored {
                domain: domain.to_owned(),
                migration_id,
                records: records::with_address_ttl(&served.records, ttl),
            })]
        }
        _ => vec![],
    }
}
