use super::*;
use ferry_core::RefusalKind;
use ferry_core::scenario::given;

fn ips() -> Vec<String> {
    vec!["203.0.113.42".into(), "2001:db8::42".into()]
}

fn start(to: &str) -> IpRouteCommand {
    IpRouteCommand::Start {
        ips: ips(),
        to_server_id: to.into(),
    }
}

fn started() -> IpRouteEvent {
    IpRouteEvent::IpRerouteStarted(IpRerouteStarted {
        ips: ips(),
        to_server_id: "tr-0007".into(),
    })
}

fn rerouted() -> IpRouteEvent {
    IpRouteEvent::IpsRerouted(IpsRerouted {
        ips: ips(),
        to_server_id: "tr-0007".into(),
        unavailability_ms: 120,
    })
}

#[test]
fn a_reroute_starts_is_recorded_applied_then_restored() {
    given::<IpRouteDecider>([])
        .when(start("tr-0007"))
        .then(vec![started()]);
    given::<IpRouteDecider>([started()])
        .when(IpRouteCommand::RecordRerouted {
            unavailability_ms: 120,
        })
        .then(vec![rerouted()]);
    given::<IpRouteDecider>([started(), rerouted()])
        .when(IpRouteCommand::RecordRestored {
            unavailability_ms: 80,
        })
        .then(vec![IpRouteEvent::IpRoutesRestored(IpRoutesRestored {
            ips: ips(),
            unavailability_ms: 80,
        })]);
}

#[test]
fn repeated_commands_change_nothing_and_contradictions_are_refused() {
    given::<IpRouteDecider>([started()])
        .when(start("tr-0007"))
        .then_nothing();
    given::<IpRouteDecider>([started(), rerouted()])
        .when(IpRouteCommand::RecordRerouted {
            unavailability_ms: 1,
        })
        .then_nothing();
    given::<IpRouteDecider>([started()])
        .when(start("tr-0008"))
        .then_refused(RefusalKind::Conflict);
    given::<IpRouteDecider>([])
        .when(IpRouteCommand::RecordRerouted {
            unavailability_ms: 1,
        })
        .then_refused(RefusalKind::Conflict);
    given::<IpRouteDecider>([])
        .when(IpRouteCommand::RecordRestored {
            unavailability_ms: 1,
        })
        .then_nothing();
    given::<IpRouteDecider>([])
        .when(IpRouteCommand::Start {
            ips: vec![],
            to_server_id: "tr-0007".into(),
        })
        .then_refused(RefusalKind::Invalid);
}
