//! Building and reading whole frames, for tests, the demo and load generators.
//!
//! Builders produce valid frames (checksums filled); `Summary` reads one back
//! and says whether its checksums verify, so a test can assert a translated
//! packet field by field.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::wire::ipv4::protocol;
use crate::wire::tcp::flags;
use crate::wire::{
    icmp, ArpOp, ArpPacket, EtherType, EthernetFrame, Icmpv4Packet, Ipv4Packet, MacAddr, TcpPacket, UdpPacket,
};

/// Ethernet + IPv4 header around `l4` (whose checksum the caller fills).
fn ipv4_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    l4_len: usize,
) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + l4_len];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(dst_mac);
    eth.set_src_addr(src_mac);
    eth.set_ethertype(EtherType::IPV4);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.set_version_and_header_len(20);
    ip.set_total_len((20 + l4_len) as u16);
    ip.set_ident(0x1c46);
    ip.set_flags_and_frag(0x4000);
    ip.set_ttl(64);
    ip.set_protocol(proto);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    ip.fill_checksum();
    f
}

/// A TCP segment with no options.
#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    tcp_flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = ipv4_frame(src_mac, dst_mac, *src.ip(), *dst.ip(), protocol::TCP, 20 + payload.len());
    let mut t = TcpPacket::new_unchecked(&mut f[34..]);
    t.set_src_port(src.port());
    t.set_dst_port(dst.port());
    t.set_seq_number(seq);
    t.set_ack_number(ack);
    t.set_header_len(20);
    t.set_flags(tcp_flags);
    t.set_window_len(64240);
    t.payload_mut().copy_from_slice(payload);
    t.fill_checksum(*src.ip(), *dst.ip());
    f
}

pub fn udp(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = ipv4_frame(src_mac, dst_mac, *src.ip(), *dst.ip(), protocol::UDP, 8 + payload.len());
    let mut u = UdpPacket::new_unchecked(&mut f[34..]);
    u.set_src_port(src.port());
    u.set_dst_port(dst.port());
    u.set_len((8 + payload.len()) as u16);
    u.payload_mut().copy_from_slice(payload);
    u.fill_checksum(*src.ip(), *dst.ip());
    f
}

pub fn icmp_echo(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    let mut f = ipv4_frame(src_mac, dst_mac, src, dst, protocol::ICMP, 8 + 16);
    let mut i = Icmpv4Packet::new_unchecked(&mut f[34..]);
    i.set_msg_type(icmp::msg_type::ECHO_REQUEST);
    i.set_code(0);
    i.set_echo_ident(0x4242);
    i.set_echo_seq_no(seq);
    i.data_mut().copy_from_slice(b"gslbd ping data!");
    i.fill_checksum();
    f
}

pub fn arp_request(src_mac: MacAddr, src: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 28];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(MacAddr::BROADCAST);
    eth.set_src_addr(src_mac);
    eth.set_ethertype(EtherType::ARP);
    let mut a = ArpPacket::new_unchecked(&mut f[14..]);
    a.set_eth_ipv4_format();
    a.set_operation(ArpOp::REQUEST);
    a.set_sender_hw(src_mac);
    a.set_sender_ip(src);
    a.set_target_hw(MacAddr::ZERO);
    a.set_target_ip(target);
    f
}

/// What a frame carries, as a test wants to see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub proto: u8,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub ttl: u8,
    /// TCP flags, or the ICMP type for ICMP.
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub payload: Vec<u8>,
    /// Both the IPv4 and the transport checksum verify.
    pub checksums_ok: bool,
}

impl Summary {
    /// Reads an untagged IPv4 TCP, UDP or ICMP frame; `None` for anything else.
    pub fn parse(frame: &[u8]) -> Option<Summary> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        if eth.ethertype() != EtherType::IPV4 {
            return None;
        }
        let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
        let (sa, da) = (ip.src_addr(), ip.dst_addr());
        let mut s = Summary {
            src_mac: eth.src_addr(),
            dst_mac: eth.dst_addr(),
            proto: ip.protocol(),
            src: SocketAddrV4::new(sa, 0),
            dst: SocketAddrV4::new(da, 0),
            ttl: ip.ttl(),
            flags: 0,
            seq: 0,
            ack: 0,
            payload: Vec::new(),
            checksums_ok: ip.verify_checksum(),
        };
        match ip.protocol() {
            protocol::TCP => {
                let t = TcpPacket::new_checked(ip.payload()).ok()?;
                s.src.set_port(t.src_port());
                s.dst.set_port(t.dst_port());
                s.flags = t.flags();
                s.seq = t.seq_number();
                s.ack = t.ack_number();
                s.payload = t.payload().to_vec();
                s.checksums_ok &= t.verify_checksum(sa, da);
            }
            protocol::UDP => {
                let u = UdpPacket::new_checked(ip.payload()).ok()?;
                s.src.set_port(u.src_port());
                s.dst.set_port(u.dst_port());
                s.payload = u.payload().to_vec();
                s.checksums_ok &= u.verify_checksum(sa, da);
            }
            protocol::ICMP => {
                let i = Icmpv4Packet::new_checked(ip.payload()).ok()?;
                s.flags = i.msg_type();
                s.payload = i.data().to_vec();
                s.checksums_ok &= i.verify_checksum();
            }
            _ => return None,
        }
        Some(s)
    }
}

/// TCP flags the way tcpdump prints them.
pub fn flag_names(f: u8) -> String {
    let mut s = String::new();
    for (bit, c) in
        [(flags::SYN, 'S'), (flags::FIN, 'F'), (flags::RST, 'R'), (flags::PSH, 'P'), (flags::ACK, '.')]
    {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proto {
            protocol::TCP => write!(
                f,
                "TCP {} > {} [{}] seq {} ack {} len {}",
                self.src,
                self.dst,
                flag_names(self.flags),
                self.seq,
                self.ack,
                self.payload.len()
            ),
            protocol::UDP => write!(f, "UDP {} > {} len {}", self.src, self.dst, self.payload.len()),
            _ => write!(f, "ICMP {} > {} type {}", self.src.ip(), self.dst.ip(), self.flags),
        }
    }
}
