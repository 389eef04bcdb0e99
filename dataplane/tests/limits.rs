//! Exhaustion and failure: a full flow table, an exhausted PIP pool, servers at
//! their connection limit, and real servers going down under established
//! flows. Each refuses or drops only what it must and counts it.

mod common;

use common::{client, server_mac, servers_snapshot, syn_from, udp_from, which, Rig};
use dataplane::counters::{DropReason, Event};
use dataplane::lab::frames::{tcp, Summary};
use dataplane::lab::seed::{self, CLIENT_MAC, DNS, POP3, SITE1, SITE2};
use dataplane::pipeline::{Action, Core, CoreConfig};
use dataplane::snapshot::{DownPolicy, Health, Method, Refuse};
use dataplane::wire::tcp::flags::{ACK, PSH, RST};

fn data_from_client(port: u16, payload: &[u8]) -> Vec<u8> {
    tcp(CLIENT_MAC, SITE1.mac, client(port), SITE1.vip_port(POP3), PSH | ACK, 2, 1, payload)
}

#[test]
fn a_full_table_refuses_new_flows_and_keeps_the_old_ones() {
    let mut rig = Rig::new(servers_snapshot(Method::RoundRobin, &[1, 1]), 8);
    let mut dst = Vec::new();
    for p in 0..8 {
        dst.push(rig.forward(&syn_from(client(p), SITE1.vip_port(POP3))).dst);
    }
    let (action, _) = rig.send(&syn_from(client(100), SITE1.vip_port(POP3)));
    assert_eq!(action, Action::Drop(DropReason::FlowTableFull));
    assert_eq!(rig.core.counters.dropped(DropReason::FlowTableFull), 1);
    for p in 0..8 {
        let s = rig.forward(&data_from_client(p, b"still here"));
        assert_eq!(s.dst, dst[usize::from(p)], "flow {p} moved");
        assert_eq!(s.payload, b"still here");
    }
    assert_eq!(rig.core.flows.len(), 8);
}

#[test]
fn an_exhausted_pip_pool_refuses_proxied_flows_until_a_port_is_freed() {
    let snap = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin).build().expect("valid");
    // A core that owns only four ports of the PIP.
    let core =
        Core::new(CoreConfig::default(), &snap, 0, |_, port| (2000..2004).contains(&port)).expect("memory");
    let mut rig = Rig { core, snap, now: 0 };
    seed::set_servers_in(&mut rig.snap, Health::Down);
    rig.core.on_snapshot(&rig.snap);

    let mut ports = Vec::new();
    for p in 0..4 {
        let s = rig.forward(&syn_from(client(p), SITE1.vip_port(POP3)));
        assert_eq!(*s.src.ip(), SITE1.pip);
        assert_eq!(s.dst, SITE2.vip_port(POP3));
        ports.push(s.src.port());
    }
    ports.sort_unstable();
    assert_eq!(ports, vec![2000, 2001, 2002, 2003]);
    assert_eq!(
        rig.send(&syn_from(client(9), SITE1.vip_port(POP3))).0,
        Action::Drop(DropReason::PipExhausted)
    );
    assert_eq!(rig.core.counters.dropped(DropReason::PipExhausted), 1);

    // Site 2 resets one proxied connection; once it ages out its port is reused.
    let rst = tcp(
        SITE2.mac,
        SITE1.mac,
        SITE2.vip_port(POP3),
        std::net::SocketAddrV4::new(SITE1.pip, 2000),
        RST,
        0,
        0,
        b"",
    );
    rig.forward(&rst);
    rig.advance(5_000);
    assert_eq!(rig.core.pips.in_use(), 3);
    let s = rig.forward(&syn_from(client(9), SITE1.vip_port(POP3)));
    assert_eq!(s.src.port(), 2000);
}

#[test]
fn a_server_at_its_connection_limit_takes_no_more() {
    let mut snap = servers_snapshot(Method::RoundRobin, &[1, 1]);
    snap.real_servers[0].max_conns = 2;
    snap.real_servers[1].max_conns = 1;
    let mut rig = Rig::new(snap, 64);
    let got: Vec<usize> =
        (0..3).map(|p| which(&rig.forward(&syn_from(client(p), SITE1.vip_port(POP3))))).collect();
    assert_eq!(got, vec![0, 1, 0]);
    // Both full: the service proxies to site 2 instead.
    let s = rig.forward(&syn_from(client(3), SITE1.vip_port(POP3)));
    assert_eq!((*s.src.ip(), s.dst), (SITE1.pip, SITE2.vip_port(POP3)));
}

#[test]
fn keep_policy_lets_a_flow_to_a_down_server_finish() {
    let mut rig = Rig::new(servers_snapshot(Method::RoundRobin, &[1]), 64);
    let first = rig.forward(&syn_from(client(1), SITE1.vip_port(POP3)));
    rig.update(|s| s.real_servers[0].health = Health::Down);
    let s = rig.forward(&data_from_client(1, b"more"));
    assert_eq!(s.dst, first.dst);
    // New connections no longer go there: they are proxied.
    let n = rig.forward(&syn_from(client(2), SITE1.vip_port(POP3)));
    assert_eq!(n.dst, SITE2.vip_port(POP3));
}

#[test]
fn drop_policy_ends_a_flow_to_a_down_server_at_once() {
    let mut rig = Rig::new(servers_snapshot(Method::RoundRobin, &[1]), 64);
    rig.update(|s| s.services[0].on_server_down = DownPolicy::Drop);
    let first = rig.forward(&syn_from(client(1), SITE1.vip_port(POP3)));
    assert_eq!(rig.core.select.conns(0), 1);
    rig.update(|s| s.real_servers[0].health = Health::Down);
    assert_eq!(rig.send(&data_from_client(1, b"more")).0, Action::Drop(DropReason::RealServerDown));
    assert_eq!(rig.core.flows.len(), 0);
    assert_eq!(rig.core.select.conns(0), 0);
    // The server's late reply finds no flow and is not forwarded to the client.
    let reply = tcp(server_mac(0), SITE1.mac, first.dst, first.src, ACK, 1, 2, b"");
    assert!(matches!(rig.send(&reply).0, Action::Drop(DropReason::NotOurAddress)));
}

#[test]
fn a_disabled_server_finishes_its_flows_but_takes_no_new_ones() {
    let mut rig = Rig::new(servers_snapshot(Method::RoundRobin, &[1, 1]), 64);
    let a = rig.forward(&syn_from(client(1), SITE1.vip_port(POP3)));
    let disabled = which(&a);
    rig.update(|s| s.real_servers[disabled].health = Health::Disabled);
    assert_eq!(rig.forward(&data_from_client(1, b"x")).dst, a.dst);
    for p in 2..10 {
        assert_ne!(which(&rig.forward(&syn_from(client(p), SITE1.vip_port(POP3)))), disabled);
    }
}

#[test]
fn udp_is_balanced_and_its_replies_come_from_the_vip() {
    let mut rig = Rig::new(servers_snapshot(Method::RoundRobin, &[1, 1]), 64);
    let q = rig.forward(&udp_from(client(5353), SITE1.vip_port(DNS), b"query"));
    assert_eq!(q.src, client(5353));
    assert_eq!(q.dst.port(), DNS);
    let server = which(&q);
    let reply = dataplane::lab::frames::udp(server_mac(server), SITE1.mac, q.dst, q.src, b"answer");
    let r = rig.forward(&reply);
    assert_eq!((r.src, r.dst), (SITE1.vip_port(DNS), client(5353)));
    assert_eq!((r.src_mac, r.dst_mac), (SITE1.mac, CLIENT_MAC));
    // The same client port keeps its server; the flow ages after the UDP
    // timeout (and the 1/64 of it the table may let it linger).
    assert_eq!(which(&rig.forward(&udp_from(client(5353), SITE1.vip_port(DNS), b"again"))), server);
    let udp_ms = u64::from(rig.snap.timeouts.udp_ms);
    rig.advance(udp_ms + udp_ms / 64 + 1_000);
    assert!(rig.core.flows.is_empty());
    assert_eq!(rig.core.counters.event(Event::FlowsExpiredLocal), 1);
}

#[test]
fn refused_udp_gets_an_icmp_port_unreachable_quoting_it() {
    let mut rig = Rig::new(servers_snapshot(Method::RoundRobin, &[1]), 64);
    rig.update(|s| {
        s.real_servers[0].health = Health::Down;
        s.sites[0].reachable = false;
        s.services[2].refuse = Refuse::Unreachable;
    });
    let (action, out) = rig.send(&udp_from(client(5353), SITE1.vip_port(DNS), b"query"));
    assert!(matches!(action, Action::Tx(_)));
    let icmp = Summary::parse(&out).expect("ICMP");
    assert!(icmp.checksums_ok);
    assert_eq!((*icmp.src.ip(), *icmp.dst.ip(), icmp.flags), (SITE1.vip, *client(0).ip(), 3));
    // The quoted datagram starts after the unused word: its IP header names the VIP.
    let quoted = &icmp.payload;
    assert_eq!(&quoted[16..20], &SITE1.vip.octets());
    assert_eq!(u16::from_be_bytes([quoted[22], quoted[23]]), DNS);
    assert_eq!(rig.core.counters.dropped(DropReason::NoResource), 1);
    assert_eq!(rig.core.counters.event(Event::UnreachablesSent), 1);
}

#[test]
fn refusal_can_be_silent() {
    let mut rig = Rig::new(servers_snapshot(Method::RoundRobin, &[1]), 64);
    rig.update(|s| {
        s.real_servers[0].health = Health::Down;
        s.services[0].remotes[0].healthy = false;
        s.services[0].refuse = Refuse::Drop;
    });
    assert_eq!(rig.send(&syn_from(client(1), SITE1.vip_port(POP3))).0, Action::Drop(DropReason::NoResource));
    assert_eq!(rig.core.counters.event(Event::ResetsSent), 0);
}

#[test]
fn per_server_connections_count_up_and_down() {
    let mut rig = Rig::new(servers_snapshot(Method::RoundRobin, &[1, 1]), 64);
    let got: Vec<usize> =
        (0..3).map(|p| which(&rig.forward(&syn_from(client(p), SITE1.vip_port(POP3))))).collect();
    assert_eq!(got, vec![0, 1, 0]);
    assert_eq!(rig.core.counters.server(0), (2, 2));
    assert_eq!(rig.core.counters.server(1), (1, 1));
    // The client resets its first connection; once the entry ages out the
    // server has one connection fewer, and its total stays.
    rig.forward(&tcp(CLIENT_MAC, SITE1.mac, client(0), SITE1.vip_port(POP3), RST, 2, 0, b""));
    rig.advance(5_000);
    assert_eq!(rig.core.counters.server(0), (1, 2));
    assert_eq!(rig.core.counters.server(1), (1, 1));
    assert_eq!(rig.core.counters.server(4095), (0, 0), "unused slots stay at zero");
}
