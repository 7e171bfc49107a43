//! The provider network in namespaces ([`ferry_network::routes::lab`]) for a small
//! fleet: one client server (two IPv4 and one IPv6 public addresses) and two
//! transit servers (the second IPv4 only, as in the example fleet). The router it
//! describes is driven exactly as `ferry up` drives it: a [`ConfiguredRouter`]
//! read from the description file, through the [`Rerouting`] trait.
//!
//! Each test has a prefix of its own, so they run in parallel. Needs root
//! (namespaces, setns), iproute2 and nftables: without root they fail saying so.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Command;

use ferry_network::reactions::Rerouting;
use ferry_network::router::{ConfiguredRouter, RouterDescription};
use ferry_network::routes::lab::{Lab, LabError, LabServer, MAX_PREFIX_LEN};

const PORT: u16 = 80;
const CLIENT: &str = "srv-0042";
const TRANSIT_1: &str = "tr-0001";
const TRANSIT_2: &str = "tr-0002";

fn v4(text: &str) -> Ipv4Addr {
    text.parse().expect("test IPv4 address")
}

fn v6(text: &str) -> Ipv6Addr {
    text.parse().expect("test IPv6 address")
}

fn fleet() -> Vec<LabServer> {
    vec![
        LabServer {
            server_id: CLIENT.to_owned(),
            public_ipv4: vec![v4("192.0.2.42"), v4("192.0.2.43")],
            public_ipv6: vec![v6("2001:db8::42")],
            receives: false,
        },
        LabServer {
            server_id: TRANSIT_1.to_owned(),
            public_ipv4: vec![v4("198.51.100.11")],
            public_ipv6: vec![v6("2001:db8:100::11")],
            receives: true,
        },
        LabServer {
            server_id: TRANSIT_2.to_owned(),
            public_ipv4: vec![v4("198.51.100.12")],
            public_ipv6: vec![],
            receives: true,
        },
    ]
}

fn public_ips(server_id: &str) -> Vec<IpAddr> {
    fleet()
        .into_iter()
        .find(|server| server.server_id == server_id)
        .map(|server| server.public_ips())
        .unwrap_or_default()
}

/// The client's addresses as the fleet's events carry them.
fn client_ip_strings() -> Vec<String> {
    public_ips(CLIENT).iter().map(ToString::to_string).collect()
}

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the lab tests need root: they create network namespaces, veths, routes and \
         nftables tables (run them as root, as CI does)"
    );
}

async fn lab(prefix: &str) -> Lab {
    require_root();
    Lab::up(prefix, &fleet(), PORT).await.expect("lab up")
}

/// The names `ip netns list` shows.
fn listed_namespaces() -> Vec<String> {
    let output = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("run ip netns list");
    assert!(output.status.success(), "ip netns list failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// What each of `ips` answers from the internet.
async fn answers(lab: &Lab, ips: &[IpAddr]) -> Vec<String> {
    let mut answers = Vec::new();
    for ip in ips {
        answers.push(lab.fetch(*ip).await.expect("fetch"));
    }
    answers
}

fn everywhere(server_id: &str, ips: &[IpAddr]) -> Vec<String> {
    vec![server_id.to_owned(); ips.len()]
}

/// A description file of its own, deleted on drop.
struct DescriptionFile(PathBuf);

impl DescriptionFile {
    fn new(prefix: &str) -> Self {
        Self(
            std::env::temp_dir().join(format!("ferry-{prefix}-{}-routes.json", std::process::id())),
        )
    }
}

impl Drop for DescriptionFile {
    fn drop(&mut self) {
        // Not asserted: a drop during a panic must not panic again.
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_lab_can_be_shared_across_tasks() {
    fn shared<T: Send + Sync>() {}
    shared::<Lab>();
}

#[tokio::test]
async fn every_server_answers_its_id_on_its_public_addresses() {
    let lab = lab("lt-answers").await;
    for server in fleet() {
        let ips = server.public_ips();
        assert_eq!(
            answers(&lab, &ips).await,
            everywhere(&server.server_id, &ips),
            "{}",
            server.server_id
        );
    }
    // Nothing answers for an address no server has.
    let nowhere = lab.fetch(IpAddr::V4(v4("203.0.113.7"))).await;
    assert!(
        matches!(nowhere, Err(LabError::Fetch { .. })),
        "{nowhere:?}"
    );
    lab.down().await;
}

#[tokio::test]
async fn the_described_router_reroutes_the_client_to_a_transit_and_back() {
    let lab = lab("lt-reroute").await;
    let file = DescriptionFile::new(lab.prefix());
    lab.write_description(&file.0).expect("description written");
    // As `ferry up` builds it from FERRY_IP_ROUTES.
    let router = ConfiguredRouter::from_file(Some(&file.0)).expect("configured router");
    let client_ips = public_ips(CLIENT);
    let ips = client_ip_strings();

    let rerouted_ms = router
        .reroute(CLIENT, &ips, TRANSIT_1)
        .await
        .expect("reroute");
    println!("reroute {CLIENT} → {TRANSIT_1}: unavailable at most {rerouted_ms} ms");
    assert_eq!(
        answers(&lab, &client_ips).await,
        everywhere(TRANSIT_1, &client_ips)
    );
    // The transits still answer for themselves.
    for transit in [TRANSIT_1, TRANSIT_2] {
        let own = public_ips(transit);
        assert_eq!(answers(&lab, &own).await, everywhere(transit, &own));
    }

    let restored_ms = router.restore(CLIENT, &ips).await.expect("restore");
    println!("restore {CLIENT}: unavailable at most {restored_ms} ms");
    assert_eq!(
        answers(&lab, &client_ips).await,
        everywhere(CLIENT, &client_ips)
    );
    // A second transit then takes the client's IPv4 addresses (it has no IPv6).
    let client_v4: Vec<String> = client_ips
        .iter()
        .filter(|ip| ip.is_ipv4())
        .map(ToString::to_string)
        .collect();
    let rerouted_2_ms = router
        .reroute(CLIENT, &client_v4, TRANSIT_2)
        .await
        .expect("reroute to the second transit");
    println!("reroute {CLIENT} IPv4 → {TRANSIT_2}: unavailable at most {rerouted_2_ms} ms");
    let v4_ips: Vec<IpAddr> = client_ips.iter().copied().filter(IpAddr::is_ipv4).collect();
    assert_eq!(answers(&lab, &v4_ips).await, everywhere(TRANSIT_2, &v4_ips));
    router.restore(CLIENT, &client_v4).await.expect("restore");
    assert_eq!(
        answers(&lab, &client_ips).await,
        everywhere(CLIENT, &client_ips)
    );
    // Everything answered the whole time: nothing near the probes' timeout.
    for ms in [rerouted_ms, restored_ms, rerouted_2_ms] {
        assert!(ms < 5_000, "{ms} ms");
    }
    lab.down().await;
}

#[tokio::test]
async fn the_description_round_trips_through_its_json() {
    let lab = lab("lt-json").await;
    let file = DescriptionFile::new(lab.prefix());
    lab.write_description(&file.0).expect("description written");
    let text = std::fs::read_to_string(&file.0).expect("description read");
    let read: RouterDescription = serde_json::from_str(&text).expect("a router description");
    let described = lab.description();
    // The settings types are read-only in serde and not comparable: their
    // debug forms hold every field.
    assert_eq!(format!("{read:?}"), format!("{described:?}"));
    assert_eq!(
        read.router.router_namespace.as_str(),
        lab.router_namespace().as_str()
    );
    assert_eq!(
        read.probes.namespace.as_ref().map(|name| name.as_str()),
        Some(lab.internet_namespace().as_str())
    );
    assert_eq!(read.probes.port, PORT);
    assert_eq!(
        read.servers.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![CLIENT, TRANSIT_1, TRANSIT_2]
    );
    for server in fleet() {
        let link = lab.link_of(&server.server_id).expect("link");
        assert_eq!(read.servers.get(&server.server_id), Some(&link));
        let linked = read
            .router
            .servers
            .iter()
            .find(|linked| linked.addresses == link)
            .expect("linked server");
        // Only transit servers are made to accept rerouted addresses.
        assert_eq!(
            linked.namespace.as_ref(),
            server
                .receives
                .then(|| lab.namespace_of(&server.server_id))
                .flatten()
        );
    }
    ConfiguredRouter::new(read).expect("a configured router");
    lab.down().await;
}

#[tokio::test]
async fn bad_prefixes_servers_and_ports_are_refused_before_anything_runs() {
    let before = listed_namespaces();
    let long = "x".repeat(MAX_PREFIX_LEN + 1);
    for bad in [
        "",
        "Lab",
        "lab.1",
        "lab 1",
        "-lab",
        "lab;reboot",
        "../x",
        &long,
    ] {
        let refused = Lab::up(bad, &fleet(), PORT).await;
        assert!(
            matches!(refused, Err(LabError::InvalidPrefix { .. })),
            "{bad:?}: {refused:?}"
        );
    }
    assert!(matches!(
        Lab::up("lt-bad", &fleet(), 0).await,
        Err(LabError::InvalidPort)
    ));
    let mut twice = fleet();
    twice.push(fleet().remove(0));
    assert!(matches!(
        Lab::up("lt-bad", &twice, PORT).await,
        Err(LabError::InvalidServers(_))
    ));
    let mut loopback = fleet();
    loopback[0].public_ipv4.push(Ipv4Addr::LOCALHOST);
    assert!(matches!(
        Lab::up("lt-bad", &loopback, PORT).await,
        Err(LabError::Route(_))
    ));
    let mut shared = fleet();
    shared[1].public_ipv4.push(v4("192.0.2.42"));
    assert!(matches!(
        Lab::up("lt-bad", &shared, PORT).await,
        Err(LabError::InvalidServers(_))
    ));
    let mut control = fleet();
    control[0].server_id = "srv\n0042".to_owned();
    assert!(matches!(
        Lab::up("lt-bad", &control, PORT).await,
        Err(LabError::InvalidServers(_))
    ));
    let made: Vec<String> = listed_namespaces()
        .into_iter()
        .filter(|name| !before.contains(name) && name.starts_with("lt-bad"))
        .collect();
    assert!(made.is_empty(), "{made:?}");
}

#[tokio::test]
async fn dropping_or_taking_the_lab_down_removes_every_namespace() {
    let dropped = lab("lt-drop").await;
    let names: Vec<String> = dropped
        .namespaces()
        .iter()
        .map(|name| name.as_str().to_owned())
        .collect();
    assert_eq!(names.len(), 2 + fleet().len(), "{names:?}");
    let listed = listed_namespaces();
    assert!(names.iter().all(|name| listed.contains(name)), "{listed:?}");
    drop(dropped);
    let listed = listed_namespaces();
    assert!(
        !names.iter().any(|name| listed.contains(name)),
        "{listed:?}"
    );

    let taken_down = lab("lt-drop").await;
    let names: Vec<String> = taken_down
        .namespaces()
        .iter()
        .map(|name| name.as_str().to_owned())
        .collect();
    taken_down.down().await;
    let listed = listed_namespaces();
    assert!(
        !names.iter().any(|name| listed.contains(name)),
        "{listed:?}"
    );
}

#[tokio::test]
async fn namespaces_left_by_a_killed_run_of_the_prefix_are_removed() {
    require_root();
    // A lab of this prefix by a process that is gone (above any pid_max), one
    // of a live process (this one), and one of another prefix.
    let gone = format!("lt-leftover.{}.0.router", u32::MAX);
    let live = format!("lt-leftover.{}.999999.router", std::process::id());
    let other = format!("lt-leftover2.{}.0.router", u32::MAX);
    for name in [&gone, &live, &other] {
        let status = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .expect("ip netns add");
        assert!(status.success(), "{name}");
    }
    let lab = Lab::up("lt-leftover", &fleet(), PORT).await;
    let listed = listed_namespaces();
    for name in [&live, &other] {
        let _ = Command::new("ip").args(["netns", "del", name]).status();
    }
    let lab = lab.expect("lab up");
    assert!(!listed.contains(&gone), "{listed:?}");
    assert!(listed.contains(&live), "{listed:?}");
    assert!(listed.contains(&other), "{listed:?}");
    lab.down().await;
}

#[tokio::test]
async fn a_client_that_stopped_answering_is_unavailable_until_the_transit_takes_its_addresses() {
    let mut lab = lab("lt-outage").await;
    let file = DescriptionFile::new(lab.prefix());
    lab.write_description(&file.0).expect("description written");
    let router = ConfiguredRouter::from_file(Some(&file.0)).expect("configured router");
    let client_ips = public_ips(CLIENT);
    // Its reinstallation began: nothing answers on its addresses.
    assert!(lab.stop_answering(CLIENT).await);
    assert!(!lab.stop_answering(CLIENT).await, "stopped twice");
    let silent = lab.fetch(client_ips[0]).await;
    assert!(matches!(silent, Err(LabError::Fetch { .. })), "{silent:?}");

    let rerouted_ms = router
        .reroute(CLIENT, &client_ip_strings(), TRANSIT_1)
        .await
        .expect("reroute");
    println!("reroute of a silent {CLIENT} → {TRANSIT_1}: unavailable at most {rerouted_ms} ms");
    assert!((1..5_000).contains(&rerouted_ms), "{rerouted_ms} ms");
    assert_eq!(
        answers(&lab, &client_ips).await,
        everywhere(TRANSIT_1, &client_ips)
    );
    lab.down().await;
}
