//! A customer grants one of its users migration rights on one account, then takes
//! them back, against a running `ferry up`: the user acts on that account and on
//! nothing else, its deeds are recorded as its own, nobody else may grant, and a
//! revocation counts from the next request.

mod support;

use ferry_infra::testkit::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{start, token};

struct Caller<'a> {
    base: &'a str,
    token: String,
    client: reqwest::Client,
}

impl Caller<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("ferry answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_acts_on_what_its_customer_granted_until_it_is_taken_back() {
    let stack = TestStack::new().await;
    let ferry = start(&stack).await;
    let as_ = |token: String| Caller {
        base: &ferry.base,
        token,
        client: reqwest::Client::new(),
    };
    support::import_example_fleet(&ferry).await;
    let owner = as_(token(&ferry.log, "customer:c-42").await);
    let stranger = as_(token(&ferry.log, "customer:c-77").await);
    // The customer has a token issued to its user through the API.
    let (status, issued) = owner
        .post(
            "/tokens",
            json!({ "holder": "user:c-42/alice", "label": "agency", "expires_in_days": 30 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let alice = as_(issued["token"].as_str().expect("a token").to_owned());
    let alice_grants = "/customers/c-42/users/alice/grants";

    // Granted nothing yet: alice sees nothing and may do nothing.
    let (status, servers) = alice.get("/servers").await;
    assert_eq!((status, servers), (StatusCode::OK, json!([])));
    let (status, _) = alice.get("/servers/srv-0042").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Nobody but the customer (or support) grants: not another customer, not alice.
    let acc_1207 = json!({ "server_id": "srv-0042", "account_id": "acc-1207" });
    let (status, body) = stranger.post(alice_grants, acc_1207.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = alice.post(alice_grants, acc_1207.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The customer grants what is its own only, and what exists.
    let (status, body) = owner
        .post(alice_grants, json!({ "server_id": "srv-0077" }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = owner
        .post(
            alice_grants,
            json!({ "server_id": "srv-0042", "account_id": "acc-9" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = owner
        .post(alice_grants, json!({ "server_id": "srv-404" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = owner
        .post("/customers/c-42/users/al%2Fice/grants", acc_1207.clone())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, body) = owner.post(alice_grants, acc_1207.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], json!(true), "{body}");
    let (_, again) = owner.post(alice_grants, acc_1207.clone()).await;
    assert_eq!(again["changed"], json!(false), "{again}");

    // alice now sees the server it was granted an account of, and nothing else.
    let (status, me) = alice.get("/whoami").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["actor"], json!("user:c-42/alice"));
    assert_eq!(me["grants"], json!([acc_1207]));
    let (_, servers) = alice.get("/servers").await;
    let ids: Vec<&str> = servers
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["server_id"].as_str())
        .collect();
    assert_eq!(ids, ["srv-0042"]);
    let (status, _) = alice.get("/servers/srv-0077").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Its customer's bills are not a migration right.
    let (status, _) = alice.get("/customers/c-42/charges").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The owner opens the migration; alice acts on acc-1207 only.
    let (status, opened) = owner
        .post(
            "/servers/srv-0042/migrations",
            json!({ "target_version": "v2026" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let migration = opened["migration_id"].as_str().expect("an id").to_owned();
    // Granted an account, alice reads its server's migration (the CLI finds it so).
    let (status, current) = alice.get("/servers/srv-0042/current-migration").await;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert_eq!(current["migration_id"], json!(migration));
    // What each may do now, from the process's own rules: alice, acc-1207's steps
    // only; the owner, every account's and the server's.
    let offered = |answer: &Value| -> Vec<String> {
        answer["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| match a["account_id"].as_str() {
                Some(account) => format!("{} {account}", a["action"].as_str().unwrap_or("?")),
                None => a["action"].as_str().unwrap_or("?").to_owned(),
            })
            .collect()
    };
    let actions = format!("/migrations/{migration}/actions");
    let (status, answer) = alice.get(&actions).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        offered(&answer),
        ["test acc-1207", "ready acc-1207"],
        "{answer}"
    );
    let (_, answer) = owner.get(&actions).await;
    let by_owner = offered(&answer);
    for expected in ["cancel", "ready acc-1208", "test acc-1207"] {
        assert!(
            by_owner.iter().any(|a| a == expected),
            "{expected}: {by_owner:?}"
        );
    }
    assert!(
        !by_owner.iter().any(|a| a == "request-transit"),
        "{by_owner:?}"
    );
    let (status, _) = stranger.get(&actions).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = alice
        .post(
            &format!("/migrations/{migration}/accounts/acc-1207/ready"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = alice
        .post(
            &format!("/migrations/{migration}/accounts/acc-1208/ready"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("was not granted account acc-1208")),
        "{body}"
    );
    let (status, body) = alice
        .post(
            &format!("/migrations/{migration}/cancellation"),
            json!({ "reason": "no" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Listed for the customer and for alice; not for another customer.
    let (status, list) = owner.get("/customers/c-42/grants").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["grants"][0]["user"],
        json!("user:c-42/alice"),
        "{list}"
    );
    assert_eq!(
        list["grants"][0]["granted_by"],
        json!("customer:c-42"),
        "{list}"
    );
    let (status, _) = alice.get("/customers/c-42/grants").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = stranger.get("/customers/c-42/grants").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The audit records who did what: alice marked acc-1207 ready.
    let (_, audit) = owner.get("/servers/srv-0042/audit").await;
    let marked = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["event_type"] == json!("AccountMarkedReady"))
        .cloned()
        .expect("the readiness is in the audit");
    assert_eq!(marked["actor"]["role"], json!("user"), "{marked}");
    assert_eq!(marked["actor"]["id"], json!("c-42/alice"), "{marked}");

    // Taken back: refused from the very next request.
    let (status, body) = owner
        .post(&format!("{alice_grants}/revocation"), acc_1207.clone())
        .await;
    assert_eq!(
        (status, body["changed"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, body) = alice
        .call(
            Method::DELETE,
            &format!("/migrations/{migration}/accounts/acc-1207/ready"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = alice.get("/servers/srv-0042").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    ferry.stop().await;
}
