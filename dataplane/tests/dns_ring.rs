//! Queries for the appliance's own DNS: UDP to a DNS endpoint of an own
//! address goes to the DNS thread's ring (or, on a port without one, to the
//! kernel, whose socket answers too); everything else for the own address
//! still goes to the kernel; the DNS thread's answers leave on the data port.
//! A core with a responder answers queries itself, in the burst.

use std::net::SocketAddrV4;

use dataplane::counters::{DropReason, Event};
use dataplane::lab::frames::{tcp, udp};
use dataplane::lab::seed::{self, CLIENT, CLIENT_MAC, DNS, SITE1, SITE2};
use dataplane::pipeline::{Core, CoreConfig};
use dataplane::port::{Burst, MemBuf, MemoryPort, PacketBuf};
use dataplane::responder::Responder;
use dataplane::snapshot::{Method, Publisher, Snapshot, SnapshotError};
use dataplane::wire::tcp::flags::SYN;
use dataplane::worker::Worker;

fn dns_at(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(SITE1.own, port)
}

fn snapshot() -> Snapshot {
    let mut s = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin);
    s.dns = vec![dns_at(DNS)];
    s.build().expect("snapshot")
}

fn worker(snap: Snapshot, ring: bool) -> Worker<MemoryPort> {
    let publisher = Publisher::new(snap.clone());
    let core = Core::with_port_share(CoreConfig { flow_capacity: 64, ..CoreConfig::default() }, &snap, 0)
        .expect("memory");
    let mut port = MemoryPort::new(64);
    if ring {
        port.enable_dns();
    }
    // The subscription outlives the publisher here: it keeps its snapshot.
    Worker::new(core, port, publisher.subscribe())
}

fn query_to(port: u16) -> Vec<u8> {
    udp(CLIENT_MAC, SITE1.mac, SocketAddrV4::new(CLIENT, 5353), dns_at(port), b"a query")
}

#[test]
fn queries_go_to_the_ring_and_nothing_else_does() {
    let mut w = worker(snapshot(), true);
    let q = query_to(DNS);
    let other_udp = query_to(DNS + 1);
    let tcp_dns = tcp(CLIENT_MAC, SITE1.mac, SocketAddrV4::new(CLIENT, 5353), dns_at(DNS), SYN, 1, 0, b"");
    for f in [&q, &other_udp, &tcp_dns] {
        assert!(w.port.inject(f));
    }
    while w.poll(0) > 0 {}
    assert_eq!(w.port.take_dns(), vec![q], "the query, untouched");
    assert_eq!(w.port.take_kernel(), vec![other_udp, tcp_dns]);
    let c = &w.core.counters;
    assert_eq!((c.event(Event::DnsQueries), c.event(Event::ExceptionPackets)), (1, 2));
    assert_eq!(w.core.flows.len(), 0, "a query keeps no flow");
}

#[test]
fn answers_leave_on_the_data_port_and_are_counted() {
    let mut w = worker(snapshot(), true);
    let answer = udp(SITE1.mac, CLIENT_MAC, dns_at(DNS), SocketAddrV4::new(CLIENT, 5353), b"an answer");
    assert!(w.port.answer_dns(&answer));
    assert!(w.poll(0) > 0, "an answer is work: the core must not idle");
    assert_eq!(w.port.take_tx(), vec![answer]);
    let c = &w.core.counters;
    assert_eq!((c.event(Event::DnsAnswers), c.event(Event::TxPackets)), (1, 1));
}

#[test]
fn without_a_ring_queries_go_to_the_kernel() {
    let mut w = worker(snapshot(), false);
    let q = query_to(DNS);
    assert!(w.port.inject(&q));
    while w.poll(0) > 0 {}
    assert_eq!(w.port.take_kernel(), vec![q]);
    assert_eq!(w.core.counters.dropped(DropReason::DnsRingFull), 0);
}

#[test]
fn a_dns_endpoint_must_be_an_own_address() {
    let mut s = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin);
    s.dns = vec![SocketAddrV4::new(SITE1.vip, DNS)];
    assert_eq!(s.build().err(), Some(SnapshotError::DnsNotOwn { addr: SITE1.vip }));
}

/// Answers every query whose payload is not "drop me" with a frame of its
/// own making (declining everything when `decline`).
struct Echo {
    decline: bool,
}

const ANSWERED: &[u8] = b"answered here";

impl Responder<MemBuf> for Echo {
    fn respond(&mut self, queries: &mut Burst<MemBuf>, answers: &mut Burst<MemBuf>) -> bool {
        if self.decline {
            return false;
        }
        let mut left = Burst::new();
        for mut q in queries.drain(..) {
            if q.data().ends_with(b"drop me") {
                left.push(q);
                continue;
            }
            q.room()[..ANSWERED.len()].copy_from_slice(ANSWERED);
            q.set_len(ANSWERED.len());
            answers.push(q);
        }
        *queries = left;
        true
    }
}

#[test]
fn a_responder_answers_in_the_burst_and_its_drops_free_their_buffers() {
    let mut w = worker(snapshot(), true).with_responder(Box::new(Echo { decline: false }));
    let free = w.port.free_buffers();
    let kept = udp(CLIENT_MAC, SITE1.mac, SocketAddrV4::new(CLIENT, 5353), dns_at(DNS), b"drop me");
    let forwarded =
        udp(CLIENT_MAC, SITE1.mac, SocketAddrV4::new(CLIENT, 1), SocketAddrV4::new(SITE1.vip, 53), b"x");
    for f in [&query_to(DNS), &kept, &query_to(DNS), &forwarded] {
        assert!(w.port.inject(f));
    }
    w.poll(0);
    let tx = w.port.take_tx();
    assert_eq!(tx.iter().filter(|f| f.as_slice() == ANSWERED).count(), 2, "both answers, in the same poll");
    assert!(w.port.take_dns().is_empty(), "nothing went to the DNS thread");
    assert!(w.port.take_kernel().is_empty());
    let c = &w.core.counters;
    assert_eq!((c.event(Event::DnsQueries), c.event(Event::DnsAnswers)), (3, 2));
    assert_eq!(w.port.free_buffers(), free, "the unanswered query's buffer went back");
}

#[test]
fn a_declining_responder_leaves_queries_to_the_ring() {
    let mut w = worker(snapshot(), true).with_responder(Box::new(Echo { decline: true }));
    let q = query_to(DNS);
    assert!(w.port.inject(&q));
    while w.poll(0) > 0 {}
    assert_eq!(w.port.take_dns(), vec![q]);
    assert_eq!(w.core.counters.event(Event::DnsAnswers), 0);
}
