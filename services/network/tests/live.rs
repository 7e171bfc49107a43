//! The network service's edge as `ferry up` runs it, on a real log: the live state
//! followed from JetStream feeds the DNS server (asked with `dig`) and the redirect
//! (loaded by a client generator), and an account's cutover, as the data mover and
//! the network record it, holds its requests at the freeze (recording the hold once
//! the requests forwarded before it ended) and releases them to the transit server
//! at the switch: no request fails, none reaches the old copy once the hold is
//! recorded.

// The redirect tests' backends and load generator, shared.
mod redirect_support;

use ferry_events::*;
use ferry_infra::event_log::AggregateRef;
use ferry_infra::testkit::{TestStack, append_inputs, eventually_some};
use ferry_network::dns::{self, DnsSettings, ZoneStore};
use ferry_network::live::{self, Served};
use ferry_network::redirect::{self, RedirectSettings, RedirectTable};
use ferry_network::service::Network;
use redirect_support::{AnsweredBy, Backend, Load, generate_load};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const CLIENT_IP: &str = "127.0.0.41";
const TRANSIT_IP: &str = "127.0.0.42";

fn storage() -> ServerStorage {
    ServerStorage {
        files_root: "/srv/files".into(),
        mail_root: "/srv/mail".into(),
        postgres_url: None,
        mysql_url: None,
        postgres_credential: None,
        mysql_credential: None,
    }
}

fn a(ip: &str) -> DnsRecord {
    DnsRecord {
        name: "shop.example".into(),
        kind: DnsRecordKind::A,
        value: ip.into(),
        priority: None,
        ttl_secs: 60,
    }
}

async fn append(stack: &TestStack, kind: AggregateType, id: &str, event: impl Into<Event>) {
    let actor = Actor::system("test");
    append_inputs(&stack.log, kind, id, Uuid::nil(), vec![event.into()], actor).await;
}

/// The fleet: srv-1 (CLIENT_IP) with acc-1, whose `shop.example` is on the
/// provider's DNS and `shop.test` elsewhere; tr-1 (TRANSIT_IP).
async fn fleet(stack: &TestStack) {
    let registered = ServerRegistered {
        server_id: "srv-1".into(),
        name: "shop.hosting.example".into(),
        kind: ServerKind::Vps,
        configuration: "vps".into(),
        infrastructure_version: "v1".into(),
        ipv4: vec![CLIENT_IP.into()],
        ipv6: vec![],
        monthly_price: Money::new(2_000, "EUR"),
        customer_id: "c-1".into(),
        contact_email: "c@example.org".into(),
        locale: "en".into(),
        storage: storage(),
    };
    append(stack, AggregateType::Server, "srv-1", registered).await;
    let transit = TransitServerAdded {
        name: "transit-1.hosting.example".into(),
        configuration: "vps".into(),
        infrastructure_version: "v2".into(),
        ipv4: vec![TRANSIT_IP.into()],
        ipv6: vec![],
        storage: storage(),
    };
    append(stack, AggregateType::TransitServer, "tr-1", transit).await;
    let domain = |name: &str, dns| DomainSpec {
        name: name.into(),
        dns,
        mail: MailHosting::External,
    };
    let account = AccountSpec {
        account_id: "acc-1".into(),
        name: "shop".into(),
        files_bytes: 0,
        mail_bytes: 0,
        databases: vec![],
        domains: vec![
            domain("shop.example", DnsHosting::Hosted),
            domain("shop.test", DnsHosting::External),
        ],
        languages: vec![],
    };
    append(
        stack,
        AggregateType::Server,
        "srv-1",
        AccountAdded { account },
    )
    .await;
    let published = DnsZonePublished {
        domain: "shop.example".into(),
        account_id: "acc-1".into(),
        server_id: "srv-1".into(),
        records: vec![a(CLIENT_IP)],
    };
    append(stack, AggregateType::DnsZone, "shop_example", published).await;
}

async fn dig_a(port: u16) -> Vec<String> {
    let output = tokio::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+short", "+time=2"])
        .args(["shop.example", "A"])
        .output()
        .await
        .expect("dig runs (Debian's bind9-dnsutils; scripts/test installs it)");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Whether the account's traffic records a hold for the transfer.
async fn held_for(stack: &TestStack, account_id: &str, transfer_id: Uuid) -> bool {
    let traffic = AggregateRef::new(AggregateType::AccountTraffic, account_id).expect("an id");
    let loaded = stack.log.load(&traffic).await.expect("the log reads");
    loaded.events.iter().any(|recorded| {
        matches!(&recorded.envelope.event,
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficHeld(h))
                if h.transfer_id == transfer_id)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_the_log_says_is_served_and_a_cutover_holds_then_switches_without_a_failed_request() {
    let stack = TestStack::new().await;
    fleet(&stack).await;
    // The log ends with an event the network does not follow: caught up all the same.
    let reinstalled = ServerReinstalled {
        infrastructure_version: "v2".into(),
    };
    let migration = Uuid::now_v7().to_string();
    append(&stack, AggregateType::Migration, &migration, reinstalled).await;
    // Both servers' web fronts, on one port at their own addresses.
    let old = Backend::start_on("old", format!("{CLIENT_IP}:0").parse().expect("addr")).await;
    let port = old.addr.port();
    let new_addr: SocketAddr = format!("{TRANSIT_IP}:{port}").parse().expect("addr");
    let new = Backend::start_on("new", new_addr).await;

    let stop = CancellationToken::new();
    let served = Served {
        zones: ZoneStore::new(),
        redirect: RedirectTable::new(),
        upstream_port: port,
        in_flight_bound: Duration::from_secs(5),
        network: Some(Network::new(
            stack
                .log_as(ferry_infra::nats_users::NatsUser::Network)
                .await,
        )),
    };
    let (udp, tcp) = dns::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("UDP and TCP on one port");
    let dns_addr = udp.local_addr().expect("bound");
    let settings = DnsSettings::new(
        vec!["ns1.hosting.example".into()],
        "hostmaster.hosting.example",
    );
    tokio::spawn(dns::serve(
        served.zones.clone(),
        settings,
        udp,
        tcp,
        stop.clone(),
    ));
    let front = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("front");
    let front_addr = front.local_addr().expect("bound");
    tokio::spawn(redirect::serve(
        front,
        served.redirect.clone(),
        RedirectSettings::default(),
        stop.clone(),
    ));
    let table = served.redirect.clone();
    let caught_up = CancellationToken::new();
    tokio::spawn(live::follow(
        stack
            .log_as(ferry_infra::nats_users::NatsUser::Network)
            .await,
        served,
        caught_up.clone(),
        stop.clone(),
    ));
    caught_up.cancelled().await;

    // The zone as published, from the log.
    let served_at_client = eventually_some(10, || async {
        (dig_a(dns_addr.port()).await == [CLIENT_IP]).then_some(())
    })
    .await;
    assert!(
        served_at_client.is_some(),
        "the zone is served from the log"
    );

    // Clients of the domain on another DNS provider, through the redirect.
    let load = Load {
        target: front_addr,
        host: "shop.test".into(),
        clients: 8,
        post_every: 3,
    };
    let load_stop = CancellationToken::new();
    let load_task = tokio::spawn(generate_load(load, load_stop.clone()));
    old.wait_for_requests(50).await;

    // The data mover records the account frozen: the redirect holds its requests,
    // waits for those forwarded before, and records the hold, which the data mover
    // waits for before freezing the source.
    let transfer_id = Uuid::now_v7();
    let transfer = transfer_id.to_string();
    let frozen = AccountFrozen {
        account_id: "acc-1".into(),
        frozen_at: chrono::Utc::now(),
    };
    append(&stack, AggregateType::Transfer, &transfer, frozen).await;
    let held = eventually_some(10, || async {
        table.is_held("acc-1").then_some(Instant::now())
    })
    .await
    .expect("held at the freeze");
    let recorded = eventually_some(10, || async {
        held_for(&stack, "acc-1", transfer_id).await.then_some(())
    })
    .await;
    assert!(recorded.is_some(), "the hold is recorded for the transfer");
    // Nothing reaches the old copy from now on: the source may be frozen.
    let held_old = old.requests();
    // The final sync and the verification.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The network switches the zone, then the traffic.
    let switched = DnsRecordsSwitched {
        domain: "shop.example".into(),
        account_id: "acc-1".into(),
        records: vec![a(TRANSIT_IP)],
        from_server_id: "srv-1".into(),
        to_server_id: "tr-1".into(),
    };
    append(&stack, AggregateType::DnsZone, "shop_example", switched).await;
    let traffic = AccountTrafficSwitched {
        to_server_id: "tr-1".into(),
        method: TrafficSwitchMethod::TransparentRedirect,
        switched_at: chrono::Utc::now(),
        transfer_id: None,
    };
    append(&stack, AggregateType::AccountTraffic, "acc-1", traffic).await;
    new.wait_for_requests(50).await;
    load_stop.cancel();
    let outcomes = load_task.await.expect("the load ran");

    let failed = outcomes.iter().filter(|o| o.answered_by.is_none()).count();
    let after_hold: Vec<_> = outcomes.iter().filter(|o| o.sent_at > held).collect();
    let longest = outcomes.iter().map(|o| o.latency).max().unwrap_or_default();
    eprintln!(
        "{} requests, {failed} failed, {} after the hold, longest {} ms",
        outcomes.len(),
        after_hold.len(),
        longest.as_millis()
    );
    assert_eq!(failed, 0, "no request failed");
    assert!(
        after_hold
            .iter()
            .all(|o| o.answered_by == Some(AnsweredBy::New)),
        "every request sent once held went to the transit server"
    );
    assert_eq!(
        old.requests(),
        held_old,
        "nothing reached the old copy once held"
    );
    assert!(
        longest >= Duration::from_millis(300),
        "the held requests waited"
    );
    assert_eq!(dig_a(dns_addr.port()).await, [TRANSIT_IP]);
    stop.cancel();
}
