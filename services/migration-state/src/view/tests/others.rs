//! Queues, transit servers, servers, optional migrations, targets, and the batch
//! mechanics (needs, storage round trips).

use ferry_events::*;
use uuid::Uuid;

use super::*;
use crate::view::*;

#[test]
fn the_queue_serves_first_come_first_served() {
    let mut h = History::new();
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    h.push(TRANSIT, transit_added());
    up_to_transit_request(&mut h, first, &["acc-1"]);
    h.push(&second.to_string(), opened(second, &["acc-9"]));
    let requested_at = h.now();
    for m in [first, second] {
        h.push(
            CONFIG,
            TransitRequestQueued {
                migration_id: m,
                client_server_id: SERVER.into(),
                requested_at,
            },
        );
    }
    h.push(
        &first.to_string(),
        TransitServerQueued {
            configuration: CONFIG.into(),
            position: 1,
        },
    );
    let waiting: Vec<Uuid> = h
        .model
        .waiting(CONFIG)
        .iter()
        .map(|e| e.migration_id)
        .collect();
    assert_eq!(waiting, vec![first, second]);
    let queue = h.migration(first).queue.clone().expect("waiting");
    assert!(queue.is_waiting());
    assert_eq!(queue.position_when_queued, Some(1));
    assert_eq!(h.migration(first).state, MigrationStatus::TransitWaiting);

    h.push(
        CONFIG,
        TransitServerAvailable {
            transit_server_id: TRANSIT.into(),
        },
    );
    assert!(h.model.transit_servers[TRANSIT].lendable);
    h.push(
        CONFIG,
        TransitRequestServed {
            migration_id: first,
            transit_server_id: TRANSIT.into(),
        },
    );
    let waiting: Vec<Uuid> = h
        .model
        .waiting(CONFIG)
        .iter()
        .map(|e| e.migration_id)
        .collect();
    assert_eq!(waiting, vec![second], "the second is now first in line");
    assert!(!h.model.transit_servers[TRANSIT].lendable);
    let queue = h.migration(first).queue.clone().expect("served");
    assert_eq!(queue.served_with.as_deref(), Some(TRANSIT));
    assert!(!queue.is_waiting());

    h.push(
        CONFIG,
        TransitRequestWithdrawn {
            migration_id: second,
            reason: "cancelled".into(),
        },
    );
    assert!(h.model.waiting(CONFIG).is_empty());
    assert_eq!(
        h.migration(second)
            .queue
            .as_ref()
            .and_then(|q| q.withdrawn_reason.as_deref()),
        Some("cancelled")
    );
}

#[test]
fn a_transit_server_goes_round_its_life_cycle() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    h.push(TRANSIT, transit_added());
    assert_eq!(h.model.transit_servers[TRANSIT].state, TransitState::Free);
    up_to_transit_request(&mut h, m, &["acc-1"]);
    transit_ready(&mut h, m);
    let transit = &h.model.transit_servers[TRANSIT];
    assert_eq!(
        (transit.state, transit.migration_id),
        (TransitState::Lent, Some(m))
    );
    assert_eq!(transit.client_server_id.as_deref(), Some(SERVER));
    h.push(
        CONFIG,
        TransitAssignmentEnded {
            migration_id: m,
            transit_server_id: TRANSIT.into(),
        },
    )
    .push(TRANSIT, TransitServerReleased { migration_id: m });
    assert_eq!(
        h.model.transit_servers[TRANSIT].state,
        TransitState::Released
    );
    let assignment = h.migration(m).transit.clone().expect("held");
    assert!(assignment.released_at.is_some() && assignment.assignment_ended_at.is_some());
    h.push(
        TRANSIT,
        TransitServerWipeStarted {
            expected_duration_ms: 600_000,
        },
    );
    assert_eq!(h.model.transit_servers[TRANSIT].state, TransitState::Wiping);
    h.push(TRANSIT, TransitServerWiped {});
    let transit = &h.model.transit_servers[TRANSIT];
    assert_eq!(
        (
            transit.state,
            transit.migration_id,
            transit.last_migration_id
        ),
        (TransitState::Free, None, Some(m))
    );
    h.push(
        TRANSIT,
        TransitServerTakenOutOfService {
            reason: "disk".into(),
        },
    );
    assert_eq!(
        h.model.transit_servers[TRANSIT].state,
        TransitState::OutOfService
    );
    h.push(TRANSIT, TransitServerReturnedToService {});
    assert_eq!(h.model.transit_servers[TRANSIT].state, TransitState::Free);
}

#[test]
fn server_accounts_follow_their_events() {
    let mut h = History::new();
    h.push(SERVER, registered())
        .push(
            SERVER,
            AccountAdded {
                account: spec("acc-1"),
            },
        )
        .push(
            SERVER,
            AccountAdded {
                account: spec("acc-2"),
            },
        );
    let mut changed = spec("acc-1");
    changed.files_bytes = 9_999;
    h.push(SERVER, AccountChanged { account: changed })
        .push(
            SERVER,
            AccountRemoved {
                account_id: "acc-2".into(),
            },
        )
        .push(
            SERVER,
            InfrastructureVersionChanged {
                from: "v2020".into(),
                to: "v2026".into(),
            },
        );
    let server = h.server();
    assert_eq!(server.accounts.len(), 1);
    assert_eq!(server.accounts[0].account.files_bytes, 9_999);
    assert_eq!(server.infrastructure_version, "v2026");
    assert_eq!(server.version_changes.len(), 1);
}

#[test]
fn an_optional_migration_follows_its_transfer() {
    let mut h = History::new();
    let o = Uuid::now_v7();
    let id = o.to_string();
    let transfer = Uuid::now_v7();
    h.push(
        &id,
        OptionalMigrationScheduled {
            optional_migration_id: o,
            server_id: SERVER.into(),
            customer_id: "c-42".into(),
            service: ServiceKind::Postgresql,
            from_version: "13".into(),
            to_version: "16".into(),
            scheduled_for: None,
        },
    )
    .push(
        &id,
        OptionalMigrationStarted {
            transfer_id: transfer,
        },
    );
    let mut plan = scheduled(transfer, o, TransferKind::ServiceMigration, &[]);
    plan.destination.server_id = SERVER.into();
    h.push(&transfer.to_string(), plan)
        .push(&transfer.to_string(), completed(Some(4_000)))
        .push(&id, OptionalMigrationApplied { downtime_ms: 4_000 });
    let view = &h.model.optional_migrations[&o];
    assert_eq!(view.state, OptionalMigrationState::Applied);
    assert_eq!(view.downtime_ms, Some(4_000));
    assert_eq!(
        view.transfer.as_ref().map(|t| t.status),
        Some(TransferStatus::Completed)
    );
}

#[test]
fn a_target_infrastructure_keeps_its_latest_support() {
    let mut h = History::new();
    h.push(
        "v2026",
        InfrastructureVersionPublished {
            version: "v2026".into(),
            languages: vec![php("8.2")],
            databases: Vec::new(),
        },
    )
    .push(
        "v2026",
        InfrastructureVersionSupportChanged {
            languages: vec![php("8.2"), php("8.3")],
            databases: Vec::new(),
        },
    );
    assert_eq!(h.model.targets["v2026"].languages.len(), 2);
}

#[test]
fn events_about_unknown_things_change_nothing() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    let transfer = Uuid::now_v7();
    h.push(
        &m.to_string(),
        AccountMarkedReady {
            account_id: "acc-1".into(),
        },
    )
    .push(TRANSIT, TransitServerWiped {})
    .push(&transfer.to_string(), TransferStarted {})
    .push(
        SERVER,
        AccountAdded {
            account: spec("acc-1"),
        },
    );
    assert!(h.model.migrations.is_empty() && h.model.transit_servers.is_empty());
    assert!(h.model.servers.is_empty() && h.model.transfers.is_empty());
    assert_eq!(h.model.changed, model::Changed::default());
}

#[test]
fn needs_name_every_row_a_batch_touches() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    let transfer = Uuid::now_v7();
    up_to_transit_request(&mut h, m, &["acc-1"]);
    transit_ready(&mut h, m);
    h.push(
        &transfer.to_string(),
        scheduled(transfer, m, TransferKind::PreCopy, &["acc-1"]),
    )
    .push(
        CONFIG,
        TransitServerAvailable {
            transit_server_id: "tr-0009".into(),
        },
    );
    let needs = Needs::of(h.envelopes.iter().map(|(_, e)| e));
    assert_eq!(needs.servers.iter().collect::<Vec<_>>(), [SERVER]);
    assert_eq!(needs.migrations.iter().collect::<Vec<_>>(), [&m]);
    assert_eq!(needs.transfers.iter().collect::<Vec<_>>(), [&transfer]);
    assert_eq!(
        needs.transit_servers.iter().collect::<Vec<_>>(),
        ["tr-0007", "tr-0009"]
    );
}

/// Stores every view as JSON and reads it back, as the projection does between batches.
fn through_storage(model: &ReadModel) -> ReadModel {
    fn again<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
        serde_json::from_value(serde_json::to_value(value).expect("serializes"))
            .expect("deserializes")
    }
    ReadModel {
        servers: again(&model.servers),
        migrations: model
            .migrations
            .iter()
            .map(|(k, v)| (*k, again(v)))
            .collect(),
        transit_servers: again(&model.transit_servers),
        targets: again(&model.targets),
        optional_migrations: model
            .optional_migrations
            .iter()
            .map(|(k, v)| (*k, again(v)))
            .collect(),
        transfers: model
            .transfers
            .iter()
            .map(|(k, v)| (*k, again(v)))
            .collect(),
        queue: model.queue.clone(),
        changed: Default::default(),
    }
}

#[test]
fn batch_boundaries_and_storage_change_nothing() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    h.push(TRANSIT, transit_added());
    up_to_transit_request(&mut h, m, &["acc-1", "acc-2"]);
    transit_ready(&mut h, m);
    let transfer = Uuid::now_v7();
    h.push(
        &m.to_string(),
        AccountMoveStarted {
            account_id: "acc-1".into(),
            transfer_id: transfer,
            estimated_downtime_ms: 1,
        },
    );
    run_transfer(&mut h, transfer, m, TransferKind::Cutover, "acc-1", 1_234);
    for cut in 1..h.envelopes.len() {
        let mut model = ReadModel::default();
        for (sequence, envelope) in &h.envelopes[..cut] {
            model.apply(*sequence, envelope);
        }
        let mut model = through_storage(&model);
        for (sequence, envelope) in &h.envelopes[cut..] {
            model.apply(*sequence, envelope);
        }
        assert_eq!(model.migrations, h.model.migrations, "cut at {cut}");
        assert_eq!(model.servers, h.model.servers, "cut at {cut}");
        assert_eq!(
            model.transit_servers, h.model.transit_servers,
            "cut at {cut}"
        );
    }
}

#[test]
fn the_network_part_of_a_migration_shows_mx_advice_ttls_switches_and_ip_routes() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    up_to_transit_request(&mut h, m, &["acc-1"]);
    let mx = |value: &str, priority| DnsRecord {
        name: "blog.example".into(),
        kind: DnsRecordKind::Mx,
        value: value.into(),
        priority: Some(priority),
        ttl_secs: 3_600,
    };
    h.push_correlated(
        "blog_example",
        MxRecordRemovalAdvised {
            domain: "blog.example".into(),
            account_id: "acc-1".into(),
            record: mx("bakery.hosting.example", 5),
            keep: vec![mx("mx1.hosting.example", 10), mx("mx2.hosting.example", 20)],
        },
        m,
    );
    h.push_correlated(
        "shop_example",
        DnsTtlLowered {
            domain: "shop.example".into(),
            migration_id: m,
            ttl_secs: 60,
            records: vec![],
        },
        m,
    );
    let switched_at = h.now();
    h.push_correlated(
        "acc-1",
        AccountTrafficSwitched {
            to_server_id: TRANSIT.into(),
            method: TrafficSwitchMethod::TransparentRedirect,
            switched_at,
            transfer_id: None,
        },
        m,
    );
    h.push_correlated(
        SERVER,
        IpRerouteStarted {
            ips: vec!["203.0.113.42".into()],
            to_server_id: TRANSIT.into(),
        },
        m,
    );
    h.push_correlated(
        SERVER,
        IpsRerouted {
            ips: vec!["203.0.113.42".into()],
            to_server_id: TRANSIT.into(),
            unavailability_ms: 850,
        },
        m,
    );
    // Another migration's (or no migration's) network events change nothing here.
    h.push(
        "other_example",
        DnsTtlLowered {
            domain: "other.example".into(),
            migration_id: Uuid::now_v7(),
            ttl_secs: 60,
            records: vec![],
        },
    );
    let network = &h.migration(m).network;
    assert_eq!(network.mx_advice.len(), 1);
    assert_eq!(network.mx_advice[0].delete.priority, Some(5));
    assert_eq!(network.mx_advice[0].keep.len(), 2);
    assert_eq!(network.ttl_lowered.len(), 1);
    assert_eq!(network.ttl_lowered[0].domain, "shop.example");
    assert_eq!(network.switches.len(), 1);
    assert_eq!(network.switches[0].to_server_id, TRANSIT);
    let route = network.ip_route.as_ref().expect("rerouted");
    assert_eq!(route.reroute_unavailability_ms, Some(850));
    assert_eq!(route.restored_at, None);
}
