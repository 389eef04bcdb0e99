//! The DNS thread's rings: queries from the data cores to it, answers back.
//!
//! A query stays in the mbuf it arrived in: the DNS thread answers over it and
//! gives the same mbuf back, which whichever data core polls first sends on
//! its own queue. Queries: many producers (the data cores), one consumer.
//! Answers: one producer (the DNS thread), many consumers. Both are DPDK's
//! lock-free `rte_ring`, safe for a non-EAL thread (no per-lcore cache).
//!
//! Each direction has a doorbell: an idle DNS thread parks on a futex
//! (`doorbell`) until a data core queues a query, and an idle data core's
//! sleep ends when an answer is queued, so a query at a low rate waits for
//! neither one's timer. The cores' bell is an eventfd (`filebell`): a core
//! that sleeps on its queues' files (`wake::Waker`) has it among them, and
//! a napping core polls it alone.

use std::ffi::CString;
use std::sync::Arc;
use std::time::Duration;

use dataplane::port::Burst;
use dpdk_sys as sys;

use crate::doorbell::Doorbell;
use crate::error::DpdkError;
use crate::filebell::FileBell;
use crate::queue::{ring_dequeue, ring_enqueue, Mbuf};
use crate::wake::Waker;

pub struct DnsRings {
    queries: *mut sys::rte_ring,
    answers: *mut sys::rte_ring,
    /// The DNS thread parks on it; queued queries ring it.
    to_thread: Doorbell,
    /// Idle data cores sleep on it (alone in a nap, among their queues'
    /// files otherwise); queued answers ring it.
    to_cores: FileBell,
}

// SAFETY: each ring is created for the concurrency it sees (flags above).
unsafe impl Send for DnsRings {}
unsafe impl Sync for DnsRings {}

/// Slots in each ring: with the data cores' bursts of 32, 1024 is room for
/// a millisecond of queries at a million a second before the thread wakes.
const SLOTS: u32 = 1024;

fn create(name: &str, flags: u32) -> Result<*mut sys::rte_ring, DpdkError> {
    let c = CString::new(name).expect("no NUL");
    // SAFETY: valid name; NULL (with rte_errno) on failure.
    let r = unsafe { sys::rte_ring_create(c.as_ptr(), SLOTS, sys::SOCKET_ID_ANY, flags) };
    if r.is_null() {
        return Err(DpdkError::from_errno(format!("create ring {name} ({SLOTS} slots)")));
    }
    Ok(r)
}

impl DnsRings {
    pub fn new() -> Result<Arc<DnsRings>, DpdkError> {
        // Made first: if a ring then fails, dropping it is all the undoing.
        let to_cores =
            FileBell::new().map_err(|e| DpdkError::new(format!("eventfd for the DNS answers: {e}"), 0))?;
        let queries = create("gslbd_dns_queries", sys::RING_F_SC_DEQ)?;
        let answers = match create("gslbd_dns_answers", sys::RING_F_SP_ENQ) {
            Ok(r) => r,
            Err(e) => {
                // SAFETY: made just above, used by no one.
                unsafe { sys::rte_ring_free(queries) };
                return Err(e);
            }
        };
        Ok(Arc::new(DnsRings { queries, answers, to_thread: Doorbell::default(), to_cores }))
    }

    /// A data core's side: queues queries, freeing what does not fit;
    /// returns how many were freed.
    pub fn ask(&self, pkts: &mut Burst<Mbuf>) -> usize {
        let lost = ring_enqueue(self.queries, pkts);
        self.to_thread.ring();
        lost
    }

    /// A data core's side: appends answers to send.
    pub fn answers(&self, out: &mut Burst<Mbuf>) {
        ring_dequeue(self.answers, out);
    }

    /// The DNS thread's side (one thread only): appends queries.
    pub fn take(&self, out: &mut Burst<Mbuf>) {
        ring_dequeue(self.queries, out);
    }

    /// The DNS thread's side (one thread only): queues answers, freeing what
    /// does not fit; returns how many were freed.
    pub fn answer(&self, pkts: &mut Burst<Mbuf>) -> usize {
        if pkts.is_empty() {
            return 0;
        }
        let lost = ring_enqueue(self.answers, pkts);
        self.to_cores.ring();
        lost
    }

    /// The DNS thread's idle: parks until a query is queued, `wake` is
    /// called, or `timeout` passes.
    pub fn wait_for_queries(&self, timeout: Duration) {
        // SAFETY: a live ring.
        self.to_thread.park(|| unsafe { sys::gslbd_ring_count(self.queries) } > 0, timeout);
    }

    /// Ends the DNS thread's wait (to stop it).
    pub fn wake(&self) {
        self.to_thread.ring();
    }

    /// A data core's idle sleep: `timeout`, cut short when an answer is queued.
    pub fn doze(&self, timeout: Duration) {
        // SAFETY: a live ring.
        self.to_cores
            .park(|| unsafe { sys::gslbd_ring_count(self.answers) } > 0, || self.to_cores.wait(timeout));
    }

    /// Lets `waker`'s sleeps end when an answer is queued (once per waker).
    pub fn wake_with_answers(&self, waker: &mut Waker) {
        waker.also(self.to_cores.fd());
    }

    /// A data core's sleep on its queues' files (`waker`, given
    /// `wake_with_answers`): until a frame or an answer comes, or `timeout`.
    pub fn sleep_on(&self, waker: &mut Waker, timeout: Duration) {
        // SAFETY: a live ring.
        self.to_cores.park(|| unsafe { sys::gslbd_ring_count(self.answers) } > 0, || waker.wait(timeout));
    }
}

impl Drop for DnsRings {
    fn drop(&mut self) {
        // SAFETY: the last holder is gone (data cores and the DNS thread);
        // mbufs left in the rings go back with the mempool when the port closes.
        unsafe {
            sys::rte_ring_free(self.queries);
            sys::rte_ring_free(self.answers);
        }
    }
}
