//! A burst's new connections are decided in one pass and opened in the next.
//! Several packets of one new connection in the same burst must still make
//! one flow and all follow it, in order, whatever the selection method
//! would have chosen for the later ones; a plan that lost to an earlier
//! packet gives back what it took.

use std::net::SocketAddrV4;

use dataplane::lab::frames::{tcp, udp, Summary};
use dataplane::lab::seed::{self, CLIENT, CLIENT_MAC, DNS, POP3, SITE1, SITE2};
use dataplane::pipeline::{Core, CoreConfig};
use dataplane::port::MemoryPort;
use dataplane::snapshot::{Health, Method, Publisher};
use dataplane::wire::tcp::flags::SYN;
use dataplane::worker::Worker;

fn worker(servers_up: bool) -> Worker<MemoryPort> {
    let mut snap = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin);
    if !servers_up {
        snap.real_servers.iter_mut().for_each(|r| r.health = Health::Down);
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
