//! Where one account's traffic goes (aggregate `account_traffic`, id: the account
//! id).
//!
//! A switch completes a cutover, a rollback or a relocation whose copy the data
//! mover verified: the account's domains on the provider's DNS were switched just
//! before (zone by zone), and here the client server's transparent redirect follows
//! for its domains on other DNS providers, which still point at the client server:
//! enabled while the account lives elsewhere, removed once it is home again. Then
//! `AccountTrafficSwitched`, naming the transfer, which tells the data mover it may
//! retire the source and the accounts service that the account moved.
//!
//! Before that, while a cutover freezes the account, the redirect holds its new
//! requests and waits for those already forwarded: `AccountTrafficHeld`, naming the
//! transfer, tells the data mover it may freeze the source without failing one.
//!
//! Emits every event of [`ferry_events::account_traffic`].

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{
    AccountTrafficEvent, AccountTrafficHeld, AccountTrafficSwitched, AggregateType, Event,
    RedirectEnabled, RedirectRemoved, TrafficSwitchMethod,
};
use uuid::Uuid;

/// The decider of the `account_traffic` aggregate.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountTrafficDecider;

/// Where an account's traffic goes, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountTraffic {
    /// The server its traffic was last switched to (`None`: never switched, it is
    /// served by its own server).
    pub at_server_id: Option<String>,
    /// The server forwarding its traffic, while a redirect is on.
    pub redirect: Option<RedirectEnabled>,
    /// The transfers whose switch was recorded.
    pub switched_for: Vec<Uuid>,
    /// The transfers whose hold was recorded.
    pub held_for: Vec<Uuid>,
}

/// A command to an account's traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficCommand {
    /// Send it where the account now lives.
    Switch(SwitchTraffic),
    /// Record that its requests are held for a cutover's freeze.
    Hold(HoldTraffic),
}

/// Record that the redirect holds an account's requests for a transfer's freeze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldTraffic {
    /// The transfer freezing the account.
    pub transfer_id: Uuid,
    /// When the hold took effect (the redirect's clock).
    pub at: DateTime<Utc>,
    /// Requests being forwarded when the hold began.
    pub in_flight: u64,
    /// Of those, the ones cut at the bound.
    pub cut: u64,
}

/// Switch an account's traffic to the server that now holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchTraffic {
    /// The verified transfer this switch completes.
    pub transfer_id: Uuid,
    /// The account's own (client) server, whose IPs its domains on other DNS
    /// providers point at.
    pub home_server_id: String,
    /// The server now holding the account.
    pub to_server_id: String,
    /// Whether some of its domains are on other DNS providers (they need the redirect).
    pub has_external_dns: bool,
    /// When the switch takes effect (the edge's clock).
    pub at: DateTime<Utc>,
}

/// Why a traffic switch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrafficRejection {
    /// A switch must name both servers.
    #[error("a traffic switch needs the account's server and its destination")]
    MissingServer,
}

impl Refusal for TrafficRejection {
    fn kind(&self) -> RefusalKind {
        RefusalKind::Invalid
    }
}

impl Decider for AccountTrafficDecider {
    type State = AccountTraffic;
    type Command = TrafficCommand;
    type Event = AccountTrafficEvent;
    type Rejection = TrafficRejection;
    const AGGREGATE: AggregateType = AggregateType::AccountTraffic;

    fn decide(
        state: &AccountTraffic,
        command: &TrafficCommand,
    ) -> Result<Vec<AccountTrafficEvent>, TrafficRejection> {
        match command {
            TrafficCommand::Switch(c) => switch(state, c),
            TrafficCommand::Hold(c) if state.held_for.contains(&c.transfer_id) => Ok(vec![]),
            TrafficCommand::Hold(c) => Ok(vec![AccountTrafficEvent::AccountTrafficHeld(
                AccountTrafficHeld {
                    transfer_id: c.transfer_id,
                    held_at: c.at,
                    in_flight: c.in_flight,
                    cut: c.cut,
                },
            )]),
        }
    }

    fn evolve(mut state: AccountTraffic, event: &AccountTrafficEvent) -> AccountTraffic {
        match event {
            AccountTrafficEvent::RedirectEnabled(e) => state.redirect = Some(e.clone()),
            AccountTrafficEvent::RedirectRemoved(_) => state.redirect = None,
            AccountTrafficEvent::AccountTrafficSwitched(e) => {
                state.at_server_id = Some(e.to_server_id.clone());
                state.switched_for.extend(e.transfer_id);
            }
            AccountTrafficEvent::AccountTrafficHeld(e) => state.held_for.push(e.transfer_id),
        }
        state
    }

    fn select(event: &Event) -> Option<&AccountTrafficEvent> {
        match event {
            Event::AccountTraffic(e) => Some(e),
            _ => None,
        }
    }
}

/// A switch, once per transfer: the redirect set as the destination needs, then
/// the switch recorded.
fn switch(
    state: &AccountTraffic,
    c: &SwitchTraffic,
) -> Result<Vec<AccountTrafficEvent>, TrafficRejection> {
    if c.home_server_id.is_empty() || c.to_server_id.is_empty() {
        return Err(TrafficRejection::MissingServer);
    }
    if state.switched_for.contains(&c.transfer_id) {
        return Ok(vec![]);
    }
    let mut events = Vec::new();
    let away = c.to_server_id != c.home_server_id;
    let wanted = (away && c.has_external_dns).then(|| RedirectEnabled {
        from_server_id: c.home_server_id.clone(),
        to_server_id: c.to_server_id.clone(),
    });
    if state.redirect != wanted {
        if let Some(on) = &state.redirect
            && wanted.is_none()
        {
            events.push(AccountTrafficEvent::RedirectRemoved(RedirectRemoved {
                from_server_id: on.from_server_id.clone(),
            }));
        }
        if let Some(wanted) = wanted {
            events.push(AccountTrafficEvent::RedirectEnabled(wanted));
        }
    }
    let method = if c.has_external_dns {
        TrafficSwitchMethod::TransparentRedirect
    } else {
        TrafficSwitchMethod::ProviderDns
    };
    events.push(AccountTrafficEvent::AccountTrafficSwitched(
        AccountTrafficSwitched {
            to_server_id: c.to_server_id.clone(),
            method,
            switched_at: c.at,
            transfer_id: Some(c.transfer_id),
        },
    ));
    Ok(events)
}
