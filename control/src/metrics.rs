//! Prometheus exposition of the appliance: per-core counters (plain per-core
//! memory, summed by the reader at scrape time), flow and PIP levels, real
//! server health and check latency, the snapshot generation.
//!
//! Each scrape builds a fresh registry from the current values: the data
//! cores never touch a Prometheus type, and the control side pays only when
//! scraped.

use std::collections::HashMap;
use std::sync::Arc;

use dataplane::counters::{CoreCounters, DropReason, Event, Gauge};
use prometheus::{GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::admin::ServerView;
use crate::health::ServerHealth;
use crate::sitestate::node::RemoteStatus;

/// What a scrape reads besides the cores' counters.
pub struct Scrape<'a> {
    pub cores: &'a [Arc<CoreCounters>],
    pub generation: u64,
    /// Real servers: their state, and where their connections are counted.
    pub servers: &'a [ServerView],
    pub health: &'a HashMap<String, ServerHealth>,
    pub remotes: &'a [RemoteStatus],
    pub refused_unknown: &'a HashMap<&'static str, u64>,
    pub dns: &'a crate::dns::DnsStats,
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec, prometheus::Error> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

pub fn render(s: &Scrape) -> Result<String, prometheus::Error> {
    let r = Registry::new_custom(Some("gslbd".into()), None)?;
    let packets = counter(
        &r,
        "packets_total",
        "Packets received (rx) and sent (tx) by a data core.",
        &["core", "direction"],
    )?;
    let bytes = counter(
        &r,
        "bytes_total",
        "Bytes received (rx) and sent (tx) by a data core.",
        &["core", "direction"],
    )?;
    let drops =
        counter(&r, "drops_total", "Packets dropped by a data core, by reason.", &["core", "reason"])?;
    let created = counter(
        &r,
        "flows_created_total",
        "Flows created, by path (local real server or proxy to a remote site).",
        &["core", "path"],
    )?;
    let expired = counter(&r, "flows_expired_total", "Flows aged out, by path.", &["core", "path"])?;
    let events = counter(
        &r,
        "events_total",
        "Other data-core events (ARP and ping replies, resets sent, hand-offs, ...).",
        &["core", "event"],
    )?;
    let flows = gauge(&r, "flows_active", "Flows in a data core's table.", &["core"])?;
    let pips =
        gauge(&r, "pip_ports_in_use", "Proxy-IP ports a data core holds for proxied flows.", &["core"])?;
    for (i, c) in s.cores.iter().enumerate() {
        let core = i.to_string();
        let core = core.as_str();
        for e in Event::ALL {
            let v = c.event(*e);
            match e {
                Event::RxPackets => packets.with_label_values(&[core, "rx"]).inc_by(v),
                Event::TxPackets => packets.with_label_values(&[core, "tx"]).inc_by(v),
                Event::RxBytes => bytes.with_label_values(&[core, "rx"]).inc_by(v),
                Event::TxBytes => bytes.with_label_values(&[core, "tx"]).inc_by(v),
                Event::FlowsCreatedLocal => created.with_label_values(&[core, "local"]).inc_by(v),
                Event::FlowsCreatedProxy => created.with_label_values(&[core, "proxy"]).inc_by(v),
                Event::FlowsExpiredLocal => expired.with_label_values(&[core, "local"]).inc_by(v),
                Event::FlowsExpiredProxy => expired.with_label_values(&[core, "proxy"]).inc_by(v),
                other => events.with_label_values(&[core, other.name()]).inc_by(v),
            }
        }
        for reason in DropReason::ALL {
            drops.with_label_values(&[core, reason.name()]).inc_by(c.dropped(*reason));
        }
        flows.with_label_values(&[core]).set(c.gauge(Gauge::FlowsActive) as i64);
        pips.with_label_values(&[core]).set(c.gauge(Gauge::PipPortsInUse) as i64);
    }

    let up = gauge(
        &r,
        "real_server_up",
        "1 if the data path may send new connections to the real server.",
        &["server"],
    )?;
    let checks = counter(&r, "health_checks_total", "Health checks run against a real server.", &["server"])?;
    let failures = counter(&r, "health_check_failures_total", "Health checks that failed.", &["server"])?;
    let latency = GaugeVec::new(
        Opts::new("health_check_last_rtt_seconds", "Round-trip time of the last passing health check."),
        &["server"],
    )?;
    r.register(Box::new(latency.clone()))?;
    r.register(Box::new(crate::health::LATENCY.clone()))?;
    let active = gauge(
        &r,
        "real_server_connections",
        "Local connections to the real server now, over all data cores.",
        &["server"],
    )?;
    let opened = counter(
        &r,
        "real_server_connections_total",
        "Local connections sent to the real server.",
        &["server"],
    )?;
    for v in s.servers {
        let name = v.name.as_str();
        up.with_label_values(&[name]).set(i64::from(v.state == "up"));
        let (now, ever) = v.connections(s.cores);
        active.with_label_values(&[name]).set(now as i64);
        opened.with_label_values(&[name]).inc_by(ever);
        if let Some(h) = s.health.get(name) {
            checks.with_label_values(&[name]).inc_by(h.checks);
            failures.with_label_values(&[name]).inc_by(h.failures);
            if let Some(rtt) = h.last_rtt {
                latency.with_label_values(&[name]).set(rtt.as_secs_f64());
            }
        }
    }
    let reachable =
        gauge(&r, "remote_site_reachable", "1 if the site-state protocol hears from the site.", &["site"])?;
    let age = GaugeVec::new(
        Opts::new("remote_site_update_age_seconds", "Time since the site's last valid report."),
        &["site"],
    )?;
    r.register(Box::new(age.clone()))?;
    let load = GaugeVec::new(
        Opts::new("remote_site_load_ratio", "Load the site reports: active flows over capacity."),
        &["site"],
    )?;
    r.register(Box::new(load.clone()))?;
    let accepted =
        counter(&r, "site_state_reports_total", "Valid site-state reports taken from a site.", &["site"])?;
    let refused = counter(
        &r,
        "site_state_refused_total",
        "Site-state reports refused, by reason (stale, replayed, bad_mac, ...).",
        &["site", "reason"],
    )?;
    for rs in s.remotes {
        reachable.with_label_values(&[rs.name.as_str()]).set(i64::from(rs.reachable));
        if let Some(a) = rs.age {
            age.with_label_values(&[rs.name.as_str()]).set(a.as_secs_f64());
        }
        load.with_label_values(&[rs.name.as_str()]).set(f64::from(rs.load_permille) / 1000.0);
        accepted.with_label_values(&[rs.name.as_str()]).inc_by(rs.accepted);
        for (why, n) in &rs.refused {
            refused.with_label_values(&[rs.name.as_str(), why]).inc_by(*n);
        }
    }
    for (why, n) in s.refused_unknown {
        refused.with_label_values(&["", why]).inc_by(*n);
    }
    let generation = IntGauge::new("snapshot_generation", "Generation of the snapshot the data cores run.")?;
    r.register(Box::new(generation.clone()))?;
    generation.set(s.generation as i64);
    let dns = counter(&r, "dns_responses_total", "DNS responses sent, by response code.", &["rcode"])?;
    for (rcode, n) in s.dns.answered() {
        dns.with_label_values(&[rcode]).inc_by(n);
    }
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    for (name, help, v) in [
        ("dns_dropped_total", "DNS messages dropped unanswered (malformed, or a response).", &s.dns.dropped),
        ("dns_tcp_queries_total", "DNS queries received over TCP.", &s.dns.tcp_queries),
        ("dns_bad_checksum_total", "UDP DNS queries dropped for a wrong UDP checksum.", &s.dns.bad_checksum),
        ("dns_ring_full_total", "DNS answers lost: the data cores' answer ring was full.", &s.dns.ring_full),
        ("dns_cache_hits_total", "UDP DNS answers given from a response cache.", &s.dns.cache_hits),
        (
            "dns_data_core_answers_total",
            "UDP DNS answers made on a data core (answer_on = data_cores).",
            &s.dns.on_data_cores,
        ),
    ] {
        let c = prometheus::IntCounter::new(name, help)?;
        r.register(Box::new(c.clone()))?;
        c.inc_by(load(v));
    }

    TextEncoder::new().encode_to_string(&r.gather())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cores_are_summed_per_label_and_names_are_prefixed() {
        let a = Arc::new(CoreCounters::default());
        let b = Arc::new(CoreCounters::default());
        a.add(Event::RxPackets, 5);
        b.add(Event::RxPackets, 7);
        b.count_drop(DropReason::TcpNoFlow);
        a.set(Gauge::FlowsActive, 3);
        let mut health = HashMap::new();
        health.insert(
            "web1".to_string(),
            ServerHealth {
                checks: 4,
                failures: 1,
                last_rtt: Some(Duration::from_millis(2)),
                ..ServerHealth::default()
            },
        );
        for c in [&a, &b, &b] {
            c.server_reserved(1);
            c.server_opened(1);
        }
        b.server_closed(1);
        crate::health::LATENCY.with_label_values(&["web1"]).observe(0.003);
        let view = |index: u16, name: &str, state: &str| ServerView {
            index,
            name: name.into(),
            state: state.into(),
            ..ServerView::default()
        };
        let servers = vec![view(0, "web1", "up"), view(1, "web2", "down")];
        let remotes = vec![RemoteStatus {
            name: "site2".into(),
            reachable: true,
            age: Some(Duration::from_millis(300)),
            load_permille: 250,
            services: HashMap::new(),
            accepted: 12,
            refused: HashMap::from([("replayed", 2)]),
        }];
        let unknown = HashMap::from([("bad_mac", 1)]);
        let scrape = Scrape {
            cores: &[a, b],
            generation: 9,
            servers: &servers,
            health: &health,
            remotes: &remotes,
            refused_unknown: &unknown,
            dns: &crate::dns::DnsStats::default(),
        };
        let text = render(&scrape).expect("render");
        for line in [
            "gslbd_packets_total{core=\"0\",direction=\"rx\"} 5",
            "gslbd_packets_total{core=\"1\",direction=\"rx\"} 7",
            "gslbd_drops_total{core=\"1\",reason=\"tcp_no_flow\"} 1",
            "gslbd_flows_active{core=\"0\"} 3",
            "gslbd_real_server_up{server=\"web2\"} 0",
            "gslbd_health_checks_total{server=\"web1\"} 4",
            "gslbd_health_check_last_rtt_seconds{server=\"web1\"} 0.002",
            "gslbd_health_check_latency_seconds_bucket{server=\"web1\",le=\"0.005\"} 1",
            "gslbd_health_check_latency_seconds_bucket{server=\"web1\",le=\"0.0025\"} 0",
            "gslbd_real_server_connections{server=\"web2\"} 2",
            "gslbd_real_server_connections_total{server=\"web2\"} 3",
            "gslbd_real_server_connections{server=\"web1\"} 0",
            "gslbd_snapshot_generation 9",
            "gslbd_dns_responses_total{rcode=\"NXDOMAIN\"} 0",
            "gslbd_remote_site_reachable{site=\"site2\"} 1",
            "gslbd_remote_site_load_ratio{site=\"site2\"} 0.25",
            "gslbd_site_state_refused_total{reason=\"replayed\",site=\"site2\"} 2",
            "gslbd_site_state_refused_total{reason=\"bad_mac\",site=\"\"} 1",
            "# TYPE gslbd_drops_total counter",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }
}
