//! DNS bench: ferry's authoritative DNS server (`ferry_network::dns`, on
//! hickory-server) beside Knot DNS, serving the same zones, loaded by dnsperf
//! with the same query file over UDP. Prints, for each server:
//!
//! - the peak: queries per second with dnsperf keeping `BENCH_DNS_OUTSTANDING`
//!   queries in flight for `BENCH_DNS_SECS`, and dnsperf's average latency;
//! - the latency at fixed offered loads (`-Q`, `BENCH_DNS_RATES`, by default
//!   5000 queries/s and half of Knot's peak, the load the target asks ferry to
//!   carry): p50, p99,
//!   p99.9 and max, computed from dnsperf's per-query latencies (`-v`; the
//!   installed dnsperf, 2.10, has no latency histogram). At the peak, latency
//!   only measures dnsperf's own queue (outstanding / QPS), so it is not used.
//!
//! Targets: ferry ≥ 50 % of Knot's QPS, ferry's p99 < 2 ms.
//!
//! Needs `dnsperf`, `knotd` and `dig` (Debian dnsperf, knot, bind9-dnsutils;
//! `scripts/bench dns` installs them). Knot runs as a plain child process with
//! its own config, zone files, port and rundir in a temporary directory.
//! Every run is repeated BENCH_DNS_ROUNDS (3) times, alternating between the
//! servers so that both meet the same background load, and the medians over
//! rounds are printed with their ranges.
//!
//! Environment: BENCH_DNS_ZONES (1000), BENCH_DNS_SECS (5, per run),
//! BENCH_DNS_CLIENTS (dnsperf -c, 4), BENCH_DNS_OUTSTANDING (dnsperf -q, 100),
//! BENCH_DNS_RATES (comma-separated queries/s of the latency runs; empty:
//! none), BENCH_DNS_UDP_READERS (ferry's `DnsSettings::udp_readers`),
//! BENCH_DNS_WORKERS (ferry's tokio worker threads; one per core).

use std::{
    fmt::Write as _,
    fs,
    net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket as StdUdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use ferry_events::{DnsRecord, DnsRecordKind};
use ferry_network::dns::{DnsSettings, Zone, ZoneStore, serve};
use tokio_util::sync::CancellationToken;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const NAME_SERVERS: [&str; 2] = ["ns1.hosting.example", "ns2.hosting.example"];
const HOSTMASTER: &str = "hostmaster.hosting.example";

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; a filter argument selects nothing here.
    let zones = env_number("BENCH_DNS_ZONES", 1000)?;
    let secs = env_number("BENCH_DNS_SECS", 5)?;
    let clients = env_number("BENCH_DNS_CLIENTS", 4)?;
    let outstanding = env_number("BENCH_DNS_OUTSTANDING", 100)?;
    let rounds = env_number("BENCH_DNS_ROUNDS", 3)?.max(1);
    for tool in ["dnsperf", "knotd", "dig"] {
        if Command::new(tool).arg("-h").output().is_err() {
            return Err(format!(
                "{tool} not found: install Debian's dnsperf, knot and bind9-dnsutils \
                 (scripts/bench dns does)"
            )
            .into());
        }
    }

    let load_before = load_average();
    let workdir = TempDir::new()?;
    let zone_set = bench_zones(zones);
    let queries = workdir.path.join("queries.txt");
    fs::write(&queries, query_file(&zone_set))?;
    let query_count = zone_set.len() * QUERIES_PER_ZONE;

    // ferry's runtime: tokio's default (one worker per core) unless
    // BENCH_DNS_WORKERS says otherwise.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let workers = env_number("BENCH_DNS_WORKERS", cores)?.max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let store = ZoneStore::new();
    let loading = Instant::now();
    for zone in &zone_set {
        store.upsert(zone.clone())?;
    }
    let ferry_load = loading.elapsed();
    let ferry = start_ferry(&runtime, store)?;
    let udp_readers = ferry.udp_readers;
    let knot = Knot::start(&workdir.path, &zone_set)?;

    check_same_answers(&zone_set, ferry.addr, knot.addr)?;

    let perf = |addr: SocketAddr, extra: &[String]| -> BenchResult<DnsperfRun> {
        let mut args = vec![
            "-s".to_owned(),
            addr.ip().to_string(),
            "-p".to_owned(),
            addr.port().to_string(),
            "-d".to_owned(),
            queries.display().to_string(),
            "-l".to_owned(),
            secs.to_string(),
            "-c".to_owned(),
            clients.to_string(),
            "-q".to_owned(),
            outstanding.to_string(),
        ];
        args.extend_from_slice(extra);
        dnsperf(&args)
    };
    // Runs alternate between the servers, round after round, so that both
    // meet the same background load; the figures are medians over rounds.
    let mut ferry_peaks = Rounds::default();
    let mut knot_peaks = Rounds::default();
    for round in 1..=rounds {
        eprintln!("dns bench: peak runs, round {round}/{rounds} ({secs} s each)");
        ferry_peaks.0.push(perf(ferry.addr, &[])?);
        knot_peaks.0.push(perf(knot.addr, &[])?);
    }
    let knot_peak_qps = knot_peaks.median(|run| run.qps);
    // A light load, then the load the target asks for: half of Knot's peak.
    let rates: Vec<u64> = match std::env::var("BENCH_DNS_RATES") {
        Ok(rates) => rates
            .split(',')
            .filter(|rate| !rate.trim().is_empty())
            .map(|rate| rate.trim().parse::<u64>())
            .collect::<Result<_, _>>()?,
        Err(_) => vec![
            5000,
            ((knot_peak_qps / 2.0 / 1000.0).round() as u64).max(1) * 1000,
        ],
    };
    let mut latency_runs = Vec::new();
    for &rate in &rates {
        let verbose = ["-Q".to_owned(), rate.to_string(), "-v".to_owned()];
        let (mut ferry_rounds, mut knot_rounds) = (Rounds::default(), Rounds::default());
        for round in 1..=rounds {
            eprintln!(
                "dns bench: latency runs at {rate} queries/s, round {round}/{rounds} ({secs} s each)"
            );
            ferry_rounds.0.push(perf(ferry.addr, &verbose)?);
            knot_rounds.0.push(perf(knot.addr, &verbose)?);
        }
        latency_runs.push((rate, ferry_rounds, knot_rounds));
    }

    let knot_version = command_line("knotd", &["--version"])?;
    let dnsperf_version = command_line("dnsperf", &["-h"])?;
    let mut report = String::new();
    writeln!(
        report,
        "DNS: {zones} zones ({} records each, A/AAAA/MX/TXT), {query_count} queries \
         (A, AAAA, MX, TXT, 1 in {QUERIES_PER_ZONE} NXDOMAIN) shuffled, UDP on 127.0.0.1",
        zone_set[0].records.len()
    )?;
    writeln!(
        report,
        "dnsperf ({}) -c {clients} -q {outstanding}, {secs} s per run, medians of {rounds} \
         alternating rounds; {}; client and servers share this machine's {} cores \
         (other builds may run)",
        dnsperf_version.trim(),
        knot_version.trim(),
        std::thread::available_parallelism().map_or(0, usize::from),
    )?;
    writeln!(
        report,
        "ferry loaded the zones in {:.1} ms; {udp_readers} UDP reader(s), {workers} tokio worker(s)",
        ferry_load.as_secs_f64() * 1e3
    )?;
    writeln!(report, "{:<40} {:>20} {:>20}", "", "ferry", "knot")?;
    let row = |report: &mut String, label: &str, ferry: String, knot: String| {
        writeln!(report, "{label:<40} {ferry:>20} {knot:>20}")
    };
    let median_and_range = |rounds: &Rounds, value: &dyn Fn(&DnsperfRun) -> f64| {
        let (low, high) = rounds.range(value);
        format!("{:.0} ({low:.0}-{high:.0})", rounds.median(value))
    };
    row(
        &mut report,
        "peak QPS (range)",
        median_and_range(&ferry_peaks, &|run| run.qps),
        median_and_range(&knot_peaks, &|run| run.qps),
    )?;
    row(
        &mut report,
        "  avg latency at peak (ms)",
        format!(
            "{:.3}",
            ferry_peaks.median(|run| run.avg_latency_secs) * 1e3
        ),
        format!("{:.3}", knot_peaks.median(|run| run.avg_latency_secs) * 1e3),
    )?;
    row(
        &mut report,
        "  lost queries at peak",
        ferry_peaks.lost().to_string(),
        knot_peaks.lost().to_string(),
    )?;
    row(
        &mut report,
        "  avg response size (bytes)",
        ferry_peaks.0[0].response_size.clone(),
        knot_peaks.0[0].response_size.clone(),
    )?;
    for (rate, ferry_rounds, knot_rounds) in &latency_runs {
        for (label, percentile) in [("p50", 0.50), ("p99", 0.99), ("p99.9", 0.999)] {
            let ms = |run: &DnsperfRun| run.percentile(percentile) * 1e3;
            let (ferry_low, ferry_high) = ferry_rounds.range(ms);
            let (knot_low, knot_high) = knot_rounds.range(ms);
            row(
                &mut report,
                &format!("{label} latency at {rate} q/s (ms, range)"),
                format!(
                    "{:.3} ({ferry_low:.2}-{ferry_high:.2})",
                    ferry_rounds.median(ms)
                ),
                format!(
                    "{:.3} ({knot_low:.2}-{knot_high:.2})",
                    knot_rounds.median(ms)
                ),
            )?;
        }
        let max_ms = |rounds: &Rounds| rounds.range(|run| run.percentile(1.0) * 1e3).1;
        row(
            &mut report,
            &format!("max latency at {rate} q/s (ms)"),
            format!("{:.3}", max_ms(ferry_rounds)),
            format!("{:.3}", max_ms(knot_rounds)),
        )?;
        row(
            &mut report,
            &format!("  lost at {rate} q/s"),
            ferry_rounds.lost().to_string(),
            knot_rounds.lost().to_string(),
        )?;
    }
    let share = ferry_peaks.median(|run| run.qps) / knot_peak_qps * 100.0;
    writeln!(
        report,
        "ferry/knot peak QPS: {share:.0} % (target ≥ 50 %: {})",
        if share >= 50.0 { "met" } else { "NOT met" },
    )?;
    for (rate, ferry_rounds, knot_rounds) in &latency_runs {
        let p99_ms = ferry_rounds.median(|run| run.percentile(0.99)) * 1e3;
        let knot_p99_ms = knot_rounds.median(|run| run.percentile(0.99)) * 1e3;
        writeln!(
            report,
            "ferry p99 at {rate} q/s: {p99_ms:.3} ms (target < 2 ms: {}; knot's: {knot_p99_ms:.3} ms)",
            if p99_ms < 2.0 && ferry_rounds.lost() == 0 {
                "met"
            } else {
                "NOT met"
            },
        )?;
    }
    // Other processes on the cores set the latency tail of both servers.
    writeln!(
        report,
        "load average before / after: {load_before} / {}",
        load_average()
    )?;
    print!("{report}");

    ferry.shutdown.cancel();
    drop(knot);
    runtime.shutdown_timeout(Duration::from_secs(3));
    Ok(())
}

fn env_number(name: &str, default: usize) -> BenchResult<usize> {
    match std::env::var(name) {
        Ok(value) => Ok(value
            .parse()
            .map_err(|_| format!("{name}={value:?} is not a number"))?),
        Err(_) => Ok(default),
    }
}

/// The bench's zones: `shop0000.example`… with the records of a hosted web
/// shop (addresses of the server, the provider's mail exchangers, SPF and a
/// verification token).
fn bench_zones(count: usize) -> Vec<Zone> {
    use DnsRecordKind::*;
    (0..count)
        .map(|i| {
            let domain = zone_domain(i);
            let (hi, lo) = (i / 250 % 250 + 1, i % 250 + 1);
            let record = |name: &str, kind, value: String, priority| DnsRecord {
                name: if name.is_empty() {
                    domain.clone()
                } else {
                    format!("{name}.{domain}")
                },
                kind,
                value,
                priority,
                ttl_secs: 300,
            };
            Zone {
                domain: domain.clone(),
                serial: 1,
                records: vec![
                    record("", A, format!("10.{hi}.{lo}.10"), None),
                    record("", Aaaa, format!("2001:db8:{hi:x}:{lo:x}::10"), None),
                    record("www", A, format!("10.{hi}.{lo}.10"), None),
                    record("", Mx, "mx1.hosting.example".to_owned(), Some(10)),
                    record("", Mx, "mx2.hosting.example".to_owned(), Some(20)),
                    record(
                        "",
                        Txt,
                        "v=spf1 mx include:hosting.example -all".to_owned(),
                        None,
                    ),
                    record("", Txt, format!("site-verification={i:08x}cafe"), None),
                ],
            }
        })
        .collect()
}

fn zone_domain(index: usize) -> String {
    format!("shop{index:04}.example")
}

const QUERIES_PER_ZONE: usize = 6;

/// dnsperf's input: per zone, the apex's A, AAAA, MX and TXT, www's A and one
/// missing name, in a fixed pseudo-random order.
fn query_file(zones: &[Zone]) -> String {
    let mut lines: Vec<String> = zones
        .iter()
        .flat_map(|zone| {
            let d = &zone.domain;
            [
                format!("{d} A"),
                format!("www.{d} A"),
                format!("{d} AAAA"),
                format!("{d} MX"),
                format!("{d} TXT"),
                format!("nothing-here.{d} A"),
            ]
        })
        .collect();
    // Fisher-Yates with a xorshift generator: the same order on every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..lines.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (i as u64 + 1)) as usize;
        lines.swap(i, j);
    }
    lines.join("\n") + "\n"
}

struct Ferry {
    addr: SocketAddr,
    udp_readers: usize,
    shutdown: CancellationToken,
}

fn start_ferry(runtime: &tokio::runtime::Runtime, store: ZoneStore) -> BenchResult<Ferry> {
    let mut settings = DnsSettings::new(
        NAME_SERVERS.iter().map(|ns| (*ns).to_owned()).collect(),
        HOSTMASTER,
    );
    settings.udp_readers = env_number("BENCH_DNS_UDP_READERS", settings.udp_readers)?;
    let udp_readers = settings.udp_readers;
    let shutdown = CancellationToken::new();
    let addr = runtime.block_on(async {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let addr = udp.local_addr()?;
        let tcp = tokio::net::TcpListener::bind(addr).await?;
        let token = shutdown.clone();
        tokio::spawn(async move {
            if let Err(error) = serve(store, settings, udp, tcp, token).await {
                eprintln!("dns bench: ferry's DNS server failed: {error}");
            }
        });
        Ok::<_, std::io::Error>(addr)
    })?;
    Ok(Ferry {
        addr,
        udp_readers,
        shutdown,
    })
}

/// knotd as a child process, killed when dropped.
struct Knot {
    child: Child,
    addr: SocketAddr,
}

impl Knot {
    fn start(dir: &Path, zones: &[Zone]) -> BenchResult<Self> {
        let zone_dir = dir.join("knot-zones");
        for sub in ["knot-run", "knot-db"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        fs::create_dir_all(&zone_dir)?;
        for zone in zones {
            fs::write(
                zone_dir.join(format!("{}.zone", zone.domain)),
                zone_file(zone),
            )?;
        }
        let addr = free_port()?;
        let mut config = format!(
            "server:\n    rundir: \"{run}\"\n    listen: {ip}@{port}\n\
             database:\n    storage: \"{db}\"\n\
             log:\n  - target: stderr\n    any: warning\n\
             template:\n  - id: default\n    storage: \"{zones}\"\n    file: \"%s.zone\"\n\
             \x20   zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
             \x20   semantic-checks: off\n\
             zone:\n",
            run = dir.join("knot-run").display(),
            db = dir.join("knot-db").display(),
            zones = zone_dir.display(),
            ip = addr.ip(),
            port = addr.port(),
        );
        for zone in zones {
            writeln!(config, "  - domain: {}", zone.domain)?;
        }
        let config_path = dir.join("knot.conf");
        fs::write(&config_path, config)?;
        let log = fs::File::create(dir.join("knotd.log"))?;
        let child = Command::new("knotd")
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let knot = Self { child, addr };
        // Ready when the last zone answers.
        let last = zones.last().map(|z| z.domain.clone()).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(60);
        while dig_short(addr, &last, "SOA")?.is_empty() {
            if Instant::now() > deadline {
                let log = fs::read_to_string(dir.join("knotd.log")).unwrap_or_default();
                return Err(format!("knotd did not serve {last} within 60 s:\n{log}").into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(knot)
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP, for knotd.
fn free_port() -> BenchResult<SocketAddr> {
    for _ in 0..20 {
        let udp = StdUdpSocket::bind("127.0.0.1:0")?;
        let addr = udp.local_addr()?;
        if StdTcpListener::bind(addr).is_ok() {
            return Ok(addr);
        }
    }
    Err("no free port on 127.0.0.1".into())
}

/// The zone in zone-file form for Knot: the same SOA and NS ferry derives from
/// its settings, and the zone's records.
fn zone_file(zone: &Zone) -> String {
    let mut text = format!(
        "$ORIGIN {domain}.\n$TTL 300\n\
         @ 3600 IN SOA {ns1}. {hostmaster}. {serial} 3600 600 1209600 300\n",
        domain = zone.domain,
        ns1 = NAME_SERVERS[0],
        hostmaster = HOSTMASTER,
        serial = zone.serial,
    );
    for ns in NAME_SERVERS {
        text.push_str(&format!("@ 3600 IN NS {ns}.\n"));
    }
    for record in &zone.records {
        let data = match record.kind {
            DnsRecordKind::A | DnsRecordKind::Aaaa => record.value.clone(),
            DnsRecordKind::Mx => format!("{} {}.", record.priority.unwrap_or(0), record.value),
            DnsRecordKind::Cname => format!("{}.", record.value),
            DnsRecordKind::Txt => format!(
                "\"{}\"",
                record.value.replace('\\', "\\\\").replace('"', "\\\"")
            ),
        };
        let kind = match record.kind {
            DnsRecordKind::A => "A",
            DnsRecordKind::Aaaa => "AAAA",
            DnsRecordKind::Mx => "MX",
            DnsRecordKind::Txt => "TXT",
            DnsRecordKind::Cname => "CNAME",
        };
        text.push_str(&format!(
            "{}. {} IN {kind} {data}\n",
            record.name, record.ttl_secs
        ));
    }
    text
}

/// `dig +short` answer lines, sorted; empty when the server does not answer.
fn dig_short(addr: SocketAddr, name: &str, qtype: &str) -> BenchResult<Vec<String>> {
    let output = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string()])
        .args(["+short", "+tries=1", "+time=1", name, qtype])
        .output()?;
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with(";;"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    Ok(lines)
}

/// Both servers must give the same answers, or the comparison means nothing.
fn check_same_answers(zones: &[Zone], ferry: SocketAddr, knot: SocketAddr) -> BenchResult<()> {
    let step = (zones.len() / 5).max(1);
    for zone in zones.iter().step_by(step) {
        let d = &zone.domain;
        for (name, qtype) in [
            (d.clone(), "A"),
            (format!("www.{d}"), "A"),
            (d.clone(), "AAAA"),
            (d.clone(), "MX"),
            (d.clone(), "TXT"),
            (d.clone(), "SOA"),
            (d.clone(), "NS"),
        ] {
            let (ours, theirs) = (
                dig_short(ferry, &name, qtype)?,
                dig_short(knot, &name, qtype)?,
            );
            if ours != theirs || ours.is_empty() {
                return Err(
                    format!("{name} {qtype}: ferry says {ours:?}, knot says {theirs:?}").into(),
                );
            }
        }
    }
    Ok(())
}

/// The runs of one kind against one server, one per round.
#[derive(Debug, Default)]
struct Rounds(Vec<DnsperfRun>);

impl Rounds {
    fn values(&self, value: impl Fn(&DnsperfRun) -> f64) -> Vec<f64> {
        let mut values: Vec<f64> = self.0.iter().map(value).collect();
        values.sort_by(f64::total_cmp);
        values
    }

    /// The median over rounds (the lower middle one for an even count).
    fn median(&self, value: impl Fn(&DnsperfRun) -> f64) -> f64 {
        let values = self.values(value);
        values
            .get(values.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(f64::NAN)
    }

    fn range(&self, value: impl Fn(&DnsperfRun) -> f64) -> (f64, f64) {
        let values = self.values(value);
        (
            values.first().copied().unwrap_or(f64::NAN),
            values.last().copied().unwrap_or(f64::NAN),
        )
    }

    fn lost(&self) -> u64 {
        self.0.iter().map(|run| run.lost).sum()
    }
}

/// What one dnsperf run reported.
#[derive(Debug, Default)]
struct DnsperfRun {
    qps: f64,
    avg_latency_secs: f64,
    lost: u64,
    response_size: String,
    /// Per-query latencies in seconds, sorted (verbose runs only).
    latencies: Vec<f64>,
}

impl DnsperfRun {
    /// The latency below which `fraction` of the answered queries were
    /// answered (nearest rank).
    fn percentile(&self, fraction: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = (fraction * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

fn dnsperf(args: &[String]) -> BenchResult<DnsperfRun> {
    let output = Command::new("dnsperf").args(args).output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "dnsperf {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let mut run = DnsperfRun::default();
    for line in stdout.lines() {
        let line = line.trim();
        // `-v`: "> NOERROR www.shop0001.example A 0.000161"
        if let Some(rest) = line.strip_prefix("> ") {
            if let Some(latency) = rest.split_whitespace().last() {
                run.latencies.push(latency.parse()?);
            }
        } else if let Some(value) = line.strip_prefix("Queries per second:") {
            run.qps = value.trim().parse()?;
        } else if let Some(value) = line.strip_prefix("Average Latency (s):") {
            run.avg_latency_secs = value.split_whitespace().next().unwrap_or("NaN").parse()?;
        } else if let Some(value) = line.strip_prefix("Queries lost:") {
            run.lost = value.split_whitespace().next().unwrap_or("0").parse()?;
        } else if let Some(value) = line.strip_prefix("Average packet size:") {
            run.response_size = value
                .split("response")
                .nth(1)
                .unwrap_or_default()
                .trim()
                .to_owned();
        }
    }
    if run.qps == 0.0 {
        return Err(format!("dnsperf {args:?}: no figures in its output:\n{stdout}").into());
    }
    run.latencies.sort_by(f64::total_cmp);
    Ok(run)
}

/// The first line a command prints (on stdout or stderr), e.g. its version.
fn command_line(program: &str, args: &[&str]) -> BenchResult<String> {
    let output = Command::new(program).args(args).output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(text
        .lines()
        .find(|line| line.contains("ersion"))
        .unwrap_or_default()
        .to_owned())
}

/// The 1-minute load average, to judge how busy the machine was.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// A directory of the bench's own, removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new() -> BenchResult<Self> {
        let path = std::env::temp_dir().join(format!("ferry-bench-dns-{}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path)?;
        }
        fs::create_dir_all(&path)?;
        Ok(Self { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
