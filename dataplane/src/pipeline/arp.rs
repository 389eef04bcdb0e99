//! ARP on the data path: the appliance answers for its VIPs and PIPs itself
//! (they exist only here); ARP for its own address, and every ARP reply, is
//! the kernel's business (it keeps the neighbour table the control side uses).

use super::{set_macs, Action, Core};
use crate::counters::{DropReason, Event};
use crate::snapshot::{AddrKind, Snapshot};
use crate::wire::{ArpError, ArpOp, ArpPacket};

pub(super) fn handle(core: &mut Core, snap: &Snapshot, frame: &mut [u8], len: usize, l3: usize) -> Action {
    let arp = match ArpPacket::new_checked(&frame[l3..len]) {
        Ok(a) => a,
        Err(ArpError::Truncated) => return Action::Drop(DropReason::ArpTruncated),
        Err(_) => return Action::Drop(DropReason::ArpUnsupported),
    };
    let target = arp.target_ip();
    let kind = snap.addr_kind(u32::from(target));
    match (arp.operation(), kind) {
        (ArpOp::REQUEST, Some(AddrKind::Vip | AddrKind::Pip(_))) => {
            let (asker_mac, asker_ip) = (arp.sender_hw(), arp.sender_ip());
            let mut reply = ArpPacket::new_unchecked(&mut frame[l3..len]);
            reply.set_operation(ArpOp::REPLY);
            reply.set_target_hw(asker_mac);
            reply.set_target_ip(asker_ip);
            reply.set_sender_hw(snap.mac);
            reply.set_sender_ip(target);
            set_macs(frame, asker_mac, snap.mac);
            core.counters.inc(Event::ArpReplies);
            Action::Tx(len as u16)
        }
        (_, Some(AddrKind::Own)) => Action::Kernel,
        (ArpOp::REPLY, _) => Action::Kernel,
        _ => Action::Drop(DropReason::ArpNotOurs),
    }
}
