//! The per-packet pipeline of one data core: classify, look up, translate.
//!
//! `Core` holds everything a data core owns (flow table, PIP ports, selection
//! state, counters); `Core::process` takes one frame and decides its fate. The
//! snapshot is passed in, not owned, so the worker can refresh it between bursts.

mod arp;
mod icmp;
mod nat;
mod new_flow;
mod refuse;
mod usual;

pub use nat::{prepare, rewrite, Offsets};
pub use new_flow::Pending;

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::counters::{CoreCounters, DropReason, Event};
use crate::flow::{Dir, Flow, FlowKey, FlowTable, Hit, Path, Probe, State};
use crate::pip::PipPools;
use crate::rss::Rss;
use crate::select::Selector;
use crate::snapshot::{AddrKind, DownPolicy, Health, Snapshot};
use crate::wire::ipv4::protocol;
use crate::wire::tcp::flags;
use crate::wire::{EtherType, EthernetFrame, Ipv4Error, Ipv4Packet, MacAddr, TcpError, UdpError};

/// What to do with a frame once processed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send it (rewritten, or replaced by a reply) on the data port; the frame
    /// now has this length. (`u16`, as in an mbuf: it keeps `Action` in a register.)
    Tx(u16),
    /// Hand it to the kernel: traffic for the appliance's own address.
    Kernel,
    /// A query for the appliance's DNS: to the DNS thread, which answers in
    /// the same buffer (no kernel socket on the way).
    Dns,
    Drop(DropReason),
    /// Give it to the data core that owns its flow (only with several cores).
    Handoff(u16),
}

/// Fixed parameters of one data core.
#[derive(Copy, Clone, Debug)]
pub struct CoreConfig {
    pub id: u32,
    pub cores: u32,
    pub flow_capacity: u32,
    /// Seeds the flow table's hash; differs per core and per start.
    pub seed: u64,
    /// Flows aged per poll at most, so a wave of expiries never stalls a burst.
    pub expire_budget: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig { id: 0, cores: 1, flow_capacity: 1 << 20, seed: 0x5eed, expire_budget: 256 }
    }
}

pub struct Core {
    pub config: CoreConfig,
    pub flows: FlowTable,
    pub pips: PipPools,
    pub select: Selector,
    pub counters: Arc<CoreCounters>,
    /// The device's RSS, when its hash can be predicted: PIP ports are then
    /// chosen so the NIC itself steers replies to this core.
    pub rss: Option<Rss>,
}

/// A TCP or UDP packet between the stages of the burst pipeline: its headers
/// parsed, its key hashed, its flow candidate. Plain fields written one by one:
/// copying it whole as a nested struct made the compiler shuffle it through
/// the stack with overlapping stores that stall the loads after them.
#[derive(Copy, Clone, Debug, Default)]
pub struct Prepared {
    key: FlowKey,
    hash: u64,
    l3: u16,
    l4: u16,
    tcp_flags: u8,
    ttl: u8,
    /// Candidate flow entry (0: none) and its direction.
    hit_idx: u32,
    hit_rev: bool,
}

impl Prepared {
    #[inline]
    fn at(&self) -> Offsets {
        Offsets { l3: usize::from(self.l3), l4: usize::from(self.l4) }
    }

    #[inline]
    fn hit(&self) -> Option<Hit> {
        let dir = if self.hit_rev { Dir::Reverse } else { Dir::Forward };
        (self.hit_idx != 0).then_some(Hit { idx: self.hit_idx, dir })
    }

    #[inline(always)]
    fn set_hit(&mut self, h: Hit) {
        self.hit_idx = h.idx;
        self.hit_rev = h.dir == Dir::Reverse;
    }
}

impl Core {
    /// A core whose PIP ports are those `owns_port(pip, port)` gives it. Fails
    /// only if the flow table's memory cannot be mapped.
    pub fn new(
        config: CoreConfig,
        snap: &Snapshot,
        now_ms: u64,
        owns_port: impl FnMut(Ipv4Addr, u16) -> bool,
    ) -> std::io::Result<Core> {
        let counters = Arc::new(CoreCounters::default());
        let mut select = Selector::new(config.cores, counters.clone());
        select.resize(snap);
        Ok(Core {
            config,
            flows: FlowTable::new(config.flow_capacity, config.seed, now_ms)?,
            pips: PipPools::new(&snap.pips, owns_port),
            select,
            counters,
            rss: None,
        })
    }

    /// A core of `config.cores` that owns the PIP ports congruent to its id.
    pub fn with_port_share(config: CoreConfig, snap: &Snapshot, now_ms: u64) -> std::io::Result<Core> {
        let (id, n) = (config.id, config.cores.max(1));
        Core::new(config, snap, now_ms, move |_, port| u32::from(port) % n == id)
    }

    /// Called when a new snapshot has been picked up.
    pub fn on_snapshot(&mut self, snap: &Snapshot) {
        self.select.resize(snap);
        self.counters.inc(Event::SnapshotUpdates);
    }

    /// Ages flows due by `now_ms`, giving back their ports and connection slots.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        self.expire_up_to(now_ms, self.config.expire_budget)
    }

    /// `expire`, visiting at most `budget` flows (and never more than the
    /// configured budget).
    pub fn expire_up_to(&mut self, now_ms: u64, budget: usize) -> usize {
        let Core { flows, pips, select, counters, config, .. } = self;
        let budget = budget.min(config.expire_budget);
        flows.expire(now_ms, budget, |f| release(pips, select, counters, f, true))
    }

    /// Decides the fate of one frame. `frame` is the buffer's whole room, the
    /// frame its first `len` bytes; replies may grow into the room. Counts
    /// drops and exceptions (the worker counts what it receives and sends).
    #[inline]
    pub fn process(&mut self, snap: &Snapshot, frame: &mut [u8], len: usize, now_ms: u64) -> Action {
        let mut p = Prepared::default();
        let action = match self.parse(snap, frame, len, &mut p) {
            Some(a) => a,
            None => {
                if self.resolve(&mut p) {
                    self.resolve_second(&mut p);
                }
                let mut plan = Pending::default();
                match self.finish(snap, frame, len, &p, now_ms, &mut plan) {
                    Some(a) => a,
                    None => self.commit(snap, frame, len, &p, &plan, now_ms),
                }
            }
        };
        self.count(action);
        action
    }

    #[inline]
    pub fn count(&self, action: Action) {
        match action {
            Action::Tx(_) => {}
            Action::Handoff(_) => self.counters.inc(Event::HandedOff),
            Action::Kernel => self.counters.inc(Event::ExceptionPackets),
            Action::Dns => self.counters.inc(Event::DnsQueries),
            Action::Drop(r) => self.counters.count_drop(r),
        }
    }

    /// First stage: validates the frame up to its transport header. Frames
    /// that need no flow lookup (ARP, ICMP, malformed, the kernel's) are
    /// finished here and their action returned; for a TCP or UDP packet `out`
    /// gets its key and hash, `None` is returned, and its index bucket is
    /// already being fetched.
    #[inline]
    pub fn parse(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        len: usize,
        out: &mut Prepared,
    ) -> Option<Action> {
        if self.parse_usual(snap, frame, len, out) {
            return None;
        }
        self.parse_general(snap, frame, len, out)
    }

    /// `parse` for any frame, layer by layer, naming what is wrong.
    #[inline(never)]
    #[cold]
    fn parse_general(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        len: usize,
        out: &mut Prepared,
    ) -> Option<Action> {
        let len = len.min(frame.len());
        let eth = match EthernetFrame::new_checked(&frame[..len]) {
            Ok(e) => e,
            Err(e) => return Some(Action::Drop(e.into())),
        };
        let dst = eth.dst_addr();
        if dst != snap.mac && !dst.is_broadcast() {
            return Some(Action::Drop(DropReason::NotOurMac));
        }
        let l3 = eth.header_len();
        match eth.ethertype() {
            EtherType::IPV4 => self.parse_ipv4(snap, frame, len, l3, out),
            EtherType::ARP => Some(arp::handle(self, snap, frame, len, l3)),
            _ => Some(Action::Drop(DropReason::UnsupportedEthertype)),
        }
    }

    // Inlined into the burst loop, as are `finish`, `established` and
    // `parse_l4`: as calls, their prologues and epilogues cost about 60
    // instructions a packet (callgrind).
    #[inline(always)]
    fn parse_ipv4(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        len: usize,
        l3: usize,
        out: &mut Prepared,
    ) -> Option<Action> {
        let ip = match Ipv4Packet::new_checked(&frame[l3..len]) {
            Ok(ip) => ip,
            Err(e) => return Some(Action::Drop(e.into())),
        };
        if !ip.verify_checksum() {
            return Some(Action::Drop(DropReason::Ipv4BadChecksum));
        }
        if ip.is_fragment() {
            return Some(Action::Drop(DropReason::Ipv4Fragment));
        }
        let proto = ip.protocol();
        let (src, dst, ttl) = (ip.src_u32(), ip.dst_u32(), ip.ttl());
        let at = Offsets { l3, l4: l3 + ip.header_len() };
        let end = l3 + usize::from(ip.total_len());
        match proto {
            protocol::TCP | protocol::UDP => match parse_l4(&frame[at.l4..end], proto, out) {
                Ok(()) => {
                    out.key.tuple.src = src;
                    out.key.tuple.dst = dst;
                    out.key.proto = proto;
                    // Offsets fit in u16: a frame is at most a buffer's room.
                    out.l3 = at.l3 as u16;
                    out.l4 = at.l4 as u16;
                    out.ttl = ttl;
                    out.hit_idx = 0;
                    out.hash = self.flows.hash(&out.key);
                    self.flows.prefetch_bucket(out.hash);
                    None
                }
                Err(r) => Some(Action::Drop(r)),
            },
            protocol::ICMP => Some(icmp::handle(self, snap, frame, len, at, dst)),
            _ => Some(match snap.addr_kind(dst) {
                Some(AddrKind::Own) => Action::Kernel,
                _ => Action::Drop(DropReason::UnsupportedProtocol),
            }),
        }
    }

    /// The data core that owns the flow of a parsed TCP or UDP packet, by a
    /// rule every core computes alike and both directions of a flow agree on:
    /// a reply to a PIP belongs to the core that owns that PIP port (ports
    /// are shared out by `port % cores`); anything else belongs to the core
    /// its client endpoint hashes to (the source of a packet to a VIP, the
    /// destination of a real server's reply).
    #[inline]
    pub fn owner(&self, snap: &Snapshot, p: &Prepared) -> u32 {
        let n = self.config.cores.max(1);
        if n == 1 {
            return 0;
        }
        let t = &p.key.tuple;
        let client = match snap.addr_kind(t.dst) {
            Some(AddrKind::Pip(_)) => return u32::from(t.dport) % n,
            Some(AddrKind::Vip) => (t.src, t.sport),
            _ => (t.dst, t.dport),
        };
        client_owner(client.0, client.1, n)
    }

    /// Second stage: finds the packet's likely flow by signature alone (its
    /// bucket should be in cache by now) and starts fetching the flow entry.
    /// Returns true for a packet whose key may be in its second bucket: that
    /// bucket is being fetched, and `resolve_second` finishes the stage once
    /// the burst's other packets have been through it.
    #[inline]
    pub fn resolve(&self, p: &mut Prepared) -> bool {
        p.hit_idx = 0;
        match self.flows.probe(p.hash) {
            Probe::Found(h) => p.set_hit(h),
            Probe::Absent => {}
            Probe::Second => return true,
        }
        false
    }

    /// `resolve` for a packet it sent to its key's second bucket.
    #[inline]
    pub fn resolve_second(&self, p: &mut Prepared) {
        if let Some(h) = self.flows.probe_second(p.hash) {
            p.set_hit(h);
        }
    }

    /// Third stage: translates the packet along its flow; or decides where a
    /// new connection goes, into `plan` (`None` returned), its flow to be
    /// opened by `commit`. Flows may have come and gone since `resolve` ran.
    #[inline(always)]
    pub fn finish(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        len: usize,
        p: &Prepared,
        now_ms: u64,
        plan: &mut Pending,
    ) -> Option<Action> {
        let len = len.min(frame.len());
        // The candidate is confirmed against the full key; without one (or if
        // it is stale: an earlier packet created or removed a flow, a
        // retransmitted SYN, a second datagram) the lookup is done in full.
        let hit = match p.hit() {
            Some(h) if self.flows.confirm(h, &p.key) => Some(h),
            _ => self.flows.lookup(&p.key, p.hash),
        };
        let l4 = p;
        if let Some(hit) = hit {
            if p.ttl <= 1 {
                return Some(Action::Drop(DropReason::TtlExpired));
            }
            return Some(self.established(snap, frame, len, l4, hit.idx, hit.dir, now_ms));
        }
        let dst = l4.key.tuple.dst;
        Some(match snap.addr_kind(dst) {
            Some(AddrKind::Vip) => match snap.service_for(dst, l4.key.tuple.dport, l4.key.proto) {
                Some(svc) if p.ttl > 1 => return new_flow::plan(self, snap, frame, len, l4, svc, plan),
                Some(_) => Action::Drop(DropReason::TtlExpired),
                None => Action::Drop(DropReason::VipNoService),
            },
            Some(AddrKind::Pip(_)) => Action::Drop(DropReason::PipNoFlow),
            Some(AddrKind::Own) if l4.key.proto == protocol::UDP && snap.is_dns(dst, l4.key.tuple.dport) => {
                Action::Dns
            }
            Some(AddrKind::Own) => Action::Kernel,
            None => Action::Drop(DropReason::NotOurAddress),
        })
    }

    /// Opens the flow `finish` planned for this packet and translates
    /// the packet; unless an earlier packet opened it meanwhile (a second
    /// datagram, a retransmitted SYN, the SYN before a segment that cannot
    /// open a flow, in the same burst), in which case the plan is dropped
    /// and the packet follows that flow.
    #[inline]
    pub fn commit(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        len: usize,
        p: &Prepared,
        plan: &Pending,
        now_ms: u64,
    ) -> Action {
        let len = len.min(frame.len());
        if let Some(hit) = self.flows.lookup(&p.key, p.hash) {
            new_flow::abandon(self, plan);
            return self.established(snap, frame, len, p, hit.idx, hit.dir, now_ms);
        }
        new_flow::commit(self, snap, frame, len, p, plan, now_ms)
    }

    /// A packet of a known flow: follow the flow's path.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn established(
        &mut self,
        snap: &Snapshot,
        frame: &mut [u8],
        len: usize,
        l4: &Prepared,
        idx: u32,
        dir: Dir,
        now_ms: u64,
    ) -> Action {
        // Fields are read through a borrow, not by copying the entry: a
        // 64-byte copy just after the entry's cache miss stalls every load after it.
        let f = self.flows.get(idx);
        let (path, target, service, state0) = (f.path(), f.target, f.service, f.state);
        let next_hop = match (path, dir) {
            (_, Dir::Reverse) => MacAddr(f.client_mac),
            (Path::Local, Dir::Forward) => {
                snap.real_servers.get(usize::from(target)).map_or(MacAddr::ZERO, |rs| rs.mac)
            }
            (Path::Proxy, Dir::Forward) => remote_next_hop(snap, service, target),
        };
        if path == Path::Local {
            // Checked both ways: a flow under the "drop now" policy dies whole.
            let down = snap.real_servers.get(usize::from(target)).is_none_or(|rs| rs.health == Health::Down);
            if down && down_policy(snap, service) == DownPolicy::Drop {
                self.remove(idx);
                return Action::Drop(DropReason::RealServerDown);
            }
        }
        if next_hop == MacAddr::ZERO {
            return Action::Drop(DropReason::NoNextHop);
        }
        // The usual packets, a datagram or a segment of an established
        // connection without SYN, FIN or RST, skip the state machine and the
        // timeout table (two jump tables).
        let t = &snap.timeouts;
        let (state, timeout) = if l4.key.proto != protocol::TCP {
            (State::Datagram, t.udp_ms)
        } else if state0 == State::Established as u8
            && l4.tcp_flags & (flags::SYN | flags::FIN | flags::RST) == 0
        {
            (State::Established, t.established_ms)
        } else {
            let s = State::from_u8(state0).next_tcp(l4.tcp_flags, dir == Dir::Forward);
            (s, s.timeout(t))
        };
        if state as u8 != state0 {
            self.flows.get_mut(idx).state = state as u8;
        }
        self.flows.touch(idx, now_ms, timeout);
        nat::rewrite(frame, l4.at(), self.flows.get(idx), dir);
        set_macs(frame, next_hop, snap.mac);
        Action::Tx(len as u16)
    }

    /// Forgets a flow now, giving back what it held.
    pub fn remove(&mut self, idx: u32) {
        let f = *self.flows.get(idx);
        release(&mut self.pips, &mut self.select, &self.counters, &f, false);
        self.flows.remove(idx);
    }
}

fn down_policy(snap: &Snapshot, service: u16) -> DownPolicy {
    snap.services.get(usize::from(service)).map_or(DownPolicy::Drop, |s| s.on_server_down)
}

fn remote_next_hop(snap: &Snapshot, service: u16, target: u16) -> MacAddr {
    snap.services
        .get(usize::from(service))
        .and_then(|s| s.remotes.get(usize::from(target)))
        .and_then(|t| snap.sites.get(usize::from(t.site)))
        .map_or(MacAddr::ZERO, |site| site.next_hop)
}

/// Gives back a flow's PIP port or connection slot.
fn release(pips: &mut PipPools, select: &mut Selector, counters: &CoreCounters, f: &Flow, aged: bool) {
    match f.path() {
        Path::Local => {
            select.closed(f.target);
            if aged {
                counters.inc(Event::FlowsExpiredLocal);
            }
        }
        Path::Proxy => {
            pips.free(f.pip, f.xlat.sport);
            if aged {
                counters.inc(Event::FlowsExpiredProxy);
            }
        }
    }
}

#[inline]
fn set_macs(frame: &mut [u8], dst: MacAddr, src: MacAddr) {
    frame[0..6].copy_from_slice(&dst.0);
    frame[6..12].copy_from_slice(&src.0);
}

/// Reads the ports (and TCP flags) of a TCP or UDP header into `out`.
#[inline(always)]
fn parse_l4(seg: &[u8], proto: u8, out: &mut Prepared) -> Result<(), DropReason> {
    if proto == protocol::TCP {
        let tcp = crate::wire::TcpPacket::new_checked(seg).map_err(DropReason::from)?;
        out.key.tuple.sport = tcp.src_port();
        out.key.tuple.dport = tcp.dst_port();
        out.tcp_flags = tcp.flags();
    } else {
        let udp = crate::wire::UdpPacket::new_checked(seg).map_err(DropReason::from)?;
        out.key.tuple.sport = udp.src_port();
        out.key.tuple.dport = udp.dst_port();
        out.tcp_flags = 0;
    }
    Ok(())
}

impl From<crate::wire::EthError> for DropReason {
    fn from(e: crate::wire::EthError) -> Self {
        match e {
            crate::wire::EthError::Truncated => DropReason::EthTruncated,
            crate::wire::EthError::StackedVlan => DropReason::VlanStacked,
        }
    }
}

impl From<Ipv4Error> for DropReason {
    fn from(e: Ipv4Error) -> Self {
        match e {
            Ipv4Error::Truncated => DropReason::Ipv4Truncated,
            Ipv4Error::BadVersion => DropReason::Ipv4BadVersion,
            Ipv4Error::BadHeaderLen => DropReason::Ipv4BadHeaderLen,
            Ipv4Error::BadTotalLen => DropReason::Ipv4BadTotalLen,
        }
    }
}

impl From<TcpError> for DropReason {
    fn from(e: TcpError) -> Self {
        match e {
            TcpError::Truncated => DropReason::TcpTruncated,
            TcpError::BadHeaderLen => DropReason::TcpBadHeaderLen,
        }
    }
}

impl From<UdpError> for DropReason {
    fn from(e: UdpError) -> Self {
        match e {
            UdpError::Truncated => DropReason::UdpTruncated,
            UdpError::BadLength => DropReason::UdpBadLength,
        }
    }
}

/// Of `cores` data cores, the one that owns connections from client endpoint
/// `addr:port` (`addr` as a host-order integer): `Core::owner`'s rule for
/// everything but PIP replies.
#[inline]
pub fn client_owner(addr: u32, port: u16, cores: u32) -> u32 {
    let h = crate::hash::mum(u64::from(addr) << 16 | u64::from(port), 0x9e37_79b9_7f4a_7c15);
    ((h >> 32) as u32) % cores.max(1)
}
