//! The management interface, HTTP on the management address (never on a
//! data port): `/metrics` for Prometheus, and a JSON admin API:
//!
//! - `GET  /api/status`                  site, snapshot generation, services, real servers, data cores
//! - `POST /api/servers/NAME/disable`    no new connections; existing ones finish
//! - `POST /api/servers/NAME/enable`
//! - `POST /api/reload`                  as SIGHUP
//! - `GET  /api/dns/explain?name=N&client=A`  why the DNS answers N to A so:
//!   candidates, their state, what each rule did
//!
//! Requests that change something are passed to the control loop, which owns
//! the configuration and publishes snapshots; this thread only reads a view.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use dataplane::counters::{CoreCounters, Event, Gauge};
use serde_json::json;
use tiny_http::{Header, Method, Response, Server};

use crate::dns::DnsHandle;
use crate::health::HealthTable;
use crate::metrics;
use crate::sitestate::node::RemoteStatus;

/// What the control loop shows the admin API, refreshed on every publish.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub site: String,
    pub generation: u64,
    /// (name, vip, port, protocol, group)
    pub services: Vec<(String, String, u16, String, String)>,
    pub servers: Vec<ServerView>,
    /// Other sites as the site-state protocol knows them.
    pub remotes: Vec<RemoteStatus>,
    /// Reports refused before their sender was known (bad tag, malformed, ...).
    pub refused_unknown: HashMap<&'static str, u64>,
}

/// One real server as the admin API and the metrics show it.
#[derive(Clone, Debug, Default)]
pub struct ServerView {
    /// Its index in the snapshot (stable across reloads): where the data
    /// cores count its connections.
    pub index: u16,
    pub name: String,
    pub address: String,
    /// The state the data path uses: up, down or disabled.
    pub state: String,
    /// The operator's say (configuration or admin API).
    pub operator: String,
}

impl ServerView {
    /// (active, opened ever) local connections, summed over the data cores.
    pub fn connections(&self, cores: &[Arc<CoreCounters>]) -> (u64, u64) {
        cores.iter().map(|c| c.server(self.index)).fold((0, 0), |(a, o), (ca, co)| (a + ca, o + co))
    }
}

pub enum Command {
    Disable(String),
    Enable(String),
    Reload,
}

pub type Reply = Result<String, String>;

pub struct Admin {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub address: SocketAddr,
}

impl Admin {
    pub fn start(
        listen: SocketAddr,
        view: Arc<Mutex<View>>,
        cores: Vec<Arc<CoreCounters>>,
        health: HealthTable,
        dns: DnsHandle,
        commands: Sender<(Command, Sender<Reply>)>,
    ) -> Result<Admin, String> {
        let server = Server::http(listen).map_err(|e| format!("management address {listen}: {e}"))?;
        let address = server.server_addr().to_ip().unwrap_or(listen);
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("admin".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    match server.recv_timeout(Duration::from_millis(200)) {
                        Ok(Some(req)) => handle(req, &view, &cores, &health, &dns, &commands),
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
            })
            .map_err(|e| format!("admin thread: {e}"))?;
        Ok(Admin { stop, thread: Some(thread), address })
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn json_response(code: u16, body: serde_json::Value) -> Response<std::io::Cursor<Vec<u8>>> {
    let header = Header::from_bytes("Content-Type", "application/json").expect("static header");
    Response::from_string(body.to_string()).with_status_code(code).with_header(header)
}

fn handle(
    req: tiny_http::Request,
    view: &Mutex<View>,
    cores: &[Arc<CoreCounters>],
    health: &HealthTable,
    dns: &DnsHandle,
    commands: &Sender<(Command, Sender<Reply>)>,
) {
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let v = view.lock().map(|v| v.clone()).unwrap_or_default();
    let health = health.lock().map(|h| h.clone()).unwrap_or_default();
    let response = match (req.method(), parts.as_slice()) {
        (Method::Get, ["metrics"]) => {
            let scrape = metrics::Scrape {
                cores,
                generation: v.generation,
                servers: &v.servers,
                health: &health,
                remotes: &v.remotes,
                refused_unknown: &v.refused_unknown,
                dns: &dns.stats,
            };
            match metrics::render(&scrape) {
                Ok(text) => {
                    let h = Header::from_bytes("Content-Type", "text/plain; version=0.0.4")
                        .expect("static header");
                    let _ = req.respond(Response::from_string(text).with_header(h));
                    return;
                }
                Err(e) => json_response(500, json!({ "error": e.to_string() })),
            }
        }
        (Method::Get, ["api", "status"]) => json_response(200, status(&v, cores, &health)),
        (Method::Post, ["api", "servers", name, action @ ("disable" | "enable")]) => {
            let cmd = if *action == "disable" {
                Command::Disable(name.to_string())
            } else {
                Command::Enable(name.to_string())
            };
            command(commands, cmd)
        }
        (Method::Post, ["api", "reload"]) => command(commands, Command::Reload),
        (Method::Get, ["api", "dns", "explain"]) => {
            let arg = |k: &str| query.split('&').find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='));
            match (arg("name"), arg("client").map(str::parse::<std::net::Ipv4Addr>)) {
                (Some(name), Some(Ok(client))) => match crate::dns::explain(dns, name, client) {
                    Ok(j) => json_response(200, j),
                    Err(e) => json_response(404, json!({ "error": e })),
                },
                _ => json_response(
                    400,
                    json!({ "error": "expected ?name=HOST&client=IPV4, e.g. ?name=pop.gslb.example.org&client=198.51.100.7" }),
                ),
            }
        }
        _ => json_response(404, json!({ "error": format!("no such endpoint: {} {url}", req.method()) })),
    };
    let _ = req.respond(response);
}

fn command(commands: &Sender<(Command, Sender<Reply>)>, cmd: Command) -> Response<std::io::Cursor<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    if commands.send((cmd, tx)).is_err() {
        return json_response(503, json!({ "error": "the appliance is stopping" }));
    }
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(msg)) => json_response(200, json!({ "ok": msg })),
        Ok(Err(e)) => json_response(400, json!({ "error": e })),
        Err(_) => json_response(504, json!({ "error": "no answer from the control loop" })),
    }
}

fn status(
    v: &View,
    cores: &[Arc<CoreCounters>],
    health: &HashMap<String, crate::health::ServerHealth>,
) -> serde_json::Value {
    json!({
        "site": v.site,
        "snapshot_generation": v.generation,
        "services": v.services.iter().map(|(name, vip, port, proto, group)| json!({
            "name": name, "vip": vip, "port": port, "protocol": proto, "group": group,
        })).collect::<Vec<_>>(),
        "real_servers": v.servers.iter().map(|s| {
            let h = health.get(&s.name);
            let (active, opened) = s.connections(cores);
            json!({
                "name": s.name,
                "address": s.address,
                "state": s.state,
                "operator_state": s.operator,
                "connections": active,
                "connections_total": opened,
                "health": h.map(|h| json!({
                    "up": h.up,
                    "checks": h.checks,
                    "failures": h.failures,
                    "last_rtt_ms": h.last_rtt.map(|d| d.as_secs_f64() * 1e3),
                    "last_error": h.last_error,
                })),
            })
        }).collect::<Vec<_>>(),
        "remote_sites": v.remotes.iter().map(|r| json!({
            "name": r.name,
            "reachable": r.reachable,
            "last_update_ms_ago": r.age.map(|a| a.as_millis() as u64),
            "load_permille": r.load_permille,
            "services": r.services,
            "reports_accepted": r.accepted,
            "reports_refused": r.refused,
        })).collect::<Vec<_>>(),
        "data_cores": cores.iter().enumerate().map(|(i, c)| json!({
            "core": i,
            "flows_active": c.gauge(Gauge::FlowsActive),
            "pip_ports_in_use": c.gauge(Gauge::PipPortsInUse),
            "rx_packets": c.event(Event::RxPackets),
            "tx_packets": c.event(Event::TxPackets),
            "drops": c.total_drops(),
        })).collect::<Vec<_>>(),
    })
}
