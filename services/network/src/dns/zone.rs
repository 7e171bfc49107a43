//! A zone as the network service publishes it ([`Zone`]) and its compiled,
//! query-ready form ([`ServedZone`]): owner names mapped to DNS records built
//! once per update, so that answering a query only looks things up.
//!
//! Zone data is untrusted (it comes from the fleet and from customers): a record
//! that cannot be served (an A record whose value is not an IPv4 address, a name
//! outside the zone, a CNAME beside other data...) is dropped from the zone and
//! reported as a [`SkippedRecord`]; the rest of the zone is served.

use std::{
    collections::{HashMap, hash_map::Entry},
    net::{Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use ferry_events::{DnsRecord, DnsRecordKind};
use hickory_server::proto::rr::{
    LowerName, Name, RData, Record,
    rdata::{A, AAAA, CNAME, MX, TXT},
};

/// One zone served by the DNS server: every record but SOA and NS, which the
/// server derives from its [`DnsSettings`](super::DnsSettings) and `serial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// The domain, e.g. `bakery.example` (normalised to lowercase without
    /// trailing dot when stored).
    pub domain: String,
    /// The SOA serial; bump it on every change so that secondaries and
    /// monitoring see it.
    pub serial: u32,
    /// The zone's records, names fully qualified without trailing dot.
    pub records: Vec<DnsRecord>,
}

/// A zone that cannot be served at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// The zone's domain is not a valid domain name.
    #[error("invalid zone domain {domain:?}: {reason}")]
    InvalidDomain {
        /// The domain as given.
        domain: String,
        /// Why it is invalid.
        reason: InvalidName,
    },
}

/// Why a host name is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    /// Empty, or only a dot.
    #[error("empty name")]
    Empty,
    /// A character other than letters, digits, `-`, `_`, `*` and `.`
    /// (internationalised names must be given in their `xn--` form).
    #[error("character outside letters, digits, '-', '_', '*' and '.'")]
    Character,
    /// An empty label, a label over 63 bytes or a name over 255 bytes.
    #[error("not a valid DNS name (empty or over-long label, or over-long name)")]
    Syntax,
}

/// A record dropped from a zone because it cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// The record as given.
    pub record: DnsRecord,
    /// Why it was dropped.
    pub reason: SkipReason,
}

/// Why a record was dropped from its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    /// The owner name is not a valid host name.
    #[error("invalid owner name: {0}")]
    InvalidOwner(InvalidName),
    /// The owner name is not in the zone.
    #[error("owner name outside the zone")]
    OutsideZone,
    /// An A record whose value is not an IPv4 address.
    #[error("A value is not an IPv4 address")]
    NotIpv4,
    /// An AAAA record whose value is not an IPv6 address.
    #[error("AAAA value is not an IPv6 address")]
    NotIpv6,
    /// An MX or CNAME record whose target is not a valid host name.
    #[error("invalid target name: {0}")]
    InvalidTarget(InvalidName),
    /// An MX record without a preference.
    #[error("MX record without priority")]
    MxWithoutPriority,
    /// A TXT value too long to fit in a DNS message.
    #[error("TXT value over {MAX_TXT_BYTES} bytes")]
    TxtTooLong,
    /// A CNAME at the zone apex, which holds the SOA and NS records (RFC 1912 §2.4).
    #[error("CNAME at the zone apex")]
    CnameAtApex,
    /// A CNAME at a name that holds other records: a CNAME must be alone at
    /// its name (RFC 1034 §3.6.2). The other records are kept.
    #[error("CNAME beside other records at the same name")]
    CnameBesideOtherData,
    /// A second CNAME at the same name; the first is kept.
    #[error("second CNAME at the same name")]
    SecondCname,
    /// The same record (type and value) again at the same name.
    #[error("duplicate record")]
    Duplicate,
}

/// TXT values longer than this are dropped: with the length bytes of its
/// 255-byte strings, the record must stay well inside a 64 KiB DNS message.
pub const MAX_TXT_BYTES: usize = 60_000;

/// TTLs above 2^31 - 1 are read as 0 by resolvers (RFC 2181 §8); clamp instead.
const MAX_TTL_SECS: u32 = i32::MAX as u32;

/// A zone ready to answer queries: the zone as stored (bad records dropped) and
/// its records by owner name.
#[derive(Debug)]
pub(crate) struct ServedZone {
    /// The zone as served: normalised domain, only the records kept.
    pub(crate) zone: Arc<Zone>,
    /// The apex, fully qualified.
    pub(crate) origin: Name,
    /// The apex, as query names are compared.
    pub(crate) lower_origin: LowerName,
    /// Every name that exists in the zone: owners of records, the apex, and the
    /// empty non-terminals between them (which exist without records, RFC 8020).
    pub(crate) nodes: HashMap<LowerName, Node>,
}

/// The records at one name.
#[derive(Debug, Default)]
pub(crate) struct Node {
    /// Every record but the CNAME.
    pub(crate) records: Vec<Record>,
    /// The name's CNAME and its target, if it is an alias (then `records` is empty).
    pub(crate) cname: Option<(Record, LowerName)>,
}

/// The fully qualified, lowercase name of `domain` (with or without trailing dot).
pub(crate) fn parse_host_name(domain: &str) -> Result<Name, InvalidName> {
    let bare = domain.strip_suffix('.').unwrap_or(domain);
    if bare.is_empty() {
        return Err(InvalidName::Empty);
    }
    // Only plain host-name characters: this keeps zone-file escapes (`\.`,
    // `\000`) and whitespace of hostile data out of the names we serve.
    if !bare
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*' | b'.'))
    {
        return Err(InvalidName::Character);
    }
    let mut name = Name::from_ascii(bare.to_ascii_lowercase()).map_err(|_| InvalidName::Syntax)?;
    if name.is_root() || name.iter().any(|label| label.is_empty()) {
        return Err(InvalidName::Syntax);
    }
    name.set_fqdn(true);
    Ok(name)
}

/// The zone's domain in its stored form: lowercase, without trailing dot.
pub(crate) fn normalise_domain(domain: &str) -> String {
    domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase()
}

impl ServedZone {
    /// Compiles `zone`, dropping the records that cannot be served.
    pub(crate) fn compile(zone: Zone) -> Result<(Self, Vec<SkippedRecord>), ZoneError> {
        let origin = parse_host_name(&zone.domain).map_err(|reason| ZoneError::InvalidDomain {
            domain: zone.domain.clone(),
            reason,
        })?;
        let domain = normalise_domain(&zone.domain);
        let mut nodes: HashMap<LowerName, Node> = HashMap::new();
        let mut kept: Vec<(LowerName, DnsRecord)> = Vec::with_capacity(zone.records.len());
        let mut skipped = Vec::new();

        for record in zone.records {
            match compile_record(&origin, &record) {
                Err(reason) => skipped.push(SkippedRecord { record, reason }),
                Ok((owner, compiled)) => {
                    let node = nodes.entry(owner.clone()).or_default();
                    match node_insert(node, compiled) {
                        Ok(()) => kept.push((owner, normalised(record))),
                        Err(reason) => skipped.push(SkippedRecord { record, reason }),
                    }
                }
            }
        }

        // A CNAME must be alone at its name: the other records win, they are
        // what ferry manages (addresses, mail).
        for (owner, node) in &mut nodes {
            if node.cname.is_some() && !node.records.is_empty() {
                node.cname = None;
                kept.retain(|(kept_owner, record)| {
                    let drop = kept_owner == owner && record.kind == DnsRecordKind::Cname;
                    if drop {
                        skipped.push(SkippedRecord {
                            record: record.clone(),
                            reason: SkipReason::CnameBesideOtherData,
                        });
                    }
                    !drop
                });
            }
        }

        add_apex_and_empty_non_terminals(&origin, &mut nodes);
        let zone = Zone {
            domain,
            serial: zone.serial,
            records: kept.into_iter().map(|(_, record)| record).collect(),
        };
        Ok((
            Self {
                zone: Arc::new(zone),
                lower_origin: LowerName::new(&origin),
                origin,
                nodes,
            },
            skipped,
        ))
    }
}

/// A compiled record: the DNS record, and the target when it is a CNAME.
enum Compiled {
    Data(Record),
    Alias(Record, LowerName),
}

fn compile_record(origin: &Name, record: &DnsRecord) -> Result<(LowerName, Compiled), SkipReason> {
    let owner = parse_host_name(&record.name).map_err(SkipReason::InvalidOwner)?;
    if !origin.zone_of(&owner) {
        return Err(SkipReason::OutsideZone);
    }
    let ttl = record.ttl_secs.min(MAX_TTL_SECS);
    let value = record.value.trim();
    let rdata = match record.kind {
        DnsRecordKind::A => RData::A(A(value
            .parse::<Ipv4Addr>()
            .map_err(|_| SkipReason::NotIpv4)?)),
        DnsRecordKind::Aaaa => RData::AAAA(AAAA(
            value.parse::<Ipv6Addr>().map_err(|_| SkipReason::NotIpv6)?,
        )),
        DnsRecordKind::Mx => {
            let preference = record.priority.ok_or(SkipReason::MxWithoutPriority)?;
            let exchange = parse_host_name(value).map_err(SkipReason::InvalidTarget)?;
            RData::MX(MX::new(preference, exchange))
        }
        DnsRecordKind::Txt => RData::TXT(txt(&record.value)?),
        DnsRecordKind::Cname => {
            if owner == *origin {
                return Err(SkipReason::CnameAtApex);
            }
            let target = parse_host_name(value).map_err(SkipReason::InvalidTarget)?;
            let lower_target = LowerName::new(&target);
            let cname = Record::from_rdata(owner.clone(), ttl, RData::CNAME(CNAME(target)));
            return Ok((LowerName::new(&owner), Compiled::Alias(cname, lower_target)));
        }
    };
    Ok((
        LowerName::new(&owner),
        Compiled::Data(Record::from_rdata(owner, ttl, rdata)),
    ))
}

/// The TXT record data of `value`: a TXT string holds at most 255 bytes, so
/// longer values (DKIM keys) are split into consecutive strings, which
/// consumers concatenate (RFC 7208 §3.3).
fn txt(value: &str) -> Result<TXT, SkipReason> {
    if value.len() > MAX_TXT_BYTES {
        return Err(SkipReason::TxtTooLong);
    }
    let bytes = value.as_bytes();
    let strings: Vec<&[u8]> = if bytes.is_empty() {
        vec![bytes]
    } else {
        bytes.chunks(255).collect()
    };
    Ok(TXT::from_bytes(strings))
}

fn node_insert(node: &mut Node, compiled: Compiled) -> Result<(), SkipReason> {
    match compiled {
        Compiled::Data(record) => {
            if node.records.iter().any(|kept| same_data(kept, &record)) {
                return Err(SkipReason::Duplicate);
            }
            node.records.push(record);
        }
        Compiled::Alias(record, target) => match &node.cname {
            Some((kept, _)) if same_data(kept, &record) => return Err(SkipReason::Duplicate),
            Some(_) => return Err(SkipReason::SecondCname),
            None => node.cname = Some((record, target)),
        },
    }
    Ok(())
}

/// Same type and value (TTL aside): one record of an RRset.
fn same_data(a: &Record, b: &Record) -> bool {
    a.data == b.data
}

/// The record as stored: names lowercase, without trailing dot.
fn normalised(mut record: DnsRecord) -> DnsRecord {
    record.name = normalise_domain(&record.name);
    if matches!(record.kind, DnsRecordKind::Mx | DnsRecordKind::Cname) {
        record.value = normalise_domain(record.value.trim());
    }
    record
}

/// The apex always exists (it holds SOA and NS); so does every name between a
/// record's owner and the apex (`b.bakery.example` when `a.b.bakery.example`
/// has records): such names answer NODATA, not NXDOMAIN.
fn add_apex_and_empty_non_terminals(origin: &Name, nodes: &mut HashMap<LowerName, Node>) {
    let apex_labels = origin.num_labels();
    let owners: Vec<Name> = nodes
        .keys()
        .map(|owner| Name::from(owner.clone()))
        .collect();
    for owner in owners {
        let mut labels = owner.num_labels();
        while labels > apex_labels {
            labels -= 1;
            let ancestor = LowerName::new(&owner.trim_to(usize::from(labels)));
            match nodes.entry(ancestor) {
                // Its own ancestors are in the map already or will be added
                // from it, so stop walking up.
                Entry::Occupied(_) => break,
                Entry::Vacant(vacant) => {
                    vacant.insert(Node::default());
                }
            }
        }
    }
    nodes.entry(LowerName::new(origin)).or_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, kind: DnsRecordKind, value: &str) -> DnsRecord {
        DnsRecord {
            name: name.to_owned(),
            kind,
            value: value.to_owned(),
            priority: (kind == DnsRecordKind::Mx).then_some(10),
            ttl_secs: 300,
        }
    }

    fn compile(records: Vec<DnsRecord>) -> (ServedZone, Vec<SkipReason>) {
        let zone = Zone {
            domain: "Bakery.Example.".to_owned(),
            serial: 3,
            records,
        };
        let (served, skipped) = ServedZone::compile(zone).expect("valid domain");
        (served, skipped.into_iter().map(|s| s.reason).collect())
    }

    fn node<'z>(zone: &'z ServedZone, name: &str) -> Option<&'z Node> {
        let name = parse_host_name(name).expect("valid name");
        zone.nodes.get(&LowerName::new(&name))
    }

    #[test]
    fn the_domain_and_names_are_stored_lowercase_without_trailing_dot() {
        let (served, skipped) = compile(vec![
            record("WWW.Bakery.Example.", DnsRecordKind::A, "192.0.2.1"),
            record("Bakery.Example", DnsRecordKind::Mx, "MX1.Hosting.Example."),
        ]);
        assert!(skipped.is_empty());
        assert_eq!(served.zone.domain, "bakery.example");
        assert_eq!(served.zone.records[0].name, "www.bakery.example");
        assert_eq!(served.zone.records[1].value, "mx1.hosting.example");
        assert!(node(&served, "www.bakery.example").is_some());
    }

    #[test]
    fn the_apex_and_empty_non_terminals_exist() {
        let (served, _) = compile(vec![record(
            "a.b.c.bakery.example",
            DnsRecordKind::A,
            "192.0.2.1",
        )]);
        for name in ["bakery.example", "c.bakery.example", "b.c.bakery.example"] {
            let empty = node(&served, name).expect(name);
            assert!(empty.records.is_empty() && empty.cname.is_none(), "{name}");
        }
        assert!(node(&served, "x.bakery.example").is_none());
        assert_eq!(served.nodes.len(), 4);
    }

    #[test]
    fn duplicates_and_second_cnames_are_skipped() {
        use DnsRecordKind::*;
        let (served, skipped) = compile(vec![
            record("www.bakery.example", A, "192.0.2.1"),
            DnsRecord {
                ttl_secs: 60,
                ..record("www.bakery.example", A, "192.0.2.1")
            },
            record("alias.bakery.example", Cname, "www.bakery.example"),
            record("alias.bakery.example", Cname, "www.bakery.example"),
            record("alias.bakery.example", Cname, "other.example"),
        ]);
        assert_eq!(
            skipped,
            [
                SkipReason::Duplicate,
                SkipReason::Duplicate,
                SkipReason::SecondCname
            ]
        );
        assert_eq!(served.zone.records.len(), 2);
    }

    #[test]
    fn hostile_values_are_skipped_without_panicking() {
        use DnsRecordKind::*;
        let long_label = format!("{}.bakery.example", "x".repeat(64));
        let (served, skipped) = compile(vec![
            record("www.bakery.example", A, "2001:db8::1"),
            record("www.bakery.example", A, "999.0.0.1"),
            record("www.bakery.example", Aaaa, "not an address"),
            record("www.bakery.example", Mx, "mx\\.evil.example"),
            record("www.bakery.example", Cname, ""),
            record(&long_label, A, "192.0.2.1"),
            record("", A, "192.0.2.1"),
            record("notbakery.example", A, "192.0.2.1"),
            record("www.bakery.example", Txt, &"x".repeat(MAX_TXT_BYTES + 1)),
        ]);
        assert_eq!(
            skipped,
            [
                SkipReason::NotIpv4,
                SkipReason::NotIpv4,
                SkipReason::NotIpv6,
                SkipReason::InvalidTarget(InvalidName::Character),
                SkipReason::InvalidTarget(InvalidName::Empty),
                SkipReason::InvalidOwner(InvalidName::Syntax),
                SkipReason::InvalidOwner(InvalidName::Empty),
                SkipReason::OutsideZone,
                SkipReason::TxtTooLong,
            ]
        );
        assert!(served.zone.records.is_empty());
    }

    #[test]
    fn a_long_txt_value_becomes_255_byte_strings() {
        let value = "k".repeat(600);
        let txt = txt(&value).expect("short enough");
        let lengths: Vec<usize> = txt.txt_data.iter().map(|s| s.len()).collect();
        assert_eq!(lengths, [255, 255, 90]);
        let empty = super::txt("").expect("empty is valid");
        assert_eq!(empty.txt_data.len(), 1);
    }

    #[test]
    fn an_invalid_domain_is_an_error() {
        for domain in ["", ".", "bad domain.example", "a..example"] {
            let zone = Zone {
                domain: domain.to_owned(),
                serial: 1,
                records: Vec::new(),
            };
            assert!(ServedZone::compile(zone).is_err(), "{domain:?}");
        }
    }
}
