//! Who may use the API of a running `ferry up`, probed as an outsider would: a
//! header claiming to be support is nobody, a token is needed and checked (issued,
//! revoked, another customer's), a customer issues tokens for itself only, the
//! operational routes are support's and monitoring's, and guessing tokens is
//! braked.

mod support;

use ferry_infra::testkit::TestStack;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{start_with, token};

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("ferry answers");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_valid_token_says_who_asks_and_a_customer_acts_for_itself_only() {
    let stack = TestStack::new().await;
    let ferry = start_with(&stack, &[]).await;
    let base = &ferry.base;
    let client = reqwest::Client::new();
    use reqwest::Method;

    // The probe of the issue: a header claiming to be support is nobody.
    let claimed = client
        .get(format!("{base}/servers"))
        .header("x-ferry-actor", "support:x")
        .send()
        .await
        .expect("answers");
    assert_eq!(claimed.status(), StatusCode::UNAUTHORIZED);
    let opened = client
        .post(format!("{base}/servers/srv-0042/migrations"))
        .header("x-ferry-actor", "support:x")
        .json(&json!({ "target_version": "v2026" }))
        .send()
        .await
        .expect("answers");
    assert_eq!(opened.status(), StatusCode::UNAUTHORIZED);

    // A token issued where the log is (`ferry token create`) says who asks.
    let support = token(&ferry.log, "support:jdoe").await;
    let (status, me) = call(
        &client,
        Method::GET,
        format!("{base}/whoami"),
        Some(&support),
        None,
    )
    .await;
    assert_eq!(
        (status, me["actor"].as_str()),
        (StatusCode::OK, Some("support:jdoe"))
    );

    // Support issues a customer's token through the API: shown once.
    let (status, issued) = call(
        &client,
        Method::POST,
        format!("{base}/tokens"),
        Some(&support),
        Some(json!({ "holder": "customer:c-42", "label": "backup script", "expires_in_days": 30 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let customer = issued["token"].as_str().expect("the token").to_owned();
    let (_, me) = call(
        &client,
        Method::GET,
        format!("{base}/whoami"),
        Some(&customer),
        None,
    )
    .await;
    assert_eq!(me["actor"], "customer:c-42");

    // A customer issues tokens for itself only.
    let (status, refused) = call(
        &client,
        Method::POST,
        format!("{base}/tokens"),
        Some(&customer),
        Some(json!({ "holder": "support:c-42", "label": "me as support", "expires_in_days": 1 })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, own) = call(
        &client,
        Method::POST,
        format!("{base}/tokens"),
        Some(&customer),
        Some(json!({ "holder": "customer:c-42", "label": "laptop", "expires_in_days": 1 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    let laptop = own["token"].as_str().expect("a token").to_owned();
    let laptop_id = own["token_id"].as_str().expect("an id").to_owned();

    // The list holds neither a token nor a hash; a customer sees its own only.
    let listed = ferry_infra::testkit::eventually_some(10, || async {
        let (_, list) = call(
            &client,
            Method::GET,
            format!("{base}/tokens"),
            Some(&support),
            None,
        )
        .await;
        (list["tokens"].as_array()?.len() == 3).then_some(list)
    })
    .await
    .expect("three tokens listed");
    let text = listed.to_string();
    assert!(
        !text.contains("argon2") && !text.contains(&laptop[39..]),
        "{text}"
    );
    let (_, mine) = call(
        &client,
        Method::GET,
        format!("{base}/tokens"),
        Some(&customer),
        None,
    )
    .await;
    let holders: Vec<&str> = mine["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter_map(|t| t["holder"].as_str())
        .collect();
    assert_eq!(holders, ["customer:c-42", "customer:c-42"], "{mine}");

    // Another customer cannot revoke it; its holder can, and it is refused at once.
    let stranger = token(&ferry.log, "customer:c-77").await;
    let revoke = |token: String| {
        let (client, url) = (
            client.clone(),
            format!("{base}/tokens/{laptop_id}/revocation"),
        );
        async move {
            call(
                &client,
                Method::POST,
                url,
                Some(&token),
                Some(json!({ "reason": "laptop lost" })),
            )
            .await
        }
    };
    let (status, _) = revoke(stranger).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, revoked) = revoke(customer.clone()).await;
    assert_eq!(
        (status, revoked["changed"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, refused) = call(
        &client,
        Method::GET,
        format!("{base}/whoami"),
        Some(&laptop),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("revoked")),
        "{refused}"
    );

    // A made-up token, right shape or not, is nobody.
    let forged = format!("{}0", &laptop[..laptop.len() - 1]);
    for bad in [forged.as_str(), "ferry_nothing", "eyJhbGciOiJub25lIn0.e30."] {
        let (status, _) = call(
            &client,
            Method::GET,
            format!("{base}/whoami"),
            Some(bad),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
    }

    // Operational routes: support's and monitoring's, not a customer's.
    for path in ["/metrics", "/openapi.json"] {
        let (status, _) = call(
            &client,
            Method::GET,
            format!("{base}{path}"),
            Some(&customer),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        let (status, _) = call(
            &client,
            Method::GET,
            format!("{base}{path}"),
            Some(&support),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let (status, _) = call(
            &client,
            Method::GET,
            format!("{base}{path}"),
            Some(&ferry.metrics_token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (_, ready) = call(
        &client,
        Method::GET,
        format!("{base}/ready"),
        Some(&customer),
        None,
    )
    .await;
    assert_eq!(ready, json!({ "ready": true }), "no details for a customer");
    ferry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_tokens_is_braked_per_client() {
    let stack = TestStack::new().await;
    let ferry = start_with(&stack, &[("FERRY_AUTH_MAX_FAILURES", "5")]).await;
    let support = token(&ferry.log, "support:jdoe").await;
    let client = reqwest::Client::new();
    let whoami = format!("{}/whoami", ferry.base);
    for guess in 0..5 {
        let (status, _) = call(
            &client,
            reqwest::Method::GET,
            whoami.clone(),
            Some(&format!("ferry_guess{guess}")),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Now even a good token waits: the address is braked for the rest of the minute.
    let response = client
        .get(&whoami)
        .bearer_auth(&support)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // /health stays open.
    let health = client
        .get(format!("{}/health", ferry.base))
        .send()
        .await
        .expect("answers");
    assert_eq!(health.status(), StatusCode::OK);
    ferry.stop().await;
}
