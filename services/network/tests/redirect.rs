//! The transparent redirect with real sockets: backends standing for the client
//! server ("old") and the transit server ("new") on ephemeral ports of 127.0.0.1,
//! the proxy in front, clients going through it.

#[path = "redirect_support.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use ferry_network::redirect::{RedirectSettings, RedirectTable};
use http::StatusCode;
use http_body_util::BodyExt;
use http_body_util::channel::Channel;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// One account, `shop.example`, located on `upstream`, behind a proxy.
async fn proxy_for(
    upstream: std::net::SocketAddr,
    settings: RedirectSettings,
) -> (RedirectTable, RunningProxy) {
    let table = RedirectTable::new();
    table.route_host("shop.example", "acc-shop");
    table.locate("acc-shop", upstream);
    let proxy = RunningProxy::start(&table, settings).await;
    (table, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cutover_under_load_fails_no_request_and_sends_none_to_the_old_server_after_the_hold() {
    let run = hold_and_switch(8, Duration::from_millis(300), RedirectSettings::default()).await;
    println!(
        "cutover under load: {} requests ({} old, {} new), {} failed, longest hold {:?}, in flight at hold {}",
        run.outcomes.len(),
        run.answered_by(AnsweredBy::Old),
        run.answered_by(AnsweredBy::New),
        run.failed(),
        run.longest_hold,
        run.hold_report.in_flight_at_hold,
    );
    assert_eq!(run.failed(), 0, "no request may fail");
    assert_eq!(run.answered_by(AnsweredBy::Other), 0);
    assert_eq!(
        run.misrouted_after_hold(),
        0,
        "requests sent after the hold go to the new server"
    );
    assert_eq!(run.hold_report.aborted, 0);
    let old_last = run.old_last_arrival.expect("the old server got requests");
    assert!(
        old_last < run.hold_returned_at,
        "a request reached the old server after hold returned"
    );
    assert!(run.answered_by(AnsweredBy::New) >= 500);
    // The requests that arrived during the hold waited through the final sync.
    assert!(
        run.longest_hold >= Duration::from_millis(250),
        "{:?}",
        run.longest_hold
    );
    assert!(
        run.longest_hold < Duration::from_secs(5),
        "{:?}",
        run.longest_hold
    );
    // POSTs went through with their bodies, on both sides of the switch.
    assert!(run.old.body_bytes() > 0 && run.new.body_bytes() > 0);
}

#[tokio::test]
async fn an_unknown_host_gets_421() {
    let backend = Backend::start("old").await;
    let (_table, proxy) = proxy_for(backend.addr, RedirectSettings::default()).await;
    let answer = get(&client(), proxy.addr, "other.example", "/")
        .await
        .expect("answer");
    assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST);
    assert!(answer.text().contains("no route"), "{}", answer.text());
    assert_eq!(backend.requests(), 0);
}

#[tokio::test]
async fn a_removed_host_gets_421_and_a_host_without_location_502() {
    let backend = Backend::start("old").await;
    let (table, proxy) = proxy_for(backend.addr, RedirectSettings::default()).await;
    let client = client();
    assert_eq!(
        get(&client, proxy.addr, "shop.example", "/")
            .await
            .expect("answer")
            .status,
        StatusCode::OK
    );
    table.remove_host("SHOP.example");
    let removed = get(&client, proxy.addr, "shop.example", "/")
        .await
        .expect("answer");
    assert_eq!(removed.status, StatusCode::MISDIRECTED_REQUEST);
    table.route_host("blog.example", "acc-blog");
    let unlocated = get(&client, proxy.addr, "blog.example", "/")
        .await
        .expect("answer");
    assert_eq!(unlocated.status, StatusCode::BAD_GATEWAY);
    assert_eq!(table.stats().unknown_host, 1);
}

#[tokio::test]
async fn a_dead_upstream_gets_502() {
    let dead = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        listener.local_addr().expect("address")
    };
    let (table, proxy) = proxy_for(dead, RedirectSettings::default()).await;
    let answer = get(&client(), proxy.addr, "shop.example", "/")
        .await
        .expect("answer");
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(answer.text().contains("unreachable"), "{}", answer.text());
    assert_eq!(table.stats().failed_upstream, 1);
}

#[tokio::test]
async fn a_hold_longer_than_hold_timeout_gets_503_with_retry_after() {
    let backend = Backend::start("old").await;
    let settings = RedirectSettings {
        hold_timeout: Duration::from_millis(200),
        ..RedirectSettings::default()
    };
    let (table, proxy) = proxy_for(backend.addr, settings).await;
    let report = table.hold("acc-shop", Duration::from_secs(1)).await;
    assert_eq!(report.in_flight_at_hold, 0);
    let started = Instant::now();
    let answer = get(&client(), proxy.addr, "shop.example", "/")
        .await
        .expect("answer");
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers[http::header::RETRY_AFTER], "5");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let stats = table.stats();
    assert_eq!((stats.hold_timeouts, stats.held_now), (1, 0));
    assert!(stats.longest_hold >= Duration::from_millis(200));
    assert_eq!(backend.requests(), 0);
}

#[tokio::test]
async fn beyond_max_held_a_request_gets_503_at_once_and_the_held_ones_go_on_at_release() {
    let old = Backend::start("old").await;
    let new = Backend::start("new").await;
    let settings = RedirectSettings {
        max_held: 2,
        ..RedirectSettings::default()
    };
    let (table, proxy) = proxy_for(old.addr, settings).await;
    table.hold("acc-shop", Duration::from_secs(1)).await;
    let client = client();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { get(&client, proxy.addr, "shop.example", "/").await })
        })
        .collect();
    wait_until("two requests are held", || table.stats().held_now == 2).await;
    let refused = get(&client, proxy.addr, "shop.example", "/")
        .await
        .expect("answer");
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers.contains_key(http::header::RETRY_AFTER));
    assert_eq!(table.stats().too_many_held, 1);
    table.locate("acc-shop", new.addr);
    table.release("acc-shop");
    for request in held {
        let answer = request.await.expect("task").expect("answer");
        assert_eq!(
            (answer.status, answer.backend()),
            (StatusCode::OK, Some("new"))
        );
    }
    assert_eq!(old.requests(), 0);
    assert_eq!(table.stats().held_now, 0);
}

#[tokio::test]
async fn a_hold_holds_only_its_own_account() {
    let old = Backend::start("old").await;
    let (table, proxy) = proxy_for(old.addr, RedirectSettings::default()).await;
    table.route_host("blog.example", "acc-blog");
    table.locate("acc-blog", old.addr);
    table.hold("acc-shop", Duration::from_secs(1)).await;
    let client = client();
    let blog = tokio::time::timeout(
        Duration::from_secs(5),
        get(&client, proxy.addr, "blog.example", "/"),
    )
    .await
    .expect("another account is not held")
    .expect("answer");
    assert_eq!((blog.status, blog.backend()), (StatusCode::OK, Some("old")));
    assert!(table.is_held("acc-shop") && !table.is_held("acc-blog"));
    assert_eq!(table.stats().held_now, 0);
}

#[tokio::test]
async fn releasing_without_a_new_location_sends_the_held_requests_back_to_the_old_server() {
    let old = Backend::start("old").await;
    let (table, proxy) = proxy_for(old.addr, RedirectSettings::default()).await;
    table.hold("acc-shop", Duration::from_secs(1)).await;
    assert!(table.is_held("acc-shop"));
    let client = client();
    let held = tokio::spawn(async move { get(&client, proxy.addr, "shop.example", "/").await });
    wait_until("the request is held", || table.stats().held_now == 1).await;
    table.release("acc-shop");
    let answer = held.await.expect("task").expect("answer");
    assert_eq!(
        (answer.status, answer.backend()),
        (StatusCode::OK, Some("old"))
    );
}

#[tokio::test]
async fn hosts_match_whatever_their_case_port_or_trailing_dot_and_the_upstream_sees_the_clients_host()
 {
    let backend = Backend::start("old").await;
    let (_table, proxy) = proxy_for(backend.addr, RedirectSettings::default()).await;
    let client = client();
    for host in ["SHOP.Example:8080", "shop.example.", "shop.example:80"] {
        let mut request = request("GET", proxy.addr, host, "/echo-headers?x=1", empty());
        request.headers_mut().insert(
            http::header::CONNECTION,
            "x-private".parse().expect("value"),
        );
        request
            .headers_mut()
            .insert("x-private", "secret".parse().expect("value"));
        request
            .headers_mut()
            .insert(http::header::TE, "trailers".parse().expect("value"));
        request
            .headers_mut()
            .insert("x-forwarded-for", "198.51.100.7".parse().expect("value"));
        let answer = send(&client, request).await.expect("answer");
        assert_eq!(answer.status, StatusCode::OK, "{host}");
        let seen = answer.text();
        assert!(seen.contains(&format!("host: {host}\n")), "{host}: {seen}");
        assert!(
            seen.contains("x-forwarded-for: 198.51.100.7, 127.0.0.1\n"),
            "{seen}"
        );
        assert!(seen.contains("x-forwarded-proto: http\n"), "{seen}");
        assert!(
            seen.contains(&format!(
                "forwarded: for=127.0.0.1;host=\"{host}\";proto=http\n"
            )),
            "{seen}"
        );
        assert!(
            !seen.contains("x-private") && !seen.contains("te: "),
            "{seen}"
        );
    }
    assert_eq!(backend.requests(), 3);
}

#[tokio::test]
async fn fifty_megabytes_stream_both_ways() {
    const SIZE: u64 = 50 * 1024 * 1024;
    let backend = Backend::start("old").await;
    let (_table, proxy) = proxy_for(backend.addr, RedirectSettings::default()).await;
    let client = client();
    let upload = send(
        &client,
        request(
            "POST",
            proxy.addr,
            "shop.example",
            "/upload",
            streamed_zeros(SIZE),
        ),
    )
    .await
    .expect("answer");
    assert_eq!(upload.status, StatusCode::OK);
    assert_eq!(upload.text(), format!("old {SIZE}"));
    let response = client
        .request(request(
            "GET",
            proxy.addr,
            "shop.example",
            &format!("/download/{SIZE}"),
            empty(),
        ))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(count_body(response.into_body()).await.expect("body"), SIZE);
}

/// The body of a download through the proxy whose backend sends its second chunk
/// only once its gate is opened (`Backend::open_gate`).
async fn gated_download(proxy: std::net::SocketAddr) -> hyper::body::Incoming {
    client()
        .request(request(
            "GET",
            proxy,
            "shop.example",
            "/download-gated",
            empty(),
        ))
        .await
        .expect("response head")
        .into_body()
}

/// Would hang (and time out) if the proxy buffered a response body whole: the
/// backend sends its second chunk only after the client got the first.
#[tokio::test]
async fn a_response_body_reaches_the_client_before_the_upstream_finished_it() {
    let backend = Backend::start("old").await;
    let (_table, proxy) = proxy_for(backend.addr, RedirectSettings::default()).await;
    let mut body = gated_download(proxy.addr).await;
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("the first chunk arrives while the upstream still holds the rest")
        .expect("a frame")
        .expect("data");
    assert!(first.data_ref().is_some_and(|data| !data.is_empty()));
    backend.open_gate(1);
    assert_eq!(
        count_body(body).await.expect("rest") + first.into_data().map_or(0, |d| d.len() as u64),
        2 * 64 * 1024
    );
}

/// Would hang if the proxy read a request body whole before forwarding it: the
/// client sends its second chunk only after the upstream got the first.
#[tokio::test]
async fn a_request_body_reaches_the_upstream_before_the_client_finished_it() {
    let backend = Backend::start("old").await;
    let (_table, proxy) = proxy_for(backend.addr, RedirectSettings::default()).await;
    let (mut sender, body) = Channel::<Bytes, BoxError>::new(1);
    let client = client();
    let upload = tokio::spawn(async move {
        send(
            &client,
            request(
                "POST",
                proxy.addr,
                "shop.example",
                "/upload-gated",
                body.boxed(),
            ),
        )
        .await
    });
    sender
        .send_data(Bytes::from_static(b"first"))
        .await
        .expect("sent");
    tokio::time::timeout(Duration::from_secs(10), backend.next_gated())
        .await
        .expect("the first chunk reaches the upstream while the client holds the rest");
    sender
        .send_data(Bytes::from_static(b"second"))
        .await
        .expect("sent");
    drop(sender);
    let answer = upload.await.expect("task").expect("answer");
    assert_eq!(answer.text(), "old 11");
}

#[tokio::test]
async fn hold_waits_for_the_requests_already_forwarded_and_counts_them() {
    let old = Backend::start("old").await;
    let (table, proxy) = proxy_for(old.addr, RedirectSettings::default()).await;
    let client = client();
    let slow =
        tokio::spawn(async move { get(&client, proxy.addr, "shop.example", "/gated").await });
    old.next_gated().await;
    let table_for_hold = table.clone();
    let mut hold = tokio::spawn(async move {
        table_for_hold
            .hold("acc-shop", Duration::from_secs(10))
            .await
    });
    // The hold cannot end while the forwarded request is unanswered.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut hold)
            .await
            .is_err()
    );
    assert!(table.is_held("acc-shop"));
    old.open_gate(1);
    let report = hold.await.expect("hold");
    assert_eq!((report.in_flight_at_hold, report.aborted), (1, 0));
    let answer = slow.await.expect("task").expect("answer");
    assert_eq!(
        (answer.status, answer.backend()),
        (StatusCode::OK, Some("old"))
    );
}

#[tokio::test]
async fn a_release_while_hold_waits_ends_the_wait_and_aborts_nothing() {
    let old = Backend::start("old").await;
    let (table, proxy) = proxy_for(old.addr, RedirectSettings::default()).await;
    let client = client();
    let slow =
        tokio::spawn(async move { get(&client, proxy.addr, "shop.example", "/gated").await });
    old.next_gated().await;
    let table_for_hold = table.clone();
    let hold = tokio::spawn(async move {
        table_for_hold
            .hold("acc-shop", Duration::from_secs(30))
            .await
    });
    wait_until("the account is held", || table.is_held("acc-shop")).await;
    table.release("acc-shop");
    let report = tokio::time::timeout(Duration::from_secs(5), hold)
        .await
        .expect("hold returns at the release")
        .expect("hold");
    assert_eq!(report.aborted, 0);
    old.open_gate(1);
    let answer = slow.await.expect("task").expect("answer");
    assert_eq!(
        (answer.status, answer.backend()),
        (StatusCode::OK, Some("old"))
    );
}

#[tokio::test]
async fn a_forwarded_request_outlasting_the_holds_bound_is_aborted() {
    let old = Backend::start("old").await;
    let new = Backend::start("new").await;
    let (table, proxy) = proxy_for(old.addr, RedirectSettings::default()).await;
    let client = client();
    let slow = {
        let client = client.clone();
        tokio::spawn(async move { get(&client, proxy.addr, "shop.example", "/gated").await })
    };
    old.next_gated().await;
    let report = table.hold("acc-shop", Duration::from_millis(100)).await;
    assert_eq!((report.in_flight_at_hold, report.aborted), (1, 1));
    let answer = slow.await.expect("task").expect("answer");
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(table.stats().aborted_by_hold, 1);
    table.locate("acc-shop", new.addr);
    table.release("acc-shop");
    let after = get(&client, proxy.addr, "shop.example", "/")
        .await
        .expect("answer");
    assert_eq!(
        (after.status, after.backend()),
        (StatusCode::OK, Some("new"))
    );
    old.open_gate(1);
}

#[tokio::test]
async fn a_response_still_streaming_at_the_holds_bound_is_cut() {
    let old = Backend::start("old").await;
    let (table, proxy) = proxy_for(old.addr, RedirectSettings::default()).await;
    let mut body = gated_download(proxy.addr).await;
    body.frame()
        .await
        .expect("a frame")
        .expect("the first chunk");
    let report = table.hold("acc-shop", Duration::from_millis(100)).await;
    assert_eq!((report.in_flight_at_hold, report.aborted), (1, 1));
    assert!(
        count_body(body).await.is_err(),
        "the client sees the response cut"
    );
    old.open_gate(1);
}

/// A WebSocket handshake through the proxy, with the raw bytes a browser sends.
async fn open_tunnel(proxy: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(proxy).await.expect("connects");
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: shop.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        .await
        .expect("handshake sent");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream
            .read_exact(&mut byte)
            .await
            .expect("handshake answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    stream
}

#[tokio::test]
async fn a_websocket_is_tunnelled_and_a_hold_closes_it_at_its_bound() {
    let old = Backend::start("old").await;
    let (table, proxy) = proxy_for(old.addr, RedirectSettings::default()).await;
    let mut tunnel = open_tunnel(proxy.addr).await;
    tunnel.write_all(b"ping").await.expect("sent");
    let mut echoed = [0u8; 4];
    tunnel.read_exact(&mut echoed).await.expect("echoed");
    assert_eq!(&echoed, b"ping");
    let report = table.hold("acc-shop", Duration::from_millis(100)).await;
    assert_eq!((report.in_flight_at_hold, report.aborted), (1, 1));
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), tunnel.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the tunnel is closed after the hold's bound"
    );
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_the_exchange_in_flight_finish() {
    let backend = Backend::start("old").await;
    let (_table, proxy) = proxy_for(backend.addr, RedirectSettings::default()).await;
    let client = client();
    let in_flight =
        tokio::spawn(async move { get(&client, proxy.addr, "shop.example", "/gated").await });
    backend.next_gated().await;
    proxy.shutdown.cancel();
    let mut refused = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !refused && Instant::now() < deadline {
        refused = TcpStream::connect(proxy.addr).await.is_err();
        if !refused {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(refused, "the proxy still accepts after shutdown");
    assert!(
        !proxy.served.is_finished(),
        "serve waits for the exchange in flight"
    );
    backend.open_gate(1);
    let answer = in_flight.await.expect("task").expect("answer");
    assert_eq!(
        (answer.status, answer.backend()),
        (StatusCode::OK, Some("old"))
    );
    tokio::time::timeout(Duration::from_secs(5), proxy.served)
        .await
        .expect("serve returns once drained")
        .expect("task")
        .expect("served");
}

#[tokio::test]
async fn shutdown_cuts_what_outlasts_its_grace_and_answers_held_requests_503() {
    let backend = Backend::start("old").await;
    let settings = RedirectSettings {
        shutdown_grace: Duration::from_millis(200),
        ..RedirectSettings::default()
    };
    let table = RedirectTable::new();
    table.route_host("shop.example", "acc-shop");
    table.route_host("blog.example", "acc-blog");
    table.locate("acc-shop", backend.addr);
    table.locate("acc-blog", backend.addr);
    let proxy = RunningProxy::start(&table, settings).await;
    let client = client();
    let stuck = {
        let client = client.clone();
        tokio::spawn(async move { get(&client, proxy.addr, "shop.example", "/gated").await })
    };
    backend.next_gated().await;
    table.hold("acc-blog", Duration::from_secs(1)).await;
    let held = tokio::spawn(async move { get(&client, proxy.addr, "blog.example", "/").await });
    wait_until("the request is held", || table.stats().held_now == 1).await;
    let started = Instant::now();
    proxy.shutdown.cancel();
    let held = held.await.expect("task").expect("answer");
    assert_eq!(held.status, StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::timeout(Duration::from_secs(5), proxy.served)
        .await
        .expect("serve returns after the grace")
        .expect("task")
        .expect("served");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(
        stuck.await.expect("task").is_err(),
        "the stuck exchange is cut"
    );
    backend.open_gate(1);
}
