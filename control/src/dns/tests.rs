//! The authoritative answers, query by query, from a configuration like the
//! lab's: two sites, a zone, a host per service.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};

use super::answer::respond;
use super::{DnsView, SiteInputs};
use crate::config::Config;
use crate::sitestate::node::RemoteStatus;

const CONF: &str = r#"
[eal]
lcores = "0-1"
file_prefix = "t"
[port]
device = "net_af_packet0"
[kernel]
device = "net_tap0"
addresses = ["198.51.100.1/24"]
[site]
name = "site1"
pips = ["192.0.2.200"]
[site_state]
listen = "198.51.100.1:3011"
key = "k"
[[remote_site]]
name = "site2"
peer = "203.0.113.1:3011"
next_hop = "198.51.100.254"
[[real_server]]
name = "pop1"
address = "10.1.0.21"
[[group]]
name = "pop"
method = "round_robin"
members = ["pop1"]
[[service]]
name = "pop3"
vip = "192.0.2.10"
port = 110
protocol = "tcp"
group = "pop"
remotes = [{ site = "site2", vip = "203.0.113.10" }]
[dns]
listen = ["127.0.0.1:25353"]
ttl = 60
[[dns.zone]]
name = "gslb.example.org"
ns = [{ name = "ns1.gslb.example.org", address = "198.51.100.1" }, { name = "ns.example.net" }]
hostmaster = "hostmaster.example.org"
negative_ttl = 15
[[dns.host]]
name = "pop.gslb.example.org"
service = "pop3"
rules = ["availability", "proximity", "failover"]
proximity = [{ subnet = "203.0.113.0/24", sites = ["site2"] }]
"#;

fn remote(reachable: bool, healthy: bool) -> RemoteStatus {
    RemoteStatus {
        name: "site2".into(),
        reachable,
        age: Some(Duration::from_millis(100)),
        load_permille: 10,
        services: HashMap::from([("pop3".to_string(), healthy)]),
        accepted: 1,
        refused: HashMap::new(),
    }
}

pub(super) fn view(local: Option<bool>, site2: Option<RemoteStatus>) -> DnsView {
    let c = Config::parse(Path::new("t.toml"), CONF).expect("valid config");
    let local = HashMap::from([("pop3".to_string(), local)]);
    let remotes: Vec<RemoteStatus> = site2.into_iter().collect();
    DnsView::build(&c.file, &SiteInputs { local: &local, local_load: 100, remotes: &remotes }, None)
        .expect("a view")
}

pub(super) fn query(name: &str, t: RecordType, ecs: Option<(Ipv4Addr, u8)>) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(0x4242)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), t));
    if let Some((a, p)) = ecs {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::new(IpAddr::V4(a), p, 0)));
        m.set_edns(e);
    }
    m.to_vec().expect("encode")
}

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

fn ask(v: &DnsView, name: &str, t: RecordType) -> Message {
    let (r, _) = respond(v, &query(name, t, None), CLIENT, true);
    Message::from_vec(&r.expect("a response")).expect("decodes")
}

pub(super) fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[test]
fn a_host_is_answered_with_the_healthy_sites_vip() {
    let v = view(Some(true), Some(remote(true, true)));
    let m = ask(&v, "pop.gslb.example.org.", RecordType::A);
    assert_eq!((m.id(), m.response_code(), m.authoritative()), (0x4242, ResponseCode::NoError, true));
    assert!(m.recursion_desired() && !m.recursion_available());
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)], "failover: site 1 first");
    assert_eq!(m.answers()[0].ttl(), 60);
    // Names are case-insensitive (RFC 4343); the question is echoed as asked.
    let m = ask(&v, "POP.Gslb.Example.ORG.", RecordType::A);
    assert_eq!(a_records(&m).len(), 1);
    assert_eq!(m.queries()[0].name().to_ascii(), "POP.Gslb.Example.ORG.");
}

#[test]
fn site_health_moves_the_answer() {
    let site2 = Ipv4Addr::new(203, 0, 113, 10);
    assert_eq!(
        a_records(&ask(&view(Some(false), Some(remote(true, true))), "pop.gslb.example.org.", RecordType::A)),
        vec![site2]
    );
    // Site 2 unreachable, site 1 down: the last good answer (none yet: empty, with the SOA).
    let v = view(Some(false), Some(remote(false, true)));
    let m = ask(&v, "pop.gslb.example.org.", RecordType::A);
    assert!(a_records(&m).is_empty());
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
    // Nothing known yet about either site: nothing is answered.
    let m = ask(&view(None, None), "pop.gslb.example.org.", RecordType::A);
    assert!(a_records(&m).is_empty());
}

#[test]
fn client_subnet_picks_by_proximity_and_is_echoed_with_its_scope() {
    let v = view(Some(true), Some(remote(true, true)));
    let q = query("pop.gslb.example.org.", RecordType::A, Some((Ipv4Addr::new(203, 0, 113, 99), 24)));
    let m = Message::from_vec(&respond(&v, &q, CLIENT, true).0.expect("response")).expect("decodes");
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(203, 0, 113, 10)]);
    let edns = m.extensions().as_ref().expect("an OPT record in the response");
    assert_eq!(edns.max_payload(), 1232);
    match edns.option(EdnsCode::Subnet) {
        Some(EdnsOption::Subnet(s)) => {
            assert_eq!(
                (s.addr(), s.source_prefix(), s.scope_prefix()),
                (IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)), 24, 24)
            )
        }
        other => panic!("no client subnet echoed: {other:?}"),
    }
    // A client elsewhere is not moved; its answer did not depend on its subnet.
    let q = query("pop.gslb.example.org.", RecordType::A, Some((Ipv4Addr::new(10, 9, 8, 0), 24)));
    let m = Message::from_vec(&respond(&v, &q, CLIENT, true).0.expect("response")).expect("decodes");
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)]);
}

#[test]
fn zone_apex_has_soa_and_ns_with_glue() {
    let v = view(Some(true), None);
    let m = ask(&v, "gslb.example.org.", RecordType::SOA);
    match m.answers()[0].data() {
        RData::SOA(soa) => {
            assert_eq!(soa.mname().to_ascii(), "ns1.gslb.example.org.");
            assert_eq!(soa.minimum(), 15);
        }
        other => panic!("not an SOA: {other:?}"),
    }
    let m = ask(&v, "gslb.example.org.", RecordType::NS);
    assert_eq!(m.answers().len(), 2);
    assert_eq!(m.additionals().len(), 1, "glue only for the in-zone name server");
    assert_eq!(
        a_records(&ask(&v, "ns1.gslb.example.org.", RecordType::A)),
        vec![Ipv4Addr::new(198, 51, 100, 1)]
    );
}

#[test]
fn negative_answers() {
    let v = view(Some(true), None);
    let m = ask(&v, "nope.gslb.example.org.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert_eq!((m.name_servers()[0].record_type(), m.name_servers()[0].ttl()), (RecordType::SOA, 15));
    // The host exists but has no AAAA: NODATA, not NXDOMAIN.
    let m = ask(&v, "pop.gslb.example.org.", RecordType::AAAA);
    assert_eq!((m.response_code(), m.answers().len()), (ResponseCode::NoError, 0));
    // An empty non-terminal exists too.
    assert_eq!(ask(&v, "gslb.example.org.", RecordType::A).response_code(), ResponseCode::NoError);
    let v2 = view(Some(true), None);
    let m = ask(&v2, "www.example.com.", RecordType::A);
    assert_eq!((m.response_code(), m.authoritative()), (ResponseCode::Refused, false));
}

#[test]
fn malformed_queries_get_formerr_or_nothing() {
    let v = view(Some(true), None);
    let mut q = query("pop.gslb.example.org.", RecordType::A, None);
    q.truncate(q.len() - 3);
    let (r, _) = respond(&v, &q, CLIENT, true);
    let m = Message::from_vec(&r.expect("a FORMERR")).expect("decodes");
    assert_eq!((m.id(), m.response_code()), (0x4242, ResponseCode::FormErr));
    assert!(respond(&v, &[1, 2, 3], CLIENT, true).0.is_none(), "no header, no answer");
    // A response is never answered (no loops between servers).
    let mut r = Message::from_vec(&query("pop.gslb.example.org.", RecordType::A, None)).expect("decodes");
    r.set_message_type(MessageType::Response);
    assert!(respond(&v, &r.to_vec().expect("encode"), CLIENT, true).0.is_none());
}

#[test]
fn served_over_udp_and_tcp() {
    use std::io::{Read, Write};
    let shared: super::SharedView =
        std::sync::Arc::new(arc_swap::ArcSwapOption::from_pointee(view(Some(true), None)));
    let addr = "127.0.0.1:25353".parse().expect("addr");
    let stats = std::sync::Arc::new(super::DnsStats::default());
    let server = super::DnsServer::start(&[addr], None, shared, stats.clone()).expect("listening");
    let q = query("pop.gslb.example.org.", RecordType::A, None);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    udp.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    udp.send_to(&q, addr).expect("send");
    let mut buf = [0u8; 512];
    let n = udp.recv(&mut buf).expect("a UDP answer");
    assert_eq!(
        a_records(&Message::from_vec(&buf[..n]).expect("decodes")),
        vec![Ipv4Addr::new(192, 0, 2, 10)]
    );
    let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    for _ in 0..2 {
        tcp.write_all(&(q.len() as u16).to_be_bytes()).expect("write");
        tcp.write_all(&q).expect("write");
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).expect("length");
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tcp.read_exact(&mut msg).expect("message");
        assert_eq!(a_records(&Message::from_vec(&msg).expect("decodes")).len(), 1);
    }
    assert_eq!(stats.tcp_queries.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(stats.answered()[0], ("NOERROR", 3));
    server.stop();
}

/// The DNS thread's path: a query frame from the data path becomes the
/// answer frame in the same buffer, as the kernel socket would have sent it.
#[test]
fn answered_in_the_query_buffer() {
    use dataplane::lab::frames;
    use dataplane::port::{MemBuf, PacketBuf};
    use dataplane::turnaround::datagram;
    use dataplane::wire::MacAddr;
    use std::net::SocketAddrV4;
    use std::sync::atomic::Ordering::Relaxed;

    let me = MacAddr([2, 0, 0, 0, 0, 1]);
    let client_mac = MacAddr([2, 0, 0, 0, 0, 7]);
    let asker = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 40_000);
    let server = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 53);
    let v = view(Some(true), None);
    let stats = super::DnsStats::default();
    let mut answerer = super::ring::Answerer::default();
    let q = query("pop.gslb.example.org.", RecordType::A, None);
    let mut buf = MemBuf::new();
    buf.fill(&frames::udp(client_mac, me, asker, server, &q));
    assert!(answerer.answer_in_place(&mut buf, Some(&v), me, &stats));
    let d = datagram(buf.data()).expect("a sound UDP datagram");
    assert_eq!((d.src, d.dst), (server, asker));
    assert_eq!(&buf.data()[..12], &[client_mac.0, me.0].concat()[..]);
    let m = Message::from_vec(&buf.data()[d.payload]).expect("decodes");
    assert_eq!((m.id(), m.message_type()), (0x4242, MessageType::Response));
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    assert_eq!(stats.answered()[0], ("NOERROR", 1));

    // A corrupted query is dropped and counted; so is one before any view.
    let mut bad = frames::udp(client_mac, me, asker, server, &q);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    buf.fill(&bad);
    assert!(!answerer.answer_in_place(&mut buf, Some(&v), me, &stats));
    assert_eq!(stats.bad_checksum.load(Relaxed), 1);
    buf.fill(&frames::udp(client_mac, me, asker, server, &q));
    assert!(!answerer.answer_in_place(&mut buf, None, me, &stats));
    // A response is not answered (no loops between servers).
    let mut r = Message::from_vec(&q).expect("decodes");
    r.set_message_type(MessageType::Response);
    buf.fill(&frames::udp(client_mac, me, asker, server, &r.to_vec().expect("encodes")));
    assert!(!answerer.answer_in_place(&mut buf, Some(&v), me, &stats));
    assert_eq!(stats.answered()[0], ("NOERROR", 1));
}

/// Which UDP endpoints the data path gives to the DNS thread: the own
/// addresses the DNS listens on (all of them for a wildcard), once each;
/// an address that is not the appliance's own stays the kernel's.
#[test]
fn the_data_path_answers_on_the_own_addresses_listened_on() {
    let own = [Ipv4Addr::new(198, 51, 100, 1), Ipv4Addr::new(198, 51, 100, 2)];
    let listen = |l: &str| {
        let text = CONF.replace(r#"listen = ["127.0.0.1:25353"]"#, &format!("listen = [{l}]"));
        let c = Config::parse(Path::new("t.toml"), &text).expect("valid config");
        crate::snapshot::dns_endpoints(&c.file, &own).into_iter().map(|e| e.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(listen(r#""127.0.0.1:53""#), Vec::<String>::new());
    assert_eq!(listen(r#""198.51.100.2:53", "127.0.0.1:53""#), ["198.51.100.2:53"]);
    assert_eq!(
        listen(r#""0.0.0.0:53", "198.51.100.1:53", "198.51.100.1:5353""#),
        ["198.51.100.1:53", "198.51.100.2:53", "198.51.100.1:5353"]
    );
}

/// The response cache changes how a response is made, never what it says:
/// the same queries, in the same order, get byte for byte what `respond`
/// gives on an identical view (decisions advance alike on both), and a new
/// view is answered from, not the old entries.
#[test]
fn cached_responses_are_the_responses() {
    use super::cache::AnswerCache;
    use std::sync::Arc;

    let conf = format!(
        "{CONF}\n[[dns.host]]\nname = \"rr.gslb.example.org\"\nservice = \"pop3\"\nrules = [\"round_robin\"]\n"
    );
    let build_from = |text: &str, local: Option<bool>| {
        let c = Config::parse(Path::new("t.toml"), text).expect("valid config");
        let local = HashMap::from([("pop3".to_string(), local)]);
        let remotes = [remote(true, true)];
        let inputs = SiteInputs { local: &local, local_load: 5, remotes: &remotes };
        Arc::new(DnsView::build(&c.file, &inputs, None).expect("a view"))
    };
    let build = |local: Option<bool>| build_from(&conf, local);
    let (cached_view, plain_view) = (build(Some(true)), build(Some(true)));
    let with_id = |mut q: Vec<u8>, id: u16| {
        q[..2].copy_from_slice(&id.to_be_bytes());
        q
    };
    let mut queries = vec![
        query("pop.gslb.example.org.", RecordType::A, None),
        query("POP.gslb.example.org.", RecordType::A, None),
        query("rr.gslb.example.org.", RecordType::A, None),
        query("rr.gslb.example.org.", RecordType::A, Some((Ipv4Addr::new(203, 0, 113, 9), 24))),
        query("pop.gslb.example.org.", RecordType::A, Some((Ipv4Addr::new(203, 0, 113, 9), 24))),
        query("pop.gslb.example.org.", RecordType::AAAA, None),
        query("gslb.example.org.", RecordType::SOA, None),
        query("gslb.example.org.", RecordType::NS, None),
        query("nope.gslb.example.org.", RecordType::A, None),
        query("www.example.com.", RecordType::A, None),
    ];
    let mut short = query("pop.gslb.example.org.", RecordType::A, None);
    short.truncate(short.len() - 3);
    queries.push(short);
    queries.push(vec![1, 2, 3]);

    let mut cache = AnswerCache::default();
    let mut out = Vec::new();
    let sources = [Ipv4Addr::new(198, 51, 100, 7), Ipv4Addr::new(203, 0, 113, 7)];
    let mut rr_answers = std::collections::HashSet::new();
    for round in 0..6u16 {
        for (i, q) in queries.iter().enumerate() {
            let q = if q.len() >= 12 { with_id(q.clone(), round * 100 + i as u16) } else { q.clone() };
            let source = sources[usize::from(round) % 2];
            let outcome = cache.respond(&cached_view, &q, source, &mut out);
            let (plain, plain_outcome) = respond(&plain_view, &q, IpAddr::V4(source), true);
            assert_eq!(outcome, plain_outcome, "query {i}, round {round}");
            assert_eq!(out, plain.unwrap_or_default(), "query {i}, round {round}: the same bytes");
            if i == 2 || i == 3 {
                rr_answers.extend(a_records(&Message::from_vec(&out).expect("decodes")));
            }
        }
    }
    assert_eq!(rr_answers.len(), 2, "round robin still turns through the cache: {rr_answers:?}");
    assert!(cache.hits >= 40, "repeated queries are served from the cache ({} hits)", cache.hits);

    // Site 1 goes down: a view from the same configuration, and the answer
    // follows it at once.
    let down = build(Some(false));
    cache.respond(&down, &with_id(queries[0].clone(), 7), sources[0], &mut out);
    assert_eq!(a_records(&Message::from_vec(&out).expect("decodes")), vec![Ipv4Addr::new(203, 0, 113, 10)]);
    // A reload with another TTL: nothing made under the old one is given.
    let mut reloaded = build_from(&conf.replace("ttl = 60", "ttl = 30"), Some(true));
    Arc::get_mut(&mut reloaded).expect("only holder").config = 1;
    for q in [&queries[0], &queries[6]] {
        cache.respond(&reloaded, &with_id(q.clone(), 8), sources[0], &mut out);
        let (plain, _) = respond(&reloaded, &with_id(q.clone(), 8), IpAddr::V4(sources[0]), true);
        assert_eq!(out, plain.expect("an answer"), "after the reload");
    }
    cache.respond(&reloaded, &with_id(queries[0].clone(), 9), sources[0], &mut out);
    let m = Message::from_vec(&out).expect("decodes");
    assert_eq!(m.answers().iter().map(|r| r.ttl()).collect::<Vec<_>>(), [30], "the new TTL");
}
