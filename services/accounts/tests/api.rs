//! The accounts API against real NATS JetStream: authorization (another customer's
//! server is refused with a reason), clear errors that change nothing, and one
//! migration per server whatever the concurrency.

use ferry_accounts::domain::calendar::WorkingCalendar;
use ferry_accounts::routes::{ServerRegistration, TargetRegistration};
use ferry_accounts::service::Accounts;
use ferry_events::{
    AccountSpec, Actor, DatabaseEngine, DatabaseSpec, DatabaseVersion, Grants, LanguageVersion,
    Money, ServerKind, ServerStorage,
};
use ferry_infra::testkit::{TestStack, eventually};
use serde_json::{Value, json};

fn calendar() -> WorkingCalendar {
    WorkingCalendar::parse("mon-sun", "00:00-24:00", "UTC", "").expect("valid calendar")
}

fn registration(customer: &str) -> ServerRegistration {
    ServerRegistration {
        name: "bakery.hosting.example".into(),
        kind: ServerKind::Vps,
        configuration: "vps-4c-8g".into(),
        infrastructure_version: "v2020".into(),
        ipv4: vec!["192.0.2.42".into()],
        ipv6: vec![],
        monthly_price: Money::new(4_900, "EUR"),
        customer_id: customer.into(),
        contact_email: "owner@bakery.example".into(),
        locale: "fr".into(),
        storage: ServerStorage {
            files_root: "/srv/a/files".into(),
            mail_root: "/srv/a/mail".into(),
            postgres_url: Some("postgres://db/postgres".into()),
            mysql_url: None,
            postgres_credential: None,
            mysql_credential: None,
        },
        accounts: vec![AccountSpec {
            account_id: "acc-1".into(),
            name: "bakery".into(),
            files_bytes: 1,
            mail_bytes: 1,
            databases: vec![DatabaseSpec {
                engine: DatabaseEngine::Postgres,
                name: "shop".into(),
                size_bytes: 1_000_000_000,
                version: "13".into(),
            }],
            domains: vec![],
            languages: vec![LanguageVersion {
                language: "php".into(),
                version: "7.4".into(),
            }],
        }],
    }
}

fn target() -> TargetRegistration {
    TargetRegistration {
        languages: vec![LanguageVersion {
            language: "php".into(),
            version: "8.3".into(),
        }],
        databases: vec![DatabaseVersion {
            engine: DatabaseEngine::Postgres,
            version: "16".into(),
        }],
    }
}

/// Serves the accounts routes on a free port; returns the base URL.
async fn serve(accounts: Accounts) -> String {
    let (router, _) = ferry_accounts::routes::router(accounts).split_for_parts();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        axum::serve(
            listener,
            ferry_infra::testkit::trusting_actor_header(router),
        )
        .await
    });
    format!("http://{addr}")
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    actor: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(actor) = actor {
        request = request.header("x-ferry-actor", actor);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// An optional migration of `service` from 13 to `to`, due `at`, as the edge
/// completes it (id, server and customer are filled in by `schedule_optional`).
fn optional_migration(
    service: ferry_events::ServiceKind,
    to: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> ferry_events::OptionalMigrationScheduled {
    ferry_events::OptionalMigrationScheduled {
        optional_migration_id: uuid::Uuid::nil(),
        server_id: String::new(),
        customer_id: String::new(),
        service,
        from_version: "13".into(),
        to_version: to.into(),
        scheduled_for: Some(at),
    }
}

/// The accounts service over HTTP, with its policy running (it opens the migrations
/// whose server the API claimed) until the test ends.
async fn setup(stack: &TestStack) -> (Accounts, String) {
    // As ferry up runs it: on its own NATS user.
    let accounts = Accounts::new(
        stack
            .log_as(ferry_infra::nats_users::NatsUser::Accounts)
            .await,
        calendar(),
    );
    tokio::spawn(ferry_accounts::reactions::run(
        accounts.handler().clone(),
        stack.policy_context().await,
        tokio_util::sync::CancellationToken::new(),
    ));
    let base = serve(accounts.clone()).await;
    let (status, _) = call(
        &base,
        reqwest::Method::PUT,
        "/target-infrastructures/v2026",
        Some("support:jdoe"),
        Some(serde_json::to_value(target()).expect("json")),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &base,
        reqwest::Method::PUT,
        "/servers/srv-42",
        Some("support:jdoe"),
        Some(serde_json::to_value(registration("c-42")).expect("json")),
    )
    .await;
    assert_eq!(status, 200);
    (accounts, base)
}

#[tokio::test]
async fn a_nul_character_in_any_text_is_refused_and_changes_nothing() {
    let stack = TestStack::new().await;
    let (accounts, base) = setup(&stack).await;
    let before = accounts.server("srv-42").await.expect("registered");
    let mut registration = serde_json::to_value(registration("c-42")).expect("json");
    registration["accounts"][0]["name"] = json!("bakery\u{0}");
    let (status, body) = call(
        &base,
        reqwest::Method::PUT,
        "/servers/srv-42",
        Some("support:jdoe"),
        Some(registration),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("accounts[0].name") && r.contains("NUL")),
        "{body}"
    );
    assert_eq!(accounts.server("srv-42").await.expect("registered"), before);
}

#[tokio::test]
async fn another_customers_server_is_refused_with_a_reason_and_nothing_changes() {
    let stack = TestStack::new().await;
    let (accounts, base) = setup(&stack).await;
    let open = json!({ "target_version": "v2026" });
    let (status, body) = call(
        &base,
        reqwest::Method::POST,
        "/servers/srv-42/migrations",
        Some("customer:c-99"),
        Some(open.clone()),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "forbidden");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("c-99 does not own")),
        "{body}"
    );
    let (status, _) = call(
        &base,
        reqwest::Method::GET,
        "/servers/srv-42/compatibility?target=v2026",
        Some("customer:c-99"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let server = accounts.server("srv-42").await.expect("registered");
    assert_eq!(
        server.open_migration, None,
        "a refused opening claims nothing"
    );

    // The owner opens it; the other customer cannot act on the migration either.
    let (status, body) = call(
        &base,
        reqwest::Method::POST,
        "/servers/srv-42/migrations",
        Some("customer:c-42"),
        Some(open),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let migration = body["migration_id"].as_str().expect("an id").to_owned();
    let (status, body) = call(
        &base,
        reqwest::Method::POST,
        &format!("/migrations/{migration}/accounts/acc-1/ready"),
        Some("customer:c-99"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(
        &base,
        reqwest::Method::POST,
        &format!("/migrations/{migration}/accounts/acc-1/ready"),
        Some("customer:c-42"),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let stack = TestStack::new().await;
    let (_, base) = setup(&stack).await;
    let (status, body) = call(
        &base,
        reqwest::Method::POST,
        "/servers/srv-42/migrations",
        None,
        Some(json!({ "target_version": "v2026" })),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );
    // Only ferry's reactors act as the system, through events: the API refuses it.
    let (status, body) = call(
        &base,
        reqwest::Method::POST,
        "/servers/srv-42/migrations",
        Some("system:accounts"),
        Some(json!({ "target_version": "v2026" })),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, body) = call(
        &base,
        reqwest::Method::POST,
        "/servers/srv-42/migrations",
        Some("customer:c-42"),
        Some(json!({ "target": "v2026" })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("target_version")),
        "{body}"
    );
    let (status, body) = call(
        &base,
        reqwest::Method::POST,
        "/servers/srv-42/migrations",
        Some("customer:c-42"),
        Some(json!({ "target_version": "v2099" })),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = call(
        &base,
        reqwest::Method::POST,
        &format!("/migrations/{}/transit-request", uuid::Uuid::now_v7()),
        Some("customer:c-42"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let mut bad = registration("c-42");
    bad.ipv4 = vec!["999.1.1.1".into()];
    let (status, body) = call(
        &base,
        reqwest::Method::PUT,
        "/servers/srv-43",
        Some("support:jdoe"),
        Some(serde_json::to_value(bad).expect("json")),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["reason"].as_str().is_some_and(|r| r.contains("ipv4")),
        "{body}"
    );
    let (status, _) = call(
        &base,
        reqwest::Method::GET,
        "/servers/srv-43/compatibility?target=v2026",
        Some("support:jdoe"),
        None,
    )
    .await;
    assert_eq!(status, 404, "a refused registration leaves nothing behind");
    // Opening, then asking for the transit server before every account is ready: 409.
    let (_, body) = call(
        &base,
        reqwest::Method::POST,
        "/servers/srv-42/migrations",
        Some("customer:c-42"),
        Some(json!({ "target_version": "v2026" })),
    )
    .await;
    let migration = body["migration_id"].as_str().expect("an id").to_owned();
    let (status, body) = call(
        &base,
        reqwest::Method::POST,
        &format!("/migrations/{migration}/transit-request"),
        Some("customer:c-42"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["reason"].as_str().is_some_and(|r| r.contains("acc-1")),
        "{body}"
    );
}

#[tokio::test]
async fn re_registering_the_same_server_changes_nothing() {
    let stack = TestStack::new().await;
    let (_, base) = setup(&stack).await;
    let (status, body) = call(
        &base,
        reqwest::Method::PUT,
        "/servers/srv-42",
        Some("support:jdoe"),
        Some(serde_json::to_value(registration("c-42")).expect("json")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["events"], json!([]), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_openings_open_one_migration_per_server() {
    let stack = TestStack::new().await;
    let (accounts, _) = setup(&stack).await;
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let accounts = accounts.clone();
            tokio::spawn(async move {
                accounts
                    .open_migration(
                        Actor::customer("c-42"),
                        &Grants::none(),
                        uuid::Uuid::now_v7(),
                        "srv-42",
                        "v2026",
                    )
                    .await
                    .map(|(id, _)| id)
            })
        })
        .collect();
    let mut opened = Vec::new();
    let mut refused = 0;
    for attempt in attempts {
        match attempt.await.expect("joined") {
            Ok(id) => opened.push(id),
            Err(e) => {
                assert_eq!(e.status.as_u16(), 409, "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!(opened.len(), 1, "exactly one opening wins: {opened:?}");
    assert_eq!(refused, 11);
    let server = accounts.server("srv-42").await.expect("registered");
    assert_eq!(server.open_migration, Some(opened[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_migrations_scheduled_for_a_time_start_when_it_comes() {
    use ferry_events::{OptionalMigrationEvent, ServiceKind};

    let stack = TestStack::new().await;
    let (accounts, base) = setup(&stack).await;
    // A second server for the marker below: a service has one optional migration
    // at a time, and srv-42's two database services are taken by the first two.
    let (status, _) = call(
        &base,
        reqwest::Method::PUT,
        "/servers/srv-43",
        Some("support:jdoe"),
        Some(serde_json::to_value(registration("c-43")).expect("json")),
    )
    .await;
    assert_eq!(status, 200);
    // Two services: one optional migration per service at a time.
    let schedule = |to: &str, at| {
        let service = if to == "16" {
            ServiceKind::Postgresql
        } else {
            ServiceKind::Mysql
        };
        optional_migration(service, to, at)
    };
    let now = chrono::Utc::now();
    let due = accounts
        .schedule_optional(
            Actor::support("jdoe"),
            &Grants::none(),
            uuid::Uuid::now_v7(),
            "srv-42",
            schedule("16", now - chrono::Duration::seconds(1)),
        )
        .await
        .expect("scheduled");
    let later = accounts
        .schedule_optional(
            Actor::support("jdoe"),
            &Grants::none(),
            uuid::Uuid::now_v7(),
            "srv-42",
            schedule("17", now + chrono::Duration::hours(1)),
        )
        .await
        .expect("scheduled");
    let id_of = |handled: &ferry_infra::command::Handled<_>| -> String {
        let state: &ferry_accounts::domain::optional_migration::OptionalState = &handled.state;
        state
            .scheduled
            .as_ref()
            .expect("scheduled")
            .optional_migration_id
            .to_string()
    };
    // Due as well, scheduled after the later one: once it is started, the scheduler
    // has seen the later one too.
    let marker = accounts
        .schedule_optional(
            Actor::support("jdoe"),
            &Grants::none(),
            uuid::Uuid::now_v7(),
            "srv-43",
            schedule("18", now - chrono::Duration::seconds(1)),
        )
        .await
        .expect("scheduled");
    let (due, later, marker) = (id_of(&due), id_of(&later), id_of(&marker));

    // The accounts policy started by `setup` fires them: the due times are entries
    // of its view.
    let started = |id: String| {
        let log = stack.log.clone();
        async move {
            let aggregate = ferry_infra::event_log::AggregateRef::new(
                ferry_events::AggregateType::OptionalMigration,
                id,
            )
            .expect("id");
            let loaded = log.load(&aggregate).await.expect("loads");
            loaded.events.iter().any(|r| {
                matches!(
                    r.envelope.event,
                    ferry_events::Event::OptionalMigration(
                        OptionalMigrationEvent::OptionalMigrationStarted(_)
                    )
                ) && r.envelope.actor.role == ferry_events::ActorRole::System
            })
        }
    };
    assert!(
        eventually(10, || started(due.clone())).await,
        "the due migration is started by ferry"
    );
    assert!(
        eventually(10, || started(marker.clone())).await,
        "the one due, scheduled after the later one, is started by ferry"
    );
    assert!(!started(later).await, "the later one waits for its time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_has_one_optional_migration_at_a_time() {
    use ferry_accounts::domain::optional_migration::OptionalAction;
    use ferry_events::ServiceKind;

    let stack = TestStack::new().await;
    let (accounts, _) = setup(&stack).await;
    let support = || Actor::support("jdoe");
    let schedule = |to: &str| {
        let at = chrono::Utc::now() + chrono::Duration::days(30);
        optional_migration(ServiceKind::Postgresql, to, at)
    };
    let first = accounts
        .schedule_optional(
            support(),
            &Grants::none(),
            uuid::Uuid::now_v7(),
            "srv-42",
            schedule("16"),
        )
        .await
        .expect("scheduled");
    let first_id = first
        .state
        .scheduled
        .as_ref()
        .expect("scheduled")
        .optional_migration_id;

    let second = accounts
        .schedule_optional(
            support(),
            &Grants::none(),
            uuid::Uuid::now_v7(),
            "srv-42",
            schedule("17"),
        )
        .await;
    let refusal = second.expect_err("a second optional migration of the service");
    assert_eq!(
        refusal.status,
        axum::http::StatusCode::CONFLICT,
        "{refusal}"
    );
    assert!(
        refusal.body.reason.contains(&first_id.to_string()),
        "{refusal}"
    );

    // Called off, the first gives the service back (the accounts policy), and the
    // same request goes through.
    accounts
        .optional_command(
            support(),
            &Grants::none(),
            uuid::Uuid::now_v7(),
            first_id,
            OptionalAction::Cancel {
                reason: "the customer prefers 17".into(),
            },
        )
        .await
        .expect("cancelled");
    let released = ferry_infra::testkit::eventually(10, || async {
        accounts
            .server("srv-42")
            .await
            .is_ok_and(|server| server.service_claim(ServiceKind::Postgresql).is_none())
    })
    .await;
    assert!(
        released,
        "the service is released once its migration is cancelled"
    );
    accounts
        .schedule_optional(
            support(),
            &Grants::none(),
            uuid::Uuid::now_v7(),
            "srv-42",
            schedule("17"),
        )
        .await
        .expect("scheduled once the first is cancelled");
}

/// Every message payload of the test's stream, raw.
async fn raw_log(stack: &TestStack) -> Vec<String> {
    let js = stack.log.jetstream();
    let mut stream = js
        .get_stream(&stack.log.settings().stream)
        .await
        .expect("the stream");
    let last = stream.info().await.expect("info").state.last_sequence;
    let mut payloads = Vec::new();
    for sequence in 1..=last {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            payloads.push(String::from_utf8_lossy(&message.payload).into_owned());
        }
    }
    payloads
}

#[tokio::test]
async fn a_password_given_to_the_api_goes_to_the_secret_store_never_to_the_log() {
    let stack = TestStack::new().await;
    let store = ferry_infra::secrets::SecretStore::new(
        std::env::temp_dir().join(format!("ferry-api-secrets-{}", uuid::Uuid::now_v7())),
    );
    let accounts = Accounts::new(
        stack
            .log_as(ferry_infra::nats_users::NatsUser::Accounts)
            .await,
        calendar(),
    )
    .with_secrets(store.clone());
    let base = serve(accounts.clone()).await;
    let mut body = serde_json::to_value(registration("c-42")).expect("json");
    body["storage"]["postgres_url"] = json!("postgres://ferry:Hunter2%21pw@db-42:5432/postgres");
    let put = |body: Value| {
        call(
            &base,
            reqwest::Method::PUT,
            "/servers/srv-42",
            Some("support:jdoe"),
            Some(body),
        )
    };
    let (status, answer) = put(body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let recorded = accounts.server("srv-42").await.expect("registered");
    let storage = &recorded.details.as_ref().expect("details").storage;
    assert_eq!(
        storage.postgres_url.as_deref(),
        Some("postgres://ferry@db-42:5432/postgres")
    );
    let reference = storage.postgres_credential.clone().expect("a reference");
    assert_eq!(reference.as_str(), "postgres_db-42_5432_ferry");
    assert_eq!(
        store.resolve(&reference).expect("stored").expose(),
        "Hunter2!pw"
    );
    // Importing the same again changes nothing.
    let (status, answer) = put(body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["events"], json!([]), "{answer}");
    for payload in raw_log(&stack).await {
        assert!(
            !payload.contains("Hunter2"),
            "a password in the log: {payload}"
        );
    }

    // A stored secret may be named instead of given; an unknown one is refused.
    let mut named = serde_json::to_value(registration("c-42")).expect("json");
    named["storage"]["postgres_url"] = json!("postgres://ferry@db-42:5432/postgres");
    named["storage"]["postgres_credential"] = json!("postgres_db-42_5432_ferry");
    let (status, answer) = put(named.clone()).await;
    assert_eq!(status, 200, "{answer}");
    named["storage"]["postgres_credential"] = json!("postgres_nowhere_5432_ferry");
    let (status, answer) = put(named).await;
    assert_eq!(status, 422, "{answer}");
    let reason = answer["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("postgres_nowhere_5432_ferry") && reason.contains("secret store"),
        "{answer}"
    );
    let _ = std::fs::remove_dir_all(store.dir());
}
