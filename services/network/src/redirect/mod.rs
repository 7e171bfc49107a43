//! The transparent redirect: the HTTP reverse proxy in front of a client server
//! while its accounts are migrated. It owns the routing of each request by `Host`
//! to where the request's account lives now ([`RedirectTable`]), the hold of an
//! account's requests during its cutover, and the proxying itself ([`serve`]:
//! hyper 1, HTTP/1.1 with keep-alive, a pooled upstream client, bodies streamed,
//! protocol switches such as WebSocket tunnelled).
//!
//! A cutover drives it as: [`RedirectTable::hold`] (new requests of the account
//! wait; returns once those already forwarded have finished) → final sync and
//! switch → [`RedirectTable::locate`] with the new place →
//! [`RedirectTable::release`]. See [`RedirectTable::hold`] for what is guaranteed.

mod body;
mod host;
mod proxy;
mod settings;
mod stats;
mod table;

pub use host::normalize_host;
pub use settings::RedirectSettings;
pub use stats::RedirectStats;
pub use table::{HoldReport, RedirectTable};

use std::io;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use proxy::Proxy;

/// Why [`serve`] could not run.
#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    /// The listener is unusable (its address cannot be read).
    #[error("the redirect's listener is unusable: {0}")]
    Listener(#[source] io::Error),
}

/// Proxies every connection accepted on `listener` by `table` until `shutdown` is
/// cancelled; then stops accepting, answers the held requests 503, lets the
/// exchanges in flight finish for up to `settings.shutdown_grace`, drops the
/// connections still open after it, and returns. Tunnels (WebSocket) are closed at
/// once.
///
/// Accept errors (out of file descriptors, a connection reset before it was
/// accepted) are logged and retried: they do not stop the proxy.
pub async fn serve(
    listener: TcpListener,
    table: RedirectTable,
    settings: RedirectSettings,
    shutdown: CancellationToken,
) -> Result<(), RedirectError> {
    let address = listener.local_addr().map_err(RedirectError::Listener)?;
    let proxy = Arc::new(Proxy {
        client: upstream_client(&settings),
        table,
        settings,
        shutdown: shutdown.clone(),
    });
    let mut server = http1::Builder::new();
    server
        .timer(TokioTimer::new())
        .header_read_timeout(proxy.settings.header_read_timeout)
        .keep_alive(true);
    let mut connections = JoinSet::new();
    tracing::info!(%address, "redirect listening");
    loop {
        // Reap finished connections so the set only holds open ones.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "redirect: accept failed");
                    // Out of descriptors: accepting again at once would spin.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small requests and responses must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let proxy = Arc::clone(&proxy);
        let shutdown = shutdown.clone();
        let connection = server
            .serve_connection(
                TokioIo::new(stream),
                service_fn(move |request| Arc::clone(&proxy).handle(request, peer)),
            )
            .with_upgrades();
        connections.spawn(async move {
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = shutdown.cancelled() => {
                    // Finishes the exchange in flight, then closes.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "redirect: client connection ended with an error");
            }
        });
    }
    drop(listener);
    let grace = proxy.settings.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            ?grace,
            "redirect: connections still open after the shutdown grace, dropping them"
        );
        connections.shutdown().await;
    }
    tracing::info!(%address, "redirect stopped");
    Ok(())
}

fn upstream_client(settings: &RedirectSettings) -> proxy::UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(settings.connect_timeout));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(settings.upstream_idle_timeout)
        .pool_max_idle_per_host(settings.upstream_max_idle)
        // The proxy sets `Host` itself (the client's, not the upstream address).
        .set_host(false)
        .build(connector)
}
