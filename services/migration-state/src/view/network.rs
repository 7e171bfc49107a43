//! What the network service did for a migration, as its customer and support see
//! it: the MX records to change at another DNS provider before the accounts move,
//! the zones whose TTL was lowered, each account's traffic switches, and the
//! rerouting of the client server's IPs during its reinstallation.
//!
//! Folded from the `dns_zone`, `account_traffic` and `ip_route` events the network
//! records as part of the migration (their correlation).

use chrono::{DateTime, Utc};
use ferry_events::{
    AccountTrafficEvent, DnsRecord, DnsZoneEvent, IpRouteEvent, TrafficSwitchMethod,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::At;

/// The network's part of a migration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MigrationNetwork {
    /// For each domain on another DNS provider whose mail the provider receives:
    /// the record the customer must delete there, and those to keep.
    pub mx_advice: Vec<MxAdvice>,
    /// The zones whose address TTL is lowered for the migration.
    pub ttl_lowered: Vec<LoweredTtl>,
    /// Every traffic switch of the migration's accounts, in order.
    pub switches: Vec<TrafficSwitch>,
    /// The rerouting of the client server's IPs during its reinstallation.
    pub ip_route: Option<IpRouteView>,
}

/// A record to change at another DNS provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MxAdvice {
    /// The domain.
    pub domain: String,
    /// Its account.
    pub account_id: String,
    /// The record to delete.
    #[schema(value_type = Object)]
    pub delete: DnsRecord,
    /// The records to keep.
    #[schema(value_type = Vec<Object>)]
    pub keep: Vec<DnsRecord>,
    /// When it was advised.
    pub advised_at: DateTime<Utc>,
}

/// A zone whose address TTL is lowered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoweredTtl {
    /// The domain.
    pub domain: String,
    /// The TTL of its address records, in seconds.
    pub ttl_secs: u32,
    /// Since when.
    pub lowered_at: DateTime<Utc>,
    /// When it was restored.
    pub restored_at: Option<DateTime<Utc>>,
}

/// An account's traffic switched to a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrafficSwitch {
    /// The account.
    pub account_id: String,
    /// The server now serving it.
    pub to_server_id: String,
    /// `provider_dns` or `transparent_redirect`.
    #[schema(value_type = String)]
    pub method: TrafficSwitchMethod,
    /// When it took effect.
    pub switched_at: DateTime<Utc>,
    /// The cutover, rollback or relocation it completed.
    pub transfer_id: Option<Uuid>,
}

/// Where the client server's IPs lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IpRouteView {
    /// The IPs.
    pub ips: Vec<String>,
    /// The transit server receiving them.
    pub to_server_id: String,
    /// When the reroute started.
    pub started_at: DateTime<Utc>,
    /// When the IPs reached the transit server.
    pub rerouted_at: Option<DateTime<Utc>>,
    /// How long they answered nowhere then, in milliseconds.
    pub reroute_unavailability_ms: Option<u64>,
    /// When they reached their own server again.
    pub restored_at: Option<DateTime<Utc>>,
    /// How long they answered nowhere then, in milliseconds.
    pub restore_unavailability_ms: Option<u64>,
}

impl MigrationNetwork {
    /// Folds a `dns_zone` event of the migration.
    pub fn apply_dns(&mut self, event: &DnsZoneEvent, at: At) {
        match event {
            DnsZoneEvent::MxRecordRemovalAdvised(e) => {
                self.mx_advice.retain(|a| a.domain != e.domain);
                self.mx_advice.push(MxAdvice {
                    domain: e.domain.clone(),
                    account_id: e.account_id.clone(),
                    delete: e.record.clone(),
                    keep: e.keep.clone(),
                    advised_at: at.occurred_at,
                });
            }
            DnsZoneEvent::DnsTtlLowered(e) => {
                self.ttl_lowered.retain(|l| l.domain != e.domain);
                self.ttl_lowered.push(LoweredTtl {
                    domain: e.domain.clone(),
                    ttl_secs: e.ttl_secs,
                    lowered_at: at.occurred_at,
                    restored_at: None,
                });
            }
            DnsZoneEvent::DnsTtlRestored(e) => {
                if let Some(lowered) = self.ttl_lowered.iter_mut().find(|l| l.domain == e.domain) {
                    lowered.restored_at = Some(at.occurred_at);
                }
            }
            _ => {}
        }
    }

    /// Folds an `account_traffic` event of the migration's account `account_id`.
    pub fn apply_traffic(&mut self, account_id: &str, event: &AccountTrafficEvent) {
        if let AccountTrafficEvent::AccountTrafficSwitched(e) = event {
            self.switches.push(TrafficSwitch {
                account_id: account_id.to_owned(),
                to_server_id: e.to_server_id.clone(),
                method: e.method,
                switched_at: e.switched_at,
                transfer_id: e.transfer_id,
            });
        }
    }

    /// Folds an `ip_route` event of the migration's client server.
    pub fn apply_route(&mut self, event: &IpRouteEvent, at: At) {
        match event {
            IpRouteEvent::IpRerouteStarted(e) => {
                self.ip_route = Some(IpRouteView {
                    ips: e.ips.clone(),
                    to_server_id: e.to_server_id.clone(),
                    started_at: at.occurred_at,
                    rerouted_at: None,
                    reroute_unavailability_ms: None,
                    restored_at: None,
                    restore_unavailability_ms: None,
                });
            }
            IpRouteEvent::IpsRerouted(e) => {
                if let Some(route) = &mut self.ip_route {
                    route.rerouted_at = Some(at.occurred_at);
                    route.reroute_unavailability_ms = Some(e.unavailability_ms);
                }
            }
            IpRouteEvent::IpRoutesRestored(e) => {
                if let Some(route) = &mut self.ip_route {
                    route.restored_at = Some(at.occurred_at);
                    route.restore_unavailability_ms = Some(e.unavailability_ms);
                }
            }
        }
    }
}
