//! Health checks: one thread per checked real server probes it on its
//! interval and keeps a verdict with Alteon-style hysteresis (down after
//! `fall` misses in a row, up after `rise` passes; a new server is unused until
//! its first pass). A change of verdict nudges the control loop, which
//! publishes a new snapshot to the data cores.
//!
//! Checks run from the control side over ordinary sockets: they leave through
//! the kernel's TAP interface and the data path, as any of the appliance's
//! own traffic does.

pub mod dns;
mod icmp;
mod probe;

pub use probe::probe;

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{File, HealthCheck};

/// Round-trip times of passing checks, per server: a histogram the check
/// threads observe directly (they are not on the packet path) and every
/// scrape's registry includes.
pub static LATENCY: std::sync::LazyLock<prometheus::HistogramVec> = std::sync::LazyLock::new(|| {
    let opts = prometheus::HistogramOpts::new(
        // The scrape's registry adds the "gslbd_" prefix.
        "health_check_latency_seconds",
        "Round-trip time of passing health checks.",
    )
    .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]);
    prometheus::HistogramVec::new(opts, &["server"]).expect("a valid histogram definition")
});

/// What the checks have found about one real server.
#[derive(Clone, Debug, Default)]
pub struct ServerHealth {
    /// `None` until the first check has finished.
    pub up: Option<bool>,
    pub passes_in_a_row: u32,
    pub misses_in_a_row: u32,
    pub checks: u64,
    pub failures: u64,
    pub last_rtt: Option<Duration>,
    pub last_error: Option<String>,
    /// When the verdict last changed.
    pub since: Option<Instant>,
}

impl ServerHealth {
    /// Records one result; true if the verdict changed.
    pub fn record(&mut self, check: &HealthCheck, result: &Result<Duration, String>) -> bool {
        self.checks += 1;
        let before = self.up;
        match result {
            Ok(rtt) => {
                self.passes_in_a_row += 1;
                self.misses_in_a_row = 0;
                self.last_rtt = Some(*rtt);
                self.last_error = None;
                if before != Some(true) && (before.is_none() || self.passes_in_a_row >= check.rise) {
                    self.up = Some(true);
                }
            }
            Err(e) => {
                self.failures += 1;
                self.misses_in_a_row += 1;
                self.passes_in_a_row = 0;
                self.last_error = Some(e.clone());
                if before != Some(false) && (before.is_none() || self.misses_in_a_row >= check.fall) {
                    self.up = Some(false);
                }
            }
        }
        let changed = self.up != before;
        if changed {
            self.since = Some(Instant::now());
        }
        changed
    }
}

pub type HealthTable = Arc<Mutex<HashMap<String, ServerHealth>>>;

/// The running checks of one configuration.
pub struct Checks {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Checks {
    /// Starts a checker per real server that has a health check. Verdicts go
    /// to `table` (kept across restarts, so a reload does not forget them);
    /// every change sends the server's name on `changed`.
    pub fn start(file: &File, table: &HealthTable, changed: &Sender<String>) -> Checks {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for rs in &file.real_servers {
            let (Some(check), Some(port)) = (rs.health.clone(), rs.health.as_ref().and_then(|h| h.port()))
            else {
                continue;
            };
            let name = rs.name.get_ref().clone();
            let addr = SocketAddr::V4(SocketAddrV4::new(rs.address, port));
            let (stop, table, changed) = (stop.clone(), table.clone(), changed.clone());
            let ns = file.kernel.as_ref().and_then(|k| k.netns.clone());
            let t = std::thread::Builder::new().name(format!("health-{name}")).spawn(move || {
                // Checks are the appliance's own traffic: from its own namespace.
                if let Err(e) = crate::kernel::enter_netns(ns.as_deref()) {
                    eprintln!("health check of {name} not started: {e}");
                    return;
                }
                run(&name, addr, &check, &stop, &table, &changed)
            });
            if let Ok(t) = t {
                threads.push(t);
            }
        }
        Checks { stop, threads }
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn run(
    name: &str,
    addr: SocketAddr,
    check: &HealthCheck,
    stop: &AtomicBool,
    table: &HealthTable,
    changed: &Sender<String>,
) {
    let interval = Duration::from_millis(check.interval_ms);
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let result = probe(check, addr);
        if let Ok(rtt) = &result {
            LATENCY.with_label_values(&[name]).observe(rtt.as_secs_f64());
        }
        let flipped = match table.lock() {
            Ok(mut t) => t.entry(name.to_string()).or_default().record(check, &result),
            Err(_) => return,
        };
        if flipped && changed.send(name.to_string()).is_err() {
            return;
        }
        next += interval;
        // Sleep in short steps so a stop is never kept waiting long.
        while Instant::now() < next && !stop.load(Ordering::Relaxed) {
            std::thread::sleep((next - Instant::now()).min(Duration::from_millis(50)));
        }
        if Instant::now() > next + interval {
            next = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Result<Duration, String> {
        Ok(Duration::from_millis(1))
    }
    fn miss() -> Result<Duration, String> {
        Err("refused".into())
    }

    #[test]
    fn a_new_server_is_up_after_its_first_pass() {
        let c = HealthCheck::default();
        let mut h = ServerHealth::default();
        assert_eq!(h.up, None);
        assert!(h.record(&c, &ok()));
        assert_eq!(h.up, Some(true));
    }

    #[test]
    fn down_after_fall_misses_up_after_rise_passes() {
        let c = HealthCheck { fall: 3, rise: 2, ..HealthCheck::default() };
        let mut h = ServerHealth::default();
        h.record(&c, &ok());
        assert!(!h.record(&c, &miss()));
        assert!(!h.record(&c, &miss()));
        assert!(h.record(&c, &miss()), "third miss marks it down");
        assert_eq!(h.up, Some(false));
        assert!(!h.record(&c, &ok()));
        assert!(!h.record(&c, &miss()), "a miss resets the run of passes");
        assert!(!h.record(&c, &ok()));
        assert!(h.record(&c, &ok()), "two passes in a row bring it back");
        assert_eq!((h.checks, h.failures), (8, 4));
    }

    #[test]
    fn a_server_that_never_answers_is_down_at_once() {
        let c = HealthCheck::default();
        let mut h = ServerHealth::default();
        assert!(h.record(&c, &miss()));
        assert_eq!(h.up, Some(false));
        assert_eq!(h.last_error.as_deref(), Some("refused"));
    }
}
