//! The hickory-server request handler answering from the [`ZoneStore`]: header
//! and EDNS handling, the records the server adds from its settings (SOA, NS),
//! and the REFUSED/NOTIMP/FORMERR answers for what it does not serve.

use std::iter;

use hickory_server::{
    net::runtime::Time,
    proto::{
        op::{Edns, MessageType, Metadata, OpCode, ResponseCode},
        rr::{
            DNSClass, Name, RData, Record, RecordType,
            rdata::{HINFO, NS, SOA},
        },
    },
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponseBuilder,
};

use super::{
    DnsError, DnsSettings, ZoneStore,
    answer::{Synthesized, resolve},
    zone::{ServedZone, parse_host_name},
};

/// The EDNS version this server speaks.
const EDNS_VERSION: u8 = 0;

/// Answers queries from the zones in the store, as their authoritative server.
pub(crate) struct ZoneRequestHandler {
    store: ZoneStore,
    apex: ApexRecords,
}

impl ZoneRequestHandler {
    pub(crate) fn new(store: ZoneStore, settings: &DnsSettings) -> Result<Self, DnsError> {
        Ok(Self {
            store,
            apex: ApexRecords::from_settings(settings)?,
        })
    }
}

/// What the SOA and NS records of every zone are made of.
struct ApexRecords {
    primary: Name,
    name_servers: Vec<Name>,
    hostmaster: Name,
    refresh: i32,
    retry: i32,
    expire: i32,
    minimum: u32,
    ttl: u32,
}

impl ApexRecords {
    fn from_settings(settings: &DnsSettings) -> Result<Self, DnsError> {
        let name_servers = settings
            .name_servers
            .iter()
            .map(|ns| {
                parse_host_name(ns).map_err(|reason| DnsError::InvalidSettings {
                    setting: "name_servers",
                    reason: format!("{ns:?}: {reason}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let Some(primary) = name_servers.first().cloned() else {
            return Err(DnsError::InvalidSettings {
                setting: "name_servers",
                reason: "at least one name server is needed".to_owned(),
            });
        };
        let hostmaster =
            parse_host_name(&settings.hostmaster).map_err(|reason| DnsError::InvalidSettings {
                setting: "hostmaster",
                reason: format!("{:?}: {reason}", settings.hostmaster),
            })?;
        // The SOA timers are signed 32-bit on the wire.
        let timer = |setting: &'static str, secs: u32| {
            i32::try_from(secs).map_err(|_| DnsError::InvalidSettings {
                setting,
                reason: format!("{secs} is over 2^31 - 1 seconds"),
            })
        };
        Ok(Self {
            primary,
            name_servers,
            hostmaster,
            refresh: timer("soa_refresh_secs", settings.soa_refresh_secs)?,
            retry: timer("soa_retry_secs", settings.soa_retry_secs)?,
            expire: timer("soa_expire_secs", settings.soa_expire_secs)?,
            minimum: settings.soa_minimum_secs,
            ttl: settings.ns_soa_ttl_secs,
        })
    }

    fn soa(&self, zone: &ServedZone, ttl: u32) -> Record {
        let soa = SOA::new(
            self.primary.clone(),
            self.hostmaster.clone(),
            zone.zone.serial,
            self.refresh,
            self.retry,
            self.expire,
            self.minimum,
        );
        Record::from_rdata(zone.origin.clone(), ttl, RData::SOA(soa))
    }

    /// The SOA of a negative answer: its TTL is how long the absence is cached,
    /// the lesser of the SOA's TTL and MINIMUM (RFC 2308 §5).
    fn negative_soa(&self, zone: &ServedZone) -> Record {
        self.soa(zone, self.ttl.min(self.minimum))
    }

    fn ns(&self, zone: &ServedZone) -> impl Iterator<Item = Record> {
        self.name_servers
            .iter()
            .map(|ns| Record::from_rdata(zone.origin.clone(), self.ttl, RData::NS(NS(ns.clone()))))
    }
}

#[async_trait::async_trait]
impl RequestHandler for ZoneRequestHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let mut response_edns = None;
        if let Some(request_edns) = &request.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(request_edns.max_payload().max(512));
            edns.set_version(EDNS_VERSION);
            if request_edns.version() > EDNS_VERSION {
                return send_error(request, ResponseCode::BADVERS, Some(edns), response_handle)
                    .await;
            }
            response_edns = Some(edns);
        }

        if request.metadata.message_type != MessageType::Query {
            return send_error(
                request,
                ResponseCode::FormErr,
                response_edns,
                response_handle,
            )
            .await;
        }
        if request.metadata.op_code != OpCode::Query {
            // NOTIFY, UPDATE and the rest: this server only answers queries.
            return send_error(
                request,
                ResponseCode::NotImp,
                response_edns,
                response_handle,
            )
            .await;
        }
        let Ok(info) = request.request_info() else {
            // Not exactly one question.
            return send_error(
                request,
                ResponseCode::FormErr,
                response_edns,
                response_handle,
            )
            .await;
        };
        let query = info.query;
        let qtype = query.query_type();
        // Zone transfers are not offered (the zones come from the event log,
        // secondaries run ferry too), nor classes other than IN.
        if query.query_class() != DNSClass::IN
            || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            return send_error(
                request,
                ResponseCode::Refused,
                response_edns,
                response_handle,
            )
            .await;
        }
        let Some(zone) = self.store.zone_for(query.name()) else {
            return send_error(
                request,
                ResponseCode::Refused,
                response_edns,
                response_handle,
            )
            .await;
        };

        let resolution = resolve(&zone, query.name(), qtype);
        let synthesized: Vec<Record> = match resolution.synthesized {
            Synthesized::Nothing => Vec::new(),
            Synthesized::Soa => vec![self.apex.soa(&zone, self.apex.ttl)],
            Synthesized::Ns => self.apex.ns(&zone).collect(),
            Synthesized::AnyRefusal => vec![Record::from_rdata(
                query.name().into(),
                self.apex.ttl,
                RData::HINFO(HINFO::new("RFC8482".to_owned(), String::new())),
            )],
        };
        let authority: Option<Record> = resolution.negative.then(|| self.apex.negative_soa(&zone));

        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        metadata.response_code = resolution.code;
        let answers = resolution.records.iter().copied().chain(synthesized.iter());
        let response = MessageResponseBuilder::new(&request.queries, response_edns.as_ref()).build(
            metadata,
            answers,
            iter::empty(),
            authority.iter(),
            iter::empty(),
        );
        send(request, response_handle, response).await
    }
}

async fn send<'a, R: ResponseHandler>(
    request: &Request,
    mut response_handle: R,
    response: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> ResponseInfo {
    match response_handle.send_response(response).await {
        Ok(info) => info,
        Err(error) => {
            // The client went away (closed TCP connection) or the response
            // could not be encoded; nothing else to do for this query.
            tracing::debug!(%error, "DNS response not sent");
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(hickory_server::proto::op::Header {
                metadata,
                counts: Default::default(),
            })
        }
    }
}

async fn send_error<R: ResponseHandler>(
    request: &Request,
    code: ResponseCode,
    mut edns: Option<Edns>,
    response_handle: R,
) -> ResponseInfo {
    // Extended response codes (BADVERS) keep their high bits in the OPT record.
    if let Some(edns) = &mut edns {
        edns.set_rcode_high(code.high());
    }
    let response = MessageResponseBuilder::new(&request.queries, edns.as_ref())
        .error_msg(&request.metadata, code);
    send(request, response_handle, response).await
}
