//! One query in, one response out: the authoritative logic (RFC 1034 §4.3.2
//! in miniature) over the view, with EDNS0 (RFC 6891) and Client Subnet
//! (RFC 7871). The wire format is hickory-proto's.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::select::Decision;
use super::view::DnsView;

/// The largest UDP response we send to an EDNS client (the DNS flag day
/// 2020 value: no IP fragmentation on common paths).
pub const EDNS_PAYLOAD: u16 = 1232;

/// What became of a query, for the counters.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Answered(ResponseCode),
    /// Too short to carry a header: nothing to answer to.
    Dropped,
}

/// What a response depended on besides the query's bytes and the view: what
/// `cache` needs to know to give the same bytes again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Basis {
    /// Nothing else: the same query gets the same response.
    Fixed,
    /// A host's address answer (the host's index in `DnsView::hosts`): the
    /// decision `decision`, made for `ecs` (the ECS subnet's address) when
    /// the query had one, else for its source.
    Decided { host: usize, ecs: Option<Ipv4Addr>, decision: Decision },
}

/// The response to `query` from `source`, sized for UDP (`udp`) or TCP.
pub fn respond(view: &DnsView, query: &[u8], source: IpAddr, udp: bool) -> (Option<Vec<u8>>, Outcome) {
    let (wire, outcome, _) = respond_on(view, query, source, udp, None);
    (wire, outcome)
}

/// `respond`, with the host's decision `decided` instead of a new one when
/// given, and what the response depended on.
pub fn respond_on(
    view: &DnsView,
    query: &[u8],
    source: IpAddr,
    udp: bool,
    decided: Option<&Decision>,
) -> (Option<Vec<u8>>, Outcome, Basis) {
    let mut basis = Basis::Fixed;
    let (wire, outcome) = build(view, query, source, udp, decided, &mut basis);
    (wire, outcome, basis)
}

fn build(
    view: &DnsView,
    query: &[u8],
    source: IpAddr,
    udp: bool,
    decided: Option<&Decision>,
    basis: &mut Basis,
) -> (Option<Vec<u8>>, Outcome) {
    let q = match Message::from_vec(query) {
        Ok(q) if q.message_type() == MessageType::Query => q,
        Ok(_) => return (None, Outcome::Dropped),
        Err(_) => {
            // Answer FORMERR when there is a header to answer to.
            let Ok(h) = Header::read(&mut BinDecoder::new(query)) else { return (None, Outcome::Dropped) };
            if h.message_type() != MessageType::Query {
                return (None, Outcome::Dropped);
            }
            let r = Message::error_msg(h.id(), h.op_code(), ResponseCode::FormErr);
            return (r.to_vec().ok(), Outcome::Answered(ResponseCode::FormErr));
        }
    };
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_checking_disabled(q.checking_disabled());
    r.add_queries(q.queries().iter().cloned());
    let limit = match q.extensions() {
        Some(e) => {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            r.set_edns(edns);
            e.max_payload().clamp(512, EDNS_PAYLOAD)
        }
        None => 512,
    };
    let rcode = answer(view, &q, source, &mut r, decided, basis);
    r.set_response_code(rcode);
    let Ok(mut wire) = r.to_vec() else {
        let e = Message::error_msg(q.id(), q.op_code(), ResponseCode::ServFail);
        return (e.to_vec().ok(), Outcome::Answered(ResponseCode::ServFail));
    };
    if udp && wire.len() > usize::from(limit) {
        // RFC 2181 §9: a truncated answer has TC set; the client retries over TCP.
        r.take_answers();
        r.take_name_servers();
        r.take_additionals();
        r.set_truncated(true);
        wire = r.to_vec().unwrap_or_default();
    }
    (Some(wire), Outcome::Answered(rcode))
}

/// Fills the sections of `r`; returns its response code.
fn answer(
    view: &DnsView,
    q: &Message,
    source: IpAddr,
    r: &mut Message,
    decided: Option<&Decision>,
    basis: &mut Basis,
) -> ResponseCode {
    if q.op_code() != OpCode::Query {
        return ResponseCode::NotImp;
    }
    let [question] = q.queries() else { return ResponseCode::FormErr };
    if question.query_class() != DNSClass::IN && question.query_class() != DNSClass::ANY {
        return ResponseCode::Refused;
    }
    let name = question.name().to_lowercase();
    let Some(zi) = view.zone_of(&name) else { return ResponseCode::Refused };
    let zone = &view.zones[zi];
    r.set_authoritative(true);
    let qtype = question.query_type();
    let want = |t: RecordType| qtype == t || qtype == RecordType::ANY;

    if let Some((index, host)) = view.host(&name) {
        if want(RecordType::A) {
            let (client, source_prefix) = client_of(q, source);
            let d = match decided {
                Some(d) => d.clone(),
                None => host.decide(client),
            };
            for vip in &d.answers {
                r.add_answer(Record::from_rdata(question.name().clone(), view.ttl, RData::A(A(*vip))));
            }
            if let Some(prefix) = source_prefix {
                // Echo the option with the scope the answer depended on.
                let scope = d.scope.min(prefix);
                let ecs = ClientSubnet::new(IpAddr::V4(client), prefix, scope);
                r.extensions_mut()
                    .get_or_insert_with(Edns::new)
                    .options_mut()
                    .insert(EdnsOption::Subnet(ecs));
            }
            let empty = d.answers.is_empty();
            *basis = Basis::Decided { host: index, ecs: source_prefix.map(|_| client), decision: d };
            if !empty {
                return ResponseCode::NoError;
            }
        }
        r.add_name_server(negative_soa(zone));
        return ResponseCode::NoError;
    }
    if name == zone.name {
        if want(RecordType::SOA) {
            r.add_answer(zone.soa.clone());
        }
        if want(RecordType::NS) {
            r.add_answers(zone.ns.iter().cloned());
            r.add_additionals(zone.glue.iter().cloned());
        }
        if r.answer_count() == 0 {
            r.add_name_server(negative_soa(zone));
        }
        return ResponseCode::NoError;
    }
    let glue: Vec<Record> = zone.glue.iter().filter(|g| *g.name() == name).cloned().collect();
    if !glue.is_empty() {
        if want(RecordType::A) {
            r.add_answers(glue);
        } else {
            r.add_name_server(negative_soa(zone));
        }
        return ResponseCode::NoError;
    }
    r.add_name_server(negative_soa(zone));
    if view.exists(&name) {
        ResponseCode::NoError
    } else {
        ResponseCode::NXDomain
    }
}

/// The SOA for a negative answer: its TTL is the zone's negative TTL (RFC 2308 §3).
fn negative_soa(zone: &super::view::ZoneView) -> Record {
    let mut soa = zone.soa.clone();
    soa.set_ttl(zone.negative_ttl);
    soa
}

/// The client to decide for: the ECS subnet's address when the query has an
/// IPv4 one (with its source prefix), else the packet's source.
fn client_of(q: &Message, source: IpAddr) -> (Ipv4Addr, Option<u8>) {
    let ecs = q.extensions().as_ref().and_then(|e| match e.option(EdnsCode::Subnet) {
        Some(EdnsOption::Subnet(s)) => Some(*s),
        _ => None,
    });
    if let Some(s) = ecs {
        if let IpAddr::V4(a) = s.addr() {
            let p = s.source_prefix().min(32);
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - u32::from(p)) };
            return (Ipv4Addr::from(u32::from(a) & mask), Some(p));
        }
    }
    match source {
        IpAddr::V4(a) => (a, None),
        IpAddr::V6(a) => (a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED), None),
    }
}
