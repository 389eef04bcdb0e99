//! The new-connection decision: a local real server if one can take it, else a
//! reachable remote site whose service is healthy (the proxy-IP path of the
//! Alteon GSLB chapter, or, for a service that redirects, the appliance's
//! kernel, which answers with an HTTP redirect to that site), else a refusal
//! the service chooses and a counter.
//!
//! Deciding and committing are apart, so the worker can decide a burst's new
//! flows first and commit them in a pass of their own: the reply key's
//! bucket, known only once a server is chosen, is then fetched while the
//! rest of the burst is worked on (a SYN flood's commit otherwise waited a
//! whole DRAM miss on it).

use super::{nat, refuse, set_macs, Action, Core, Prepared};
use crate::counters::{DropReason, Event};
use crate::flow::{Flow, InsertError, Path, State, Tuple};
use crate::snapshot::{Refuse, Snapshot};
use crate::wire::ipv4::protocol;
use crate::wire::tcp::flags;
use crate::wire::{EthernetFrame, MacAddr};

/// Where the new flow goes, before it is committed to the table.
struct Plan {
    xlat: Tuple,
    path: Path,
    target: u16,
    pip: u8,
    next_hop: MacAddr,
}

/// What `plan` left for `commit` to do with a new connection's packet.
#[derive(Copy, Clone)]
pub enum Pending {
    /// Open this flow, decided (its server or PIP port taken) but not yet
    /// in the table.
    Open(Planned),
    /// A TCP segment that cannot open a flow: it follows the flow an earlier
    /// packet of its burst opens (its SYN) or, if none does, meets this fate.
    Await(Action),
}

/// A new connection's flow before it is in the table.
#[derive(Copy, Clone)]
pub struct Planned {
    flow: Flow,
    /// The hash of the flow's reply key; its bucket is being fetched.
    reply_hash: u64,
    next_hop: MacAddr,
    timeout_ms: u32,
}

impl Default for Pending {
    /// A placeholder for the worker's per-packet array: `plan` writes the
    /// real one before `commit` reads it.
    fn default() -> Self {
        Pending::Await(Action::Drop(DropReason::TcpNoFlow))
    }
}

/// Decides where a new connection goes and fills `out` with its flow, whose
/// reply key's bucket it starts fetching (`None` returned); or returns what
/// becomes of the packet instead (a refusal, a redirect, a drop).
#[allow(clippy::too_many_arguments)]
pub(super) fn plan(
    core: &mut Core,
    snap: &Snapshot,
    frame: &mut [u8],
    len: usize,
    l4: &Prepared,
    svc_idx: u16,
    out: &mut Pending,
) -> Option<Action> {
    let Some(svc) = snap.services.get(usize::from(svc_idx)) else {
        return Some(Action::Drop(DropReason::VipNoService));
    };
    let tcp = l4.key.proto == protocol::TCP;
    // Only a SYN opens a TCP flow: anything else to a VIP without a flow is
    // stale (the flow aged out) or forged; or its SYN came earlier in the
    // same burst, and its flow is not open yet. So it waits for the burst's
    // flows to be opened, and only then is it refused.
    if tcp && l4.tcp_flags & (flags::SYN | flags::ACK | flags::RST) != flags::SYN {
        // A redirecting service keeps no flow for the connections its kernel
        // answers, so their later segments arrive here: they go where their
        // SYN went. (A local flow's segments always find their entry.)
        *out =
            Pending::Await(if svc.redirect { Action::Kernel } else { Action::Drop(DropReason::TcpNoFlow) });
        return None;
    }
    // Checked before choosing, so a full table never takes a PIP port or a
    // connection slot it would have to give back.
    if core.flows.len() >= core.flows.capacity() {
        return Some(Action::Drop(DropReason::FlowTableFull));
    }
    let t = l4.key.tuple;
    let plan = if let Some(pick) = core.select.pick(snap, svc.group, t.src, l4.hash) {
        let rs = &snap.real_servers[usize::from(pick.server)];
        if pick.backup {
            core.counters.inc(Event::BackupUsed);
        }
        // Counted against the server at once: the burst's next new
        // connections are chosen before this one's flow is made.
        core.select.reserve(pick.server);
        Plan {
            xlat: Tuple { src: t.src, dst: rs.addr.into(), sport: t.sport, dport: svc.real_port },
            path: Path::Local,
            target: pick.server,
            pip: 0,
            next_hop: rs.mac,
        }
    } else if tcp && svc.redirect && svc.remotes.iter().any(|r| snap.remote_available(r)) {
        // The kernel's HTTP server tells the client where to go instead;
        // which site it names is the control side's choice, by the same test.
        core.counters.inc(Event::Redirected);
        return Some(Action::Kernel);
    } else if let Some((i, remote)) = svc.remotes.iter().enumerate().find(|(_, r)| snap.remote_available(r)) {
        let me = core.config.id as u16;
        let allocated = match &core.rss {
            // Replies come from the remote VIP to PIP:port; pick a port whose
            // reply the NIC's hash sends to this core (expected: one try per queue).
            Some(rss) => core.pips.alloc_where(
                |pip, port| rss.queue(remote.vip, snap.pips[usize::from(pip)], remote.port, port) == Some(me),
                8 * core.config.cores as usize,
            ),
            None => core.pips.alloc(),
        };
        let Some((pip, port)) = allocated else {
            return Some(Action::Drop(DropReason::PipExhausted));
        };
        Plan {
            xlat: Tuple {
                src: snap.pips[usize::from(pip)].into(),
                dst: remote.vip.into(),
                sport: port,
                dport: remote.port,
            },
            path: Path::Proxy,
            target: i as u16,
            pip,
            next_hop: snap.sites[usize::from(remote.site)].next_hop,
        }
    } else {
        return Some(match svc.refuse {
            Refuse::Drop => Action::Drop(DropReason::NoResource),
            how => refuse::reply(core, snap, frame, len, l4, how),
        });
    };

    let mut flow = Flow::new(t, plan.xlat, l4.key.proto);
    flow.path = plan.path as u8;
    flow.target = plan.target;
    flow.pip = plan.pip;
    flow.service = svc_idx;
    flow.client_mac = EthernetFrame::new_unchecked(&frame[..len]).src_addr().0;
    let state = if tcp { State::SynSent } else { State::Datagram };
    flow.state = state as u8;
    nat::prepare(&mut flow);

    if plan.next_hop == MacAddr::ZERO {
        give_back(core, &flow);
        return Some(Action::Drop(DropReason::NoNextHop));
    }
    let reply_hash = core.flows.hash(&flow.reverse_key());
    core.flows.prefetch_bucket(reply_hash);
    let timeout_ms = state.timeout(&snap.timeouts);
    *out = Pending::Open(Planned { flow, reply_hash, next_hop: plan.next_hop, timeout_ms });
    None
}

/// Puts a planned flow in the table and translates its first packet; if the
/// table refuses it, gives back what the plan took. The caller has checked
/// that the forward key is not in the table, so a waiting segment meets its
/// fate.
#[allow(clippy::too_many_arguments)]
pub(super) fn commit(
    core: &mut Core,
    snap: &Snapshot,
    frame: &mut [u8],
    len: usize,
    l4: &Prepared,
    p: &Pending,
    now_ms: u64,
) -> Action {
    let p = match p {
        Pending::Open(p) => p,
        Pending::Await(fate) => return *fate,
    };
    let idx = match core.flows.insert_hashed(p.flow, l4.hash, p.reply_hash, now_ms, p.timeout_ms) {
        Ok(idx) => idx,
        Err(e) => {
            give_back(core, &p.flow);
            return Action::Drop(match e {
                InsertError::Full => DropReason::FlowTableFull,
                InsertError::BucketFull => DropReason::FlowBucketFull,
                InsertError::Collision => DropReason::FlowCollision,
            });
        }
    };
    match p.flow.path() {
        Path::Local => {
            core.select.opened(p.flow.target);
            core.counters.inc(Event::FlowsCreatedLocal);
        }
        Path::Proxy => core.counters.inc(Event::FlowsCreatedProxy),
    }
    nat::rewrite(frame, l4.at(), core.flows.get(idx), crate::flow::Dir::Forward);
    set_macs(frame, p.next_hop, snap.mac);
    Action::Tx(len as u16)
}

/// Drops a plan whose packet found its flow made meanwhile (by an earlier
/// packet of the burst): gives back what it took.
pub(super) fn abandon(core: &mut Core, p: &Pending) {
    if let Pending::Open(p) = p {
        give_back(core, &p.flow);
    }
}

/// Gives back what a plan took and its flow will not use: the server's
/// connection slot, or the PIP port.
fn give_back(core: &mut Core, flow: &Flow) {
    match flow.path() {
        Path::Local => core.select.closed(flow.target),
        Path::Proxy => core.pips.free(flow.pip, flow.xlat.sport),
    }
}
