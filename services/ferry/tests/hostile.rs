//! Issue 14's probes of hostile input, rerun against a real `ferry up` (NATS,
//! PostgreSQL): a fleet file with one hostile value, imported by the CLI, is refused
//! with a reason naming the value, and nothing is recorded (the stream's last
//! sequence and the read model are as they were); a transit server whose mail root
//! is `/etc` with an account named `ssl` cannot reach `/etc/ssl`; a body over the
//! limit is 413, and a command whose events would not fit in one NATS message is
//! 422, both with the JSON error body, nothing recorded.

mod support;

use ferry_events::AggregateType;
use ferry_infra::event_log::AggregateRef;
use ferry_infra::testkit::TestStack;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A clean fleet of this run: a target version, a transit server and a client
/// server with one account and a PostgreSQL database, its roots under `root`.
fn fleet(root: &Path) -> String {
    let root = root.display();
    format!(
        r#"
target_infrastructures:
  - version: v2026
    languages: [{{ language: php, version: "8.3" }}]
    databases: [{{ engine: postgres, version: "16" }}]
transit_servers:
  - transit_server_id: tr-0001
    name: transit-01.hosting.example
    configuration: vps-4c-8g
    infrastructure_version: v2026
    ipv4: ["198.51.100.11"]
    storage:
      files_root: {root}/tr-0001/files
      mail_root: {root}/tr-0001/mail
servers:
  - server_id: srv-0042
    name: bakery.hosting.example
    kind: vps
    configuration: vps-4c-8g
    infrastructure_version: v2020
    ipv4: ["192.0.2.42"]
    monthly_price: {{ amount_cents: 4900, currency: EUR }}
    customer_id: c-42
    contact_email: owner@bakery.example
    locale: fr
    storage:
      files_root: {root}/srv-0042/files
      mail_root: {root}/srv-0042/mail
      postgres_url: postgres://ferry:secret@db-0042:5432/postgres?prefix=srv0042_
    accounts:
      - account_id: acc-1207
        name: bakery
        files_bytes: 1300000
        mail_bytes: 41000
        databases:
          - {{ engine: postgres, name: bakery_shop, size_bytes: 12700000, version: "13" }}
        domains:
          - {{ name: bakery.example, dns: hosted, mail: hosted }}
        languages:
          - {{ language: php, version: "8.3" }}
"#
    )
}

struct Run {
    ferry: support::Ferry,
    stack: TestStack,
    dir: PathBuf,
    /// Support's token.
    token: String,
}

impl Run {
    /// Imports `text` as a fleet file through the CLI, as support.
    async fn import(&self, name: &str, text: &str) -> Output {
        let path = self.dir.join(format!("{name}.yaml"));
        std::fs::write(&path, text).expect("fleet written");
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("import")
            .arg(&path)
            .env("FERRY_API_URL", &self.ferry.base)
            .env("FERRY_TOKEN", &self.token)
            .env_remove("FERRY_AS")
            .env_remove("FERRY_TOKEN_FILE")
            .output()
            .await
            .expect("the CLI runs")
    }

    /// Whether the aggregate `kind`/`id` has any event in the log.
    async fn has_events(&self, kind: AggregateType, id: &str) -> bool {
        let aggregate = AggregateRef::new(kind, id).expect("a valid aggregate id");
        let loaded = self.stack.log.load(&aggregate).await.expect("loaded");
        !loaded.events.is_empty()
    }

    /// What is recorded: the stream's last sequence, and the read model's servers
    /// and transit servers as support lists them.
    async fn recorded(&self) -> (u64, String, String) {
        let sequence = self.stack.log.last_sequence().await.expect("sequence");
        let client = reqwest::Client::new();
        let get = |path: &str| {
            client
                .get(format!("{}{path}", self.ferry.base))
                .bearer_auth(&self.token)
                .send()
        };
        let servers = get("/servers/srv-0042").await.expect("answers");
        let transit = get("/transit-servers").await.expect("answers");
        (
            sequence,
            servers.text().await.unwrap_or_default(),
            transit.text().await.unwrap_or_default(),
        )
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_probe_of_the_fleet_import_is_refused_and_nothing_is_recorded() {
    let stack = TestStack::new().await;
    let ferry = support::start(&stack).await;
    let dir = std::env::temp_dir().join(format!("ferry-hostile-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let token = support::token(&ferry.log, "support:jdoe").await;
    let run = Run {
        ferry,
        stack,
        dir,
        token,
    };
    let clean = fleet(&run.dir);
    let output = run.import("clean", &clean).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    // Everything the clean import causes is recorded and served before anything is
    // compared: the read side serves the account, and the two reactions to the
    // import are in the log (the pool offers tr-0001 to its configuration's queue,
    // the network publishes bakery.example's zone). Without waiting for them, a
    // reaction landing after `before` reads as a probe having recorded something.
    let settled = ferry_infra::testkit::eventually(30, || async {
        run.recorded().await.1.contains("acc-1207")
            && run
                .has_events(AggregateType::TransitQueue, "vps-4c-8g")
                .await
            && run
                .has_events(AggregateType::DnsZone, "bakery_example")
                .await
    })
    .await;
    assert!(
        settled,
        "the clean fleet is served and its reactions recorded"
    );
    let before = run.recorded().await;

    let root = run.dir.display().to_string();
    let srv_files = format!("files_root: {root}/srv-0042/files");
    let srv_mail = format!("mail_root: {root}/srv-0042/mail");
    let tr_mail = format!("mail_root: {root}/tr-0001/mail");
    let url = "postgres://ferry:secret@db-0042:5432/postgres?prefix=srv0042_";
    let probes: Vec<(&str, String, String, &str)> = vec![
        (
            "root",
            srv_files.clone(),
            "files_root: /".into(),
            "storage.files_root: \"/\" is the file system's root",
        ),
        (
            "etc",
            srv_files.clone(),
            "files_root: /etc".into(),
            "storage.files_root: \"/etc\" is a system directory",
        ),
        (
            "relative",
            srv_files.clone(),
            "files_root: srv-0042/files".into(),
            "\"srv-0042/files\" is not an absolute path",
        ),
        (
            "dotdot",
            srv_files.clone(),
            format!("files_root: {root}/../../etc"),
            "write the path normalised",
        ),
        (
            "proxy-command",
            srv_mail.clone(),
            "mail_root: \"-oProxyCommand=sh -c reboot\"".into(),
            "starts with '-'",
        ),
        (
            "outside",
            srv_files.clone(),
            "files_root: /data/hosting/files".into(),
            "is outside the directories ferry may use",
        ),
        (
            "url-metacharacters",
            url.to_owned(),
            "postgres://ferry:secret@db-0042;reboot|sh/postgres".into(),
            "shell metacharacter",
        ),
        (
            "url-host-option",
            url.to_owned(),
            "postgres://ferry:secret@-oProxyCommand=sh/postgres".into(),
            "storage.postgres_url: the URL names the host \"-oProxyCommand=sh\"",
        ),
        (
            "url-parameter",
            url.to_owned(),
            "postgres://ferry:secret@db-0042/postgres?options=-c%20log_statement%3Dall".into(),
            "has the parameter \"options\"",
        ),
        (
            "database-dash",
            "name: bakery_shop".into(),
            "name: \"--help\"".into(),
            "database: \"--help\" is not a database name",
        ),
        (
            "account-dash",
            "name: bakery\n".into(),
            "name: -rf\n".into(),
            "name: \"-rf\" is not an account name",
        ),
        (
            "size-2-64",
            "files_bytes: 1300000".into(),
            "files_bytes: 18446744073709551615".into(),
            "files_bytes: 18446744073709551615 bytes is more than ferry takes",
        ),
        (
            "transit-etc",
            tr_mail.clone(),
            "mail_root: /etc".into(),
            "storage.mail_root: \"/etc\" is a system directory",
        ),
    ];
    for (name, from, to, reason) in probes {
        let hostile = clean.replacen(&from, &to, 1);
        assert_ne!(hostile, clean, "{name}: the probe changes the fleet");
        let output = run.import(name, &hostile).await;
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{name}: accepted\n{stderr}");
        assert!(stderr.contains(reason), "{name}: {stderr}");
        assert!(
            !stderr.contains("secret"),
            "{name}: a password shown: {stderr}"
        );
        assert_eq!(
            run.recorded().await,
            before,
            "{name}: something was recorded"
        );
    }

    // The `/etc` + `ssl` case: a transit server of its own, never in the pool, and
    // a client server with an account named `ssl`: nothing reaches `/etc/ssl`.
    let etc_ssl = std::fs::read_dir("/etc/ssl").map(|d| d.count()).ok();
    let ssl = clean
        .replacen(
            "transit_server_id: tr-0001",
            "transit_server_id: tr-0666",
            1,
        )
        .replacen(&tr_mail, "mail_root: /etc", 1)
        .replacen("name: bakery\n", "name: ssl\n", 1);
    let output = run.import("etc-ssl", &ssl).await;
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "accepted\n{stderr}");
    assert!(stderr.contains("transit server tr-0666"), "{stderr}");
    assert!(
        stderr.contains("\"/etc\" is a system directory"),
        "{stderr}"
    );
    assert_eq!(run.recorded().await, before, "something was recorded");
    assert_eq!(
        std::fs::read_dir("/etc/ssl").map(|d| d.count()).ok(),
        etc_ssl,
        "/etc/ssl is as it was"
    );

    run.ferry.stop().await;
    let _ = std::fs::remove_dir_all(&run.dir);
}

/// The body of PUT /servers/srv-0042 with `accounts` accounts, each with four
/// domains of two labels of `domain_label` characters (about 830 bytes an account
/// at 63).
fn registration(accounts: usize, domain_label: usize) -> serde_json::Value {
    let account = |i: usize| {
        let domains: Vec<serde_json::Value> = (0..4)
            .map(|d| {
                let label = "x".repeat(domain_label);
                serde_json::json!({
                    "name": format!("a{i}d{d}.{label}.{label}.example"),
                    "dns": "hosted", "mail": "hosted",
                })
            })
            .collect();
        serde_json::json!({
            "account_id": format!("acc-{i}"), "name": format!("site{i}"),
            "files_bytes": 0, "mail_bytes": 0, "databases": [], "languages": [],
            "domains": domains,
        })
    };
    let root = std::env::temp_dir().join("ferry-hostile-big");
    serde_json::json!({
        "name": "bakery.hosting.example", "kind": "vps", "configuration": "vps-4c-8g",
        "infrastructure_version": "v2020", "ipv4": ["192.0.2.42"],
        "monthly_price": {"amount_cents": 4900, "currency": "EUR"},
        "customer_id": "c-42", "contact_email": "owner@bakery.example", "locale": "fr",
        "storage": {
            "files_root": root.join("files").display().to_string(),
            "mail_root": root.join("mail").display().to_string(),
        },
        "accounts": (0..accounts).map(account).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_over_the_limit_is_413_and_events_over_the_nats_limit_are_422() {
    let stack = TestStack::new().await;
    let ferry = support::start(&stack).await;
    let client = reqwest::Client::new();
    let token = support::token(&ferry.log, "support:jdoe").await;
    let before = stack.log.last_sequence().await.expect("sequence");
    let put = |body: Vec<u8>| {
        client
            .put(format!("{}/servers/srv-0042", ferry.base))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    // 2 MB: over the default limit of 1 MiB.
    let big = serde_json::to_vec(&registration(2_600, 63)).expect("json");
    assert!(big.len() > 2_000_000, "{}", big.len());
    let response = put(big).await.expect("answers");
    assert_eq!(response.status(), 413);
    let error: serde_json::Value = response.json().await.expect("a JSON error");
    assert_eq!(error["error"], "too_large", "{error}");
    assert!(
        error["reason"]
            .as_str()
            .is_some_and(|r| r.contains("FERRY_MAX_BODY_BYTES")),
        "{error}"
    );

    // Under the limit, but its 991 events (an envelope each) take more than the
    // server's largest message: refused before anything is sent, with the reason.
    let near = serde_json::to_vec(&registration(990, 63)).expect("json");
    assert!(near.len() < 1 << 20, "{}", near.len());
    let response = put(near).await.expect("answers");
    assert_eq!(response.status(), 422);
    let error: serde_json::Value = response.json().await.expect("a JSON error");
    assert_eq!(error["error"], "too_large", "{error}");
    assert!(
        error["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the event log takes at most")),
        "{error}"
    );
    assert_eq!(
        stack.log.last_sequence().await.expect("sequence"),
        before,
        "nothing recorded"
    );
    ferry.stop().await;
}
