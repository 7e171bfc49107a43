//! The CLI's habits that need no running API: whose token is used must be said
//! (there is no default, and the token never comes from the command line), a saved
//! token is named safely, and with `--json` a failure is a JSON object on stdout,
//! the exit code kept.

use std::process::Output;

async fn ferry_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let tokens = std::env::temp_dir().join(format!("ferry-cli-test-{}", uuid::Uuid::now_v7()));
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        // Nothing listens there: a command that got as far as calling says so.
        .env("FERRY_API_URL", "http://127.0.0.1:9")
        .env("FERRY_TOKEN_DIR", &tokens)
        .env_remove("FERRY_AS")
        .env_remove("FERRY_TOKEN")
        .env_remove("FERRY_TOKEN_FILE")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("the CLI runs")
}

async fn ferry(args: &[&str]) -> Output {
    ferry_with(args, &[]).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn whose_token_acts_must_be_said_there_is_no_default() {
    let output = ferry(&["servers"]).await;
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("say who you are: --as <name>") && stderr.contains("FERRY_TOKEN"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("cannot reach"),
        "refused before any call: {stderr}"
    );
}

#[tokio::test]
async fn a_name_without_a_saved_token_or_an_unsafe_name_is_refused_before_any_call() {
    for (name, said) in [
        ("support:jdoe", "no token saved as \"support:jdoe\""),
        ("../../etc/passwd", "cannot name a saved token"),
        (".hidden", "cannot name a saved token"),
    ] {
        let output = ferry(&["--as", name, "servers"]).await;
        assert!(!output.status.success(), "{name}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(said), "{name}: {stderr}");
        assert!(!stderr.contains("cannot reach"), "{name}: {stderr}");
    }
}

#[tokio::test]
async fn a_token_from_the_environment_is_sent_and_never_echoed() {
    let token = "ferry_0193a5c27b107c3e9a415d2f0e8b1c05_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let output = ferry_with(&["servers"], &[("FERRY_TOKEN", token)]).await;
    assert_eq!(output.status.code(), Some(1));
    let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(said.contains("cannot reach ferry"), "{said}");
    assert!(
        !said.contains(&token[39..]),
        "the secret is never printed: {said}"
    );
}

#[tokio::test]
async fn with_json_a_failure_is_a_json_object_and_still_an_error() {
    let output = ferry_with(&["--json", "servers"], &[("FERRY_TOKEN", "ferry_x")]).await;
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    let error: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout:?}"));
    assert_eq!(error["error"], "failed", "{error}");
    assert!(
        error["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cannot reach ferry")),
        "{error}"
    );
    assert_eq!(text(&output.stderr), "", "nothing else said");
}

#[tokio::test]
async fn a_malformed_holder_is_refused_as_such_before_the_log_is_reached() {
    let output = ferry_with(
        &["token", "create", "--customer", "c 42"],
        &[("FERRY_NATS_URL", "nats://127.0.0.1:9")],
    )
    .await;
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("is not a customer id, a login"), "{stderr}");
    assert!(
        !stderr.contains("NATS"),
        "refused before any connection: {stderr}"
    );
}
