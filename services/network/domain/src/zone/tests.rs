use super::*;
use crate::records::{ServerAddresses, ZoneSettings, zone_records};
use ferry_core::RefusalKind;
use ferry_core::scenario::given;
use ferry_events::DnsRecordKind;

const DOMAIN: &str = "bakery.example";

fn client() -> (Vec<String>, Vec<String>) {
    (vec!["203.0.113.42".into()], vec!["2001:db8::42".into()])
}

fn records() -> Vec<DnsRecord> {
    let (v4, v6) = client();
    let server = ServerAddresses {
        name: "bakery.hosting.example",
        ipv4: &v4,
        ipv6: &v6,
    };
    zone_records(DOMAIN, &server, true, &ZoneSettings::default())
}

fn publish() -> DnsZoneCommand {
    DnsZoneCommand::Publish {
        domain: DOMAIN.into(),
        account_id: "acc-1207".into(),
        server_id: "srv-0042".into(),
        records: records(),
    }
}

fn published() -> DnsZoneEvent {
    DnsZoneEvent::DnsZonePublished(DnsZonePublished {
        domain: DOMAIN.into(),
        account_id: "acc-1207".into(),
        server_id: "srv-0042".into(),
        records: records(),
    })
}

fn transit() -> SwitchTarget {
    SwitchTarget {
        name: "transit-07.hosting.example".into(),
        ipv4: vec!["198.51.100.7".into()],
        ipv6: vec![],
    }
}

fn switch(revert: bool) -> DnsZoneCommand {
    DnsZoneCommand::Switch {
        domain: DOMAIN.into(),
        to_server_id: "tr-0007".into(),
        to: transit(),
        revert,
    }
}

#[test]
fn a_zone_is_published_once_for_the_same_records() {
    given::<DnsZoneDecider>([])
        .when(publish())
        .then(vec![published()]);
    given::<DnsZoneDecider>([published()])
        .when(publish())
        .then_nothing();
}

#[test]
fn a_switch_points_the_addresses_and_the_servers_mx_at_the_new_server_and_keeps_the_rest() {
    let events = given::<DnsZoneDecider>([published()])
        .when(switch(false))
        .events();
    let [DnsZoneEvent::DnsRecordsSwitched(switched)] = events.as_slice() else {
        panic!("expected one switch, got {events:?}");
    };
    assert_eq!(switched.from_server_id, "srv-0042");
    assert_eq!(switched.to_server_id, "tr-0007");
    let values = |kind| {
        switched
            .records
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.value.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(values(DnsRecordKind::A), ["198.51.100.7"]);
    assert!(
        values(DnsRecordKind::Aaaa).is_empty(),
        "the transit server has no IPv6"
    );
    assert_eq!(
        values(DnsRecordKind::Mx),
        [
            "transit-07.hosting.example",
            "mx1.hosting.example",
            "mx2.hosting.example"
        ]
    );
    assert_eq!(values(DnsRecordKind::Cname), [DOMAIN]);
    assert_eq!(values(DnsRecordKind::Txt), ["v=spf1 mx ~all"]);
    // Switching again to the same server changes nothing.
    given::<DnsZoneDecider>([published(), events[0].clone()])
        .when(switch(false))
        .then_nothing();
}

#[test]
fn a_rollback_reverts_the_records() {
    let events = given::<DnsZoneDecider>([published()])
        .when(switch(true))
        .events();
    assert!(matches!(
        events.as_slice(),
        [DnsZoneEvent::DnsRecordsReverted(_)]
    ));
}

#[test]
fn a_zone_not_served_cannot_be_switched_nor_to_a_server_without_address() {
    given::<DnsZoneDecider>([])
        .when(switch(false))
        .then_refused(RefusalKind::Conflict);
    let nowhere = DnsZoneCommand::Switch {
        domain: DOMAIN.into(),
        to_server_id: "tr-0007".into(),
        to: SwitchTarget {
            name: "t".into(),
            ipv4: vec![],
            ipv6: vec![],
        },
        revert: false,
    };
    given::<DnsZoneDecider>([published()])
        .when(nowhere)
        .then_refused(RefusalKind::Invalid);
}

#[test]
fn the_ttl_is_lowered_for_a_migration_kept_low_across_a_republish_and_restored_by_it_only() {
    let migration = Uuid::from_u128(7);
    let lower = DnsZoneCommand::LowerTtl {
        domain: DOMAIN.into(),
        migration_id: migration,
        ttl_secs: 60,
    };
    let lowered = given::<DnsZoneDecider>([published()])
        .when(lower.clone())
        .events();
    let [DnsZoneEvent::DnsTtlLowered(l)] = lowered.as_slice() else {
        panic!("expected the TTL lowered, got {lowered:?}");
    };
    for r in &l.records {
        let expected = match r.kind {
            DnsRecordKind::A | DnsRecordKind::Aaaa | DnsRecordKind::Cname => 60,
            _ => 3_600,
        };
        assert_eq!(r.ttl_secs, expected, "{r:?}");
    }
    let history = [published(), lowered[0].clone()];
    given::<DnsZoneDecider>(history.clone())
        .when(lower)
        .then_nothing();
    // Published again (the server's details changed): still lowered.
    let mut moved = records();
    moved[0].value = "203.0.113.43".into();
    let republish = DnsZoneCommand::Publish {
        domain: DOMAIN.into(),
        account_id: "acc-1207".into(),
        server_id: "srv-0042".into(),
        records: moved,
    };
    let events = given::<DnsZoneDecider>(history.clone())
        .when(republish)
        .events();
    let [DnsZoneEvent::DnsZonePublished(p)] = events.as_slice() else {
        panic!("expected a publication, got {events:?}");
    };
    assert_eq!(p.records[0].ttl_secs, 60);
    // Another migration does not restore it; its own does.
    let restore = |id| DnsZoneCommand::RestoreTtl {
        domain: DOMAIN.into(),
        migration_id: id,
        ttl_secs: 3_600,
    };
    given::<DnsZoneDecider>(history.clone())
        .when(restore(Uuid::from_u128(8)))
        .then_nothing();
    let restored = given::<DnsZoneDecider>(history)
        .when(restore(migration))
        .events();
    let [DnsZoneEvent::DnsTtlRestored(r)] = restored.as_slice() else {
        panic!("expected the TTL restored, got {restored:?}");
    };
    assert_eq!(r.records, records());
}

#[test]
fn mx_advice_is_given_once_and_a_withdrawn_zone_stops_being_served() {
    let advise = DnsZoneCommand::AdviseMxRemoval {
        domain: DOMAIN.into(),
        account_id: "acc-1207".into(),
        record: crate::records::mx_of_server(DOMAIN, "bakery.hosting.example", 3_600),
        keep: crate::records::provider_mx(DOMAIN, &ZoneSettings::default()),
    };
    let advised = given::<DnsZoneDecider>([]).when(advise.clone()).events();
    assert_eq!(advised.len(), 1);
    given::<DnsZoneDecider>(advised).when(advise).then_nothing();
    let withdraw = DnsZoneCommand::Withdraw {
        domain: DOMAIN.into(),
        reason: "gone".into(),
    };
    given::<DnsZoneDecider>([])
        .when(withdraw.clone())
        .then_nothing();
    let state = given::<DnsZoneDecider>([published()])
        .when(withdraw)
        .then(vec![DnsZoneEvent::DnsZoneWithdrawn(DnsZoneWithdrawn {
            domain: DOMAIN.into(),
            reason: "gone".into(),
        })]);
    assert_eq!(state.served, None);
}
