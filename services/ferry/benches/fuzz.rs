//! The fuzz harness of ferry's input (issue 14): structured mutation, guided by the
//! outcomes it has already seen, over everything that reads bytes from outside.
//!
//! | target | what runs on each input |
//! |---|---|
//! | `events` | [`ferry_events::decode`] and [`ferry_events::decode_all`] (every event type, every schema version, through the upcasters); a decoded event encodes and decodes back to itself |
//! | `fleet` | [`ferry::fleet::Fleet::parse`] (YAML and JSON), then each server's and transit server's registration through its decider (the checks of `ferry_events::input` included) |
//! | `bodies` | every API request body type, read as `ApiJson` reads it ([`ferry_infra::api::body_from_value`]), then decided where a decider takes it (servers, transit servers, target versions) |
//! | `values` | the checks of `ferry_events::input` on storage roots, names and database URLs |
//!
//! Inputs start from seeds (the golden fixtures of every event type, the example
//! fleet, a sample of every body), mutated byte-wise (flips, interesting bytes,
//! insertions, deletions, duplications, splices, a dictionary of hostile tokens:
//! `/etc`, `-oProxyCommand=`, `18446744073709551615`, `\u0000`, deep nesting, …) and
//! structurally (a JSON value anywhere in a seed replaced by a hostile one). An input
//! whose outcome (accepted, or the start of the refusal's reason) was never seen is
//! kept as a seed: a cheap stand-in for coverage guidance on a stable toolchain,
//! where `cargo fuzz` cannot run.
//!
//! Any panic is a failure: the input is written under `target/fuzz-findings/` and the
//! run exits 1. Run it (release build, about 10 million executions):
//!
//! ```sh
//! cargo bench -p ferry --bench fuzz            # FUZZ_EXECS=10000000 by default
//! FUZZ_EXECS=200000 cargo bench -p ferry --bench fuzz   # a quick run
//! ```
//!
//! `FUZZ_SEED` sets the generator's seed (the same seed replays the same inputs);
//! `FUZZ_THREADS` (default 2) runs that many workers, each on its own share.

use ferry::fleet::Fleet;
use ferry_accounts::domain::server::{ServerCommand, ServerDecider, ServerState};
use ferry_accounts::domain::target_infrastructure::{Publish, TargetInfrastructureDecider};
use ferry_accounts::routes::{
    OpenMigration, Reason, ReinstallReport, ScheduleOptional, ServerRegistration,
    TargetRegistration,
};
use ferry_events::{Actor, DatabaseEngine};
use ferry_infra::api::body_from_value;
use ferry_infra::command::Decider;
use ferry_transit_pool::domain::transit_server::{
    TransitServer, TransitServerAction, TransitServerCommand, TransitServerDecider,
};
use ferry_transit_pool::routes::{OutOfServiceBody, TransitServerBody};
use serde_json::Value;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Executions in all, unless `FUZZ_EXECS` says otherwise.
const DEFAULT_EXECS: u64 = 10_000_000;
/// Most seeds a target keeps (the first ones and those with a new outcome).
const MAX_CORPUS: usize = 4096;
/// Largest input tried, in bytes.
const MAX_INPUT: usize = 64 << 10;

/// Hostile fragments inserted by the mutator.
const DICTIONARY: &[&str] = &[
    "/",
    "/etc",
    "/etc/ssl",
    "ssl",
    "..",
    "/../",
    "//",
    "./",
    "-oProxyCommand=sh",
    "--help",
    "-rf",
    "$(reboot)",
    "`id`",
    ";",
    "|",
    "&",
    "\\u0000",
    "\\ud800",
    "\\\"",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "1125899906842625",
    "1e400",
    "-0",
    "0.5",
    "null",
    "true",
    "[]",
    "{}",
    "[[[[[[[[[[[[[[[[",
    "{\"a\":{\"a\":{\"a\":",
    "postgres://",
    "mysql://",
    "?prefix=",
    "&sslmode=",
    "?options=-c%20x%3D1",
    "@",
    ":",
    "[::1]",
    "%",
    "%zz",
    "%2F",
    "é",
    "\u{202e}",
    "\u{1F600}",
    "\t",
    "\n",
    "\r\n",
    "*",
    "&a",
    "!!binary",
    "<<: ",
    "- ",
    ": ",
    "---",
    "\"",
    "'",
];

/// Hostile JSON values put in place of any value of a seed.
fn hostile_values() -> Vec<Value> {
    let text = |s: &str| Value::String(s.to_owned());
    vec![
        text("/"),
        text("/etc"),
        text("relative/path"),
        text("/srv/../etc"),
        text("-oProxyCommand=sh"),
        text("--help"),
        text("ssl"),
        text("postgres://u:p@db;reboot/x"),
        text("postgres://u@-oProxyCommand=x/db?options=-c"),
        text("mysql://root@[::1]:99999?prefix=-x"),
        text("a\u{0}b"),
        text(&"x".repeat(5000)),
        text(""),
        text(" "),
        text("é\u{202e}"),
        Value::from(u64::MAX),
        Value::from(i64::MIN),
        Value::from(-1),
        Value::from(1.5),
        serde_json::json!(1e300),
        Value::Null,
        Value::Bool(true),
        serde_json::json!([]),
        serde_json::json!({}),
        (0..40).fold(Value::from(1), |inner, _| Value::Array(vec![inner])),
        serde_json::json!({"unknown": 1}),
    ]
}

/// splitmix64: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One fuzz target: its seeds and what it runs on an input.
struct Target {
    name: &'static str,
    /// Its share of the executions, in percent.
    share: u64,
    seeds: Vec<Vec<u8>>,
    run: fn(&[u8]) -> Outcome,
}

/// What an input led to, coarsely: new ones grow the corpus.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Outcome(String);

impl Outcome {
    fn of<T, E: std::fmt::Display>(stage: &str, result: &Result<T, E>) -> Self {
        match result {
            Ok(_) => Outcome(format!("{stage}:ok")),
            Err(e) => {
                // The reason's start, without digits and quoted values: what kind of
                // refusal, not which value.
                let mut kind = String::new();
                let mut quote = None;
                for c in e.to_string().chars() {
                    match (quote, c) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, '"' | '\'' | '`') => quote = Some(c),
                        (None, c) if c.is_ascii_digit() => {}
                        (None, c) => kind.push(c),
                    }
                    if kind.len() >= 40 {
                        break;
                    }
                }
                Outcome(format!("{stage}:{kind}"))
            }
        }
    }
}

fn run_events(input: &[u8]) -> Outcome {
    let one = ferry_events::decode(input);
    if let Ok(envelope) = &one {
        let encoded = ferry_events::encode(envelope)
            .unwrap_or_else(|e| panic!("a decoded event does not encode: {e}"));
        let again = ferry_events::decode(&encoded)
            .unwrap_or_else(|e| panic!("an encoded event does not decode: {e}"));
        assert_eq!(
            &again, envelope,
            "an event changed through encode and decode"
        );
    }
    let all = ferry_events::decode_all(input);
    if let Ok(envelopes) = &all
        && !envelopes.is_empty()
    {
        let encoded = ferry_events::encode_all(envelopes)
            .unwrap_or_else(|e| panic!("decoded events do not encode: {e}"));
        let again = ferry_events::decode_all(&encoded)
            .unwrap_or_else(|e| panic!("encoded events do not decode: {e}"));
        assert_eq!(
            &again, envelopes,
            "events changed through encode and decode"
        );
    }
    let first = Outcome::of("one", &one);
    Outcome(format!("{}|{}", first.0, Outcome::of("all", &all).0))
}

fn support() -> Actor {
    Actor::support("fuzz")
}

/// A server registration through its decider, as `PUT /servers/{id}` runs it.
fn register(server_id: &str, registration: ServerRegistration) -> Outcome {
    let (server, accounts) = registration.into_parts(server_id);
    let command = ServerCommand::Register {
        actor: support(),
        server,
        accounts,
    };
    Outcome::of(
        "register",
        &ServerDecider::decide(&ServerState::default(), &command),
    )
}

/// A transit server's addition through its decider, as `PUT /transit-servers/{id}`.
fn add_transit(body: TransitServerBody) -> Outcome {
    let command = TransitServerCommand {
        actor: support(),
        action: TransitServerAction::Add {
            name: body.name,
            configuration: body.configuration,
            infrastructure_version: body.infrastructure_version,
            ipv4: body.ipv4,
            ipv6: body.ipv6,
            storage: body.storage.into(),
        },
    };
    Outcome::of(
        "add",
        &TransitServerDecider::decide(&TransitServer::default(), &command),
    )
}

fn run_fleet(input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Outcome("utf8".into());
    };
    // The same text as YAML and as JSON (JSON is YAML, but not the same parser).
    let mut outcome = String::new();
    for is_json in [false, true] {
        let fleet = Fleet::parse(text, is_json);
        outcome.push_str(&Outcome::of(if is_json { "json" } else { "yaml" }, &fleet).0);
        let Ok(fleet) = fleet else { continue };
        for server in fleet.servers {
            outcome.push_str(&register(&server.server_id, server.registration).0);
        }
        for transit in fleet.transit_servers {
            let body = body_from_value::<TransitServerBody>(Value::Object(transit.details));
            match body {
                Ok(body) => outcome.push_str(&add_transit(body).0),
                Err(e) => outcome.push_str(&Outcome::of::<(), _>("transit", &Err(e)).0),
            }
        }
        for target in fleet.target_infrastructures {
            let publish = Publish {
                actor: support(),
                version: target.version,
                languages: target.support.languages,
                databases: target.support.databases,
            };
            let decided = TargetInfrastructureDecider::decide(&Default::default(), &publish);
            outcome.push_str(&Outcome::of("publish", &decided).0);
        }
    }
    Outcome(outcome)
}

/// The body types, by the first byte of the input (the rest is the body): each
/// request body of the API, read as `ApiJson` reads it.
fn run_bodies(input: &[u8]) -> Outcome {
    let Some((&kind, body)) = input.split_first() else {
        return Outcome("empty".into());
    };
    let value = match serde_json::from_slice::<Value>(body) {
        Ok(value) => value,
        Err(e) => return Outcome::of::<(), _>("json", &Err(e)),
    };
    let read = |name: &str, result: Result<(), ferry_infra::api::ApiError>| {
        Outcome::of(name, &result.map_err(|e| e.body.reason))
    };
    match kind % 10 {
        0 => match body_from_value::<ServerRegistration>(value) {
            Ok(registration) => register("srv-0042", registration),
            Err(e) => read("server", Err(e)),
        },
        1 => match body_from_value::<TransitServerBody>(value) {
            Ok(body) => add_transit(body),
            Err(e) => read("transit", Err(e)),
        },
        2 => match body_from_value::<TargetRegistration>(value) {
            Ok(target) => {
                let publish = Publish {
                    actor: support(),
                    version: "v2026".into(),
                    languages: target.languages,
                    databases: target.databases,
                };
                Outcome::of(
                    "publish",
                    &TargetInfrastructureDecider::decide(&Default::default(), &publish),
                )
            }
            Err(e) => read("target", Err(e)),
        },
        3 => read("open", body_from_value::<OpenMigration>(value).map(drop)),
        4 => read(
            "reinstall",
            body_from_value::<ReinstallReport>(value).map(drop),
        ),
        5 => read("reason", body_from_value::<Reason>(value).map(drop)),
        6 => read(
            "optional",
            body_from_value::<ScheduleOptional>(value).map(drop),
        ),
        7 => read(
            "out_of_service",
            body_from_value::<OutOfServiceBody>(value).map(drop),
        ),
        8 => read(
            "free_period",
            body_from_value::<ferry_billing::api::FreePeriodBody>(value).map(drop),
        ),
        _ => read(
            "requeue",
            body_from_value::<ferry_notifications::routes::RequeueBody>(value).map(drop),
        ),
    }
}

/// The checks of `ferry_events::input`, by the first byte: a root, a name, a URL.
fn run_values(input: &[u8]) -> Outcome {
    let Some((&kind, rest)) = input.split_first() else {
        return Outcome("empty".into());
    };
    let text = String::from_utf8_lossy(rest);
    use ferry_events::input::*;
    match kind % 6 {
        0 => Outcome::of("root", &check_storage_root("root", &text)),
        1 => Outcome::of("account", &check_account_name("name", &text)),
        2 => Outcome::of("database", &check_database_name("name", &text)),
        3 => Outcome::of(
            "pg",
            &parse_database_url("url", DatabaseEngine::Postgres, &text),
        ),
        4 => Outcome::of(
            "mysql",
            &parse_database_url("url", DatabaseEngine::Mysql, &text),
        ),
        _ => {
            let allowed = parse_allowed_roots(&text);
            if let Ok(allowed) = &allowed {
                root_within("/srv/ferry/files", allowed);
            }
            Outcome::of("allowed", &allowed)
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn event_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for dir in ["events/fixtures/current", "events/fixtures/old"] {
        let Ok(entries) = std::fs::read_dir(repo().join(dir)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if let Ok(bytes) = std::fs::read(&path) {
                // The compact wire form, as the log holds it, and an array of two.
                if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                    let compact = serde_json::to_vec(&value).unwrap_or_default();
                    let pair = serde_json::to_vec(&Value::Array(vec![value.clone(), value]))
                        .unwrap_or_default();
                    seeds.push(compact);
                    seeds.push(pair);
                }
                seeds.push(bytes);
            }
        }
    }
    seeds
}

fn fleet_seeds() -> Vec<Vec<u8>> {
    let yaml = std::fs::read(repo().join("examples/fleet.yaml")).unwrap_or_default();
    let mut seeds = vec![yaml.clone()];
    if let Ok(fleet) = Fleet::parse(&String::from_utf8_lossy(&yaml), false)
        && let Ok(json) = serde_json::to_vec(&fleet)
    {
        seeds.push(json);
    }
    seeds
}

fn body_seeds() -> Vec<Vec<u8>> {
    let fleet = Fleet::parse(
        &std::fs::read_to_string(repo().join("examples/fleet.yaml")).unwrap_or_default(),
        false,
    )
    .ok();
    let server = fleet
        .as_ref()
        .and_then(|f| f.servers.first())
        .and_then(|s| serde_json::to_value(&s.registration).ok())
        .unwrap_or(Value::Null);
    let transit = fleet
        .as_ref()
        .and_then(|f| f.transit_servers.first())
        .map(|t| Value::Object(t.details.clone()))
        .unwrap_or(Value::Null);
    let target = fleet
        .as_ref()
        .and_then(|f| f.target_infrastructures.first())
        .and_then(|t| serde_json::to_value(&t.support).ok())
        .unwrap_or(Value::Null);
    let bodies = [
        server,
        transit,
        target,
        serde_json::json!({"target_version": "v2026"}),
        serde_json::json!({"infrastructure_version": "v2026"}),
        serde_json::json!({"reason": "disk fault"}),
        serde_json::json!({"service": "postgresql", "from_version": "13", "to_version": "16",
            "scheduled_for": "2027-01-15T02:00:00Z"}),
        serde_json::json!({"reason": "disk fault"}),
        serde_json::json!({"free_period_days": 21, "reason": "install delayed"}),
        serde_json::json!({"reason": "relay fixed"}),
    ];
    bodies
        .iter()
        .enumerate()
        .map(|(kind, body)| {
            let mut bytes = vec![kind as u8];
            bytes.extend(serde_json::to_vec(body).unwrap_or_default());
            bytes
        })
        .collect()
}

fn value_seeds() -> Vec<Vec<u8>> {
    let with = |kind: u8, text: &str| {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(text.as_bytes());
        bytes
    };
    vec![
        with(0, "/var/tmp/ferry-demo/srv-0042/files"),
        with(0, "backup@db-7.hosting.example:/srv/files"),
        with(1, "bakery"),
        with(2, "bakery_shop"),
        with(
            3,
            "postgres://postgres:p%40ss@127.0.0.1:15432/postgres?prefix=srv0042_&sslmode=disable",
        ),
        with(4, "mariadb://root@[::1]:13306?prefix=srv0042_"),
        with(5, "/srv:/home:/var/tmp/ferry-demo"),
    ]
}

/// One mutation of `input` (or a splice with `other`).
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8], values: &[Value]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(11) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = *rng.pick(&[
                    0, 0x7f, 0x80, 0xff, b'"', b'\\', b'-', b'/', b'.', b'9', b'{', b'[',
                ]);
            }
            2 => {
                let i = rng.below(out.len() + 1);
                let token = rng.pick(DICTIONARY).as_bytes();
                out.splice(i..i, token.iter().copied());
            }
            3 if !out.is_empty() => {
                let start = rng.below(out.len());
                let end = (start + 1 + rng.below(32)).min(out.len());
                out.drain(start..end);
            }
            4 if !out.is_empty() => {
                let start = rng.below(out.len());
                let end = (start + 1 + rng.below(64)).min(out.len());
                let chunk: Vec<u8> = out[start..end].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, chunk);
            }
            5 if !other.is_empty() && !out.is_empty() => {
                let cut = rng.below(out.len());
                let from = rng.below(other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            6..=8 => {
                if let Some(changed) = mutate_json(rng, &out, values) {
                    out = changed;
                }
            }
            9 => {
                // A random byte anywhere.
                let i = rng.below(out.len() + 1);
                out.insert(i, rng.next() as u8);
            }
            _ => {
                // Replace a number-looking run of digits by a huge one.
                if let Some(i) = (0..8)
                    .map(|_| rng.below(out.len().max(1)))
                    .find(|&i| out.get(i).is_some_and(u8::is_ascii_digit))
                {
                    out.splice(i..i + 1, b"18446744073709551615".iter().copied());
                }
            }
        }
    }
    out.truncate(MAX_INPUT);
    out
}

/// A JSON seed (after the first byte, for the typed targets) with one value
/// replaced: by a hostile value, or a string with a dictionary token spliced in.
fn mutate_json(rng: &mut Rng, input: &[u8], values: &[Value]) -> Option<Vec<u8>> {
    let (prefix, body) = match input.first() {
        Some(b'{') | Some(b'[') => (&input[..0], input),
        Some(_) => (&input[..1], &input[1..]),
        None => return None,
    };
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let mut count = 0;
    count_nodes(&value, &mut count);
    let target = rng.below(count);
    let mut seen = 0;
    let replacement = if rng.below(2) == 0 {
        rng.pick(values).clone()
    } else {
        Value::String(format!(
            "{}{}",
            rng.pick(DICTIONARY),
            rng.pick(&["srv-0042", "/srv/files", "bakery", "", "x"])
        ))
    };
    replace_node(&mut value, target, &mut seen, replacement);
    let mut out = prefix.to_vec();
    out.extend(serde_json::to_vec(&value).ok()?);
    Some(out)
}

fn count_nodes(value: &Value, count: &mut usize) {
    *count += 1;
    match value {
        Value::Array(items) => items.iter().for_each(|v| count_nodes(v, count)),
        Value::Object(fields) => fields.values().for_each(|v| count_nodes(v, count)),
        _ => {}
    }
}

fn replace_node(value: &mut Value, target: usize, seen: &mut usize, with: Value) -> bool {
    if *seen == target {
        *value = with;
        return true;
    }
    *seen += 1;
    match value {
        Value::Array(items) => {
            for item in items {
                if replace_node(item, target, seen, with.clone()) {
                    return true;
                }
            }
        }
        Value::Object(fields) => {
            for field in fields.values_mut() {
                if replace_node(field, target, seen, with.clone()) {
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}

/// What one worker did on one target.
#[derive(Debug, Default, Clone)]
struct Tally {
    execs: u64,
    /// Inputs that went through every check (parsed, and accepted by the decider).
    accepted: u64,
    panics: u64,
    outcomes: usize,
    corpus: usize,
    elapsed: Duration,
}

fn fuzz(target: &Target, execs: u64, seed: u64, findings: &Path) -> Tally {
    let mut rng = Rng(seed);
    let values = hostile_values();
    let mut corpus = target.seeds.clone();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut tally = Tally::default();
    let started = Instant::now();
    for n in 0..execs {
        // Now and then a seed as it is; mostly a mutation of a kept input.
        let input = if n < corpus.len() as u64 {
            corpus[n as usize].clone()
        } else {
            let base = rng.below(corpus.len());
            let other = rng.below(corpus.len());
            mutate(&mut rng, &corpus[base], &corpus[other], &values)
        };
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        tally.execs += 1;
        match outcome {
            Ok(outcome) => {
                if outcome.0.ends_with(":ok") {
                    tally.accepted += 1;
                }
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                outcome.hash(&mut hasher);
                if seen.insert(hasher.finish()) && corpus.len() < MAX_CORPUS {
                    corpus.push(input);
                }
            }
            Err(_) => {
                tally.panics += 1;
                let _ = std::fs::create_dir_all(findings);
                let path = findings.join(format!("{}-{seed:x}-{n}.bin", target.name));
                let _ = std::fs::write(&path, &input);
                eprintln!("fuzz: {} panicked on {}", target.name, path.display());
            }
        }
    }
    tally.elapsed = started.elapsed();
    tally.outcomes = seen.len();
    tally.corpus = corpus.len();
    tally
}

fn main() {
    // `cargo bench` passes `--bench`; a filter may follow. Only our own settings count.
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or(default)
    };
    let total = env("FUZZ_EXECS", DEFAULT_EXECS);
    let threads = env("FUZZ_THREADS", 2).max(1);
    let seed = env("FUZZ_SEED", 0x00fe_2217);
    let findings = repo().join("target/fuzz-findings");
    // Panics are counted and their inputs kept; their messages would flood the output.
    let quiet = std::env::var_os("FUZZ_SHOW_PANICS").is_none();
    if quiet {
        std::panic::set_hook(Box::new(|_| {}));
    }
    let targets = [
        Target {
            name: "events",
            share: 40,
            seeds: event_seeds(),
            run: run_events,
        },
        Target {
            name: "fleet",
            share: 10,
            seeds: fleet_seeds(),
            run: run_fleet,
        },
        Target {
            name: "bodies",
            share: 35,
            seeds: body_seeds(),
            run: run_bodies,
        },
        Target {
            name: "values",
            share: 15,
            seeds: value_seeds(),
            run: run_values,
        },
    ];
    println!(
        "fuzz: {total} executions over {} targets, {threads} worker(s), seed {seed:#x}",
        targets.len()
    );
    let started = Instant::now();
    let mut all_execs = 0;
    let mut all_panics = 0;
    for target in &targets {
        let execs = total * target.share / 100;
        let per_worker = execs / threads;
        let tallies: Vec<Tally> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|worker| {
                    let findings = &findings;
                    let share = if worker == threads - 1 {
                        execs - per_worker * (threads - 1)
                    } else {
                        per_worker
                    };
                    let seed = seed ^ (worker.wrapping_mul(0x9e37_79b9) << 8) ^ target.share;
                    scope.spawn(move || fuzz(target, share, seed, findings))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let execs: u64 = tallies.iter().map(|t| t.execs).sum();
        let panics: u64 = tallies.iter().map(|t| t.panics).sum();
        let accepted: u64 = tallies.iter().map(|t| t.accepted).sum();
        let wall = tallies.iter().map(|t| t.elapsed).max().unwrap_or_default();
        let outcomes = tallies.iter().map(|t| t.outcomes).max().unwrap_or(0);
        let corpus = tallies.iter().map(|t| t.corpus).max().unwrap_or(0);
        println!(
            "fuzz: {:<7} {execs:>10} executions, {panics} panics, {:>6.1} s, {:>9.0} execs/s, \
             {accepted} accepted whole, {} seeds, {outcomes} distinct outcomes, corpus {corpus}",
            target.name,
            wall.as_secs_f64(),
            execs as f64 / wall.as_secs_f64().max(1e-9),
            target.seeds.len(),
        );
        all_execs += execs;
        all_panics += panics;
    }
    let elapsed = started.elapsed();
    println!(
        "fuzz: total   {all_execs:>10} executions, {all_panics} panics, {:>6.1} s, {:>9.0} execs/s",
        elapsed.as_secs_f64(),
        all_execs as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if all_panics > 0 {
        eprintln!(
            "fuzz: {all_panics} panics; their inputs are in {} (FUZZ_SHOW_PANICS=1 shows the messages)",
            findings.display()
        );
        std::process::exit(1);
    }
}
