//! `gslbd run`: the appliance. Configuration → EAL → ports → one data core per
//! worker lcore → the control loop on the main lcore, until SIGINT or SIGTERM.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use dataplane::counters::CoreCounters;
use dataplane::pipeline::{Core, CoreConfig};
use dataplane::rss::{Rss, Toeplitz};
use dataplane::snapshot::Publisher;
use dataplane::wire::MacAddr;
use dataplane::worker::Worker;
use nic_config::port::RSS_KEY;
use nic_config::{tsc, DpdkQueue, Eal, EalConfig, EthPort, PortConfig, Rings};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::admin::{Admin, Command, Reply, ServerView, View};
use crate::config::{self, Config, File};
use crate::dns::{self, Dns};
use crate::health::{Checks, HealthTable, ServerHealth};
use crate::kernel;
use crate::redirect::{self, Redirects};
use crate::sitestate::node::{Node, RemoteStatus};
use crate::snapshot::{Builder, Inputs};

/// How a data core idles: after `polls` empty polls in a row it sleeps
/// `sleep` between polls, so appliances can share a small machine; one
/// packet and it polls flat out again.
#[derive(Copy, Clone)]
struct Idle {
    polls: u32,
    sleep: Duration,
}

fn data_core(mut worker: Worker<DpdkQueue>, stop: Arc<AtomicBool>, hz: u64, idle: Idle) -> i32 {
    let start = tsc();
    let per_ms = (hz / 1000).max(1);
    let mut empty = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let now_ms = (tsc() - start) / per_ms;
        if worker.poll(now_ms) == 0 {
            empty = empty.saturating_add(1);
            if empty >= idle.polls {
                std::thread::sleep(idle.sleep);
            }
        } else {
            empty = 0;
        }
    }
    0
}

fn eal_config(f: &File) -> EalConfig {
    EalConfig {
        lcores: f.eal.lcores.get_ref().clone(),
        file_prefix: f.eal.file_prefix.clone(),
        memory_mb: f.eal.memory_mb,
        in_memory: f.eal.in_memory,
        no_huge: f.eal.no_huge,
        vdevs: f.eal.vdevs.clone(),
        pci_allow: f.eal.pci_allow.clone(),
        log_level: f.eal.log_level.clone(),
    }
}

fn own_addresses(f: &File) -> Vec<(Ipv4Addr, u8)> {
    f.kernel.iter().flat_map(|k| &k.addresses).filter_map(|a| config::cidr(a.get_ref()).ok()).collect()
}

/// Each service's health as this site reports it to the others: whether its
/// group (or its backup) has a real server that can take a connection.
fn service_health(snap: &dataplane::snapshot::Snapshot) -> Vec<(String, bool)> {
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
fn load_permille(cores: &[Arc<CoreCounters>], capacity: u32) -> u16 {
    let active: u64 = cores.iter().map(|c| c.gauge(dataplane::counters::Gauge::FlowsActive)).sum();
    let total = u64::from(capacity.max(1)) * cores.len().max(1) as u64;
    (active * 1000 / total).min(1000) as u16
}

/// The configuration with the operator's admin-API changes applied.
fn with_overlay(f: &File, overlay: &HashMap<String, config::ServerState>) -> File {
    let mut f = f.clone();
    for rs in &mut f.real_servers {
        if let Some(state) = overlay.get(rs.name.get_ref()) {
            rs.state = *state;
        }
    }
    f
}

fn update_view(view: &Mutex<View>, f: &File, snap: &dataplane::snapshot::Snapshot) {
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

fn health_snapshot(table: &HealthTable) -> HashMap<String, ServerHealth> {
    table.lock().map(|t| t.clone()).unwrap_or_default()
}

/// The namespace of the appliance's own addresses, if it has one.
fn netns(f: &File) -> Option<&str> {
    f.kernel.as_ref().and_then(|k| k.netns.as_deref())
}

/// The VIPs the kernel answers on (those of services that redirect).
fn redirect_vips(plans: &[redirect::Plan]) -> Vec<Ipv4Addr> {
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
fn wanted_neighbours(f: &File, table: &kernel::Neighbours) -> HashMap<Ipv4Addr, MacAddr> {
    let all = table.read();
    Builder::next_hops(f).into_iter().filter_map(|a| all.get(&a).map(|m| (a, *m))).collect()
}

pub fn run(path: &Path, stats_every: Option<Duration>) -> Result<(), String> {
    let mut config = Config::load(path).map_err(|e| e.to_string())?;
    // SIGINT and SIGTERM stop, SIGHUP reloads. (signal-hook rather than
    // ctrlc: ctrlc's "termination" feature also takes SIGHUP as a stop.)
    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [(SIGINT, &stop), (SIGTERM, &stop), (SIGHUP, &reload)] {
        signal_hook::flag::register(sig, Arc::clone(flag)).map_err(|e| format!("signal handler: {e}"))?;
    }

    let f = &config.file;
    let eal = Eal::init(&eal_config(f)).map_err(|e| e.to_string())?;
    let lcores = eal.worker_lcores();
    if lcores.is_empty() {
        return Err(format!(
            "{}: eal.lcores {:?} leaves no data core: list the control lcore and at least one more, e.g. \"0-1\"",
            path.display(),
            f.eal.lcores.get_ref()
        ));
    }
    let queues = lcores.len() as u16;
    let mut pc = PortConfig::new(&f.port.device, queues);
    pc.rx_descriptors = f.port.rx_descriptors;
    pc.tx_descriptors = f.port.tx_descriptors;
    pc.mbufs = f.port.mbufs;
    if let Some(size) = f.port.mbuf_size {
        pc.mbuf_size = size;
    }
    pc.mtu = f.port.mtu;
    pc.link_timeout = Duration::from_millis(f.port.link_timeout_ms);
    let port = EthPort::open(&pc).map_err(|e| e.to_string())?;
    // The TAP's kernel side and its namespace, as set up now: a reload
    // cannot move them.
    let mut tap: Option<(String, Option<String>)> = None;
    let kernel_port = match &f.kernel {
        None => None,
        Some(k) => {
            let mut kc = PortConfig::new(&k.device, queues);
            kc.rx_descriptors = 256;
            kc.tx_descriptors = 256;
            kc.mbufs = kc.min_mbufs().max(2047);
            let kp = EthPort::open(&kc).map_err(|e| e.to_string())?;
            let iface = kernel::tap_iface(&f.eal.vdevs, &k.device).ok_or_else(|| {
                format!(
                    "kernel.device {:?} must be a net_tap vdev with an iface= argument in eal.vdevs",
                    k.device
                )
            })?;
            if let Some(ns) = &k.netns {
                kernel::move_to_netns(&iface, ns)?;
            }
            let ns = k.netns.as_deref();
            kernel::configure_tap(ns, &iface, port.mac, &own_addresses(f))?;
            let routes: Vec<_> = k.routes.iter().filter_map(|r| config::route(r.get_ref()).ok()).collect();
            kernel::add_routes(ns, &iface, &routes)?;
            kernel::set_local_vips(ns, &iface, &redirect_vips(&redirect::plans(f)))?;
            tap = Some((iface, k.netns.clone()));
            Some(kp)
        }
    };

    let mut builder = Builder::default();
    let arp = kernel::Neighbours::new(netns(f))?;
    let mut neighbours = wanted_neighbours(f, &arp);
    let health: HealthTable = HealthTable::default();
    let (health_tx, health_rx) = mpsc::channel::<String>();
    let mut checks = Checks::start(f, &health, &health_tx);
    let mut node = match &f.site_state {
        Some(ss) => {
            let peers: Vec<(String, std::net::SocketAddr)> =
                f.remote_sites.iter().map(|r| (r.name.get_ref().clone(), r.peer)).collect();
            let interval = Duration::from_millis(ss.interval_ms);
            Some(kernel::in_netns(netns(f), || {
                Node::new(ss.listen, &ss.key, &f.site.name, &peers, interval, ss.misses)
                    .map_err(|e| format!("site_state.listen {}: {e}", ss.listen))
            })??)
        }
        None => None,
    };
    let mut remotes: Vec<RemoteStatus> = Vec::new();
    let first = builder
        .build(
            f,
            port.mac,
            &Inputs { neighbours: &neighbours, health: &health_snapshot(&health), remotes: &remotes },
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut publisher = Publisher::new(first);
    let idle = Idle { polls: f.flows.idle_polls, sleep: Duration::from_micros(f.flows.idle_sleep_us) };
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let rings = if queues > 1 {
        Some(Rings::new(usize::from(queues), 4096).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let mut counters: Vec<Arc<CoreCounters>> = Vec::new();
    for (i, &lcore) in lcores.iter().enumerate() {
        let cc = CoreConfig {
            id: i as u32,
            cores: u32::from(queues),
            flow_capacity: f.flows.capacity,
            seed: seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            expire_budget: 256,
        };
        let mut core = Core::with_port_share(cc, &publisher.current(), 0)
            .map_err(|e| format!("flow table of data core {i} ({} flows): {e}", f.flows.capacity))?;
        // A device with a redirection table hashes with the key we gave it
        // (Toeplitz): PIP ports are then chosen so replies land here. Devices
        // without one (virtual ones) rely on the hand-off rings.
        if !port.reta.is_empty() {
            core.rss = Toeplitz::new(&RSS_KEY).map(|toeplitz| Rss { toeplitz, reta: port.reta.clone() });
        }
        counters.push(core.counters.clone());
        let queue = DpdkQueue {
            port: port.id,
            queue: i as u16,
            kernel: kernel_port.as_ref().map(|k| k.id),
            rings: rings.clone(),
        };
        let worker = Worker::new(core, queue, publisher.subscribe());
        let (stop, hz) = (stop.clone(), eal.tsc_hz());
        eal.launch(lcore, move || data_core(worker, stop, hz, idle)).map_err(|e| e.to_string())?;
    }
    println!(
        "gslbd {}: data port {} ({}, {}), {} data core(s) on lcores {:?}",
        f.site.name, port.name, port.driver, port.mac, queues, lcores
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
        println!("  own addresses {:?} via {}", own_addresses(f), k.device);
    }
    let tap_ns = tap.as_ref().and_then(|(_, ns)| ns.as_deref());
    let mut redirects = Redirects::start(redirect::plans(f), tap_ns, &remotes)?;

    let mut dns = Dns::new();
    dns.configure(f, netns(f))?;
    if let Some(d) = &f.dns {
        println!("  dns: authoritative for {} zone(s) on {:?}", d.zones.len(), d.listen);
    }
    let view = Arc::new(Mutex::new(View::default()));
    let (cmd_tx, cmd_rx) = mpsc::channel::<(Command, mpsc::Sender<Reply>)>();
    let admin = match &f.management {
        Some(m) => {
            let a = Admin::start(
                m.listen,
                view.clone(),
                counters.clone(),
                health.clone(),
                dns.handle.clone(),
                cmd_tx.clone(),
            )?;
            println!("  management: http://{}/metrics, http://{}/api/status", a.address, a.address);
            Some(a)
        }
        None => None,
    };
    update_view(&view, f, &publisher.current());
    let mut overlay: HashMap<String, config::ServerState> = HashMap::new();
    let mut last_reported: Vec<(String, bool)> = Vec::new();

    let mut last_solicit = Instant::now() - Duration::from_secs(10);
    let mut last_dns = Instant::now() - Duration::from_secs(10);
    let mut last_stats = (Instant::now(), port.stats());
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(every) = stats_every {
            if last_stats.0.elapsed() >= every {
                let (now, s) = (Instant::now(), port.stats());
                let secs = now.duration_since(last_stats.0).as_secs_f64();
                let drops: u64 = counters.iter().map(|c| c.total_drops()).sum();
                println!(
                    "stats: rx {:.3} Mpps, tx {:.3} Mpps, missed {}, data-path drops {drops}",
                    (s.rx_packets - last_stats.1.rx_packets) as f64 / secs / 1e6,
                    (s.tx_packets - last_stats.1.tx_packets) as f64 / secs / 1e6,
                    s.rx_missed
                );
                last_stats = (now, s);
            }
        }
        let mut changed = false;
        let mut want_reload = reload.swap(false, Ordering::SeqCst);
        let mut reload_replies = Vec::new();
        while let Ok((cmd, reply)) = cmd_rx.try_recv() {
            match cmd {
                Command::Reload => {
                    want_reload = true;
                    reload_replies.push(reply);
                }
                Command::Disable(name) | Command::Enable(name)
                    if !config.file.real_servers.iter().any(|r| *r.name.get_ref() == name) =>
                {
                    let _ = reply.send(Err(format!("no real server named {name:?}")));
                }
                Command::Disable(name) => {
                    println!("admin: {name} disabled (no new connections)");
                    overlay.insert(name.clone(), config::ServerState::Disabled);
                    let _ = reply.send(Ok(format!("{name} disabled")));
                    changed = true;
                }
                Command::Enable(name) => {
                    println!("admin: {name} enabled");
                    overlay.remove(&name);
                    let _ = reply.send(Ok(format!("{name} enabled")));
                    changed = true;
                }
            }
        }
        if want_reload {
            let outcome = match Config::load(path) {
                Ok(c) => {
                    println!("reloaded {}", path.display());
                    config = c;
                    checks.stop();
                    checks = Checks::start(&config.file, &health, &health_tx);
                    if let Err(e) = dns.configure(&config.file, netns(&config.file)) {
                        eprintln!("dns: {e}");
                    }
                    let plans = redirect::plans(&config.file);
                    if plans != redirects.plans() {
                        redirects.stop();
                        let restarted = match &tap {
                            Some((iface, ns)) => {
                                kernel::set_local_vips(ns.as_deref(), iface, &redirect_vips(&plans))
                            }
                            None => Ok(()),
                        }
                        .and_then(|()| Redirects::start(plans, tap_ns, &remotes));
                        match restarted {
                            Ok(r) => redirects = r,
                            Err(e) => eprintln!("redirects not restarted: {e}"),
                        }
                    }
                    changed = true;
                    Ok(format!("reloaded {}", path.display()))
                }
                Err(e) => {
                    eprintln!("reload refused, still running the previous configuration: {e}");
                    Err(e.to_string())
                }
            };
            for r in reload_replies {
                let _ = r.send(outcome.clone());
            }
        }
        while let Ok(name) = health_rx.try_recv() {
            let verdict = health.lock().ok().and_then(|t| t.get(&name).cloned()).unwrap_or_default();
            match (verdict.up, &verdict.last_error) {
                (Some(true), _) => println!("health: {name} is up"),
                (_, Some(e)) => println!("health: {name} is down ({e})"),
                _ => println!("health: {name} is down"),
            }
            changed = true;
        }
        let f = &config.file;
        if let Some(node) = node.as_mut() {
            let now = Instant::now();
            if node.poll(now) {
                let before: HashMap<String, bool> =
                    remotes.iter().map(|r| (r.name.clone(), r.reachable)).collect();
                remotes = node.status(now);
                for r in &remotes {
                    if before.get(&r.name) != Some(&r.reachable) {
                        println!(
                            "site-state: {} is {}",
                            r.name,
                            if r.reachable { "reachable" } else { "unreachable" }
                        );
                    }
                }
                redirects.update(&remotes);
                changed = true;
            }
            if let Ok(mut v) = view.lock() {
                v.remotes = node.status(now);
                v.refused_unknown = node.refused_unknown.clone();
            }
            let snap = publisher.current();
            let services = service_health(&snap);
            let load = load_permille(&counters, f.flows.capacity);
            let news = services != last_reported;
            node.report(now, &services, load, news);
            last_reported = services;
        }
        let now = wanted_neighbours(f, &arp);
        if now != neighbours {
            neighbours = now;
            changed = true;
        }
        if last_solicit.elapsed() >= Duration::from_secs(1) {
            last_solicit = Instant::now();
            let missing: Vec<Ipv4Addr> =
                Builder::next_hops(f).into_iter().filter(|a| !neighbours.contains_key(a)).collect();
            if !missing.is_empty() {
                kernel::solicit(netns(f), &missing);
            }
        }
        if changed {
            let effective = with_overlay(f, &overlay);
            let inputs =
                Inputs { neighbours: &neighbours, health: &health_snapshot(&health), remotes: &remotes };
            match builder.build(&effective, port.mac, &inputs) {
                Ok(s) => {
                    publisher.publish(s);
                    update_view(&view, &effective, &publisher.current());
                }
                Err(e) => eprintln!("configuration not applied: {e}"),
            }
        }
        // After the snapshot: the DNS answers from the health just published.
        // Load moves all the time, so the view is also rebuilt twice a second.
        if changed || last_dns.elapsed() >= Duration::from_millis(500) {
            last_dns = Instant::now();
            let snap = publisher.current();
            let checks = health_snapshot(&health);
            let local = dns::local_health(f, &service_health(&snap), &checks);
            dns.update(f, &local, load_permille(&counters, f.flows.capacity), &remotes);
        }
    }

    println!("stopping: waiting for the data cores");
    drop(admin);
    dns.stop();
    redirects.stop();
    if let Some((iface, ns)) = &tap {
        if let Err(e) = kernel::set_local_vips(ns.as_deref(), iface, &[]) {
            eprintln!("{e}");
        }
    }
    checks.stop();
    eal.wait_all();
    for (i, c) in counters.iter().enumerate() {
        let mut line = format!("data core {i}:");
        for (name, v) in c.nonzero() {
            line.push_str(&format!(" {name}={v}"));
        }
        println!("{line}");
    }
    for p in std::iter::once(&port).chain(kernel_port.as_ref()) {
        let s = p.stats();
        println!(
            "port {}: rx {} tx {} missed {} rx_errors {} tx_errors {} no_mbuf {}",
            p.name, s.rx_packets, s.tx_packets, s.rx_missed, s.rx_errors, s.tx_errors, s.rx_no_mbuf
        );
    }
    drop(rings);
    drop(kernel_port);
    drop(port);
    drop(eal);
    Ok(())
}
