//! IPv4 packet view (RFC 791). Validates version and both length fields so
//! that header, options and payload slices are always in bounds; the header
//! checksum is verified separately because the NIC may already have done it.
//! The buffer may extend past `total_len` (Ethernet padding, RFC 894).
//!
//! Contract: after `Ipv4Packet::new_checked` succeeds no accessor panics.

use core::fmt;
use core::net::Ipv4Addr;

use crate::checksum;

mod field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Minimum header length (no options).
pub const HEADER_LEN: usize = 20;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// IP protocol numbers the data path dispatches on.
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

/// Why an IPv4 packet was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ipv4Error {
    /// Shorter than the 20-byte fixed header.
    Truncated,
    /// Version field is not 4.
    BadVersion,
    /// IHL below 5 words, or header longer than the buffer.
    BadHeaderLen,
    /// Total length shorter than the header or longer than the buffer.
    BadTotalLen,
}

impl fmt::Display for Ipv4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ipv4Error::Truncated => "IPv4 packet truncated",
            Ipv4Error::BadVersion => "IP version is not 4",
            Ipv4Error::BadHeaderLen => "IPv4 header length invalid",
            Ipv4Error::BadTotalLen => "IPv4 total length invalid",
        })
    }
}

impl std::error::Error for Ipv4Error {}

/// Zero-copy view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without validation; accessors may panic on bad input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after `check_len`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Ipv4Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates version, IHL and total length against the buffer.
    pub fn check_len(&self) -> Result<(), Ipv4Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Ipv4Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Ipv4Error::BadVersion);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN || header_len > len {
            return Err(Ipv4Error::BadHeaderLen);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len || total_len > len {
            return Err(Ipv4Error::BadTotalLen);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn read_u16(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    #[inline]
    fn read_u32(&self, r: core::ops::Range<usize>) -> u32 {
        let b = &self.buffer.as_ref()[r];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// DSCP and ECN byte.
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        self.read_u16(field::LENGTH)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        self.read_u16(field::IDENT)
    }

    /// Raw flags and fragment offset word.
    #[inline]
    pub fn flags_and_frag(&self) -> u16 {
        self.read_u16(field::FLG_OFF)
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_and_frag() & FLAG_DF != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_and_frag() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units; 0x1fff * 8
    /// still fits in u16).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_and_frag() & FRAG_OFFSET_MASK) * 8
    }

    /// Any fragment, first included: only unfragmented packets carry a
    /// complete transport header the flow lookup can trust.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_and_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_u32())
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_u32())
    }

    /// Source address as a host-order integer, for flow hashing.
    #[inline]
    pub fn src_u32(&self) -> u32 {
        self.read_u32(field::SRC_ADDR)
    }

    /// Destination address as a host-order integer, for flow hashing.
    #[inline]
    pub fn dst_u32(&self) -> u32 {
        self.read_u32(field::DST_ADDR)
    }

    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The transport bytes, ending at `total_len` so padding is excluded.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let end = usize::from(self.total_len());
        &self.buffer.as_ref()[self.header_len()..end]
    }

    /// True when the header (with options) sums to ones-complement zero.
    #[inline(always)]
    pub fn verify_checksum(&self) -> bool {
        let h = &self.buffer.as_ref()[..self.header_len()];
        match h.try_into() {
            Ok(h20) => checksum::header20_ok(h20),
            Err(_) => checksum::data(h) == 0,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    fn write_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets version 4 and IHL from a header length in bytes (multiple of 4,
    /// 20..=60).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        debug_assert!(header_len & 3 == 0 && (HEADER_LEN..=60).contains(&header_len));
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos;
    }

    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        self.write_u16(field::LENGTH, len);
    }

    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        self.write_u16(field::IDENT, ident);
    }

    /// Raw flags and fragment offset word (offset in 8-byte units).
    #[inline]
    pub fn set_flags_and_frag(&mut self, v: u16) {
        self.write_u16(field::FLG_OFF, v);
    }

    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    #[inline]
    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol;
    }

    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        self.write_u16(field::CHECKSUM, csum);
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Recomputes the header checksum from scratch (options included).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let csum = checksum::data(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(csum);
    }

    /// Mutable transport bytes, ending at `total_len`.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 192.168.1.10:51514 > 203.0.113.5:443 SYN, DF, TTL 64, with MSS,
    // SACK-permitted, timestamps and window-scale options in TCP.
    const TCP_SYN: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x3c, 0x1d, 0x40, 0x00, 0x40, 0x06, 0x00, 0xe7, 0xc0, 0xa8, 0x01, 0x0a, 0xcb,
        0x00, 0x71, 0x05, 0xc9, 0x3a, 0x01, 0xbb, 0x5f, 0x3a, 0x1c, 0x2e, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
        0xfa, 0xf0, 0xdd, 0xa2, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x1a, 0x2b,
        0x3c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    // 10.0.0.2:40123 > 10.0.0.53:53 DNS A? example.com, 57 bytes; followed
    // by 3 bytes of Ethernet padding in `padded()`.
    const UDP_DNS: [u8; 57] = [
        0x45, 0x00, 0x00, 0x39, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x14, 0x4a, 0x0a, 0x00, 0x00, 0x02, 0x0a,
        0x00, 0x00, 0x35, 0x9c, 0xbb, 0x00, 0x35, 0x00, 0x25, 0xdd, 0x5c, 0xa1, 0xb2, 0x01, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f,
        0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    fn padded() -> Vec<u8> {
        let mut v = UDP_DNS.to_vec();
        v.extend_from_slice(&[0xde, 0xad, 0x00]);
        v
    }

    #[test]
    fn parse_syn() {
        let p = Ipv4Packet::new_checked(&TCP_SYN[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0x3c1d);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), protocol::TCP);
        assert_eq!(p.checksum(), 0x00e7);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 1, 10));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(203, 0, 113, 5));
        assert_eq!(p.src_u32(), 0xc0a8_010a);
        assert_eq!(p.dst_u32(), 0xcb00_7105);
        assert!(p.options().is_empty());
        assert_eq!(p.payload().len(), 40);
        assert!(p.verify_checksum());
    }

    #[test]
    fn payload_excludes_padding() {
        let buf = padded();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.protocol(), protocol::UDP);
        assert_eq!(p.payload(), &UDP_DNS[20..]);
        assert!(p.verify_checksum());
    }

    #[test]
    fn fragments() {
        let mut buf = UDP_DNS;
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        p.set_flags_and_frag(0x2000);
        assert!(p.more_frags() && p.is_fragment() && !p.dont_frag());
        p.set_flags_and_frag(0x00b9);
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.is_fragment() && !p.more_frags());
        p.set_flags_and_frag(0x1fff);
        assert_eq!(p.frag_offset(), 65528);
    }

    #[test]
    fn rejects() {
        let err = |b: &[u8]| Ipv4Packet::new_checked(b).unwrap_err();
        assert_eq!(err(&TCP_SYN[..19]), Ipv4Error::Truncated);
        let mut b = TCP_SYN;
        b[0] = 0x65;
        assert_eq!(err(&b), Ipv4Error::BadVersion);
        b[0] = 0x44;
        assert_eq!(err(&b), Ipv4Error::BadHeaderLen);
        b[0] = 0x4f;
        assert_eq!(err(&b[..59]), Ipv4Error::BadHeaderLen);
        b[0] = 0x45;
        assert_eq!(err(&b[..59]), Ipv4Error::BadTotalLen);
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(err(&b), Ipv4Error::BadTotalLen);
        b[0] = 0x46;
        b[2..4].copy_from_slice(&23u16.to_be_bytes());
        assert_eq!(err(&b), Ipv4Error::BadTotalLen);
        b[2..4].copy_from_slice(&24u16.to_be_bytes());
        assert!(Ipv4Packet::new_checked(&b[..]).is_ok());
    }

    #[test]
    fn rewrite_and_options() {
        let mut buf = TCP_SYN;
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        p.set_src_addr(Ipv4Addr::new(10, 0, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(10, 0, 0, 2));
        p.set_ttl(63);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());

        // 24-byte header carrying a Router Alert option (RFC 2113).
        let mut hdr = [0u8; 28];
        let mut q = Ipv4Packet::new_unchecked(&mut hdr[..]);
        q.set_version_and_header_len(24);
        q.set_tos(0xb8);
        q.set_total_len(28);
        q.set_ident(1);
        q.set_flags_and_frag(0x4000);
        q.set_ttl(1);
        q.set_protocol(2);
        q.set_src_addr(Ipv4Addr::new(10, 0, 0, 9));
        q.set_dst_addr(Ipv4Addr::new(224, 0, 0, 22));
        q.payload_mut().copy_from_slice(&[0x22, 0, 0xfa, 0x04]);
        hdr[20..24].copy_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        let mut q = Ipv4Packet::new_checked(&mut hdr[..]).unwrap();
        q.fill_checksum();
        assert_eq!(q.tos(), 0xb8);
        assert_eq!(q.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(q.payload(), &[0x22, 0, 0xfa, 0x04]);
        assert!(q.verify_checksum());
        assert_eq!(crate::checksum::data(&hdr[..24]), 0);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Ipv4Packet::new_checked(&bytes[..]) {
                let _ = (p.ident(), p.frag_offset(), p.is_fragment(), p.src_addr(), p.dst_addr());
                let _ = (p.checksum(), p.ttl(), p.protocol(), p.verify_checksum());
                prop_assert!(p.options().len() + HEADER_LEN + p.payload().len() <= bytes.len());
            }
        }

        #[test]
        fn header_fuzz_is_checked(
            ver_ihl in any::<u8>(), total in any::<u16>(), len in 0usize..80,
        ) {
            let mut bytes = vec![0u8; len];
            if let Some(b) = bytes.get_mut(0) { *b = ver_ihl; }
            if len >= 4 { bytes[2..4].copy_from_slice(&total.to_be_bytes()); }
            if let Ok(p) = Ipv4Packet::new_checked(&bytes[..]) {
                prop_assert_eq!(p.payload().len(), usize::from(total) - p.header_len());
                prop_assert_eq!(p.options().len(), p.header_len() - HEADER_LEN);
            }
        }
    }
}
