//! The DNS side of the control loop: keeps the listeners matching the
//! configuration and republishes the view when health, reports or the
//! configuration change.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use dataplane::wire::MacAddr;
use nic_config::DnsRings;

use super::{DnsServer, DnsStats, DnsView, Idle, RingServer, SharedView, SiteInputs};
use crate::config::{self, File};
use crate::health::ServerHealth;
use crate::sitestate::node::RemoteStatus;

/// What the admin thread needs of the DNS: the view (to explain a decision)
/// and the counters.
#[derive(Clone)]
pub struct DnsHandle {
    pub view: SharedView,
    pub stats: Arc<DnsStats>,
}

impl DnsHandle {
    /// No view yet (none until the first `Dns::update`), counters at zero.
    pub fn new() -> DnsHandle {
        DnsHandle { view: Arc::new(ArcSwapOption::empty()), stats: Arc::new(DnsStats::default()) }
    }
}

impl Default for DnsHandle {
    fn default() -> DnsHandle {
        DnsHandle::new()
    }
}

pub struct Dns {
    pub handle: DnsHandle,
    server: Option<DnsServer>,
    listen: Vec<SocketAddr>,
    /// The data path's DNS rings and the data port's MAC; the rings' thread
    /// runs while a `[dns]` section is configured.
    rings: Arc<DnsRings>,
    mac: MacAddr,
    /// Counts configurations (start and reloads), stamped on each view.
    config: u64,
    ring_server: Option<RingServer>,
}

impl Dns {
    /// `handle` is shared with the data cores' responders (`InlineResponder`).
    pub fn new(rings: Arc<DnsRings>, mac: MacAddr, handle: DnsHandle) -> Dns {
        Dns { handle, server: None, listen: Vec::new(), rings, mac, config: 0, ring_server: None }
    }

    /// Starts, stops or moves the listeners to match `f`.
    pub fn configure(&mut self, f: &File, netns: Option<&str>) -> Result<(), String> {
        self.config += 1;
        match (&f.dns, self.ring_server.take()) {
            (Some(_), None) => {
                let h = &self.handle;
                let idle = Idle { polls: f.flows.idle_polls };
                self.ring_server = Some(RingServer::start(
                    self.rings.clone(),
                    self.mac,
                    h.view.clone(),
                    h.stats.clone(),
                    idle,
                )?);
            }
            (None, Some(r)) => r.stop(&self.rings),
            (Some(_), running) => self.ring_server = running,
            (None, None) => {}
        }
        let want: Vec<SocketAddr> = f.dns.as_ref().map(|d| d.listen.clone()).unwrap_or_default();
        if want == self.listen && (self.server.is_some() || want.is_empty()) {
            return Ok(());
        }
        if let Some(s) = self.server.take() {
            s.stop();
        }
        self.listen.clear();
        if !want.is_empty() {
            let s = DnsServer::start(&want, netns, self.handle.view.clone(), self.handle.stats.clone())?;
            self.server = Some(s);
            self.listen = want;
        }
        Ok(())
    }

    /// Rebuilds the view from this site's service health and the reports.
    pub fn update(
        &self,
        f: &File,
        local: &HashMap<String, Option<bool>>,
        load: u16,
        remotes: &[RemoteStatus],
    ) {
        let previous = self.handle.view.load_full();
        let inputs = SiteInputs { local, local_load: load, remotes };
        let view = DnsView::build(f, &inputs, previous.as_deref()).map(|mut v| {
            v.config = self.config;
            Arc::new(v)
        });
        self.handle.view.store(view);
    }

    pub fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
        if let Some(r) = self.ring_server.take() {
            r.stop(&self.rings);
        }
    }
}

/// Each service's health for the DNS: `healthy` as the data path sees it,
/// but `None` while none of its group's real servers has a first verdict
/// (a server without a health check counts as known).
pub fn local_health(
    f: &File,
    healthy: &[(String, bool)],
    checks: &HashMap<String, ServerHealth>,
) -> HashMap<String, Option<bool>> {
    let known = |server: &str| {
        let checked = f.real_servers.iter().any(|r| r.name.get_ref() == server && r.health.is_some());
        !checked || checks.get(server).is_some_and(|h| h.up.is_some())
    };
    f.services
        .iter()
        .map(|s| {
            let group = f.groups.iter().find(|g| g.name.get_ref() == s.group.get_ref());
            let any_known = group.is_some_and(|g| {
                g.members.iter().any(|m| config::member(m.get_ref()).is_ok_and(|(name, _)| known(name)))
            });
            let up = healthy.iter().find(|(n, _)| *n == s.name).is_some_and(|(_, up)| *up);
            (s.name.clone(), any_known.then_some(up))
        })
        .collect()
}

/// The admin API's "why this answer" for `name` asked by `client`.
pub fn explain(handle: &DnsHandle, name: &str, client: Ipv4Addr) -> Result<serde_json::Value, String> {
    let view = handle.view.load_full().ok_or("no [dns] section is configured")?;
    let n = config::dns_name(name)?;
    let (_, host) = view.host(&n).ok_or_else(|| format!("{name:?} is not a configured dns host"))?;
    let d = host.explain(client);
    Ok(serde_json::json!({
        "name": n.to_ascii(),
        "client": client,
        "candidates": host.candidates,
        "steps": d.steps,
        "answers": d.answers,
        "ecs_scope": d.scope,
    }))
}
