//! The data cores: one `Worker` per worker lcore, each polling its queue
//! until the stop flag is set.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dataplane::counters::CoreCounters;
use dataplane::pipeline::{Core, CoreConfig};
use dataplane::rss::{Rss, Toeplitz};
use dataplane::snapshot::Publisher;
use dataplane::worker::Worker;
use nic_config::port::RSS_KEY;
use nic_config::{tsc, DnsRings, DpdkQueue, Rings, Waker};

use super::devices::Devices;
use super::idle::{Idle, IdleState, Next};
use crate::config::File;
use crate::dns::{DnsHandle, InlineResponder};

pub(super) fn data_core(
    mut worker: Worker<DpdkQueue>,
    mut waker: Option<Waker>,
    stop: Arc<AtomicBool>,
    hz: u64,
    idle: Idle,
) -> i32 {
    let start = tsc();
    let per_ms = (hz / 1000).max(1);
    let mut state = IdleState::new(idle, waker.is_some());
    while !stop.load(Ordering::Relaxed) {
        let now_ms = (tsc() - start) / per_ms;
        match (state.after(worker.poll(now_ms)), &mut waker, &worker.port.dns) {
            (Next::Poll, _, _) => {}
            (Next::Files(d), Some(w), Some(dns)) => dns.sleep_on(w, d),
            (Next::Files(d), Some(w), None) => w.wait(d),
            // With DNS rings, an answer from the DNS thread ends the nap.
            (Next::Nap(d) | Next::Files(d), _, Some(dns)) => dns.doze(d),
            (Next::Nap(d) | Next::Files(d), _, None) => std::thread::sleep(d),
        }
    }
    0
}

/// What the data cores share with the control side once running.
pub(super) struct Launched {
    pub counters: Vec<Arc<CoreCounters>>,
    pub dns: Arc<DnsRings>,
}

/// Starts one data core per worker lcore of `dev`, each with its flow
/// table, a subscription to `publisher` and a responder that answers DNS
/// from `dns_handle`'s view; returns their counters and the rings for the
/// DNS thread. The hand-off rings
/// (several cores only) live as long as the last data core.
pub(super) fn launch(
    dev: &Devices,
    f: &File,
    publisher: &Publisher,
    dns_handle: &DnsHandle,
    stop: &Arc<AtomicBool>,
) -> Result<Launched, String> {
    let queues = dev.lcores.len() as u16;
    let sleep = Duration::from_micros(f.flows.idle_sleep_us);
    // Packets handed over by another data core announce themselves through
    // no file: with several cores, no sleep may outlast `sleep`.
    let max_sleep =
        if queues > 1 { sleep } else { Duration::from_micros(f.flows.idle_sleep_max_us).max(sleep) };
    let idle = Idle { polls: f.flows.idle_polls, sleep, max_sleep };
    let tap = dev.tap.as_ref().map(|(name, _)| name.as_str());
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let rings = if queues > 1 {
        Some(Rings::new(usize::from(queues), 4096).map_err(|e| e.to_string())?)
    } else {
        None
    };
    // Made even without a [dns] section, so that one added by a reload is
    // served the same way; idle, they cost each poll a look at an empty ring.
    let dns = DnsRings::new().map_err(|e| e.to_string())?;
    let mut counters: Vec<Arc<CoreCounters>> = Vec::new();
    for (i, &lcore) in dev.lcores.iter().enumerate() {
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
        if !dev.port.reta.is_empty() {
            core.rss = Toeplitz::new(&RSS_KEY).map(|toeplitz| Rss { toeplitz, reta: dev.port.reta.clone() });
        }
        counters.push(core.counters.clone());
        let queue = DpdkQueue {
            port: dev.port.id,
            queue: i as u16,
            kernel: dev.kernel_port.as_ref().map(|k| k.id),
            rings: rings.clone(),
            dns: Some(dns.clone()),
        };
        let responder = InlineResponder::new(dns_handle.view.clone(), dns_handle.stats.clone(), dev.port.mac);
        let worker = Worker::new(core, queue, publisher.subscribe()).with_responder(Box::new(responder));
        let mut waker = if f.flows.wake_on_arrival {
            Waker::for_queue(dev.port.if_index, tap, i as u16, queues)
        } else {
            None
        };
        let us = sleep.as_micros();
        match (&waker, f.flows.wake_on_arrival) {
            (Some(w), _) => println!(
                "  data core {i}: idle, sleeps on {} file(s) until a frame arrives, after a {us} us nap while naps gather bursts",
                w.files()
            ),
            (None, false) => {
                println!("  data core {i}: idle, naps {us} us at a time (flows.wake_on_arrival = false)")
            }
            (None, true) => println!("  data core {i}: idle, naps {us} us at a time (no file to wait on)"),
        }
        // After the banner: it counts the queues' files, not the doorbell's.
        if let Some(w) = waker.as_mut() {
            dns.wake_with_answers(w);
        }
        let (stop, hz) = (stop.clone(), dev.eal.tsc_hz());
        dev.eal.launch(lcore, move || data_core(worker, waker, stop, hz, idle)).map_err(|e| e.to_string())?;
    }
    Ok(Launched { counters, dns })
}
