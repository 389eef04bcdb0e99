//! Validating a snapshot and deriving the lookup tables the data path reads.

use std::fmt;
use std::hash::Hasher;
use std::net::Ipv4Addr;

use super::{service_key, AddrKind, Backup, Group, Health, Snapshot};
use crate::flow::Timeouts;
use crate::hash::{FastHasher, FastMap};
use crate::select::{maglev, wrr};
use crate::wire::MacAddr;

/// A snapshot that refers to something it does not have, or says one thing twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    UnknownServer { group: String, server: u16 },
    UnknownGroup { user: String, group: u16 },
    UnknownSite { service: String, site: u16 },
    DuplicateService { vip: Ipv4Addr, port: u16, proto: &'static str },
    AddressReused { addr: Ipv4Addr },
    DnsNotOwn { addr: Ipv4Addr },
    TooMany { what: &'static str, max: usize },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::UnknownServer { group, server } => {
                write!(f, "group {group} names real server #{server}, which does not exist")
            }
            SnapshotError::UnknownGroup { user, group } => {
                write!(f, "{user} names group #{group}, which does not exist")
            }
            SnapshotError::UnknownSite { service, site } => {
                write!(f, "service {service} names remote site #{site}, which does not exist")
            }
            SnapshotError::DuplicateService { vip, port, proto } => {
                write!(f, "two services on {vip}:{port}/{proto}")
            }
            SnapshotError::AddressReused { addr } => {
                write!(f, "{addr} is used twice among VIPs, PIPs and own addresses")
            }
            SnapshotError::DnsNotOwn { addr } => {
                write!(f, "DNS is served on {addr}, which is not one of the appliance's own addresses")
            }
            SnapshotError::TooMany { what, max } => write!(f, "more than {max} {what}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

impl Snapshot {
    /// An empty snapshot for a data port with MAC `mac`; fill its public
    /// fields, then `build` it.
    pub fn new(mac: MacAddr) -> Snapshot {
        Snapshot {
            generation: 0,
            mac,
            own: Vec::new(),
            dns: Vec::new(),
            pips: Vec::new(),
            real_servers: Vec::new(),
            groups: Vec::new(),
            services: Vec::new(),
            sites: Vec::new(),
            timeouts: Timeouts::default(),
            addrs: FastMap::default(),
            service_by_key: FastMap::default(),
        }
    }

    /// Checks every reference and derives the address map, the service map and
    /// each group's Maglev table and weighted round-robin schedule.
    pub fn build(mut self) -> Result<Snapshot, SnapshotError> {
        let limit = |what, n: usize, max: usize| {
            if n > max {
                Err(SnapshotError::TooMany { what, max })
            } else {
                Ok(())
            }
        };
        limit("real servers", self.real_servers.len(), crate::counters::MAX_REAL_SERVERS)?;
        limit("groups", self.groups.len(), usize::from(u16::MAX))?;
        limit("services", self.services.len(), usize::from(u16::MAX))?;
        limit("remote sites", self.sites.len(), usize::from(u16::MAX))?;
        limit("PIPs", self.pips.len(), usize::from(u8::MAX))?;

        let nservers = self.real_servers.len();
        let ngroups = self.groups.len();
        for g in &self.groups {
            if let Some(m) = g.members.iter().find(|m| usize::from(m.server) >= nservers) {
                return Err(SnapshotError::UnknownServer { group: g.name.clone(), server: m.server });
            }
            match g.backup {
                Backup::Server(s) if usize::from(s) >= nservers => {
                    return Err(SnapshotError::UnknownServer { group: g.name.clone(), server: s })
                }
                Backup::Group(b) if usize::from(b) >= ngroups => {
                    return Err(SnapshotError::UnknownGroup { user: format!("group {}", g.name), group: b })
                }
                _ => {}
            }
        }

        let mut addrs = FastMap::default();
        let mut add = |addr: Ipv4Addr, kind: AddrKind| match addrs.insert(u32::from(addr), kind) {
            Some(old) if old != kind || kind != AddrKind::Vip => Err(SnapshotError::AddressReused { addr }),
            _ => Ok(()),
        };
        for &a in &self.own {
            add(a, AddrKind::Own)?;
        }
        for (i, &a) in self.pips.iter().enumerate() {
            add(a, AddrKind::Pip(i as u8))?;
        }
        if let Some(d) = self.dns.iter().find(|d| !self.own.contains(d.ip())) {
            return Err(SnapshotError::DnsNotOwn { addr: *d.ip() });
        }
        let mut service_by_key = FastMap::default();
        for (i, s) in self.services.iter().enumerate() {
            if usize::from(s.group) >= ngroups {
                return Err(SnapshotError::UnknownGroup {
                    user: format!("service {}", s.name),
                    group: s.group,
                });
            }
            if let Some(t) = s.remotes.iter().find(|t| usize::from(t.site) >= self.sites.len()) {
                return Err(SnapshotError::UnknownSite { service: s.name.clone(), site: t.site });
            }
            add(s.vip, AddrKind::Vip)?;
            let key = service_key(s.vip.into(), s.port, s.proto.number());
            if service_by_key.insert(key, i as u16).is_some() {
                return Err(SnapshotError::DuplicateService {
                    vip: s.vip,
                    port: s.port,
                    proto: s.proto.name(),
                });
            }
        }
        self.addrs = addrs;
        self.service_by_key = service_by_key;

        let servers = &self.real_servers;
        for g in &mut self.groups {
            derive_tables(
                g,
                |s| servers[usize::from(s)].health == Health::Up,
                |s| {
                    // Name and address identify a server, so its Maglev slots stay
                    // put while other members come and go.
                    let rs = &servers[usize::from(s)];
                    let mut h = FastHasher::default();
                    h.write(rs.name.as_bytes());
                    h.write_u32(u32::from(rs.addr));
                    h.finish()
                },
            );
        }
        Ok(self)
    }
}

fn derive_tables(g: &mut Group, up: impl Fn(u16) -> bool, key: impl Fn(u16) -> u64) {
    let members: Vec<maglev::MaglevMember> = g
        .members
        .iter()
        .map(|m| maglev::MaglevMember { key: key(m.server), weight: if up(m.server) { m.weight } else { 0 } })
        .collect();
    g.maglev = maglev::build(&members);
    let weights: Vec<u32> = g.members.iter().map(|m| m.weight).collect();
    g.wrr = wrr::schedule(&weights);
}
