//! What a data core needs from a NIC queue: bursts of packet buffers in and out.
//!
//! The worker is generic over `Port`, so the same loop runs on a DPDK queue
//! (mbufs) and on the in-memory port the tests and the demo use.

mod memory;

pub use memory::{MemBuf, MemoryPort};

use arrayvec::ArrayVec;

/// Packets per burst: DPDK's customary 32 keeps a burst's flow entries and
/// buckets within L1 while amortising the per-burst costs.
pub const BURST: usize = 32;

pub type Burst<B> = ArrayVec<B, BURST>;

/// One packet buffer, owned by the core while it processes it.
pub trait PacketBuf {
    /// The frame as received (or as rewritten so far).
    fn data(&self) -> &[u8];
    /// The whole writable room from the frame's first byte: the frame may grow
    /// into it (e.g. when a SYN is answered with an ICMP error).
    fn room(&mut self) -> &mut [u8];
    /// Sets the frame length (at most `room().len()`).
    fn set_len(&mut self, len: usize);
}

pub trait Port {
    type Buf: PacketBuf;

    /// Appends up to `BURST - out.len()` received packets to `out`.
    fn rx_burst(&mut self, out: &mut Burst<Self::Buf>);

    /// Sends the packets in `pkts` (leaving it empty); returns how many could
    /// not be sent and were freed: always the last ones of the burst.
    fn tx_burst(&mut self, pkts: &mut Burst<Self::Buf>) -> usize;

    /// Hands packets to the kernel (the appliance's own traffic), leaving
    /// `pkts` empty; returns how many were freed for lack of room.
    fn to_kernel(&mut self, pkts: &mut Burst<Self::Buf>) -> usize;

    /// Appends packets the kernel sent out through the data port.
    fn kernel_burst(&mut self, out: &mut Burst<Self::Buf>);

    /// Returns dropped packets' buffers to their pool, leaving `pkts` empty.
    fn free(&mut self, pkts: &mut Burst<Self::Buf>);

    /// Hands packets to data core `to`, which owns their flows, leaving `pkts`
    /// empty; returns how many were freed for lack of room. Only ports of
    /// more than one data core are asked to.
    fn handoff(&mut self, to: u32, pkts: &mut Burst<Self::Buf>) -> usize {
        let _ = to;
        let n = pkts.len();
        self.free(pkts);
        n
    }

    /// Appends packets other data cores handed to this one.
    fn handed(&mut self, out: &mut Burst<Self::Buf>) {
        let _ = out;
    }

    /// Gives DNS queries to the DNS thread, leaving `pkts` empty; returns how
    /// many were freed for lack of room. A port without a DNS ring hands
    /// them to the kernel, whose socket answers them too.
    fn to_dns(&mut self, pkts: &mut Burst<Self::Buf>) -> usize {
        self.to_kernel(pkts)
    }

    /// Appends the DNS thread's answers, to be sent on the data port.
    fn dns_burst(&mut self, out: &mut Burst<Self::Buf>) {
        let _ = out;
    }
}
