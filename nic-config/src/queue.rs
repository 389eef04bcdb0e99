//! The DPDK implementation of the data path's `Port`: one queue pair of the
//! data port, and the same queue of the kernel (TAP) port for the exception path.
//!
//! Packets are processed in the mbufs they arrived in; what the data path
//! drops goes back to the pool in one bulk call per burst.
//!
//! A `Burst<Mbuf>` is laid out as the array of mbuf pointers DPDK's burst
//! calls take (`Mbuf` is a transparent non-null pointer), so the drivers and
//! rings read and write the burst's own storage: no copy of the pointers
//! into a scratch array and back, which cost a few instructions a packet
//! each way.

use std::ptr::NonNull;
use std::sync::Arc;

use dataplane::port::{Burst, PacketBuf, Port, BURST};
use dpdk_sys as sys;

use crate::dns_rings::DnsRings;
use crate::rings::Rings;

/// One received packet, owned by the data core until sent or freed.
#[repr(transparent)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an mbuf belongs to whoever holds the pointer; it moves between
// lcores only by being handed over whole (as DPDK's rings do).
unsafe impl Send for Mbuf {}

impl Mbuf {
    pub(crate) fn from_raw(m: *mut sys::rte_mbuf) -> Option<Mbuf> {
        NonNull::new(m).map(Mbuf)
    }
}

// The accessors read the mbuf's fields directly (single-segment mbufs:
// the frame starts at buf_addr + data_off) rather than through the shim:
// a call per field per packet was a visible share of the per-packet cost.
impl PacketBuf for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        // SAFETY: a single-segment mbuf's frame is data_len bytes at
        // buf_addr + data_off, inside its buffer.
        unsafe {
            let m = self.0.as_ref();
            std::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    #[inline]
    fn room(&mut self) -> &mut [u8] {
        // SAFETY: from the frame's first byte to the end of the buffer is
        // ours to write while we own the mbuf.
        unsafe {
            let m = self.0.as_mut();
            let off = usize::from(m.data_off);
            std::slice::from_raw_parts_mut(
                m.buf_addr.cast::<u8>().add(off),
                usize::from(m.buf_len).saturating_sub(off),
            )
        }
    }

    #[inline]
    fn set_len(&mut self, len: usize) {
        let room = self.room().len();
        let len = len.min(room) as u16;
        // SAFETY: we own the mbuf; single segment, so pkt_len == data_len.
        unsafe {
            let m = self.0.as_mut();
            m.data_len = len;
            m.pkt_len = u32::from(len);
        }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf.
        unsafe { sys::gslbd_pktmbuf_free(self.0.as_ptr()) };
    }
}

/// A data core's queues: `queue` on the data port and, if there is an
/// exception path, the same queue on the kernel port; with several data
/// cores, the hand-off rings (this core's is number `queue`); the DNS
/// thread's rings (the appliance always has them; a generator has none).
pub struct DpdkQueue {
    pub port: u16,
    pub queue: u16,
    pub kernel: Option<u16>,
    pub rings: Option<Arc<Rings>>,
    pub dns: Option<Arc<DnsRings>>,
}

/// The burst's storage as DPDK's array of mbuf pointers, and its length.
/// The caller sets the burst's length once the pointers' fate is known.
fn raw(pkts: &mut Burst<Mbuf>) -> (*mut *mut sys::rte_mbuf, usize) {
    // `Mbuf` is `repr(transparent)` over a non-null `*mut rte_mbuf`.
    (pkts.as_mut_ptr().cast::<*mut sys::rte_mbuf>(), pkts.len())
}

/// Gives up the burst's mbufs to a call that takes them (or frees them):
/// the burst is empty from here on, whatever the call does.
fn give_up(pkts: &mut Burst<Mbuf>) -> (*mut *mut sys::rte_mbuf, usize) {
    let n = pkts.len();
    // SAFETY: shortening never exposes uninitialised elements; the pointers
    // stay in the storage for the caller to pass on. The storage pointer is
    // taken after this last use of the burst, so nothing invalidates it.
    unsafe { pkts.set_len(0) };
    (raw(pkts).0, n)
}

fn rx(port: u16, queue: u16, out: &mut Burst<Mbuf>) {
    let (base, have) = raw(out);
    let want = BURST - have;
    if want == 0 {
        return;
    }
    // SAFETY: the driver writes `n <= want` valid, non-null mbuf pointers
    // into the burst's spare room, which then holds initialised `Mbuf`s.
    unsafe {
        let n = sys::gslbd_rx_burst(port, queue, base.add(have), want as u16);
        out.set_len(have + usize::from(n));
    }
}

fn tx(port: u16, queue: u16, pkts: &mut Burst<Mbuf>) -> usize {
    let (raw, n) = give_up(pkts);
    // SAFETY: the first n pointers are valid mbufs we own; the driver takes
    // the first `sent` of them and the unsent tail is still ours to free.
    unsafe {
        let sent = usize::from(sys::gslbd_tx_burst(port, queue, raw, n as u16));
        if sent < n {
            sys::gslbd_pktmbuf_free_bulk(raw.add(sent), (n - sent) as u32);
        }
        n - sent
    }
}

/// Queues mbufs on an `rte_ring`, freeing what does not fit (leaving `pkts`
/// empty); returns how many were freed.
pub(crate) fn ring_enqueue(ring: *mut sys::rte_ring, pkts: &mut Burst<Mbuf>) -> usize {
    let (raw, n) = give_up(pkts);
    // SAFETY: n owned mbufs; the ring takes the first `queued` and the rest
    // are still ours to free.
    unsafe {
        let queued = sys::gslbd_ring_enqueue_burst(ring, raw.cast(), n as u32) as usize;
        if queued < n {
            sys::gslbd_pktmbuf_free_bulk(raw.add(queued), (n - queued) as u32);
        }
        n - queued
    }
}

/// Appends up to `BURST - out.len()` mbufs taken from an `rte_ring`.
pub(crate) fn ring_dequeue(ring: *mut sys::rte_ring, out: &mut Burst<Mbuf>) {
    let (base, have) = raw(out);
    let want = BURST - have;
    // SAFETY: the ring holds only mbufs queued by `ring_enqueue`; it writes
    // `n <= want` of them into the burst's spare room.
    unsafe {
        let n = sys::gslbd_ring_dequeue_burst(ring, base.add(have).cast(), want as u32) as usize;
        out.set_len(have + n);
    }
}

impl DpdkQueue {
    /// Sends what the device takes and leaves the rest, in order, in `pkts`
    /// to be tried again (a generator that must not lose its answers);
    /// returns how many were sent.
    pub fn tx_keep(&mut self, pkts: &mut Burst<Mbuf>) -> usize {
        let (raw, n) = give_up(pkts);
        // SAFETY: the first n pointers are valid mbufs we own; the driver
        // takes the first `sent` of them, and the rest, still ours, move to
        // the front of the burst in their order.
        unsafe {
            let sent = usize::from(sys::gslbd_tx_burst(self.port, self.queue, raw, n as u16));
            std::ptr::copy(raw.add(sent), raw, n - sent);
            pkts.set_len(n - sent);
            sent
        }
    }
}

impl Port for DpdkQueue {
    type Buf = Mbuf;

    #[inline]
    fn rx_burst(&mut self, out: &mut Burst<Mbuf>) {
        rx(self.port, self.queue, out);
    }

    #[inline]
    fn tx_burst(&mut self, pkts: &mut Burst<Mbuf>) -> usize {
        tx(self.port, self.queue, pkts)
    }

    fn to_kernel(&mut self, pkts: &mut Burst<Mbuf>) -> usize {
        match self.kernel {
            Some(k) => tx(k, self.queue, pkts),
            None => {
                let n = pkts.len();
                self.free(pkts);
                n
            }
        }
    }

    fn kernel_burst(&mut self, out: &mut Burst<Mbuf>) {
        if let Some(k) = self.kernel {
            rx(k, self.queue, out);
        }
    }

    fn handoff(&mut self, to: u32, pkts: &mut Burst<Mbuf>) -> usize {
        match self.rings.as_ref().and_then(|r| r.get(to as usize)) {
            Some(ring) => ring_enqueue(ring, pkts),
            None => {
                let n = pkts.len();
                self.free(pkts);
                n
            }
        }
    }

    fn handed(&mut self, out: &mut Burst<Mbuf>) {
        if let Some(ring) = self.rings.as_ref().and_then(|r| r.get(usize::from(self.queue))) {
            // Only this core dequeues its ring.
            ring_dequeue(ring, out);
        }
    }

    fn to_dns(&mut self, pkts: &mut Burst<Mbuf>) -> usize {
        match &self.dns {
            Some(d) => d.ask(pkts),
            None => self.to_kernel(pkts),
        }
    }

    fn dns_burst(&mut self, out: &mut Burst<Mbuf>) {
        if let Some(d) = &self.dns {
            d.answers(out);
        }
    }

    #[inline]
    fn free(&mut self, pkts: &mut Burst<Mbuf>) {
        let (raw, n) = give_up(pkts);
        // SAFETY: n owned mbufs.
        unsafe { sys::gslbd_pktmbuf_free_bulk(raw, n as u32) };
    }
}
