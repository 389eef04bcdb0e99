//! Ageing keeps pace with the traffic: a wheel slot's flows fall due
//! together, and a poll that received packets ages only about twice as many
//! flows, so the packets behind it are not held up; idle polls age the rest.

use std::net::SocketAddrV4;

use dataplane::lab::frames::udp;
use dataplane::lab::seed::{self, CLIENT, CLIENT_MAC, DNS, SITE1, SITE2};
use dataplane::pipeline::{Core, CoreConfig};
use dataplane::port::MemoryPort;
use dataplane::snapshot::{Method, Publisher};
use dataplane::worker::Worker;

#[test]
fn a_busy_poll_ages_about_twice_what_it_received_and_idle_polls_the_rest() {
    let snap = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin).build().expect("snapshot");
    let publisher = Publisher::new(snap.clone());
    let core = Core::with_port_share(CoreConfig { flow_capacity: 4096, ..CoreConfig::default() }, &snap, 0)
        .expect("memory");
    let mut w = Worker::new(core, MemoryPort::new(4096), publisher.subscribe());
    let dns = SITE1.vip_port(DNS);
    let datagram = |port: u16| udp(CLIENT_MAC, SITE1.mac, SocketAddrV4::new(CLIENT, port), dns, b"q");

    // 1,000 flows opened together, so they fall due together.
    for port in 10_000..11_000 {
        assert!(w.port.inject(&datagram(port)));
    }
    while w.poll(0) > 0 {}
    w.port.take_tx();
    assert_eq!(w.core.flows.len(), 1_000);

    // Long after: ten new datagrams in one poll. That poll ages at most
    // 2 * 10 + 8 of the due flows (and a few it found are held, their
    // buckets being fetched, until a later poll).
    let later = 3_600_000;
    for port in 20_000..20_010 {
        assert!(w.port.inject(&datagram(port)));
    }
    assert_eq!(w.poll(later), 10);
    let aged = (1_000 + 10 - w.core.flows.len()) as usize;
    assert!(aged <= 2 * 10 + 8, "a busy poll aged {aged} flows");
    assert!(aged > 0, "a busy poll still ages");

    // Idle polls age the rest, a budget at a time.
    let mut idle = 0usize;
    while w.core.flows.len() > 10 {
        assert_eq!(w.poll(later), 0);
        idle += 1;
        assert!(idle < 100, "idle polls do not finish ageing: {} flows left", w.core.flows.len());
    }
    assert!(idle >= (1_000 - aged) / CoreConfig::default().expire_budget, "{idle} idle polls");
}
