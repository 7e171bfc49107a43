//! Shared by the redirect tests and its benchmark (included with `#[path]`): the
//! backends standing for a client server and a transit server, a proxy started on
//! an ephemeral port, an HTTP client and the load generator.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferry_network::redirect::{RedirectError, RedirectSettings, RedirectTable, serve};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::channel::Channel;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type ClientBody = BoxBody<Bytes, BoxError>;
pub(crate) type HttpClient = Client<HttpConnector, ClientBody>;

/// 64 KiB of zeros: the chunk the streaming routes send.
static CHUNK: [u8; 64 * 1024] = [0; 64 * 1024];

/// A backend web server: answers every request with its name in `x-backend` and
/// counts what it receives. Routes:
/// - `/echo-headers`: the request's headers, one `name: value` a line;
/// - `/gated`: reports its arrival (see [`Backend::next_gated`]) and answers once a
///   gate permit is given ([`Backend::open_gate`]);
/// - `/download/{bytes}`: that many bytes, streamed in 64 KiB chunks;
/// - `/download-gated`: one chunk, then waits for a gate permit, then one more;
/// - `/upload-gated`: reports the first body chunk's arrival, then reads the rest;
/// - `/ws`: switches protocols (101, `Upgrade: websocket`) and echoes the bytes;
/// - anything else: reads the body, answers `{name} {body bytes}`.
pub(crate) struct Backend {
    pub(crate) addr: SocketAddr,
    pub(crate) name: &'static str,
    state: Arc<BackendState>,
    gated: tokio::sync::Mutex<mpsc::UnboundedReceiver<()>>,
    _stop: DropGuard,
}

struct BackendState {
    name: &'static str,
    requests: watch::Sender<u64>,
    last_arrival: Mutex<Option<Instant>>,
    gate: Semaphore,
    gated_arrivals: mpsc::UnboundedSender<()>,
    body_bytes: AtomicU64,
}

impl Backend {
    pub(crate) async fn start(name: &'static str) -> Backend {
        Self::start_on(name, "127.0.0.1:0".parse().expect("an address")).await
    }

    /// A backend listening on `addr` (a server's own address, in the live tests).
    pub(crate) async fn start_on(name: &'static str, addr: SocketAddr) -> Backend {
        let listener = TcpListener::bind(addr).await.expect("binds");
        let addr = listener.local_addr().expect("address");
        let (gated_arrivals, gated) = mpsc::unbounded_channel();
        let state = Arc::new(BackendState {
            name,
            requests: watch::Sender::new(0),
            last_arrival: Mutex::new(None),
            gate: Semaphore::new(0),
            gated_arrivals,
            body_bytes: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        tokio::spawn(serve_backend(listener, Arc::clone(&state), stop.clone()));
        Backend {
            addr,
            name,
            state,
            gated: tokio::sync::Mutex::new(gated),
            _stop: stop.drop_guard(),
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        *self.state.requests.borrow()
    }

    /// Waits until the backend has received at least `count` requests.
    pub(crate) async fn wait_for_requests(&self, count: u64) {
        let mut requests = self.state.requests.subscribe();
        requests
            .wait_for(|received| *received >= count)
            .await
            .expect("backend running");
    }

    /// When the last request's head arrived.
    pub(crate) fn last_arrival(&self) -> Option<Instant> {
        *self.state.last_arrival.lock().expect("lock")
    }

    /// Body bytes received so far over all requests.
    pub(crate) fn body_bytes(&self) -> u64 {
        self.state.body_bytes.load(Ordering::Acquire)
    }

    /// Waits for the next `/gated` request (or `/upload-gated` first chunk) to arrive.
    pub(crate) async fn next_gated(&self) {
        self.gated
            .lock()
            .await
            .recv()
            .await
            .expect("backend running");
    }

    /// Lets `count` waiting gated requests go on.
    pub(crate) fn open_gate(&self, count: usize) {
        self.state.gate.add_permits(count);
    }
}

async fn serve_backend(listener: TcpListener, state: Arc<BackendState>, stop: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted { Ok(accepted) => accepted, Err(_) => continue },
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let stop = stop.clone();
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |request| answer(Arc::clone(&state), request)),
                )
                .with_upgrades();
            tokio::select! {
                _ = connection => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn answer(
    state: Arc<BackendState>,
    mut request: Request<Incoming>,
) -> Result<Response<ClientBody>, Infallible> {
    *state.last_arrival.lock().expect("lock") = Some(Instant::now());
    state.requests.send_modify(|count| *count += 1);
    let path = request.uri().path().to_owned();
    if path == "/ws" {
        // Switches to an echo of whatever the client sends.
        let switched = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            let Ok(switched) = switched.await else { return };
            let (mut reading, mut writing) = tokio::io::split(TokioIo::new(switched));
            let _ = tokio::io::copy(&mut reading, &mut writing).await;
        });
        let mut response = Response::new(empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(http::header::CONNECTION, "upgrade".parse().expect("value"));
        headers.insert(http::header::UPGRADE, "websocket".parse().expect("value"));
        return Ok(response);
    }
    let body: ClientBody = if path == "/echo-headers" {
        let mut lines = String::new();
        for (name, value) in request.headers() {
            lines.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
        }
        full(lines)
    } else if path == "/gated" {
        let _ = state.gated_arrivals.send(());
        state.gate.acquire().await.expect("gate open").forget();
        full(state.name)
    } else if let Some(size) = path.strip_prefix("/download/") {
        streamed_zeros(size.parse().unwrap_or(0))
    } else if path == "/download-gated" {
        let (mut sender, body) = Channel::<Bytes, BoxError>::new(1);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let _ = sender.send_data(Bytes::from_static(&CHUNK)).await;
            if let Ok(permit) = state.gate.acquire().await {
                permit.forget();
            }
            let _ = sender.send_data(Bytes::from_static(&CHUNK)).await;
        });
        BodyExt::boxed(body)
    } else {
        let gated = path == "/upload-gated";
        let mut body = request.into_body();
        let mut received = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Some(data) = frame.data_ref() {
                if received == 0 && gated {
                    let _ = state.gated_arrivals.send(());
                }
                received += data.len() as u64;
                state
                    .body_bytes
                    .fetch_add(data.len() as u64, Ordering::AcqRel);
            }
        }
        full(format!("{} {received}", state.name))
    };
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert("x-backend", state.name.parse().expect("header value"));
    Ok(response)
}

pub(crate) fn full(text: impl Into<Bytes>) -> ClientBody {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

pub(crate) fn empty() -> ClientBody {
    full(Bytes::new())
}

/// A proxy serving `table` on an ephemeral port of 127.0.0.1.
pub(crate) struct RunningProxy {
    pub(crate) addr: SocketAddr,
    pub(crate) shutdown: CancellationToken,
    pub(crate) served: JoinHandle<Result<(), RedirectError>>,
}

impl RunningProxy {
    pub(crate) async fn start(table: &RedirectTable, settings: RedirectSettings) -> RunningProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("address");
        let shutdown = CancellationToken::new();
        let served = tokio::spawn(serve(listener, table.clone(), settings, shutdown.clone()));
        RunningProxy {
            addr,
            shutdown,
            served,
        }
    }
}

pub(crate) fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(connector)
}

/// A request to `target` for `host`.
pub(crate) fn request(
    method: &str,
    target: SocketAddr,
    host: &str,
    path: &str,
    body: ClientBody,
) -> Request<ClientBody> {
    Request::builder()
        .method(method)
        .uri(format!("http://{target}{path}"))
        .header(http::header::HOST, host)
        .body(body)
        .expect("request")
}

/// An answer read to its end.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn backend(&self) -> Option<&str> {
        self.headers
            .get("x-backend")
            .and_then(|value| value.to_str().ok())
    }
}

pub(crate) async fn send(
    client: &HttpClient,
    request: Request<ClientBody>,
) -> Result<Answer, BoxError> {
    let response = client.request(request).await?;
    let (head, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Answer {
        status: head.status,
        headers: head.headers,
        body,
    })
}

pub(crate) async fn get(
    client: &HttpClient,
    target: SocketAddr,
    host: &str,
    path: &str,
) -> Result<Answer, BoxError> {
    send(client, request("GET", target, host, path, empty())).await
}

/// Waits until `condition` holds, checking every few milliseconds, for at most 10 s:
/// for states only observable by polling (a counter of the proxy).
pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Which backend answered a request of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnsweredBy {
    Old,
    New,
    Other,
}

/// One request of the load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub(crate) sent_at: Instant,
    pub(crate) latency: Duration,
    /// `None` when the request failed (transport error, a status other than 200,
    /// or the backend did not get the whole body).
    pub(crate) answered_by: Option<AnsweredBy>,
}

/// What the load generator sends.
#[derive(Debug, Clone)]
pub(crate) struct Load {
    pub(crate) target: SocketAddr,
    pub(crate) host: String,
    /// Concurrent clients, each with its own keep-alive connection.
    pub(crate) clients: usize,
    /// Every `post_every`-th request of a client is a POST with a 1-16 KiB body
    /// (0: GET only).
    pub(crate) post_every: u64,
}

/// Sends requests continuously from `load.clients` clients until `stop` is
/// cancelled; returns every request's outcome.
pub(crate) async fn generate_load(load: Load, stop: CancellationToken) -> Vec<Outcome> {
    let client = client();
    let mut workers = Vec::with_capacity(load.clients);
    for worker in 0..load.clients {
        let client = client.clone();
        let load = load.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut sequence = 0u64;
            while !stop.is_cancelled() {
                sequence += 1;
                let post = load.post_every > 0 && sequence.is_multiple_of(load.post_every);
                // The body size the backend must report: a POST's body arrived whole.
                let size = if post {
                    1024 + ((sequence * 7919 + worker as u64 * 104_729) % 15_360) as usize
                } else {
                    0
                };
                let request = if post {
                    request(
                        "POST",
                        load.target,
                        &load.host,
                        "/write",
                        full(vec![b'x'; size]),
                    )
                } else {
                    request("GET", load.target, &load.host, "/", empty())
                };
                let sent_at = Instant::now();
                let answered_by = match send(&client, request).await {
                    Ok(answer)
                        if answer.status == StatusCode::OK
                            && answer.text().ends_with(&format!(" {size}")) =>
                    {
                        Some(match answer.backend() {
                            Some("old") => AnsweredBy::Old,
                            Some("new") => AnsweredBy::New,
                            _ => AnsweredBy::Other,
                        })
                    }
                    _ => None,
                };
                outcomes.push(Outcome {
                    sent_at,
                    latency: sent_at.elapsed(),
                    answered_by,
                });
            }
            outcomes
        }));
    }
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.expect("load worker"));
    }
    outcomes
}

/// What [`hold_and_switch`] observed.
pub(crate) struct SwitchRun {
    pub(crate) outcomes: Vec<Outcome>,
    pub(crate) hold_returned_at: Instant,
    pub(crate) hold_report: ferry_network::redirect::HoldReport,
    pub(crate) old_last_arrival: Option<Instant>,
    pub(crate) longest_hold: Duration,
    pub(crate) old: Backend,
    pub(crate) new: Backend,
}

impl SwitchRun {
    pub(crate) fn failed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.answered_by.is_none())
            .count()
    }

    /// Requests sent after `hold` returned that the new backend did not answer.
    pub(crate) fn misrouted_after_hold(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| {
                o.sent_at >= self.hold_returned_at && o.answered_by != Some(AnsweredBy::New)
            })
            .count()
    }

    pub(crate) fn answered_by(&self, backend: AnsweredBy) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.answered_by == Some(backend))
            .count()
    }
}

/// The cutover of one account under load: `clients` clients send requests for its
/// host continuously through a proxy; once the old backend has answered some,
/// `hold` → `final_sync` → `locate(new)` → `release`, then the load goes on until
/// the new backend has answered some more.
pub(crate) async fn hold_and_switch(
    clients: usize,
    final_sync: Duration,
    settings: RedirectSettings,
) -> SwitchRun {
    let old = Backend::start("old").await;
    let new = Backend::start("new").await;
    let table = RedirectTable::new();
    table.route_host("shop.example", "acc-shop");
    table.locate("acc-shop", old.addr);
    let proxy = RunningProxy::start(&table, settings).await;
    let stop = CancellationToken::new();
    let load = tokio::spawn(generate_load(
        Load {
            target: proxy.addr,
            host: "shop.example".into(),
            clients,
            post_every: 3,
        },
        stop.clone(),
    ));
    old.wait_for_requests(200).await;
    let hold_report = table.hold("acc-shop", Duration::from_secs(5)).await;
    let hold_returned_at = Instant::now();
    // Stands for the final sync and the switch of the account.
    tokio::time::sleep(final_sync).await;
    table.locate("acc-shop", new.addr);
    table.release("acc-shop");
    new.wait_for_requests(new.requests() + 500).await;
    stop.cancel();
    let outcomes = load.await.expect("load");
    proxy.shutdown.cancel();
    proxy
        .served
        .await
        .expect("proxy task")
        .expect("proxy served");
    SwitchRun {
        outcomes,
        hold_returned_at,
        hold_report,
        old_last_arrival: old.last_arrival(),
        longest_hold: table.stats().longest_hold,
        old,
        new,
    }
}

/// A body of `size` zero bytes produced chunk by chunk as it is sent.
pub(crate) fn streamed_zeros(size: u64) -> ClientBody {
    let (mut sender, body) = Channel::<Bytes, BoxError>::new(4);
    tokio::spawn(async move {
        let mut left = size;
        while left > 0 {
            let chunk = left.min(CHUNK.len() as u64) as usize;
            if sender
                .send_data(Bytes::from_static(&CHUNK[..chunk]))
                .await
                .is_err()
            {
                return;
            }
            left -= chunk as u64;
        }
    });
    body.boxed()
}

/// Reads a response body to its end, counting its bytes without keeping them.
pub(crate) async fn count_body(mut body: Incoming) -> Result<u64, BoxError> {
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            received += data.len() as u64;
        }
    }
    Ok(received)
}
