//! gslbd-loadgen: a DPDK traffic generator for the appliance (or any
//! forwarder), normally over `net_memif` to a running gslbd.
//!
//! It plays the clients and the real servers at once: frames go to the
//! VIP with the appliance's MAC as destination, and the appliance forwards
//! them to a real server whose MAC (in the appliance's config) is this
//! port's. What comes back is counted, and every frame carries its send
//! time (TSC) and a sequence number in its payload, so the round trip
//! through the appliance is measured per packet.
//!
//! Modes:
//! - `udp`: N established UDP flows (the first pass opens them), sent round
//!   robin: the steady forwarding rate of a full flow table.
//! - `syn`: a TCP SYN from a client endpoint never seen before, every
//!   packet: the new-connection rate.
//! - `proxy`: the `udp` flows, and the generator also plays the remote
//!   site: a frame that comes back addressed to anyone but a client (the
//!   appliance's proxied copy, remote VIP ← PIP:port) is reflected, source
//!   and destination swapped, as the remote VIP's reply, and the appliance
//!   must translate that back to the client. Every flow's packet is then
//!   forwarded twice, once each way; a MAC-swap forwarder also forwards it
//!   twice (there and, reflected, back), so the two stay comparable.
//! - `tcp`: whole connections (handshake, a data segment each way, FIN from
//!   both ends; `session.rs`), each from a client endpoint never seen before.
//!   The generator answers as the server whatever reaches a real server (or,
//!   proxied, the remote VIP) and as the client whatever reaches a client.
//!   Counted: connections completed a second, and the time from SYN to the
//!   server's FIN at the client.
//!
//! Frames are built in place in the mbufs (`frames.rs`, `session.rs`): the
//! generator must outrun what it measures on the other core of a 2-core
//! machine.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use answers::{queue, send_pending, PENDING};
use clap::{Parser, ValueEnum};
use dataplane::port::{Burst, PacketBuf, Port, BURST};
use dataplane::wire::MacAddr;
use frames::{client, fill, reflect, sequence, stamp, template, to_client};
use histogram::Histogram;
use nic_config::{tsc, DpdkQueue, Eal, EalConfig, EthPort, Mbuf, PortConfig};
use session::{Sessions, Step};

mod answers;
mod frames;
mod histogram;
mod session;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Udp,
    Syn,
    Proxy,
    Tcp,
}

#[derive(Parser)]
#[command(about = "Send flows to a VIP through a DPDK port and measure what comes back")]
struct Args {
    /// The generator's port, e.g. "net_memif0,role=client,socket=/run/gslbd-memif.sock,socket-abstract=no".
    #[arg(long)]
    vdev: String,
    #[arg(long, default_value = "0")]
    lcores: String,
    #[arg(long, default_value = "gslbd-loadgen")]
    file_prefix: String,
    #[arg(long, value_enum, default_value_t = Mode::Udp)]
    mode: Mode,
    #[arg(long, default_value_t = 1_000_000)]
    flows: u32,
    /// Frame size without FCS: 60 is a 64-byte frame on the wire.
    #[arg(long, default_value_t = 60)]
    size: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds sent before measuring (flows opened, caches warm).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Offered load in Mpps; 0 sends as fast as the port takes.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// The appliance's data-port MAC.
    #[arg(long)]
    dst_mac: MacAddr,
    #[arg(long, default_value_t = Ipv4Addr::new(192, 0, 2, 10))]
    vip: Ipv4Addr,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// mbufs in the generator's pool.
    #[arg(long, default_value_t = 65535)]
    mbufs: u32,
    /// `proxy` mode: new frames in flight at most (sent, not yet back at a
    /// client); `tcp` mode: connections open at most. Without a window new
    /// traffic fills the rings and the answers, which need room on the same
    /// rings, are the ones that get refused. Default: 2048 frames, 256
    /// connections (each has a segment in flight, and a larger window only
    /// adds queueing to every connection's time).
    #[arg(long)]
    window: Option<u64>,
    /// Receive bursts taken before sending anything new.
    #[arg(long, default_value_t = 4)]
    drain: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let eal = Eal::init(&EalConfig {
        lcores: a.lcores.clone(),
        file_prefix: a.file_prefix.clone(),
        in_memory: true,
        vdevs: vec![a.vdev.clone()],
        ..EalConfig::default()
    })?;
    let device = a.vdev.split(',').next().unwrap_or_default().to_string();
    let mut pc = PortConfig::new(&device, 1);
    pc.mbufs = a.mbufs;
    let port = EthPort::open(&pc)?;
    let mut q = DpdkQueue { port: port.id, queue: 0, kernel: None, rings: None, dns: None };
    let t = template(&a, port.mac);
    let hz = eal.tsc_hz();
    eprintln!(
        "loadgen: {} on {} ({}), {:?} x {} flows, {}-byte frames to {} at {}",
        a.vdev,
        port.name,
        port.mac,
        a.mode,
        a.flows,
        t.frame.len(),
        a.vip,
        a.dst_mac
    );

    let mut rx = Burst::new();
    let mut tx = Burst::new();
    let mut done = Burst::new();
    // Answers (reflected frames, TCP segments) wait here when the port is
    // full, and go out before anything new: a lost answer is a lost flow.
    let mut replies: VecDeque<Mbuf> = VecDeque::with_capacity(PENDING);
    let mut out_burst = Burst::new();
    let mut reflected = 0u64;
    let sessions =
        Sessions { payload: a.size.saturating_sub(54).max(1), own_mac: port.mac, dst_mac: a.dst_mac };
    // `tcp` mode's window: connections started and not finished, less those
    // written off when nothing finished for a while.
    let (mut started, mut finished, mut written_off, mut rx_all) = (0u64, 0u64, 0u64, 0u64);
    let window = a.window.unwrap_or(if a.mode == Mode::Tcp { 256 } else { 2048 });
    // The window counts by sequence number: frames sent after the newest
    // one back. A lost frame then does not hold a place in it for good (a
    // single-core forwarder keeps order); if nothing at all comes back for
    // 100 µs the window opens anyway.
    let (mut newest_back, mut back_at) = (0u64, tsc());
    let stall = hz / 10_000;
    let mut hist = Histogram::new();
    let (mut sent, mut received, mut tx_full) = (0u64, 0u64, 0u64);
    let (mut flow, mut seq) = (0u32, 0u64);
    let gap = if a.rate > 0.0 { (hz as f64 / (a.rate * 1e6) * BURST as f64) as u64 } else { 0 };
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(a.warmup);
    let end = measure_from + Duration::from_secs(a.seconds);
    let mut measuring = false;
    let mut next_tx = tsc();
    let mut last_report = Instant::now();
    let (mut report_sent, mut report_received) = (0u64, 0u64);
    loop {
        // Take everything waiting (up to a few bursts) before sending more:
        // a forwarder that cannot hand its frames back refuses them, and in
        // `proxy` mode twice as much comes back as was sent.
        let mut now = tsc();
        for _ in 0..a.drain {
            // memif's client posts its receive buffers inside rx_burst: poll
            // first, always.
            q.rx_burst(&mut rx);
            let got = rx.len();
            now = tsc();
            if measuring {
                rx_all += got as u64;
            }
            for mut m in rx.drain(..) {
                if a.mode == Mode::Tcp {
                    let len = m.data().len();
                    let side = to_client(m.data());
                    match sessions.answer(m.room(), len, side) {
                        Step::Answer(n) => {
                            m.set_len(n);
                            queue(&mut replies, m, &mut done, &mut tx_full);
                        }
                        Step::Done { len: n, c0 } => {
                            m.set_len(n);
                            queue(&mut replies, m, &mut done, &mut tx_full);
                            finished += 1;
                            back_at = now;
                            if measuring {
                                received += 1;
                                hist.add(u64::from((now as u32).wrapping_sub(c0)) * 1_000_000_000 / hz);
                            }
                        }
                        Step::Drop => done.push(m),
                    }
                    continue;
                }
                if a.mode == Mode::Proxy && !to_client(m.data()) && reflect(m.room(), port.mac, a.dst_mac) {
                    queue(&mut replies, m, &mut done, &mut tx_full);
                    continue;
                }
                if let Some(t0) = stamp(a.mode, m.data()) {
                    if a.mode == Mode::Proxy {
                        newest_back = newest_back.max(sequence(m.data()) + 1);
                    }
                    back_at = now;
                    if measuring {
                        received += 1;
                        hist.add(now.saturating_sub(t0) * 1_000_000_000 / hz);
                    }
                }
                done.push(m);
            }
            q.free(&mut done);
            let n = send_pending(&mut q, &mut replies, &mut out_burst) as u64;
            if measuring {
                reflected += n;
            }
            if got < BURST {
                break;
            }
        }

        let out = match a.mode {
            Mode::Proxy => seq - newest_back,
            // Saturating: connections written off may still finish.
            Mode::Tcp => started.saturating_sub(finished + written_off),
            Mode::Udp | Mode::Syn => 0,
        };
        if replies.is_empty() && (out < window || now - back_at > stall) && now >= next_tx {
            if out >= window {
                back_at = now; // opened by the stall: the next wait starts now
                written_off = started - finished;
            }
            next_tx = if gap > 0 { next_tx.max(now.saturating_sub(gap * 4)) + gap } else { now };
            while tx.len() < BURST {
                let Some(mut m) = port.alloc() else { break };
                let len = match a.mode {
                    Mode::Tcp => sessions.syn(m.room(), client(flow), (a.vip, a.port), now as u32),
                    _ => fill(&t, a.mode, m.room(), flow, now, seq),
                };
                m.set_len(len);
                tx.push(m);
                seq += 1;
                flow = match a.mode {
                    Mode::Udp | Mode::Proxy => (flow + 1) % a.flows.max(1),
                    Mode::Syn | Mode::Tcp => flow.wrapping_add(1),
                };
            }
            let n = tx.len() as u64;
            let lost = q.tx_burst(&mut tx) as u64;
            started += n - lost;
            if measuring {
                sent += n - lost;
                tx_full += lost;
            }
        }

        let wall = Instant::now();
        if !measuring && wall >= measure_from {
            measuring = true;
            (report_sent, report_received) = (0, 0);
            last_report = wall;
        }
        if measuring && wall.duration_since(last_report) >= Duration::from_secs(1) {
            let secs = wall.duration_since(last_report).as_secs_f64();
            eprintln!(
                "  tx {:.2} Mpps  rx {:.2} Mpps",
                (sent - report_sent) as f64 / secs / 1e6,
                (received - report_received) as f64 / secs / 1e6
            );
            (report_sent, report_received, last_report) = (sent, received, wall);
        }
        if wall >= end {
            break;
        }
    }
    // Frames still in flight when the clock stopped are not losses.
    let drain = Instant::now() + Duration::from_millis(200);
    while Instant::now() < drain {
        q.rx_burst(&mut rx);
        received += rx
            .iter()
            .filter(|m| stamp(a.mode, m.data()).is_some() && (a.mode != Mode::Proxy || to_client(m.data())))
            .count() as u64;
        q.free(&mut rx);
    }
    let secs = a.seconds as f64;
    let loss = if sent > 0 { 100.0 * sent.saturating_sub(received) as f64 / sent as f64 } else { 0.0 };
    let us = |v: Option<u64>| v.map_or("-".to_string(), |ns| format!("{:.1}", ns as f64 / 1e3));
    println!(
        "result mode={:?} flows={} size={} sent_mpps={:.3} received_mpps={:.3} reflected_mpps={:.3} \
         forwarded_mpps={:.3} connections_mps={:.3} loss_pct={:.2} tx_full={} p50_us={} p99_us={} max_us={:.1}",
        a.mode,
        a.flows,
        t.frame.len(),
        sent as f64 / secs / 1e6,
        received as f64 / secs / 1e6,
        reflected as f64 / secs / 1e6,
        rx_all as f64 / secs / 1e6,
        if a.mode == Mode::Tcp { received as f64 / secs / 1e6 } else { 0.0 },
        loss,
        tx_full,
        us(hist.quantile(0.5)),
        us(hist.quantile(0.99)),
        hist.max_ns as f64 / 1e3
    );
    drop(port);
    drop(eal);
    Ok(())
}
