//! UDP datagram view (RFC 768). The length field, not the buffer, bounds the
//! payload and the checksum, since the IP payload may be longer than the
//! datagram. A zero checksum means "none" and is accepted as-is.
//!
//! Contract: after `UdpPacket::new_checked` succeeds no accessor panics.

use core::fmt;
use core::net::Ipv4Addr;

use crate::checksum;

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Header length.
pub const HEADER_LEN: usize = 8;

const PROTOCOL_UDP: u8 = 17;

/// Why a UDP datagram was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdpError {
    /// Shorter than the 8-byte header.
    Truncated,
    /// Length field below 8 or past the end of the buffer.
    BadLength,
}

impl fmt::Display for UdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UdpError::Truncated => "UDP datagram truncated",
            UdpError::BadLength => "UDP length field invalid",
        })
    }
}

impl std::error::Error for UdpError {}

/// Zero-copy view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without validation; accessors may panic on bad input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps `buffer` after `check_len`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, UdpError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the header and the length field against the buffer.
    pub fn check_len(&self) -> Result<(), UdpError> {
        let buf_len = self.buffer.as_ref().len();
        if buf_len < HEADER_LEN {
            return Err(UdpError::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN || len > buf_len {
            return Err(UdpError::BadLength);
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
    pub fn src_port(&self) -> u16 {
        self.read_u16(field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.read_u16(field::DST_PORT)
    }

    /// The length field: header plus payload, in bytes.
    // Not a container length, so an `is_empty` would mean nothing.
    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub fn len(&self) -> u16 {
        self.read_u16(field::LENGTH)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// Payload up to the length field; trailing buffer bytes are excluded.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// True when the checksum is absent (0) or sums to ones-complement zero.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let acc = checksum::pseudo_header(src, dst, PROTOCOL_UDP, len)
            + checksum::sum(&self.buffer.as_ref()[..usize::from(len)]);
        checksum::fold(acc) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    fn write_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
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
    pub fn set_len(&mut self, len: u16) {
        self.write_u16(field::LENGTH, len);
    }

    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        self.write_u16(field::CHECKSUM, csum);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Computes the checksum over the pseudo-header and `len()` bytes; a
    /// result of 0 is sent as 0xFFFF because 0 means "none" (RFC 768).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = self.len();
        let acc = checksum::pseudo_header(src, dst, PROTOCOL_UDP, len)
            + checksum::sum(&self.buffer.as_ref()[..usize::from(len)]);
        let csum = checksum::finish(acc);
        self.set_checksum(if csum == 0 { 0xFFFF } else { csum });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);

    // 10.0.0.2:40123 > 10.0.0.53:53, DNS query for example.com A.
    const DNS: [u8; 37] = [
        0x9c, 0xbb, 0x00, 0x35, 0x00, 0x25, 0xdd, 0x5c, 0xa1, 0xb2, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00,
        0x01, 0x00, 0x01,
    ];

    #[test]
    fn parse_dns() {
        let u = UdpPacket::new_checked(&DNS[..]).unwrap();
        assert_eq!(u.src_port(), 40123);
        assert_eq!(u.dst_port(), 53);
        assert_eq!(u.len(), 37);
        assert_eq!(u.checksum(), 0xdd5c);
        assert_eq!(u.payload(), &DNS[8..]);
        assert!(u.verify_checksum(SRC, DST));
        assert!(!u.verify_checksum(DST, Ipv4Addr::new(10, 0, 0, 3)));
    }

    #[test]
    fn length_field_bounds_payload() {
        let mut buf = DNS.to_vec();
        buf.extend_from_slice(&[0xaa; 5]);
        let u = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(u.payload(), &DNS[8..]);
        assert!(u.verify_checksum(SRC, DST));
    }

    #[test]
    fn zero_checksum_means_none() {
        let mut buf = DNS;
        let mut u = UdpPacket::new_checked(&mut buf[..]).unwrap();
        u.set_checksum(0);
        assert!(u.verify_checksum(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST));
        u.fill_checksum(SRC, DST);
        assert_eq!(u.checksum(), 0xdd5c);
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Two bytes of payload chosen so the full sum is 0xFFFF.
        let mut buf = [0x00, 0x01, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00];
        let (src, dst) = (Ipv4Addr::new(0, 0, 0, 0), Ipv4Addr::new(0, 0, 0, 0));
        let partial =
            checksum::fold(checksum::pseudo_header(src, dst, PROTOCOL_UDP, 10) + checksum::sum(&buf));
        buf[8..10].copy_from_slice(&(!partial).to_be_bytes());
        let mut u = UdpPacket::new_checked(&mut buf[..]).unwrap();
        u.fill_checksum(src, dst);
        assert_eq!(u.checksum(), 0xFFFF);
        assert!(u.verify_checksum(src, dst));
    }

    #[test]
    fn setters_and_rejects() {
        let mut buf = DNS;
        let mut u = UdpPacket::new_checked(&mut buf[..]).unwrap();
        u.set_src_port(1);
        u.set_dst_port(2);
        u.payload_mut()[0] = 0;
        u.set_len(9);
        assert_eq!((u.src_port(), u.dst_port(), u.payload()), (1, 2, &[0u8][..]));
        let err = |b: &[u8]| UdpPacket::new_checked(b).unwrap_err();
        assert_eq!(err(&DNS[..7]), UdpError::Truncated);
        assert_eq!(err(&DNS[..36]), UdpError::BadLength);
        let mut b = DNS;
        b[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(err(&b), UdpError::BadLength);
        b[4..6].copy_from_slice(&8u16.to_be_bytes());
        assert!(UdpPacket::new_checked(&b[..]).unwrap().payload().is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(u) = UdpPacket::new_checked(&bytes[..]) {
                let _ = (u.src_port(), u.dst_port(), u.checksum(), u.verify_checksum(SRC, DST));
                prop_assert_eq!(u.payload().len() + HEADER_LEN, usize::from(u.len()));
            }
        }

        #[test]
        fn fill_then_verify(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            src in any::<u32>(), dst in any::<u32>(),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let mut buf = vec![0u8; HEADER_LEN + payload.len()];
            buf[HEADER_LEN..].copy_from_slice(&payload);
            let mut u = UdpPacket::new_unchecked(&mut buf[..]);
            u.set_len((HEADER_LEN + payload.len()) as u16);
            u.fill_checksum(src, dst);
            prop_assert!(u.checksum() != 0);
            prop_assert!(u.verify_checksum(src, dst));
        }
    }
}
