//! Zero-copy packet views for the data path, one module per protocol in the
//! smoltcp `wire` style: `new_checked` validates every length the accessors
//! rely on, so after it succeeds no accessor panics, on any byte string.
//! Errors are per-layer enums whose variants are the drop reasons counted.

pub mod arp;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;

pub use arp::{ArpError, ArpOp, ArpPacket};
pub use ethernet::{EthError, EtherType, EthernetFrame, MacAddr, ParseMacAddrError};
pub use icmp::{IcmpError, Icmpv4Packet};
pub use ipv4::{Ipv4Error, Ipv4Packet};
pub use tcp::{TcpError, TcpPacket};
pub use udp::{UdpError, UdpPacket};
