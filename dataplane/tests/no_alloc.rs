//! Once warm, the data path allocates nothing: new connections, established
//! traffic both ways on both paths, refusals, ARP and ping, and flow aging all
//! run through `Worker::poll` with a counting allocator watching.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU64, Ordering};

use dataplane::lab::frames::{arp_request, icmp_echo, tcp, udp, Summary};
use dataplane::lab::seed::{self, CLIENT, CLIENT_MAC, DNS, POP3, SITE1, SITE2};
use dataplane::pipeline::{Core, CoreConfig};
use dataplane::port::MemoryPort;
use dataplane::snapshot::{Health, Method, Publisher};
use dataplane::wire::tcp::flags::{ACK, PSH, SYN};
use dataplane::worker::Worker;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Polls until the port is drained; returns the allocations made meanwhile.
fn poll_counting(w: &mut Worker<MemoryPort>, now: u64) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    while w.poll(now) > 0 {}
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn the_warm_data_path_never_allocates() {
    let snap = seed::snapshot(&SITE1, &SITE2, Method::Maglev).build().expect("snapshot");
    let mut publisher = Publisher::new(snap.clone());
    let core = Core::with_port_share(CoreConfig { flow_capacity: 4096, ..CoreConfig::default() }, &snap, 0)
        .expect("memory");
    let mut w = Worker::new(core, MemoryPort::new(1024), publisher.subscribe());
    let vip = SITE1.vip_port(POP3);
    let client = |p: u16| SocketAddrV4::new(CLIENT, p);

    // Warm up: one of everything, so lazily sized state exists.
    w.port.inject(&tcp(CLIENT_MAC, SITE1.mac, client(1), vip, SYN, 1, 0, b""));
    poll_counting(&mut w, 0);
    w.port.take_tx();

    let mut now = 10;
    for round in 0..4u16 {
        // Half the rounds with site 1's servers down: new flows take the proxy path.
        let mut next = snap.clone();
        if round % 2 == 1 {
            next.real_servers.iter_mut().for_each(|r| r.health = Health::Down);
        }
        publisher.publish(next.build().expect("snapshot"));
        let base = 100 + round * 200;
        let mut frames = Vec::new();
        for p in base..base + 100 {
            frames.push(tcp(CLIENT_MAC, SITE1.mac, client(p), vip, SYN, 1, 0, b""));
            frames.push(udp(CLIENT_MAC, SITE1.mac, client(p), SITE1.vip_port(DNS), b"query"));
        }
        frames.push(arp_request(CLIENT_MAC, CLIENT, SITE1.vip));
        frames.push(icmp_echo(CLIENT_MAC, SITE1.mac, CLIENT, SITE1.vip, 1));
        for f in &frames {
            assert!(w.port.inject(f));
        }
        // The snapshot swap itself may allocate (between bursts); count from here.
        w.poll(now);
        assert_eq!(poll_counting(&mut w, now), 0, "new connections allocated (round {round})");

        // Replies to every forwarded packet, and more client data.
        let out = w.port.take_tx();
        let mut replies = Vec::new();
        for s in out.iter().filter_map(|f| Summary::parse(f)) {
            if s.dst_mac != CLIENT_MAC && s.proto == 6 {
                replies.push(tcp(s.dst_mac, SITE1.mac, s.dst, s.src, SYN | ACK, 9, 2, b""));
            }
        }
        for p in base..base + 100 {
            replies.push(tcp(CLIENT_MAC, SITE1.mac, client(p), vip, PSH | ACK, 2, 10, b"data"));
        }
        for f in &replies {
            assert!(w.port.inject(f));
        }
        assert_eq!(poll_counting(&mut w, now), 0, "established traffic allocated (round {round})");
        w.port.take_tx();

        // Let the UDP flows and half-open TCP flows age out inside poll.
        now += 70_000;
        assert_eq!(poll_counting(&mut w, now), 0, "aging allocated (round {round})");
    }
    let c = &w.core.counters;
    assert!(c.event(dataplane::counters::Event::FlowsCreatedProxy) >= 200, "{:?}", c.nonzero());
    assert!(c.event(dataplane::counters::Event::FlowsCreatedLocal) >= 200, "{:?}", c.nonzero());
    assert!(c.event(dataplane::counters::Event::FlowsExpiredLocal) > 0, "{:?}", c.nonzero());
}
