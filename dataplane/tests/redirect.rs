//! Services that redirect instead of proxying: with no local server and a
//! remote site that can take the connection, the client's segments go to the
//! appliance's kernel (whose HTTP server answers with a redirect) and no flow
//! is kept; everything else behaves as for any service.

mod common;

use common::{client, syn_from, udp_from, Rig};
use dataplane::counters::{DropReason, Event};
use dataplane::lab::frames::{tcp, Summary};
use dataplane::lab::seed::{self, CLIENT_MAC, DNS, HTTP, POP3, SITE1, SITE2};
use dataplane::pipeline::{Action, Core, CoreConfig};
use dataplane::port::MemoryPort;
use dataplane::snapshot::{Health, Method, Publisher, Snapshot};
use dataplane::wire::tcp::flags::{ACK, FIN, PSH, RST, SYN};
use dataplane::worker::Worker;

/// Site 1 with its HTTP service redirecting and its servers up or down.
fn site1(servers: Health) -> Snapshot {
    let mut s = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin);
    let http = s.services.iter_mut().find(|s| s.name == "http").expect("http service");
    http.redirect = true;
    s.real_servers.iter_mut().for_each(|r| r.health = servers);
    s
}

fn to_http(port: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    tcp(CLIENT_MAC, SITE1.mac, client(port), SITE1.vip_port(HTTP), flags, 2, 1, payload)
}

/// Sends a frame and expects it handed to the kernel exactly as it came.
fn to_kernel(rig: &mut Rig, frame: &[u8]) {
    let mut buf = frame.to_vec();
    buf.resize(2048, 0);
    let action = rig.core.process(&rig.snap, &mut buf, frame.len(), rig.now);
    assert_eq!(action, Action::Kernel);
    assert_eq!(&buf[..frame.len()], frame, "the kernel must get the client's frame untouched");
}

#[test]
fn with_no_local_server_the_connection_goes_to_the_kernel_without_a_flow() {
    let mut rig = Rig::new(site1(Health::Down), 64);
    to_kernel(&mut rig, &syn_from(client(1), SITE1.vip_port(HTTP)));
    let c = &rig.core.counters;
    assert_eq!(c.event(Event::Redirected), 1);
    assert_eq!(c.event(Event::ExceptionPackets), 1);
    assert_eq!(c.event(Event::FlowsCreatedProxy), 0);
    assert_eq!(rig.core.flows.len(), 0, "a redirected connection keeps no flow");
    assert_eq!(rig.core.pips.in_use(), 0, "and takes no PIP port");

    // The rest of the connection follows its SYN, and is not counted again.
    to_kernel(&mut rig, &to_http(1, ACK, b""));
    to_kernel(&mut rig, &to_http(1, PSH | ACK, b"GET /a?b HTTP/1.1\r\n\r\n"));
    to_kernel(&mut rig, &to_http(1, FIN | ACK, b""));
    to_kernel(&mut rig, &to_http(1, RST, b""));
    let c = &rig.core.counters;
    assert_eq!((c.event(Event::Redirected), c.event(Event::ExceptionPackets)), (1, 5));
    assert_eq!(c.dropped(DropReason::TcpNoFlow), 0);
    assert_eq!(rig.core.flows.len(), 0);
}

#[test]
fn segments_of_a_redirected_connection_still_reach_the_kernel_once_servers_are_back() {
    let mut rig = Rig::new(site1(Health::Down), 64);
    to_kernel(&mut rig, &syn_from(client(1), SITE1.vip_port(HTTP)));
    rig.update(|s| s.real_servers.iter_mut().for_each(|r| r.health = Health::Up));
    to_kernel(&mut rig, &to_http(1, PSH | ACK, b"GET / HTTP/1.1\r\n\r\n"));
    // While a new connection is served locally.
    let s = rig.forward(&syn_from(client(2), SITE1.vip_port(HTTP)));
    assert_eq!(*s.dst.ip(), SITE1.servers[0].1);
}

#[test]
fn a_local_server_that_can_take_it_still_wins() {
    let mut rig = Rig::new(site1(Health::Up), 64);
    let s = rig.forward(&syn_from(client(1), SITE1.vip_port(HTTP)));
    assert_eq!(s.dst, std::net::SocketAddrV4::new(SITE1.servers[0].1, HTTP));
    assert_eq!(rig.core.counters.event(Event::FlowsCreatedLocal), 1);
    assert_eq!(rig.core.counters.event(Event::Redirected), 0);
    // Its flow keeps it local even after its server goes down (the service
    // keeps such flows): its segments find their entry, not the kernel.
    rig.update(|s| s.real_servers.iter_mut().for_each(|r| r.health = Health::Down));
    let d = rig.forward(&to_http(1, PSH | ACK, b"more"));
    assert_eq!(d.dst, s.dst);
    assert_eq!(rig.core.counters.event(Event::ExceptionPackets), 0);
}

#[test]
fn with_no_remote_site_available_the_service_refuses_as_configured() {
    for cut in ["unreachable", "unhealthy"] {
        let mut snap = site1(Health::Down);
        match cut {
            "unreachable" => snap.sites[0].reachable = false,
            _ => snap.services.iter_mut().for_each(|s| s.remotes[0].healthy = false),
        }
        let mut rig = Rig::new(snap, 64);
        let (action, out) = rig.send(&syn_from(client(1), SITE1.vip_port(HTTP)));
        assert!(matches!(action, Action::Tx(_)), "{cut}: expected a RST, got {action:?}");
        let rst = Summary::parse(&out).expect("a TCP reply");
        assert_eq!(rst.flags & RST, RST, "{cut}");
        assert_eq!((rst.src, rst.dst), (SITE1.vip_port(HTTP), client(1)), "{cut}");
        let c = &rig.core.counters;
        assert_eq!(c.dropped(DropReason::NoResource), 1, "{cut}");
        assert_eq!((c.event(Event::Redirected), c.event(Event::ExceptionPackets)), (0, 0), "{cut}");
    }
}

#[test]
fn services_that_do_not_redirect_are_unchanged() {
    let mut rig = Rig::new(site1(Health::Down), 64);
    // POP3 (no redirect) at the same VIP: a stray ACK is dropped, a SYN proxied.
    let ack = tcp(CLIENT_MAC, SITE1.mac, client(1), SITE1.vip_port(POP3), ACK, 2, 1, b"");
    assert_eq!(rig.send(&ack).0, Action::Drop(DropReason::TcpNoFlow));
    let s = rig.forward(&syn_from(client(1), SITE1.vip_port(POP3)));
    assert_eq!((*s.src.ip(), s.dst), (SITE1.pip, SITE2.vip_port(POP3)));
    assert_eq!(rig.core.counters.event(Event::Redirected), 0);
}

#[test]
fn only_tcp_is_redirected() {
    // The configuration allows redirect on TCP services only; a datagram
    // service marked so anyway is proxied, never handed to the kernel.
    let mut snap = site1(Health::Down);
    snap.services.iter_mut().for_each(|s| s.redirect = true);
    let mut rig = Rig::new(snap, 64);
    let s = rig.forward(&udp_from(client(1), SITE1.vip_port(DNS), b"query"));
    assert_eq!((*s.src.ip(), s.dst), (SITE1.pip, SITE2.vip_port(DNS)));
    assert_eq!(rig.core.counters.event(Event::Redirected), 0);
}

#[test]
fn through_the_worker_the_kernel_gets_the_request_and_its_answer_leaves_untouched() {
    let snap = site1(Health::Down).build().expect("snapshot");
    let publisher = Publisher::new(snap.clone());
    let core = Core::with_port_share(CoreConfig { flow_capacity: 64, ..CoreConfig::default() }, &snap, 0)
        .expect("memory");
    let mut w = Worker::new(core, MemoryPort::new(64), publisher.subscribe());
    let syn = syn_from(client(1), SITE1.vip_port(HTTP));
    assert!(w.port.inject(&syn));
    while w.poll(0) > 0 {}
    assert_eq!(w.port.take_kernel(), vec![syn]);
    assert!(w.port.take_tx().is_empty());
    // The kernel answers from the VIP; the data path sends it as it is.
    let syn_ack = tcp(SITE1.mac, CLIENT_MAC, SITE1.vip_port(HTTP), client(1), SYN | ACK, 9, 2, b"");
    assert!(w.port.inject_from_kernel(&syn_ack));
    while w.poll(1) > 0 {}
    assert_eq!(w.port.take_tx(), vec![syn_ack]);
    assert_eq!(w.core.flows.len(), 0);
}
