//! The browser tests: the specs in `tests/browser/` (ES modules run one at a time
//! by `node tests/browser/run.mjs`, playwright-core driving Debian's headless
//! Chromium; `scripts/browser-setup` installs both, and `scripts/test` runs it)
//! against pages served here, with a full-page screenshot after every step kept in
//! the target directory (`browser-artifacts/<spec>/`).
//!
//! - The harness itself, on a tiny page this test serves (the panel's sign-in
//!   contract and a list of steps): a wrong token is refused with an alert, a good
//!   one signs in, a click moves `aria-current`, `?lang=fr` switches to French,
//!   sign-out leads back to the sign-in page; and a spec failing on purpose fails
//!   the run, naming its step, the page's URL and a screenshot of the failure.
//! - The panel that `ferry up` serves at `/panel` (issue 15), on the example fleet:
//!   signing in and out, another customer's server refused (`signin.mjs`); a
//!   customer opening the migration of srv-0042, marking both accounts ready and
//!   requesting the transit server by clicking, the current step moving from 1 to
//!   2, and the log holding what the clicks asked (`customer_walkthrough.mjs`);
//!   support's console: languages removed and restored, a failed pre-copy listed,
//!   a reinstall started and recorded done, by clicking (`support_console.mjs`).
//! - The whole migration of srv-0042 by clicking, with real data moving under a
//!   slowed rsync: every step's display and refusals, the confirmation page, a
//!   move's live progress without reload, one step by keyboard, axe-core on the
//!   sign-in, server and audit pages, a 375 px screen (`full_migration.mjs`).
//!
//! A machine without node, Chromium or playwright-core fails these tests with how
//! to install them: a browser test that cannot run must not pass.

mod support;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use ferry_infra::testkit::TestStack;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::token;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Longest a spec may run (the runner stops a hung one itself after 300 s).
const SPEC_SECS: u64 = 360;

/// What installs the browser tests' tools.
const SETUP: &str = "run scripts/browser-setup (scripts/test runs it): it installs Debian's \
                     chromium, Node.js and playwright-core (tests/browser/package-lock.json)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_signs_in_clicks_reads_aria_current_and_keeps_a_screenshot_per_step() {
    let token = format!("harness-{}", uuid::Uuid::now_v7().simple());
    let base = serve_harness_page(token.clone()).await;
    let env = [("FERRY_PANEL_URL", base), ("FERRY_TOKEN_CUSTOMER", token)];
    let started = Instant::now();
    let screenshots = run_spec("harness.mjs", &env).await;
    println!("harness.mjs passed in {:.1?}", started.elapsed());
    let shots = pngs(&screenshots);
    assert_eq!(
        shots,
        [
            "01-the-sign-in-page-has-the-contract-form.png",
            "02-a-wrong-token-is-refused-with-an-alert.png",
            "03-a-good-token-signs-in.png",
            "04-a-click-moves-the-current-step.png",
            "05-lang-fr-switches-to-french.png",
            "06-signing-out-leads-back-to-the-sign-in-page.png",
        ],
        "a screenshot per step in {}",
        screenshots.display()
    );
    for shot in &shots {
        let bytes = std::fs::read(screenshots.join(shot)).expect("the screenshot");
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1000,
            "{shot} is a PNG image ({} bytes)",
            bytes.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_fails_the_run_naming_the_step_the_url_and_a_screenshot() {
    let token = format!("harness-{}", uuid::Uuid::now_v7().simple());
    let base = serve_harness_page(token.clone()).await;
    let env = [
        ("FERRY_PANEL_URL", base.clone()),
        ("FERRY_TOKEN_CUSTOMER", token),
        ("FERRY_HARNESS_FAIL", "1".to_owned()),
    ];
    // Its own directory: the passing run's screenshots are not touched.
    let run = run_spec_in(&artifacts_root().join("failing"), "harness.mjs", &env).await;
    assert!(
        !run.success,
        "a failing step fails the run:\n{}",
        run.output
    );
    let report = run
        .output
        .lines()
        .skip_while(|line| !line.starts_with("FAIL "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        report.contains("FAIL harness, step 5: a deliberate failure"),
        "{report}"
    );
    assert!(
        report.contains(&format!("url:        {base}/panel/")),
        "{report}"
    );
    assert!(
        report.contains("expected 1 element(s) matching #no-such-element"),
        "{report}"
    );
    let shot = run.artifacts.join("05-a-deliberate-failure-failed.png");
    assert!(
        report.contains(&format!("screenshot: {}", shot.display())),
        "{report}"
    );
    assert!(shot.is_file(), "{} was taken", shot.display());
    // The steps before it passed and kept their screenshots.
    assert_eq!(pngs(&run.artifacts).len(), 5, "{}", run.artifacts.display());
}

#[test]
fn a_missing_chromium_or_node_fails_with_how_to_install_them() {
    let missing = preflight(Path::new("/nonexistent/chromium"), "node").expect_err("no Chromium");
    assert!(
        missing.contains("/nonexistent/chromium") && missing.contains("scripts/browser-setup"),
        "{missing}"
    );
    let missing = preflight(&chromium(), "ferry-test-no-such-node").expect_err("no node");
    assert!(
        missing.contains("ferry-test-no-such-node") && missing.contains("scripts/browser-setup"),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_signs_in_and_out_refuses_a_wrong_token_and_another_customers_server() {
    let stack = TestStack::new().await;
    let ferry = start_on_example_fleet(&stack).await;
    let env = panel_env(
        &ferry,
        &[
            ("FERRY_TOKEN_CUSTOMER", "customer:c-42"),
            ("FERRY_TOKEN_SUPPORT", "support:jdoe"),
        ],
    )
    .await;
    run_spec("signin.mjs", &env).await;
    ferry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_opens_the_migration_marks_both_accounts_ready_and_requests_the_transit_server()
{
    let stack = TestStack::new().await;
    let ferry = start_on_example_fleet(&stack).await;
    let env = panel_env(&ferry, &[("FERRY_TOKEN_CUSTOMER", "customer:c-42")]).await;
    run_spec("customer_walkthrough.mjs", &env).await;
    // What the clicks asked is in the log: the migration opened, both accounts
    // ready, the transit server requested (php 7.4 keeps it in step 2 until support
    // removes it).
    let current = ferry
        .api("customer:c-42")
        .await
        .get("/servers/srv-0042/current-migration")
        .await
        .expect("a migration is in progress");
    let migration: uuid::Uuid = current["migration_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("its id");
    let state = support::wait_for_state(&stack.log, migration, "transit_requested").await;
    for account in ["acc-1207", "acc-1208"] {
        assert!(state.accounts[account].ready, "{account} is ready");
    }
    ferry.stop().await;
}

/// `ferry up` on the test's stack with the example fleet imported (c-42's srv-0042
/// with acc-1207 and acc-1208, c-77's srv-0077, two transit servers).
async fn start_on_example_fleet(stack: &TestStack) -> support::Ferry {
    let ferry = support::start(stack).await;
    support::import_example_fleet(&ferry).await;
    ferry
}

/// A panel spec's environment: `FERRY_PANEL_URL` (ferry's origin) and, for each
/// `(variable, actor)`, a token acting as the actor.
async fn panel_env(
    ferry: &support::Ferry,
    tokens: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = vec![("FERRY_PANEL_URL", ferry.base.clone())];
    for (variable, actor) in tokens {
        env.push((variable, token(&ferry.log, actor).await));
    }
    env
}

// ------------------------------------------------------------------ the runner

/// The repository's root (the runner and the specs are under `tests/browser/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

/// Where the specs' screenshots are kept: `browser-artifacts/` of the target
/// directory, one directory per spec.
fn artifacts_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("browser-artifacts")
}

/// The Chromium the specs drive: `FERRY_CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("FERRY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Whether the specs can run: `chromium` exists, `node` runs, playwright-core is
/// installed; if not, what is missing and how to install it.
fn preflight(chromium: &Path, node: &str) -> Result<(), String> {
    if !chromium.is_file() {
        return Err(format!("no Chromium at {}: {SETUP}", chromium.display()));
    }
    let version = std::process::Command::new(node)
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    if !version.is_ok_and(|out| out.status.success()) {
        return Err(format!("`{node} --version` does not run: {SETUP}"));
    }
    let playwright = repo_root().join("tests/browser/node_modules/playwright-core/package.json");
    if !playwright.is_file() {
        return Err(format!("no {}: {SETUP}", playwright.display()));
    }
    Ok(())
}

/// One run of the runner.
struct SpecRun {
    success: bool,
    /// Its output, standard output and error as they came.
    output: String,
    /// Its screenshots.
    artifacts: PathBuf,
}

/// Runs `tests/browser/<spec>` with `env` (`FERRY_PANEL_URL`, tokens) and panics
/// unless every step passed, with the runner's report (the failing step, its URL,
/// the screenshot taken then). Returns the directory of its screenshots.
async fn run_spec(spec: &str, env: &[(&str, String)]) -> PathBuf {
    let run = run_spec_in(&artifacts_root(), spec, env).await;
    assert!(
        run.success,
        "browser spec {spec} failed (screenshots in {}):\n{}",
        run.artifacts.display(),
        run.output
    );
    run.artifacts
}

/// Runs `node tests/browser/run.mjs tests/browser/<spec>` from the repository's
/// root with `env` and screenshots under `root/<spec name>/`, printing its output
/// as it comes. Panics, with how to install them, when the tools are missing.
async fn run_spec_in(root: &Path, spec: &str, env: &[(&str, String)]) -> SpecRun {
    if let Err(missing) = preflight(&chromium(), "node") {
        panic!("browser spec {spec} cannot run: {missing}");
    }
    let artifacts = root.join(spec.trim_end_matches(".mjs"));
    println!(
        "browser spec {spec}: screenshots in {}",
        artifacts.display()
    );
    let mut child = tokio::process::Command::new("node")
        .arg("tests/browser/run.mjs")
        .arg(format!("tests/browser/{spec}"))
        .current_dir(repo_root())
        .env("FERRY_BROWSER_ARTIFACTS", root)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("node does not start: {e}: {SETUP}"));
    let output = Arc::new(Mutex::new(String::new()));
    let out = tokio::spawn(stream(child.stdout.take().expect("piped"), output.clone()));
    let err = tokio::spawn(stream(child.stderr.take().expect("piped"), output.clone()));
    let status = tokio::time::timeout(Duration::from_secs(SPEC_SECS), child.wait())
        .await
        .unwrap_or_else(|_| panic!("browser spec {spec} still running after {SPEC_SECS} s"))
        .expect("the runner's exit status");
    out.await.expect("its output read");
    err.await.expect("its errors read");
    let output = std::mem::take(&mut *output.lock().expect("the output"));
    SpecRun {
        success: status.success(),
        output,
        artifacts,
    }
}

/// Prints the lines of `from` as they come and keeps them in `into`.
async fn stream(from: impl AsyncRead + Unpin, into: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{line}");
        let mut kept = into.lock().expect("the output");
        kept.push_str(&line);
        kept.push('\n');
    }
}

/// The PNG files in `dir`, by name.
fn pngs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".png"))
        .collect();
    names.sort();
    names
}

// ------------------------------------------------------- the harness's page

/// The cookie the harness's page signs in with.
const SIGNED_IN: &str = "harness=signed-in";

/// Serves, on a port of its own, a stand-in with the panel's sign-in contract:
/// `/panel/sign-in` (the form; a wrong token answers it again with an alert, the
/// right one `token` redirects to `/panel/`), `/panel/` (signed in only: a heading,
/// eight steps with the first current, a button moving the current step, the
/// sign-out form), `/panel/sign-out`; `?lang=fr` sets `<html lang="fr">`. Returns
/// its origin.
async fn serve_harness_page(token: String) -> String {
    let app = Router::new()
        .route("/panel/sign-in", get(sign_in_page).post(sign_in))
        .route("/panel/", get(home))
        .route("/panel/sign-out", post(sign_out))
        .with_state(Arc::<str>::from(token));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

type Lang = Query<HashMap<String, String>>;

fn lang(query: &Lang) -> &str {
    match query.get("lang").map(String::as_str) {
        Some("fr") => "fr",
        _ => "en",
    }
}

fn page(lang: &str, title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}\
         li[aria-current]{{font-weight:bold;color:#0a5}}</style></head>\
         <body><main>{body}</main></body></html>"
    ))
}

fn sign_in_form(lang: &str, alert: Option<&str>) -> Html<String> {
    let alert = alert
        .map(|text| format!("<p role=\"alert\">{text}</p>"))
        .unwrap_or_default();
    page(
        lang,
        "Sign in",
        &format!(
            "<h1>Sign in</h1>{alert}<form action=\"/panel/sign-in\" method=\"post\">\
             <label for=\"token\">Token</label> \
             <input id=\"token\" name=\"token\" type=\"password\" required> \
             <button type=\"submit\">Sign in</button></form>"
        ),
    )
}

async fn sign_in_page(query: Lang) -> Html<String> {
    sign_in_form(lang(&query), None)
}

/// The form's body is `token=<value>`; the harness's tokens need no decoding.
async fn sign_in(State(token): State<Arc<str>>, body: String) -> Response {
    let given = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or_default();
    if given == &*token {
        (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/panel/".to_owned()),
                (
                    header::SET_COOKIE,
                    format!("{SIGNED_IN}; Path=/panel; HttpOnly; SameSite=Lax"),
                ),
            ],
        )
            .into_response()
    } else {
        sign_in_form(
            "en",
            Some("This token is not valid: check it and try again."),
        )
        .into_response()
    }
}

async fn home(headers: HeaderMap, query: Lang) -> Response {
    let signed_in = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|cookies| cookies.split("; ").any(|cookie| cookie == SIGNED_IN));
    if !signed_in {
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/panel/sign-in")],
        )
            .into_response();
    }
    let steps: String = (1..=8)
        .map(|n| {
            let current = if n == 1 { " aria-current=\"step\"" } else { "" };
            format!("<li{current}>Step {n}</li>")
        })
        .collect();
    page(
        lang(&query),
        "Harness",
        &format!(
            "<h1>Harness</h1><ol class=\"steps\">{steps}</ol>\
             <button type=\"button\" data-action=\"next\">Next step</button>\
             <form action=\"/panel/sign-out\" method=\"post\"><button type=\"submit\">Sign out</button></form>\
             <script>document.querySelector('[data-action=next]').addEventListener('click', () => {{\
               const current = document.querySelector('ol.steps > li[aria-current]');\
               if (current.nextElementSibling) {{\
                 current.removeAttribute('aria-current');\
                 current.nextElementSibling.setAttribute('aria-current', 'step');\
               }}\
             }});</script>"
        ),
    )
    .into_response()
}

async fn sign_out() -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/panel/sign-in"),
            (header::SET_COOKIE, "harness=; Path=/panel; Max-Age=0"),
        ],
    )
        .into_response()
}

/// Support's console (`support_console.mjs`): c-77's srv-0077 waits in step 2 with
/// none of its data on this machine; support removes its languages by clicking in
/// the console, sees its pre-copy fail for real among the failed transfers, and
/// restores them by clicking. c-42's srv-0042, its accounts moved for real, awaits
/// its reinstall: support starts it then records it done from the console, each
/// confirmed on a page of its own. The log holds every click, by support.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_works_from_the_console_languages_a_failed_pre_copy_and_a_reinstall() {
    let stack = TestStack::new().await;
    let demo = support::Demo::new();
    demo.client_data().await.expect("srv-0042's data");
    let env: Vec<(&str, String)> = demo.ferry_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ferry = support::start_with(&stack, &env).await;
    let fleet = demo
        .fleet()
        .expect("the example fleet in this run's directory");
    ferry::fleet::import(&ferry.api("support:fleet").await, &fleet)
        .await
        .expect("imported");
    let post = |api: ferry::client::Api, path: String| async move {
        api.command(reqwest::Method::POST, &path, None)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    };
    let m = support::open_migration(&ferry, "customer:c-77", "srv-0077").await;
    support::wait_for_state(&stack.log, m, "preparing").await;
    let c77 = ferry.api("customer:c-77").await;
    post(
        c77.clone(),
        format!("/migrations/{m}/accounts/acc-2001/ready"),
    )
    .await;
    post(c77, format!("/migrations/{m}/transit-request")).await;
    support::wait_for_state(&stack.log, m, "transit_requested").await;
    let m42 = to_the_reinstall(&ferry, &stack).await;
    let env = panel_env(&ferry, &[("FERRY_TOKEN_SUPPORT", "support:jdoe")]).await;
    run_spec("support_console.mjs", &env).await;
    support::wait_for_state(&stack.log, m42, "relocating").await;
    for (server, kinds) in [
        (
            "srv-0077",
            ["ObsoleteLanguagesRemoved", "ObsoleteLanguagesRestored"],
        ),
        ("srv-0042", ["ReinstallStarted", "ServerReinstalled"]),
    ] {
        let events = ferry
            .api("support:jdoe")
            .await
            .get(&format!("/servers/{server}/audit"))
            .await
            .expect("the audit");
        for kind in kinds {
            let by_support = events["entries"].as_array().into_iter().flatten().any(|e| {
                e["event_type"] == kind
                    && e["actor"]["role"] == "support"
                    && e["actor"]["id"] == "jdoe"
            });
            assert!(by_support, "{server}: {kind} by support:jdoe in {events}");
        }
    }
    ferry.stop().await;
}

/// Walks c-42's srv-0042 to the end of step 5 through the API, its accounts moved
/// for real by the data mover: the reinstall requested, for support to start.
async fn to_the_reinstall(ferry: &support::Ferry, stack: &TestStack) -> uuid::Uuid {
    use ferry_accounts::domain::migration::Place;
    let m = support::open_migration(ferry, "customer:c-42", "srv-0042").await;
    support::wait_for_state(&stack.log, m, "preparing").await;
    let customer = ferry.api("customer:c-42").await;
    let support_api = ferry.api("support:jdoe").await;
    let post = |api: &ferry::client::Api, path: String| {
        let api = api.clone();
        async move {
            api.command(reqwest::Method::POST, &path, None)
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    };
    for account in ["acc-1207", "acc-1208"] {
        post(
            &customer,
            format!("/migrations/{m}/accounts/{account}/ready"),
        )
        .await;
    }
    post(&customer, format!("/migrations/{m}/transit-request")).await;
    support::wait_for_state(&stack.log, m, "transit_requested").await;
    post(
        &support_api,
        format!("/migrations/{m}/obsolete-languages/removal"),
    )
    .await;
    support::wait_for_state(&stack.log, m, "migrating_accounts").await;
    for account in ["acc-1207", "acc-1208"] {
        post(
            &customer,
            format!("/migrations/{m}/accounts/{account}/move"),
        )
        .await;
        let secs = support::TRANSFER_SECS;
        support::wait_for_place(&stack.log, m, account, &Place::Transit, secs).await;
        post(
            &customer,
            format!("/migrations/{m}/accounts/{account}/verification"),
        )
        .await;
    }
    post(&customer, format!("/migrations/{m}/reinstall-request")).await;
    m
}

// ------------------------------------------- the whole migration, by clicking

/// The copy's speed while the panel is watched, KiB/s: srv-0042's pre-copy has
/// 6 MiB of files to copy and its first move 10 MiB more (the spec writes them),
/// six and ten seconds at least however fast the machine, so that step 3 and the
/// move's live progress are there to see.
const WATCHED_RSYNC_KIB_PER_SEC: u32 = 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_walks_a_server_through_the_eight_steps_and_sees_a_real_move_live() {
    let started = Instant::now();
    let stack = TestStack::new().await;
    // Declared before ferry: dropped (its databases with it) after ferry stops.
    let demo = support::Demo::new();
    demo.client_data().await.expect("srv-0042's data");
    // Files the pre-copy must copy (slowly), so that step 3 lasts seconds.
    for i in 0..6 {
        support::write(
            &demo.path("srv-0042", &format!("files/bakery/media/pre-{i}.bin")),
            noise(i, 1 << 20),
        );
    }
    let slow = ferry_infra::testkit::slow_rsync(&demo.root, WATCHED_RSYNC_KIB_PER_SEC);
    let up = support::spawn_up(
        &stack,
        &support::UpOptions {
            env: [
                demo.ferry_env(),
                vec![("FERRY_PROGRESS_SECS", "1".to_owned())],
            ]
            .concat(),
            path_first: Some(slow),
            log_file: Some(demo.root.join("ferry.log")),
        },
    )
    .await;
    let mut fleet = demo.fleet().expect("the fleet of this run");
    // The bakery's inventory counts the files the pre-copy and the move will find
    // (progress is shown against it: the bytes of the watched move climb to it).
    for server in &mut fleet.servers {
        for account in &mut server.registration.accounts {
            if account.name == "bakery" {
                account.files_bytes = 16 << 20;
            }
        }
    }
    ferry::fleet::import(&up.api("support:fleet").await, &fleet)
        .await
        .expect("imported");
    let env = vec![
        ("FERRY_PANEL_URL", up.base.clone()),
        (
            "FERRY_TOKEN_CUSTOMER",
            token(&up.log, "customer:c-42").await,
        ),
        ("FERRY_TOKEN_SUPPORT", token(&up.log, "support:jdoe").await),
        ("FERRY_TEST_ADDRESS", support::TEST_ADDRESS.to_owned()),
        (
            "FERRY_MOVE_FILES_DIR",
            demo.path("srv-0042", "files/bakery/uploads")
                .display()
                .to_string(),
        ),
    ];
    let run = run_spec_in(&artifacts_root(), "full_migration.mjs", &env).await;
    assert!(
        run.success,
        "browser spec full_migration.mjs failed (screenshots in {}):\n{}\nferry said (last lines):\n{}",
        run.artifacts.display(),
        run.output,
        tail(&up.logs(), 40)
    );

    // What the clicks asked is in the log, by whom they asked it.
    let support_api = up.api("support:jdoe").await;
    let audit = support_api
        .get("/servers/srv-0042/audit")
        .await
        .expect("the audit");
    let by = |event: &str, actor: &str| {
        audit["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["event_type"] == event
                    && format!(
                        "{}:{}",
                        e["actor"]["role"].as_str().unwrap_or(""),
                        e["actor"]["id"].as_str().unwrap_or("")
                    ) == actor
            })
            .count()
    };
    for (event, actor, times) in [
        ("AccountMarkedReady", "customer:c-42", 2),
        ("AccountMoveStarted", "customer:c-42", 2),
        ("AccountVerified", "customer:c-42", 2),
        ("ReinstallRequested", "customer:c-42", 1),
        ("ReinstallStarted", "support:jdoe", 1),
        ("AccountRelocationStarted", "support:jdoe", 2),
    ] {
        assert_eq!(by(event, actor), times, "{event} by {actor}: {audit:#}");
    }
    // The server's latest migration (none is current once it completed).
    let server = support_api
        .get("/servers/srv-0042")
        .await
        .expect("the server");
    let migration: uuid::Uuid = server["migration"]["migration_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("its id");
    let done = support::wait_for_state(&stack.log, migration, "completed").await;
    for account in ["acc-1207", "acc-1208"] {
        let progress = &done.accounts[account];
        assert_eq!(
            progress.place,
            ferry_accounts::domain::migration::Place::Relocated,
            "{account} is home"
        );
        assert!(progress.downtime_ms > 0, "{account}'s downtime measured");
    }
    // One screenshot per step of the process, each named by it.
    let shots = pngs(&run.artifacts);
    for step in 1..=8 {
        assert!(
            shots.iter().any(|s| s.contains(&format!("-step-{step}-"))),
            "a screenshot of step {step} in {}: {shots:?}",
            run.artifacts.display()
        );
    }
    assert!(
        shots.iter().any(|s| s.contains("375-px-wide")),
        "the narrow screen's screenshot: {shots:?}"
    );
    up.stop().await;
    println!(
        "full_migration.mjs: eight steps in {:.1?}",
        started.elapsed()
    );
}

/// `len` bytes that no two seeds share and a copy cannot shrink (xorshift).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ (seed + 1);
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
