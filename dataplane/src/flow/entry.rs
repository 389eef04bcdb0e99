//! One flow entry: everything needed to rewrite both directions of a connection,
//! in one 64-byte cache line.
//!
//! Both rewrites follow from two tuples: `orig` (client → VIP, as received) and
//! `xlat` (the forward packet after translation). Forward packets take `xlat`;
//! replies arrive as `xlat.reversed()` and leave as `orig.reversed()`. The
//! checksum deltas for both directions are computed once, when the flow is made,
//! so the per-packet rewrite is a few stores and two one's-complement adds.

use super::key::{FlowKey, Tuple};
use super::table::Dir;

/// How a flow leaves the appliance.
#[repr(u8)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Path {
    /// To a real server of this site (destination NAT only).
    Local = 0,
    /// To another site's VIP, source rewritten to one of our proxy IPs (full NAT).
    Proxy = 1,
}

#[repr(C, align(64))]
#[derive(Copy, Clone, Debug, bytemuck::Zeroable)]
pub struct Flow {
    /// As the client sent it: client → VIP.
    pub orig: Tuple,
    /// Forward direction after translation: client or PIP → real server or remote VIP.
    pub xlat: Tuple,
    pub proto: u8,
    /// A `state::State` as `u8`.
    pub state: u8,
    /// A `Path` as `u8`.
    pub path: u8,
    /// Index of the PIP in the snapshot's list (proxy flows).
    pub pip: u8,
    /// Where replies to the client go: the L2 source of the client's first frame
    /// (the client itself, or the router in front of it).
    pub client_mac: [u8; 6],
    /// Real-server id (local path) or the service's remote-target index (proxy path).
    pub target: u16,
    pub service: u16,
    /// Folded one's-complement deltas (RFC 1624) for each header checksum.
    pub fwd_ip_delta: u16,
    pub fwd_l4_delta: u16,
    pub rev_ip_delta: u16,
    pub rev_l4_delta: u16,
    pub _reserved: u16,
    /// Low 32 bits of the millisecond clock at which the flow may be aged out.
    pub expires: u32,
    /// Timer-wheel bookkeeping, owned by the table.
    pub(super) slot: u32,
    pub(super) next: u32,
    pub(super) prev: u32,
}

const _: () = assert!(std::mem::size_of::<Flow>() == 64);

impl Flow {
    /// A flow about to be inserted: both tuples and the protocol; the rest is
    /// filled by the caller before or after insertion.
    pub fn new(orig: Tuple, xlat: Tuple, proto: u8) -> Flow {
        Flow { orig, xlat, proto, ..bytemuck::Zeroable::zeroed() }
    }

    #[inline]
    pub fn forward_key(&self) -> FlowKey {
        FlowKey::new(self.orig, self.proto)
    }

    #[inline]
    pub fn reverse_key(&self) -> FlowKey {
        FlowKey::new(self.xlat.reversed(), self.proto)
    }

    /// Whether `key` is this flow's key in direction `dir`: two word compares
    /// (a reply's words are the forward translation's, rotated). Comparing
    /// reversed tuples field by field was 7 % of the burst's time (perf,
    /// 1,000 flows).
    #[inline(always)]
    pub fn has_key(&self, dir: Dir, key: &FlowKey) -> bool {
        let (o, x) = (self.orig.words(), self.xlat.words());
        let (a, p) = match dir {
            Dir::Forward => o,
            Dir::Reverse => (x.0.rotate_left(32), x.1.rotate_left(16)),
        };
        let (ka, kp) = key.tuple.words();
        (a ^ ka) | u64::from(p ^ kp) | u64::from(self.proto ^ key.proto) == 0
    }

    #[inline]
    pub fn path(&self) -> Path {
        if self.path == Path::Proxy as u8 {
            Path::Proxy
        } else {
            Path::Local
        }
    }

    #[inline]
    pub fn state(&self) -> super::State {
        super::State::from_u8(self.state)
    }
}
