//! Given/when/then for the network policy: events folded into its view, then one
//! event reacted to, with no server.

use super::*;
use ferry_core::scenario::given_view;
use ferry_events::{
    AccountAdded, AccountRemoved, AccountSpec, AccountTrafficSwitched, Actor, DomainSpec, Endpoint,
    IpRerouteStarted, MigrationCompleted, MigrationOpened, Money, ReinstallStarted, ServerKind,
    ServerRegistered, ServerReinstalled, ServerStorage, TrafficSwitchMethod, TransferScheduled,
    TransferVerified, TransitServerAdded, TransitServerRequested,
};

fn m() -> Uuid {
    Uuid::from_u128(42)
}

fn cutover_id() -> Uuid {
    Uuid::from_u128(7)
}

fn envelope(aggregate_id: &str, event: impl Into<Event>) -> Envelope {
    Envelope::new(aggregate_id, event, m(), Uuid::nil(), Actor::system("test"))
}

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

fn domain(name: &str, dns: DnsHosting, mail: MailHosting) -> DomainSpec {
    DomainSpec {
        name: name.into(),
        dns,
        mail,
    }
}

fn account() -> AccountSpec {
    AccountSpec {
        account_id: "acc-1".into(),
        name: "bakery".into(),
        files_bytes: 0,
        mail_bytes: 0,
        databases: vec![],
        domains: vec![
            domain("bakery.example", DnsHosting::Hosted, MailHosting::Hosted),
            domain(
                "bakery-blog.example",
                DnsHosting::External,
                MailHosting::Hosted,
            ),
            domain("bakery.shop", DnsHosting::External, MailHosting::External),
        ],
        languages: vec![],
    }
}

fn fleet() -> Vec<Envelope> {
    vec![
        envelope(
            "srv-1",
            ServerRegistered {
                server_id: "srv-1".into(),
                name: "bakery.hosting.example".into(),
                kind: ServerKind::Vps,
                configuration: "vps-4c".into(),
                infrastructure_version: "v2019".into(),
                ipv4: vec!["203.0.113.42".into()],
                ipv6: vec!["2001:db8::42".into()],
                monthly_price: Money::new(2_000, "EUR"),
                customer_id: "c-1".into(),
                contact_email: "c@example.org".into(),
                locale: "en".into(),
                storage: storage(),
            },
        ),
        envelope("srv-1", AccountAdded { account: account() }),
        envelope(
            "tr-7",
            TransitServerAdded {
                name: "transit-07.hosting.example".into(),
                configuration: "vps-4c".into(),
                infrastructure_version: "v2026".into(),
                ipv4: vec!["198.51.100.7".into()],
                ipv6: vec![],
                storage: storage(),
            },
        ),
        envelope(
            &m().to_string(),
            MigrationOpened {
                migration_id: m(),
                server_id: "srv-1".into(),
                customer_id: "c-1".into(),
                from_version: "v2019".into(),
                target_version: "v2026".into(),
                accounts: vec!["acc-1".into()],
            },
        ),
    ]
}

fn client() -> SwitchTarget {
    SwitchTarget {
        name: "bakery.hosting.example".into(),
        ipv4: vec!["203.0.113.42".into()],
        ipv6: vec!["2001:db8::42".into()],
    }
}

fn transit() -> SwitchTarget {
    SwitchTarget {
        name: "transit-07.hosting.example".into(),
        ipv4: vec!["198.51.100.7".into()],
        ipv6: vec![],
    }
}

fn actions(commands: Vec<NetworkCommand>) -> Vec<NetworkAction> {
    commands.into_iter().map(|c| c.action).collect()
}

fn scheduled(kind: TransferKind, destination: &str) -> Envelope {
    let end = |server_id: &str| Endpoint {
        server_id: server_id.into(),
        storage: storage(),
    };
    envelope(
        &cutover_id().to_string(),
        TransferScheduled {
            transfer_id: cutover_id(),
            kind,
            migration_id: Some(m()),
            server_id: "srv-1".into(),
            accounts: vec![account()],
            source: end("srv-1"),
            destination: end(destination),
        },
    )
}

fn verified() -> Envelope {
    envelope(
        &cutover_id().to_string(),
        TransferVerified {
            files_checked: 3,
            databases: vec![],
        },
    )
}

#[test]
fn an_added_account_gets_a_zone_for_its_domains_on_the_providers_dns_only() {
    let fleet = fleet();
    let commands = given_view::<NetworkPolicy>(&fleet[..1])
        .when(&fleet[1])
        .commands();
    assert_eq!(
        actions(commands),
        vec![NetworkAction::PublishZone {
            domain: "bakery.example".into(),
            account_id: "acc-1".into(),
            server_id: "srv-1".into(),
            server: client(),
            mail_hosted: true,
        }]
    );
}

#[test]
fn a_transit_request_lowers_the_ttl_and_advises_the_mx_removal_where_dns_is_elsewhere() {
    let requested = envelope(
        &m().to_string(),
        TransitServerRequested {
            configuration: "vps-4c".into(),
        },
    );
    let commands = given_view::<NetworkPolicy>(&fleet())
        .when(&requested)
        .commands();
    assert_eq!(
        actions(commands),
        vec![
            NetworkAction::LowerTtl {
                domain: "bakery.example".into(),
                migration_id: m(),
            },
            NetworkAction::AdviseMxRemoval {
                domain: "bakery-blog.example".into(),
                account_id: "acc-1".into(),
                server_name: "bakery.hosting.example".into(),
            },
        ]
    );
    let completed = envelope(
        &m().to_string(),
        MigrationCompleted {
            total_downtime_ms: 0,
        },
    );
    let restored = envelope(
        &m().to_string(),
        ferry_events::ObsoleteLanguagesRestored {
            restorations: vec![],
        },
    );
    for ended in [completed, restored] {
        let commands = given_view::<NetworkPolicy>(&fleet())
            .when(&ended)
            .commands();
        assert_eq!(
            actions(commands),
            vec![NetworkAction::RestoreTtl {
                domain: "bakery.example".into(),
                migration_id: m(),
            }],
            "{}",
            ended.event_type()
        );
    }
}

#[test]
fn a_verified_cutover_switches_the_zones_then_the_traffic_to_the_transit_server() {
    let mut history = fleet();
    history.push(scheduled(TransferKind::Cutover, "tr-7"));
    let commands = given_view::<NetworkPolicy>(&history)
        .when(&verified())
        .commands();
    assert_eq!(
        actions(commands),
        vec![
            NetworkAction::SwitchZone {
                domain: "bakery.example".into(),
                to_server_id: "tr-7".into(),
                to: transit(),
                revert: false,
            },
            NetworkAction::SwitchTraffic {
                account_id: "acc-1".into(),
                transfer_id: cutover_id(),
                home_server_id: "srv-1".into(),
                to_server_id: "tr-7".into(),
                has_external_dns: true,
            },
        ]
    );
}

#[test]
fn a_verified_rollback_reverts_to_the_client_server_and_a_pre_copy_switches_nothing() {
    let mut history = fleet();
    history.push(scheduled(TransferKind::Rollback, "srv-1"));
    let commands = given_view::<NetworkPolicy>(&history)
        .when(&verified())
        .commands();
    assert!(matches!(
        actions(commands).as_slice(),
        [
            NetworkAction::SwitchZone { revert: true, to, .. },
            NetworkAction::SwitchTraffic { .. }
        ] if *to == client()
    ));
    let mut history = fleet();
    history.push(scheduled(TransferKind::PreCopy, "tr-7"));
    given_view::<NetworkPolicy>(&history)
        .when(&verified())
        .then_nothing();
}

#[test]
fn an_account_served_by_the_transit_server_is_published_there_and_withdrawn_when_removed() {
    let mut history = fleet();
    history.push(envelope(
        "bakery_example",
        ferry_events::DnsZonePublished {
            domain: "bakery.example".into(),
            account_id: "acc-1".into(),
            server_id: "srv-1".into(),
            records: vec![],
        },
    ));
    history.push(envelope(
        "acc-1",
        AccountTrafficSwitched {
            to_server_id: "tr-7".into(),
            method: TrafficSwitchMethod::ProviderDns,
            switched_at: chrono::DateTime::UNIX_EPOCH,
            transfer_id: Some(cutover_id()),
        },
    ));
    let changed = envelope("srv-1", ferry_events::AccountChanged { account: account() });
    let commands = given_view::<NetworkPolicy>(&history)
        .when(&changed)
        .commands();
    assert!(matches!(
        actions(commands).as_slice(),
        [NetworkAction::PublishZone { server_id, server, .. }] if server_id == "tr-7" && *server == transit()
    ));
    let removed = envelope(
        "srv-1",
        AccountRemoved {
            account_id: "acc-1".into(),
        },
    );
    let commands = given_view::<NetworkPolicy>(&history)
        .when(&removed)
        .commands();
    assert!(matches!(
        actions(commands).as_slice(),
        [NetworkAction::WithdrawZone { domain, .. }] if domain == "bakery.example"
    ));
}

#[test]
fn a_reinstall_reroutes_the_client_ips_to_the_transit_server_and_its_end_routes_them_home() {
    let started = envelope(
        &m().to_string(),
        ReinstallStarted {
            ips_rerouted_to: "tr-7".into(),
        },
    );
    let commands = given_view::<NetworkPolicy>(&fleet())
        .when(&started)
        .commands();
    assert_eq!(
        actions(commands),
        vec![NetworkAction::StartReroute {
            server_id: "srv-1".into(),
            ips: vec!["203.0.113.42".into(), "2001:db8::42".into()],
            to_server_id: "tr-7".into(),
        }]
    );
    let rerouting = envelope(
        "srv-1",
        IpRerouteStarted {
            ips: vec!["203.0.113.42".into()],
            to_server_id: "tr-7".into(),
        },
    );
    let commands = given_view::<NetworkPolicy>(&fleet())
        .when(&rerouting)
        .commands();
    assert_eq!(
        actions(commands),
        vec![NetworkAction::ApplyReroute {
            server_id: "srv-1".into(),
            ips: vec!["203.0.113.42".into()],
            to_server_id: "tr-7".into(),
        }]
    );
    let reinstalled = envelope(
        &m().to_string(),
        ServerReinstalled {
            infrastructure_version: "v2026".into(),
        },
    );
    let commands = given_view::<NetworkPolicy>(&fleet())
        .when(&reinstalled)
        .commands();
    assert_eq!(
        actions(commands),
        vec![NetworkAction::RestoreRoutes {
            server_id: "srv-1".into(),
        }]
    );
}

#[test]
fn a_verified_cutover_to_an_unknown_transit_server_is_a_missing_fact_not_a_silent_skip() {
    let mut history = fleet();
    history.push(scheduled(TransferKind::Cutover, "tr-9"));
    given_view::<NetworkPolicy>(&history)
        .when(&verified())
        .then_missing("transit server tr-9");
}

#[test]
fn a_redelivered_event_issues_the_same_command_ids() {
    let fleet = fleet();
    let once = given_view::<NetworkPolicy>(&fleet[..1])
        .when(&fleet[1])
        .commands();
    let twice = given_view::<NetworkPolicy>(&fleet[..1])
        .when(&fleet[1])
        .commands();
    assert_eq!(once, twice);
}

#[test]
fn ip_routes_have_a_lane_of_their_own_beside_the_migrations() {
    let started = envelope(
        &m().to_string(),
        ReinstallStarted {
            ips_rerouted_to: "tr-7".into(),
        },
    );
    assert_eq!(NetworkPolicy::lane(&started), format!("routes/{}", m()));
    assert_eq!(NetworkPolicy::lane(&verified()), m().to_string());
    // A parked reroute holds back the routes only, not the switches.
    assert_eq!(
        NetworkPolicy::process(&started),
        NetworkPolicy::lane(&started)
    );
    assert_ne!(
        NetworkPolicy::process(&started),
        NetworkPolicy::process(&verified())
    );
}
