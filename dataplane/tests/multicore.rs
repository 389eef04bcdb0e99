//! Two data cores on two threads, fed by a "NIC" that spreads packets by its
//! own hash: every packet still reaches the core that owns its flow (through
//! the lock-free hand-off rings), both directions of local and proxied flows
//! are translated, and each flow lives on exactly one core.

use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, Ordering};

use dataplane::counters::Event;
use dataplane::lab::frames::{tcp, Summary};
use dataplane::lab::seed::{self, CLIENT, CLIENT_MAC, HTTP, SITE1, SITE2};
use dataplane::pipeline::{Core, CoreConfig};
use dataplane::port::MemoryPort;
use dataplane::rss::{Rss, Toeplitz};
use dataplane::snapshot::{Health, Method, Publisher, Snapshot};
use dataplane::wire::tcp::flags::{ACK, SYN};
use dataplane::worker::Worker;

const CORES: usize = 2;

/// The queue a NIC would pick: a hash of the whole 5-tuple, unrelated to ownership.
fn nic_queue(frame: &[u8]) -> usize {
    let s = Summary::parse(frame).expect("TCP");
    let x = u32::from(*s.src.ip())
        ^ u32::from(*s.dst.ip()).rotate_left(7)
        ^ u32::from(s.src.port()) << 3
        ^ u32::from(s.dst.port());
    (x.wrapping_mul(0x9e37_79b9) >> 31) as usize % CORES
}

/// Polls both cores on their own threads until both are quiet, then once more
/// in turn so nothing handed over late is left behind.
fn run(workers: &mut [Worker<MemoryPort>], now: u64) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for w in workers.iter_mut() {
            let stop = &stop;
            s.spawn(move || {
                let mut quiet = 0;
                while !stop.load(Ordering::Relaxed) && quiet < 2_000 {
                    if w.poll(now) == 0 {
                        quiet += 1;
                    } else {
                        quiet = 0;
                    }
                }
            });
        }
    });
    stop.store(true, Ordering::Relaxed);
    loop {
        let moved: usize = workers.iter_mut().map(|w| w.poll(now)).sum();
        if moved == 0 {
            break;
        }
    }
}

/// The key of Microsoft's RSS verification suite (the NIC's, in these tests).
const KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0,
    0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42,
    0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

fn rss() -> Rss {
    Rss { toeplitz: Toeplitz::new(&KEY).expect("key"), reta: (0..128).map(|i| i % 2).collect() }
}

/// One worker per core over ports that hand packets to each other; with
/// `predict`, each core knows the NIC's RSS and picks PIP ports by it.
fn workers(snap: &Snapshot, publisher: &Publisher, predict: bool) -> Vec<Worker<MemoryPort>> {
    MemoryPort::group(CORES, 4096)
        .into_iter()
        .enumerate()
        .map(|(i, port)| {
            let cfg = CoreConfig {
                id: i as u32,
                cores: CORES as u32,
                flow_capacity: 4096,
                ..CoreConfig::default()
            };
            let mut core = Core::with_port_share(cfg, snap, 0).expect("memory");
            if predict {
                core.rss = Some(rss());
            }
            Worker::new(core, port, publisher.subscribe())
        })
        .collect()
}

fn sent(workers: &mut [Worker<MemoryPort>]) -> Vec<Summary> {
    workers.iter_mut().flat_map(|w| w.port.take_tx()).map(|f| Summary::parse(&f).expect("TCP")).collect()
}

#[test]
fn flows_stay_with_their_owner_whatever_queue_packets_arrive_on() {
    let snap = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin).build().expect("snapshot");
    let mut publisher = Publisher::new(snap.clone());
    let mut workers = workers(&snap, &publisher, false);
    let vip = SITE1.vip_port(HTTP);
    let inject = |workers: &mut [Worker<MemoryPort>], frames: &[Vec<u8>]| {
        for f in frames {
            assert!(workers[nic_queue(f)].port.inject(f));
        }
    };

    // Local flows: 200 SYNs, then each server's SYN-ACK.
    let syns: Vec<Vec<u8>> = (0..200)
        .map(|i| tcp(CLIENT_MAC, SITE1.mac, SocketAddrV4::new(CLIENT, 20_000 + i), vip, SYN, 1, 0, b""))
        .collect();
    inject(&mut workers, &syns);
    run(&mut workers, 10);
    let out = sent(&mut workers);
    assert_eq!(out.len(), 200, "every SYN forwarded once");
    let replies: Vec<Vec<u8>> =
        out.iter().map(|s| tcp(s.dst_mac, SITE1.mac, s.dst, s.src, SYN | ACK, 9, 2, b"")).collect();
    inject(&mut workers, &replies);
    run(&mut workers, 20);
    let back = sent(&mut workers);
    assert_eq!(back.len(), 200, "every SYN-ACK back to its client");
    assert!(back.iter().all(|s| s.src == vip && *s.dst.ip() == CLIENT && s.checksums_ok));

    let per_core: Vec<u32> = workers.iter().map(|w| w.core.flows.len()).collect();
    assert_eq!(per_core.iter().sum::<u32>(), 200, "each flow on exactly one core: {per_core:?}");
    assert!(per_core.iter().all(|&n| n > 50), "both cores own flows: {per_core:?}");
    for w in &workers {
        let c = &w.core.counters;
        assert!(c.event(Event::HandedOff) > 0 && c.event(Event::HandedIn) > 0, "{:?}", c.nonzero());
        assert_eq!(c.total_drops(), 0, "{:?}", c.nonzero());
    }

    // Proxied flows: site 1's servers go down; replies from site 2 arrive on
    // the queue that does NOT own them.
    let mut down = snap.clone();
    down.real_servers.iter_mut().for_each(|r| r.health = Health::Down);
    publisher.publish(down.build().expect("snapshot"));
    let syns: Vec<Vec<u8>> = (0..200)
        .map(|i| tcp(CLIENT_MAC, SITE1.mac, SocketAddrV4::new(CLIENT, 30_000 + i), vip, SYN, 1, 0, b""))
        .collect();
    inject(&mut workers, &syns);
    run(&mut workers, 30);
    let out = sent(&mut workers);
    assert_eq!(out.len(), 200);
    let mut misplaced = 0;
    for s in &out {
        assert_eq!((*s.src.ip(), s.dst), (SITE1.pip, SITE2.vip_port(HTTP)));
        let owner = usize::from(s.src.port()) % CORES;
        let reply = tcp(SITE2.mac, SITE1.mac, s.dst, s.src, SYN | ACK, 9, 2, b"");
        let wrong = (owner + 1) % CORES;
        workers[wrong].port.inject(&reply);
        misplaced += 1;
    }
    run(&mut workers, 40);
    let back = sent(&mut workers);
    assert_eq!(back.len(), misplaced);
    assert!(back.iter().all(|s| s.src == vip && *s.dst.ip() == CLIENT && s.checksums_ok));
    let pips: usize = workers.iter().map(|w| w.core.pips.in_use()).sum();
    assert_eq!(pips, 200, "one PIP port per proxied flow, on its owner");
    for w in &workers {
        assert_eq!(w.core.counters.total_drops(), 0, "{:?}", w.core.counters.nonzero());
    }
}

#[test]
fn with_a_predictable_nic_hash_proxied_replies_land_on_their_owner() {
    let nic = rss();
    let nic_queue = |f: &[u8]| {
        let s = Summary::parse(f).expect("TCP");
        usize::from(nic.queue(*s.src.ip(), *s.dst.ip(), s.src.port(), s.dst.port()).expect("reta"))
    };
    let mut snap = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin);
    snap.real_servers.iter_mut().for_each(|r| r.health = Health::Down);
    let snap = snap.build().expect("snapshot");
    let publisher = Publisher::new(snap.clone());
    let mut workers = workers(&snap, &publisher, true);
    let vip = SITE1.vip_port(HTTP);
    for i in 0..200 {
        let f = tcp(CLIENT_MAC, SITE1.mac, SocketAddrV4::new(CLIENT, 40_000 + i), vip, SYN, 1, 0, b"");
        assert!(workers[nic_queue(&f)].port.inject(&f));
    }
    run(&mut workers, 10);
    let out = sent(&mut workers);
    assert_eq!(out.len(), 200);
    let handed_before: u64 = workers.iter().map(|w| w.core.counters.event(Event::HandedIn)).sum();
    for s in &out {
        let reply = tcp(SITE2.mac, SITE1.mac, s.dst, s.src, SYN | ACK, 9, 2, b"");
        assert!(workers[nic_queue(&reply)].port.inject(&reply));
    }
    run(&mut workers, 20);
    let back = sent(&mut workers);
    assert_eq!(back.len(), 200);
    assert!(back.iter().all(|s| s.src == vip && *s.dst.ip() == CLIENT && s.checksums_ok));
    let handed_after: u64 = workers.iter().map(|w| w.core.counters.event(Event::HandedIn)).sum();
    assert_eq!(handed_after, handed_before, "no proxied reply needed a hand-off");
}
