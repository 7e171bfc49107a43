//! [`Network`]: the network service's command side. One async method per aggregate
//! (load → decide → append through the [`CommandHandler`]).
//!
//! Emits, through the deciders, the `dns_zone`, `account_traffic` and `ip_route`
//! events; reads nothing else.

use crate::domain::route::{IpRoute, IpRouteCommand, IpRouteDecider, IpRouteRejection};
use crate::domain::traffic::{
    AccountTraffic, AccountTrafficDecider, TrafficCommand, TrafficRejection,
};
use crate::domain::zone::{DnsZone, DnsZoneCommand, DnsZoneDecider, DnsZoneRejection};
use ferry_events::{Actor, dns_zone_id};
use ferry_infra::command::{Command, CommandHandler, HandleError, Handled};
use ferry_infra::event_log::EventLog;
use uuid::Uuid;

/// Who gives a command, under which id, as part of which process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    /// The command id (idempotency: carried out once per aggregate).
    pub id: Uuid,
    /// The migration it belongs to.
    pub correlation_id: Uuid,
    /// Who asks.
    pub actor: Actor,
}

impl CommandMeta {
    /// A command of the network service itself, as part of `correlation_id`.
    pub fn system(id: Uuid, correlation_id: Uuid) -> Self {
        Self {
            id,
            correlation_id,
            actor: Actor::system("network"),
        }
    }

    fn command<C>(&self, aggregate_id: String, payload: C) -> Command<C> {
        Command {
            id: self.id,
            aggregate_id,
            correlation_id: self.correlation_id,
            actor: self.actor.clone(),
            payload,
        }
    }
}

/// Result of a command to a domain's DNS.
pub type ZoneResult = Result<Handled<DnsZone>, HandleError<DnsZoneRejection>>;
/// Result of a command to an account's traffic.
pub type TrafficResult = Result<Handled<AccountTraffic>, HandleError<TrafficRejection>>;
/// Result of a command to a server's IP routing.
pub type RouteResult = Result<Handled<IpRoute>, HandleError<IpRouteRejection>>;

/// The network service's command side. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Network {
    handler: CommandHandler,
}

impl Network {
    /// The network service writing to `log`.
    pub fn new(log: EventLog) -> Self {
        Self {
            handler: CommandHandler::new(log, 20),
        }
    }

    /// The event log it reads and writes.
    pub fn log(&self) -> &EventLog {
        self.handler.log()
    }

    /// A command to the DNS of the domain it names.
    pub async fn zone(&self, meta: &CommandMeta, command: DnsZoneCommand) -> ZoneResult {
        let domain = match &command {
            DnsZoneCommand::Publish { domain, .. }
            | DnsZoneCommand::Switch { domain, .. }
            | DnsZoneCommand::LowerTtl { domain, .. }
            | DnsZoneCommand::RestoreTtl { domain, .. }
            | DnsZoneCommand::AdviseMxRemoval { domain, .. }
            | DnsZoneCommand::Withdraw { domain, .. } => dns_zone_id(domain),
        };
        self.handler
            .handle::<DnsZoneDecider>(&meta.command(domain, command))
            .await
    }

    /// A command to an account's traffic (its switch, its hold).
    pub async fn traffic(
        &self,
        meta: &CommandMeta,
        account_id: &str,
        command: TrafficCommand,
    ) -> TrafficResult {
        self.handler
            .handle::<AccountTrafficDecider>(&meta.command(account_id.to_owned(), command))
            .await
    }

    /// A command to a client server's IP routing.
    pub async fn route(
        &self,
        meta: &CommandMeta,
        server_id: &str,
        command: IpRouteCommand,
    ) -> RouteResult {
        self.handler
            .handle::<IpRouteDecider>(&meta.command(server_id.to_owned(), command))
            .await
    }

    /// A client server's IP routing as it is.
    pub async fn routing(
        &self,
        server_id: &str,
    ) -> Result<IpRoute, ferry_infra::event_log::ReadError> {
        let reference = ferry_infra::event_log::AggregateRef::new(
            ferry_events::AggregateType::IpRoute,
            server_id,
        )
        .map_err(|e| ferry_infra::event_log::ReadError::Unavailable(e.to_string()))?;
        let loaded = self.log().load(&reference).await?;
        Ok(<IpRouteDecider as ferry_core::Decider>::fold(
            loaded.events.iter().map(|e| &e.envelope.event),
        ))
    }
}
