//! The DPDK implementation of the data path's `Port`: one queue pair of the
//! data port, and the same queue of the kernel (TAP) port for the exception path.
//!
//! Packets are processed in the mbufs they arrived in; what the data path
//! drops goes back to the pool in one bulk call per burst.

use std::ptr::NonNull;
use std::sync::Arc;

use dataplane::port::{Burst, PacketBuf, Port, BURST};
use dpdk_sys as sys;

use crate::dns_rings::DnsRings;
use crate::rings::Rings;

/// One received packet, owned by the data core until sent or freed.
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an mbuf belongs to whoever holds the pointer; it moves between
// lcores only by being handed over whole (as DPDK's rings do).
unsafe impl Send for Mbuf {}

impl Mbuf {
    pub(crate) fn from_raw(m: *mut sys::rte_mbuf) -> Option<Mbuf> {
        NonNull::new(m).map(Mbuf)
    }

    pub(crate) fn into_raw(self) -> *mut sys::rte_mbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
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

fn rx(port: u16, queue: u16, out: &mut Burst<Mbuf>) {
    let want = BURST - out.len();
    if want == 0 {
        return;
    }
    let mut raw = [std::ptr::null_mut(); BURST];
    // SAFETY: `raw` has room for `want` pointers.
    let n = unsafe { sys::gslbd_rx_burst(port, queue, raw.as_mut_ptr(), want as u16) };
    for &m in &raw[..usize::from(n)] {
        if let Some(m) = NonNull::new(m) {
            out.push(Mbuf(m));
        }
    }
}

fn tx(port: u16, queue: u16, pkts: &mut Burst<Mbuf>) -> usize {
    let mut raw = [std::ptr::null_mut(); BURST];
    let n = pkts.len();
    for (slot, m) in raw.iter_mut().zip(pkts.drain(..)) {
        *slot = m.into_raw();
    }
    // SAFETY: the first n pointers are valid mbufs we own; the driver takes
    // the first `sent` of them.
    let sent = usize::from(unsafe { sys::gslbd_tx_burst(port, queue, raw.as_mut_ptr(), n as u16) });
    if sent < n {
        // SAFETY: the unsent tail is still ours.
        unsafe { sys::gslbd_pktmbuf_free_bulk(raw[sent..].as_mut_ptr(), (n - sent) as u32) };
    }
    n - sent
}

/// Queues mbufs on an `rte_ring`, freeing what does not fit (leaving `pkts`
/// empty); returns how many were freed.
pub(crate) fn ring_enqueue(ring: *mut sys::rte_ring, pkts: &mut Burst<Mbuf>) -> usize {
    let mut raw = [std::ptr::null_mut(); BURST];
    let n = pkts.len();
    for (slot, m) in raw.iter_mut().zip(pkts.drain(..)) {
        *slot = m.into_raw().cast::<std::ffi::c_void>();
    }
    // SAFETY: n owned mbufs; the ring takes the first `queued`.
    let queued = unsafe { sys::gslbd_ring_enqueue_burst(ring, raw.as_ptr(), n as u32) } as usize;
    if queued < n {
        // SAFETY: the rest are still ours.
        unsafe { sys::gslbd_pktmbuf_free_bulk(raw[queued..].as_mut_ptr().cast(), (n - queued) as u32) };
    }
    n - queued
}

/// Appends up to `BURST - out.len()` mbufs taken from an `rte_ring`.
pub(crate) fn ring_dequeue(ring: *mut sys::rte_ring, out: &mut Burst<Mbuf>) {
    let want = BURST - out.len();
    let mut raw = [std::ptr::null_mut(); BURST];
    // SAFETY: room for `want` pointers.
    let n = unsafe { sys::gslbd_ring_dequeue_burst(ring, raw.as_mut_ptr(), want as u32) } as usize;
    for &m in &raw[..n] {
        if let Some(m) = Mbuf::from_raw(m.cast::<sys::rte_mbuf>()) {
            out.push(m);
        }
    }
}

impl DpdkQueue {
    /// Sends what the device takes and leaves the rest, in order, in `pkts`
    /// to be tried again (a generator that must not lose its answers);
    /// returns how many were sent.
    pub fn tx_keep(&mut self, pkts: &mut Burst<Mbuf>) -> usize {
        let mut raw = [std::ptr::null_mut(); BURST];
        let n = pkts.len();
        for (slot, m) in raw.iter_mut().zip(pkts.drain(..)) {
            *slot = m.into_raw();
        }
        // SAFETY: the first n pointers are valid mbufs we own; the driver
        // takes the first `sent` of them and the rest stay ours.
        let sent =
            usize::from(unsafe { sys::gslbd_tx_burst(self.port, self.queue, raw.as_mut_ptr(), n as u16) });
        for &m in &raw[sent..n] {
            if let Some(m) = Mbuf::from_raw(m) {
                pkts.push(m);
            }
        }
        sent
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
        let mut raw = [std::ptr::null_mut(); BURST];
        let n = pkts.len();
        for (slot, m) in raw.iter_mut().zip(pkts.drain(..)) {
            *slot = m.into_raw();
        }
        // SAFETY: n owned mbufs.
        unsafe { sys::gslbd_pktmbuf_free_bulk(raw.as_mut_ptr(), n as u32) };
    }
}
