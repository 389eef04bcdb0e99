//! ICMP on the data path: echo requests to a VIP or PIP are answered here, so
//! `ping` tells whether the service address is alive; everything else ICMP for
//! our own address goes to the kernel.
//!
//! Not handled yet: ICMP errors about a flow (e.g. "fragmentation needed" from
//! a real server), which would need the embedded header translated too; they
//! are dropped and counted as `icmp_unsupported`.

use super::{set_macs, Action, Core, Offsets};
use crate::checksum::Delta;
use crate::counters::{DropReason, Event};
use crate::snapshot::{AddrKind, Snapshot};
use crate::wire::icmp::msg_type;
use crate::wire::{Icmpv4Packet, Ipv4Packet};

/// TTL of replies the appliance originates (Linux's default).
pub(super) const REPLY_TTL: u8 = 64;

pub(super) fn handle(
    core: &mut Core,
    snap: &Snapshot,
    frame: &mut [u8],
    len: usize,
    at: Offsets,
    dst: u32,
) -> Action {
    match snap.addr_kind(dst) {
        Some(AddrKind::Own) => return Action::Kernel,
        Some(AddrKind::Vip | AddrKind::Pip(_)) => {}
        None => return Action::Drop(DropReason::NotOurAddress),
    }
    let end = {
        let ip = Ipv4Packet::new_unchecked(&frame[at.l3..len]);
        at.l3 + usize::from(ip.total_len())
    };
    let icmp = match Icmpv4Packet::new_checked(&frame[at.l4..end]) {
        Ok(i) => i,
        Err(_) => return Action::Drop(DropReason::IcmpTruncated),
    };
    if icmp.msg_type() != msg_type::ECHO_REQUEST || icmp.code() != 0 {
        return Action::Drop(DropReason::IcmpUnsupported);
    }
    let csum = icmp.checksum();
    let mut icmp = Icmpv4Packet::new_unchecked(&mut frame[at.l4..end]);
    icmp.set_msg_type(msg_type::ECHO_REPLY);
    // Only the type byte changed (high byte of the first word).
    let delta = Delta::new().replace16(u16::from(msg_type::ECHO_REQUEST) << 8, 0);
    icmp.set_checksum(delta.apply(csum));

    let mut ip = Ipv4Packet::new_unchecked(&mut frame[at.l3..end]);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_ttl(REPLY_TTL);
    ip.fill_checksum();
    let asker = crate::wire::EthernetFrame::new_unchecked(&frame[..len]).src_addr();
    set_macs(frame, asker, snap.mac);
    core.counters.inc(Event::IcmpEchoReplies);
    Action::Tx(len as u16)
}
