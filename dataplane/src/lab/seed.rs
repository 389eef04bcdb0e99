//! The two-site topology of the Alteon GSLB chapter, with real addresses.
//!
//! Site 1 and site 2 each have an appliance, a VIP offering POP3 (TCP 110),
//! HTTP (TCP 80) and DNS (UDP 53), a proxy IP, and two real servers. Each site
//! lists the other's VIP as the remote target of every service. A client sits
//! on the same segment. All addresses are from the documentation ranges.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::net::Lab;
use crate::flow::Timeouts;
use crate::pipeline::CoreConfig;
use crate::snapshot::{
    DownPolicy, Group, Health, Member, Method, Proto, RealServer, Refuse, RemoteSite, RemoteTarget, Service,
    Snapshot,
};
use crate::wire::MacAddr;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x07]);
pub const CLIENT_PORT: u16 = 40_110;

/// One site's addresses.
#[derive(Copy, Clone, Debug)]
pub struct Site {
    pub name: &'static str,
    pub mac: MacAddr,
    /// The appliance's own (management and control) address.
    pub own: Ipv4Addr,
    pub vip: Ipv4Addr,
    pub pip: Ipv4Addr,
    pub servers: [(&'static str, Ipv4Addr, MacAddr); 2],
}

pub const SITE1: Site = Site {
    name: "site1",
    mac: MacAddr([0x02, 0, 0, 0, 0x01, 0x01]),
    own: Ipv4Addr::new(192, 0, 2, 1),
    vip: Ipv4Addr::new(192, 0, 2, 10),
    pip: Ipv4Addr::new(192, 0, 2, 200),
    servers: [
        ("pop1a", Ipv4Addr::new(10, 1, 0, 11), MacAddr([0x02, 0, 0, 0, 0x01, 0x11])),
        ("pop1b", Ipv4Addr::new(10, 1, 0, 12), MacAddr([0x02, 0, 0, 0, 0x01, 0x12])),
    ],
};

pub const SITE2: Site = Site {
    name: "site2",
    mac: MacAddr([0x02, 0, 0, 0, 0x02, 0x01]),
    own: Ipv4Addr::new(203, 0, 113, 1),
    vip: Ipv4Addr::new(203, 0, 113, 10),
    pip: Ipv4Addr::new(203, 0, 113, 200),
    servers: [
        ("pop2a", Ipv4Addr::new(10, 2, 0, 11), MacAddr([0x02, 0, 0, 0, 0x02, 0x11])),
        ("pop2b", Ipv4Addr::new(10, 2, 0, 12), MacAddr([0x02, 0, 0, 0, 0x02, 0x12])),
    ],
};

pub const POP3: u16 = 110;
pub const HTTP: u16 = 80;
pub const DNS: u16 = 53;

impl Site {
    pub fn vip_port(&self, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(self.vip, port)
    }

    pub fn server(&self, i: usize) -> SocketAddrV4 {
        SocketAddrV4::new(self.servers[i].1, POP3)
    }
}

/// A site's snapshot: its services load-balance over its two real servers with
/// `method` and proxy to `other`'s VIP when neither can take a connection.
pub fn snapshot(site: &Site, other: &Site, method: Method) -> Snapshot {
    let mut s = Snapshot::new(site.mac);
    s.own = vec![site.own];
    s.pips = vec![site.pip];
    s.timeouts = Timeouts::default();
    s.real_servers = site
        .servers
        .iter()
        .map(|&(name, addr, mac)| RealServer {
            name: name.into(),
            addr,
            mac,
            health: Health::Up,
            max_conns: 0,
        })
        .collect();
    let members = vec![Member { server: 0, weight: 1 }, Member { server: 1, weight: 1 }];
    s.groups = vec![Group::new("servers", method, members)];
    s.sites =
        vec![RemoteSite { name: other.name.into(), next_hop: other.mac, reachable: true, load_permille: 0 }];
    s.services = [("pop3", POP3, Proto::Tcp), ("http", HTTP, Proto::Tcp), ("dns", DNS, Proto::Udp)]
        .into_iter()
        .map(|(name, port, proto)| Service {
            name: name.into(),
            vip: site.vip,
            port,
            proto,
            real_port: port,
            group: 0,
            remotes: vec![RemoteTarget { site: 0, vip: other.vip, port, healthy: true }],
            refuse: Refuse::Reset,
            on_server_down: DownPolicy::Keep,
            redirect: false,
        })
        .collect();
    s
}

/// Both sites, all four real servers, and the client, everything up.
pub fn lab(method: Method, config: CoreConfig) -> Lab {
    let mut lab = Lab::default();
    lab.add_host("client", CLIENT_MAC, CLIENT);
    for (site, other) in [(&SITE1, &SITE2), (&SITE2, &SITE1)] {
        let snap = snapshot(site, other, method).build().unwrap_or_else(|e| panic!("seed snapshot: {e}"));
        lab.add_appliance(site.name, snap, config);
        for &(name, addr, mac) in &site.servers {
            lab.add_host(name, mac, addr);
        }
    }
    lab
}

/// Marks every real server of `site` up or down.
pub fn set_servers(lab: &mut Lab, site: &Site, health: Health) {
    lab.appliance(site.name).update(|s| s.real_servers.iter_mut().for_each(|r| r.health = health));
}

/// Marks every real server of a snapshot up or down (for tests driving one core).
pub fn set_servers_in(snap: &mut Snapshot, health: Health) {
    let mut next = snap.clone();
    next.real_servers.iter_mut().for_each(|r| r.health = health);
    *snap = next.build().unwrap_or_else(|e| panic!("seed snapshot: {e}"));
}
