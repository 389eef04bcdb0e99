//! Data-path benchmark: in memory, established local-SLB traffic,
//! established proxy-IP traffic both ways, and new connections, each beside a
//! baseline that only swaps MAC addresses on the very same frames. One data
//! core by default; with `--cores N` the established scenarios run N cores
//! at once, each with its own table, port and share of the flows (and of the
//! PIP ports), as the appliance's cores do: the aggregate rate shows how the
//! data path scales when nothing is shared.
//!
//! Run with `cargo run --release -p gslbd-perf --bin dataplane-bench`.

mod bench_port;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bench_port::BenchPort;
use clap::Parser;
use dataplane::lab::frames::tcp;
use dataplane::lab::seed::{self, CLIENT_MAC, POP3, SITE1, SITE2};
use dataplane::pipeline::{client_owner, Action, Core, CoreConfig};
use dataplane::port::{Burst, PacketBuf, Port};
use dataplane::snapshot::{Health, Member, Method, Publisher, RealServer, Snapshot};
use dataplane::wire::tcp::flags::{ACK, SYN};
use dataplane::wire::MacAddr;
use dataplane::worker::Worker;
use gslbd_perf::{client_addr, random_order, PAYLOAD};

#[derive(Parser)]
#[command(about = "Benchmark the gslbd data path on one core, in memory")]
struct Args {
    /// Active flows in the table.
    #[arg(long, default_value_t = 1_000_000)]
    flows: u32,
    /// Packets per timed run.
    #[arg(long, default_value_t = 20_000_000)]
    packets: u64,
    /// Timed runs per scenario (the best is reported).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Run only the scenarios whose name contains this (local, proxy, new).
    #[arg(long, default_value = "")]
    only: String,
    /// Data cores (threads) for the established scenarios.
    #[arg(long, default_value_t = 1)]
    cores: u32,
    /// Flow capacity of each core's table; by default its share of the
    /// flows at under 90 % load. A larger one spreads a few hot flows over
    /// a table as big as an appliance's (1.5M flows in the Pktgen bench).
    #[arg(long)]
    capacity: Option<u32>,
}

/// Site 1 with 16 real servers and enough PIPs for every proxied flow.
fn snapshot(flows: u32) -> Snapshot {
    let mut s = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin);
    s.real_servers = (0..16)
        .map(|i| RealServer {
            name: format!("rs{i}"),
            addr: Ipv4Addr::new(10, 1, 0, 100 + i),
            mac: MacAddr([2, 0, 0, 1, 0, 100 + i]),
            health: Health::Up,
            max_conns: 0,
        })
        .collect();
    s.groups[0].members = (0..16).map(|i| Member { server: i, weight: 1 }).collect();
    let pips = flows / 60_000 + 1;
    s.pips = (0..pips).map(|i| Ipv4Addr::from(u32::from(SITE1.pip) + i)).collect();
    s
}

fn core(snap: &Snapshot, capacity: u32, id: u32, cores: u32) -> Core {
    let config = CoreConfig { id, cores, flow_capacity: capacity, ..CoreConfig::default() };
    Core::with_port_share(config, snap, 0).expect("flow table memory")
}

/// Runs `frame` through `core` and returns what left.
fn through(core: &mut Core, snap: &Snapshot, frame: &[u8]) -> Vec<u8> {
    let mut buf = frame.to_vec();
    buf.resize(256, 0);
    match core.process(snap, &mut buf, frame.len(), 0) {
        Action::Tx(n) => buf[..usize::from(n)].to_vec(),
        other => panic!("setup packet not forwarded: {other:?}"),
    }
}

/// A client's frame and the reply to it.
type Pair = (Vec<u8>, Vec<u8>);

/// Opens connections `flows` (handshake through the core); returns for each
/// flow the frame a client sends and the frame its server (or remote site) replies with.
fn establish(core: &mut Core, snap: &Snapshot, flows: impl Iterator<Item = u32>) -> Vec<Pair> {
    let vip = SITE1.vip_port(POP3);
    flows
        .map(|i| {
            let c = client_addr(i);
            let out = through(core, snap, &tcp(CLIENT_MAC, SITE1.mac, c, vip, SYN, 1, 0, b""));
            let fwd = dataplane::lab::frames::Summary::parse(&out).expect("forwarded SYN");
            let synack = tcp(fwd.dst_mac, SITE1.mac, fwd.dst, fwd.src, SYN | ACK, 9, 2, b"");
            through(core, snap, &synack);
            let ack = tcp(CLIENT_MAC, SITE1.mac, c, vip, ACK, 2, 10, PAYLOAD);
            through(core, snap, &ack);
            let reply = tcp(fwd.dst_mac, SITE1.mac, fwd.dst, fwd.src, ACK, 10, 8, PAYLOAD);
            (ack, reply)
        })
        .collect()
}

/// Polls until the port has handed out its budget; returns the elapsed time.
fn drive(worker: &mut Worker<BenchPort>, packets: u64) -> Duration {
    worker.port.budget = packets;
    let start = Instant::now();
    loop {
        let now = start.elapsed().as_millis() as u64;
        if worker.poll(now) == 0 {
            break;
        }
    }
    start.elapsed()
}

/// The baseline: the same port and frames, and only a MAC swap per packet.
fn macswap(port: &mut BenchPort, packets: u64) -> Duration {
    port.budget = packets;
    let mut burst: Burst<dataplane::port::MemBuf> = Burst::new();
    let start = Instant::now();
    loop {
        port.rx_burst(&mut burst);
        if burst.is_empty() {
            break;
        }
        for b in burst.iter_mut() {
            let f = b.room();
            let mut dst = [0u8; 6];
            dst.copy_from_slice(&f[0..6]);
            f.copy_within(6..12, 0);
            f[6..12].copy_from_slice(&dst);
        }
        port.tx_burst(&mut burst);
    }
    start.elapsed()
}

struct Row {
    name: &'static str,
    cores: usize,
    gslbd: Duration,
    baseline: Duration,
    packets: u64,
}

fn mpps(packets: u64, d: Duration) -> f64 {
    packets as f64 / d.as_secs_f64() / 1e6
}

fn report(rows: &[Row]) {
    println!(
        "{:<34} {:>5} {:>10} {:>9} {:>14} {:>9} {:>7}",
        "scenario", "cores", "gslbd Mpps", "ns/pkt", "macswap Mpps", "ns/pkt", "ratio"
    );
    for r in rows {
        let (a, b) = (mpps(r.packets, r.gslbd), mpps(r.packets, r.baseline));
        println!(
            "{:<34} {:>5} {:>10.2} {:>9.1} {:>14.2} {:>9.1} {:>7.2}",
            r.name,
            r.cores,
            a,
            1e3 / a,
            b,
            1e3 / b,
            a / b
        );
    }
    // Scaling, from sets measured turn about in one run.
    for pair in rows.windows(2).filter(|w| w[0].name == w[1].name && w[1].cores == 1) {
        let (many, one) = (mpps(pair[0].packets, pair[0].gslbd), mpps(pair[1].packets, pair[1].gslbd));
        println!("{}: {} cores / 1 core = {:.2}", pair[0].name, pair[0].cores, many / one);
    }
}

/// Times gslbd and the baseline on the same frames, alternating, best of
/// `rounds`. Each set is a number of cores, each core replaying its own
/// frames on its own thread, timed from a common start until the last core
/// is done; the sets take turns in every round, so on a noisy machine they
/// are compared under the same conditions.
fn established(
    name: &'static str,
    snap: Snapshot,
    sets: Vec<Vec<(Core, Vec<Vec<u8>>)>>,
    args: &Args,
) -> Vec<Row> {
    let publisher = Publisher::new(snap);
    struct Set {
        workers: Vec<Worker<BenchPort>>,
        bases: Vec<BenchPort>,
        per_core: u64,
        best: Duration,
        best_base: Duration,
    }
    let mut sets: Vec<Set> = sets
        .into_iter()
        .map(|cores| {
            let per_core = args.packets / cores.len() as u64;
            let workers: Vec<Worker<BenchPort>> = cores
                .into_iter()
                .map(|(core, frames)| Worker::new(core, BenchPort::new(&frames), publisher.subscribe()))
                .collect();
            let bases = workers.iter().map(|w| w.port.clone_frames()).collect();
            Set { workers, bases, per_core, best: Duration::MAX, best_base: Duration::MAX }
        })
        .collect();
    for _ in 0..args.rounds {
        for set in sets.iter_mut() {
            let per_core = set.per_core;
            let t = parallel(
                &mut set.workers,
                |w| {
                    w.port.rewind();
                    w.port.budget = per_core;
                },
                |w| {
                    drive(w, per_core);
                },
            );
            set.best = set.best.min(t);
            let t = parallel(
                &mut set.bases,
                |p| p.rewind(),
                |p| {
                    macswap(p, per_core);
                },
            );
            set.best_base = set.best_base.min(t);
        }
    }
    let mut rows = Vec::new();
    for set in &sets {
        let n = set.workers.len();
        for w in &set.workers {
            let lost = w.port.freed;
            assert_eq!(lost, 0, "{name}: {lost} packets dropped: {:?}", w.core.counters.nonzero());
        }
        if n > 1 {
            // Every packet, replies to PIPs included, met its flow on the
            // core it arrived at: nothing went through a hand-off ring.
            let crossed: u64 = set
                .workers
                .iter()
                .flat_map(|w| w.core.counters.nonzero())
                .filter(|(k, _)| *k == "handed_off")
                .map(|(_, v)| v)
                .sum();
            println!("{name}, {n} cores: {crossed} packets handed between cores");
        }
        rows.push(Row {
            name,
            cores: n,
            gslbd: set.best,
            baseline: set.best_base,
            packets: set.per_core * n as u64,
        });
    }
    rows
}

/// Runs `run` on every item at once, one thread each, after `prepare`;
/// returns the time from their common start until the last one is done.
fn parallel<T: Send>(items: &mut [T], prepare: impl Fn(&mut T), run: impl Fn(&mut T) + Sync) -> Duration {
    items.iter_mut().for_each(&prepare);
    if items.len() == 1 {
        let start = Instant::now();
        run(&mut items[0]);
        return start.elapsed();
    }
    let barrier = std::sync::Barrier::new(items.len() + 1);
    std::thread::scope(|s| {
        for item in items.iter_mut() {
            let (barrier, run) = (&barrier, &run);
            s.spawn(move || {
                barrier.wait();
                run(item);
            });
        }
        barrier.wait();
        Instant::now()
    })
    .elapsed()
}

fn main() {
    let args = Args::parse();
    let n = args.flows;
    let order = random_order(n);
    let mut rows = Vec::new();

    let cores = args.cores.max(1);
    // Each core's table holds its share of the flows at under 90 % load.
    // Flows are opened in ascending order and visited in random order, so
    // table entries are not visited in the order they were laid out.
    let build_cores = |cores: u32, snap: &Snapshot, frame: &dyn Fn(usize, &Pair) -> Vec<u8>| {
        let capacity = args.capacity.unwrap_or((n + n / 8) / cores + 1024);
        (0..cores)
            .map(|id| {
                let mut c = core(snap, capacity, id, cores);
                // The flows this core owns by the appliance's rule, in
                // ascending order; `slot[i]` is flow i's place among them.
                let mine = |i: &u32| {
                    let c = client_addr(*i);
                    client_owner(u32::from(*c.ip()), c.port(), cores) == id
                };
                let owned: Vec<u32> = (0..n).filter(mine).collect();
                let mut slot = vec![usize::MAX; n as usize];
                owned.iter().enumerate().for_each(|(k, &i)| slot[i as usize] = k);
                let pairs = establish(&mut c, snap, owned.iter().copied());
                let frames: Vec<Vec<u8>> = order
                    .iter()
                    .filter(|i| mine(i))
                    .enumerate()
                    .map(|(k, &i)| frame(k, &pairs[slot[i as usize]]))
                    .collect();
                (c, frames)
            })
            .collect::<Vec<_>>()
    };
    // With more than one core, one core runs beside them, turn about.
    let build = |snap: &Snapshot, frame: &dyn Fn(usize, &Pair) -> Vec<u8>| {
        let mut sets = vec![build_cores(cores, snap, frame)];
        if cores > 1 {
            sets.push(build_cores(1, snap, frame));
        }
        sets
    };
    if cores > 1 {
        println!("{cores} data cores, one thread each, each with 1/{cores} of the flows and of the packets");
    }

    if "local".contains(args.only.as_str()) {
        let snap = snapshot(n).build().expect("snapshot");
        let built = build(&snap, &|_, p| p.0.clone());
        let huge = std::fs::read_to_string("/proc/self/smaps_rollup")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("AnonHugePages"))
                    .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
            })
            .unwrap_or_default();
        println!("transparent huge pages in use: {huge} kB");
        let flows: u32 = built[0].iter().map(|(c, _)| c.flows.len()).sum();
        println!(
            "{} flows, {} bytes of table per flow, {} packets per run",
            flows,
            built[0][0].0.flows.bytes_per_flow(),
            args.packets
        );
        rows.extend(established("established local SLB (client->VIP)", snap, built, &args));
    }
    if "proxy".contains(args.only.as_str()) {
        let mut snap = snapshot(n);
        snap.real_servers.iter_mut().for_each(|r| r.health = Health::Down);
        let snap = snap.build().expect("snapshot");
        let built = build(&snap, &|k, p| if k % 2 == 0 { p.0.clone() } else { p.1.clone() });
        rows.extend(established("established proxy-IP (both ways)", snap, built, &args));
    }
    if "new".contains(args.only.as_str()) {
        // New connections: each run needs an empty table, so it is rebuilt per round.
        let snap = snapshot(n).build().expect("snapshot");
        let vip = SITE1.vip_port(POP3);
        let syns: Vec<Vec<u8>> = order
            .iter()
            .map(|&i| tcp(CLIENT_MAC, SITE1.mac, client_addr(i), vip, SYN, 1, 0, PAYLOAD))
            .collect();
        let publisher = Publisher::new(snap.clone());
        let mut base = BenchPort::new(&syns);
        let (mut best, mut best_base) = (Duration::MAX, Duration::MAX);
        for _ in 0..args.rounds {
            let mut worker =
                Worker::new(core(&snap, n + n / 8, 0, 1), BenchPort::new(&syns), publisher.subscribe());
            best = best.min(drive(&mut worker, u64::from(n)));
            assert_eq!(worker.core.flows.len(), n, "{:?}", worker.core.counters.nonzero());
            base.rewind();
            best_base = best_base.min(macswap(&mut base, u64::from(n)));
        }
        rows.push(Row {
            name: "new connections (SYN->flow)",
            cores: 1,
            gslbd: best,
            baseline: best_base,
            packets: u64::from(n),
        });
    }
    report(&rows);
}
