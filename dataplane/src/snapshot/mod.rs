//! The immutable control state a data core works from.
//!
//! The control thread owns the truth (configuration, health, remote-site
//! reachability); it builds a fresh `Snapshot` on every change and publishes it.
//! Data cores only ever read one, and pick up the newest between bursts. Real
//! servers, groups, services and remote sites are referred to by their index
//! here, and the control side keeps a real server's index stable across
//! snapshots so a flow can keep pointing at it.

mod build;
mod publish;

pub use build::SnapshotError;
pub use publish::{Publisher, Subscriber};

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::flow::Timeouts;
use crate::hash::FastMap;
use crate::wire::MacAddr;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// How a group picks a real server for a new connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    RoundRobin,
    WeightedRoundRobin,
    LeastConnections,
    /// Hash of the client address: a client sticks to one server while it is up.
    SourceHash,
    /// Maglev consistent hashing of the 5-tuple (weights honoured).
    Maglev,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Passing its checks: takes new connections.
    Up,
    /// Failing its checks: takes none, and its flows follow the service's `DownPolicy`.
    Down,
    /// Taken out by the operator: takes no new connections, existing ones finish.
    Disabled,
}

/// What a refused new connection gets.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Refuse {
    /// Nothing: the client's SYN or datagram is dropped silently.
    Drop,
    /// TCP gets a RST; UDP gets an ICMP port unreachable.
    Reset,
    /// ICMP destination unreachable (port unreachable) for both.
    Unreachable,
}

/// What happens to an established flow whose real server goes down.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DownPolicy {
    /// Drop its packets at once and forget the flow.
    Drop,
    /// Keep forwarding until the flow ends (the server may still be serving it).
    Keep,
}

#[derive(Clone, Debug)]
pub struct RealServer {
    pub name: String,
    pub addr: Ipv4Addr,
    /// Next-hop MAC; `MacAddr::ZERO` while unresolved.
    pub mac: MacAddr,
    pub health: Health,
    /// Most connections at once over the whole appliance (0: no limit). Each
    /// data core enforces its share, `max_conns / cores` (at least 1).
    pub max_conns: u32,
}

#[derive(Copy, Clone, Debug)]
pub struct Member {
    /// Index into `Snapshot::real_servers`.
    pub server: u16,
    pub weight: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backup {
    None,
    /// A real server used when no member can take the connection.
    Server(u16),
    /// A group used when no member can take the connection.
    Group(u16),
}

#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub method: Method,
    pub members: Vec<Member>,
    pub backup: Backup,
    /// Maglev lookup table over the members that are up (member indices).
    pub(crate) maglev: Box<[u16]>,
    /// Smooth weighted round-robin schedule over all members with weight > 0.
    pub(crate) wrr: Vec<u16>,
}

impl Group {
    pub fn new(name: impl Into<String>, method: Method, members: Vec<Member>) -> Group {
        Group {
            name: name.into(),
            method,
            members,
            backup: Backup::None,
            maglev: Box::new([]),
            wrr: Vec::new(),
        }
    }
}

/// Another site, as the site-state protocol reports it.
#[derive(Clone, Debug)]
pub struct RemoteSite {
    pub name: String,
    /// MAC of the next hop towards the site's VIPs; `ZERO` while unresolved.
    pub next_hop: MacAddr,
    pub reachable: bool,
    /// Reported load, active flows per thousand of capacity.
    pub load_permille: u16,
}

/// A remote site's VIP offering the same service: where proxied connections go.
#[derive(Copy, Clone, Debug)]
pub struct RemoteTarget {
    /// Index into `Snapshot::sites`.
    pub site: u16,
    pub vip: Ipv4Addr,
    pub port: u16,
    /// Whether the remote site reports this service healthy.
    pub healthy: bool,
}

#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub vip: Ipv4Addr,
    pub port: u16,
    pub proto: Proto,
    /// Port on the real servers (Alteon's `rport`).
    pub real_port: u16,
    /// Index into `Snapshot::groups`.
    pub group: u16,
    /// In order of preference.
    pub remotes: Vec<RemoteTarget>,
    pub refuse: Refuse,
    pub on_server_down: DownPolicy,
    /// With no local server, connections are not proxied: the appliance's
    /// kernel answers them (an HTTP redirect to a remote site), and the data
    /// path keeps no flow for them.
    pub redirect: bool,
}

/// What one of the appliance's addresses is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AddrKind {
    Vip,
    /// Index into `Snapshot::pips`.
    Pip(u8),
    /// The appliance's own (control-plane) address: the kernel's business.
    Own,
}

#[derive(Clone, Debug)]
pub struct Snapshot {
    pub generation: u64,
    /// MAC of the data port: source of everything the appliance sends.
    pub mac: MacAddr,
    pub own: Vec<Ipv4Addr>,
    /// UDP endpoints among the own addresses where the appliance's DNS
    /// answers: their queries go to the DNS thread by ring, not the kernel.
    pub dns: Vec<SocketAddrV4>,
    pub pips: Vec<Ipv4Addr>,
    pub real_servers: Vec<RealServer>,
    pub groups: Vec<Group>,
    pub services: Vec<Service>,
    pub sites: Vec<RemoteSite>,
    pub timeouts: Timeouts,
    addrs: FastMap<u32, AddrKind>,
    service_by_key: FastMap<u64, u16>,
}

#[inline]
fn service_key(vip: u32, port: u16, proto: u8) -> u64 {
    (u64::from(vip) << 24) | (u64::from(port) << 8) | u64::from(proto)
}

impl Snapshot {
    #[inline]
    pub fn addr_kind(&self, addr: u32) -> Option<AddrKind> {
        self.addrs.get(&addr).copied()
    }

    #[inline]
    pub fn service_for(&self, vip: u32, port: u16, proto: u8) -> Option<u16> {
        self.service_by_key.get(&service_key(vip, port, proto)).copied()
    }

    /// Whether a UDP datagram to `addr:port` (an own address) is a query for
    /// the appliance's DNS. A handful of entries: a scan beats a map.
    #[inline]
    pub fn is_dns(&self, addr: u32, port: u16) -> bool {
        self.dns.iter().any(|d| u32::from(*d.ip()) == addr && d.port() == port)
    }

    pub fn service_by_name(&self, name: &str) -> Option<u16> {
        self.services.iter().position(|s| s.name == name).map(|i| i as u16)
    }

    pub fn server_by_name(&self, name: &str) -> Option<u16> {
        self.real_servers.iter().position(|s| s.name == name).map(|i| i as u16)
    }

    pub fn site_by_name(&self, name: &str) -> Option<u16> {
        self.sites.iter().position(|s| s.name == name).map(|i| i as u16)
    }

    /// Whether the service's remote target `i` can take a proxied connection now.
    #[inline]
    pub fn remote_available(&self, t: &RemoteTarget) -> bool {
        t.healthy && self.sites.get(usize::from(t.site)).is_some_and(|s| s.reachable)
    }
}
