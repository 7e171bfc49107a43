//! `ferry up` as a process: it becomes ready, serves health and metrics, feeds its read
//! models from the log, stops cleanly on SIGTERM within its grace period, and refuses a
//! bad setting with a message naming it, and a missing NATS credential naming its file.

use ferry_events::{AccountMarkedReady, Actor, AggregateType, Envelope};
use ferry_infra::event_log::AggregateRef;
use ferry_infra::testkit::{TestStack, eventually};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

mod support;
use support::{UpOptions, spawn_up};

/// A plain HTTP/1.0 GET, with a bearer token if any: status code and body.
async fn get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(
            format!(
                "GET {path} HTTP/1.0\r\nHost: localhost\r\n{}\r\n",
                token
                    .map(|t| format!("Authorization: Bearer {t}\r\n"))
                    .unwrap_or_default()
            )
            .as_bytes(),
        )
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

async fn wait_for(port: u16, path: &str, token: &str, want: impl Fn(u16, &str) -> bool) -> bool {
    eventually(15, || async {
        get(port, path, Some(token))
            .await
            .is_some_and(|(status, body)| want(status, &body))
    })
    .await
}

/// `ferry up` as a process on `stack`, once ready: its port, the process (killed
/// when dropped) and its metrics token.
async fn ferry_up(stack: &TestStack) -> (u16, tokio::process::Child, String) {
    let up = spawn_up(stack, &UpOptions::default()).await;
    (up.port, up.child, up.metrics_token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_up_serves_feeds_its_read_models_and_stops_on_sigterm() {
    let stack = TestStack::new().await;
    let (port, mut child, metrics_token) = ferry_up(&stack).await;
    let (status, health) = get(port, "/health", None).await.expect("health answers");
    assert_eq!(status, 200);
    assert!(health.contains("ok"));
    // Without a token: alive, ready or not, and nothing more.
    let (status, metrics) = get(port, "/metrics", None).await.expect("metrics answers");
    assert_eq!(status, 401, "{metrics}");
    let (status, openapi) = get(port, "/openapi.json", None).await.expect("answers");
    assert_eq!(status, 401, "{openapi}");
    let (status, ready) = get(port, "/ready", None).await.expect("ready answers");
    assert_eq!((status, ready.as_str()), (200, r#"{"ready":true}"#));
    let (status, _) = get(port, "/ready", Some("ferry_guess"))
        .await
        .expect("answers");
    assert_eq!(status, 401, "a wrong token is refused, not ignored");

    let aggregate =
        AggregateRef::new(AggregateType::Migration, Uuid::now_v7().to_string()).expect("id");
    let event = Envelope::new(
        aggregate.id.clone(),
        AccountMarkedReady {
            account_id: "a1".into(),
        },
        Uuid::now_v7(),
        Uuid::now_v7(),
        Actor::customer("c-1"),
    );
    let appended = stack
        .log
        .append(&aggregate, 0, &[event], "k1")
        .await
        .expect("append");
    let checkpoint = format!(
        "ferry_projection_checkpoint{{projection=\"log_index\"}} {}",
        appended.version
    );
    assert!(
        wait_for(port, "/metrics", &metrics_token, |_, body| body
            .contains(&checkpoint))
        .await,
        "the log index applied the event"
    );
    let pool = stack.pool.get().await.expect("connection");
    let row = pool
        .query_one(
            "SELECT version FROM proj_log_index.aggregates WHERE aggregate_id = $1",
            &[&aggregate.id],
        )
        .await
        .expect("indexed");
    assert_eq!(row.get::<_, i64>(0), appended.version as i64);
    let (_, ready) = get(port, "/ready", Some(&metrics_token))
        .await
        .expect("ready answers");
    assert!(ready.contains("\"log_index\""), "{ready}");

    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops within its grace period")
        .expect("exit status");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[tokio::test]
async fn a_bad_setting_is_refused_with_its_name() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("up")
        .env("FERRY_SHUTDOWN_GRACE_SECS", "soon")
        .output()
        .await
        .expect("ferry runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("shutdown-grace-secs") && stderr.contains("soon"),
        "{stderr}"
    );

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "up",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "--nats-url",
            "nats://127.0.0.1:1",
        ])
        .env("FERRY_LOG", "error")
        .output()
        .await
        .expect("ferry runs");
    assert!(
        !output.status.success(),
        "an unreachable dependency stops the start"
    );
    // Its log went to a pipe, not a terminal: words, no colour escape codes.
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!log.is_empty(), "it said why it stopped");
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI escapes in a file: {log:?}"
    );
}

/// Where the CLI talking to the API on `port` keeps its tokens.
fn token_dir(port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ferry-test-tokens-{port}"))
}

/// The `ferry` CLI against the API on `port`, from the repository's root, with the
/// tokens saved for it (`--as <actor>`).
fn cli_command(port: u16, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .args(args)
        .env("FERRY_API_URL", format!("http://127.0.0.1:{port}"))
        .env("FERRY_TOKEN_DIR", token_dir(port))
        .env_remove("FERRY_TOKEN")
        .env_remove("FERRY_TOKEN_FILE")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_malformed_nats_credential_stops_the_start_naming_its_file() {
    let stack = TestStack::new().await;
    let stack_credentials = std::path::PathBuf::from(ferry_infra::testkit::nats_credentials_dir());
    let dir =
        std::env::temp_dir().join(format!("ferry-credentials-{}", stack.log.settings().stream));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    // Every service's key but the billing one's; the notifications' one is garbage.
    for user in ferry_infra::nats_users::NatsUser::ALL {
        let file = user.file_name();
        if file != "billing.nk" {
            std::fs::copy(stack_credentials.join(&file), dir.join(&file)).expect("copied");
        }
    }
    let secret_looking = "not-a-seed-but-keep-it-quiet";
    let start = |dir: std::path::PathBuf| {
        let stack_settings = stack.log.settings().clone();
        let (nats, database) = (stack.nats_url.clone(), stack.database_url.clone());
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
                .arg("up")
                .env("FERRY_NATS_URL", nats)
                .env("FERRY_STREAM", &stack_settings.stream)
                .env("FERRY_SUBJECT_PREFIX", &stack_settings.subject_prefix)
                .env("FERRY_DATABASE_URL", database)
                .env("FERRY_NATS_CREDENTIALS_DIR", &dir)
                .env("FERRY_HTTP_ADDR", "127.0.0.1:0")
                .env("FERRY_LOG", "error")
                .stdin(Stdio::null())
                .output()
                .await
                .expect("ferry runs")
        }
    };
    let output = start(dir.clone()).await;
    assert!(!output.status.success(), "no start without billing's key");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("billing")
            && stderr.contains(&dir.join("billing.nk").display().to_string()),
        "{stderr}"
    );

    std::fs::write(dir.join("billing.nk"), secret_looking).expect("written");
    let output = start(dir.clone()).await;
    assert!(!output.status.success(), "no start with a malformed key");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&dir.join("billing.nk").display().to_string())
            && stderr.contains("nkey seed")
            && !stderr.contains(secret_looking),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Runs the `ferry` CLI against the API on `port`: its exit status and output.
async fn cli(port: u16, args: &[&str]) -> (bool, String) {
    let output = cli_command(port, args)
        .output()
        .await
        .expect("the CLI runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// `ferry up` with `examples/fleet.yaml` imported by the CLI, as support, and
/// tokens saved for support and two customers (`ferry token create`).
async fn ferry_up_with_the_example_fleet(stack: &TestStack) -> (u16, tokio::process::Child) {
    let (port, ferry, _) = ferry_up(stack).await;
    support::save_tokens(
        stack,
        &token_dir(port),
        &["support:jdoe", "customer:c-42", "customer:c-77"],
    )
    .await;
    let (imported, output) = cli(
        port,
        &["--as", "support:jdoe", "import", "examples/fleet.yaml"],
    )
    .await;
    assert!(imported, "{output}");
    (port, ferry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_sees_the_migration_it_has_just_opened() {
    let stack = TestStack::new().await;
    let (port, _ferry) = ferry_up_with_the_example_fleet(&stack).await;

    // Open, then at once act on the server by name, as a script does: the second
    // command must see the first, whatever the read side's delay. Three rounds.
    for round in 0..3 {
        let customer = ["--as", "customer:c-42"];
        let (opened, output) = cli(
            port,
            &[
                &customer[..],
                &["migration", "open", "srv-0042", "--target", "v2026"],
            ]
            .concat(),
        )
        .await;
        assert!(opened, "round {round}: {output}");
        let (ready, output) = cli(
            port,
            &[
                &customer[..],
                &["migration", "ready", "srv-0042", "acc-1207"],
            ]
            .concat(),
        )
        .await;
        assert!(
            ready,
            "round {round}: the migration just opened is found: {output}"
        );
        let (cancelled, output) = cli(
            port,
            &[
                &customer[..],
                &["migration", "cancel", "srv-0042", "--reason", "round over"],
            ]
            .concat(),
        )
        .await;
        assert!(cancelled, "round {round}: {output}");
    }
    // Nothing in progress: said so, with what to do.
    let (found, output) = cli(
        port,
        &[
            "--as",
            "customer:c-42",
            "migration",
            "ready",
            "srv-0042",
            "acc-1207",
        ],
    )
    .await;
    assert!(
        !found && output.contains("no migration in progress"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_answers_a_refusal_in_json_and_ends_quietly_when_its_reader_goes() {
    let stack = TestStack::new().await;
    let (port, _ferry) = ferry_up_with_the_example_fleet(&stack).await;

    // Another customer's server: the API's refusal, as JSON, exit code 1.
    let refused = cli_command(
        port,
        &[
            "--json",
            "--as",
            "customer:c-77",
            "migration",
            "open",
            "srv-0042",
            "--target",
            "v2026",
        ],
    )
    .output()
    .await
    .expect("the CLI runs");
    assert_eq!(refused.status.code(), Some(1));
    let body: serde_json::Value =
        serde_json::from_slice(&refused.stdout).expect("a JSON error object");
    assert_eq!(
        (body["error"].as_str(), body["status"].as_u64()),
        (Some("forbidden"), Some(403)),
        "{body}"
    );
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("c-77") && !reason.contains("403"),
        "the reason, without the code and status it has fields for: {body}"
    );

    // A migration named by another customer's server: the API's 403 with its
    // reason, not "neither a migration id nor a known server".
    let by_server = cli_command(
        port,
        &[
            "--as",
            "customer:c-77",
            "migration",
            "ready",
            "srv-0042",
            "acc-1207",
        ],
    )
    .output()
    .await
    .expect("the CLI runs");
    assert_eq!(by_server.status.code(), Some(1));
    let said = String::from_utf8_lossy(&by_server.stderr);
    assert!(
        said.contains("forbidden, 403") && said.contains("c-77"),
        "{said}"
    );

    // `ferry … | head -0`: the reader is gone before the answer is written.
    let mut listing = cli_command(port, &["--as", "support:jdoe", "servers"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CLI runs");
    drop(listing.stdout.take());
    let output = listing.wait_with_output().await.expect("it ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
}
