//! Arbitrary bytes through one data core's `Core::process`, and through every
//! packet view's `new_checked` and accessors.
//!
//! Input: one control byte, then the frame. Control bits 0-1 pick the snapshot
//! the frame is processed under (0: site 1 as seeded; 1: its real servers down,
//! so new connections are proxied; 2: servers down, remote site unreachable and
//! POP3 flows dropped on server failure, so new connections are refused; 3: as
//! 0); bit 2 lets five seconds pass (flows age) first.
//!
//! The core persists across inputs (it starts with one local and one proxied
//! flow open) and is rebuilt every `RESET_EVERY` inputs. Besides "no panic",
//! each input checks: a sent frame comes from the appliance's MAC and, if
//! IPv4, has a valid header checksum; PIP ports in use equal proxied flows;
//! connection slots held equal local flows.
//!
//! With `GSLBD_FUZZ_WRITE_SEEDS=DIR` set, the binary writes a seed corpus of
//! valid frames (each prefixed with its control byte) into DIR and exits.

#![no_main]

use std::cell::RefCell;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};

use dataplane::flow::Path;
use dataplane::lab::frames::{arp_request, icmp_echo, tcp, udp, Summary};
use dataplane::lab::seed::{self, CLIENT, CLIENT_MAC, CLIENT_PORT, DNS, POP3, SITE1, SITE2};
use dataplane::pipeline::{Action, Core, CoreConfig};
use dataplane::snapshot::{DownPolicy, Health, Method, Snapshot};
use dataplane::wire::tcp::flags::{ACK, PSH, SYN};
use dataplane::wire::{
    ArpOp, ArpPacket, EtherType, EthernetFrame, Icmpv4Packet, Ipv4Packet, TcpPacket, UdpPacket,
};
use libfuzzer_sys::fuzz_target;

const FLOW_CAPACITY: u32 = 1024;
/// PIP ports this core owns: few, so exhaustion is reachable.
const PIP_PORTS: std::ops::Range<u16> = 1024..1280;
/// Room after the frame, for replies that grow (an ICMP error quoting the packet).
const ROOM: usize = 128;
const RESET_EVERY: u64 = 50_000;
const AGE_STEP_MS: u64 = 5_000;

struct State {
    core: Core,
    snaps: [Snapshot; 3],
    current: usize,
    now_ms: u64,
    inputs: u64,
    buf: Vec<u8>,
    /// The open flows' first packets' answers, for the seed corpus.
    local_server: SocketAddrV4,
    pip_port: u16,
}

fn snapshots() -> [Snapshot; 3] {
    let base = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin);
    let mut down = base.clone();
    down.real_servers.iter_mut().for_each(|r| r.health = Health::Down);
    let mut refuse = down.clone();
    refuse.sites[0].reachable = false;
    refuse.services[0].on_server_down = DownPolicy::Drop;
    [base, down, refuse].map(|s| s.build().expect("fuzz snapshot"))
}

fn syn(port: u16) -> Vec<u8> {
    tcp(CLIENT_MAC, SITE1.mac, SocketAddrV4::new(CLIENT, port), SITE1.vip_port(POP3), SYN, 1, 0, b"")
}

impl State {
    fn new() -> State {
        let snaps = snapshots();
        let config = CoreConfig { flow_capacity: FLOW_CAPACITY, ..Default::default() };
        let core = Core::new(config, &snaps[0], 0, |_, port| PIP_PORTS.contains(&port)).expect("data core");
        let mut s = State {
            core,
            snaps,
            current: 0,
            now_ms: 0,
            inputs: 0,
            buf: Vec::with_capacity(4096),
            local_server: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            pip_port: 0,
        };
        // One flow to a local real server, one through the PIP to site 2.
        let local = s.open(0, &syn(CLIENT_PORT));
        s.local_server = local.dst;
        let proxied = s.open(1, &syn(CLIENT_PORT + 1));
        assert_eq!(*proxied.src.ip(), SITE1.pip);
        s.pip_port = proxied.src.port();
        s.select(0);
        s
    }

    fn open(&mut self, snap: usize, frame: &[u8]) -> Summary {
        match self.process(snap, frame) {
            Action::Tx(n) => Summary::parse(&self.buf[..usize::from(n)]).expect("rewritten SYN"),
            a => panic!("setting up a flow: {a:?}"),
        }
    }

    fn select(&mut self, snap: usize) {
        if snap != self.current {
            self.current = snap;
            self.core.on_snapshot(&self.snaps[snap]);
        }
    }

    fn process(&mut self, snap: usize, frame: &[u8]) -> Action {
        self.select(snap);
        self.buf.clear();
        self.buf.extend_from_slice(frame);
        self.buf.resize(frame.len() + ROOM, 0xa5);
        let snap = &self.snaps[self.current];
        let action = self.core.process(snap, &mut self.buf, frame.len(), self.now_ms);
        if let Action::Tx(n) = action {
            check_sent(&self.buf[..usize::from(n)], snap);
        }
        action
    }

    /// What the core holds adds up: PIP ports to proxied flows, connection
    /// slots to local ones.
    fn check_books(&self) {
        let core = &self.core;
        let (mut proxied, mut local) = (0usize, 0u32);
        core.flows.for_each(|_, f| match f.path() {
            Path::Proxy => proxied += 1,
            Path::Local => local += 1,
        });
        assert_eq!(core.pips.in_use(), proxied, "PIP ports leaked or lost");
        let slots: u32 = (0..self.snaps[0].real_servers.len() as u16).map(|i| core.select.conns(i)).sum();
        assert_eq!(slots, local, "connection slots out of step with local flows");
        assert!(core.flows.len() <= core.flows.capacity());
    }
}

/// A frame the core sends: from the appliance, and a sound IPv4 header if IPv4.
fn check_sent(out: &[u8], snap: &Snapshot) {
    let eth = EthernetFrame::new_checked(out).expect("sent frame parses");
    assert_eq!(eth.src_addr(), snap.mac, "sent from another MAC");
    match eth.ethertype() {
        EtherType::IPV4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).expect("sent IPv4 parses");
            assert!(ip.verify_checksum(), "sent IPv4 header checksum is wrong");
            assert!(ip.ttl() > 0, "sent with TTL 0");
        }
        EtherType::ARP => {
            let arp = ArpPacket::new_checked(eth.payload()).expect("sent ARP parses");
            assert_eq!(arp.operation(), ArpOp::REPLY);
            assert_eq!(arp.sender_hw(), snap.mac);
        }
        t => panic!("sent ethertype {t:#06x}"),
    }
}

/// Every view over `bytes`: parse, read every field, and check that filling a
/// checksum makes it verify.
fn views(bytes: &[u8]) {
    let (a, b) = match bytes {
        [a0, a1, a2, a3, b0, b1, b2, b3, ..] => {
            (Ipv4Addr::new(*a0, *a1, *a2, *a3), Ipv4Addr::new(*b0, *b1, *b2, *b3))
        }
        _ => (Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST),
    };
    if let Ok(e) = EthernetFrame::new_checked(bytes) {
        black_box((e.dst_addr(), e.src_addr(), e.vlan_tci(), e.ethertype()));
        assert_eq!(e.header_len() + e.payload().len(), bytes.len());
        black_box(e.as_bytes());
    }
    if let Ok(p) = Ipv4Packet::new_checked(bytes) {
        black_box((p.version(), p.header_len(), p.tos(), p.total_len(), p.ident()));
        black_box((p.flags_and_frag(), p.dont_frag(), p.more_frags(), p.frag_offset()));
        black_box((p.is_fragment(), p.ttl(), p.protocol(), p.checksum()));
        black_box((p.src_addr(), p.dst_addr(), p.options(), p.payload()));
        black_box(p.verify_checksum());
        let mut copy = bytes.to_vec();
        let mut q = Ipv4Packet::new_unchecked(&mut copy[..]);
        q.fill_checksum();
        black_box(q.payload_mut());
        assert!(q.verify_checksum(), "IPv4 fill_checksum does not verify");
    }
    if let Ok(t) = TcpPacket::new_checked(bytes) {
        black_box((t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()));
        black_box((t.header_len(), t.flags(), t.window_len(), t.checksum()));
        black_box((t.urgent_at(), t.options(), t.payload()));
        black_box(t.verify_checksum(a, b));
        let mut copy = bytes.to_vec();
        let mut u = TcpPacket::new_unchecked(&mut copy[..]);
        u.fill_checksum(a, b);
        black_box(u.payload_mut());
        assert!(u.verify_checksum(a, b), "TCP fill_checksum does not verify");
    }
    if let Ok(u) = UdpPacket::new_checked(bytes) {
        black_box((u.src_port(), u.dst_port(), u.len(), u.checksum(), u.payload()));
        black_box(u.verify_checksum(a, b));
        let mut copy = bytes.to_vec();
        let mut v = UdpPacket::new_unchecked(&mut copy[..]);
        v.fill_checksum(a, b);
        black_box(v.payload_mut());
        assert!(v.verify_checksum(a, b), "UDP fill_checksum does not verify");
        assert_ne!(v.checksum(), 0, "a computed UDP checksum must not read as none");
    }
    if let Ok(i) = Icmpv4Packet::new_checked(bytes) {
        black_box((i.msg_type(), i.code(), i.checksum(), i.echo_ident()));
        black_box((i.echo_seq_no(), i.next_hop_mtu(), i.data()));
        black_box(i.verify_checksum());
        let mut copy = bytes.to_vec();
        let mut j = Icmpv4Packet::new_unchecked(&mut copy[..]);
        j.fill_checksum();
        black_box(j.data_mut());
        assert!(j.verify_checksum(), "ICMP fill_checksum does not verify");
    }
    if let Ok(r) = ArpPacket::new_checked(bytes) {
        black_box((r.hardware_type(), r.protocol_type(), r.hardware_len()));
        black_box((r.protocol_len(), r.operation(), r.sender_hw(), r.sender_ip()));
        black_box((r.target_hw(), r.target_ip()));
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::new());
}

/// Valid frames the fuzzer starts from, each with its control byte.
fn seeds() -> Vec<Vec<u8>> {
    let s = State::new();
    let client = |port| SocketAddrV4::new(CLIENT, port);
    let server_mac = SITE1
        .servers
        .iter()
        .find(|&&(_, addr, _)| addr == *s.local_server.ip())
        .map(|&(_, _, mac)| mac)
        .expect("local server");
    let pip = SocketAddrV4::new(SITE1.pip, s.pip_port);
    let mut tagged = syn(CLIENT_PORT + 9);
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
    let mut gre = syn(CLIENT_PORT + 9);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut gre[14..]);
        ip.set_protocol(47);
        ip.fill_checksum();
    }
    let frames: Vec<(u8, Vec<u8>)> = vec![
        (0, syn(CLIENT_PORT + 2)),
        (1, syn(CLIENT_PORT + 3)),
        (2, syn(CLIENT_PORT + 4)),
        (4, syn(CLIENT_PORT + 5)),
        (0, tagged),
        (0, gre),
        (
            0,
            tcp(
                CLIENT_MAC,
                SITE1.mac,
                client(CLIENT_PORT),
                SITE1.vip_port(POP3),
                PSH | ACK,
                2,
                1,
                b"USER alice\r\n",
            ),
        ),
        (0, tcp(server_mac, SITE1.mac, s.local_server, client(CLIENT_PORT), SYN | ACK, 1, 2, b"")),
        (1, tcp(SITE2.mac, SITE1.mac, SITE2.vip_port(POP3), pip, SYN | ACK, 1, 2, b"")),
        (
            0,
            udp(
                CLIENT_MAC,
                SITE1.mac,
                client(CLIENT_PORT + 6),
                SITE1.vip_port(DNS),
                b"\x12\x34\x01\x00\x00\x01",
            ),
        ),
        (2, udp(CLIENT_MAC, SITE1.mac, client(CLIENT_PORT + 7), SITE1.vip_port(DNS), b"\x12\x34")),
        (0, icmp_echo(CLIENT_MAC, SITE1.mac, CLIENT, SITE1.vip, 1)),
        (0, icmp_echo(CLIENT_MAC, SITE1.mac, CLIENT, SITE1.own, 1)),
        (0, arp_request(CLIENT_MAC, CLIENT, SITE1.vip)),
        (0, arp_request(CLIENT_MAC, CLIENT, SITE1.pip)),
        (0, arp_request(CLIENT_MAC, CLIENT, SITE1.own)),
    ];
    frames.into_iter().map(|(ctl, f)| [vec![ctl], f].concat()).collect()
}

fn write_seeds(dir: &str) {
    std::fs::create_dir_all(dir).expect("seed directory");
    for (i, s) in seeds().iter().enumerate() {
        std::fs::write(format!("{dir}/seed-{i:02}"), s).expect("seed file");
    }
}

fuzz_target!(
    init: {
        if let Ok(dir) = std::env::var("GSLBD_FUZZ_WRITE_SEEDS") {
            write_seeds(&dir);
            std::process::exit(0);
        }
    },
    |data: &[u8]| {
        views(data);
        let Some((&ctl, frame)) = data.split_first() else {
            return;
        };
        views(frame);
        STATE.with(|cell| {
            let mut s = cell.borrow_mut();
            s.inputs += 1;
            if s.inputs % RESET_EVERY == 0 {
                *s = State::new();
            }
            if ctl & 4 != 0 {
                s.now_ms += AGE_STEP_MS;
                let now = s.now_ms;
                s.core.expire(now);
            }
            s.process(usize::from(ctl & 3) % 3, frame);
            s.check_books();
        });
    }
);
