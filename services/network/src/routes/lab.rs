//! A provider network in network namespaces, for a fleet: the router, an
//! "internet" where clients and probes live, and one namespace per server with
//! its public addresses, each answering HTTP with its server id. What
//! [`Lab::description`] says is what `ferry up` reads (`FERRY_IP_ROUTES`) to
//! reroute a client server's addresses for real, on one machine.
//!
//! ```text
//!                      ┌──────────── <prefix>.<pid>.<n>.router ────────────┐
//!   internet ── to-internet            to-s1 ─── s1 (client: public addresses on lo)
//!   (probes,    10.B.0.0/24            to-s2 ─── s2 (transit: accepts rerouted
//!    clients)   fdXX:XXXX:XXXX:0::/64  …          addresses through a DNAT)
//!                 host routes: each public address via its server's link
//! ```
//!
//! - Namespaces are named `<prefix>.<pid>.<n>.<role>` (roles `router`,
//!   `internet`, `s1`, `s2`, …): the prefix cannot hold a `.`, so a name tells
//!   exactly which prefix and which process made it, and labs of one process
//!   differ by `n`. A process killed outright leaves its namespaces; the next lab
//!   of the same prefix deletes those whose process is gone
//!   ([`Lab::remove_leftovers`]).
//! - Link `i` (0 for the internet, then one per server in the order given) is
//!   `10.B.i.0/24` and `fdXX:XXXX:XXXX:i::/64`, the router `.1`/`::1`, the peer
//!   `.2`/`::2`, with `B` and the `X`s (40 bits) hashed from the lab's name: two
//!   labs practically never describe the same link addresses, so a description
//!   used with the wrong lab fails instead of half-working. (Addresses inside
//!   namespaces never clash anyway.)
//! - Interfaces are named by index (`to-internet`, `to-s<i>` on the router,
//!   `eth0` in the peer), within the kernel's 15 characters whatever the ids.
//! - Needs root (namespaces, `setns`), iproute2, `sysctl` and, for the reroute
//!   itself, nftables. The host's own namespace is never changed.
//!
//! Dropping the [`Lab`] stops the answer servers and deletes every namespace (best
//! effort, blocking); [`Lab::down`] does the same asynchronously.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::task::JoinSet;

use super::{
    InterfaceName, LinkedServer, LinuxRoutesSettings, NamespaceName, ProbeSettings, RouteError,
    ServerAddresses, check_rerouted_address, run_in_namespace,
};
use crate::router::RouterDescription;

/// The longest lab prefix: with the process id, the lab's number and the role,
/// a namespace name stays well within its 64 characters.
pub const MAX_PREFIX_LEN: usize = 20;

/// The most servers a lab holds: each has a link subnet numbered by its index
/// in one byte (0 is the internet's).
pub const MAX_SERVERS: usize = 200;

/// How long a fetch (connect, request, answer) may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// How long an answer server waits for a request's head before closing.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request head an answer server reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// How long teardown waits for an answer server's listeners to close.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Labs made by this process, numbering their namespaces.
static LABS: AtomicU32 = AtomicU32::new(0);

/// A server of the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabServer {
    /// Its ferry server id: the description's key, and what it answers.
    pub server_id: String,
    /// Its public IPv4 addresses (routed to it by the router).
    pub public_ipv4: Vec<Ipv4Addr>,
    /// Its public IPv6 addresses (routed to it by the router).
    pub public_ipv6: Vec<Ipv6Addr>,
    /// Whether it accepts other servers' rerouted addresses (through a DNAT):
    /// true for transit servers.
    pub receives: bool,
}

impl LabServer {
    /// Server `server_id` with public addresses `ips` (either family).
    pub fn new(server_id: impl Into<String>, ips: &[IpAddr], receives: bool) -> Self {
        let mut server = Self {
            server_id: server_id.into(),
            public_ipv4: Vec::new(),
            public_ipv6: Vec::new(),
            receives,
        };
        for ip in ips {
            match ip {
                IpAddr::V4(v4) => server.public_ipv4.push(*v4),
                IpAddr::V6(v6) => server.public_ipv6.push(*v6),
            }
        }
        server
    }

    /// Its public addresses, IPv4 first.
    pub fn public_ips(&self) -> Vec<IpAddr> {
        self.public_ipv4
            .iter()
            .copied()
            .map(IpAddr::V4)
            .chain(self.public_ipv6.iter().copied().map(IpAddr::V6))
            .collect()
    }
}

/// Why a lab could not be built or asked.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The prefix cannot name the lab's namespaces.
    #[error("invalid lab prefix {prefix:?}: {reason}")]
    InvalidPrefix {
        /// The prefix refused.
        prefix: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The servers cannot make a lab (ids, addresses, number).
    #[error("invalid lab servers: {0}")]
    InvalidServers(String),
    /// The answer port is 0.
    #[error("the lab's answer port cannot be 0")]
    InvalidPort,
    /// A name or address the routes module refuses.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// A command could not be started.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A command failed.
    #[error("`{command}` failed ({status}): {stderr} (the lab needs root and iproute2)")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A namespace could not be entered.
    #[error("entering namespace {namespace}: {source}")]
    Namespace {
        /// The namespace.
        namespace: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A server's answer server could not start.
    #[error("server {server_id:?} cannot answer: {reason}")]
    AnswerServer {
        /// The server.
        server_id: String,
        /// Why.
        reason: String,
    },
    /// Nothing answered as HTTP.
    #[error("fetching http://{address}/ from the internet namespace: {reason}")]
    Fetch {
        /// Where.
        address: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The lab, once built, does not answer as it should.
    #[error("{ip} answered {answered:?} instead of {expected:?}")]
    WrongAnswer {
        /// The address fetched.
        ip: IpAddr,
        /// The server id it should answer.
        expected: String,
        /// What it answered.
        answered: String,
    },
}

/// A server of a built lab: where it lives and its link.
#[derive(Debug)]
struct Node {
    server: LabServer,
    namespace: NamespaceName,
    /// The router's interface towards it.
    device: InterfaceName,
    /// Its link addresses: the next hop of its public addresses.
    link: ServerAddresses,
}

/// A running answer server.
#[derive(Debug)]
struct AnswerServer {
    /// Dropped to stop it.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Disconnected once its listeners are closed (waited for in `Drop`).
    closed: Mutex<std::sync::mpsc::Receiver<()>>,
    /// Its namespace thread (waited for in [`Lab::down`]).
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl AnswerServer {
    fn stop_blocking(mut self) {
        self.stop.take();
        if let Ok(closed) = self.closed.lock() {
            // Either way (closed, or not within the timeout) teardown goes on.
            let _ = closed.recv_timeout(STOP_TIMEOUT);
        }
    }

    async fn stop(mut self) {
        self.stop.take();
        // Either way (stopped, failed or not within the timeout) teardown goes on.
        let _ = tokio::time::timeout(STOP_TIMEOUT, self.task).await;
    }
}

/// The link addressing of one lab (see the module documentation).
#[derive(Debug, Clone, Copy)]
struct Addressing {
    /// `B` of `10.B.i.0/24`.
    v4_octet: u8,
    /// The first three groups of `fdXX:XXXX:XXXX:i::/64`.
    v6_groups: [u16; 3],
}

impl Addressing {
    /// Derived from the lab's name, so that every lab has its own.
    fn of(lab_id: &str) -> Self {
        let mut hasher = DefaultHasher::new();
        lab_id.hash(&mut hasher);
        let [a, b, c, d, e, f, ..] = hasher.finish().to_be_bytes();
        Self {
            v4_octet: a,
            v6_groups: [
                0xfd00 | u16::from(b),
                u16::from_be_bytes([c, d]),
                u16::from_be_bytes([e, f]),
            ],
        }
    }

    /// Host `host` (1 the router, 2 the peer) of link `link`.
    fn v4(self, link: u8, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.v4_octet, link, host)
    }

    fn v6(self, link: u8, host: u8) -> Ipv6Addr {
        let [a, b, c] = self.v6_groups;
        Ipv6Addr::new(a, b, c, u16::from(link), 0, 0, 0, u16::from(host))
    }

    /// Whether `ip` is in the range of the lab's links (`10.B.0.0/16`,
    /// `fdXX:XXXX:XXXX::/48`): a public address there would shadow a link.
    fn covers(self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, ..] = v4.octets();
                a == 10 && b == self.v4_octet
            }
            IpAddr::V6(v6) => v6.segments()[..3] == self.v6_groups,
        }
    }
}

/// A provider network in namespaces (see the module documentation): dropping it
/// deletes everything it made.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    port: u16,
    router: NamespaceName,
    internet: NamespaceName,
    nodes: Vec<Node>,
    /// Every namespace made, deleted at teardown.
    created: Vec<NamespaceName>,
    /// The running answer servers, by server id.
    answering: Vec<(String, AnswerServer)>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, server) in self.answering.drain(..) {
            server.stop_blocking();
        }
        for namespace in self.created.drain(..) {
            // Not checked: teardown is best effort, and a drop during a panic
            // must not panic again.
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", namespace.as_str()])
                .output();
        }
    }
}

impl Lab {
    /// Builds the lab of `servers` under `prefix` (ASCII lowercase letters, digits
    /// and `-`, at most [`MAX_PREFIX_LEN`]), each server answering HTTP on `port`
    /// with its id, and checks that every public address answers its server's id
    /// from the internet. Deletes first the namespaces of labs of the same prefix
    /// whose process is gone. Everything is checked before any command runs; on
    /// an error, what was made is deleted.
    pub async fn up(prefix: &str, servers: &[LabServer], port: u16) -> Result<Lab, LabError> {
        check_prefix(prefix)?;
        if port == 0 {
            return Err(LabError::InvalidPort);
        }
        let lab_id = format!(
            "{prefix}.{}.{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let addressing = Addressing::of(&lab_id);
        check_servers(servers, addressing)?;
        let mut lab = Self::named(prefix, &lab_id, servers, port, addressing)?;
        Self::remove_leftovers(prefix).await?;
        lab.build(addressing).await?;
        lab.start_answering().await?;
        lab.check_answers().await?;
        Ok(lab)
    }

    /// The lab's names and addresses, checked, before anything exists.
    fn named(
        prefix: &str,
        lab_id: &str,
        servers: &[LabServer],
        port: u16,
        addressing: Addressing,
    ) -> Result<Self, LabError> {
        let name = |role: &str| NamespaceName::new(format!("{lab_id}.{role}"));
        let mut nodes = Vec::with_capacity(servers.len());
        for (index, server) in servers.iter().enumerate() {
            let link = link_number(index)?;
            nodes.push(Node {
                server: server.clone(),
                namespace: name(&format!("s{link}"))?,
                device: InterfaceName::new(format!("to-s{link}"))?,
                link: ServerAddresses {
                    ipv4: Some(addressing.v4(link, 2)),
                    ipv6: Some(addressing.v6(link, 2)),
                },
            });
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            port,
            router: name("router")?,
            internet: name("internet")?,
            nodes,
            created: Vec::new(),
            answering: Vec::new(),
        })
    }

    /// Deletes the namespaces of labs of `prefix` whose process is gone (killed
    /// outright, no teardown); returns how many. Those of live processes, this
    /// one's included, are left alone.
    pub async fn remove_leftovers(prefix: &str) -> Result<usize, LabError> {
        check_prefix(prefix)?;
        let listed = output("ip", &["netns", "list"]).await?;
        let mut removed = 0;
        for line in listed.lines() {
            let Some(name) = line.split_whitespace().next() else {
                continue;
            };
            let Some(pid) = owner_pid(prefix, name) else {
                continue;
            };
            if process_alive(pid) {
                continue;
            }
            // Checked again as a name: it comes from the system, and reaches a
            // command line.
            let namespace = NamespaceName::new(name)?;
            // Not fatal: a parallel lab of the same prefix may be deleting it too.
            match run("ip", &["netns", "del", namespace.as_str()]).await {
                Ok(()) => removed += 1,
                Err(error) => tracing::warn!(%error, "lab: leftover namespace not deleted"),
            }
        }
        Ok(removed)
    }

    /// The namespaces, links, addresses and routes.
    async fn build(&mut self, addressing: Addressing) -> Result<(), LabError> {
        let namespaces: Vec<NamespaceName> = [&self.router, &self.internet]
            .into_iter()
            .chain(self.nodes.iter().map(|node| &node.namespace))
            .cloned()
            .collect();
        for namespace in namespaces {
            self.add_namespace(namespace).await?;
        }
        let router = self.router.as_str();
        sysctl(
            router,
            &["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"],
        )
        .await?;
        let internet = InterfaceName::new("to-internet")?;
        link(router, &internet, self.internet.as_str(), addressing, 0).await?;
        for (index, node) in self.nodes.iter().enumerate() {
            let number = link_number(index)?;
            link(
                router,
                &node.device,
                node.namespace.as_str(),
                addressing,
                number,
            )
            .await?;
            for ip in node.server.public_ips() {
                let next_hop = match ip {
                    IpAddr::V4(_) => IpAddr::V4(addressing.v4(number, 2)),
                    IpAddr::V6(_) => IpAddr::V6(addressing.v6(number, 2)),
                };
                publish(router, node, ip, next_hop).await?;
            }
        }
        Ok(())
    }

    /// Creates `namespace` (recorded at once, so that teardown deletes it), its
    /// loopback up and no duplicate address detection.
    async fn add_namespace(&mut self, namespace: NamespaceName) -> Result<(), LabError> {
        run("ip", &["netns", "add", namespace.as_str()]).await?;
        self.created.push(namespace.clone());
        let name = namespace.as_str();
        run("ip", &["-n", name, "link", "set", "lo", "up"]).await?;
        // Before any link: a tentative address (link-local ones included) delays
        // neighbour discovery by a second or two, which a measure would count.
        sysctl(
            name,
            &[
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ],
        )
        .await
    }

    /// Starts every server's answer server.
    async fn start_answering(&mut self) -> Result<(), LabError> {
        for index in 0..self.nodes.len() {
            let node = &self.nodes[index];
            let binds: Vec<SocketAddr> = node
                .server
                .public_ips()
                .into_iter()
                .chain(link_ips(&node.link))
                .map(|ip| SocketAddr::new(ip, self.port))
                .collect();
            let server = serve(&node.namespace, &node.server.server_id, binds).await?;
            self.answering.push((node.server.server_id.clone(), server));
        }
        Ok(())
    }

    /// Every public address answers its server's id. This also resolves the
    /// router's neighbours, which the first measured probes would count.
    async fn check_answers(&self) -> Result<(), LabError> {
        let expected: Vec<(IpAddr, &str)> = self
            .nodes
            .iter()
            .flat_map(|node| {
                let id = node.server.server_id.as_str();
                node.server.public_ips().into_iter().map(move |ip| (ip, id))
            })
            .collect();
        let ips = expected.iter().map(|(ip, _)| *ip).collect();
        let answers = self.fetch_all(ips).await?;
        for ((ip, id), answer) in expected.into_iter().zip(answers) {
            let answered = answer?;
            if answered != id {
                return Err(LabError::WrongAnswer {
                    ip,
                    expected: id.to_owned(),
                    answered,
                });
            }
        }
        Ok(())
    }

    /// The description of the lab's router, as `ferry up` reads it
    /// (`FERRY_IP_ROUTES`): the router namespace, each server's link by server
    /// id (transit servers with their namespace, to accept rerouted addresses),
    /// probes from the internet namespace to the lab's port, given up after 30 s.
    pub fn description(&self) -> RouterDescription {
        let mut probes = ProbeSettings::new(Some(self.internet.clone()), self.port);
        // On veths an answer takes well under a millisecond: an attempt without
        // one within 300 ms was lost, and a broken lab fails in seconds.
        probes.connect_timeout = Duration::from_millis(300);
        probes.timeout = Duration::from_secs(30);
        RouterDescription {
            router: LinuxRoutesSettings {
                router_namespace: self.router.clone(),
                servers: self
                    .nodes
                    .iter()
                    .map(|node| LinkedServer {
                        addresses: node.link,
                        router_device: Some(node.device.clone()),
                        namespace: node.server.receives.then(|| node.namespace.clone()),
                    })
                    .collect(),
            },
            probes,
            servers: self
                .nodes
                .iter()
                .map(|node| (node.server.server_id.clone(), node.link))
                .collect(),
        }
    }

    /// [`Lab::description`] as the JSON `FERRY_IP_ROUTES` names.
    pub fn description_json(&self) -> Value {
        description_json(&self.description())
    }

    /// Writes [`Lab::description_json`] to `path`.
    pub fn write_description(&self, path: &Path) -> io::Result<()> {
        let text = serde_json::to_string_pretty(&self.description_json())?;
        std::fs::write(path, text + "\n")
    }

    /// What `http://ip:port/` answers from the internet namespace: the id of the
    /// server that answered.
    pub async fn fetch(&self, ip: IpAddr) -> Result<String, LabError> {
        let mut answers = self.fetch_all(vec![ip]).await?;
        answers.pop().unwrap_or_else(|| {
            Err(LabError::Fetch {
                address: SocketAddr::new(ip, self.port),
                reason: "no answer".to_owned(),
            })
        })
    }

    /// What each of `ips` answers from the internet namespace, in order (one
    /// thread in the namespace for all).
    pub async fn fetch_all(
        &self,
        ips: Vec<IpAddr>,
    ) -> Result<Vec<Result<String, LabError>>, LabError> {
        let port = self.port;
        run_in_namespace(Some(&self.internet), move || async move {
            let mut answers = Vec::with_capacity(ips.len());
            for ip in ips {
                answers.push(fetch_here(SocketAddr::new(ip, port)).await);
            }
            answers
        })
        .await
        .map_err(|source| LabError::Namespace {
            namespace: self.internet.to_string(),
            source,
        })
    }

    /// Stops the answer servers and deletes every namespace, waiting for both.
    pub async fn down(mut self) {
        for (_, server) in std::mem::take(&mut self.answering) {
            server.stop().await;
        }
        for namespace in std::mem::take(&mut self.created) {
            if let Err(error) = run("ip", &["netns", "del", namespace.as_str()]).await {
                tracing::warn!(%error, "lab: namespace not deleted");
            }
        }
    }

    /// Stops the answer server of `server_id`, as its reinstallation would:
    /// its addresses then answer nowhere (connections refused) until rerouted.
    /// Returns whether it was answering.
    pub async fn stop_answering(&mut self, server_id: &str) -> bool {
        let Some(index) = self.answering.iter().position(|(id, _)| id == server_id) else {
            return false;
        };
        let (_, server) = self.answering.remove(index);
        server.stop().await;
        true
    }

    /// The prefix the lab was built with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The port every server answers on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The router's namespace.
    pub fn router_namespace(&self) -> &NamespaceName {
        &self.router
    }

    /// The internet's namespace, where probes run and clients live.
    pub fn internet_namespace(&self) -> &NamespaceName {
        &self.internet
    }

    /// The namespace of server `server_id`.
    pub fn namespace_of(&self, server_id: &str) -> Option<&NamespaceName> {
        self.node(server_id).map(|node| &node.namespace)
    }

    /// The link addresses (next hop) of server `server_id`.
    pub fn link_of(&self, server_id: &str) -> Option<ServerAddresses> {
        self.node(server_id).map(|node| node.link)
    }

    /// Every namespace the lab made (deleted at teardown).
    pub fn namespaces(&self) -> &[NamespaceName] {
        &self.created
    }

    fn node(&self, server_id: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|node| node.server.server_id == server_id)
    }
}

/// `description` as JSON that [`RouterDescription`] reads back (it is read-only
/// in serde: the JSON is written here, field by field).
pub fn description_json(description: &RouterDescription) -> Value {
    let linked: Vec<Value> = description
        .router
        .servers
        .iter()
        .map(|server| {
            let mut linked = json!({ "addresses": server.addresses });
            if let Some(device) = &server.router_device {
                linked["router_device"] = json!(device.as_str());
            }
            if let Some(namespace) = &server.namespace {
                linked["namespace"] = json!(namespace.as_str());
            }
            linked
        })
        .collect();
    let probes = &description.probes;
    let mut probes_json = json!({
        "port": probes.port,
        "interval_ms": millis(probes.interval),
        "connect_timeout_ms": millis(probes.connect_timeout),
        "timeout_ms": millis(probes.timeout),
    });
    if let Some(namespace) = &probes.namespace {
        probes_json["namespace"] = json!(namespace.as_str());
    }
    json!({
        "router": {
            "router_namespace": description.router.router_namespace.as_str(),
            "servers": linked,
        },
        "probes": probes_json,
        "servers": description.servers,
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Refuses a prefix that could not name the lab's namespaces unambiguously: no
/// `.` (it ends the prefix in a name), not starting or ending with `-`.
fn check_prefix(prefix: &str) -> Result<(), LabError> {
    let refuse = |reason| {
        Err(LabError::InvalidPrefix {
            prefix: prefix.to_owned(),
            reason,
        })
    };
    if prefix.is_empty() {
        return refuse("empty");
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return refuse("longer than 20 characters");
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return refuse("only ASCII lowercase letters, digits and '-' are allowed");
    }
    if prefix.starts_with('-') || prefix.ends_with('-') {
        return refuse("starts or ends with '-'");
    }
    Ok(())
}

/// Refuses servers that cannot make a lab: too many, ids empty, repeated or
/// with control characters (they are answered as one line), public addresses
/// unusable, repeated or in the range of the lab's links.
fn check_servers(servers: &[LabServer], addressing: Addressing) -> Result<(), LabError> {
    if servers.len() > MAX_SERVERS {
        return Err(LabError::InvalidServers(format!(
            "{} servers, at most {MAX_SERVERS}",
            servers.len()
        )));
    }
    let mut ids = BTreeSet::new();
    let mut ips = BTreeSet::new();
    for server in servers {
        let id = &server.server_id;
        if id.is_empty() || id.chars().any(char::is_control) {
            return Err(LabError::InvalidServers(format!(
                "server id {id:?} is empty or has control characters"
            )));
        }
        if !ids.insert(id.as_str()) {
            return Err(LabError::InvalidServers(format!(
                "server id {id:?} is given twice"
            )));
        }
        for ip in server.public_ips() {
            check_rerouted_address(ip)?;
            if addressing.covers(ip) {
                return Err(LabError::InvalidServers(format!(
                    "{ip} (of {id}) is in the lab's link addresses"
                )));
            }
            if !ips.insert(ip) {
                return Err(LabError::InvalidServers(format!(
                    "{ip} (of {id}) is given twice"
                )));
            }
        }
    }
    Ok(())
}

/// The link number of the server at `index` (0 is the internet's).
fn link_number(index: usize) -> Result<u8, LabError> {
    index
        .checked_add(1)
        .and_then(|number| u8::try_from(number).ok())
        .ok_or_else(|| LabError::InvalidServers(format!("at most {MAX_SERVERS} servers")))
}

/// The process that made namespace `name` if it is a lab namespace of `prefix`
/// (`<prefix>.<pid>.<n>.<role>`).
fn owner_pid(prefix: &str, name: &str) -> Option<u32> {
    let mut parts = name.strip_prefix(prefix)?.strip_prefix('.')?.split('.');
    let pid = parts.next()?.parse().ok()?;
    let _lab: u32 = parts.next()?.parse().ok()?;
    let role = parts.next()?;
    (!role.is_empty() && parts.next().is_none()).then_some(pid)
}

/// Whether process `pid` still runs. A zombie does not: a process killed outright
/// stays one until reaped (by an init that may take its time), while its
/// namespaces are already orphaned.
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state …`: comm may hold spaces and parentheses, the state
    // follows the last `)`.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Links `peer` to the router with link `number` of `addressing`: router
/// interface `device`, `eth0` in the peer, the peer's default routes via the
/// router.
async fn link(
    router: &str,
    device: &InterfaceName,
    peer: &str,
    addressing: Addressing,
    number: u8,
) -> Result<(), LabError> {
    let device = device.as_str();
    run(
        "ip",
        &[
            "-n", router, "link", "add", device, "type", "veth", "peer", "name", "eth0", "netns",
            peer,
        ],
    )
    .await?;
    for (namespace, device, host) in [(router, device, 1), (peer, "eth0", 2)] {
        // Up before the addresses: an IPv6 address added to a veth still down
        // left the first neighbour solicitation for it unanswered.
        run("ip", &["-n", namespace, "link", "set", device, "up"]).await?;
        let v4 = format!("{}/24", addressing.v4(number, host));
        run("ip", &["-n", namespace, "addr", "add", &v4, "dev", device]).await?;
        // nodad: usable at once, no duplicate address detection wait.
        let v6 = format!("{}/64", addressing.v6(number, host));
        run(
            "ip",
            &["-n", namespace, "addr", "add", &v6, "dev", device, "nodad"],
        )
        .await?;
    }
    let via_v4 = addressing.v4(number, 1).to_string();
    run(
        "ip",
        &["-n", peer, "route", "add", "default", "via", &via_v4],
    )
    .await?;
    let via_v6 = addressing.v6(number, 1).to_string();
    run(
        "ip",
        &["-n", peer, "-6", "route", "add", "default", "via", &via_v6],
    )
    .await
}

/// Puts public address `ip` on `node`'s loopback, and its host route on the
/// router via `next_hop`, the node's link address of its family.
async fn publish(router: &str, node: &Node, ip: IpAddr, next_hop: IpAddr) -> Result<(), LabError> {
    let host = match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    };
    let next_hop = next_hop.to_string();
    let namespace = node.namespace.as_str();
    run("ip", &["-n", namespace, "addr", "add", &host, "dev", "lo"]).await?;
    run(
        "ip",
        &[
            "-n",
            router,
            "route",
            "add",
            &host,
            "via",
            &next_hop,
            "dev",
            node.device.as_str(),
        ],
    )
    .await
}

/// Sets `settings` (`key=value`) in `namespace`.
async fn sysctl(namespace: &str, settings: &[&str]) -> Result<(), LabError> {
    let mut args = vec!["netns", "exec", namespace, "sysctl", "-qw"];
    args.extend_from_slice(settings);
    run("ip", &args).await
}

fn link_ips(link: &ServerAddresses) -> impl Iterator<Item = IpAddr> {
    link.ipv4
        .map(IpAddr::V4)
        .into_iter()
        .chain(link.ipv6.map(IpAddr::V6))
}

/// Starts an HTTP server in `namespace` answering `server_id` on `binds`, once
/// all of them listen.
async fn serve(
    namespace: &NamespaceName,
    server_id: &str,
    binds: Vec<SocketAddr>,
) -> Result<AnswerServer, LabError> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, listening) = tokio::sync::oneshot::channel();
    let (closed_sender, closed) = std::sync::mpsc::channel::<()>();
    let body: std::sync::Arc<str> = format!("{server_id}\n").into();
    let in_namespace = namespace.clone();
    let task = tokio::spawn(async move {
        run_in_namespace(Some(&in_namespace), move || async move {
            let mut listeners = Vec::with_capacity(binds.len());
            for bind in binds {
                match TcpListener::bind(bind).await {
                    Ok(listener) => listeners.push(listener),
                    Err(error) => {
                        // Ignored: the caller gone has nothing left to learn.
                        let _ = ready.send(Err(format!("bind {bind}: {error}")));
                        return;
                    }
                }
            }
            let _ = ready.send(Ok(()));
            let mut accepting = JoinSet::new();
            for listener in listeners {
                accepting.spawn(accept(listener, body.clone()));
            }
            // Until the lab stops it (its sender dropped).
            let _ = stopped.await;
            // Aborting the accept loops drops the listeners and their
            // connections before teardown is told.
            accepting.shutdown().await;
            drop(closed_sender);
        })
        .await
    });
    let answer_error = |reason: String| LabError::AnswerServer {
        server_id: server_id.to_owned(),
        reason,
    };
    match listening.await {
        Ok(Ok(())) => Ok(AnswerServer {
            stop: Some(stop),
            closed: Mutex::new(closed),
            task,
        }),
        Ok(Err(reason)) => Err(answer_error(reason)),
        Err(_) => match task.await {
            Ok(Err(error)) => Err(answer_error(format!("entering {namespace}: {error}"))),
            _ => Err(answer_error("its thread ended".to_owned())),
        },
    }
}

/// Answers every connection of `listener` with `body`.
async fn accept(listener: TcpListener, body: std::sync::Arc<str>) {
    // Connections live in this set: dropped with the loop when the server stops.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((connection, _)) = accepted else { continue };
                connections.spawn(answer(connection, body.clone()));
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Reads the request's head, then answers `body` (a probe's connection, closed
/// at once, gets nothing).
async fn answer(mut connection: TcpStream, body: std::sync::Arc<str>) {
    let read_head = async {
        let mut head = Vec::with_capacity(512);
        let mut buffer = [0u8; 1024];
        loop {
            let read = connection.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<_, io::Error>(false);
            }
            head.extend_from_slice(&buffer[..read]);
            // Reading the whole head first: closing with unread bytes would
            // reset the connection before the client reads the answer.
            if head.windows(4).any(|window| window == b"\r\n\r\n") {
                return Ok(true);
            }
            if head.len() > MAX_REQUEST_HEAD {
                return Ok(false);
            }
        }
    };
    if !matches!(
        tokio::time::timeout(REQUEST_TIMEOUT, read_head).await,
        Ok(Ok(true))
    ) {
        return;
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // Ignored: a client gone is its own business.
    let _ = connection.write_all(response.as_bytes()).await;
    let _ = connection.shutdown().await;
}

/// `GET http://address/` from the current namespace: the answer's body, trimmed.
async fn fetch_here(address: SocketAddr) -> Result<String, LabError> {
    let fail = |reason: String| LabError::Fetch { address, reason };
    let exchange = async {
        let mut connection = TcpStream::connect(address).await?;
        let request = format!("GET / HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
        connection.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        connection
            .take(64 * 1024)
            .read_to_end(&mut response)
            .await?;
        Ok::<_, io::Error>(response)
    };
    let response = match tokio::time::timeout(FETCH_TIMEOUT, exchange).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return Err(fail(error.to_string())),
        Err(_) => return Err(fail(format!("no answer within {FETCH_TIMEOUT:?}"))),
    };
    let response = String::from_utf8_lossy(&response);
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        return Err(fail(format!("not an HTTP answer: {response:?}")));
    };
    let status = head.lines().next().unwrap_or_default();
    if !(status.starts_with("HTTP/1.") && status.split(' ').nth(1) == Some("200")) {
        return Err(fail(format!("answered {status:?}")));
    }
    Ok(body.trim().to_owned())
}

/// Runs `program args` (no shell).
async fn run(program: &str, args: &[&str]) -> Result<(), LabError> {
    output(program, args).await.map(drop)
}

/// Runs `program args` (no shell): its standard output, or the command line and
/// its stderr.
async fn output(program: &str, args: &[&str]) -> Result<String, LabError> {
    let command_line = || format!("{program} {}", args.join(" "));
    tracing::debug!(command = %command_line(), "lab: running");
    let output = Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| LabError::Spawn {
            command: command_line(),
            source,
        })?;
    if !output.status.success() {
        return Err(LabError::Command {
            command: command_line(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_that_could_not_name_a_lab_are_refused() {
        for bad in [
            "",
            "-lab",
            "lab-",
            "Lab",
            "lab.1",
            "lab 1",
            "lab/1",
            "lab;reboot",
            &"x".repeat(MAX_PREFIX_LEN + 1),
        ] {
            assert!(check_prefix(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["lab", "ferry-demo", "t0-a1", &"x".repeat(MAX_PREFIX_LEN)] {
            assert!(check_prefix(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn only_namespaces_of_the_prefix_are_owned() {
        assert_eq!(owner_pid("lab", "lab.123.0.router"), Some(123));
        assert_eq!(owner_pid("lab", "lab.123.4.s12"), Some(123));
        for other in [
            "lab-7.123.0.router",
            "lab.x.0.router",
            "lab.123.0",
            "lab.123.0.",
            "lab.123.0.router.extra",
            "labs.123.0.router",
            "frt123-0-router",
        ] {
            assert_eq!(owner_pid("lab", other), None, "{other}");
        }
    }

    #[test]
    fn this_process_is_alive_and_a_pid_above_any_pid_max_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX));
    }

    #[test]
    fn names_fit_whatever_the_prefix_and_the_number_of_servers() {
        let prefix = "x".repeat(MAX_PREFIX_LEN);
        let lab_id = format!("{prefix}.{}.{}", u32::MAX, u32::MAX);
        let addressing = Addressing::of(&lab_id);
        let servers: Vec<LabServer> = (0..MAX_SERVERS)
            .map(|index| LabServer::new(format!("server {index}"), &[], index % 2 == 0))
            .collect();
        let lab = Lab::named(&prefix, &lab_id, &servers, 80, addressing).expect("names fit");
        let last = lab.nodes.last().expect("servers");
        assert_eq!(last.device.as_str(), "to-s200");
        assert!(last.namespace.as_str().ends_with(".s200"));
        let too_many: Vec<LabServer> = (0..=MAX_SERVERS)
            .map(|index| LabServer::new(format!("server {index}"), &[], false))
            .collect();
        assert!(check_servers(&too_many, addressing).is_err());
    }

    #[test]
    fn public_addresses_in_the_links_or_repeated_are_refused() {
        let addressing = Addressing::of("lab.1.0");
        let in_links = IpAddr::V4(addressing.v4(7, 9));
        let client = LabServer::new("srv-1", &[in_links], false);
        assert!(check_servers(&[client], addressing).is_err());
        let ip: IpAddr = "192.0.2.42".parse().expect("address");
        let twice = [
            LabServer::new("srv-1", &[ip], false),
            LabServer::new("srv-2", &[ip], false),
        ];
        assert!(check_servers(&twice, addressing).is_err());
        let same_id = [
            LabServer::new("srv-1", &[], false),
            LabServer::new("srv-1", &[], true),
        ];
        assert!(check_servers(&same_id, addressing).is_err());
        assert!(addressing.covers(IpAddr::V6(addressing.v6(3, 1))));
        assert!(!addressing.covers(ip));
    }
}
