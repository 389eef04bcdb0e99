//! The control loop on the main lcore: every 50 ms it takes the operator's
//! commands (admin API, SIGHUP), health verdicts, site-state reports and
//! neighbour changes, republishes the snapshot when any of them changed
//! something, and keeps the DNS view, the redirects and the admin view in
//! step with it.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dataplane::counters::CoreCounters;
use dataplane::snapshot::Publisher;
use dataplane::wire::MacAddr;
use nic_config::PortStats;

use super::cores;
use super::devices::Devices;
use super::state::{
    assumed_up, health_snapshot, load_permille, netns, redirect_vips, service_health, update_view,
    wanted_neighbours, with_overlay,
};
use crate::admin::{Admin, Command, Reply, View};
use crate::config::{self, Config, File};
use crate::dns::{self, Dns, DnsHandle};
use crate::health::{Checks, HealthTable};
use crate::kernel;
use crate::redirect::{self, Redirects};
use crate::sitestate::node::{Node, RemoteStatus};
use crate::snapshot::{Builder, Inputs};

pub(super) struct Control {
    path: PathBuf,
    config: Config,
    mac: MacAddr,
    builder: Builder,
    publisher: Publisher,
    counters: Vec<Arc<CoreCounters>>,
    arp: kernel::Neighbours,
    neighbours: HashMap<Ipv4Addr, MacAddr>,
    health: HealthTable,
    health_tx: Sender<String>,
    health_rx: Receiver<String>,
    checks: Checks,
    node: Option<Node>,
    remotes: Vec<RemoteStatus>,
    last_reported: Vec<(String, bool)>,
    redirects: Redirects,
    dns: Dns,
    view: Arc<Mutex<View>>,
    commands: Receiver<(Command, Sender<Reply>)>,
    admin: Option<Admin>,
    /// The operator's disable/enable, on top of the configuration.
    overlay: HashMap<String, config::ServerState>,
    stats_every: Option<Duration>,
    last_stats: (Instant, PortStats),
    last_solicit: Instant,
    last_dns: Instant,
}

impl Control {
    /// Builds the first snapshot, launches the data cores on it, and starts
    /// the health checks, the site-state node, redirects, DNS and the admin API.
    pub fn start(
        path: &Path,
        config: Config,
        dev: &Devices,
        stop: &Arc<AtomicBool>,
        stats_every: Option<Duration>,
    ) -> Result<Control, String> {
        let f = &config.file;
        let mut builder = Builder::default();
        let arp = kernel::Neighbours::new(netns(f))?;
        let neighbours = wanted_neighbours(f, &arp);
        let health = HealthTable::default();
        let (health_tx, health_rx) = mpsc::channel::<String>();
        let checks = Checks::start(f, &health, &health_tx);
        let node = match &f.site_state {
            Some(ss) => {
                let peers: Vec<(String, std::net::SocketAddr)> =
                    f.remote_sites.iter().filter_map(|r| Some((r.name.get_ref().clone(), r.peer?))).collect();
                let interval = Duration::from_millis(ss.interval_ms);
                Some(kernel::in_netns(netns(f), || {
                    Node::new(ss.listen, &ss.key, &f.site.name, &peers, interval, ss.misses)
                        .map_err(|e| format!("site_state.listen {}: {e}", ss.listen))
                })??)
            }
            None => None,
        };
        let remotes = assumed_up(f);
        let inputs = Inputs { neighbours: &neighbours, health: &health_snapshot(&health), remotes: &remotes };
        let first =
            builder.build(f, dev.port.mac, &inputs).map_err(|e| format!("{}: {e}", path.display()))?;
        let publisher = Publisher::new(first);
        let dns_handle = DnsHandle::new();
        let cores::Launched { counters, dns: dns_rings } =
            cores::launch(dev, f, &publisher, &dns_handle, stop)?;
        banner(f, dev);

        let redirects = Redirects::start(redirect::plans(f), dev.tap_ns(), &remotes)?;
        let mut dns = Dns::new(dns_rings, dev.port.mac, dns_handle);
        dns.configure(f, netns(f))?;
        if let Some(d) = &f.dns {
            println!("  dns: authoritative for {} zone(s) on {:?}", d.zones.len(), d.listen);
        }
        let view = Arc::new(Mutex::new(View::default()));
        let (cmd_tx, commands) = mpsc::channel::<(Command, Sender<Reply>)>();
        let admin = match &f.management {
            Some(m) => {
                let a = Admin::start(
                    m.listen,
                    view.clone(),
                    counters.clone(),
                    health.clone(),
                    dns.handle.clone(),
                    cmd_tx,
                )?;
                println!("  management: http://{}/metrics, http://{}/api/status", a.address, a.address);
                Some(a)
            }
            None => None,
        };
        update_view(&view, f, &publisher.current());
        if let Ok(mut v) = view.lock() {
            v.remotes = remotes.clone();
        }
        let long_ago = Instant::now() - Duration::from_secs(10);
        Ok(Control {
            path: path.to_path_buf(),
            mac: dev.port.mac,
            last_stats: (Instant::now(), dev.port.stats()),
            config,
            builder,
            publisher,
            counters,
            arp,
            neighbours,
            health,
            health_tx,
            health_rx,
            checks,
            node,
            remotes,
            last_reported: Vec::new(),
            redirects,
            dns,
            view,
            commands,
            admin,
            overlay: HashMap::new(),
            stats_every,
            last_solicit: long_ago,
            last_dns: long_ago,
        })
    }

    /// Runs until `stop` is set; `reload` is SIGHUP's flag.
    pub fn run(&mut self, dev: &Devices, stop: &AtomicBool, reload: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            self.print_stats(dev);
            let (mut changed, reload_replies) = self.commands();
            if reload.swap(false, Ordering::SeqCst) || !reload_replies.is_empty() {
                let outcome = self.reload(dev);
                changed |= outcome.is_ok();
                for r in reload_replies {
                    let _ = r.send(outcome.clone());
                }
            }
            changed |= self.health_changes();
            changed |= self.site_state();
            changed |= self.neighbours();
            if changed {
                self.publish();
            }
            // After the snapshot: the DNS answers from the health just
            // published. Load moves all the time, so the view is also
            // rebuilt twice a second.
            if changed || self.last_dns.elapsed() >= Duration::from_millis(500) {
                self.last_dns = Instant::now();
                self.update_dns();
            }
        }
    }

    fn print_stats(&mut self, dev: &Devices) {
        let Some(every) = self.stats_every else { return };
        if self.last_stats.0.elapsed() < every {
            return;
        }
        let (now, s) = (Instant::now(), dev.port.stats());
        let (then, before) = self.last_stats;
        let secs = now.duration_since(then).as_secs_f64();
        let drops: u64 = self.counters.iter().map(|c| c.total_drops()).sum();
        println!(
            "stats: rx {:.3} Mpps, tx {:.3} Mpps, missed {}, data-path drops {drops}",
            (s.rx_packets - before.rx_packets) as f64 / secs / 1e6,
            (s.tx_packets - before.tx_packets) as f64 / secs / 1e6,
            s.rx_missed
        );
        self.last_stats = (now, s);
    }

    /// The admin API's commands: whether one changed something, and the
    /// replies owed to reload requests.
    fn commands(&mut self) -> (bool, Vec<Sender<Reply>>) {
        let mut changed = false;
        let mut reloads = Vec::new();
        while let Ok((cmd, reply)) = self.commands.try_recv() {
            match cmd {
                Command::Reload => reloads.push(reply),
                Command::Disable(name) | Command::Enable(name)
                    if !self.config.file.real_servers.iter().any(|r| *r.name.get_ref() == name) =>
                {
                    let _ = reply.send(Err(format!("no real server named {name:?}")));
                }
                Command::Disable(name) => {
                    println!("admin: {name} disabled (no new connections)");
                    self.overlay.insert(name.clone(), config::ServerState::Disabled);
                    let _ = reply.send(Ok(format!("{name} disabled")));
                    changed = true;
                }
                Command::Enable(name) => {
                    println!("admin: {name} enabled");
                    self.overlay.remove(&name);
                    let _ = reply.send(Ok(format!("{name} enabled")));
                    changed = true;
                }
            }
        }
        (changed, reloads)
    }

    /// Loads the configuration again; a bad one leaves the running one in place.
    fn reload(&mut self, dev: &Devices) -> Reply {
        let path = self.path.display().to_string();
        let c = match Config::load(&self.path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("reload refused, still running the previous configuration: {e}");
                return Err(e.to_string());
            }
        };
        println!("reloaded {path}");
        self.config = c;
        self.remotes = self.remote_status(Instant::now());
        if let Ok(mut v) = self.view.lock() {
            v.remotes = self.remotes.clone();
        }
        let f = &self.config.file;
        let checks = Checks::start(f, &self.health, &self.health_tx);
        std::mem::replace(&mut self.checks, checks).stop();
        if let Err(e) = self.dns.configure(f, netns(f)) {
            eprintln!("dns: {e}");
        }
        let plans = redirect::plans(f);
        if plans != self.redirects.plans() {
            self.redirects.stop();
            let restarted = dev
                .set_local_vips(&redirect_vips(&plans))
                .and_then(|()| Redirects::start(plans, dev.tap_ns(), &self.remotes));
            match restarted {
                Ok(r) => self.redirects = r,
                Err(e) => eprintln!("redirects not restarted: {e}"),
            }
        }
        Ok(format!("reloaded {path}"))
    }

    /// Health verdicts that flipped since the last tick (logged).
    fn health_changes(&mut self) -> bool {
        let mut changed = false;
        while let Ok(name) = self.health_rx.try_recv() {
            let verdict = self.health.lock().ok().and_then(|t| t.get(&name).cloned()).unwrap_or_default();
            match (verdict.up, &verdict.last_error) {
                (Some(true), _) => println!("health: {name} is up"),
                (_, Some(e)) => println!("health: {name} is down ({e})"),
                _ => println!("health: {name} is down"),
            }
            changed = true;
        }
        changed
    }

    /// Every remote site's status: from its reports, or taken as up.
    fn remote_status(&self, now: Instant) -> Vec<RemoteStatus> {
        let mut r = self.node.as_ref().map(|n| n.status(now)).unwrap_or_default();
        r.extend(assumed_up(&self.config.file));
        r
    }

    /// Reports in and out; true if what we know of another site changed.
    fn site_state(&mut self) -> bool {
        let now = Instant::now();
        let Some(polled) = self.node.as_mut().map(|n| n.poll(now)) else { return false };
        // One status for the whole tick: the data path and redirects when
        // something changed, the admin API's view always (report ages move).
        let remotes = self.remote_status(now);
        if polled {
            for r in &remotes {
                let before = self.remotes.iter().find(|b| b.name == r.name).map(|b| b.reachable);
                if before != Some(r.reachable) {
                    println!(
                        "site-state: {} is {}",
                        r.name,
                        if r.reachable { "reachable" } else { "unreachable" }
                    );
                }
            }
            self.remotes = remotes.clone();
            self.redirects.update(&self.remotes);
        }
        let Some(node) = self.node.as_mut() else { return polled };
        if let Ok(mut v) = self.view.lock() {
            v.remotes = remotes;
            v.refused_unknown = node.refused_unknown.clone();
        }
        let services = service_health(&self.publisher.current());
        let load = load_permille(&self.counters, self.config.file.flows.capacity);
        let news = services != self.last_reported;
        node.report(now, &services, load, news);
        self.last_reported = services;
        polled
    }

    /// Next-hop MACs from the kernel's table; asks for missing ones once a second.
    fn neighbours(&mut self) -> bool {
        let f = &self.config.file;
        let now = wanted_neighbours(f, &self.arp);
        let changed = now != self.neighbours;
        self.neighbours = now;
        if self.last_solicit.elapsed() >= Duration::from_secs(1) {
            self.last_solicit = Instant::now();
            let missing: Vec<Ipv4Addr> =
                Builder::next_hops(f).into_iter().filter(|a| !self.neighbours.contains_key(a)).collect();
            if !missing.is_empty() {
                kernel::solicit(netns(f), &missing);
            }
        }
        changed
    }

    fn publish(&mut self) {
        let effective = with_overlay(&self.config.file, &self.overlay);
        let health = health_snapshot(&self.health);
        let inputs = Inputs { neighbours: &self.neighbours, health: &health, remotes: &self.remotes };
        match self.builder.build(&effective, self.mac, &inputs) {
            Ok(s) => {
                self.publisher.publish(s);
                update_view(&self.view, &effective, &self.publisher.current());
            }
            Err(e) => eprintln!("configuration not applied: {e}"),
        }
    }

    fn update_dns(&self) {
        let f = &self.config.file;
        let local =
            dns::local_health(f, &service_health(&self.publisher.current()), &health_snapshot(&self.health));
        self.dns.update(f, &local, load_permille(&self.counters, f.flows.capacity), &self.remotes);
    }

    /// Stops everything but the data cores, and takes the VIPs off the
    /// kernel. The publisher comes back to be dropped after the data cores
    /// stop: retired snapshots are freed on the control side, never on a
    /// data core.
    pub fn stop(mut self, dev: &Devices) -> (Publisher, Vec<Arc<CoreCounters>>) {
        drop(self.admin);
        self.dns.stop();
        self.redirects.stop();
        if let Err(e) = dev.set_local_vips(&[]) {
            eprintln!("{e}");
        }
        self.checks.stop();
        (self.publisher, self.counters)
    }
}

fn banner(f: &File, dev: &Devices) {
    let p = &dev.port;
    println!(
        "gslbd {}: data port {} ({}, {}), {} data core(s) on lcores {:?}",
        f.site.name,
        p.name,
        p.driver,
        p.mac,
        dev.lcores.len(),
        dev.lcores
    );
    for s in &f.services {
        println!(
            "  service {} {}:{}/{:?} -> group {}",
            s.name,
            s.vip.get_ref(),
            s.port,
            s.protocol,
            s.group.get_ref()
        );
    }
    if let Some(k) = &f.kernel {
        println!("  own addresses {:?} via {}", super::state::own_addresses(f), k.device);
    }
}
