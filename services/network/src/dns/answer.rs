//! How a query is answered from the zone that is authoritative for its name:
//! which of the zone's records go into the answer, whether the server adds its
//! own SOA, NS or RFC 8482 record, and the response code. Pure lookups, no I/O.

use hickory_server::proto::{
    op::ResponseCode,
    rr::{LowerName, Record, RecordType},
};

use super::zone::{Node, ServedZone};

/// CNAME chains inside a zone are followed this far; a longer chain is a loop
/// or a mistake, and is answered as far as it was followed.
const MAX_CNAME_CHAIN: usize = 8;

/// A record the server makes up rather than takes from the zone's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Synthesized {
    /// Nothing.
    Nothing,
    /// The zone's SOA (a query for SOA at the apex).
    Soa,
    /// The zone's NS records (a query for NS at the apex).
    Ns,
    /// The RFC 8482 answer to ANY: one HINFO record "RFC8482" at the query name.
    AnyRefusal,
}

/// The answer to one query from one zone.
#[derive(Debug)]
pub(crate) struct Resolution<'z> {
    /// NOERROR, or NXDOMAIN when the name (or the end of its CNAME chain inside
    /// the zone) does not exist.
    pub(crate) code: ResponseCode,
    /// The zone's records answering the query, CNAMEs first in chain order.
    pub(crate) records: Vec<&'z Record>,
    /// A record of the server's to add after `records`.
    pub(crate) synthesized: Synthesized,
    /// A negative answer (NXDOMAIN or NODATA): the SOA goes in the authority
    /// section so that resolvers know how long to cache it (RFC 2308).
    pub(crate) negative: bool,
}

impl<'z> Resolution<'z> {
    fn positive(records: Vec<&'z Record>, synthesized: Synthesized) -> Self {
        Self {
            code: ResponseCode::NoError,
            records,
            synthesized,
            negative: false,
        }
    }

    fn no_data(records: Vec<&'z Record>) -> Self {
        Self {
            code: ResponseCode::NoError,
            records,
            synthesized: Synthesized::Nothing,
            negative: true,
        }
    }

    fn no_such_name(records: Vec<&'z Record>) -> Self {
        Self {
            code: ResponseCode::NXDomain,
            records,
            synthesized: Synthesized::Nothing,
            negative: true,
        }
    }
}

/// Answers `qname`/`qtype` from `zone`, which must be the zone authoritative
/// for `qname`.
///
/// ANY is answered the RFC 8482 way (one synthesized HINFO record) rather than
/// with every record at the name: it is cheap, cannot be used to amplify, and
/// is what resolvers expect from authoritative servers today.
pub(crate) fn resolve<'z>(
    zone: &'z ServedZone,
    qname: &LowerName,
    qtype: RecordType,
) -> Resolution<'z> {
    let Some(mut node) = zone.nodes.get(qname) else {
        return Resolution::no_such_name(Vec::new());
    };
    if qtype == RecordType::ANY {
        return Resolution::positive(Vec::new(), Synthesized::AnyRefusal);
    }
    let mut at_apex = *qname == zone.lower_origin;
    let mut answer: Vec<&'z Record> = Vec::new();
    for _ in 0..MAX_CNAME_CHAIN {
        if at_apex {
            match qtype {
                RecordType::SOA => return Resolution::positive(answer, Synthesized::Soa),
                RecordType::NS => return Resolution::positive(answer, Synthesized::Ns),
                _ => {}
            }
        }
        match &node.cname {
            Some((cname, _)) if qtype == RecordType::CNAME => {
                answer.push(cname);
                return Resolution::positive(answer, Synthesized::Nothing);
            }
            Some((cname, target)) => {
                answer.push(cname);
                // Outside the zone, the resolver follows the alias itself.
                if !zone.lower_origin.zone_of(target) {
                    return Resolution::positive(answer, Synthesized::Nothing);
                }
                let Some(target_node) = zone.nodes.get(target) else {
                    return Resolution::no_such_name(answer);
                };
                node = target_node;
                at_apex = *target == zone.lower_origin;
            }
            None => return records_of_type(node, qtype, answer),
        }
    }
    Resolution::positive(answer, Synthesized::Nothing)
}

fn records_of_type<'z>(
    node: &'z Node,
    qtype: RecordType,
    mut answer: Vec<&'z Record>,
) -> Resolution<'z> {
    let before = answer.len();
    answer.extend(node.records.iter().filter(|r| r.record_type() == qtype));
    if answer.len() == before {
        Resolution::no_data(answer)
    } else {
        Resolution::positive(answer, Synthesized::Nothing)
    }
}
