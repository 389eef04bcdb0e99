//! Ethernet II frame view (IEEE 802.3 / RFC 894) with at most one IEEE
//! 802.1Q tag. Stacked tags (QinQ, 802.1ad) are rejected rather than parsed:
//! the data path only ever sees access or single-trunk ports.
//!
//! Contract: after `EthernetFrame::new_checked` succeeds no accessor panics.

use core::fmt;
use core::str::FromStr;

mod field {
    use core::ops::Range;

    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    // Only meaningful when ETHERTYPE is 802.1Q.
    pub const VLAN_TCI: Range<usize> = 14..16;
    pub const VLAN_ETHERTYPE: Range<usize> = 16..18;
}

/// Untagged header length.
pub const HEADER_LEN: usize = 14;
/// Header length with one 802.1Q tag.
pub const VLAN_HEADER_LEN: usize = 18;

/// EtherType values the data path dispatches on (a namespace for `u16`
/// consts, so they can be used directly in `match` arms).
#[derive(Debug)]
pub enum EtherType {}

impl EtherType {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
}

/// Why a frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EthError {
    /// Shorter than the (possibly tagged) header.
    Truncated,
    /// More than one VLAN tag, or an 802.1ad outer tag.
    StackedVlan,
}

impl fmt::Display for EthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EthError::Truncated => "ethernet frame truncated",
            EthError::StackedVlan => "stacked VLAN tags not supported",
        })
    }
}

impl std::error::Error for EthError {}

/// A 48-bit IEEE 802 MAC address.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default, Debug)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    #[inline]
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// I/G bit set; includes broadcast.
    #[inline]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    #[inline]
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    #[inline]
    fn from_slice(b: &[u8]) -> MacAddr {
        let mut a = [0u8; 6];
        a.copy_from_slice(b);
        MacAddr(a)
    }
}

impl From<[u8; 6]> for MacAddr {
    #[inline]
    fn from(a: [u8; 6]) -> Self {
        MacAddr(a)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// A MAC address string was not six colon-separated hex octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseMacAddrError;

impl fmt::Display for ParseMacAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid MAC address, expected aa:bb:cc:dd:ee:ff")
    }
}

impl std::error::Error for ParseMacAddrError {}

impl FromStr for MacAddr {
    type Err = ParseMacAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for slot in &mut out {
            let part = parts.next().ok_or(ParseMacAddrError)?;
            // from_str_radix alone would accept "+f" and single digits.
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ParseMacAddrError);
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| ParseMacAddrError)?;
        }
        if parts.next().is_some() {
            return Err(ParseMacAddrError);
        }
        Ok(MacAddr(out))
    }
}

/// Zero-copy view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` without validation; accessors may panic on short input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps `buffer` after `check_len`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, EthError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Validates that the header, including any single 802.1Q tag, fits and
    /// that tags are not stacked.
    pub fn check_len(&self) -> Result<(), EthError> {
        let data = self.buffer.as_ref();
        let outer = match data.get(field::ETHERTYPE) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => return Err(EthError::Truncated),
        };
        match outer {
            EtherType::QINQ => Err(EthError::StackedVlan),
            EtherType::VLAN => match data.get(field::VLAN_ETHERTYPE) {
                Some(&[hi, lo]) => match u16::from_be_bytes([hi, lo]) {
                    EtherType::VLAN | EtherType::QINQ => Err(EthError::StackedVlan),
                    _ => Ok(()),
                },
                _ => Err(EthError::Truncated),
            },
            _ => Ok(()),
        }
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    fn read_u16(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::DESTINATION])
    }

    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::SOURCE])
    }

    #[inline]
    fn is_tagged(&self) -> bool {
        self.read_u16(field::ETHERTYPE) == EtherType::VLAN
    }

    /// The 802.1Q tag control information (PCP, DEI, VID), if tagged.
    #[inline]
    pub fn vlan_tci(&self) -> Option<u16> {
        if self.is_tagged() {
            Some(self.read_u16(field::VLAN_TCI))
        } else {
            None
        }
    }

    /// The EtherType of the payload, i.e. the one after any 802.1Q tag.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        if self.is_tagged() {
            self.read_u16(field::VLAN_ETHERTYPE)
        } else {
            self.read_u16(field::ETHERTYPE)
        }
    }

    /// 14, or 18 with an 802.1Q tag.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Everything after the header, including any Ethernet padding.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    #[inline]
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the payload EtherType (after the tag when tagged).
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        let r = if self.is_tagged() { field::VLAN_ETHERTYPE } else { field::ETHERTYPE };
        self.buffer.as_mut()[r].copy_from_slice(&ethertype.to_be_bytes());
    }

    /// Rewrites the TCI of an already-tagged frame; adding or removing a tag
    /// changes the frame length and is the caller's job.
    #[inline]
    pub fn set_vlan_tci(&mut self, tci: u16) {
        if self.is_tagged() {
            self.buffer.as_mut()[field::VLAN_TCI].copy_from_slice(&tci.to_be_bytes());
        }
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Broadcast ARP who-has 10.0.0.1 tell 10.0.0.2, padded to 60 bytes.
    const ARP_FRAME: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, 0x00, 0x01, 0x08,
        0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x0a, 0x00, 0x00, 0x02, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    // VLAN 100 (PCP 3) IPv4 frame start: tag 0x8100 0x6064, then 0x0800.
    const VLAN_FRAME: [u8; 22] = [
        0x00, 0x1b, 0x21, 0x3a, 0x4b, 0x5c, 0x3c, 0xfd, 0xfe, 0x01, 0x02, 0x03, 0x81, 0x00, 0x60, 0x64, 0x08,
        0x00, 0x45, 0x00, 0x00, 0x14,
    ];

    #[test]
    fn untagged_arp() {
        let f = EthernetFrame::new_checked(&ARP_FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr::BROADCAST);
        assert!(f.dst_addr().is_broadcast() && f.dst_addr().is_multicast());
        assert_eq!(f.src_addr(), MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert!(f.src_addr().is_unicast());
        assert_eq!(f.ethertype(), EtherType::ARP);
        assert_eq!(f.vlan_tci(), None);
        assert_eq!(f.header_len(), HEADER_LEN);
        assert_eq!(f.payload().len(), 46);
    }

    #[test]
    fn single_tag() {
        let f = EthernetFrame::new_checked(&VLAN_FRAME[..]).unwrap();
        assert_eq!(f.vlan_tci(), Some(0x6064));
        assert_eq!(f.vlan_tci().map(|t| t & 0x0fff), Some(100));
        assert_eq!(f.ethertype(), EtherType::IPV4);
        assert_eq!(f.header_len(), VLAN_HEADER_LEN);
        assert_eq!(f.payload(), &[0x45, 0x00, 0x00, 0x14]);
    }

    #[test]
    fn rejects_stacked_and_short() {
        let mut q = VLAN_FRAME;
        q[16..18].copy_from_slice(&[0x81, 0x00]);
        assert_eq!(EthernetFrame::new_checked(&q[..]).unwrap_err(), EthError::StackedVlan);
        q[16..18].copy_from_slice(&[0x88, 0xa8]);
        assert_eq!(EthernetFrame::new_checked(&q[..]).unwrap_err(), EthError::StackedVlan);
        q[12..14].copy_from_slice(&[0x88, 0xa8]);
        assert_eq!(EthernetFrame::new_checked(&q[..]).unwrap_err(), EthError::StackedVlan);
        assert_eq!(EthernetFrame::new_checked(&VLAN_FRAME[..17]).unwrap_err(), EthError::Truncated);
        assert_eq!(EthernetFrame::new_checked(&ARP_FRAME[..13]).unwrap_err(), EthError::Truncated);
        assert!(EthernetFrame::new_checked(&ARP_FRAME[..14]).is_ok());
    }

    #[test]
    fn setters() {
        let mut buf = VLAN_FRAME;
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        let a: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        f.set_dst_addr(a);
        f.set_src_addr(MacAddr::ZERO);
        f.set_vlan_tci(0x0065);
        f.set_ethertype(EtherType::ARP);
        f.payload_mut()[0] = 0x99;
        assert_eq!(f.dst_addr(), a);
        assert_eq!(f.src_addr(), MacAddr::ZERO);
        assert_eq!(f.vlan_tci(), Some(0x0065));
        assert_eq!(f.ethertype(), EtherType::ARP);
        assert_eq!(&buf[12..19], &[0x81, 0x00, 0x00, 0x65, 0x08, 0x06, 0x99]);
    }

    #[test]
    fn mac_text() {
        let m = MacAddr([0xaa, 0xbb, 0x0c, 0xdd, 0xee, 0x0f]);
        assert_eq!(m.to_string(), "aa:bb:0c:dd:ee:0f");
        assert_eq!("AA:bb:0c:dd:ee:0f".parse::<MacAddr>(), Ok(m));
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb:cc:dd:ee:f",
            "aa:bb:cc:dd:ee:+f",
            "aa-bb-cc-dd-ee-ff",
            "gg:bb:cc:dd:ee:ff",
            "aa:bb:cc:dd:ee:ff:",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(ParseMacAddrError), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(f) = EthernetFrame::new_checked(&bytes[..]) {
                let _ = (f.dst_addr(), f.src_addr(), f.vlan_tci(), f.ethertype());
                prop_assert_eq!(f.payload().len() + f.header_len(), bytes.len());
            }
        }

        #[test]
        fn mac_roundtrip(a in any::<[u8; 6]>()) {
            let m = MacAddr(a);
            prop_assert_eq!(m.to_string().parse::<MacAddr>(), Ok(m));
        }
    }
}
