//! The CLI's habits that need no running API: who acts must be said (no default
//! actor, and only a person: customer or support), and with `--json` a failure is a
//! JSON object on stdout, the exit code kept.

use std::process::Output;

async fn ferry(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        // Nothing listens there: a command that got as far as calling says so.
        .env("FERRY_API_URL", "http://127.0.0.1:9")
        .env_remove("FERRY_ACTOR")
        .output()
        .await
        .expect("the CLI runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn who_acts_must_be_said_there_is_no_default_role() {
    let output = ferry(&["servers"]).await;
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("say who you are: --as customer:<customer id> or --as support:<login>"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("cannot reach"),
        "refused before any call: {stderr}"
    );
}

#[tokio::test]
async fn only_a_customer_or_support_may_be_named() {
    for (actor, said) in [
        (
            "system:accounts",
            "actor role \"system\" is not customer or support",
        ),
        (
            "boss:jdoe",
            "actor role \"boss\" is not customer or support",
        ),
        ("support:", "has no id"),
    ] {
        let output = ferry(&["--as", actor, "servers"]).await;
        assert!(!output.status.success(), "{actor}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(said), "{actor}: {stderr}");
        assert!(!stderr.contains("or system"), "{actor}: {stderr}");
    }
}

#[tokio::test]
async fn with_json_a_failure_is_a_json_object_and_still_an_error() {
    let output = ferry(&["--json", "--as", "support:jdoe", "servers"]).await;
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
