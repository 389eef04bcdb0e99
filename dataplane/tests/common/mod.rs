//! A single data core driven directly, for tests that need no second site.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};

use dataplane::lab::frames::{tcp, udp, Summary};
use dataplane::lab::seed::{CLIENT, CLIENT_MAC, SITE1};
use dataplane::pipeline::{Action, Core, CoreConfig};
use dataplane::snapshot::{Group, Health, Member, Method, RealServer, Snapshot};
use dataplane::wire::tcp::flags::SYN;
use dataplane::wire::MacAddr;

pub struct Rig {
    pub core: Core,
    pub snap: Snapshot,
    pub now: u64,
}

impl Rig {
    pub fn new(snap: Snapshot, capacity: u32) -> Rig {
        let snap = snap.build().expect("valid snapshot");
        let core =
            Core::with_port_share(CoreConfig { flow_capacity: capacity, ..CoreConfig::default() }, &snap, 0);
        Rig { core: core.expect("flow table memory"), snap, now: 0 }
    }

    /// Processes one frame; returns the action and the frame as it left.
    pub fn send(&mut self, frame: &[u8]) -> (Action, Vec<u8>) {
        let mut buf = frame.to_vec();
        buf.resize(2048, 0);
        let action = self.core.process(&self.snap, &mut buf, frame.len(), self.now);
        let out = match action {
            Action::Tx(n) => buf[..usize::from(n)].to_vec(),
            _ => Vec::new(),
        };
        (action, out)
    }

    /// Sends and expects the frame to be forwarded; returns it parsed.
    pub fn forward(&mut self, frame: &[u8]) -> Summary {
        let (action, out) = self.send(frame);
        assert!(matches!(action, Action::Tx(_)), "expected a forward, got {action:?}");
        let s = Summary::parse(&out).expect("IPv4 out");
        assert!(s.checksums_ok, "bad checksums out: {s}");
        s
    }

    pub fn update(&mut self, change: impl FnOnce(&mut Snapshot)) {
        let mut next = self.snap.clone();
        change(&mut next);
        self.snap = next.build().expect("valid snapshot");
        self.core.on_snapshot(&self.snap);
    }

    pub fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 100).min(end);
            while self.core.expire(self.now) > 0 {}
        }
    }
}

pub fn client(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(CLIENT, port)
}

pub fn syn_from(src: SocketAddrV4, vip: SocketAddrV4) -> Vec<u8> {
    tcp(CLIENT_MAC, SITE1.mac, src, vip, SYN, 1, 0, b"")
}

pub fn udp_from(src: SocketAddrV4, vip: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    udp(CLIENT_MAC, SITE1.mac, src, vip, payload)
}

/// Address of the i-th real server of `servers_snapshot`.
pub fn server_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 1, 1 + i as u8)
}

pub fn server_mac(i: usize) -> MacAddr {
    MacAddr([0x02, 0, 0, 0x01, 0x01, 1 + i as u8])
}

/// Site 1's snapshot with its group replaced by `weights.len()` servers.
pub fn servers_snapshot(method: Method, weights: &[u32]) -> Snapshot {
    let mut s = dataplane::lab::seed::snapshot(&SITE1, &dataplane::lab::seed::SITE2, method);
    s.real_servers = (0..weights.len())
        .map(|i| RealServer {
            name: format!("rs{i}"),
            addr: server_addr(i),
            mac: server_mac(i),
            health: Health::Up,
            max_conns: 0,
        })
        .collect();
    let members = weights.iter().enumerate().map(|(i, &w)| Member { server: i as u16, weight: w }).collect();
    s.groups = vec![Group::new("servers", method, members)];
    s
}

/// Index of the server a forwarded frame went to.
pub fn which(s: &Summary) -> usize {
    usize::from(s.dst.ip().octets()[3]) - 1
}
