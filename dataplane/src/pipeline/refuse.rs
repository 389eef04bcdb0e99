//! Refusing a new connection out loud: a TCP RST (RFC 9293 §3.10.7.1: a reset
//! for a segment that opened nothing) or an ICMP destination unreachable
//! (RFC 792), built in place of the client's packet so the client fails fast
//! instead of retrying its SYN into silence.

use super::icmp::REPLY_TTL;
use super::{set_macs, Action, Core, Prepared};
use crate::counters::{DropReason, Event};
use crate::snapshot::{Refuse, Snapshot};
use crate::wire::icmp::{msg_type, unreach_code};
use crate::wire::ipv4::protocol;
use crate::wire::tcp::flags;
use crate::wire::{EthernetFrame, Icmpv4Packet, Ipv4Packet, TcpPacket};

/// Bytes of the offending datagram an ICMP error quotes beyond its IP header.
const QUOTED_L4: usize = 8;

pub(super) fn reply(
    core: &mut Core,
    snap: &Snapshot,
    frame: &mut [u8],
    len: usize,
    l4: &Prepared,
    how: Refuse,
) -> Action {
    let client = EthernetFrame::new_unchecked(&frame[..len]).src_addr();
    let built = if how == Refuse::Reset && l4.key.proto == protocol::TCP {
        reset(frame, l4).inspect(|_| core.counters.inc(Event::ResetsSent))
    } else {
        unreachable(frame, len, l4).inspect(|_| core.counters.inc(Event::UnreachablesSent))
    };
    match built {
        Some(n) => {
            set_macs(frame, client, snap.mac);
            // The original packet is still refused; the reply goes in its place.
            core.counters.count_drop(DropReason::NoResource);
            Action::Tx(n as u16)
        }
        None => Action::Drop(DropReason::NoResource),
    }
}

/// Writes a fresh 20-byte IPv4 header at `l3`.
fn ip_header(frame: &mut [u8], l3: usize, total: u16, proto: u8, src: u32, dst: u32) {
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[l3..l3 + 20]);
    ip.set_version_and_header_len(20);
    ip.set_tos(0);
    ip.set_total_len(total);
    ip.set_ident(0);
    ip.set_flags_and_frag(0x4000); // DF
    ip.set_ttl(REPLY_TTL);
    ip.set_protocol(proto);
    ip.set_src_addr(src.into());
    ip.set_dst_addr(dst.into());
    ip.fill_checksum();
}

fn reset(frame: &mut [u8], l4: &Prepared) -> Option<usize> {
    let t = l4.key.tuple;
    let (seq, ack, seg_flags, payload) = {
        let ip = Ipv4Packet::new_unchecked(&frame[l4.at().l3..]);
        let end = l4.at().l3 + usize::from(ip.total_len());
        let tcp = TcpPacket::new_unchecked(&frame[l4.at().l4..end]);
        (tcp.seq_number(), tcp.ack_number(), tcp.flags(), tcp.payload().len())
    };
    let end = l4.at().l3 + 40;
    if frame.len() < end {
        return None;
    }
    // A SYN and a FIN each take one sequence number.
    let consumed =
        payload as u32 + u32::from(seg_flags & flags::SYN != 0) + u32::from(seg_flags & flags::FIN != 0);
    let tcp_at = l4.at().l3 + 20;
    {
        let mut tcp = TcpPacket::new_unchecked(&mut frame[tcp_at..end]);
        tcp.set_src_port(t.dport);
        tcp.set_dst_port(t.sport);
        if seg_flags & flags::ACK != 0 {
            tcp.set_seq_number(ack);
            tcp.set_ack_number(0);
            tcp.set_flags(flags::RST);
        } else {
            tcp.set_seq_number(0);
            tcp.set_ack_number(seq.wrapping_add(consumed));
            tcp.set_flags(flags::RST | flags::ACK);
        }
        tcp.set_window_len(0);
        tcp.set_urgent_at(0);
    }
    // Data offset 5 and the reserved bits zero: the byte may hold leftovers
    // of the client's options or flags.
    frame[tcp_at + 12] = 0x50;
    TcpPacket::new_unchecked(&mut frame[tcp_at..end]).fill_checksum(t.dst_addr(), t.src_addr());
    ip_header(frame, l4.at().l3, 40, protocol::TCP, t.dst, t.src);
    Some(end)
}

fn unreachable(frame: &mut [u8], len: usize, l4: &Prepared) -> Option<usize> {
    let t = l4.key.tuple;
    let l3 = l4.at().l3;
    let quoted = (l4.at().l4 - l3 + QUOTED_L4).min(len - l3);
    let icmp_at = l3 + 20;
    let end = icmp_at + 8 + quoted;
    if frame.len() < end {
        return None;
    }
    frame.copy_within(l3..l3 + quoted, icmp_at + 8);
    {
        let mut icmp = Icmpv4Packet::new_unchecked(&mut frame[icmp_at..end]);
        icmp.set_msg_type(msg_type::DST_UNREACHABLE);
        icmp.set_code(unreach_code::PORT);
        icmp.set_echo_ident(0);
        icmp.set_echo_seq_no(0);
        icmp.fill_checksum();
    }
    ip_header(frame, l3, (end - l3) as u16, protocol::ICMP, t.dst, t.src);
    Some(end)
}
