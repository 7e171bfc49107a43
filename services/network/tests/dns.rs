//! The authoritative DNS server (`ferry_network::dns`) answering real `dig`
//! queries over UDP and TCP. Every test starts its own server on ephemeral
//! ports of 127.0.0.1, so tests run in parallel.
//!
//! Needs `dig` (Debian `bind9-dnsutils`; scripts/test installs it).

use std::{net::SocketAddr, time::Duration};

use ferry_events::{DnsRecord, DnsRecordKind};
use ferry_network::dns::{DnsError, DnsSettings, SkipReason, Zone, ZoneStore, serve};
use tokio::{
    net::{TcpListener, UdpSocket},
    process::Command,
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BOTH: [Transport; 2] = [Transport::Udp, Transport::Tcp];

#[derive(Debug, Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

/// A server of its own, on ephemeral ports, stopped when dropped.
struct TestServer {
    store: ZoneStore,
    udp: SocketAddr,
    tcp: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), DnsError>>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn settings() -> DnsSettings {
    DnsSettings::new(
        vec![
            "ns1.hosting.example".to_owned(),
            "ns2.hosting.example".to_owned(),
        ],
        "hostmaster.hosting.example",
    )
}

async fn start(zones: Vec<Zone>) -> Result<TestServer, Box<dyn std::error::Error>> {
    let store = ZoneStore::new();
    for zone in zones {
        let skipped = store.upsert(zone)?;
        assert_eq!(skipped, Vec::new(), "test zones hold only valid records");
    }
    let udp = UdpSocket::bind("127.0.0.1:0").await?;
    let tcp = TcpListener::bind("127.0.0.1:0").await?;
    let (udp_addr, tcp_addr) = (udp.local_addr()?, tcp.local_addr()?);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(store.clone(), settings(), udp, tcp, shutdown.clone()));
    Ok(TestServer {
        store,
        udp: udp_addr,
        tcp: tcp_addr,
        shutdown,
        task: Some(task),
    })
}

fn record(name: &str, kind: DnsRecordKind, value: &str) -> DnsRecord {
    DnsRecord {
        name: name.to_owned(),
        kind,
        value: value.to_owned(),
        priority: (kind == DnsRecordKind::Mx).then_some(10),
        ttl_secs: 300,
    }
}

fn bakery(serial: u32, www_address: &str) -> Zone {
    use DnsRecordKind::*;
    Zone {
        domain: "bakery.example".to_owned(),
        serial,
        records: vec![
            record("bakery.example", A, "192.0.2.10"),
            record("bakery.example", Aaaa, "2001:db8::10"),
            DnsRecord {
                priority: Some(5),
                ..record("bakery.example", Mx, "mx1.hosting.example")
            },
            DnsRecord {
                priority: Some(20),
                ..record("bakery.example", Mx, "mx2.hosting.example")
            },
            record("bakery.example", Txt, "v=spf1 mx -all"),
            record("www.bakery.example", A, www_address),
            record("shop.bakery.example", Cname, "www.bakery.example"),
            record("blog.bakery.example", Cname, "bakery.blogs.example"),
            record("a.deep.bakery.example", A, "192.0.2.30"),
        ],
    }
}

/// What dig printed for one query.
#[derive(Debug, Default)]
struct Reply {
    status: String,
    flags: Vec<String>,
    answer: Vec<Rr>,
    authority: Vec<Rr>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rr {
    name: String,
    ttl: u32,
    kind: String,
    data: String,
}

impl Reply {
    fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The data of the answer records of `kind`, sorted.
    fn answer_data(&self, kind: &str) -> Vec<String> {
        let mut data: Vec<String> = self
            .answer
            .iter()
            .filter(|rr| rr.kind == kind)
            .map(|rr| rr.data.clone())
            .collect();
        data.sort();
        data
    }

    /// The serial of the SOA in the authority section (negative answers).
    fn authority_soa_serial(&self) -> Option<u32> {
        let soa = self.authority.iter().find(|rr| rr.kind == "SOA")?;
        soa.data.split_whitespace().nth(2)?.parse().ok()
    }
}

/// Parses `dig +noall +comments +answer +authority` output: the status and
/// flags of the header comments, and the records of the two sections.
fn parse_dig(output: &str) -> Result<Reply, String> {
    let mut reply = Reply::default();
    let mut section = "";
    for line in output.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix(";; ->>HEADER<<-") {
            let status = rest
                .split(',')
                .find_map(|part| part.trim().strip_prefix("status: "))
                .ok_or_else(|| format!("no status in {line:?}"))?;
            reply.status = status.trim().to_owned();
        } else if let Some(rest) = line.strip_prefix(";; flags:") {
            let flags = rest.split(';').next().unwrap_or_default();
            reply.flags = flags.split_whitespace().map(str::to_owned).collect();
        } else if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
        } else if line.starts_with(';') {
            section = if line.starts_with(";;") { "" } else { section };
        } else if !line.is_empty() {
            let mut fields = line.split_whitespace();
            let mut field = || {
                fields
                    .next()
                    .ok_or_else(|| format!("short record {line:?}"))
            };
            let name = field()?.to_owned();
            let ttl = field()?
                .parse()
                .map_err(|_| format!("bad TTL in {line:?}"))?;
            let _class = field()?;
            let kind = field()?.to_owned();
            let data = fields.collect::<Vec<_>>().join(" ");
            let rr = Rr {
                name,
                ttl,
                kind,
                data,
            };
            match section {
                "answer" => reply.answer.push(rr),
                "authority" => reply.authority.push(rr),
                _ => return Err(format!("record outside a section: {line:?}")),
            }
        }
    }
    if reply.status.is_empty() {
        return Err(format!("no reply in dig output:\n{output}"));
    }
    Ok(reply)
}

impl TestServer {
    async fn dig(&self, transport: Transport, name: &str, qtype: &str) -> Result<Reply, String> {
        self.dig_with(transport, &[name, qtype]).await
    }

    async fn dig_with(&self, transport: Transport, args: &[&str]) -> Result<Reply, String> {
        let (port, tcp) = match transport {
            Transport::Udp => (self.udp.port(), "+notcp"),
            Transport::Tcp => (self.tcp.port(), "+tcp"),
        };
        let output = Command::new("dig")
            .arg("@127.0.0.1")
            .args(["-p", &port.to_string(), tcp])
            .args(["+norecurse", "+tries=1", "+time=5"])
            .args(["+noall", "+comments", "+answer", "+authority"])
            .args(args)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|error| {
                format!("cannot run dig ({error}): install Debian's bind9-dnsutils")
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "dig {args:?} over {transport:?} failed ({}): {stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        parse_dig(&stdout).map_err(|error| format!("dig {args:?} over {transport:?}: {error}"))
    }

    /// Stops the server the way the service does and checks it stops in time.
    async fn stop(mut self) -> TestResult {
        self.shutdown.cancel();
        let task = self.task.take().ok_or("stopped twice")?;
        let joined = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .map_err(|_| "the server did not stop within 5 s of the shutdown")?;
        joined
            .map_err(|error| format!("the server task failed: {error}"))?
            .map_err(|error| format!("the server returned an error: {error}"))?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_type_is_answered_authoritatively() -> TestResult {
    let server = start(vec![bakery(7, "192.0.2.20")]).await?;
    for transport in BOTH {
        let a = server.dig(transport, "bakery.example", "A").await?;
        assert_eq!(a.status, "NOERROR");
        assert!(a.has_flag("aa"), "{transport:?}: {a:?}");
        assert_eq!(a.answer_data("A"), ["192.0.2.10"]);
        assert_eq!(a.answer[0].name, "bakery.example.");
        assert_eq!(a.answer[0].ttl, 300);

        let www = server.dig(transport, "www.bakery.example", "A").await?;
        assert_eq!(www.answer_data("A"), ["192.0.2.20"]);

        let aaaa = server.dig(transport, "bakery.example", "AAAA").await?;
        assert_eq!(aaaa.answer_data("AAAA"), ["2001:db8::10"]);

        let mx = server.dig(transport, "bakery.example", "MX").await?;
        assert_eq!(
            mx.answer_data("MX"),
            ["20 mx2.hosting.example.", "5 mx1.hosting.example."]
        );

        let txt = server.dig(transport, "bakery.example", "TXT").await?;
        assert_eq!(txt.answer_data("TXT"), ["\"v=spf1 mx -all\""]);

        let soa = server.dig(transport, "bakery.example", "SOA").await?;
        assert!(soa.has_flag("aa"));
        assert_eq!(
            soa.answer_data("SOA"),
            ["ns1.hosting.example. hostmaster.hosting.example. 7 3600 600 1209600 300"]
        );
        assert_eq!(soa.answer[0].ttl, 3600);

        let ns = server.dig(transport, "bakery.example", "NS").await?;
        assert_eq!(
            ns.answer_data("NS"),
            ["ns1.hosting.example.", "ns2.hosting.example."]
        );
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_txt_value_is_split_into_255_byte_strings() -> TestResult {
    let key = format!("v=DKIM1; k=rsa; p={}", "A".repeat(400));
    let zone = Zone {
        domain: "bakery.example".to_owned(),
        serial: 1,
        records: vec![record(
            "mail._domainkey.bakery.example",
            DnsRecordKind::Txt,
            &key,
        )],
    };
    let server = start(vec![zone]).await?;
    for transport in BOTH {
        let txt = server
            .dig(transport, "mail._domainkey.bakery.example", "TXT")
            .await?;
        let data = txt.answer_data("TXT");
        assert_eq!(data.len(), 1, "{txt:?}");
        let (first, second) = (&key[..255], &key[255..]);
        assert_eq!(data[0], format!("\"{first}\" \"{second}\""));
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_too_big_for_udp_is_truncated_and_whole_over_tcp() -> TestResult {
    let records = (0..12)
        .map(|i| {
            let value = format!("token-{i:02}-{}", "x".repeat(80));
            record("bakery.example", DnsRecordKind::Txt, &value)
        })
        .collect();
    let server = start(vec![Zone {
        domain: "bakery.example".to_owned(),
        serial: 1,
        records,
    }])
    .await?;
    // Without EDNS a UDP answer holds 512 bytes; `+ignore` keeps dig from
    // retrying over TCP by itself.
    let udp = server
        .dig_with(
            Transport::Udp,
            &["+noedns", "+ignore", "bakery.example", "TXT"],
        )
        .await?;
    assert!(udp.has_flag("tc"), "{udp:?}");
    assert!(udp.answer.len() < 12, "{udp:?}");
    let tcp = server
        .dig_with(Transport::Tcp, &["+noedns", "bakery.example", "TXT"])
        .await?;
    assert!(!tcp.has_flag("tc"));
    assert_eq!(tcp.answer_data("TXT").len(), 12);
    // With EDNS, the client's larger buffer is used.
    let edns = server
        .dig_with(
            Transport::Udp,
            &["+bufsize=4096", "+ignore", "bakery.example", "TXT"],
        )
        .await?;
    assert!(!edns.has_flag("tc"));
    assert_eq!(edns.answer_data("TXT").len(), 12);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_change_bumps_the_serial_and_the_answer_without_restart() -> TestResult {
    let server = start(vec![bakery(1, "192.0.2.20")]).await?;
    for transport in BOTH {
        let soa = server.dig(transport, "bakery.example", "SOA").await?;
        assert_eq!(soa.answer_data("SOA")[0].split(' ').nth(2), Some("1"));
        let www = server.dig(transport, "www.bakery.example", "A").await?;
        assert_eq!(www.answer_data("A"), ["192.0.2.20"]);
    }

    server.store.upsert(bakery(2, "198.51.100.7"))?;

    for transport in BOTH {
        let soa = server.dig(transport, "bakery.example", "SOA").await?;
        assert_eq!(soa.answer_data("SOA")[0].split(' ').nth(2), Some("2"));
        let www = server.dig(transport, "www.bakery.example", "A").await?;
        assert_eq!(www.answer_data("A"), ["198.51.100.7"]);
        let nx = server.dig(transport, "nope.bakery.example", "A").await?;
        assert_eq!(nx.authority_soa_serial(), Some(2));
    }
    assert_eq!(
        server.store.get("bakery.example").map(|z| z.serial),
        Some(2)
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_name_is_nxdomain_with_the_soa_in_authority() -> TestResult {
    let server = start(vec![bakery(9, "192.0.2.20")]).await?;
    for transport in BOTH {
        let nx = server.dig(transport, "nope.bakery.example", "A").await?;
        assert_eq!(nx.status, "NXDOMAIN");
        assert!(nx.has_flag("aa"));
        assert!(nx.answer.is_empty(), "{nx:?}");
        assert_eq!(nx.authority_soa_serial(), Some(9));
        // The negative-caching TTL: the lesser of the SOA's TTL and MINIMUM.
        assert_eq!(nx.authority[0].ttl, 300);
        assert_eq!(nx.authority[0].name, "bakery.example.");
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_name_without_the_type_is_nodata() -> TestResult {
    let server = start(vec![bakery(3, "192.0.2.20")]).await?;
    for transport in BOTH {
        for (name, qtype) in [
            ("www.bakery.example", "AAAA"),
            ("www.bakery.example", "SRV"),
            ("www.bakery.example", "SOA"),
            // An empty non-terminal: exists because a.deep.bakery.example does.
            ("deep.bakery.example", "A"),
        ] {
            let nodata = server.dig(transport, name, qtype).await?;
            assert_eq!(nodata.status, "NOERROR", "{name} {qtype}");
            assert!(nodata.has_flag("aa"));
            assert!(nodata.answer.is_empty(), "{name} {qtype}: {nodata:?}");
            assert_eq!(nodata.authority_soa_serial(), Some(3), "{name} {qtype}");
        }
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_in_no_served_zone_are_refused() -> TestResult {
    let server = start(vec![bakery(1, "192.0.2.20")]).await?;
    for transport in BOTH {
        for name in ["florist.example", "www.bakery.example.org", "example", "."] {
            let refused = server.dig(transport, name, "A").await?;
            assert_eq!(refused.status, "REFUSED", "{name}");
            assert!(!refused.has_flag("aa"), "{name}");
            assert!(refused.answer.is_empty() && refused.authority.is_empty());
        }
    }
    // Zone transfers are not offered (dig asks for them over TCP only).
    let axfr = server.dig(Transport::Tcp, "bakery.example", "AXFR").await?;
    assert_eq!(axfr.status, "REFUSED");
    assert!(axfr.answer.is_empty());
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_zone_is_refused() -> TestResult {
    let server = start(vec![bakery(1, "192.0.2.20")]).await?;
    for transport in BOTH {
        let before = server.dig(transport, "www.bakery.example", "A").await?;
        assert_eq!(before.status, "NOERROR");
    }
    assert!(server.store.remove("Bakery.Example."));
    assert!(!server.store.remove("bakery.example"));
    assert!(server.store.is_empty());
    for transport in BOTH {
        let after = server.dig(transport, "www.bakery.example", "A").await?;
        assert_eq!(after.status, "REFUSED");
        let apex = server.dig(transport, "bakery.example", "SOA").await?;
        assert_eq!(apex.status, "REFUSED");
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cname_is_answered_with_its_in_zone_target() -> TestResult {
    let server = start(vec![bakery(1, "192.0.2.20")]).await?;
    for transport in BOTH {
        let shop = server.dig(transport, "shop.bakery.example", "A").await?;
        assert_eq!(shop.status, "NOERROR");
        assert!(shop.has_flag("aa"));
        assert_eq!(shop.answer.len(), 2, "{shop:?}");
        assert_eq!(shop.answer[0].kind, "CNAME");
        assert_eq!(shop.answer[0].name, "shop.bakery.example.");
        assert_eq!(shop.answer[0].data, "www.bakery.example.");
        assert_eq!(shop.answer[1].name, "www.bakery.example.");
        assert_eq!(shop.answer_data("A"), ["192.0.2.20"]);

        // The target exists without the type: the CNAME and NODATA.
        let shop_mx = server.dig(transport, "shop.bakery.example", "MX").await?;
        assert_eq!(shop_mx.status, "NOERROR");
        assert_eq!(shop_mx.answer_data("CNAME"), ["www.bakery.example."]);
        assert_eq!(shop_mx.answer.len(), 1);
        assert_eq!(shop_mx.authority_soa_serial(), Some(1));

        // Asked for the CNAME itself: only it.
        let cname = server
            .dig(transport, "shop.bakery.example", "CNAME")
            .await?;
        assert_eq!(cname.answer_data("CNAME"), ["www.bakery.example."]);
        assert_eq!(cname.answer.len(), 1);

        // A target outside the zone is left to the resolver.
        let blog = server.dig(transport, "blog.bakery.example", "A").await?;
        assert_eq!(blog.status, "NOERROR");
        assert_eq!(blog.answer_data("CNAME"), ["bakery.blogs.example."]);
        assert_eq!(blog.answer.len(), 1);
        assert!(blog.authority.is_empty());
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_case_insensitive() -> TestResult {
    let server = start(vec![Zone {
        domain: "Bakery.Example.".to_owned(),
        ..bakery(4, "192.0.2.20")
    }])
    .await?;
    for transport in BOTH {
        let www = server.dig(transport, "WwW.BaKeRy.ExAmPlE", "A").await?;
        assert_eq!(www.status, "NOERROR");
        assert!(www.has_flag("aa"));
        assert_eq!(www.answer_data("A"), ["192.0.2.20"]);
        let nx = server.dig(transport, "NOPE.BAKERY.EXAMPLE", "A").await?;
        assert_eq!(nx.status, "NXDOMAIN");
        assert_eq!(nx.authority_soa_serial(), Some(4));
    }
    assert_eq!(
        server.store.get("BAKERY.example").map(|z| z.domain.clone()),
        Some("bakery.example".to_owned())
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_served_zone_wins() -> TestResult {
    let parent = Zone {
        domain: "example".to_owned(),
        serial: 100,
        records: vec![record("www.example", DnsRecordKind::A, "192.0.2.1")],
    };
    let child = Zone {
        domain: "shop.example".to_owned(),
        serial: 200,
        records: vec![record("www.shop.example", DnsRecordKind::A, "192.0.2.2")],
    };
    let server = start(vec![parent, child]).await?;
    assert_eq!(server.store.len(), 2);
    for transport in BOTH {
        let child_www = server.dig(transport, "www.shop.example", "A").await?;
        assert_eq!(child_www.answer_data("A"), ["192.0.2.2"]);
        let child_nx = server.dig(transport, "nope.shop.example", "A").await?;
        assert_eq!(child_nx.status, "NXDOMAIN");
        assert_eq!(child_nx.authority_soa_serial(), Some(200));
        let parent_www = server.dig(transport, "www.example", "A").await?;
        assert_eq!(parent_www.answer_data("A"), ["192.0.2.1"]);
        let parent_nx = server.dig(transport, "nope.example", "A").await?;
        assert_eq!(parent_nx.authority_soa_serial(), Some(100));
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_are_skipped_and_the_rest_is_served() -> TestResult {
    use DnsRecordKind::*;
    let server = start(Vec::new()).await?;
    let hostile = Zone {
        domain: "bakery.example".to_owned(),
        serial: 5,
        records: vec![
            record("www.bakery.example", A, "not-an-address"),
            record("www.bakery.example", A, "192.0.2.20"),
            record("www.bakery.example", Aaaa, "192.0.2.20"),
            record("www.florist.example", A, "192.0.2.99"),
            record("bad name.bakery.example", A, "192.0.2.98"),
            DnsRecord {
                priority: None,
                ..record("bakery.example", Mx, "mx1.hosting.example")
            },
            record("bakery.example", Cname, "elsewhere.example"),
            record("both.bakery.example", Cname, "www.bakery.example"),
            record("both.bakery.example", Txt, "kept"),
        ],
    };
    let skipped = server.store.upsert(hostile)?;
    let reasons: Vec<SkipReason> = skipped.iter().map(|s| s.reason).collect();
    assert_eq!(
        reasons,
        [
            SkipReason::NotIpv4,
            SkipReason::NotIpv6,
            SkipReason::OutsideZone,
            SkipReason::InvalidOwner(ferry_network::dns::InvalidName::Character),
            SkipReason::MxWithoutPriority,
            SkipReason::CnameAtApex,
            SkipReason::CnameBesideOtherData,
        ]
    );
    let stored = server
        .store
        .get("bakery.example")
        .ok_or("zone not stored")?;
    assert_eq!(stored.records.len(), 2, "{stored:?}");

    for transport in BOTH {
        let www = server.dig(transport, "www.bakery.example", "A").await?;
        assert_eq!(www.answer_data("A"), ["192.0.2.20"]);
        let both = server.dig(transport, "both.bakery.example", "A").await?;
        assert_eq!(both.status, "NOERROR");
        assert!(both.answer.is_empty(), "the CNAME was dropped: {both:?}");
        let txt = server.dig(transport, "both.bakery.example", "TXT").await?;
        assert_eq!(txt.answer_data("TXT"), ["\"kept\""]);
        let mx = server.dig(transport, "bakery.example", "MX").await?;
        assert!(mx.answer.is_empty());
    }
    assert!(
        server
            .store
            .upsert(Zone {
                domain: "bad..example".to_owned(),
                serial: 1,
                records: Vec::new()
            })
            .is_err()
    );
    assert_eq!(server.store.len(), 1);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_gets_the_rfc8482_answer() -> TestResult {
    let server = start(vec![bakery(1, "192.0.2.20")]).await?;
    for transport in BOTH {
        let any = server.dig(transport, "bakery.example", "ANY").await?;
        assert_eq!(any.status, "NOERROR");
        assert_eq!(any.answer.len(), 1, "{any:?}");
        assert_eq!(any.answer[0].kind, "HINFO");
        assert_eq!(any.answer[0].data, "\"RFC8482\" \"\"");
        let nx = server.dig(transport, "nope.bakery.example", "ANY").await?;
        assert_eq!(nx.status, "NXDOMAIN");
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_opcodes_are_not_implemented_and_empty_questions_are_formerr() -> TestResult {
    let server = start(vec![bakery(1, "192.0.2.20")]).await?;
    for transport in BOTH {
        // NOTIFY and UPDATE.
        for opcode in ["+opcode=4", "+opcode=5"] {
            let reply = server
                .dig_with(transport, &[opcode, "bakery.example", "SOA"])
                .await?;
            assert_eq!(reply.status, "NOTIMP", "{opcode}");
        }
        let reply = server.dig_with(transport, &["+header-only"]).await?;
        assert_eq!(reply.status, "FORMERR");
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_server_and_frees_its_ports() -> TestResult {
    let server = start(vec![bakery(1, "192.0.2.20")]).await?;
    // An idle TCP connection must not hold the shutdown up.
    let _idle = tokio::net::TcpStream::connect(server.tcp).await?;
    let reply = server.dig(Transport::Udp, "bakery.example", "A").await?;
    assert_eq!(reply.status, "NOERROR");
    let (udp, tcp) = (server.udp, server.tcp);
    server
        .stop()
        .await
        .map_err(|error| format!("stopping: {error}"))?;
    // The connections' tasks are aborted on shutdown and dropped by the
    // runtime just after: allow that a moment.
    let mut attempts = 0;
    loop {
        let freed = match (UdpSocket::bind(udp).await, TcpListener::bind(tcp).await) {
            (Ok(_), Ok(_)) => Ok(()),
            (Err(error), _) => Err(format!("UDP {udp} still taken: {error}")),
            (_, Err(error)) => Err(format!("TCP {tcp} still taken: {error}")),
        };
        attempts += 1;
        match freed {
            Ok(()) => return Ok(()),
            Err(error) if attempts >= 20 => return Err(error.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_settings_are_an_error() -> TestResult {
    let udp = UdpSocket::bind("127.0.0.1:0").await?;
    let tcp = TcpListener::bind("127.0.0.1:0").await?;
    let no_name_servers = DnsSettings::new(Vec::new(), "hostmaster.hosting.example");
    let result = serve(
        ZoneStore::new(),
        no_name_servers,
        udp,
        tcp,
        CancellationToken::new(),
    )
    .await;
    assert!(
        matches!(
            result,
            Err(DnsError::InvalidSettings {
                setting: "name_servers",
                ..
            })
        ),
        "{result:?}"
    );
    Ok(())
}
