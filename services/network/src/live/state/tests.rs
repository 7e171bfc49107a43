use super::*;
use ferry_events::{
    AccountAdded, AccountFrozen, AccountSpec, AccountTrafficSwitched, AccountUnfrozen, Actor,
    DnsHosting, DnsRecordKind, DnsRecordsSwitched, DnsZonePublished, DnsZoneWithdrawn, DomainSpec,
    MailHosting, Money, ServerKind, ServerRegistered, ServerStorage, TrafficSwitchMethod,
    TransitServerAdded,
};
use uuid::Uuid;

fn envelope(aggregate_id: &str, event: impl Into<Event>) -> Envelope {
    Envelope::new(
        aggregate_id,
        event,
        Uuid::nil(),
        Uuid::nil(),
        Actor::system("test"),
    )
}

fn storage() -> ServerStorage {
    ServerStorage {
        files_root: "/f".into(),
        mail_root: "/m".into(),
        postgres_url: None,
        mysql_url: None,
        postgres_credential: None,
        mysql_credential: None,
    }
}

fn fleet(state: &mut LiveState) -> Vec<LiveChange> {
    let registered = ServerRegistered {
        server_id: "srv-1".into(),
        name: "bakery.hosting.example".into(),
        kind: ServerKind::Vps,
        configuration: "vps".into(),
        infrastructure_version: "v1".into(),
        ipv4: vec!["127.0.0.21".into()],
        ipv6: vec![],
        monthly_price: Money::new(1, "EUR"),
        customer_id: "c-1".into(),
        contact_email: "c@example.org".into(),
        locale: "en".into(),
        storage: storage(),
    };
    let transit = TransitServerAdded {
        name: "transit".into(),
        configuration: "vps".into(),
        infrastructure_version: "v2".into(),
        ipv4: vec!["127.0.0.22".into()],
        ipv6: vec![],
        storage: storage(),
    };
    let account = AccountSpec {
        account_id: "acc-1".into(),
        name: "bakery".into(),
        files_bytes: 0,
        mail_bytes: 0,
        databases: vec![],
        domains: vec![DomainSpec {
            name: "Bakery.example".into(),
            dns: DnsHosting::External,
            mail: MailHosting::External,
        }],
        languages: vec![],
    };
    let mut changes = state.apply(&envelope("srv-1", registered));
    changes.extend(state.apply(&envelope("tr-1", transit)));
    changes.extend(state.apply(&envelope("srv-1", AccountAdded { account })));
    changes
}

fn hold(id: &str, transfer: Uuid) -> LiveChange {
    LiveChange::Hold {
        account_id: id.into(),
        transfer_id: Some(transfer),
        correlation_id: Uuid::nil(),
    }
}

fn release(id: &str) -> LiveChange {
    LiveChange::Release {
        account_id: id.into(),
    }
}

fn located(ip: &str) -> LiveChange {
    LiveChange::Locate {
        account_id: "acc-1".into(),
        address: ip.parse().expect("an address"),
    }
}

#[test]
fn an_accounts_hosts_go_to_its_server_are_held_while_frozen_and_follow_the_switch() {
    let mut state = LiveState::default();
    let changes = fleet(&mut state);
    assert_eq!(
        changes,
        vec![
            LiveChange::Host {
                host: "bakery.example".into(),
                account_id: "acc-1".into(),
            },
            LiveChange::Host {
                host: "www.bakery.example".into(),
                account_id: "acc-1".into(),
            },
            located("127.0.0.21"),
        ]
    );
    let transfer_id = Uuid::from_u128(9);
    let transfer = transfer_id.to_string();
    let frozen = AccountFrozen {
        account_id: "acc-1".into(),
        frozen_at: chrono::DateTime::UNIX_EPOCH,
    };
    assert_eq!(
        state.apply(&envelope(&transfer, frozen)),
        vec![hold("acc-1", transfer_id)]
    );
    assert_eq!(
        state.holds().collect::<Vec<_>>(),
        [&hold("acc-1", transfer_id)]
    );
    let switched = AccountTrafficSwitched {
        to_server_id: "tr-1".into(),
        method: TrafficSwitchMethod::TransparentRedirect,
        switched_at: chrono::DateTime::UNIX_EPOCH,
        transfer_id: None,
    };
    assert_eq!(
        state.apply(&envelope("acc-1", switched)),
        vec![located("127.0.0.22"), release("acc-1")]
    );
    assert_eq!(state.holds().count(), 0, "the switch ends the hold");
    let unfrozen = AccountUnfrozen {
        account_id: "acc-1".into(),
        unfrozen_at: chrono::DateTime::UNIX_EPOCH,
    };
    assert_eq!(
        state.apply(&envelope(&transfer, unfrozen)),
        vec![release("acc-1")]
    );
}

#[test]
fn a_zones_serial_counts_its_changes_across_a_withdrawal() {
    let mut state = LiveState::default();
    let record = |ip: &str| DnsRecord {
        name: "bakery.example".into(),
        kind: DnsRecordKind::A,
        value: ip.into(),
        priority: None,
        ttl_secs: 60,
    };
    let published = DnsZonePublished {
        domain: "bakery.example".into(),
        account_id: "acc-1".into(),
        server_id: "srv-1".into(),
        records: vec![record("203.0.113.1")],
    };
    let switched = DnsRecordsSwitched {
        domain: "bakery.example".into(),
        account_id: "acc-1".into(),
        records: vec![record("198.51.100.7")],
        from_server_id: "srv-1".into(),
        to_server_id: "tr-1".into(),
    };
    let withdrawn = DnsZoneWithdrawn {
        domain: "bakery.example".into(),
        reason: "gone".into(),
    };
    let zone = "bakery_example";
    let serial = |changes: Vec<LiveChange>| match changes.as_slice() {
        [LiveChange::Zone { serial, .. }] => *serial,
        other => panic!("expected a zone, got {other:?}"),
    };
    assert_eq!(serial(state.apply(&envelope(zone, published.clone()))), 1);
    assert_eq!(serial(state.apply(&envelope(zone, switched))), 2);
    assert_eq!(
        state.apply(&envelope(zone, withdrawn)),
        vec![LiveChange::ZoneRemoved {
            domain: "bakery.example".into()
        }]
    );
    assert_eq!(serial(state.apply(&envelope(zone, published))), 4);
}
