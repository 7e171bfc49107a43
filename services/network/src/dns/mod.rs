//! The authoritative DNS server of the provider's DNS: answers for the zones of
//! the customer domains the network service publishes (aggregate `dns_zone`).
//!
//! This module owns the live zone set ([`ZoneStore`]: swap a zone in or out and
//! the running server answers from it at once), the server's own settings
//! ([`DnsSettings`]: NS, SOA) and the server itself ([`serve`], on
//! hickory-server over UDP and TCP). Feeding the store from the event log is
//! the caller's job.
//!
//! Behaviour: answers for served zones carry the AA flag; SOA (serial = the
//! zone's serial) and NS come from the settings; a CNAME is answered with the
//! records of its target of the asked type when the target is in the same zone;
//! NODATA and NXDOMAIN carry the SOA in the authority section; names in no
//! served zone, zone transfers and classes other than IN are REFUSED; ANY gets
//! the RFC 8482 HINFO answer; opcodes other than QUERY get NOTIMP. Names are
//! case-insensitive and the longest served zone wins. Wildcard records are not
//! expanded (a `*` name matches only itself).
//!
//! Logging: hickory-server logs every request at `info` (target
//! `hickory_server`); run the service with that target at `warn`.

mod answer;
mod handler;
mod settings;
mod store;
mod zone;

pub use settings::DnsSettings;
pub use store::ZoneStore;
pub use zone::{InvalidName, MAX_TXT_BYTES, SkipReason, SkippedRecord, Zone, ZoneError};

use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use handler::ZoneRequestHandler;

/// Responses queued per TCP connection before the connection's reader waits.
const TCP_RESPONSE_BUFFER: usize = 64;

/// Why the DNS server could not run.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A setting cannot be used (e.g. a name server that is not a host name).
    #[error("invalid DNS setting {setting}: {reason}")]
    InvalidSettings {
        /// The [`DnsSettings`] field.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A listener failed, or the server stopped without being asked to.
    #[error("DNS server failed: {0}")]
    Server(String),
}

/// How many ports `bind` tries when asked for any (port 0).
const BIND_TRIES: usize = 20;

/// Binds UDP and TCP on the same address, as resolvers expect. With port 0 the
/// system picks the UDP port, and another is picked when TCP's is taken there.
pub async fn bind(addr: std::net::SocketAddr) -> Result<(UdpSocket, TcpListener), String> {
    let tries = if addr.port() == 0 { BIND_TRIES } else { 1 };
    let mut last = String::new();
    for _ in 0..tries {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|e| format!("the DNS server cannot listen on UDP {addr}: {e}"))?;
        let bound = udp.local_addr().map_err(|e| e.to_string())?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = format!("the DNS server cannot listen on TCP {bound}: {e}"),
        }
    }
    Err(last)
}

/// Serves the zones of `store` on `udp` and `tcp` (bound by the caller) until
/// `shutdown` is cancelled.
///
/// On cancellation the listeners stop at once and connections still open are
/// dropped; if that takes longer than [`DnsSettings::shutdown_grace`], the
/// server is abandoned and this returns anyway. Returns an error when the
/// settings are invalid, or when the listeners stop without the token being
/// cancelled (socket failures). UDP is read by [`DnsSettings::udp_readers`]
/// tasks; TCP connections idle for [`DnsSettings::tcp_idle_timeout`] are closed.
pub async fn serve(
    store: ZoneStore,
    settings: DnsSettings,
    udp: UdpSocket,
    tcp: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), DnsError> {
    let handler = ZoneRequestHandler::new(store, &settings)?;
    let udp_addr = udp.local_addr().ok();
    let tcp_addr = tcp.local_addr().ok();
    let mut server = Server::new(handler);
    // hickory reads a UDP socket from one task; more readers of the same
    // socket (duplicated descriptors) spread the receiving over the cores.
    let failed = |error: std::io::Error| DnsError::Server(format!("UDP socket: {error}"));
    let udp = udp.into_std().map_err(failed)?;
    for _ in 1..settings.udp_readers.max(1) {
        let reader = udp.try_clone().map_err(failed)?;
        server.register_socket(UdpSocket::from_std(reader).map_err(failed)?);
    }
    server.register_socket(UdpSocket::from_std(udp).map_err(failed)?);
    server.register_listener(tcp, settings.tcp_idle_timeout, TCP_RESPONSE_BUFFER);
    tracing::info!(?udp_addr, ?tcp_addr, "DNS server listening");

    let ended_by_itself = tokio::select! {
        ended = server.block_until_done() => Some(ended),
        () = shutdown.cancelled() => None,
    };
    if let Some(ended) = ended_by_itself {
        return Err(DnsError::Server(match ended {
            Ok(()) => "stopped without being asked to".to_owned(),
            Err(error) => error.to_string(),
        }));
    }

    server.shutdown_token().cancel();
    match tokio::time::timeout(settings.shutdown_grace, server.block_until_done()).await {
        Ok(Ok(())) => tracing::info!("DNS server stopped"),
        Ok(Err(error)) => tracing::warn!(%error, "DNS server stopped with an error"),
        Err(_) => tracing::warn!(
            grace = ?settings.shutdown_grace,
            "DNS server did not stop in time; its remaining tasks are dropped"
        ),
    }
    Ok(())
}
