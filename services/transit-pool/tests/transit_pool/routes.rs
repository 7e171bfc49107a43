//! Support's HTTP API over a real server: add, out of service and back, retry a failed
//! installation; customers are refused with a JSON 403.

use crate::support::{eventually, languages_removed, migration_requesting, quick, transit_server};
use ferry_events::Actor;
use ferry_infra::nats_users::NatsUser;
use ferry_infra::testkit::TestStack;
use ferry_transit_pool::domain::transit_server::Status;
use ferry_transit_pool::{Changes, CommandMeta, TransitPool, routes, run};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const CONFIGURATION: &str = "vps-4c-8g";
const WAIT: Duration = Duration::from_secs(20);

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        actor: Option<&str>,
        body: Option<Value>,
        key: Option<Uuid>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(actor) = actor {
            request = request.header("x-ferry-actor", actor);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key.to_string());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("response");
        let status = response.status();
        (status, response.json().await.expect("a JSON body"))
    }

    async fn put(
        &self,
        id: &str,
        actor: Option<&str>,
        body: Value,
        key: Option<Uuid>,
    ) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("/transit-servers/{id}"),
            actor,
            Some(body),
            key,
        )
        .await
    }

    async fn post(&self, path: &str, actor: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(actor), body, None)
            .await
    }
}

fn body(configuration: &str) -> Value {
    let details = transit_server("tr-1", configuration);
    json!({
        "name": details.name,
        "configuration": details.configuration,
        "infrastructure_version": details.infrastructure_version,
        "ipv4": details.ipv4,
        "ipv6": details.ipv6,
        "storage": {
            "files_root": details.storage.files_root,
            "mail_root": details.storage.mail_root,
        },
    })
}

fn changes(value: Value) -> Changes {
    serde_json::from_value(value).expect("changes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_manages_transit_servers_over_http_and_customers_are_refused() {
    let stack = TestStack::new().await;
    // Installations take an hour here: the one below stays under way until failed.
    let pool = TransitPool::new(
        stack.log_as(NatsUser::TransitPool).await,
        quick(3_600_000, 100),
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run(
        pool.clone(),
        stack.policy_context().await,
        shutdown.clone(),
    ));

    let (router, openapi) = routes::router(pool.clone()).split_for_parts();
    for path in [
        "/transit-servers/{id}",
        "/transit-servers/{id}/out-of-service",
        "/transit-servers/{id}/in-service",
        "/transit-servers/{id}/installation/retry",
    ] {
        assert!(openapi.paths.paths.contains_key(path), "{path} documented");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server_stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            ferry_infra::testkit::trusting_actor_header(router),
        )
        .with_graceful_shutdown(async move { server_stop.cancelled().await })
        .await
    });
    let api = Api {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
    };
    let support = Some("support:alice");

    // Who may add.
    let (status, error) = api
        .put("tr-1", Some("customer:c-42"), body(CONFIGURATION), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["error"], "forbidden");
    assert!(
        error["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("customer c-42"),
        "{error}"
    );
    let (status, _) = api.put("tr-1", None, body(CONFIGURATION), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Add, re-add identical (no change), re-add different (conflict), impossible details.
    let key = Uuid::now_v7();
    let (status, added) = api
        .put("tr-1", support, body(CONFIGURATION), Some(key))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(
        changes(added.clone()),
        Changes {
            changed: true,
            events: vec!["TransitServerAdded".into()]
        }
    );
    let (status, retried) = api
        .put("tr-1", support, body(CONFIGURATION), Some(key))
        .await;
    assert_eq!(
        (status, retried),
        (StatusCode::OK, added),
        "same key: the same answer"
    );
    let (status, again) = api.put("tr-1", support, body(CONFIGURATION), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        changes(again),
        Changes {
            changed: false,
            events: vec![]
        }
    );
    let (status, error) = api.put("tr-1", support, body("vps-8c-16g"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        error["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("configuration"),
        "{error}"
    );
    let mut bad = body(CONFIGURATION);
    bad["ipv4"] = json!(["300.1.2.3"]);
    let (status, _) = api.put("tr-2", support, bad, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            "/transit-servers/tr-2",
            support,
            Some(json!({"name": 1})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    eventually("tr-1 free in its queue", WAIT, || async {
        let queue = pool.queue_state(CONFIGURATION).await.expect("queue");
        (queue.free == ["tr-1"]).then_some(())
    })
    .await;

    // Out of service: through the queue, then the server follows.
    let reason = Some(json!({"reason": "disk fault"}));
    let (status, _) = api
        .post(
            "/transit-servers/tr-1/out-of-service",
            "customer:c-42",
            reason.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .post(
            "/transit-servers/tr-7/out-of-service",
            "support:alice",
            reason.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, withdrawn) = api
        .post(
            "/transit-servers/tr-1/out-of-service",
            "support:alice",
            reason.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{withdrawn}");
    assert_eq!(
        changes(withdrawn),
        Changes {
            changed: true,
            events: vec!["TransitServerWithdrawn".into()]
        }
    );
    eventually("tr-1 out of service", WAIT, || async {
        let state = pool.server_state("tr-1").await.expect("state");
        matches!(state.status, Status::OutOfService { .. }).then_some(())
    })
    .await;
    assert!(
        pool.queue_state(CONFIGURATION)
            .await
            .expect("queue")
            .free
            .is_empty()
    );
    let (status, again) = api
        .post(
            "/transit-servers/tr-1/out-of-service",
            "support:alice",
            reason.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        changes(again),
        Changes {
            changed: false,
            events: vec![]
        }
    );

    // A migration asking now waits: the only server is out of service.
    let m1 = Uuid::now_v7();
    migration_requesting(&stack.log, m1, "srv-1", CONFIGURATION).await;
    languages_removed(&stack.log, m1).await;
    eventually("m1 waiting", WAIT, || async {
        let queue = pool.queue_state(CONFIGURATION).await.expect("queue");
        (queue.position_of(m1) == Some(1)).then_some(())
    })
    .await;

    // Back in service: it serves the waiting migration at once.
    let (status, _) = api
        .post("/transit-servers/tr-1/in-service", "customer:c-42", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, back) = api
        .post("/transit-servers/tr-1/in-service", "support:alice", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(
        changes(back),
        Changes {
            changed: true,
            events: vec!["TransitServerReturnedToService".into()]
        }
    );
    eventually("tr-1 installing for m1", WAIT, || async {
        let state = pool.server_state("tr-1").await.expect("state");
        matches!(state.status, Status::Installing { migration_id, .. } if migration_id == m1)
            .then_some(())
    })
    .await;

    // A lent server cannot be taken out of service; nothing to retry yet.
    let (status, error) = api
        .post(
            "/transit-servers/tr-1/out-of-service",
            "support:alice",
            reason,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let (status, _) = api
        .post(
            "/transit-servers/tr-1/installation/retry",
            "support:alice",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The installation fails; support retries it.
    pool.fail_installation(
        &CommandMeta::fresh(Actor::system("test")),
        "tr-1",
        m1,
        "disk full",
    )
    .await
    .expect("failed");
    let (status, _) = api
        .post(
            "/transit-servers/tr-1/installation/retry",
            "customer:c-42",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, retried) = api
        .post(
            "/transit-servers/tr-1/installation/retry",
            "support:alice",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(
        changes(retried),
        Changes {
            changed: true,
            events: vec!["TransitInstallationStarted".into()]
        }
    );
    assert!(matches!(
        pool.server_state("tr-1").await.expect("state").status,
        Status::Installing { migration_id, .. } if migration_id == m1
    ));

    shutdown.cancel();
    running.await.expect("joined").expect("ran");
    server.await.expect("joined").expect("served");
}
