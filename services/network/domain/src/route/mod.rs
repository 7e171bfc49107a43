//! The routing of a client server's IPs (aggregate `ip_route`, id: the client
//! server id): rerouted to the transit server while the client server is
//! reinstalled, back once it is done.
//!
//! ```text
//! home → reroute started → rerouted → restored (home)
//! ```
//!
//! The reroute is recorded as started before the routes change, so that a crash in
//! between finds the change to apply (and applying it twice is harmless); the
//! measured unavailability is recorded once applied.
//!
//! Emits every event of [`ferry_events::ip_route`].

#[cfg(test)]
mod tests;

use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{
    AggregateType, Event, IpRerouteStarted, IpRouteEvent, IpRoutesRestored, IpsRerouted,
};

/// The decider of the `ip_route` aggregate.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpRouteDecider;

/// Where a client server's IPs lead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum IpRoute {
    /// To the server itself.
    #[default]
    Home,
    /// Being rerouted to another server.
    Rerouting {
        /// The IPs.
        ips: Vec<String>,
        /// The server receiving them.
        to_server_id: String,
    },
    /// Rerouted to another server.
    Rerouted {
        /// The IPs.
        ips: Vec<String>,
        /// The server receiving them.
        to_server_id: String,
    },
}

/// What can be asked of a client server's IP routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpRouteCommand {
    /// Start rerouting these IPs to another server.
    Start {
        /// The IPs (every address of the client server).
        ips: Vec<String>,
        /// The transit server receiving them.
        to_server_id: String,
    },
    /// The routes were changed; this long the IPs answered nowhere.
    RecordRerouted {
        /// Measured unavailability, in milliseconds.
        unavailability_ms: u64,
    },
    /// The routes lead home again; this long the IPs answered nowhere.
    RecordRestored {
        /// Measured unavailability, in milliseconds.
        unavailability_ms: u64,
    },
}

/// Why a routing command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpRouteRejection {
    /// A server without any IP has nothing to reroute.
    #[error("the server has no IP to reroute")]
    NoIps,
    /// Rerouted to one server, asked to reroute to another.
    #[error("the IPs are already rerouted to {0}")]
    ElsewhereAlready(String),
    /// A result recorded for a reroute that never started.
    #[error("no reroute of these IPs was started")]
    NotRerouting,
}

impl Refusal for IpRouteRejection {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NoIps => RefusalKind::Invalid,
            Self::ElsewhereAlready(_) | Self::NotRerouting => RefusalKind::Conflict,
        }
    }
}

impl Decider for IpRouteDecider {
    type State = IpRoute;
    type Command = IpRouteCommand;
    type Event = IpRouteEvent;
    type Rejection = IpRouteRejection;
    const AGGREGATE: AggregateType = AggregateType::IpRoute;

    fn decide(
        state: &IpRoute,
        command: &IpRouteCommand,
    ) -> Result<Vec<IpRouteEvent>, IpRouteRejection> {
        match (command, state) {
            (IpRouteCommand::Start { ips, .. }, _) if ips.is_empty() => {
                Err(IpRouteRejection::NoIps)
            }
            (IpRouteCommand::Start { ips, to_server_id }, IpRoute::Home) => {
                Ok(vec![IpRouteEvent::IpRerouteStarted(IpRerouteStarted {
                    ips: ips.clone(),
                    to_server_id: to_server_id.clone(),
                })])
            }
            (
                IpRouteCommand::Start { to_server_id, .. },
                IpRoute::Rerouting {
                    to_server_id: to, ..
                }
                | IpRoute::Rerouted {
                    to_server_id: to, ..
                },
            ) => {
                if to == to_server_id {
                    Ok(vec![])
                } else {
                    Err(IpRouteRejection::ElsewhereAlready(to.clone()))
                }
            }
            (
                IpRouteCommand::RecordRerouted { unavailability_ms },
                IpRoute::Rerouting { ips, to_server_id },
            ) => Ok(vec![IpRouteEvent::IpsRerouted(IpsRerouted {
                ips: ips.clone(),
                to_server_id: to_server_id.clone(),
                unavailability_ms: *unavailability_ms,
            })]),
            (IpRouteCommand::RecordRerouted { .. }, IpRoute::Rerouted { .. }) => Ok(vec![]),
            (IpRouteCommand::RecordRerouted { .. }, IpRoute::Home) => {
                Err(IpRouteRejection::NotRerouting)
            }
            (
                IpRouteCommand::RecordRestored { unavailability_ms },
                IpRoute::Rerouting { ips, .. } | IpRoute::Rerouted { ips, .. },
            ) => Ok(vec![IpRouteEvent::IpRoutesRestored(IpRoutesRestored {
                ips: ips.clone(),
                unavailability_ms: *unavailability_ms,
            })]),
            (IpRouteCommand::RecordRestored { .. }, IpRoute::Home) => Ok(vec![]),
        }
    }

    fn evolve(_state: IpRoute, event: &IpRouteEvent) -> IpRoute {
        match event {
            IpRouteEvent::IpRerouteStarted(e) => IpRoute::Rerouting {
                ips: e.ips.clone(),
                to_server_id: e.to_server_id.clone(),
            },
            IpRouteEvent::IpsRerouted(e) => IpRoute::Rerouted {
                ips: e.ips.clone(),
                to_server_id: e.to_server_id.clone(),
            },
            IpRouteEvent::IpRoutesRestored(_) => IpRoute::Home,
        }
    }

    fn select(event: &Event) -> Option<&IpRouteEvent> {
        match event {
            Event::IpRoute(e) => Some(e),
            _ => None,
        }
    }
}
