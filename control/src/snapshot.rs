//! Turning the configuration (plus what the control side has learned, like
//! next-hop MAC addresses) into the data path's `Snapshot`.
//!
//! A real server keeps its index for the life of the process, so a flow that
//! points at it stays right across reloads; a server removed from the file
//! keeps its slot, marked down, and is never chosen again.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use dataplane::flow::Timeouts;
use dataplane::snapshot::{
    Backup, DownPolicy, Group, Health, Member, Method, Proto, RealServer, Refuse, RemoteSite, RemoteTarget,
    Service, Snapshot, SnapshotError,
};
use dataplane::wire::MacAddr;

use crate::config::{self, File};
use crate::health::ServerHealth;
use crate::sitestate::node::RemoteStatus;

/// What the control side has learned, besides the configuration.
pub struct Inputs<'a> {
    pub neighbours: &'a HashMap<Ipv4Addr, MacAddr>,
    pub health: &'a HashMap<String, ServerHealth>,
    pub remotes: &'a [RemoteStatus],
}

#[derive(Default)]
pub struct Builder {
    /// Real servers by index, as last built.
    servers: Vec<RealServer>,
}

impl Builder {
    /// The index a real server named `name` has, or gets.
    fn slot(&mut self, name: &str, addr: Ipv4Addr) -> u16 {
        if let Some(i) = self.servers.iter().position(|s| s.name == name) {
            return i as u16;
        }
        self.servers.push(RealServer {
            name: name.to_string(),
            addr,
            mac: MacAddr::ZERO,
            health: Health::Down,
            max_conns: 0,
        });
        (self.servers.len() - 1) as u16
    }

    /// Every address the data path needs the kernel to resolve.
    pub fn next_hops(file: &File) -> Vec<Ipv4Addr> {
        let servers = file.real_servers.iter().filter(|r| r.mac.is_none()).map(|r| r.address);
        let routers = file.remote_sites.iter().filter(|r| r.next_hop_mac.is_none()).map(|r| r.next_hop);
        servers.chain(routers).collect()
    }

    pub fn build(&mut self, file: &File, mac: MacAddr, inputs: &Inputs) -> Result<Snapshot, SnapshotError> {
        let (neighbours, health) = (inputs.neighbours, inputs.health);
        for s in &mut self.servers {
            // Anything not in the file any more is never chosen again.
            s.health = Health::Down;
        }
        for rs in &file.real_servers {
            let i = usize::from(self.slot(rs.name.get_ref(), rs.address));
            self.servers[i] = RealServer {
                name: rs.name.get_ref().clone(),
                addr: rs.address,
                mac: rs
                    .mac
                    .as_ref()
                    .and_then(|m| m.get_ref().parse().ok())
                    .or_else(|| neighbours.get(&rs.address).copied())
                    .unwrap_or(MacAddr::ZERO),
                // The operator's down or disabled wins; otherwise a checked
                // server is up only once its checks say so.
                health: match (rs.state, &rs.health) {
                    (config::ServerState::Down, _) => Health::Down,
                    (config::ServerState::Disabled, _) => Health::Disabled,
                    (config::ServerState::Up, None) => Health::Up,
                    (config::ServerState::Up, Some(_)) => {
                        if health.get(rs.name.get_ref()).and_then(|h| h.up) == Some(true) {
                            Health::Up
                        } else {
                            Health::Down
                        }
                    }
                },
                max_conns: rs.max_connections,
            };
        }
        let index = |name: &str| self.servers.iter().position(|s| s.name == name).map(|i| i as u16);
        let group_index =
            |name: &str| file.groups.iter().position(|g| g.name.get_ref() == name).map(|i| i as u16);

        let mut s = Snapshot::new(mac);
        s.own = file
            .kernel
            .iter()
            .flat_map(|k| k.addresses.iter())
            .filter_map(|a| config::cidr(a.get_ref()).ok().map(|(addr, _)| addr))
            .collect();
        s.dns = dns_endpoints(file, &s.own);
        s.pips = file.site.pips.iter().map(|p| *p.get_ref()).collect();
        let f = &file.flows;
        s.timeouts = Timeouts {
            syn_ms: f.syn_timeout_s * 1000,
            established_ms: f.established_timeout_s * 1000,
            fin_ms: f.fin_timeout_s * 1000,
            closed_ms: f.closed_timeout_s * 1000,
            udp_ms: f.udp_timeout_s * 1000,
        };
        s.groups = file
            .groups
            .iter()
            .map(|g| {
                let members = g
                    .members
                    .iter()
                    .filter_map(|m| config::member(m.get_ref()).ok())
                    .filter_map(|(name, weight)| index(name).map(|server| Member { server, weight }))
                    .collect();
                let mut group = Group::new(g.name.get_ref().clone(), method(g.method), members);
                group.backup = match g.backup.as_ref().map(|b| b.get_ref().as_str()) {
                    None => Backup::None,
                    Some(b) => index(b)
                        .map(Backup::Server)
                        .or_else(|| group_index(b).map(Backup::Group))
                        .unwrap_or(Backup::None),
                };
                group
            })
            .collect();
        s.sites = file
            .remote_sites
            .iter()
            .map(|r| {
                let status = inputs.remotes.iter().find(|st| st.name == *r.name.get_ref());
                RemoteSite {
                    name: r.name.get_ref().clone(),
                    next_hop: r
                        .next_hop_mac
                        .as_ref()
                        .and_then(|m| m.get_ref().parse().ok())
                        .or_else(|| neighbours.get(&r.next_hop).copied())
                        .unwrap_or(MacAddr::ZERO),
                    reachable: status.is_some_and(|st| st.reachable),
                    load_permille: status.map_or(0, |st| st.load_permille),
                }
            })
            .collect();
        let site_index =
            |name: &str| file.remote_sites.iter().position(|r| r.name.get_ref() == name).map(|i| i as u16);
        s.services = file
            .services
            .iter()
            .filter_map(|svc| {
                Some(Service {
                    name: svc.name.clone(),
                    vip: *svc.vip.get_ref(),
                    port: svc.port,
                    proto: match svc.protocol {
                        config::Protocol::Tcp => Proto::Tcp,
                        config::Protocol::Udp => Proto::Udp,
                    },
                    real_port: svc.real_port.unwrap_or(svc.port),
                    group: group_index(svc.group.get_ref())?,
                    remotes: svc
                        .remotes
                        .iter()
                        .filter_map(|r| {
                            let name = r.service.as_deref().unwrap_or(&svc.name);
                            // Healthy only as its own site last reported it.
                            let healthy = inputs
                                .remotes
                                .iter()
                                .find(|st| st.name == *r.site.get_ref())
                                .and_then(|st| st.services.get(name).copied())
                                .unwrap_or(false);
                            Some(RemoteTarget {
                                site: site_index(r.site.get_ref())?,
                                vip: r.vip,
                                port: r.port.unwrap_or(svc.port),
                                healthy,
                            })
                        })
                        .collect(),
                    refuse: match svc.refuse {
                        config::Refuse::Drop => Refuse::Drop,
                        config::Refuse::Reset => Refuse::Reset,
                        config::Refuse::Unreachable => Refuse::Unreachable,
                    },
                    on_server_down: match svc.on_server_down {
                        config::OnServerDown::Drop => DownPolicy::Drop,
                        config::OnServerDown::Keep => DownPolicy::Keep,
                    },
                    redirect: svc.redirects(),
                })
            })
            .collect();
        s.real_servers = self.servers.clone();
        s.build()
    }
}

fn method(m: config::Method) -> Method {
    match m {
        config::Method::RoundRobin => Method::RoundRobin,
        config::Method::WeightedRoundRobin => Method::WeightedRoundRobin,
        config::Method::LeastConnections => Method::LeastConnections,
        config::Method::SourceHash => Method::SourceHash,
        config::Method::Maglev => Method::Maglev,
    }
}

/// The own addresses' UDP endpoints where the DNS listens (each own address,
/// for a wildcard listen): the data path gives their queries to the DNS
/// thread. A listen address that is not an own address is the kernel's only.
pub(crate) fn dns_endpoints(file: &File, own: &[Ipv4Addr]) -> Vec<SocketAddrV4> {
    let Some(d) = &file.dns else { return Vec::new() };
    let mut out = Vec::new();
    for l in &d.listen {
        let SocketAddr::V4(l) = l else { continue };
        for &a in own {
            let e = SocketAddrV4::new(a, l.port());
            if (l.ip().is_unspecified() || *l.ip() == a) && !out.contains(&e) {
                out.push(e);
            }
        }
    }
    out
}
