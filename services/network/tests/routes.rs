//! IP rerouting against a real topology of network namespaces this test builds:
//! `router` (owns the client addresses' host routes), `client` (the client
//! server: its addresses on its loopback, a TCP server answering "client"),
//! `transit` (answering "transit" on its own addresses only) and `internet`
//! (where requests and probes come from). Each test has namespaces of its own
//! (unique names, so tests run in parallel), deleted at the end even on failure.
//!
//! Needs root (namespaces, setns), iproute2 and nftables (scripts/test installs
//! it): without root the topology tests fail saying so, they are not skipped.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferry_network::routes::{
    AddressTable, InterfaceName, LinkedServer, LinuxRoutes, LinuxRoutesSettings, NamespaceName,
    ProbeSettings, RerouteReport, Rerouter, RouteBackend, RouteError, ServerAddresses, TableServer,
    run_in_namespace,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PORT: u16 = 80;
const CLIENT_SERVER: &str = "client-1";
const TRANSIT_SERVER: &str = "transit-1";

fn v4(text: &str) -> IpAddr {
    IpAddr::V4(text.parse::<Ipv4Addr>().expect("test IPv4 address"))
}

fn v6(text: &str) -> IpAddr {
    IpAddr::V6(text.parse::<Ipv6Addr>().expect("test IPv6 address"))
}

/// The client server's addresses, routed by the router to it.
fn client_ips() -> Vec<IpAddr> {
    vec![
        v4("198.51.100.10"),
        v4("198.51.100.11"),
        v6("2001:db8:100::10"),
    ]
}

fn client_server() -> ServerAddresses {
    ServerAddresses {
        ipv4: Some(Ipv4Addr::new(10, 0, 1, 2)),
        ipv6: Some("fd00:1::2".parse().expect("test address")),
    }
}

fn transit_server() -> ServerAddresses {
    ServerAddresses {
        ipv4: Some(Ipv4Addr::new(10, 0, 2, 2)),
        ipv6: Some("fd00:2::2".parse().expect("test address")),
    }
}

fn address_table() -> AddressTable {
    let mut table = AddressTable::new();
    table.insert(
        CLIENT_SERVER,
        TableServer {
            addresses: client_server(),
            client_ips: client_ips().into_iter().collect(),
        },
    );
    table.insert(
        TRANSIT_SERVER,
        TableServer {
            addresses: transit_server(),
            client_ips: BTreeSet::new(),
        },
    );
    table
}

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the IP rerouting tests need root: they create network namespaces, veths, \
         routes and nftables tables (run them as root, as CI does)"
    );
}

/// Runs `ip args`, panicking with the command and its stderr if it fails.
fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("ip {}: {error} (iproute2 installed?)", args.join(" ")));
    assert!(
        output.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// Output of `ip args`.
fn ip_output(args: &[&str]) -> String {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(output.status.success(), "ip {} failed", args.join(" "));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A TCP server answering `answer` in a namespace, stopped when dropped.
struct AnswerServer {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl AnswerServer {
    /// Stops the server and waits until its listeners are closed.
    async fn stop(self) {
        drop(self.stop);
        self.thread
            .await
            .expect("server task")
            .expect("server thread");
    }
}

async fn serve(
    namespace: &NamespaceName,
    binds: Vec<SocketAddr>,
    answer: &'static str,
) -> AnswerServer {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, listening) = tokio::sync::oneshot::channel();
    let namespace = namespace.clone();
    let thread = tokio::spawn(async move {
        run_in_namespace(Some(&namespace), move || async move {
            let mut listeners = Vec::new();
            for bind in binds {
                match TcpListener::bind(bind).await {
                    Ok(listener) => listeners.push(listener),
                    Err(error) => {
                        let _ = ready.send(Err(format!("bind {bind}: {error}")));
                        return;
                    }
                }
            }
            let _ = ready.send(Ok(()));
            let mut accepting = tokio::task::JoinSet::new();
            for listener in listeners {
                accepting.spawn(async move {
                    while let Ok((mut connection, _)) = listener.accept().await {
                        tokio::spawn(async move {
                            let _ = connection.write_all(answer.as_bytes()).await;
                            let _ = connection.shutdown().await;
                        });
                    }
                });
            }
            let _ = stopped.await;
        })
        .await
    });
    listening
        .await
        .expect("server thread answered")
        .expect("server listening");
    AnswerServer { stop, thread }
}

/// What `ip:80` answers, asked from `namespace`.
async fn fetch(namespace: &NamespaceName, ip: IpAddr) -> String {
    run_in_namespace(Some(namespace), move || async move {
        let ask = async {
            let mut connection = TcpStream::connect(SocketAddr::new(ip, PORT)).await?;
            let mut answer = String::new();
            connection.read_to_string(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        match tokio::time::timeout(Duration::from_secs(3), ask).await {
            Ok(Ok(answer)) => answer.trim().to_owned(),
            Ok(Err(error)) => format!("error: {error}"),
            Err(_) => "error: timed out".to_owned(),
        }
    })
    .await
    .expect("fetch thread")
}

static TOPOLOGIES: AtomicUsize = AtomicUsize::new(0);

/// Namespaces are named `frt<pid>-<n>-<role>`. A test process killed outright
/// (no unwinding, no drop) leaves its namespaces: they are deleted by the next
/// run once that process is gone.
fn remove_namespaces_of_killed_runs() {
    for line in ip_output(&["netns", "list"]).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix("frt")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            // Not asserted: a parallel test may be deleting it too.
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// The namespaces of one test; deleted on drop (after a failure too).
struct Topology {
    router: NamespaceName,
    client: NamespaceName,
    transit: NamespaceName,
    internet: NamespaceName,
    created: Mutex<Vec<NamespaceName>>,
    servers: Mutex<Vec<AnswerServer>>,
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Ok(mut servers) = self.servers.lock() {
            servers.clear();
        }
        if let Ok(created) = self.created.lock() {
            for namespace in created.iter() {
                // Not asserted: a drop during a panic must not panic again.
                let _ = Command::new("ip")
                    .args(["netns", "del", namespace.as_str()])
                    .status();
            }
        }
    }
}

impl Topology {
    /// Builds router, client, transit and internet, the client's host routes on
    /// the router, and starts the client's and the transit's servers.
    async fn build() -> Self {
        require_root();
        remove_namespaces_of_killed_runs();
        let id = format!(
            "frt{}-{}",
            std::process::id(),
            TOPOLOGIES.fetch_add(1, Ordering::Relaxed)
        );
        let name = |role: &str| NamespaceName::new(format!("{id}-{role}")).expect("namespace name");
        let topology = Self {
            router: name("router"),
            client: name("client"),
            transit: name("transit"),
            internet: name("internet"),
            created: Mutex::new(Vec::new()),
            servers: Mutex::new(Vec::new()),
        };
        for namespace in [
            &topology.router,
            &topology.client,
            &topology.transit,
            &topology.internet,
        ] {
            ip(&["netns", "add", namespace.as_str()]);
            topology
                .created
                .lock()
                .expect("created list")
                .push(namespace.clone());
            ip(&["-n", namespace.as_str(), "link", "set", "lo", "up"]);
            // No duplicate address detection, link-local addresses included: a
            // tentative address delays neighbor discovery by a second or two,
            // which the first reroute's measure would count.
            ip(&[
                "netns",
                "exec",
                namespace.as_str(),
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ]);
        }
        let router = topology.router.as_str();
        ip(&[
            "netns",
            "exec",
            router,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        ip(&[
            "netns",
            "exec",
            router,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.forwarding=1",
        ]);
        for (peer, device, subnet) in [
            (&topology.client, "to-client", 1),
            (&topology.transit, "to-transit", 2),
            (&topology.internet, "to-internet", 9),
        ] {
            let peer = peer.as_str();
            ip(&[
                "-n", router, "link", "add", device, "type", "veth", "peer", "name", "eth0",
                "netns", peer,
            ]);
            for (namespace, device, host) in [(router, device, 1), (peer, "eth0", 2)] {
                // Up before the addresses: an IPv6 address added to a veth still
                // down left the first neighbor solicitation for it unanswered
                // (a second lost at the first connection).
                ip(&["-n", namespace, "link", "set", device, "up"]);
                ip(&[
                    "-n",
                    namespace,
                    "addr",
                    "add",
                    &format!("10.0.{subnet}.{host}/24"),
                    "dev",
                    device,
                ]);
                // nodad: usable at once, no duplicate address detection wait.
                ip(&[
                    "-n",
                    namespace,
                    "addr",
                    "add",
                    &format!("fd00:{subnet}::{host}/64"),
                    "dev",
                    device,
                    "nodad",
                ]);
            }
            ip(&[
                "-n",
                peer,
                "route",
                "add",
                "default",
                "via",
                &format!("10.0.{subnet}.1"),
            ]);
            ip(&[
                "-n",
                peer,
                "-6",
                "route",
                "add",
                "default",
                "via",
                &format!("fd00:{subnet}::1"),
            ]);
        }
        for client_ip in client_ips() {
            let (prefix, next_hop) = match client_ip {
                IpAddr::V4(_) => (32, "10.0.1.2"),
                IpAddr::V6(_) => (128, "fd00:1::2"),
            };
            let host = format!("{client_ip}/{prefix}");
            ip(&[
                "-n",
                topology.client.as_str(),
                "addr",
                "add",
                &host,
                "dev",
                "lo",
            ]);
            ip(&[
                "-n",
                router,
                "route",
                "add",
                &host,
                "via",
                next_hop,
                "dev",
                "to-client",
            ]);
        }
        topology.start_client_server().await;
        topology.start_transit_server().await;
        topology
    }

    /// The client server answers on all its addresses.
    async fn start_client_server(&self) {
        let server = serve(
            &self.client,
            vec![SocketAddr::from(([0u16; 8], PORT))],
            "client\n",
        )
        .await;
        self.servers.lock().expect("servers").push(server);
    }

    /// The transit server answers on its own addresses only: rerouted addresses
    /// reach it through the DNAT.
    async fn start_transit_server(&self) {
        let binds = [
            transit_server().ipv4.map(IpAddr::V4),
            transit_server().ipv6.map(IpAddr::V6),
        ]
        .into_iter()
        .flatten()
        .map(|ip| SocketAddr::new(ip, PORT))
        .collect();
        let server = serve(&self.transit, binds, "transit\n").await;
        self.servers.lock().expect("servers").push(server);
    }

    fn backend(&self) -> LinuxRoutes {
        LinuxRoutes::new(LinuxRoutesSettings {
            router_namespace: self.router.clone(),
            servers: vec![
                LinkedServer {
                    addresses: client_server(),
                    router_device: Some(InterfaceName::new("to-client").expect("name")),
                    namespace: None,
                },
                LinkedServer {
                    addresses: transit_server(),
                    router_device: Some(InterfaceName::new("to-transit").expect("name")),
                    namespace: Some(self.transit.clone()),
                },
            ],
        })
        .expect("backend settings")
    }

    fn rerouter(&self) -> Rerouter<LinuxRoutes> {
        let mut probes = ProbeSettings::new(Some(self.internet.clone()), PORT);
        probes.connect_timeout = Duration::from_millis(300);
        probes.timeout = Duration::from_secs(10);
        Rerouter::new(self.backend(), probes)
    }

    /// What each client address answers from the internet.
    async fn answers(&self) -> Vec<String> {
        let mut answers = Vec::new();
        for client_ip in client_ips() {
            answers.push(fetch(&self.internet, client_ip).await);
        }
        answers
    }

    fn router_route(&self, ip: IpAddr) -> String {
        let family = if ip.is_ipv4() { "-4" } else { "-6" };
        ip_output(&[
            "-n",
            self.router.as_str(),
            family,
            "route",
            "show",
            &ip.to_string(),
        ])
        .trim()
        .to_owned()
    }

    fn transit_dnat_table(&self) -> String {
        let output = Command::new("ip")
            .args([
                "netns",
                "exec",
                self.transit.as_str(),
                "nft",
                "list",
                "table",
                "inet",
                "ferry_reroute",
            ])
            .output()
            .expect("run nft");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

fn print_report(what: &str, report: &RerouteReport) {
    for address in &report.addresses {
        println!(
            "{what}: {} unavailable {} ms (answered again: {})",
            address.ip, address.unavailable_ms, address.answered_again
        );
    }
    println!("{what}: max {} ms", report.max_unavailability_ms);
}

fn everywhere(answer: &str) -> Vec<String> {
    vec![answer.to_owned(); client_ips().len()]
}

#[tokio::test]
async fn rerouted_ipv4_and_ipv6_addresses_reach_the_transit_then_the_client_again() {
    let topology = Topology::build().await;
    assert_eq!(topology.answers().await, everywhere("client"));
    let rerouter = topology.rerouter();
    let table = address_table();

    let rerouted = rerouter
        .reroute(&table, &client_ips(), TRANSIT_SERVER)
        .await
        .expect("reroute");
    print_report("reroute", &rerouted);
    assert!(rerouted.all_answered_again(), "{rerouted:?}");
    assert_eq!(
        rerouted.ips(),
        vec!["198.51.100.10", "198.51.100.11", "2001:db8:100::10"]
    );
    let event = rerouted.rerouted_event(TRANSIT_SERVER);
    assert_eq!(event.unavailability_ms, rerouted.max_unavailability_ms);
    assert_eq!(event.ips, rerouted.ips());
    assert_eq!(topology.answers().await, everywhere("transit"));
    assert!(
        topology
            .router_route(v4("198.51.100.10"))
            .contains("via 10.0.2.2")
    );
    assert!(
        topology
            .router_route(v6("2001:db8:100::10"))
            .contains("via fd00:2::2")
    );

    let restored = rerouter
        .restore(&table, &client_ips())
        .await
        .expect("restore");
    print_report("restore", &restored);
    assert!(restored.all_answered_again(), "{restored:?}");
    assert_eq!(topology.answers().await, everywhere("client"));
    assert!(
        topology
            .router_route(v4("198.51.100.11"))
            .contains("via 10.0.1.2")
    );
    assert!(
        topology
            .router_route(v6("2001:db8:100::10"))
            .contains("via fd00:1::2")
    );
    let table = topology.transit_dnat_table();
    assert!(table.contains("dnat ip to 10.0.2.2"), "{table}");
    assert!(
        !table.contains("198.51.100.") && !table.contains("2001:db8:100::"),
        "{table}"
    );
}

#[tokio::test]
async fn reroute_and_restore_applied_twice_leave_the_same_routes() {
    let topology = Topology::build().await;
    let backend = topology.backend();
    let ips = client_ips();

    // Restoring what is not rerouted is fine.
    backend
        .restore(&ips, &client_server())
        .await
        .expect("restore before any reroute");
    assert_eq!(topology.answers().await, everywhere("client"));

    backend
        .reroute(&ips, &transit_server())
        .await
        .expect("reroute");
    let routes_once: Vec<String> = ips.iter().map(|ip| topology.router_route(*ip)).collect();
    let dnat_once = topology.transit_dnat_table();
    backend
        .reroute(&ips, &transit_server())
        .await
        .expect("reroute again");
    let routes_twice: Vec<String> = ips.iter().map(|ip| topology.router_route(*ip)).collect();
    assert_eq!(routes_once, routes_twice);
    assert_eq!(
        dnat_once,
        topology.transit_dnat_table(),
        "the DNAT is not duplicated"
    );
    assert_eq!(topology.answers().await, everywhere("transit"));

    backend
        .restore(&ips, &client_server())
        .await
        .expect("restore");
    backend
        .restore(&ips, &client_server())
        .await
        .expect("restore again");
    assert_eq!(topology.answers().await, everywhere("client"));
}

#[tokio::test]
async fn an_address_that_never_answers_again_is_unavailable_until_the_timeout() {
    let topology = Topology::build().await;
    // The transit server stops: nothing answers once the route has moved.
    let transit = topology.servers.lock().expect("servers").remove(1);
    transit.stop().await;
    let mut probes = ProbeSettings::new(Some(topology.internet.clone()), PORT);
    probes.connect_timeout = Duration::from_millis(200);
    probes.timeout = Duration::from_millis(1500);
    let rerouter = Rerouter::new(topology.backend(), probes);

    let rerouted = rerouter
        .reroute(&address_table(), &[v4("198.51.100.10")], TRANSIT_SERVER)
        .await
        .expect("reroute");
    print_report("reroute to a silent transit", &rerouted);
    assert!(!rerouted.all_answered_again());
    assert!(
        (1000..=2500).contains(&rerouted.max_unavailability_ms),
        "{rerouted:?}"
    );
}

#[tokio::test]
async fn an_outage_around_the_change_is_measured() {
    let topology = Topology::build().await;
    // The client server stops answering (its reinstallation began): the client
    // addresses answer nowhere until the transit takes them.
    let client = topology.servers.lock().expect("servers").remove(0);
    client.stop().await;
    let answer = fetch(&topology.internet, v4("198.51.100.10")).await;
    assert!(
        answer.starts_with("error:"),
        "the stopped client answered: {answer}"
    );
    let rerouted = topology
        .rerouter()
        .reroute(&address_table(), &client_ips(), TRANSIT_SERVER)
        .await
        .expect("reroute");
    print_report("reroute of a stopped client", &rerouted);
    assert!(rerouted.all_answered_again(), "{rerouted:?}");
    assert!(
        rerouted
            .addresses
            .iter()
            .all(|address| (1..5000).contains(&address.unavailable_ms)),
        "{rerouted:?}"
    );
    assert_eq!(topology.answers().await, everywhere("transit"));
}

/// A backend that records what reaches it: nothing must, for refused input.
#[derive(Default)]
struct RecordingBackend {
    calls: Mutex<Vec<String>>,
}

impl RouteBackend for RecordingBackend {
    async fn reroute(&self, ips: &[IpAddr], to: &ServerAddresses) -> Result<(), RouteError> {
        self.calls
            .lock()
            .expect("calls")
            .push(format!("reroute {ips:?} to {to}"));
        Ok(())
    }

    async fn restore(&self, ips: &[IpAddr], home: &ServerAddresses) -> Result<(), RouteError> {
        self.calls
            .lock()
            .expect("calls")
            .push(format!("restore {ips:?} to {home}"));
        Ok(())
    }
}

#[tokio::test]
async fn bad_input_is_refused_before_any_command_runs() {
    // Malformed names never make settings.
    for bad in ["router; reboot", "-n", "../../proc/1/ns/net", ""] {
        assert!(matches!(
            NamespaceName::new(bad),
            Err(RouteError::InvalidName { .. })
        ));
    }
    let from_json = serde_json::from_str::<LinuxRoutesSettings>(
        r#"{"router_namespace": "r $(reboot)", "servers": []}"#,
    );
    assert!(from_json.is_err(), "{from_json:?}");

    // Addresses not in the table, or going nowhere sensible, never reach the backend.
    let rerouter = Rerouter::new(RecordingBackend::default(), ProbeSettings::new(None, PORT));
    let table = address_table();
    let stranger = v4("203.0.113.7");
    assert!(matches!(
        rerouter.reroute(&table, &[v4("198.51.100.10"), stranger], TRANSIT_SERVER).await,
        Err(RouteError::NotInTable(ip)) if ip == stranger
    ));
    assert!(matches!(
        rerouter.restore(&table, &[stranger]).await,
        Err(RouteError::NotInTable(_))
    ));
    assert!(matches!(
        rerouter.reroute(&table, &client_ips(), "nobody").await,
        Err(RouteError::UnknownServer(_))
    ));
    assert!(matches!(
        rerouter.reroute(&table, &client_ips(), CLIENT_SERVER).await,
        Err(RouteError::RerouteToOwner { .. })
    ));
    assert!(rerouter.backend().calls.lock().expect("calls").is_empty());

    // Probes that cannot run (their namespace does not exist) stop the change.
    let blind = Rerouter::new(
        RecordingBackend::default(),
        ProbeSettings::new(
            Some(NamespaceName::new("ferry-no-such-internet").expect("name")),
            PORT,
        ),
    );
    let refused = blind.reroute(&table, &client_ips(), TRANSIT_SERVER).await;
    assert!(
        matches!(refused, Err(RouteError::Probe { .. })),
        "{refused:?}"
    );
    assert!(blind.backend().calls.lock().expect("calls").is_empty());

    // The Linux backend refuses unusable addresses before running anything: its
    // namespaces do not exist, so a command that ran would fail with a command
    // error instead.
    let backend = LinuxRoutes::new(LinuxRoutesSettings {
        router_namespace: NamespaceName::new("ferry-no-such-router").expect("name"),
        servers: vec![LinkedServer {
            addresses: transit_server(),
            router_device: None,
            namespace: Some(NamespaceName::new("ferry-no-such-transit").expect("name")),
        }],
    })
    .expect("settings");
    for (ips, what) in [
        (vec![v4("127.0.0.1")], "loopback"),
        (vec![v6("ff02::1")], "multicast"),
        (
            vec![v4("198.51.100.10"), v4("0.0.0.0")],
            "unspecified after a good one",
        ),
        (vec![v4("10.0.2.2")], "the next hop itself"),
    ] {
        let refused = backend.reroute(&ips, &transit_server()).await;
        assert!(
            matches!(refused, Err(RouteError::UnusableAddress { .. })),
            "{what}: {refused:?}"
        );
    }
    let v4_only = ServerAddresses {
        ipv6: None,
        ..transit_server()
    };
    assert!(matches!(
        backend.reroute(&[v6("2001:db8:100::10")], &v4_only).await,
        Err(RouteError::NoNextHop { .. })
    ));
    assert!(matches!(
        backend
            .reroute(&[v4("198.51.100.10")], &client_server())
            .await,
        Err(RouteError::UnknownReceiver(_))
    ));
    // A command that fails is named, with its stderr.
    let failed = backend
        .restore(&[v4("198.51.100.10")], &client_server())
        .await;
    let Err(RouteError::Command {
        command, stderr, ..
    }) = failed
    else {
        panic!("expected a command error, got {failed:?}");
    };
    assert!(
        command.starts_with(
            "ip -n ferry-no-such-router -4 route replace 198.51.100.10/32 via 10.0.1.2"
        ),
        "{command}"
    );
    assert!(!stderr.is_empty());
}
