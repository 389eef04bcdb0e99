//! An in-memory `Port`: frames go in and come out as byte vectors.
//!
//! Buffers come from a pool made at start and return to it, so the worker's
//! own path allocates nothing here either; only `inject` and `take_*` (the test
//! side) copy to and from `Vec`s.

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use super::{Burst, PacketBuf, Port};

/// Room per buffer, like a DPDK mbuf's default data room.
pub const BUF_ROOM: usize = 2048;

pub struct MemBuf {
    bytes: Box<[u8; BUF_ROOM]>,
    len: usize,
}

impl MemBuf {
    pub fn new() -> MemBuf {
        MemBuf { bytes: Box::new([0; BUF_ROOM]), len: 0 }
    }

    pub fn fill(&mut self, frame: &[u8]) {
        let n = frame.len().min(BUF_ROOM);
        self.bytes[..n].copy_from_slice(&frame[..n]);
        self.len = n;
    }
}

impl Default for MemBuf {
    fn default() -> Self {
        MemBuf::new()
    }
}

impl PacketBuf for MemBuf {
    #[inline]
    fn data(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
    #[inline]
    fn room(&mut self) -> &mut [u8] {
        &mut self.bytes[..]
    }
    #[inline]
    fn set_len(&mut self, len: usize) {
        self.len = len.min(BUF_ROOM);
    }
}

pub struct MemoryPort {
    pool: Vec<MemBuf>,
    rx: VecDeque<MemBuf>,
    tx: VecDeque<MemBuf>,
    kernel_rx: VecDeque<MemBuf>,
    kernel_tx: VecDeque<MemBuf>,
    /// Queries given to the DNS thread and its answers, once `enable_dns`
    /// is called; until then queries go to the kernel, as on a port
    /// without a DNS ring.
    dns: Option<(VecDeque<MemBuf>, VecDeque<MemBuf>)>,
    /// Most packets the transmit side holds before it reports a full queue.
    tx_limit: usize,
    /// With several data cores: this core's index and every core's hand-off
    /// ring (lock-free, bounded).
    rings: Option<(usize, Arc<[ArrayQueue<MemBuf>]>)>,
}

impl MemoryPort {
    pub fn new(buffers: usize) -> MemoryPort {
        MemoryPort {
            pool: (0..buffers).map(|_| MemBuf::new()).collect(),
            rx: VecDeque::with_capacity(buffers),
            tx: VecDeque::with_capacity(buffers),
            kernel_rx: VecDeque::with_capacity(buffers),
            kernel_tx: VecDeque::with_capacity(buffers),
            dns: None,
            tx_limit: buffers,
            rings: None,
        }
    }

    /// Ports for `cores` data cores that hand packets to each other.
    pub fn group(cores: usize, buffers: usize) -> Vec<MemoryPort> {
        let rings: Arc<[ArrayQueue<MemBuf>]> = (0..cores).map(|_| ArrayQueue::new(1024)).collect();
        (0..cores)
            .map(|me| {
                let mut p = MemoryPort::new(buffers);
                p.rings = Some((me, rings.clone()));
                p
            })
            .collect()
    }

    /// Gives the port a DNS ring: `take_dns` and `answer_dns` are the DNS
    /// thread's side of it.
    pub fn enable_dns(&mut self) {
        self.dns = Some((VecDeque::new(), VecDeque::new()));
    }

    /// Queries given to the DNS ring since the last call.
    pub fn take_dns(&mut self) -> Vec<Vec<u8>> {
        match &mut self.dns {
            Some((queries, _)) => Self::drain(&mut self.pool, queries),
            None => Vec::new(),
        }
    }

    /// Queues an answer as if the DNS thread had written it.
    pub fn answer_dns(&mut self, frame: &[u8]) -> bool {
        let Some(b) = self.buf(frame) else { return false };
        match &mut self.dns {
            Some((_, answers)) => answers.push_back(b),
            None => self.pool.push(b),
        }
        self.dns.is_some()
    }

    /// Makes the transmit queue refuse packets beyond `limit` waiting ones.
    pub fn set_tx_limit(&mut self, limit: usize) {
        self.tx_limit = limit;
    }

    fn buf(&mut self, frame: &[u8]) -> Option<MemBuf> {
        let mut b = self.pool.pop()?;
        b.fill(frame);
        Some(b)
    }

    /// Queues a frame as if it had arrived on the wire; false if the pool is empty.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        self.buf(frame).map(|b| self.rx.push_back(b)).is_some()
    }

    /// Queues a frame as if the kernel had sent it through the data port.
    pub fn inject_from_kernel(&mut self, frame: &[u8]) -> bool {
        self.buf(frame).map(|b| self.kernel_tx.push_back(b)).is_some()
    }

    fn drain(pool: &mut Vec<MemBuf>, q: &mut VecDeque<MemBuf>) -> Vec<Vec<u8>> {
        q.drain(..)
            .map(|b| {
                let v = b.data().to_vec();
                pool.push(b);
                v
            })
            .collect()
    }

    /// Frames sent on the wire since the last call.
    pub fn take_tx(&mut self) -> Vec<Vec<u8>> {
        Self::drain(&mut self.pool, &mut self.tx)
    }

    /// Frames handed to the kernel since the last call.
    pub fn take_kernel(&mut self) -> Vec<Vec<u8>> {
        Self::drain(&mut self.pool, &mut self.kernel_rx)
    }

    pub fn pending_rx(&self) -> usize {
        self.rx.len()
    }

    pub fn free_buffers(&self) -> usize {
        self.pool.len()
    }
}

impl Port for MemoryPort {
    type Buf = MemBuf;

    fn rx_burst(&mut self, out: &mut Burst<MemBuf>) {
        while !out.is_full() {
            match self.rx.pop_front() {
                Some(b) => out.push(b),
                None => break,
            }
        }
    }

    fn tx_burst(&mut self, pkts: &mut Burst<MemBuf>) -> usize {
        let mut dropped = 0;
        for b in pkts.drain(..) {
            if self.tx.len() < self.tx_limit {
                self.tx.push_back(b);
            } else {
                self.pool.push(b);
                dropped += 1;
            }
        }
        dropped
    }

    fn to_kernel(&mut self, pkts: &mut Burst<MemBuf>) -> usize {
        self.kernel_rx.extend(pkts.drain(..));
        0
    }

    fn kernel_burst(&mut self, out: &mut Burst<MemBuf>) {
        while !out.is_full() {
            match self.kernel_tx.pop_front() {
                Some(b) => out.push(b),
                None => break,
            }
        }
    }

    fn to_dns(&mut self, pkts: &mut Burst<MemBuf>) -> usize {
        match &mut self.dns {
            Some((queries, _)) => {
                queries.extend(pkts.drain(..));
                0
            }
            None => self.to_kernel(pkts),
        }
    }

    fn dns_burst(&mut self, out: &mut Burst<MemBuf>) {
        let Some((_, answers)) = &mut self.dns else { return };
        while !out.is_full() {
            match answers.pop_front() {
                Some(b) => out.push(b),
                None => break,
            }
        }
    }

    fn free(&mut self, pkts: &mut Burst<MemBuf>) {
        self.pool.extend(pkts.drain(..));
    }

    fn handoff(&mut self, to: u32, pkts: &mut Burst<MemBuf>) -> usize {
        let mut lost = 0;
        for b in pkts.drain(..) {
            let refused = match self.rings.as_ref().and_then(|(_, rings)| rings.get(to as usize)) {
                Some(ring) => ring.push(b),
                None => Err(b),
            };
            if let Err(b) = refused {
                self.pool.push(b);
                lost += 1;
            }
        }
        lost
    }

    fn handed(&mut self, out: &mut Burst<MemBuf>) {
        let Some((me, rings)) = &self.rings else { return };
        while !out.is_full() {
            match rings[*me].pop() {
                Some(b) => out.push(b),
                None => break,
            }
        }
    }
}
