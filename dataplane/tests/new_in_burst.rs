//! A burst's new connections are decided in one pass and opened in the next.
//! Several packets of one new connection in the same burst must still make
//! one flow and all follow it, in order, whatever the selection method
//! would have chosen for the later ones; a plan that lost to an earlier
//! packet gives back what it took; and the burst's later choices already
//! count its earlier ones against the servers' limits.

use std::net::SocketAddrV4;

use dataplane::counters::DropReason;
use dataplane::flow::State;
use dataplane::lab::frames::{tcp, udp, Summary};
use dataplane::lab::seed::{self, CLIENT, CLIENT_MAC, DNS, POP3, SITE1, SITE2};
use dataplane::pipeline::{Core, CoreConfig};
use dataplane::port::MemoryPort;
use dataplane::snapshot::{Health, Method, Publisher};
use dataplane::wire::tcp::flags::{ACK, RST, SYN};
use dataplane::worker::Worker;

fn worker(servers_up: bool) -> Worker<MemoryPort> {
    limited_worker(servers_up, 0)
}

fn limited_worker(servers_up: bool, max_conns: u32) -> Worker<MemoryPort> {
    let mut snap = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin);
    for r in snap.real_servers.iter_mut() {
        r.max_conns = max_conns;
        if !servers_up {
            r.health = Health::Down;
        }
    }
    let snap = snap.build().expect("snapshot");
    let publisher = Publisher::new(snap.clone());
    let core = Core::with_port_share(CoreConfig { flow_capacity: 1024, ..CoreConfig::default() }, &snap, 0)
        .expect("memory");
    Worker::new(core, MemoryPort::new(256), publisher.subscribe())
}

fn sent(w: &mut Worker<MemoryPort>) -> Vec<Summary> {
    while w.poll(0) > 0 {}
    w.port.take_tx().iter().map(|f| Summary::parse(f).expect("a TCP or UDP frame")).collect()
}

#[test]
fn packets_of_one_new_connection_in_a_burst_share_its_flow_in_order() {
    let mut w = worker(true);
    let client = |p: u16| SocketAddrV4::new(CLIENT, p);
    let (dns, pop3) = (SITE1.vip_port(DNS), SITE1.vip_port(POP3));
    // One burst: three datagrams of one new flow, with other new
    // connections between them (round robin turns to the other server for
    // each), and a SYN sent twice.
    let frames = [
        udp(CLIENT_MAC, SITE1.mac, client(5000), dns, b"one"),
        tcp(CLIENT_MAC, SITE1.mac, client(6000), pop3, SYN, 1, 0, b""),
        udp(CLIENT_MAC, SITE1.mac, client(5000), dns, b"two"),
        tcp(CLIENT_MAC, SITE1.mac, client(6001), pop3, SYN, 1, 0, b""),
        tcp(CLIENT_MAC, SITE1.mac, client(6000), pop3, SYN, 1, 0, b""),
        udp(CLIENT_MAC, SITE1.mac, client(5000), dns, b"three"),
    ];
    for f in &frames {
        assert!(w.port.inject(f));
    }
    let out = sent(&mut w);
    assert_eq!(out.len(), frames.len(), "every packet forwarded: {:?}", w.core.counters.nonzero());
    assert_eq!(w.core.flows.len(), 3, "one flow per connection");

    let of = |port: u16| out.iter().filter(|s| s.src == client(port)).collect::<Vec<_>>();
    let datagrams = of(5000);
    let payloads: Vec<&[u8]> = datagrams.iter().map(|s| s.payload.as_slice()).collect();
    assert_eq!(payloads, [&b"one"[..], b"two", b"three"], "in the order they came");
    assert!(datagrams.iter().all(|s| s.dst == datagrams[0].dst), "one server for the flow: {datagrams:?}");
    let syns = of(6000);
    assert_eq!(syns.len(), 2);
    assert_eq!(syns[0].dst, syns[1].dst, "the repeated SYN follows the first");
    assert!(out.iter().all(|s| s.checksums_ok));
}

#[test]
fn a_plan_that_lost_to_an_earlier_packet_gives_its_pip_port_back() {
    // No local server: new flows are proxied through a PIP port each.
    let mut w = worker(false);
    let client = SocketAddrV4::new(CLIENT, 5000);
    for payload in [&b"one"[..], b"two", b"three"] {
        assert!(w.port.inject(&udp(CLIENT_MAC, SITE1.mac, client, SITE1.vip_port(DNS), payload)));
    }
    let out = sent(&mut w);
    assert_eq!(out.len(), 3, "{:?}", w.core.counters.nonzero());
    assert_eq!(w.core.flows.len(), 1);
    assert_eq!(w.core.pips.in_use(), 1, "the later plans' ports given back");
    assert!(out.iter().all(|s| s.src == out[0].src && *s.src.ip() == SITE1.pip), "{out:?}");
    assert!(out.iter().all(|s| *s.dst.ip() == SITE2.vip));
}

#[test]
fn a_burst_of_new_connections_respects_the_servers_limits() {
    // One connection a server: of four SYNs in one burst, two go to the
    // local servers and two are proxied to site 2.
    let mut w = limited_worker(true, 1);
    for p in 0..4 {
        let syn = tcp(
            CLIENT_MAC,
            SITE1.mac,
            SocketAddrV4::new(CLIENT, 7000 + p),
            SITE1.vip_port(POP3),
            SYN,
            1,
            0,
            b"",
        );
        assert!(w.port.inject(&syn));
    }
    let out = sent(&mut w);
    assert_eq!(out.len(), 4, "{:?}", w.core.counters.nonzero());
    let local: Vec<_> = out.iter().filter(|s| *s.src.ip() == CLIENT).map(|s| s.dst).collect();
    assert_eq!(local.len(), 2, "{out:?}");
    assert_ne!(local[0], local[1], "one connection on each server");
    assert_eq!(out.iter().filter(|s| s.dst == SITE2.vip_port(POP3)).count(), 2);
    assert_eq!((w.core.select.conns(0), w.core.select.conns(1)), (1, 1));
}

#[test]
fn a_segment_after_its_syn_in_the_same_burst_follows_the_new_flow() {
    // A client that opens and at once resets (a scanner, an aborted
    // connect), and one that sends its first data segment right behind its
    // SYN: both SYNs' flows are opened in the burst's last pass, and the
    // segments behind them must wait for that rather than be refused.
    let mut w = worker(true);
    let (reset, eager) = (SocketAddrV4::new(CLIENT, 8000), SocketAddrV4::new(CLIENT, 8001));
    let pop3 = SITE1.vip_port(POP3);
    let frames = [
        tcp(CLIENT_MAC, SITE1.mac, reset, pop3, SYN, 1, 0, b""),
        tcp(CLIENT_MAC, SITE1.mac, eager, pop3, SYN, 1, 0, b""),
        tcp(CLIENT_MAC, SITE1.mac, reset, pop3, RST, 2, 0, b""),
        tcp(CLIENT_MAC, SITE1.mac, eager, pop3, ACK, 2, 1, b"USER a"),
        // No SYN for this one anywhere: still refused.
        tcp(CLIENT_MAC, SITE1.mac, SocketAddrV4::new(CLIENT, 8002), pop3, ACK, 2, 1, b""),
    ];
    for f in &frames {
        assert!(w.port.inject(f));
    }
    let out = sent(&mut w);
    assert_eq!(out.len(), 4, "{:?}", w.core.counters.nonzero());
    assert_eq!(w.core.counters.dropped(DropReason::TcpNoFlow), 1);
    for client in [reset, eager] {
        let of: Vec<_> = out.iter().filter(|s| s.src == client).collect();
        assert_eq!(of.len(), 2, "SYN and the segment behind it: {out:?}");
        assert_eq!(of[0].dst, of[1].dst, "to the server the SYN went to");
        assert_ne!(of[0].dst, pop3, "translated");
    }
    assert!(out.iter().all(|s| s.checksums_ok));
    // The reset closed its flow at once; the other waits for the server's
    // SYN-ACK.
    let states: Vec<_> = {
        let mut v = Vec::new();
        w.core.flows.for_each(|_, f| v.push((f.orig.sport, f.state())));
        v.sort_by_key(|&(port, _)| port);
        v
    };
    assert_eq!(states, [(8000, State::Closed), (8001, State::SynSent)]);
}
