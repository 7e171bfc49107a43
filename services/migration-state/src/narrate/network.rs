//! Lines of the network, billing and notification services' events.

use ferry_events::{
    AccountTrafficEvent, ApiTokenEvent, DnsZoneEvent, IpRouteEvent, LoanEvent, Money,
    NotificationEvent, TrafficSwitchMethod, UserGrantsEvent,
};

use super::{Narration, count, duration};

fn money(amount: &Money) -> String {
    amount.to_string()
}

pub(super) fn dns(event: &DnsZoneEvent) -> Narration {
    Narration::says(match event {
        DnsZoneEvent::DnsRecordsSwitched(e) => format!(
            "DNS of {} ({}) switched from {} to {}",
            e.domain, e.account_id, e.from_server_id, e.to_server_id
        ),
        DnsZoneEvent::DnsRecordsReverted(e) => format!(
            "DNS of {} ({}) reverted from {} to {}",
            e.domain, e.account_id, e.from_server_id, e.to_server_id
        ),
        DnsZoneEvent::MxRecordRemovalAdvised(e) => format!(
            "advised removing the MX record {} of {} ({})",
            e.record.value, e.domain, e.account_id
        ),
        DnsZoneEvent::DnsZonePublished(e) => format!(
            "DNS zone of {} ({}) published, pointing at {}: {}",
            e.domain,
            e.account_id,
            e.server_id,
            count(e.records.len(), "record")
        ),
        DnsZoneEvent::DnsZoneWithdrawn(e) => {
            format!("DNS zone of {} withdrawn: {}", e.domain, e.reason)
        }
        DnsZoneEvent::DnsTtlLowered(e) => format!(
            "TTL of the address records of {} lowered to {} s for the migration",
            e.domain, e.ttl_secs
        ),
        DnsZoneEvent::DnsTtlRestored(e) => {
            format!("TTL of the address records of {} restored", e.domain)
        }
    })
}

pub(super) fn traffic(account: &str, event: &AccountTrafficEvent) -> Narration {
    Narration::says(match event {
        AccountTrafficEvent::RedirectEnabled(e) => format!(
            "traffic of {account} redirected from {} to {}",
            e.from_server_id, e.to_server_id
        ),
        AccountTrafficEvent::RedirectRemoved(e) => {
            format!("redirect of {account} from {} removed", e.from_server_id)
        }
        AccountTrafficEvent::AccountTrafficSwitched(e) => format!(
            "traffic of {account} switched to {} ({})",
            e.to_server_id,
            match e.method {
                TrafficSwitchMethod::ProviderDns => "provider DNS",
                TrafficSwitchMethod::TransparentRedirect => "transparent redirect",
            }
        ),
        AccountTrafficEvent::AccountTrafficHeld(e) if e.cut > 0 => format!(
            "requests of {account} held for the freeze; {} of the {} in flight were cut",
            e.cut, e.in_flight
        ),
        AccountTrafficEvent::AccountTrafficHeld(e) => format!(
            "requests of {account} held for the freeze ({} in flight finished first)",
            e.in_flight
        ),
    })
}

pub(super) fn ip_route(server: &str, event: &IpRouteEvent) -> Narration {
    match event {
        IpRouteEvent::IpRerouteStarted(e) => Narration::says(format!(
            "rerouting {} of {server} to {}",
            count(e.ips.len(), "IP"),
            e.to_server_id
        )),
        IpRouteEvent::IpsRerouted(e) => Narration::with_downtime(
            format!(
                "{} of {server} rerouted to {} ({} unavailable)",
                count(e.ips.len(), "IP"),
                e.to_server_id,
                duration(e.unavailability_ms)
            ),
            Some(e.unavailability_ms),
        ),
        IpRouteEvent::IpRoutesRestored(e) => Narration::with_downtime(
            format!(
                "{} of {server} routed home again ({} unavailable)",
                count(e.ips.len(), "IP"),
                duration(e.unavailability_ms)
            ),
            Some(e.unavailability_ms),
        ),
    }
}

pub(super) fn loan(event: &LoanEvent) -> Narration {
    Narration::says(match event {
        LoanEvent::LoanOpened(e) => format!(
            "loan of {} opened: {} free, then {} a month, pro rata per day",
            e.transit_server_id,
            count(e.free_period_days as usize, "day"),
            money(&e.monthly_price)
        ),
        LoanEvent::LoanFreePeriodChanged(e) => format!(
            "free period of the loan changed from {} to {}: {}",
            count(e.previous_free_period_days as usize, "day"),
            count(e.free_period_days as usize, "day"),
            e.reason
        ),
        LoanEvent::LoanFreePeriodEnding(e) => format!(
            "free period ends in {} ({}); the first day then costs {}",
            count(e.days_left as usize, "day"),
            e.ends_at.format("%Y-%m-%d %H:%M UTC"),
            money(&e.first_day_price)
        ),
        LoanEvent::LoanDayCharged(e) => {
            format!("loan day {} charged {}", e.day, money(&e.amount))
        }
        LoanEvent::LoanClosed(e) => format!(
            "loan closed after {}, {} billable, {} charged",
            count(e.days_used as usize, "day"),
            e.billable_days,
            money(&e.total)
        ),
    })
}

pub(super) fn notification(event: &NotificationEvent) -> Narration {
    Narration::says(match event {
        NotificationEvent::NotificationQueued(e) => {
            format!("notification to {} queued: {}", e.recipient, e.subject)
        }
        NotificationEvent::NotificationSending(e) => {
            format!("notification being sent (attempt {})", e.attempt)
        }
        NotificationEvent::NotificationRequeued(e) => {
            format!("notification put back in the outbox: {}", e.reason)
        }
        NotificationEvent::NotificationSent(e) => {
            format!("notification sent (attempt {})", e.attempt)
        }
        NotificationEvent::NotificationFailed(e) => format!(
            "notification failed (attempt {}): {}{}",
            e.attempt,
            e.reason,
            if e.will_retry { "; will retry" } else { "" }
        ),
    })
}

/// An API token's events are nobody's server's, but an audit of the whole log tells
/// them too.
pub(super) fn api_token(id: &str, event: &ApiTokenEvent) -> Narration {
    Narration::says(match event {
        ApiTokenEvent::ApiTokenIssued(e) => format!(
            "API token {id} issued to {} ({}), until {}",
            e.holder,
            e.label,
            e.expires_at.format("%Y-%m-%d %H:%M UTC")
        ),
        ApiTokenEvent::ApiTokenRevoked(e) => format!("API token {id} revoked: {}", e.reason),
    })
}

/// A user's grants are a customer's decision about its users; an audit of the whole
/// log tells them too.
pub(super) fn user_grants(event: &UserGrantsEvent) -> Narration {
    Narration::says(match event {
        UserGrantsEvent::MigrationRightsGranted(e) => format!(
            "user {}/{} granted migration rights on {}",
            e.customer_id, e.login, e.scope
        ),
        UserGrantsEvent::MigrationRightsRevoked(e) => format!(
            "user {}/{} no longer holds migration rights on {}",
            e.customer_id, e.login, e.scope
        ),
    })
}
