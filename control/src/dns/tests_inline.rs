//! Answering on a data core: the responder answers only when the view says
//! so, answers what the DNS thread would, leaves what it cannot answer for
//! the data core to free, and on a warm cache allocates nothing.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use dataplane::lab::frames;
use dataplane::port::{Burst, MemBuf, PacketBuf};
use dataplane::responder::Responder;
use dataplane::turnaround::datagram;
use dataplane::wire::MacAddr;
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use super::tests::{a_records, query, view};
use super::{DnsStats, InlineResponder};
use crate::alloc_count::allocations;

const ME: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 7]);

fn frame(name: &str, t: RecordType) -> Vec<u8> {
    let asker = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 40_000);
    let server = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 53);
    frames::udp(CLIENT_MAC, ME, asker, server, &query(name, t, None))
}

fn burst(frames: &[&[u8]]) -> Burst<MemBuf> {
    frames
        .iter()
        .map(|f| {
            let mut b = MemBuf::new();
            b.fill(f);
            b
        })
        .collect()
}

fn responder(on_data_cores: Option<bool>) -> (InlineResponder, Arc<DnsStats>) {
    let shared = Arc::new(ArcSwapOption::empty());
    if let Some(on) = on_data_cores {
        let mut v = view(Some(true), None);
        v.on_data_cores = on;
        shared.store(Some(Arc::new(v)));
    }
    let stats = Arc::new(DnsStats::default());
    (InlineResponder::new(shared, stats.clone(), ME), stats)
}

#[test]
fn answers_in_place_and_leaves_the_unanswerable() {
    let (mut r, stats) = responder(Some(true));
    let good = frame("pop.gslb.example.org.", RecordType::A);
    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    let mut queries = burst(&[&good, &corrupt]);
    let mut answers = Burst::new();
    assert!(r.respond(&mut queries, &mut answers));
    assert_eq!((answers.len(), queries.len()), (1, 1), "one answer; the corrupt query left to be freed");
    assert_eq!(queries[0].data(), corrupt.as_slice());
    let d = datagram(answers[0].data()).expect("a sound datagram");
    let m = Message::from_vec(&answers[0].data()[d.payload]).expect("decodes");
    assert_eq!((m.id(), a_records(&m)), (0x4242, vec![Ipv4Addr::new(192, 0, 2, 10)]));
    // The shared counters hold the burst's counts once it is over.
    assert_eq!(stats.answered()[0], ("NOERROR", 1));
    assert_eq!((stats.bad_checksum.load(Relaxed), stats.on_data_cores.load(Relaxed)), (1, 1));
}

#[test]
fn declines_without_a_view_or_when_the_thread_answers() {
    for setting in [None, Some(false)] {
        let (mut r, stats) = responder(setting);
        let q = frame("pop.gslb.example.org.", RecordType::A);
        let mut queries = burst(&[&q]);
        let mut answers = Burst::new();
        assert!(!r.respond(&mut queries, &mut answers), "{setting:?}");
        assert_eq!((queries.len(), answers.len()), (1, 0), "untouched: {setting:?}");
        assert_eq!(queries[0].data(), q.as_slice());
        assert_eq!(stats.on_data_cores.load(Relaxed), 0);
    }
}

/// The data path's rule: once warm, nothing allocates. The first burst
/// fills the cache (hickory-proto allocates); the same questions again,
/// with their decisions made afresh, must not.
#[test]
fn a_warm_cache_answers_without_allocating() {
    let (mut r, stats) = responder(Some(true));
    let asked = [
        frame("pop.gslb.example.org.", RecordType::A),
        frame("gslb.example.org.", RecordType::SOA),
        frame("nx.gslb.example.org.", RecordType::A),
    ];
    let asked: Vec<&[u8]> = asked.iter().map(Vec::as_slice).collect();
    let mut answers = Burst::new();
    let mut queries = burst(&asked);
    let cold = allocations();
    assert!(r.respond(&mut queries, &mut answers));
    assert_eq!(answers.len(), 3);
    assert!(allocations() > cold, "the count sees hickory-proto's allocations on a miss");
    for round in 0..3 {
        // Refill the same buffers, outside the measured call.
        let mut queries: Burst<MemBuf> = answers.drain(..).collect();
        for (b, f) in queries.iter_mut().zip(&asked) {
            b.fill(f);
        }
        let before = allocations();
        assert!(r.respond(&mut queries, &mut answers));
        let made = allocations() - before;
        assert_eq!((made, answers.len()), (0, 3), "round {round}: allocations, answers");
    }
    assert_eq!(stats.cache_hits.load(Relaxed), 9);
}
