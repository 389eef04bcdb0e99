//! The data core's loop: burst in, process, burst out, age flows.
//!
//! A worker owns its port queue, its `Core` and its snapshot subscription.
//! `poll` is one iteration; the caller (a DPDK lcore, a thread, a test) loops
//! on it, backing off when it returns 0. The snapshot is refreshed only between
//! bursts, so every packet of a burst sees one consistent state.

use crate::counters::{DropReason, Event};
use crate::pipeline::{Action, Core};
use crate::port::{Burst, PacketBuf, Port};
use crate::snapshot::Subscriber;

pub struct Worker<P: Port> {
    pub core: Core,
    pub port: P,
    snapshot: Subscriber,
    rx: Burst<P::Buf>,
    tx: Burst<P::Buf>,
    kernel: Burst<P::Buf>,
    dropped: Burst<P::Buf>,
}

impl<P: Port> Worker<P> {
    pub fn new(core: Core, port: P, snapshot: Subscriber) -> Worker<P> {
        Worker {
            core,
            port,
            snapshot,
            rx: Burst::new(),
            tx: Burst::new(),
            kernel: Burst::new(),
            dropped: Burst::new(),
        }
    }

    pub fn snapshot(&self) -> &Subscriber {
        &self.snapshot
    }

    /// One iteration: returns how many packets were received (from the wire
    /// and from the kernel), so the caller knows when it is idle.
    pub fn poll(&mut self, now_ms: u64) -> usize {
        if self.snapshot.refresh() {
            self.core.on_snapshot(self.snapshot.get());
        }
        self.port.rx_burst(&mut self.rx);
        let received = self.rx.len();
        let snap = self.snapshot.get();
        for mut buf in self.rx.drain(..) {
            let len = buf.data().len();
            match self.core.process(snap, buf.room(), len, now_ms) {
                Action::Tx(n) => {
                    buf.set_len(n);
                    self.tx.push(buf);
                }
                Action::Kernel => self.kernel.push(buf),
                Action::Drop(_) => self.dropped.push(buf),
            }
        }
        self.flush();

        // The kernel's own packets (ARP, health checks, DNS answers) leave
        // through the data port untouched.
        self.port.kernel_burst(&mut self.tx);
        let from_kernel = self.tx.len();
        self.core.counters.add(Event::TxPackets, from_kernel as u64);
        self.flush();

        self.core.expire(now_ms);
        received + from_kernel
    }

    fn flush(&mut self) {
        let c = &self.core.counters;
        if !self.tx.is_empty() {
            let lost = self.port.tx_burst(&mut self.tx);
            if lost > 0 {
                c.count_drops(DropReason::TxFull, lost as u64);
                c.add(Event::TxPackets, 0u64.wrapping_sub(lost as u64));
            }
        }
        if !self.kernel.is_empty() {
            let lost = self.port.to_kernel(&mut self.kernel);
            c.count_drops(DropReason::ExceptionFull, lost as u64);
        }
        if !self.dropped.is_empty() {
            self.port.free(&mut self.dropped);
        }
    }
}
