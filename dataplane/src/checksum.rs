//! Internet checksum: full computation (RFC 1071) and incremental update
//! (RFC 1624, eqn. 3) for the NAT rewrites the data path does per packet.
//!
//! Every partial sum returned here is folded to at most `0xFFFF` (kept in a
//! `u32`), so callers can add tens of thousands of them without overflow.

use core::net::Ipv4Addr;

/// Ones-complement sum of `data` as 16-bit big-endian words; an odd trailing
/// byte is padded with a zero low byte. Result is folded to `<= 0xFFFF` but
/// not inverted.
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    // Summing 32-bit big-endian halves into a u64 is congruent to summing
    // 16-bit words modulo 0xFFFF (2^16 ≡ 1), and the u64 cannot overflow
    // before 2^32 chunks, far beyond any packet.
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let w = chunk.try_into().map_or(0, u64::from_be_bytes);
        acc += (w >> 32) + (w & 0xFFFF_FFFF);
    }
    let rest = chunks.remainder();
    let mut words = rest.chunks_exact(2);
    for word in &mut words {
        acc += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    u32::from(fold64(acc))
}

/// Whether a 20-byte IPv4 header (no options, as nearly every packet's is)
/// sums to ones-complement zero: three loads instead of the general loop,
/// which took 60 instructions a packet (callgrind). Words are summed in
/// native byte order: the sum of byte-swapped words is the byte-swapped sum
/// (RFC 1071, 2.B), and all-ones, the one value compared with, is the same
/// in either order.
#[inline(always)]
pub fn header20_ok(h: &[u8; 20]) -> bool {
    let (a, rest) = h.split_first_chunk::<8>().map_or(([0; 8], &h[..]), |(a, r)| (*a, r));
    let (b, rest) = rest.split_first_chunk::<8>().map_or(([0; 8], rest), |(b, r)| (*b, r));
    let c = rest.first_chunk::<4>().copied().unwrap_or([0; 4]);
    let (a, b, c) = (u64::from_ne_bytes(a), u64::from_ne_bytes(b), u64::from(u32::from_ne_bytes(c)));
    let acc = (a >> 32) + (a & 0xFFFF_FFFF) + (b >> 32) + (b & 0xFFFF_FFFF) + c;
    // The folded sum is all-ones exactly when the plain sum is a nonzero
    // multiple of 0xFFFF (2^16 ≡ 1 mod 0xFFFF): a multiply and a shift
    // instead of four folding steps.
    acc != 0 && acc % 0xFFFF == 0
}

#[inline]
fn fold64(mut acc: u64) -> u16 {
    acc = (acc & 0xFFFF_FFFF) + (acc >> 32);
    acc = (acc & 0xFFFF_FFFF) + (acc >> 32);
    fold(acc as u32)
}

/// Folds carries back into the low 16 bits (end-around carry). Not inverted.
#[inline]
pub const fn fold(mut acc: u32) -> u16 {
    acc = (acc & 0xFFFF) + (acc >> 16);
    acc = (acc & 0xFFFF) + (acc >> 16);
    acc as u16
}

/// The value to store in a checksum field: the inverted fold of `acc`.
#[inline]
pub fn finish(acc: u32) -> u16 {
    !fold(acc)
}

/// Checksum of `data` alone, ready to store (IPv4 header, ICMP).
#[inline]
pub fn data(data: &[u8]) -> u16 {
    finish(sum(data))
}

/// Partial sum of the IPv4 pseudo-header used by TCP and UDP (RFC 793 §3.1,
/// RFC 768). `len` is the transport length (header plus payload).
#[inline]
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u32 {
    let s = u32::from(src);
    let d = u32::from(dst);
    let acc = (s >> 16) + (s & 0xFFFF) + (d >> 16) + (d & 0xFFFF);
    u32::from(fold(acc + u32::from(protocol) + u32::from(len)))
}

/// Precomputed incremental checksum adjustment (RFC 1624 eqn. 3:
/// `HC' = ~(~HC + ~m + m')`).
///
/// Holds the folded sum of `~m + m'` over every rewritten word, normalised so
/// that "no change" is exactly 0: applying a no-op delta returns the checksum
/// bit-for-bit, never flipping it between the two ones-complement zeros.
#[derive(Copy, Clone, Default, Debug, PartialEq, Eq)]
pub struct Delta(u32);

impl Delta {
    /// A delta that changes nothing.
    #[inline]
    pub const fn new() -> Self {
        Delta(0)
    }

    // 0xFFFF is negative zero; mapping it to 0 keeps `is_zero` and
    // equality meaningful and makes identity deltas exact no-ops.
    #[inline]
    const fn normalise(acc: u32) -> Self {
        let f = fold(acc);
        Delta(if f == 0xFFFF { 0 } else { f as u32 })
    }

    /// Accounts for one 16-bit word changing from `old` to `new`.
    #[inline]
    #[must_use]
    pub const fn replace16(self, old: u16, new: u16) -> Self {
        Self::normalise(self.0 + (!old) as u32 + new as u32)
    }

    /// Accounts for words `old[i]` changing to `new[i]`, folded once at the
    /// end (each `replace16` folds: a new flow's four deltas took 130
    /// instructions that way). Up to 32768 words fit the u32 sum.
    #[inline]
    #[must_use]
    pub fn replace_words<const N: usize>(old: [u16; N], new: [u16; N]) -> Self {
        let acc = old.iter().zip(&new).fold(0u32, |acc, (&o, &n)| acc + u32::from(!o) + u32::from(n));
        Self::normalise(acc)
    }

    /// Accounts for an aligned 32-bit field (two words) changing.
    #[inline]
    #[must_use]
    pub fn replace32(self, old: u32, new: u32) -> Self {
        self.replace16((old >> 16) as u16, (new >> 16) as u16).replace16(old as u16, new as u16)
    }

    /// Accounts for an IPv4 address changing (IP header or pseudo-header).
    #[inline]
    #[must_use]
    pub fn replace_addr(self, old: Ipv4Addr, new: Ipv4Addr) -> Self {
        self.replace32(u32::from(old), u32::from(new))
    }

    /// Combines two deltas, e.g. an address rewrite and a port rewrite.
    // Named `add` by the data path API; `+` works too via `ops::Add`.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    #[must_use]
    pub fn add(self, other: Delta) -> Delta {
        Self::normalise(self.0 + other.0)
    }

    /// The delta that undoes this one.
    #[inline]
    #[must_use]
    pub const fn negate(self) -> Delta {
        Self::normalise(!self.0 & 0xFFFF)
    }

    /// The folded 16-bit form, for storing a delta compactly (a flow entry
    /// keeps four of them in its cache line).
    #[inline]
    pub const fn bits(self) -> u16 {
        self.0 as u16
    }

    /// A delta from its `bits`. Those of a `Delta` are never 0xFFFF (it
    /// is normalised to 0), so nothing needs mapping on the packet path;
    /// 0xFFFF would still be applied correctly, as the zero it stands for.
    #[inline]
    pub const fn from_bits(bits: u16) -> Delta {
        Delta(bits as u32)
    }

    /// True when applying this delta leaves every checksum unchanged.
    #[inline]
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Updates an IPv4, TCP or ICMP checksum field.
    #[inline]
    pub fn apply(self, csum: u16) -> u16 {
        // Both operands are <= 0xFFFF, so one fold step cannot leave a carry.
        let acc = u32::from(!csum) + self.0;
        !(((acc & 0xFFFF) + (acc >> 16)) as u16)
    }

    /// Updates a UDP checksum field: 0 ("no checksum", RFC 768) stays 0, and
    /// a result of 0 is sent as 0xFFFF so it is not mistaken for "none".
    #[inline]
    pub fn apply_udp(self, csum: u16) -> u16 {
        let updated = self.apply(csum);
        let updated = if updated == 0 { 0xFFFF } else { updated };
        if csum == 0 {
            0
        } else {
            updated
        }
    }
}

impl core::ops::Add for Delta {
    type Output = Delta;

    #[inline]
    fn add(self, other: Delta) -> Delta {
        Delta::add(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Bit-by-bit reference: plain 16-bit word loop.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |b| u32::from(*b));
            acc += hi | lo;
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        acc as u16
    }

    /// All zeros sums to positive zero, not all-ones: the one header whose
    /// plain sum (0) is a multiple of 0xFFFF yet invalid.
    #[test]
    fn an_all_zero_header_is_not_valid() {
        assert!(!header20_ok(&[0; 20]));
        let mut h = [0u8; 20];
        h[10..12].copy_from_slice(&[0xFF, 0xFF]);
        assert!(header20_ok(&h), "all-ones in the checksum field makes it valid");
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: these bytes sum to 0xddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&bytes), 0xddf2);
        assert_eq!(data(&bytes), !0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        // Wikipedia's IPv4 header example; checksum field is b861.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01,
            0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(data(&hdr), 0);
        let mut zeroed = hdr;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(data(&zeroed), 0xb861);
    }

    #[test]
    fn odd_length_pads_low_byte() {
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x6834);
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0xff; 9]), 0xff00);
        assert_eq!(sum(&[0xff; 8]), 0xffff);
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(192, 168, 255, 254);
        let bytes = [10, 0, 0, 1, 192, 168, 255, 254, 0, 6, 0x05, 0xdc];
        assert_eq!(pseudo_header(src, dst, 6, 1500), sum(&bytes));
    }

    #[test]
    fn noop_delta_is_identity() {
        let d = Delta::new().replace16(0x1234, 0x1234).replace32(7, 7);
        assert!(d.is_zero());
        for c in [0u16, 1, 0x7fff, 0xfffe, 0xffff] {
            assert_eq!(d.apply(c), c);
        }
        assert_eq!(d.apply_udp(0), 0);
    }

    #[test]
    fn delta_reverts() {
        let a = Ipv4Addr::new(1, 2, 3, 4);
        let b = Ipv4Addr::new(200, 100, 50, 25);
        let fwd = Delta::new().replace_addr(a, b);
        let back = Delta::new().replace_addr(b, a);
        assert!(!fwd.is_zero());
        assert!((fwd + back).is_zero());
        assert_eq!(back.apply(fwd.apply(0x1c46)), 0x1c46);
    }

    #[test]
    fn udp_zero_checksum_survives_rewrite() {
        let d = Delta::new()
            .replace_addr(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 9, 8, 7))
            .replace16(53, 40000);
        assert!(!d.is_zero());
        assert_eq!(d.apply_udp(0), 0);
    }

    #[test]
    fn udp_computed_zero_becomes_ffff() {
        // Choose a delta that drives ~HC + D to 0xFFFF, i.e. result 0.
        let csum: u16 = 0x1234;
        let d = Delta::new().replace16(0, csum);
        assert_eq!(d.apply(csum), 0);
        assert_eq!(d.apply_udp(csum), 0xFFFF);
    }

    // Builds IPv4 + transport with full checksums; returns the buffer.
    #[allow(clippy::too_many_arguments)]
    fn build(
        proto: u8,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        sport: u16,
        dport: u16,
        ttl: u8,
        payload: &[u8],
        udp_no_csum: bool,
    ) -> Vec<u8> {
        let l4_hdr = if proto == 6 { 20 } else { 8 };
        let l4_len = l4_hdr + payload.len();
        let total = 20 + l4_len;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&0xbeefu16.to_be_bytes());
        p[6] = 0x40;
        p[8] = ttl;
        p[9] = proto;
        p[12..16].copy_from_slice(&src.octets());
        p[16..20].copy_from_slice(&dst.octets());
        let ip_csum = data(&p[..20]);
        p[10..12].copy_from_slice(&ip_csum.to_be_bytes());
        let l4 = &mut p[20..];
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        if proto == 6 {
            l4[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
            l4[12] = 0x50;
            l4[13] = 0x18;
            l4[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
        } else {
            l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        }
        l4[l4_hdr..].copy_from_slice(payload);
        let c = finish(pseudo_header(src, dst, proto, l4_len as u16) + sum(l4));
        let c = if proto == 17 && c == 0 { 0xFFFF } else { c };
        let c = if proto == 17 && udp_no_csum { 0 } else { c };
        let off = if proto == 6 { 16 } else { 6 };
        l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn be16(p: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([p[at], p[at + 1]])
    }

    fn l4_verifies(p: &[u8]) -> bool {
        let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
        let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
        let l4 = &p[20..];
        fold(pseudo_header(src, dst, p[9], l4.len() as u16) + sum(l4)) == 0xFFFF
    }

    proptest! {
        #[test]
        fn words_replaced_at_once_make_the_same_delta(old in any::<[u16; 6]>(), new in any::<[u16; 6]>()) {
            let one_by_one = old.iter().zip(&new).fold(Delta::new(), |d, (&o, &n)| d.replace16(o, n));
            prop_assert_eq!(Delta::replace_words(old, new), one_by_one);
        }

        #[test]
        fn a_negated_delta_undoes_the_change(old in any::<[u16; 4]>(), new in any::<[u16; 4]>(), csum in any::<u16>()) {
            let d = old.iter().zip(&new).fold(Delta::new(), |d, (&o, &n)| d.replace16(o, n));
            let back = new.iter().zip(&old).fold(Delta::new(), |d, (&n, &o)| d.replace16(n, o));
            prop_assert_eq!(d.negate(), back);
            prop_assert_eq!(d.add(d.negate()), Delta::new());
            // A checksum of zero-sum data (0xFFFF) has one valid form; others round-trip exactly.
            if csum != 0xFFFF {
                prop_assert_eq!(back.apply(d.apply(csum)), csum);
            }
        }

        #[test]
        fn the_20_byte_check_agrees_with_the_general_one(mut h in any::<[u8; 20]>(), fix in any::<bool>()) {
            if fix {
                // Most headers the data path sees are valid: make this one so.
                h[10..12].fill(0);
                let c = data(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
            }
            prop_assert_eq!(header20_ok(&h), data(&h) == 0);
            prop_assert_eq!(header20_ok(&h), reference_sum(&h) == 0xFFFF);
        }

        #[test]
        fn sum_matches_reference(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(sum(&bytes) as u16, reference_sum(&bytes));
            prop_assert!(sum(&bytes) <= 0xFFFF);
        }

        #[test]
        fn delta_matches_full_recompute(
            tcp in any::<bool>(),
            src in any::<u32>(), dst in any::<u32>(),
            nsrc in any::<u32>(), ndst in any::<u32>(),
            sport in any::<u16>(), dport in any::<u16>(),
            nsport in any::<u16>(), ndport in any::<u16>(),
            ttl in 1u8..=255,
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let proto = if tcp { 6 } else { 17 };
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let (nsrc, ndst) = (Ipv4Addr::from(nsrc), Ipv4Addr::from(ndst));
            let nttl = ttl - 1;
            let mut p = build(proto, src, dst, sport, dport, ttl, &payload, false);
            let expect = build(proto, nsrc, ndst, nsport, ndport, nttl, &payload, false);

            // Precomputed per flow direction, as the data path does.
            let addrs = Delta::new().replace_addr(src, nsrc).replace_addr(dst, ndst);
            let ports = Delta::new().replace16(sport, nsport).replace16(dport, ndport);
            let ttl_d = Delta::new()
                .replace16(u16::from_be_bytes([ttl, proto]), u16::from_be_bytes([nttl, proto]));
            let ip_d = addrs.add(ttl_d);
            let l4_d = addrs + ports;

            p[8] = nttl;
            p[12..16].copy_from_slice(&nsrc.octets());
            p[16..20].copy_from_slice(&ndst.octets());
            let ip_c = ip_d.apply(be16(&p, 10));
            p[10..12].copy_from_slice(&ip_c.to_be_bytes());
            p[20..22].copy_from_slice(&nsport.to_be_bytes());
            p[22..24].copy_from_slice(&ndport.to_be_bytes());
            let off = 20 + if tcp { 16 } else { 6 };
            let c = be16(&p, off);
            let c = if tcp { l4_d.apply(c) } else { l4_d.apply_udp(c) };
            p[off..off + 2].copy_from_slice(&c.to_be_bytes());

            prop_assert_eq!(fold(sum(&p[..20])), 0xFFFF);
            prop_assert!(l4_verifies(&p));
            // The IP header and pseudo-header are never all-zero, so the sum
            // has a unique non-zero representation and values match exactly.
            prop_assert_eq!(&p, &expect);
        }

        #[test]
        fn udp_no_checksum_stays_zero(
            src in any::<u32>(), nsrc in any::<u32>(),
            sport in any::<u16>(), nsport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..33),
        ) {
            let (src, nsrc) = (Ipv4Addr::from(src), Ipv4Addr::from(nsrc));
            let dst = Ipv4Addr::new(10, 1, 1, 1);
            let p = build(17, src, dst, sport, 53, 64, &payload, true);
            let d = Delta::new().replace_addr(src, nsrc).replace16(sport, nsport);
            prop_assert_eq!(be16(&p, 26), 0);
            prop_assert_eq!(d.apply_udp(be16(&p, 26)), 0);
        }

        #[test]
        fn add_is_associative_and_commutative(
            a in any::<(u16, u16)>(), b in any::<(u32, u32)>(), c in any::<u16>(),
        ) {
            let x = Delta::new().replace16(a.0, a.1);
            let y = Delta::new().replace32(b.0, b.1);
            // Applying in sequence may land on the other ones-complement
            // zero (RFC 1624 §3), so compare modulo that.
            let canon = |v: u16| if v == 0xFFFF { 0 } else { v };
            prop_assert_eq!(x + y, y + x);
            prop_assert_eq!(canon(x.apply(y.apply(c))), canon((x + y).apply(c)));
        }
    }
}
