//! ICMPv4 message view (RFC 792, RFC 1191 for the next-hop MTU). The data
//! path answers echo requests to VIPs and relays errors (whose data holds the
//! offending IP header) to the right backend; the checksum covers the whole
//! message with no pseudo-header.
//!
//! Contract: after `Icmpv4Packet::new_checked` succeeds no accessor panics.

use core::fmt;

use crate::checksum;

mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    // Rest-of-header: echo identifier and sequence, or (RFC 1191) unused
    // and next-hop MTU for "fragmentation needed".
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
}

/// Header length: type, code, checksum and the 4-byte rest-of-header.
pub const HEADER_LEN: usize = 8;

/// ICMP message types the data path handles.
pub mod msg_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
}

/// Codes for `msg_type::DST_UNREACHABLE`.
pub mod unreach_code {
    pub const HOST: u8 = 1;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Why an ICMP message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpError {
    /// Shorter than the 8-byte header.
    Truncated,
}

impl fmt::Display for IcmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IcmpError::Truncated => "ICMP message truncated",
        })
    }
}

impl std::error::Error for IcmpError {}

/// Zero-copy view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buffer` without validation; accessors may panic on short input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps `buffer` after `check_len`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, IcmpError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates that the 8-byte header fits.
    #[inline]
    pub fn check_len(&self) -> Result<(), IcmpError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(IcmpError::Truncated)
        } else {
            Ok(())
        }
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
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// Meaningful for echo request/reply only.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.read_u16(field::ECHO_IDENT)
    }

    /// Meaningful for echo request/reply only.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.read_u16(field::ECHO_SEQNO)
    }

    /// Meaningful for destination unreachable / fragmentation needed only.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        self.read_u16(field::NEXT_HOP_MTU)
    }

    /// Bytes after the 8-byte header: echo data, or the original IP header
    /// plus at least 8 bytes of its payload for error messages.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// True when the whole message sums to ones-complement zero.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    #[inline]
    fn write_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }

    #[inline]
    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        self.write_u16(field::CHECKSUM, csum);
    }

    #[inline]
    pub fn set_echo_ident(&mut self, ident: u16) {
        self.write_u16(field::ECHO_IDENT, ident);
    }

    #[inline]
    pub fn set_echo_seq_no(&mut self, seq: u16) {
        self.write_u16(field::ECHO_SEQNO, seq);
    }

    #[inline]
    pub fn set_next_hop_mtu(&mut self, mtu: u16) {
        self.write_u16(field::NEXT_HOP_MTU, mtu);
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Recomputes the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let csum = checksum::data(self.buffer.as_ref());
        self.set_checksum(csum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Echo request id 0x1c2d seq 1 with 17 bytes of data (odd length).
    const ECHO: [u8; 25] = [
        0x08, 0x00, 0x03, 0x11, 0x1c, 0x2d, 0x00, 0x01, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
        0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
    ];

    #[test]
    fn parse_echo() {
        let p = Icmpv4Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), msg_type::ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x0311);
        assert_eq!(p.echo_ident(), 0x1c2d);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.data().len(), 17);
        assert!(p.verify_checksum());
    }

    #[test]
    fn echo_reply_in_place() {
        let mut buf = ECHO;
        let mut p = Icmpv4Packet::new_checked(&mut buf[..]).unwrap();
        p.set_msg_type(msg_type::ECHO_REPLY);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        // Type 8 -> 0 changes the first word by 0x0800.
        assert_eq!(p.checksum(), 0x0b11);
        assert!(p.verify_checksum());
    }

    #[test]
    fn frag_needed() {
        // Fragmentation needed, MTU 1400, quoting an IPv4 header start.
        let mut buf = [0u8; 36];
        let mut p = Icmpv4Packet::new_checked(&mut buf[..]).unwrap();
        p.set_msg_type(msg_type::DST_UNREACHABLE);
        p.set_code(unreach_code::FRAG_NEEDED);
        p.set_next_hop_mtu(1400);
        p.data_mut()[0] = 0x45;
        p.fill_checksum();
        assert_eq!(&buf[..8], &[0x03, 0x04, 0xb2, 0x83, 0x00, 0x00, 0x05, 0x78]);
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.next_hop_mtu(), 1400);
        assert!(p.verify_checksum());
        assert_eq!(Icmpv4Packet::new_checked(&buf[..7]).unwrap_err(), IcmpError::Truncated);
    }

    proptest! {
        #[test]
        fn never_panics_and_fill_verifies(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut bytes = bytes;
            if let Ok(mut p) = Icmpv4Packet::new_checked(&mut bytes[..]) {
                let _ = (p.msg_type(), p.code(), p.echo_ident(), p.echo_seq_no(), p.data());
                p.fill_checksum();
                prop_assert!(p.verify_checksum());
            }
        }
    }
}
