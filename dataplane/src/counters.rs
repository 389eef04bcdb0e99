//! Per-core counters: every outcome of every packet, and every drop by its reason.
//!
//! Each data core writes only its own block, with a relaxed load and store (a
//! plain `mov` on x86-64, no locked instruction), and a scraper on another thread
//! reads it with relaxed loads. Nothing is shared between cores, so no cache
//! line bounces; totals are summed at scrape time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name { $($(#[$vm])* $v,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub const COUNT: usize = Self::ALL.len();
            /// The name used in metrics and logs.
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
        }
    };
}

named_enum! {
    /// Why a packet was dropped (or refused: the packet itself is dropped even
    /// when a RST or ICMP error is sent in its place).
    DropReason {
        EthTruncated = "eth_truncated",
        VlanStacked = "vlan_stacked",
        /// Unicast to another station's MAC.
        NotOurMac = "not_our_mac",
        UnsupportedEthertype = "unsupported_ethertype",
        ArpTruncated = "arp_truncated",
        ArpUnsupported = "arp_unsupported",
        /// An ARP request for an address that is not ours.
        ArpNotOurs = "arp_not_ours",
        Ipv4Truncated = "ipv4_truncated",
        Ipv4BadVersion = "ipv4_bad_version",
        Ipv4BadHeaderLen = "ipv4_bad_header_len",
        Ipv4BadTotalLen = "ipv4_bad_total_len",
        Ipv4BadChecksum = "ipv4_bad_checksum",
        /// Fragments carry no ports after the first, so no flow can be found
        /// for them; they are dropped deliberately rather than reassembled.
        Ipv4Fragment = "ipv4_fragment",
        TtlExpired = "ttl_expired",
        TcpTruncated = "tcp_truncated",
        TcpBadHeaderLen = "tcp_bad_header_len",
        UdpTruncated = "udp_truncated",
        UdpBadLength = "udp_bad_length",
        IcmpTruncated = "icmp_truncated",
        /// ICMP other than echo to a VIP.
        IcmpUnsupported = "icmp_unsupported",
        UnsupportedProtocol = "unsupported_protocol",
        /// Not a flow of ours and not addressed to any of our addresses.
        NotOurAddress = "not_our_address",
        /// A VIP, but no service on that protocol and port.
        VipNoService = "vip_no_service",
        /// A TCP segment other than a SYN that belongs to no flow.
        TcpNoFlow = "tcp_no_flow",
        /// To a PIP port that belongs to no flow (a late reply, or a scan).
        PipNoFlow = "pip_no_flow",
        /// The flow's real server went down and its service drops such flows.
        RealServerDown = "real_server_down",
        /// The next hop's MAC address is not known yet.
        NoNextHop = "no_next_hop",
        /// New connection refused: no local real server and no remote site.
        NoResource = "no_resource",
        /// New connection refused: the flow table is at capacity.
        FlowTableFull = "flow_table_full",
        /// New connection refused: both index buckets of a key were full.
        FlowBucketFull = "flow_bucket_full",
        /// New connection refused: its return tuple belongs to another flow.
        FlowCollision = "flow_collision",
        /// New connection refused: every PIP port of this core is in use.
        PipExhausted = "pip_exhausted",
        /// The port's transmit queue was full.
        TxFull = "tx_full",
        /// The exception path (to the kernel) was full.
        ExceptionFull = "exception_full",
        /// Another data core's hand-off ring was full.
        HandoffFull = "handoff_full",
        /// The DNS thread's query ring was full (it is behind or stopped).
        DnsRingFull = "dns_ring_full",
    }
}

named_enum! {
    /// Everything else a data core counts.
    Event {
        RxPackets = "rx_packets",
        RxBytes = "rx_bytes",
        TxPackets = "tx_packets",
        TxBytes = "tx_bytes",
        /// Handed to the kernel (the appliance's own traffic).
        ExceptionPackets = "exception_packets",
        ArpReplies = "arp_replies",
        IcmpEchoReplies = "icmp_echo_replies",
        ResetsSent = "resets_sent",
        UnreachablesSent = "unreachables_sent",
        FlowsCreatedLocal = "flows_created_local",
        FlowsCreatedProxy = "flows_created_proxy",
        FlowsExpiredLocal = "flows_expired_local",
        FlowsExpiredProxy = "flows_expired_proxy",
        /// New connections sent to a backup server or group.
        BackupUsed = "backup_used",
        /// New connections with no local server handed to the kernel, which
        /// redirects the client to a remote site (no flow is kept).
        Redirected = "redirected",
        SnapshotUpdates = "snapshot_updates",
        /// Given to the data core that owns the packet's flow.
        HandedOff = "handed_off",
        /// Received from another data core.
        HandedIn = "handed_in",
        /// UDP queries to the appliance's DNS (answered on this core, or
        /// given to the DNS thread).
        DnsQueries = "dns_queries",
        /// DNS answers sent by this core: its own and the DNS thread's.
        DnsAnswers = "dns_answers",
    }
}

named_enum! {
    /// Levels a data core reports (set once a poll, not counted).
    Gauge {
        FlowsActive = "flows_active",
        PipPortsInUse = "pip_ports_in_use",
    }
}

/// How many real servers a site may have: the per-server counters below are
/// sized for it up front, so that no data core ever reallocates them.
/// (Alteon's limit is 1023.)
pub const MAX_REAL_SERVERS: usize = 4096;

/// One real server as seen by one data core.
#[derive(Default)]
struct ServerCounters {
    /// Local flows to it now (opened minus closed).
    active: AtomicU64,
    /// Local flows to it ever.
    opened: AtomicU64,
}

/// One data core's counters.
#[repr(align(64))]
pub struct CoreCounters {
    events: [AtomicU64; Event::COUNT],
    drops: [AtomicU64; DropReason::COUNT],
    gauges: [AtomicU64; Gauge::COUNT],
    servers: Box<[ServerCounters]>,
}

impl Default for CoreCounters {
    fn default() -> Self {
        CoreCounters {
            events: std::array::from_fn(|_| AtomicU64::new(0)),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            gauges: std::array::from_fn(|_| AtomicU64::new(0)),
            servers: (0..MAX_REAL_SERVERS).map(|_| ServerCounters::default()).collect(),
        }
    }
}

#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    // Single writer: load + store, never a locked read-modify-write.
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl CoreCounters {
    #[inline(always)]
    pub fn add(&self, e: Event, n: u64) {
        bump(&self.events[e as usize], n);
    }

    #[inline(always)]
    pub fn inc(&self, e: Event) {
        self.add(e, 1);
    }

    #[inline(always)]
    pub fn count_drop(&self, r: DropReason) {
        bump(&self.drops[r as usize], 1);
    }

    #[inline(always)]
    pub fn count_drops(&self, r: DropReason, n: u64) {
        bump(&self.drops[r as usize], n);
    }

    #[inline(always)]
    pub fn set(&self, g: Gauge, v: u64) {
        self.gauges[g as usize].store(v, Relaxed);
    }

    pub fn gauge(&self, g: Gauge) -> u64 {
        self.gauges[g as usize].load(Relaxed)
    }

    pub fn event(&self, e: Event) -> u64 {
        self.events[e as usize].load(Relaxed)
    }

    pub fn dropped(&self, r: DropReason) -> u64 {
        self.drops[r as usize].load(Relaxed)
    }

    /// A new connection was given to real server `server`: it counts
    /// against the server's limit and in least connections from now, before
    /// its flow is made (a burst decides all its new connections first).
    #[inline(always)]
    pub fn server_reserved(&self, server: u16) {
        if let Some(c) = self.servers.get(usize::from(server)) {
            bump(&c.active, 1);
        }
    }

    /// A local flow to real server `server` was created (reserved before).
    #[inline(always)]
    pub fn server_opened(&self, server: u16) {
        if let Some(c) = self.servers.get(usize::from(server)) {
            bump(&c.opened, 1);
        }
    }

    /// A local flow to real server `server` ended.
    #[inline(always)]
    pub fn server_closed(&self, server: u16) {
        if let Some(c) = self.servers.get(usize::from(server)) {
            c.active.store(c.active.load(Relaxed).saturating_sub(1), Relaxed);
        }
    }

    /// Local flows of this core to real server `server` now (what least
    /// connections and the connection limits read, per new connection).
    #[inline]
    pub fn server_active(&self, server: u16) -> u64 {
        self.servers.get(usize::from(server)).map_or(0, |c| c.active.load(Relaxed))
    }

    /// (active, opened ever) local flows of this core to real server `server`.
    pub fn server(&self, server: u16) -> (u64, u64) {
        self.servers
            .get(usize::from(server))
            .map_or((0, 0), |c| (c.active.load(Relaxed), c.opened.load(Relaxed)))
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// The non-zero counters, by name (for logs and test failure messages).
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        let ev = Event::ALL.iter().map(|&e| (e.name(), self.event(e)));
        let dr = DropReason::ALL.iter().map(|&r| (r.name(), self.dropped(r)));
        ev.chain(dr).filter(|&(_, v)| v != 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_metric_labels() {
        let mut seen = HashSet::new();
        for r in DropReason::ALL {
            let n = r.name();
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert!(seen.insert(n), "{n} twice");
        }
        for e in Event::ALL {
            assert!(seen.insert(e.name()), "{} twice", e.name());
        }
    }

    #[test]
    fn counts_add_up() {
        let c = CoreCounters::default();
        c.inc(Event::RxPackets);
        c.add(Event::RxBytes, 60);
        c.count_drop(DropReason::TcpNoFlow);
        c.count_drop(DropReason::TcpNoFlow);
        assert_eq!(c.event(Event::RxBytes), 60);
        assert_eq!(c.dropped(DropReason::TcpNoFlow), 2);
        assert_eq!(c.total_drops(), 2);
        assert_eq!(c.nonzero().len(), 3);
    }
}
