use super::*;
use ferry_core::RefusalKind;
use ferry_core::scenario::given;

fn at() -> DateTime<Utc> {
    "2026-11-22T09:02:18Z".parse().expect("an instant")
}

fn switch(transfer: u128, to: &str, external: bool) -> TrafficCommand {
    TrafficCommand::Switch(SwitchTraffic {
        transfer_id: Uuid::from_u128(transfer),
        home_server_id: "srv-0042".into(),
        to_server_id: to.into(),
        has_external_dns: external,
        at: at(),
    })
}

fn hold(transfer: u128) -> TrafficCommand {
    TrafficCommand::Hold(HoldTraffic {
        transfer_id: Uuid::from_u128(transfer),
        at: at(),
        in_flight: 2,
        cut: 0,
    })
}

fn held(transfer: u128) -> AccountTrafficEvent {
    AccountTrafficEvent::AccountTrafficHeld(AccountTrafficHeld {
        transfer_id: Uuid::from_u128(transfer),
        held_at: at(),
        in_flight: 2,
        cut: 0,
    })
}

#[test]
fn a_hold_is_recorded_once_per_transfer() {
    given::<AccountTrafficDecider>([])
        .when(hold(1))
        .then(vec![held(1)]);
    given::<AccountTrafficDecider>([held(1)])
        .when(hold(1))
        .then(vec![]);
    given::<AccountTrafficDecider>([held(1)])
        .when(hold(2))
        .then(vec![held(2)]);
}

fn switched(transfer: u128, to: &str, method: TrafficSwitchMethod) -> AccountTrafficEvent {
    AccountTrafficEvent::AccountTrafficSwitched(AccountTrafficSwitched {
        to_server_id: to.into(),
        method,
        switched_at: at(),
        transfer_id: Some(Uuid::from_u128(transfer)),
    })
}

fn redirect() -> AccountTrafficEvent {
    AccountTrafficEvent::RedirectEnabled(RedirectEnabled {
        from_server_id: "srv-0042".into(),
        to_server_id: "tr-0007".into(),
    })
}

#[test]
fn an_account_on_the_providers_dns_only_is_switched_without_redirect() {
    given::<AccountTrafficDecider>([])
        .when(switch(1, "tr-0007", false))
        .then(vec![switched(
            1,
            "tr-0007",
            TrafficSwitchMethod::ProviderDns,
        )]);
}

#[test]
fn external_dns_gets_the_redirect_while_away_and_loses_it_back_home() {
    let away = vec![
        redirect(),
        switched(1, "tr-0007", TrafficSwitchMethod::TransparentRedirect),
    ];
    given::<AccountTrafficDecider>([])
        .when(switch(1, "tr-0007", true))
        .then(away.clone());
    given::<AccountTrafficDecider>(away)
        .when(switch(2, "srv-0042", true))
        .then(vec![
            AccountTrafficEvent::RedirectRemoved(RedirectRemoved {
                from_server_id: "srv-0042".into(),
            }),
            switched(2, "srv-0042", TrafficSwitchMethod::TransparentRedirect),
        ]);
}

#[test]
fn a_switch_is_recorded_once_per_transfer() {
    let done = [switched(1, "tr-0007", TrafficSwitchMethod::ProviderDns)];
    given::<AccountTrafficDecider>(done.clone())
        .when(switch(1, "tr-0007", false))
        .then_nothing();
    // A move again after a rollback is another transfer: switched again.
    let back = switched(2, "srv-0042", TrafficSwitchMethod::ProviderDns);
    given::<AccountTrafficDecider>([done[0].clone(), back])
        .when(switch(3, "tr-0007", false))
        .then(vec![switched(
            3,
            "tr-0007",
            TrafficSwitchMethod::ProviderDns,
        )]);
}

#[test]
fn a_switch_without_servers_is_refused() {
    given::<AccountTrafficDecider>([])
        .when(switch(1, "", false))
        .then_refused(RefusalKind::Invalid);
}
