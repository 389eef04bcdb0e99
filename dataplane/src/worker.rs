//! The data core's loop: burst in, process, burst out, age flows.
//!
//! A worker owns its port queue, its `Core` and its snapshot subscription.
//! `poll` is one iteration; the caller (a DPDK lcore, a thread, a test) loops
//! on it, backing off when it returns 0. The snapshot is refreshed only between
//! bursts, so every packet of a burst sees one consistent state.
//!
//! With several data cores, a packet may arrive on a core that does not own
//! its flow (the NIC spreads by its own hash, or cannot spread at all); it is
//! handed to the owner through the port's lock-free rings. `Core::owner` is
//! the rule.

use crate::counters::{DropReason, Event, Gauge};
use crate::pipeline::{Action, Core, Pending, Prepared};
use crate::port::{Burst, PacketBuf, Port, BURST};
use crate::responder::Responder;
use crate::snapshot::Subscriber;

pub struct Worker<P: Port> {
    pub core: Core,
    pub port: P,
    snapshot: Subscriber,
    rx: Burst<P::Buf>,
    out: Out<P::Buf>,
    /// New connections' packets, held for the burst's last pass, and where
    /// each was in the burst.
    deferred: Burst<P::Buf>,
    deferred_at: [u8; BURST],
    /// Answers DNS queries here; without one (or when it declines) they go
    /// to `Port::to_dns`.
    responder: Option<Box<dyn Responder<P::Buf>>>,
    /// Per-packet state between the pipeline's passes, reused every burst.
    prepared: [Prepared; BURST],
    done: [Option<Action>; BURST],
    /// New connections' flows, planned in the third pass.
    plans: [Pending; BURST],
}

/// Where processed packets wait for the end of the burst.
struct Out<B> {
    tx: Burst<B>,
    kernel: Burst<B>,
    dns: Burst<B>,
    dropped: Burst<B>,
    /// Packets for each other data core (those whose flows it owns).
    handoff: Vec<Burst<B>>,
}

impl<B: PacketBuf> Out<B> {
    #[inline(always)]
    fn route(&mut self, action: Action, mut buf: B) {
        match action {
            Action::Tx(n) => {
                buf.set_len(usize::from(n));
                self.tx.push(buf);
            }
            Action::Kernel => self.kernel.push(buf),
            Action::Dns => self.dns.push(buf),
            Action::Drop(_) => self.dropped.push(buf),
            Action::Handoff(to) => match self.handoff.get_mut(usize::from(to)) {
                Some(h) => h.push(buf),
                None => self.dropped.push(buf),
            },
        }
    }
}

/// Counts a packet's fate and queues it. Nearly every packet is sent:
/// tested first, that case skips the two jump tables (`Core::count`,
/// `Out::route`) the others go through.
#[inline(always)]
fn dispatch<B: PacketBuf>(core: &Core, out: &mut Out<B>, action: Action, mut buf: B) {
    if let Action::Tx(n) = action {
        buf.set_len(usize::from(n));
        out.tx.push(buf);
    } else {
        core.count(action);
        out.route(action, buf);
    }
}

impl<P: Port> Worker<P> {
    pub fn new(core: Core, port: P, snapshot: Subscriber) -> Worker<P> {
        let cores = core.config.cores.max(1);
        Worker {
            core,
            port,
            snapshot,
            rx: Burst::new(),
            out: Out {
                tx: Burst::new(),
                kernel: Burst::new(),
                dns: Burst::new(),
                dropped: Burst::new(),
                handoff: (0..cores).map(|_| Burst::new()).collect(),
            },
            deferred: Burst::new(),
            deferred_at: [0; BURST],
            responder: None,
            prepared: [Prepared::default(); BURST],
            done: [None; BURST],
            plans: [Pending::default(); BURST],
        }
    }

    /// Answers the DNS queries this core receives with `r`, in the burst.
    pub fn with_responder(mut self, r: Box<dyn Responder<P::Buf>>) -> Worker<P> {
        self.responder = Some(r);
        self
    }

    pub fn snapshot(&self) -> &Subscriber {
        &self.snapshot
    }

    /// One iteration: returns how many packets came in (handed over by other
    /// data cores, from the wire, from the kernel), so the caller knows when
    /// it is idle.
    pub fn poll(&mut self, now_ms: u64) -> usize {
        if self.snapshot.refresh() {
            self.core.on_snapshot(self.snapshot.get());
        }
        // Packets other cores passed here are ours by the ownership rule:
        // they are never passed on again, so nothing can bounce.
        self.port.handed(&mut self.rx);
        let handed = self.rx.len();
        if handed > 0 {
            self.core.counters.add(Event::HandedIn, handed as u64);
            self.burst(false, now_ms);
        }

        self.port.rx_burst(&mut self.rx);
        let received = self.rx.len();
        let bytes = self.burst(self.out.handoff.len() > 1, now_ms);
        let counters = &self.core.counters;
        counters.add(Event::RxPackets, received as u64);
        counters.add(Event::RxBytes, bytes);

        // The kernel's own packets (ARP, health checks, TCP DNS) and the DNS
        // thread's answers leave through the data port untouched.
        self.port.kernel_burst(&mut self.out.tx);
        let from_kernel = self.out.tx.len();
        self.port.dns_burst(&mut self.out.tx);
        let answers = self.out.tx.len() - from_kernel;
        self.core.counters.add(Event::DnsAnswers, answers as u64);
        self.flush();

        // Ageing keeps pace with the traffic instead of rushing. A wheel
        // slot's flows fall due together (128 ms of new connections); aged
        // at the full budget, they made every poll for a while much longer,
        // and the packets behind it waited. While packets come, a poll ages
        // about twice what it received; an idle poll, the full budget.
        let work = handed + received + from_kernel + answers;
        let budget = if work == 0 { usize::MAX } else { 2 * work + 8 };
        self.core.expire_up_to(now_ms, budget);
        let c = &self.core.counters;
        c.set(Gauge::FlowsActive, u64::from(self.core.flows.len()));
        c.set(Gauge::PipPortsInUse, self.core.pips.in_use() as u64);
        work
    }

    /// Runs the burst in `rx` through the pipeline in passes, so the cache
    /// misses of one packet overlap with the work on the others: parse every
    /// packet and start fetching its index bucket; look every flow up and
    /// start fetching its entry; then translate each, or, for a new
    /// connection, choose where it goes and start fetching its reply key's
    /// bucket; last, open the new connections' flows. With `steer`, a
    /// packet whose flow another core owns is handed to it after parsing.
    /// Packets of new connections leave after the burst's others; those of
    /// one connection keep their order. Returns the bytes the burst held,
    /// counted while each frame is parsed.
    fn burst(&mut self, steer: bool, now_ms: u64) -> u64 {
        let snap = self.snapshot.get();
        let n = self.rx.len();
        let me = self.core.config.id;
        let mut bytes = 0;
        for (i, buf) in self.rx.iter_mut().enumerate() {
            let len = buf.data().len();
            bytes += len as u64;
            self.done[i] = self.core.parse(snap, buf.room(), len, &mut self.prepared[i]);
            if steer && self.done[i].is_none() {
                let owner = self.core.owner(snap, &self.prepared[i]);
                if owner != me {
                    self.done[i] = Some(Action::Handoff(owner as u16));
                }
            }
        }
        // Keys that may be in their second bucket finish this pass after
        // the others, while that bucket comes in.
        let mut second = [0u8; BURST];
        let mut seconds = 0;
        for i in 0..n {
            if self.done[i].is_none() && self.core.resolve(&mut self.prepared[i]) {
                second[seconds] = i as u8;
                seconds += 1;
            }
        }
        for &i in &second[..seconds] {
            self.core.resolve_second(&mut self.prepared[usize::from(i)]);
        }
        for (i, mut buf) in self.rx.drain(..).enumerate() {
            let action = match self.done[i] {
                Some(a) => a,
                None => {
                    let len = buf.data().len();
                    let p = &self.prepared[i];
                    match self.core.finish(snap, buf.room(), len, p, now_ms, &mut self.plans[i]) {
                        Some(a) => a,
                        None => {
                            self.deferred_at[self.deferred.len()] = i as u8;
                            self.deferred.push(buf);
                            continue;
                        }
                    }
                }
            };
            dispatch(&self.core, &mut self.out, action, buf);
        }
        // Fourth pass: open the new connections' flows, whose reply keys'
        // buckets have been coming in meanwhile.
        for (k, mut buf) in self.deferred.drain(..).enumerate() {
            let i = usize::from(self.deferred_at[k]);
            let len = buf.data().len();
            let action = self.core.commit(snap, buf.room(), len, &self.prepared[i], &self.plans[i], now_ms);
            dispatch(&self.core, &mut self.out, action, buf);
        }
        self.flush();
        bytes
    }

    fn flush(&mut self) {
        let c = &self.core.counters;
        // Queries answered here leave with this burst's other packets: a
        // burst's tx and dns together hold at most BURST packets, so the
        // answers fit.
        if let (false, Some(r)) = (self.out.dns.is_empty(), self.responder.as_mut()) {
            let before = self.out.tx.len();
            if r.respond(&mut self.out.dns, &mut self.out.tx) {
                c.add(Event::DnsAnswers, (self.out.tx.len() - before) as u64);
                // Left unanswered: the responder counted them.
                self.port.free(&mut self.out.dns);
            }
        }
        if !self.out.tx.is_empty() {
            let n = self.out.tx.len();
            // Bytes up to each packet: a port sends a prefix of the burst
            // and frees the rest, so the count is read off after the send.
            let mut upto = [0u32; BURST + 1];
            let mut sum = 0;
            for (u, b) in upto[1..].iter_mut().zip(self.out.tx.iter()) {
                sum += b.data().len() as u32;
                *u = sum;
            }
            let lost = self.port.tx_burst(&mut self.out.tx);
            let sent = n - lost;
            c.add(Event::TxPackets, sent as u64);
            c.add(Event::TxBytes, u64::from(upto[sent]));
            if lost > 0 {
                c.count_drops(DropReason::TxFull, lost as u64);
            }
        }
        if !self.out.kernel.is_empty() {
            let lost = self.port.to_kernel(&mut self.out.kernel);
            c.count_drops(DropReason::ExceptionFull, lost as u64);
        }
        if !self.out.dns.is_empty() {
            let lost = self.port.to_dns(&mut self.out.dns);
            c.count_drops(DropReason::DnsRingFull, lost as u64);
        }
        if !self.out.dropped.is_empty() {
            self.port.free(&mut self.out.dropped);
        }
        for (to, pkts) in self.out.handoff.iter_mut().enumerate() {
            if !pkts.is_empty() {
                let lost = self.port.handoff(to as u32, pkts);
                c.count_drops(DropReason::HandoffFull, lost as u64);
            }
        }
    }
}
