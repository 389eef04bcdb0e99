//! A `Port` that replays prepared frames as fast as the core takes them.
//!
//! `rx_burst` copies the next frames of a prepared sequence into recycled
//! buffers, as a NIC's DMA would; `tx_burst` only counts and recycles. Both
//! the data path and the MAC-swap baseline run over this same port, so the
//! difference between them is the data path's own work.

use dataplane::port::{Burst, MemBuf, PacketBuf, Port, BURST};

pub struct BenchPort {
    /// Frames laid end to end, `stride` bytes apart, each `frame_len` long.
    frames: Vec<u8>,
    stride: usize,
    frame_len: usize,
    count: usize,
    next: usize,
    pool: Vec<MemBuf>,
    pub sent: u64,
    pub sent_bytes: u64,
    pub freed: u64,
    /// Frames still to hand out before `rx_burst` reports idle.
    pub budget: u64,
}

impl BenchPort {
    /// A port replaying `frames` (all the same length) in order, forever.
    pub fn new(frames: &[Vec<u8>]) -> BenchPort {
        let frame_len = frames.first().map_or(0, |f| f.len());
        let stride = frame_len.next_multiple_of(64);
        let mut flat = vec![0u8; stride * frames.len()];
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.len(), frame_len, "all frames must have one length");
            flat[i * stride..i * stride + frame_len].copy_from_slice(f);
        }
        BenchPort::replaying(flat, stride, frame_len, frames.len())
    }

    /// Another port replaying the same frames.
    pub fn clone_frames(&self) -> BenchPort {
        BenchPort::replaying(self.frames.clone(), self.stride, self.frame_len, self.count)
    }

    fn replaying(frames: Vec<u8>, stride: usize, frame_len: usize, count: usize) -> BenchPort {
        BenchPort {
            frames,
            stride,
            frame_len,
            count,
            next: 0,
            pool: (0..4 * BURST).map(|_| MemBuf::new()).collect(),
            sent: 0,
            sent_bytes: 0,
            freed: 0,
            budget: 0,
        }
    }

    pub fn rewind(&mut self) {
        self.next = 0;
    }
}

impl Port for BenchPort {
    type Buf = MemBuf;

    #[inline]
    fn rx_burst(&mut self, out: &mut Burst<MemBuf>) {
        while !out.is_full() && self.budget > 0 {
            let Some(mut b) = self.pool.pop() else { break };
            let at = self.next * self.stride;
            b.fill(&self.frames[at..at + self.frame_len]);
            out.push(b);
            self.next += 1;
            if self.next == self.count {
                self.next = 0;
            }
            self.budget -= 1;
        }
    }

    #[inline]
    fn tx_burst(&mut self, pkts: &mut Burst<MemBuf>) -> usize {
        self.sent += pkts.len() as u64;
        for b in pkts.drain(..) {
            self.sent_bytes += b.data().len() as u64;
            self.pool.push(b);
        }
        0
    }

    fn to_kernel(&mut self, pkts: &mut Burst<MemBuf>) -> usize {
        self.free(pkts);
        0
    }

    #[inline]
    fn kernel_burst(&mut self, _out: &mut Burst<MemBuf>) {}

    #[inline]
    fn free(&mut self, pkts: &mut Burst<MemBuf>) {
        self.freed += pkts.len() as u64;
        self.pool.extend(pkts.drain(..));
    }
}
