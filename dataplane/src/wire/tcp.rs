//! TCP segment view (RFC 9293). The balancer reads ports and flags for flow
//! tracking and rewrites ports and checksums for NAT; options are exposed as
//! raw bytes and never interpreted here. Checksums cover the IPv4
//! pseudo-header and the whole buffer the caller passes (the IP payload).
//!
//! Contract: after `TcpPacket::new_checked` succeeds no accessor panics.

use core::fmt;
use core::net::Ipv4Addr;

use crate::checksum;

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    // High nibble: data offset in words; low bits: reserved and NS.
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Minimum header length (no options).
pub const HEADER_LEN: usize = 20;

const PROTOCOL_TCP: u8 = 6;

/// Flag bits of `TcpPacket::flags` (NS, in the data-offset byte, is not
/// included: nothing in the data path looks at it).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Why a TCP segment was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpError {
    /// Shorter than the 20-byte fixed header.
    Truncated,
    /// Data offset below 5 words or past the end of the buffer.
    BadHeaderLen,
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpError::Truncated => "TCP segment truncated",
            TcpError::BadHeaderLen => "TCP data offset invalid",
        })
    }
}

impl std::error::Error for TcpError {}

// Pseudo-header length; a slice over 64 KiB cannot be a real IPv4 payload
// and will simply fail verification.
#[inline]
fn l4_len(buf: &[u8]) -> u16 {
    u16::try_from(buf.len()).unwrap_or(u16::MAX)
}

/// Zero-copy view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without validation; accessors may panic on bad input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` after `check_len`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, TcpError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the fixed header and the data offset against the buffer.
    pub fn check_len(&self) -> Result<(), TcpError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(TcpError::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN || header_len > len {
            return Err(TcpError::BadHeaderLen);
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
    pub fn src_port(&self) -> u16 {
        self.read_u16(field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.read_u16(field::DST_PORT)
    }

    #[inline]
    pub fn seq_number(&self) -> u32 {
        self.read_u32(field::SEQ_NUM)
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        self.read_u32(field::ACK_NUM)
    }

    /// Header length in bytes, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The eight classic flag bits; see [`flags`].
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    #[inline]
    pub fn window_len(&self) -> u16 {
        self.read_u16(field::WIN_SIZE)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    #[inline]
    pub fn urgent_at(&self) -> u16 {
        self.read_u16(field::URGENT)
    }

    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// True when pseudo-header plus the whole buffer sum to ones-complement
    /// zero.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        let acc = checksum::pseudo_header(src, dst, PROTOCOL_TCP, l4_len(data)) + checksum::sum(data);
        checksum::fold(acc) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    fn write_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    fn write_u32(&mut self, r: core::ops::Range<usize>, v: u32) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        self.write_u16(field::SRC_PORT, port);
    }

    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        self.write_u16(field::DST_PORT, port);
    }

    #[inline]
    pub fn set_seq_number(&mut self, seq: u32) {
        self.write_u32(field::SEQ_NUM, seq);
    }

    #[inline]
    pub fn set_ack_number(&mut self, ack: u32) {
        self.write_u32(field::ACK_NUM, ack);
    }

    /// Sets the data offset from a length in bytes (multiple of 4, 20..=60),
    /// preserving the reserved and NS bits.
    #[inline]
    pub fn set_header_len(&mut self, header_len: usize) {
        debug_assert!(header_len & 3 == 0 && (HEADER_LEN..=60).contains(&header_len));
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0f) | (((header_len / 4) as u8) << 4);
    }

    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::FLAGS] = flags;
    }

    #[inline]
    pub fn set_window_len(&mut self, window: u16) {
        self.write_u16(field::WIN_SIZE, window);
    }

    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        self.write_u16(field::CHECKSUM, csum);
    }

    #[inline]
    pub fn set_urgent_at(&mut self, urgent: u16) {
        self.write_u16(field::URGENT, urgent);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Recomputes the checksum over the pseudo-header and the whole buffer.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let acc = checksum::pseudo_header(src, dst, PROTOCOL_TCP, l4_len(data)) + checksum::sum(data);
        self.set_checksum(checksum::finish(acc));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);

    // TCP part of 192.168.1.10:51514 > 203.0.113.5:443 SYN with MSS 1460,
    // SACK-permitted, timestamps, NOP, window scale 7.
    const SYN: [u8; 40] = [
        0xc9, 0x3a, 0x01, 0xbb, 0x5f, 0x3a, 0x1c, 0x2e, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xdd,
        0xa2, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x1a, 0x2b, 0x3c, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    // 172.16.0.1:80 > 172.16.0.2:33000 PSH|ACK carrying an odd-length
    // (17-byte) status line.
    const DATA: [u8; 37] = [
        0x00, 0x50, 0x80, 0xe8, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x07, 0xd0, 0x50, 0x18, 0x01, 0xf6, 0x08,
        0xec, 0x00, 0x00, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e, 0x31, 0x20, 0x32, 0x30, 0x30, 0x20, 0x4f,
        0x4b, 0x0d, 0x0a,
    ];

    #[test]
    fn parse_syn() {
        let t = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(t.src_port(), 51514);
        assert_eq!(t.dst_port(), 443);
        assert_eq!(t.seq_number(), 0x5f3a_1c2e);
        assert_eq!(t.ack_number(), 0);
        assert_eq!(t.header_len(), 40);
        assert_eq!(t.flags(), flags::SYN);
        assert_eq!(t.window_len(), 64240);
        assert_eq!(t.checksum(), 0xdda2);
        assert_eq!(t.urgent_at(), 0);
        assert_eq!(&t.options()[..4], &[0x02, 0x04, 0x05, 0xb4]);
        assert!(t.payload().is_empty());
        assert!(t.verify_checksum(SRC, DST));
        assert!(!t.verify_checksum(SRC, Ipv4Addr::new(203, 0, 113, 6)));
    }

    #[test]
    fn parse_data_odd_len() {
        let (src, dst) = (Ipv4Addr::new(172, 16, 0, 1), Ipv4Addr::new(172, 16, 0, 2));
        let t = TcpPacket::new_checked(&DATA[..]).unwrap();
        assert_eq!(t.flags(), flags::PSH | flags::ACK);
        assert_eq!(t.payload(), b"HTTP/1.1 200 OK\r\n");
        assert!(t.verify_checksum(src, dst));

        let mut buf = DATA;
        let mut t = TcpPacket::new_checked(&mut buf[..]).unwrap();
        t.set_checksum(0);
        t.fill_checksum(src, dst);
        assert_eq!(t.checksum(), 0x08ec);
    }

    #[test]
    fn setters_roundtrip() {
        let mut buf = SYN;
        let mut t = TcpPacket::new_checked(&mut buf[..]).unwrap();
        t.set_src_port(1024);
        t.set_dst_port(8443);
        t.set_seq_number(1);
        t.set_ack_number(0x5f3a_1c2f);
        t.set_flags(flags::SYN | flags::ACK);
        t.set_window_len(65535);
        t.set_urgent_at(0);
        t.set_header_len(24);
        t.fill_checksum(DST, SRC);
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.payload().len(), 16);
        assert_eq!(
            (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()),
            (1024, 8443, 1, 0x5f3a_1c2f)
        );
        assert_eq!(t.flags(), 0x12);
        assert!(t.verify_checksum(DST, SRC));
        t.payload_mut()[0] ^= 1;
        assert!(!t.verify_checksum(DST, SRC));
    }

    #[test]
    fn rejects() {
        let err = |b: &[u8]| TcpPacket::new_checked(b).unwrap_err();
        assert_eq!(err(&SYN[..19]), TcpError::Truncated);
        assert_eq!(err(&SYN[..39]), TcpError::BadHeaderLen);
        let mut b = SYN;
        b[12] = 0x40;
        assert_eq!(err(&b), TcpError::BadHeaderLen);
        b[12] = 0xf0;
        assert_eq!(err(&b), TcpError::BadHeaderLen);
        assert!(TcpPacket::new_checked(&SYN[..]).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(t) = TcpPacket::new_checked(&bytes[..]) {
                let _ = (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number(), t.flags());
                let _ = (t.window_len(), t.checksum(), t.urgent_at(), t.verify_checksum(SRC, DST));
                prop_assert_eq!(HEADER_LEN + t.options().len() + t.payload().len(), bytes.len());
            }
        }

        #[test]
        fn fill_then_verify(
            bytes in proptest::collection::vec(any::<u8>(), 20..100),
            src in any::<u32>(), dst in any::<u32>(),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let mut bytes = bytes;
            bytes[12] = 0x50;
            let mut t = TcpPacket::new_checked(&mut bytes[..]).unwrap();
            t.fill_checksum(src, dst);
            prop_assert!(t.verify_checksum(src, dst));
        }
    }
}
