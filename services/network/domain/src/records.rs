//! The records of a zone on the provider's DNS, built from what the fleet says of
//! the domain and of the server its account lives on, and the settings of the
//! provider's DNS (TTLs, mail exchangers). SOA and NS are the DNS server's own.

use ferry_events::{DnsRecord, DnsRecordKind};

/// What the provider's zones hold besides the servers' addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSettings {
    /// TTL of every record, in seconds, outside a migration.
    pub ttl_secs: u32,
    /// TTL of the address records (A, AAAA, and the `www` alias) while the account's
    /// server migrates, so that a switch reaches resolvers within it.
    pub lowered_ttl_secs: u32,
    /// The provider's mail exchangers after the server itself, in preference order
    /// (`MX 10 mx1…`, `MX 20 mx2…`).
    pub mail_exchangers: Vec<String>,
}

impl Default for ZoneSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 3_600,
            lowered_ttl_secs: 60,
            mail_exchangers: vec![
                "mx1.hosting.example".to_owned(),
                "mx2.hosting.example".to_owned(),
            ],
        }
    }
}

/// The server a zone's address records point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddresses<'a> {
    /// Its host name (the first mail exchanger of its domains).
    pub name: &'a str,
    /// Its IPv4 addresses.
    pub ipv4: &'a [String],
    /// Its IPv6 addresses.
    pub ipv6: &'a [String],
}

/// Preference of the server itself among a domain's mail exchangers (`MX 5 <server>`).
pub const SERVER_MX_PREFERENCE: u16 = 5;

/// Whether a record is one of those that follow the account from server to server.
pub fn is_address(record: &DnsRecord) -> bool {
    matches!(record.kind, DnsRecordKind::A | DnsRecordKind::Aaaa)
}

fn record(
    name: &str,
    kind: DnsRecordKind,
    value: &str,
    priority: Option<u16>,
    ttl: u32,
) -> DnsRecord {
    DnsRecord {
        name: name.to_owned(),
        kind,
        value: value.to_owned(),
        priority,
        ttl_secs: ttl,
    }
}

/// The records of `domain` served from `server`: its addresses at the apex, `www`
/// an alias of the apex, and when the provider receives its mail, the server then
/// the provider's exchangers as MX with an SPF record allowing them.
pub fn zone_records(
    domain: &str,
    server: &ServerAddresses<'_>,
    mail_hosted: bool,
    settings: &ZoneSettings,
) -> Vec<DnsRecord> {
    let ttl = settings.ttl_secs;
    let mut records = addresses(domain, server, ttl);
    records.push(record(
        &format!("www.{domain}"),
        DnsRecordKind::Cname,
        domain,
        None,
        ttl,
    ));
    if mail_hosted {
        records.push(mx_of_server(domain, server.name, ttl));
        records.extend(provider_mx(domain, settings));
        records.push(record(
            domain,
            DnsRecordKind::Txt,
            "v=spf1 mx ~all",
            None,
            ttl,
        ));
    }
    records
}

/// The provider's own mail exchangers of `domain`: `MX 10 mx1…`, `MX 20 mx2…`, in
/// the settings' order.
pub fn provider_mx(domain: &str, settings: &ZoneSettings) -> Vec<DnsRecord> {
    settings
        .mail_exchangers
        .iter()
        .enumerate()
        .map(|(rank, exchanger)| {
            let preference = u16::try_from(rank + 1)
                .unwrap_or(u16::MAX / 10)
                .saturating_mul(10);
            record(
                domain,
                DnsRecordKind::Mx,
                exchanger,
                Some(preference),
                settings.ttl_secs,
            )
        })
        .collect()
}

/// `MX 5 <server>`: the record a domain on another DNS provider must delete before
/// its account moves (the provider's `mx1`/`mx2` stay and take the mail meanwhile).
pub fn mx_of_server(domain: &str, server_name: &str, ttl: u32) -> DnsRecord {
    record(
        domain,
        DnsRecordKind::Mx,
        server_name,
        Some(SERVER_MX_PREFERENCE),
        ttl,
    )
}

/// The apex address records of `domain` pointing at `server`.
fn addresses(domain: &str, server: &ServerAddresses<'_>, ttl: u32) -> Vec<DnsRecord> {
    let v4 = server
        .ipv4
        .iter()
        .map(|ip| record(domain, DnsRecordKind::A, ip, None, ttl));
    let v6 = server
        .ipv6
        .iter()
        .map(|ip| record(domain, DnsRecordKind::Aaaa, ip, None, ttl));
    v4.chain(v6).collect()
}

/// `records` with their address records pointing at `server` instead, keeping their
/// TTL, and the server's own MX (`MX 5`) following it. Other records are kept as
/// they are.
pub fn point_at(
    records: &[DnsRecord],
    domain: &str,
    server: &ServerAddresses<'_>,
) -> Vec<DnsRecord> {
    let ttl = records.iter().find(|r| is_address(r)).map_or_else(
        || records.first().map_or(3_600, |r| r.ttl_secs),
        |r| r.ttl_secs,
    );
    let mut moved = addresses(domain, server, ttl);
    for r in records.iter().filter(|r| !is_address(r)) {
        if r.kind == DnsRecordKind::Mx && r.priority == Some(SERVER_MX_PREFERENCE) {
            moved.push(mx_of_server(domain, server.name, r.ttl_secs));
        } else {
            moved.push(r.clone());
        }
    }
    moved
}

/// `records` with the TTL of their address records and aliases set to `ttl`.
pub fn with_address_ttl(records: &[DnsRecord], ttl: u32) -> Vec<DnsRecord> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if is_address(&r) || r.kind == DnsRecordKind::Cname {
                r.ttl_secs = ttl;
            }
            r
        })
        .collect()
}
