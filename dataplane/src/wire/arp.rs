//! ARP packet view (RFC 826), restricted to Ethernet hardware addresses and
//! IPv4 protocol addresses: the only form the data path answers (for its
//! VIPs) or learns next hops from. Anything else is `Unsupported`.
//!
//! Contract: after `ArpPacket::new_checked` succeeds no accessor panics.

use core::fmt;
use core::net::Ipv4Addr;

use super::ethernet::{EtherType, MacAddr};

mod field {
    use core::ops::Range;

    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    // Offsets below assume HLEN 6 and PLEN 4, which check_len enforces.
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const LEN: usize = 28;

const HTYPE_ETHERNET: u16 = 1;

/// ARP operation codes (a namespace for `u16` consts).
#[derive(Debug)]
pub enum ArpOp {}

impl ArpOp {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

/// Why an ARP packet was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpError {
    /// Shorter than 28 bytes.
    Truncated,
    /// Not Ethernet/IPv4 (hardware type, protocol type or address lengths).
    Unsupported,
}

impl fmt::Display for ArpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArpError::Truncated => "ARP packet truncated",
            ArpError::Unsupported => "ARP packet not Ethernet/IPv4",
        })
    }
}

impl std::error::Error for ArpError {}

/// Zero-copy view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without validation; accessors may panic on short input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps `buffer` after `check_len`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ArpError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates length and that the packet is Ethernet/IPv4; the fixed
    /// field offsets are only right for that format.
    pub fn check_len(&self) -> Result<(), ArpError> {
        if self.buffer.as_ref().len() < LEN {
            return Err(ArpError::Truncated);
        }
        if self.hardware_type() != HTYPE_ETHERNET
            || self.protocol_type() != EtherType::IPV4
            || self.hardware_len() != 6
            || self.protocol_len() != 4
        {
            return Err(ArpError::Unsupported);
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
    fn read_ip(&self, r: core::ops::Range<usize>) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[r];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    #[inline]
    fn read_mac(&self, r: core::ops::Range<usize>) -> MacAddr {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[r]);
        MacAddr(a)
    }

    #[inline]
    pub fn hardware_type(&self) -> u16 {
        self.read_u16(field::HTYPE)
    }

    #[inline]
    pub fn protocol_type(&self) -> u16 {
        self.read_u16(field::PTYPE)
    }

    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// `ArpOp::REQUEST`, `ArpOp::REPLY`, or something to drop.
    #[inline]
    pub fn operation(&self) -> u16 {
        self.read_u16(field::OPER)
    }

    #[inline]
    pub fn sender_hw(&self) -> MacAddr {
        self.read_mac(field::SHA)
    }

    #[inline]
    pub fn sender_ip(&self) -> Ipv4Addr {
        self.read_ip(field::SPA)
    }

    #[inline]
    pub fn target_hw(&self) -> MacAddr {
        self.read_mac(field::THA)
    }

    #[inline]
    pub fn target_ip(&self) -> Ipv4Addr {
        self.read_ip(field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes the fixed Ethernet/IPv4 format fields, for building from zero.
    #[inline]
    pub fn set_eth_ipv4_format(&mut self) {
        self.set_hardware_type(HTYPE_ETHERNET);
        self.set_protocol_type(EtherType::IPV4);
        self.set_hardware_len(6);
        self.set_protocol_len(4);
    }

    #[inline]
    pub fn set_hardware_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::HTYPE].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    pub fn set_protocol_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::PTYPE].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    #[inline]
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }

    #[inline]
    pub fn set_operation(&mut self, op: u16) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&op.to_be_bytes());
    }

    #[inline]
    pub fn set_sender_hw(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    #[inline]
    pub fn set_sender_ip(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    #[inline]
    pub fn set_target_hw(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    #[inline]
    pub fn set_target_ip(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // who-has 10.0.0.1 tell 10.0.0.2 (from 52:54:00:12:34:56).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x0a, 0x00, 0x00,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    ];

    #[test]
    fn parse_request() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.operation(), ArpOp::REQUEST);
        assert_eq!(p.sender_hw(), MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert_eq!(p.sender_ip(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.target_hw(), MacAddr::ZERO);
        assert_eq!(p.target_ip(), Ipv4Addr::new(10, 0, 0, 1));
    }

    #[test]
    fn build_reply_in_place() {
        let mut buf = REQUEST;
        let mut p = ArpPacket::new_checked(&mut buf[..]).unwrap();
        let me = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
        let (sha, spa, tpa) = (p.sender_hw(), p.sender_ip(), p.target_ip());
        p.set_operation(ArpOp::REPLY);
        p.set_target_hw(sha);
        p.set_target_ip(spa);
        p.set_sender_hw(me);
        p.set_sender_ip(tpa);
        assert_eq!(
            buf,
            [
                0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a,
                0x00, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x0a, 0x00, 0x00, 0x02,
            ]
        );
        let mut fresh = [0u8; LEN];
        let mut q = ArpPacket::new_unchecked(&mut fresh[..]);
        q.set_eth_ipv4_format();
        assert!(q.check_len().is_ok());
    }

    #[test]
    fn rejects() {
        assert_eq!(ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(), ArpError::Truncated);
        for (at, v) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut b = REQUEST;
            b[at] = v;
            assert_eq!(ArpPacket::new_checked(&b[..]).unwrap_err(), ArpError::Unsupported);
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = ArpPacket::new_checked(&bytes[..]) {
                let _ = (p.operation(), p.sender_hw(), p.sender_ip(), p.target_hw(), p.target_ip());
            }
        }
    }
}
