//! What the control loop derives from the configuration, the snapshot and
//! the counters: service health as reported to other sites, load, the admin
//! API's view, the neighbour entries the data path needs.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use dataplane::counters::CoreCounters;
use dataplane::wire::MacAddr;

use crate::admin::{ServerView, View};
use crate::config::{self, File};
use crate::health::{HealthTable, ServerHealth};
use crate::kernel;
use crate::redirect;
use crate::sitestate::node::RemoteStatus;
use crate::snapshot::Builder;

/// Remote sites configured `assume_up`: reachable, idle, and healthy for
/// every service that names them, as if they had just reported so.
pub(super) fn assumed_up(f: &File) -> Vec<RemoteStatus> {
    f.remote_sites
        .iter()
        .filter(|r| r.assume_up)
        .map(|r| {
            let site = r.name.get_ref();
            let services = f
                .services
                .iter()
                .flat_map(|s| {
                    s.remotes
                        .iter()
                        .filter(|t| t.site.get_ref() == site)
                        .map(move |t| (t.service.clone().unwrap_or_else(|| s.name.clone()), true))
                })
                .collect();
            RemoteStatus {
                name: site.clone(),
                reachable: true,
                age: None,
                load_permille: 0,
                services,
                accepted: 0,
                refused: HashMap::new(),
            }
        })
        .collect()
}

pub(super) fn own_addresses(f: &File) -> Vec<(Ipv4Addr, u8)> {
    f.kernel.iter().flat_map(|k| &k.addresses).filter_map(|a| config::cidr(a.get_ref()).ok()).collect()
}

/// Each service's health as this site reports it to the others: whether its
/// group (or its backup) has a real server that can take a connection.
pub(super) fn service_health(snap: &dataplane::snapshot::Snapshot) -> Vec<(String, bool)> {
    use dataplane::snapshot::{Backup, Health};
    let up = |i: u16| snap.real_servers.get(usize::from(i)).is_some_and(|r| r.health == Health::Up);
    let group_up = |g: u16| {
        snap.groups
            .get(usize::from(g))
            .is_some_and(|g| g.members.iter().any(|m| m.weight > 0 && up(m.server)))
    };
    snap.services
        .iter()
        .map(|s| {
            let g = snap.groups.get(usize::from(s.group));
            let backup = g.is_some_and(|g| match g.backup {
                Backup::None => false,
                Backup::Server(i) => up(i),
                Backup::Group(b) => group_up(b),
            });
            (s.name.clone(), group_up(s.group) || backup)
        })
        .collect()
}

/// Active flows against capacity, per thousand, over all data cores.
pub(super) fn load_permille(cores: &[Arc<CoreCounters>], capacity: u32) -> u16 {
    let active: u64 = cores.iter().map(|c| c.gauge(dataplane::counters::Gauge::FlowsActive)).sum();
    let total = u64::from(capacity.max(1)) * cores.len().max(1) as u64;
    (active * 1000 / total).min(1000) as u16
}

/// The configuration with the operator's admin-API changes applied.
pub(super) fn with_overlay(f: &File, overlay: &HashMap<String, config::ServerState>) -> File {
    let mut f = f.clone();
    for rs in &mut f.real_servers {
        if let Some(state) = overlay.get(rs.name.get_ref()) {
            rs.state = *state;
        }
    }
    f
}

pub(super) fn update_view(view: &Mutex<View>, f: &File, snap: &dataplane::snapshot::Snapshot) {
    let servers = snap
        .real_servers
        .iter()
        .enumerate()
        .filter_map(|(index, rs)| {
            let conf = f.real_servers.iter().find(|c| *c.name.get_ref() == rs.name)?;
            let state = match rs.health {
                dataplane::snapshot::Health::Up => "up",
                dataplane::snapshot::Health::Down => "down",
                dataplane::snapshot::Health::Disabled => "disabled",
            };
            let operator = match conf.state {
                config::ServerState::Up => "up",
                config::ServerState::Down => "down",
                config::ServerState::Disabled => "disabled",
            };
            Some(ServerView {
                index: index as u16,
                name: rs.name.clone(),
                address: rs.addr.to_string(),
                state: state.to_string(),
                operator: operator.to_string(),
            })
        })
        .collect();
    let services = f
        .services
        .iter()
        .map(|s| {
            let proto = match s.protocol {
                config::Protocol::Tcp => "tcp",
                config::Protocol::Udp => "udp",
            };
            (
                s.name.clone(),
                s.vip.get_ref().to_string(),
                s.port,
                proto.to_string(),
                s.group.get_ref().clone(),
            )
        })
        .collect();
    if let Ok(mut v) = view.lock() {
        v.site = f.site.name.clone();
        v.generation = snap.generation;
        v.services = services;
        v.servers = servers;
    }
}

pub(super) fn health_snapshot(table: &HealthTable) -> HashMap<String, ServerHealth> {
    table.lock().map(|t| t.clone()).unwrap_or_default()
}

/// The namespace of the appliance's own addresses, if it has one.
pub(super) fn netns(f: &File) -> Option<&str> {
    f.kernel.as_ref().and_then(|k| k.netns.as_deref())
}

/// The VIPs the kernel answers on (those of services that redirect).
pub(super) fn redirect_vips(plans: &[redirect::Plan]) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = plans
        .iter()
        .filter_map(|p| match p.listen.ip() {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The neighbour entries the snapshot needs, from the kernel's table.
pub(super) fn wanted_neighbours(f: &File, table: &kernel::Neighbours) -> HashMap<Ipv4Addr, MacAddr> {
    let all = table.read();
    Builder::next_hops(f).into_iter().filter_map(|a| all.get(&a).map(|m| (a, *m))).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::snapshot::Inputs;

    const SITE: &str = r#"
[eal]
lcores = "0-1"
file_prefix = "t"
vdevs = ["net_memif0"]
[port]
device = "net_memif0"
[site]
name = "here"
pips = ["192.0.2.200"]
[[real_server]]
name = "a"
address = "10.1.0.11"
mac = "02:00:00:00:00:11"
state = "down"
[[group]]
name = "g"
method = "round_robin"
members = ["a"]
[[remote_site]]
name = "there"
assume_up = true
next_hop = "10.1.0.254"
next_hop_mac = "02:00:00:00:00:fe"
[[service]]
name = "pop"
vip = "192.0.2.10"
port = 110
protocol = "tcp"
group = "g"
remotes = [{ site = "there", vip = "198.51.100.10", service = "pop3" }]
[[service]]
name = "web"
vip = "192.0.2.10"
port = 80
protocol = "tcp"
group = "g"
"#;

    #[test]
    fn a_site_assumed_up_takes_proxied_connections_without_reports() {
        let c = Config::parse(Path::new("t.toml"), SITE).expect("valid");
        let remotes = assumed_up(&c.file);
        assert_eq!(remotes.len(), 1);
        let r = &remotes[0];
        assert!(r.reachable);
        // Healthy under the name the remote site gives the service, and
        // nothing is claimed for services that do not name it.
        assert_eq!(r.services.get("pop3"), Some(&true));
        assert_eq!(r.services.len(), 1);

        let inputs = Inputs { neighbours: &HashMap::new(), health: &HashMap::new(), remotes: &remotes };
        let snap = Builder::default().build(&c.file, MacAddr([2, 0, 0, 0, 0, 1]), &inputs).expect("snapshot");
        let pop = snap.services.iter().find(|s| s.name == "pop").expect("pop");
        assert!(pop.remotes[0].healthy, "the proxy target is usable at once");
        assert_eq!(snap.sites[0].next_hop, MacAddr([2, 0, 0, 0, 0, 0xfe]));
        assert!(snap.sites[0].reachable);

        let with_peer = SITE.replace("assume_up = true", "peer = \"10.1.0.254:3011\"")
            + "[site_state]\nlisten = \"10.1.0.1:3011\"\nkey = \"k\"\n";
        let none = assumed_up(&Config::parse(Path::new("t.toml"), &with_peer).expect("valid").file);
        assert!(none.is_empty(), "a site with a peer waits for its reports");
    }
}
