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
//! Frames are built in place in the mbufs from one template (copy, patch
//! the client endpoint and the IPv4 checksum): the generator must outrun
//! what it measures on the other core of a 2-core machine.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use dataplane::checksum;
use dataplane::port::{Burst, PacketBuf, Port, BURST};
use dataplane::wire::MacAddr;
use nic_config::{tsc, DpdkQueue, Eal, EalConfig, EthPort, Mbuf, PortConfig};
use session::{Sessions, Step};

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

const ETH: usize = 14;
const IP: usize = ETH;
const L4: usize = ETH + 20;
/// Where the timestamp and sequence number go: after a UDP header, or at
/// the same offset inside a TCP header's options-free SYN (its sequence
/// number and ack fields carry them instead).
const UDP_STAMP: usize = L4 + 8;

/// Client endpoint `i`: 100.64.0.0/10 by 16 ports each (flow order is the
/// caller's). Nothing else the generator sees lives in that prefix.
fn client(i: u32) -> (Ipv4Addr, u16) {
    let i = i & 0x03ff_ffff;
    (Ipv4Addr::from(0x6440_0000 | (i >> 4)), 1024 + (i & 15) as u16 * 4001)
}

/// Whether a received frame is on its way to a client (else, in `proxy`
/// mode, it is for the remote site to answer).
#[inline]
fn to_client(f: &[u8]) -> bool {
    f.len() >= IP + 20
        && u32::from_be_bytes([f[IP + 16], f[IP + 17], f[IP + 18], f[IP + 19]]) >> 22 == 0x6440_0000 >> 22
}

/// Turns a forwarded UDP frame into the reply its destination would send:
/// addresses and ports swapped, which changes neither checksum (both are
/// sums over the same words). False if it is not a UDP/IPv4 frame.
#[inline]
fn reflect(f: &mut [u8], src_mac: MacAddr, dst_mac: MacAddr) -> bool {
    if f.len() < L4 + 8 || f[12..14] != [0x08, 0x00] || f[IP] != 0x45 || f[IP + 9] != 17 {
        return false;
    }
    f[0..6].copy_from_slice(&dst_mac.0);
    f[6..12].copy_from_slice(&src_mac.0);
    let (a, b) = f[IP + 12..IP + 20].split_at_mut(4);
    a.swap_with_slice(b);
    let (a, b) = f[L4..L4 + 4].split_at_mut(2);
    a.swap_with_slice(b);
    true
}

struct Template {
    frame: Vec<u8>,
    /// The IPv4 header checksum's one's-complement sum without the source address.
    ip_sum: u32,
}

fn template(a: &Args, src_mac: MacAddr) -> Template {
    let tcp = a.mode == Mode::Syn;
    let size = if tcp { a.size.max(L4 + 20) } else { a.size.max(UDP_STAMP + 16) };
    let mut f = vec![0u8; size];
    f[0..6].copy_from_slice(&a.dst_mac.0);
    f[6..12].copy_from_slice(&src_mac.0);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (size - ETH) as u16;
    f[IP] = 0x45;
    f[IP + 2..IP + 4].copy_from_slice(&ip_len.to_be_bytes());
    f[IP + 8] = 64;
    f[IP + 9] = if tcp { 6 } else { 17 };
    f[IP + 16..IP + 20].copy_from_slice(&a.vip.octets());
    f[L4 + 2..L4 + 4].copy_from_slice(&a.port.to_be_bytes());
    if tcp {
        f[L4 + 12] = 5 << 4;
        f[L4 + 13] = 0x02; // SYN
        f[L4 + 14..L4 + 16].copy_from_slice(&64240u16.to_be_bytes());
    } else {
        f[L4 + 4..L4 + 6].copy_from_slice(&(ip_len - 20).to_be_bytes());
        // UDP checksum 0: none (RFC 768), so the payload can change freely.
    }
    let ip_sum = checksum::sum(&f[IP..IP + 20]);
    Template { frame: f, ip_sum }
}

/// Writes flow `i`'s packet stamped `now`, `seq` into `buf`; returns its length.
#[inline]
fn fill(t: &Template, mode: Mode, buf: &mut [u8], i: u32, now: u64, seq: u64) -> usize {
    let n = t.frame.len();
    let f = &mut buf[..n];
    f.copy_from_slice(&t.frame);
    let (src, sport) = client(i);
    let s = src.octets();
    f[IP + 12..IP + 16].copy_from_slice(&s);
    let sum =
        t.ip_sum + u32::from(u16::from_be_bytes([s[0], s[1]])) + u32::from(u16::from_be_bytes([s[2], s[3]]));
    f[IP + 10..IP + 12].copy_from_slice(&checksum::finish(sum).to_be_bytes());
    f[L4..L4 + 2].copy_from_slice(&sport.to_be_bytes());
    match mode {
        Mode::Udp | Mode::Proxy => {
            f[UDP_STAMP..UDP_STAMP + 8].copy_from_slice(&now.to_le_bytes());
            f[UDP_STAMP + 8..UDP_STAMP + 16].copy_from_slice(&seq.to_le_bytes());
        }
        // (`tcp` mode builds its segments in `session.rs`, not here.)
        Mode::Syn | Mode::Tcp => {
            // The stamp rides in the sequence and ack numbers; the checksum
            // covers them, so it is computed last.
            f[L4 + 4..L4 + 12].copy_from_slice(&now.to_le_bytes());
            let dst = Ipv4Addr::new(f[IP + 16], f[IP + 17], f[IP + 18], f[IP + 19]);
            let len = (n - L4) as u16;
            let c = checksum::finish(checksum::pseudo_header(src, dst, 6, len) + checksum::sum(&f[L4..]));
            f[L4 + 16..L4 + 18].copy_from_slice(&c.to_be_bytes());
        }
    }
    n
}

/// The send time a forwarded frame carries, if it is one of ours.
#[inline]
fn stamp(mode: Mode, f: &[u8]) -> Option<u64> {
    if f.len() < L4 + 20 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let at = match (mode, f[IP + 9]) {
        (Mode::Udp | Mode::Proxy, 17) => UDP_STAMP,
        (Mode::Syn, 6) => L4 + 4,
        _ => return None,
    };
    f.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

/// Answers that may wait for room on the port.
const PENDING: usize = 8192;

/// Queues an answer, or frees it (counted) if too many wait already.
fn queue(pending: &mut VecDeque<Mbuf>, m: Mbuf, free: &mut Burst<Mbuf>, lost: &mut u64) {
    if pending.len() < PENDING {
        pending.push_back(m);
    } else {
        *lost += 1;
        free.push(m);
    }
}

/// Sends waiting answers in order until the port refuses one; returns how
/// many went.
fn send_pending(q: &mut DpdkQueue, pending: &mut VecDeque<Mbuf>, out: &mut Burst<Mbuf>) -> usize {
    let mut sent = 0;
    while !pending.is_empty() {
        while !out.is_full() {
            match pending.pop_front() {
                Some(m) => out.push(m),
                None => break,
            }
        }
        sent += q.tx_keep(out);
        if !out.is_empty() {
            // The port is full: what it refused goes back to the front.
            while let Some(m) = out.pop() {
                pending.push_front(m);
            }
            break;
        }
    }
    sent
}

/// The sequence number a stamped UDP frame carries (see `fill`).
#[inline]
fn sequence(f: &[u8]) -> u64 {
    f.get(UDP_STAMP + 8..UDP_STAMP + 16).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

/// Latency in 10 ns buckets up to 1 ms, and a count of the rest.
struct Histogram {
    buckets: Vec<u64>,
    over: u64,
    n: u64,
    max_ns: u64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram { buckets: vec![0; 100_000], over: 0, n: 0, max_ns: 0 }
    }
    fn add(&mut self, ns: u64) {
        self.n += 1;
        self.max_ns = self.max_ns.max(ns);
        match self.buckets.get_mut((ns / 10) as usize) {
            Some(b) => *b += 1,
            None => self.over += 1,
        }
    }
    fn quantile(&self, q: f64) -> Option<u64> {
        let want = ((self.n as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b;
            if seen >= want.max(1) {
                return Some(i as u64 * 10 + 5);
            }
        }
        (self.n > 0).then_some(self.max_ns)
    }
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
    let mut q = DpdkQueue { port: port.id, queue: 0, kernel: None, rings: None };
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
            Mode::Tcp => started - finished - written_off,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(mode: &str) -> Args {
        Args::parse_from(["loadgen", "--vdev", "net_null0", "--dst-mac", "02:00:00:00:00:02", "--mode", mode])
    }

    #[test]
    fn a_reflected_frame_is_the_reply_with_valid_checksums() {
        let a = args("proxy");
        let t = template(&a, MacAddr([2, 0, 0, 0, 0, 1]));
        let mut f = vec![0u8; 128];
        let n = fill(&t, Mode::Proxy, &mut f, 77, 1234, 5);
        let sent = f[..n].to_vec();
        assert!(!to_client(&sent), "a client's frame is addressed to the VIP");
        assert!(reflect(&mut f[..n], MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 9])));
        let back = &f[..n];
        assert!(to_client(back), "the reply goes to the client");
        assert_eq!(back[IP + 12..IP + 16], sent[IP + 16..IP + 20]);
        assert_eq!(back[IP + 16..IP + 20], sent[IP + 12..IP + 16]);
        assert_eq!(back[L4..L4 + 2], sent[L4 + 2..L4 + 4]);
        assert_eq!(back[L4 + 2..L4 + 4], sent[L4..L4 + 2]);
        assert_eq!(back[0..6], [2, 0, 0, 0, 0, 9]);
        assert_eq!(checksum::finish(checksum::sum(&back[IP..IP + 20])), 0, "IPv4 header checksum");
        assert_eq!(stamp(Mode::Proxy, back), Some(1234));
        assert_eq!(sequence(back), 5);
    }

    #[test]
    fn only_udp_is_reflected() {
        let a = args("syn");
        let t = template(&a, MacAddr([2, 0, 0, 0, 0, 1]));
        let mut f = vec![0u8; 128];
        let n = fill(&t, Mode::Syn, &mut f, 1, 1, 1);
        let before = f[..n].to_vec();
        assert!(!reflect(&mut f[..n], MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 9])));
        assert_eq!(f[..n], before[..], "left untouched");
    }
}
