//! The DNS thread on the data path's rings: UDP queries to the appliance's
//! DNS come from the data cores in the mbufs they arrived in, are answered
//! over in the same buffers, and go back for a data core to send. Compared
//! with the kernel socket this saves, per query, two TAP crossings, a
//! `recvfrom` and a `sendto`, and the wake-ups of the TAP driver's signal.
//!
//! The thread polls flat out while queries come and parks after a run of
//! empty polls; a data core that queues a query wakes it. (TCP queries still
//! reach the kernel socket in `server`.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use dataplane::port::{Burst, PacketBuf};
use dataplane::turnaround::{self, NotDatagram};
use dataplane::wire::MacAddr;
use nic_config::DnsRings;

use super::cache::AnswerCache;
use super::server::{DnsStats, SharedView};
use super::view::DnsView;

/// How the thread idles: after `polls` empty polls it parks until a data
/// core queues a query.
#[derive(Copy, Clone, Debug)]
pub struct Idle {
    pub polls: u32,
}

/// Longest park between looks at the stop flag (`stop` also wakes it).
const PARK: Duration = Duration::from_millis(200);

pub struct RingServer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl RingServer {
    pub fn start(
        rings: Arc<DnsRings>,
        mac: MacAddr,
        view: SharedView,
        stats: Arc<DnsStats>,
        idle: Idle,
    ) -> Result<RingServer, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("dns-ring".into())
            .spawn(move || serve(&rings, mac, &view, &stats, &s, idle))
            .map_err(|e| format!("dns-ring thread: {e}"))?;
        Ok(RingServer { stop, thread })
    }

    /// Stops the thread and frees the queries still queued, so that a
    /// reload that removes `[dns]` leaves no mbufs stranded in the ring. (A
    /// data core that has not seen the new snapshot yet may still queue a
    /// few; they wait for the next DNS thread, or for shutdown.)
    pub fn stop(self, rings: &DnsRings) {
        self.stop.store(true, Ordering::SeqCst);
        rings.wake();
        let _ = self.thread.join();
        // The thread is gone: this is now the rings' only consumer.
        let mut left = Burst::new();
        loop {
            rings.take(&mut left);
            if left.is_empty() {
                break;
            }
            left.clear(); // each mbuf goes back to its pool as it drops
        }
    }
}

fn serve(rings: &DnsRings, mac: MacAddr, view: &SharedView, stats: &DnsStats, stop: &AtomicBool, idle: Idle) {
    let mut queries = Burst::new();
    let mut answers = Burst::new();
    let mut answerer = Answerer::default();
    let mut empty = 0u32;
    while !stop.load(Ordering::Relaxed) {
        rings.take(&mut queries);
        if queries.is_empty() {
            empty = empty.saturating_add(1);
            if empty >= idle.polls {
                // Woken by the next query, or now and then to look at the stop flag.
                rings.wait_for_queries(PARK);
            }
            continue;
        }
        empty = 0;
        let guard = view.load();
        for mut m in queries.drain(..) {
            if answerer.answer_in_place(&mut m, guard.as_deref(), mac, stats) {
                answers.push(m);
            }
            // An unanswered query's mbuf is freed as it goes out of scope.
        }
        let lost = rings.answer(&mut answers);
        stats.ring_full.fetch_add(lost as u64, Ordering::Relaxed);
    }
}

/// An answerer's state (the DNS thread's, or one data core's): its response
/// cache and a buffer to build each response in (reused: no allocation on a
/// cache hit).
#[derive(Default)]
pub struct Answerer {
    pub cache: AnswerCache,
    scratch: Vec<u8>,
}

impl Answerer {
    /// Turns the query frame in `buf` into its answer; false if there is
    /// nothing to send (counted in `stats` by why).
    pub fn answer_in_place<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        view: Option<&DnsView>,
        mac: MacAddr,
        stats: &DnsStats,
    ) -> bool {
        let d = match turnaround::datagram(buf.data()) {
            Ok(d) => d,
            Err(NotDatagram::BadChecksum) => {
                stats.bad_checksum.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            Err(NotDatagram::Malformed) => {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        };
        // Before the first view (health not known yet) the socket path is
        // silent too: the client retries.
        let Some(view) = view else { return false };
        let query = &buf.data()[d.payload.clone()];
        let hits = self.cache.hits;
        let outcome = self.cache.respond(view, query, *d.src.ip(), &mut self.scratch);
        stats.count(outcome);
        if self.cache.hits > hits {
            stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        if self.scratch.is_empty() {
            return false;
        }
        match turnaround::turn_around(buf.room(), &d, mac, &self.scratch) {
            Some(n) => {
                buf.set_len(n);
                true
            }
            None => {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}
