//! The frames `udp`, `syn` and `proxy` modes send, and what the generator
//! reads back from them: built in place from one template (copy, patch the
//! client endpoint and the IPv4 checksum), since the generator must outrun
//! what it measures on the other core of a 2-core machine.

use std::net::Ipv4Addr;

use dataplane::checksum;
use dataplane::wire::MacAddr;

use super::{Args, Mode};

pub(crate) const ETH: usize = 14;
pub(crate) const IP: usize = ETH;
pub(crate) const L4: usize = ETH + 20;
/// Where the timestamp and sequence number go: after a UDP header, or at
/// the same offset inside a TCP header's options-free SYN (its sequence
/// number and ack fields carry them instead).
pub(crate) const UDP_STAMP: usize = L4 + 8;

/// Client endpoint `i`: 100.64.0.0/10 by 16 ports each (flow order is the
/// caller's). Nothing else the generator sees lives in that prefix.
pub(crate) fn client(i: u32) -> (Ipv4Addr, u16) {
    let i = i & 0x03ff_ffff;
    (Ipv4Addr::from(0x6440_0000 | (i >> 4)), 1024 + (i & 15) as u16 * 4001)
}

/// Whether a received frame is on its way to a client (else, in `proxy`
/// mode, it is for the remote site to answer).
#[inline]
pub(crate) fn to_client(f: &[u8]) -> bool {
    f.len() >= IP + 20
        && u32::from_be_bytes([f[IP + 16], f[IP + 17], f[IP + 18], f[IP + 19]]) >> 22 == 0x6440_0000 >> 22
}

/// Turns a forwarded UDP frame into the reply its destination would send:
/// addresses and ports swapped, which changes neither checksum (both are
/// sums over the same words). False if it is not a UDP/IPv4 frame.
#[inline]
pub(crate) fn reflect(f: &mut [u8], src_mac: MacAddr, dst_mac: MacAddr) -> bool {
    if f.len() < L4 + 8 || f[12..14] != [0x08, 0x00] || f[IP] != 0x45 || f[IP + 9] != 17 {
        return false;
    }
    f[0..6].copy_from_slice(&dst_mac.0);
    f[6..12].copy_from_slice(&src_mac.0);
    let (a, b) = f[IP + 12..IP + 20].split_at_mut(4);
    a.swap_with_slice(b);
    let (a, b) = f[L4..L4 + 4].split_at_mut(2);
    a.swap_with_slice(b);
    true
}

pub(crate) struct Template {
    pub(crate) frame: Vec<u8>,
    /// The IPv4 header checksum's one's-complement sum without the source address.
    ip_sum: u32,
}

pub(crate) fn template(a: &Args, src_mac: MacAddr) -> Template {
    let tcp = a.mode == Mode::Syn;
    let size = if tcp { a.size.max(L4 + 20) } else { a.size.max(UDP_STAMP + 16) };
    let mut f = vec![0u8; size];
    f[0..6].copy_from_slice(&a.dst_mac.0);
    f[6..12].copy_from_slice(&src_mac.0);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (size - ETH) as u16;
    f[IP] = 0x45;
    f[IP + 2..IP + 4].copy_from_slice(&ip_len.to_be_bytes());
    f[IP + 8] = 64;
    f[IP + 9] = if tcp { 6 } else { 17 };
    f[IP + 16..IP + 20].copy_from_slice(&a.vip.octets());
    f[L4 + 2..L4 + 4].copy_from_slice(&a.port.to_be_bytes());
    if tcp {
        f[L4 + 12] = 5 << 4;
        f[L4 + 13] = 0x02; // SYN
        f[L4 + 14..L4 + 16].copy_from_slice(&64240u16.to_be_bytes());
    } else {
        f[L4 + 4..L4 + 6].copy_from_slice(&(ip_len - 20).to_be_bytes());
        // UDP checksum 0: none (RFC 768), so the payload can change freely.
    }
    let ip_sum = checksum::sum(&f[IP..IP + 20]);
    Template { frame: f, ip_sum }
}

/// Writes flow `i`'s packet stamped `now`, `seq` into `buf`; returns its length.
#[inline]
pub(crate) fn fill(t: &Template, mode: Mode, buf: &mut [u8], i: u32, now: u64, seq: u64) -> usize {
    let n = t.frame.len();
    let f = &mut buf[..n];
    f.copy_from_slice(&t.frame);
    let (src, sport) = client(i);
    let s = src.octets();
    f[IP + 12..IP + 16].copy_from_slice(&s);
    let sum =
        t.ip_sum + u32::from(u16::from_be_bytes([s[0], s[1]])) + u32::from(u16::from_be_bytes([s[2], s[3]]));
    f[IP + 10..IP + 12].copy_from_slice(&checksum::finish(sum).to_be_bytes());
    f[L4..L4 + 2].copy_from_slice(&sport.to_be_bytes());
    match mode {
        Mode::Udp | Mode::Proxy => {
            f[UDP_STAMP..UDP_STAMP + 8].copy_from_slice(&now.to_le_bytes());
            f[UDP_STAMP + 8..UDP_STAMP + 16].copy_from_slice(&seq.to_le_bytes());
        }
        // (`tcp` mode builds its segments in `session.rs`, not here.)
        Mode::Syn | Mode::Tcp => {
            // The stamp rides in the sequence and ack numbers; the checksum
            // covers them, so it is computed last.
            f[L4 + 4..L4 + 12].copy_from_slice(&now.to_le_bytes());
            let dst = Ipv4Addr::new(f[IP + 16], f[IP + 17], f[IP + 18], f[IP + 19]);
            let len = (n - L4) as u16;
            let c = checksum::finish(checksum::pseudo_header(src, dst, 6, len) + checksum::sum(&f[L4..]));
            f[L4 + 16..L4 + 18].copy_from_slice(&c.to_be_bytes());
        }
    }
    n
}

/// The send time a forwarded frame carries, if it is one of ours.
#[inline]
pub(crate) fn stamp(mode: Mode, f: &[u8]) -> Option<u64> {
    if f.len() < L4 + 20 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let at = match (mode, f[IP + 9]) {
        (Mode::Udp | Mode::Proxy, 17) => UDP_STAMP,
        (Mode::Syn, 6) => L4 + 4,
        _ => return None,
    };
    f.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

/// The sequence number a stamped UDP frame carries (see `fill`).
#[inline]
pub(crate) fn sequence(f: &[u8]) -> u64 {
    f.get(UDP_STAMP + 8..UDP_STAMP + 16).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Args;
    use clap::Parser;

    fn args(mode: &str) -> Args {
        Args::parse_from(["loadgen", "--vdev", "net_null0", "--dst-mac", "02:00:00:00:00:02", "--mode", mode])
    }

    #[test]
    fn a_reflected_frame_is_the_reply_with_valid_checksums() {
        let a = args("proxy");
        let t = template(&a, MacAddr([2, 0, 0, 0, 0, 1]));
        let mut f = vec![0u8; 128];
        let n = fill(&t, Mode::Proxy, &mut f, 77, 1234, 5);
        let sent = f[..n].to_vec();
        assert!(!to_client(&sent), "a client's frame is addressed to the VIP");
        assert!(reflect(&mut f[..n], MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 9])));
        let back = &f[..n];
        assert!(to_client(back), "the reply goes to the client");
        assert_eq!(back[IP + 12..IP + 16], sent[IP + 16..IP + 20]);
        assert_eq!(back[IP + 16..IP + 20], sent[IP + 12..IP + 16]);
        assert_eq!(back[L4..L4 + 2], sent[L4 + 2..L4 + 4]);
        assert_eq!(back[L4 + 2..L4 + 4], sent[L4..L4 + 2]);
        assert_eq!(back[0..6], [2, 0, 0, 0, 0, 9]);
        assert_eq!(checksum::finish(checksum::sum(&back[IP..IP + 20])), 0, "IPv4 header checksum");
        assert_eq!(stamp(Mode::Proxy, back), Some(1234));
        assert_eq!(sequence(back), 5);
    }

    #[test]
    fn only_udp_is_reflected() {
        let a = args("syn");
        let t = template(&a, MacAddr([2, 0, 0, 0, 0, 1]));
        let mut f = vec![0u8; 128];
        let n = fill(&t, Mode::Syn, &mut f, 1, 1, 1);
        let before = f[..n].to_vec();
        assert!(!reflect(&mut f[..n], MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 9])));
        assert_eq!(f[..n], before[..], "left untouched");
    }
}
