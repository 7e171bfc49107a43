//! The DNS server's own settings: the name servers and hostmaster every served
//! zone names in its NS and SOA records, the SOA timers, and the server's
//! connection limits. Plain data; the service's configuration fills it in.

use std::time::Duration;

/// How the authoritative DNS server presents itself in every zone it serves,
/// and how it treats connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// The provider's name servers, host names without trailing dot (e.g.
    /// `ns1.hosting.example`): the NS records of every zone; the first one is
    /// the SOA MNAME (the primary).
    pub name_servers: Vec<String>,
    /// The hostmaster mailbox in DNS form (SOA RNAME), e.g.
    /// `hostmaster.hosting.example` for `hostmaster@hosting.example`.
    pub hostmaster: String,
    /// SOA REFRESH, in seconds.
    pub soa_refresh_secs: u32,
    /// SOA RETRY, in seconds.
    pub soa_retry_secs: u32,
    /// SOA EXPIRE, in seconds.
    pub soa_expire_secs: u32,
    /// SOA MINIMUM: how long resolvers cache a negative answer, in seconds.
    pub soa_minimum_secs: u32,
    /// The TTL of the NS and SOA records, in seconds.
    pub ns_soa_ttl_secs: u32,
    /// A TCP connection that sends no query for this long is closed.
    pub tcp_idle_timeout: Duration,
    /// How many tasks read queries from the UDP socket (each hands every query
    /// to a task of its own): one per core lets a busy server use them all.
    pub udp_readers: usize,
    /// After the shutdown token is cancelled, how long the server may take to
    /// stop its listeners and connections before they are dropped.
    pub shutdown_grace: Duration,
}

impl DnsSettings {
    /// SOA REFRESH when not configured: one hour.
    pub const DEFAULT_SOA_REFRESH_SECS: u32 = 3600;
    /// SOA RETRY when not configured: ten minutes.
    pub const DEFAULT_SOA_RETRY_SECS: u32 = 600;
    /// SOA EXPIRE when not configured: two weeks.
    pub const DEFAULT_SOA_EXPIRE_SECS: u32 = 1_209_600;
    /// SOA MINIMUM (negative caching) when not configured: five minutes, short
    /// enough that a record published during a migration shows up quickly.
    pub const DEFAULT_SOA_MINIMUM_SECS: u32 = 300;
    /// NS and SOA TTL when not configured: one hour.
    pub const DEFAULT_NS_SOA_TTL_SECS: u32 = 3600;
    /// Idle TCP connections are closed after this long when not configured.
    pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
    /// Shutdown deadline when not configured.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

    /// Settings with these name servers and hostmaster mailbox and the
    /// defaults for everything else.
    pub fn new(name_servers: Vec<String>, hostmaster: impl Into<String>) -> Self {
        Self {
            name_servers,
            hostmaster: hostmaster.into(),
            soa_refresh_secs: Self::DEFAULT_SOA_REFRESH_SECS,
            soa_retry_secs: Self::DEFAULT_SOA_RETRY_SECS,
            soa_expire_secs: Self::DEFAULT_SOA_EXPIRE_SECS,
            soa_minimum_secs: Self::DEFAULT_SOA_MINIMUM_SECS,
            ns_soa_ttl_secs: Self::DEFAULT_NS_SOA_TTL_SECS,
            tcp_idle_timeout: Self::DEFAULT_TCP_IDLE_TIMEOUT,
            udp_readers: std::thread::available_parallelism().map_or(1, usize::from),
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
        }
    }
}
