//! One proxied exchange: find the request's account by `Host`, pass the hold gate,
//! rewrite the head for the upstream (hop-by-hop headers out, `Host` kept,
//! forwarding headers in) and stream both bodies through; a protocol switch
//! (WebSocket) becomes a tunnel between the two connections.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio_util::sync::CancellationToken;

use super::body::{ProxyBody, RequestBody, UpstreamBody};
use super::settings::RedirectSettings;
use super::table::{Admitted, HoldLimits, InFlight, RedirectTable, Refusal};

/// The pooled HTTP/1.1 client towards the upstreams.
pub(crate) type UpstreamClient = Client<HttpConnector, RequestBody>;

/// What every connection's service shares.
pub(crate) struct Proxy {
    pub(crate) table: RedirectTable,
    pub(crate) client: UpstreamClient,
    pub(crate) settings: RedirectSettings,
    pub(crate) shutdown: CancellationToken,
}

/// Headers that concern one connection only (RFC 9110 §7.6.1), plus `Expect`:
/// the proxy answers `100-continue` to the client itself and the upstream client
/// sends the body without waiting.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

impl Proxy {
    /// Answers one request from the client at `peer`; never fails (every failure
    /// is an HTTP answer).
    pub(crate) async fn handle(
        self: Arc<Self>,
        mut request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let host = request_host(&request);
        let Some(route) = host.as_deref().and_then(|h| self.table.route_for_host(h)) else {
            return Ok(text(
                StatusCode::MISDIRECTED_REQUEST,
                "ferry redirect: no route for this host\n",
            ));
        };
        let limits = HoldLimits {
            timeout: self.settings.hold_timeout,
            max_held: self.settings.max_held,
            shutdown: &self.shutdown,
        };
        let admitted = match self.table.admit(&route, limits).await {
            Ok(admitted) => admitted,
            Err(refusal) => return Ok(self.refused(refusal)),
        };
        // A protocol switch (WebSocket): the client's side of the tunnel, ready
        // once the upstream agreed and the 101 went back.
        let upgrade = upgrade_protocol(request.headers())
            .map(|protocol| (protocol, hyper::upgrade::on(&mut request)));
        let Some(mut upstream_request) =
            upstream_request(request, admitted.upstream, peer, &admitted.abort)
        else {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                "ferry redirect: bad request target\n",
            ));
        };
        if let Some((protocol, _)) = &upgrade {
            ask_upgrade(upstream_request.headers_mut(), protocol.clone());
        }
        let Admitted {
            upstream,
            abort,
            in_flight,
        } = admitted;
        // Spawned so that a client going away does not cut the exchange short on
        // the proxy's side: the request stays in flight (a `hold` waits for it)
        // until the upstream has answered, failed or timed out.
        let exchange = tokio::spawn(exchange(
            self.client.clone(),
            upstream_request,
            self.settings.upstream_timeout,
            abort.clone(),
            in_flight,
        ));
        let Ok((outcome, in_flight)) = exchange.await else {
            self.table.count_failed_upstream();
            return Ok(text(
                StatusCode::BAD_GATEWAY,
                "ferry redirect: internal error\n",
            ));
        };
        let response = match outcome {
            Exchange::Answered(response) => response,
            Exchange::Aborted => {
                return Ok(text(
                    StatusCode::BAD_GATEWAY,
                    "ferry redirect: request aborted by a cutover\n",
                ));
            }
            Exchange::Failed(error) => {
                tracing::debug!(%upstream, %error, "upstream failed");
                self.table.count_failed_upstream();
                return Ok(text(
                    StatusCode::BAD_GATEWAY,
                    "ferry redirect: upstream unreachable\n",
                ));
            }
            Exchange::TimedOut => {
                self.table.count_failed_upstream();
                return Ok(text(
                    StatusCode::GATEWAY_TIMEOUT,
                    "ferry redirect: upstream timed out\n",
                ));
            }
        };
        if let Some((_, client_side)) = upgrade
            && response.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(protocol) = upgrade_protocol(response.headers())
        {
            let stop = Stop {
                abort,
                shutdown: self.shutdown.clone(),
            };
            return Ok(tunnel(response, protocol, client_side, stop, in_flight));
        }
        let (mut head, body) = response.into_parts();
        remove_hop_by_hop(&mut head.headers);
        let body = UpstreamBody::new(body, abort, in_flight, self.table.clone());
        Ok(Response::from_parts(
            head,
            ProxyBody::Upstream(Box::new(body)),
        ))
    }

    fn refused(&self, refusal: Refusal) -> Response<ProxyBody> {
        match refusal {
            Refusal::NoLocation => text(
                StatusCode::BAD_GATEWAY,
                "ferry redirect: this site has no location yet\n",
            ),
            Refusal::HoldTimedOut => {
                self.retry_later("ferry redirect: site being moved, retry shortly\n")
            }
            Refusal::TooManyHeld => {
                self.retry_later("ferry redirect: too many waiting requests, retry shortly\n")
            }
            Refusal::ShuttingDown => {
                self.retry_later("ferry redirect: shutting down, retry shortly\n")
            }
        }
    }

    fn retry_later(&self, message: &'static str) -> Response<ProxyBody> {
        let mut response = text(StatusCode::SERVICE_UNAVAILABLE, message);
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.settings.retry_after_secs),
        );
        response
    }
}

/// The protocol a message asks to switch to (`Connection: upgrade` with an
/// `Upgrade` header), if any.
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// Puts back the two hop-by-hop headers of a protocol switch, which the proxy
/// carries on to the next hop itself.
fn ask_upgrade(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
}

/// What closes a tunnel besides its ends: a `hold` giving up on it, or the
/// proxy shutting down (a tunnel may stay open for hours, no grace would cover it).
struct Stop {
    abort: CancellationToken,
    shutdown: CancellationToken,
}

/// Answers 101 to the client and joins the two switched connections; the tunnel
/// counts as in flight for its account while open, so a `hold` waits for it up to
/// its bound and then closes it.
fn tunnel(
    mut response: Response<Incoming>,
    protocol: HeaderValue,
    client_side: hyper::upgrade::OnUpgrade,
    stop: Stop,
    in_flight: InFlight,
) -> Response<ProxyBody> {
    let upstream_side = hyper::upgrade::on(&mut response);
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let joined = async {
            let (client, upstream) = tokio::try_join!(client_side, upstream_side)?;
            let mut client = hyper_util::rt::TokioIo::new(client);
            let mut upstream = hyper_util::rt::TokioIo::new(upstream);
            tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
            Ok::<_, super::body::BoxError>(())
        };
        tokio::select! {
            () = stop.abort.cancelled() => {}
            () = stop.shutdown.cancelled() => {}
            joined = joined => if let Err(error) = joined {
                tracing::debug!(%error, "redirect: tunnel ended with an error");
            },
        }
    });
    let (mut head, _) = response.into_parts();
    remove_hop_by_hop(&mut head.headers);
    ask_upgrade(&mut head.headers, protocol);
    Response::from_parts(head, ProxyBody::text(""))
}

/// How the upstream exchange of a request ended, up to the response head.
enum Exchange {
    Answered(Response<Incoming>),
    /// A `hold` gave up waiting for the request.
    Aborted,
    Failed(hyper_util::client::legacy::Error),
    TimedOut,
}

/// Sends the request upstream and waits for the response head, keeping the request
/// counted in flight until then (and returning it to the caller with the outcome).
async fn exchange(
    client: UpstreamClient,
    request: Request<RequestBody>,
    upstream_timeout: std::time::Duration,
    abort: CancellationToken,
    in_flight: InFlight,
) -> (Exchange, InFlight) {
    let outcome = tokio::select! {
        // The abort wins over a response arriving at the same time: once a hold
        // gave up on this request it must not go on.
        biased;
        () = abort.cancelled() => Exchange::Aborted,
        sent = tokio::time::timeout(upstream_timeout, client.request(request)) => match sent {
            Ok(Ok(response)) => Exchange::Answered(response),
            Ok(Err(error)) => Exchange::Failed(error),
            Err(_elapsed) => Exchange::TimedOut,
        },
    };
    (outcome, in_flight)
}

fn text(status: StatusCode, message: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::text(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The host the client asked for: the `Host` header, or the authority of an
/// absolute-form target.
fn request_host<B>(request: &Request<B>) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()))
}

/// The request as sent to `upstream`: same method, target path, `Host` and
/// end-to-end headers, forwarding headers added, body streamed.
fn upstream_request(
    request: Request<Incoming>,
    upstream: SocketAddr,
    peer: SocketAddr,
    abort: &CancellationToken,
) -> Option<Request<RequestBody>> {
    let (mut head, body) = request.into_parts();
    let host = match head.headers.get(header::HOST) {
        Some(host) => host.clone(),
        // Absolute-form target without `Host`: the upstream gets the authority.
        None => HeaderValue::from_str(head.uri.authority()?.as_str()).ok()?,
    };
    let path = head.uri.path_and_query().map_or("/", |path| path.as_str());
    head.uri = Uri::try_from(format!("http://{upstream}{path}")).ok()?;
    head.version = Version::HTTP_11;
    remove_hop_by_hop(&mut head.headers);
    head.headers.remove(header::EXPECT);
    head.headers.insert(header::HOST, host.clone());
    add_forwarding(&mut head.headers, peer.ip(), &host);
    Some(Request::from_parts(
        head,
        RequestBody::new(body, abort.clone()),
    ))
}

/// Removes the hop-by-hop headers, those the `Connection` header names included.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

/// Appends the client to `X-Forwarded-For` and `Forwarded` and states the scheme
/// it used (plain HTTP: this front does not terminate TLS).
fn add_forwarding(headers: &mut HeaderMap, client: IpAddr, host: &HeaderValue) {
    let client = client.to_canonical();
    let forwarded_for = match headers
        .get(&X_FORWARDED_FOR)
        .and_then(|value| value.to_str().ok())
    {
        Some(earlier) => format!("{earlier}, {client}"),
        None => client.to_string(),
    };
    if let Ok(value) = HeaderValue::try_from(forwarded_for) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    let node = match client {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("\"[{ip}]\""),
    };
    // A host that does not fit a quoted-string is left out rather than escaped.
    let element = match host.to_str() {
        Ok(host) if !host.contains(['"', '\\']) => {
            format!("for={node};host=\"{host}\";proto=http")
        }
        _ => format!("for={node};proto=http"),
    };
    if let Ok(value) = HeaderValue::try_from(element) {
        headers.append(header::FORWARDED, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn forwarding_headers_extend_what_earlier_proxies_wrote() {
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.7"));
        add_forwarding(
            &mut headers,
            "2001:db8::1".parse().expect("ip"),
            &HeaderValue::from_static("shop.example"),
        );
        assert_eq!(headers[&X_FORWARDED_FOR], "198.51.100.7, 2001:db8::1");
        assert_eq!(headers[&X_FORWARDED_PROTO], "http");
        assert_eq!(
            headers[header::FORWARDED],
            "for=\"[2001:db8::1]\";host=\"shop.example\";proto=http"
        );
    }
}
