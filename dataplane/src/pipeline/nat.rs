//! The address and port rewrites of both paths, with incremental checksums.
//!
//! A flow's deltas are computed once from its two tuples (plus the TTL
//! decrement every forwarded packet gets), so rewriting a packet is: store
//! 12 bytes of addresses and ports, decrement the TTL, and adjust two checksums
//! with one add each (RFC 1624) instead of summing the packet.

use crate::checksum::Delta;
use crate::flow::{Dir, Flow, Tuple};
use crate::wire::ipv4::protocol;

/// The TTL sits in the high byte of its header word: one less TTL is that word
/// going down by 0x0100, whatever the TTL was (a TTL of 0 or 1 is never forwarded).
const TTL_DECREMENT: Delta = Delta::new().replace16(0x0100, 0);

/// Checksum deltas for a packet that arrives as `from` and leaves as `to`:
/// the address part alone, and addresses and ports (what the IPv4 header
/// and the TCP/UDP pseudo-header and ports see).
fn deltas(from: Tuple, to: Tuple) -> (Delta, Delta) {
    let words = |a: u32, b: u32| [(a >> 16) as u16, a as u16, (b >> 16) as u16, b as u16];
    let addrs = Delta::replace_words(words(from.src, from.dst), words(to.src, to.dst));
    let ports = Delta::replace_words([from.sport, from.dport], [to.sport, to.dport]);
    (addrs, addrs.add(ports))
}

/// Fills in a new flow's checksum deltas for both directions. A reply has
/// the same words changed back, so its deltas are the forward ones negated
/// (half the work of computing them again: this runs once per connection);
/// each direction decrements the TTL.
pub fn prepare(flow: &mut Flow) {
    let (addrs, l4) = deltas(flow.orig, flow.xlat);
    flow.fwd_ip_delta = addrs.add(TTL_DECREMENT).bits();
    flow.fwd_l4_delta = l4.bits();
    flow.rev_ip_delta = addrs.negate().add(TTL_DECREMENT).bits();
    flow.rev_l4_delta = l4.negate().bits();
}

/// Where a packet's headers start in its frame.
#[derive(Copy, Clone, Debug)]
pub struct Offsets {
    pub l3: usize,
    pub l4: usize,
}

/// Rewrites a TCP or UDP packet of `flow` travelling in `dir`. The caller has
/// checked the headers are whole (the packet was parsed).
#[inline(always)]
pub fn rewrite(frame: &mut [u8], at: Offsets, flow: &Flow, dir: Dir) {
    let (to, ip_delta, l4_delta) = match dir {
        Dir::Forward => (flow.xlat, flow.fwd_ip_delta, flow.fwd_l4_delta),
        Dir::Reverse => (flow.orig.reversed(), flow.rev_ip_delta, flow.rev_l4_delta),
    };
    // Fixed-size views: one bounds check each instead of one a field.
    let ip: &mut [u8; 20] = (&mut frame[at.l3..at.l3 + 20]).try_into().expect("20 bytes");
    ip[8] -= 1;
    ip[12..16].copy_from_slice(&to.src.to_be_bytes());
    ip[16..20].copy_from_slice(&to.dst.to_be_bytes());
    let csum = u16::from_be_bytes([ip[10], ip[11]]);
    ip[10..12].copy_from_slice(&Delta::from_bits(ip_delta).apply(csum).to_be_bytes());

    let delta = Delta::from_bits(l4_delta);
    if flow.proto == protocol::TCP {
        let l4: &mut [u8; 18] = (&mut frame[at.l4..at.l4 + 18]).try_into().expect("18 bytes");
        l4[0..2].copy_from_slice(&to.sport.to_be_bytes());
        l4[2..4].copy_from_slice(&to.dport.to_be_bytes());
        let csum = u16::from_be_bytes([l4[16], l4[17]]);
        l4[16..18].copy_from_slice(&delta.apply(csum).to_be_bytes());
    } else {
        let l4: &mut [u8; 8] = (&mut frame[at.l4..at.l4 + 8]).try_into().expect("8 bytes");
        l4[0..2].copy_from_slice(&to.sport.to_be_bytes());
        l4[2..4].copy_from_slice(&to.dport.to_be_bytes());
        let csum = u16::from_be_bytes([l4[6], l4[7]]);
        l4[6..8].copy_from_slice(&delta.apply_udp(csum).to_be_bytes());
    }
}
