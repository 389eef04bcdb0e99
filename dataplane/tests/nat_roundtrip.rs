//! NAT round trips as a property: whatever the client, service, real servers,
//! TCP flags, payload, IPv4 options or Ethernet padding, a packet forwarded and
//! its reply translated back restore the client's view exactly (addresses,
//! ports), decrement the TTL once per hop and keep checksums valid, on both the
//! local path (destination NAT) and the proxy path (PIP to a remote VIP).

use std::net::{Ipv4Addr, SocketAddrV4};

use dataplane::lab::frames::{tcp, udp};
use dataplane::lab::seed::{self, SITE1, SITE2};
use dataplane::pipeline::{Action, Core, CoreConfig};
use dataplane::snapshot::{Health, Method, Snapshot};
use dataplane::wire::ipv4::protocol;
use dataplane::wire::tcp::flags::{ACK, RST, SYN};
use dataplane::wire::{EthernetFrame, Ipv4Packet, MacAddr, TcpPacket};
use proptest::prelude::*;

const L3: usize = 14;

/// What the client sends: TCP with its flags, or UDP with or without a checksum.
#[derive(Clone, Debug)]
enum Transport {
    Tcp {
        /// Flags of the first segment (SYN set, ACK and RST clear: it opens the flow).
        syn: u8,
        /// Flags of the server's reply and of the client's next segment: anything.
        reply: u8,
        next: u8,
    },
    Udp {
        checksum: bool,
    },
}

#[derive(Clone, Debug)]
struct Case {
    client: SocketAddrV4,
    client_mac: MacAddr,
    servers: [Ipv4Addr; 2],
    /// The VIP ports of the two TCP services and the UDP one.
    vip_ports: [u16; 3],
    real_ports: [u16; 3],
    remote_vip: Ipv4Addr,
    remote_ports: [u16; 3],
    /// Which TCP service the client picks (UDP has only one).
    tcp_service: usize,
    transport: Transport,
    payload: Vec<u8>,
    next_payload: Vec<u8>,
    ttl_fwd: u8,
    ttl_rev: u8,
    ip_option_words: usize,
    /// Ethernet padding after the IPv4 packet (never part of any checksum).
    padding: Vec<u8>,
}

impl Case {
    fn service(&self) -> usize {
        match self.transport {
            Transport::Tcp { .. } => self.tcp_service,
            Transport::Udp { .. } => 2,
        }
    }

    fn vip(&self) -> SocketAddrV4 {
        SocketAddrV4::new(SITE1.vip, self.vip_ports[self.service()])
    }

    fn proto(&self) -> u8 {
        match self.transport {
            Transport::Tcp { .. } => protocol::TCP,
            Transport::Udp { .. } => protocol::UDP,
        }
    }

    /// Site 1 with this case's servers and ports; all its real servers down
    /// when `proxy`, so new connections go to the remote site.
    fn snapshot(&self, proxy: bool) -> Snapshot {
        let mut s = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin);
        for (rs, &addr) in s.real_servers.iter_mut().zip(&self.servers) {
            rs.addr = addr;
            if proxy {
                rs.health = Health::Down;
            }
        }
        for (i, svc) in s.services.iter_mut().enumerate() {
            svc.port = self.vip_ports[i];
            svc.real_port = self.real_ports[i];
            svc.remotes[0].vip = self.remote_vip;
            svc.remotes[0].port = self.remote_ports[i];
        }
        s.build().expect("case snapshot")
    }

    /// The client's frame to the VIP.
    fn client_frame(&self, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = match self.transport {
            Transport::Tcp { .. } => tcp(
                self.client_mac,
                SITE1.mac,
                self.client,
                self.vip(),
                flags,
                0x0102_0304,
                0x0a0b_0c0d,
                payload,
            ),
            Transport::Udp { checksum } => {
                let mut f = udp(self.client_mac, SITE1.mac, self.client, self.vip(), payload);
                if !checksum {
                    f[L3 + 20 + 6..L3 + 20 + 8].fill(0);
                }
                f
            }
        };
        add_ip_options(&mut f, self.ip_option_words);
        set_ttl(&mut f, self.ttl_fwd);
        f.extend_from_slice(&self.padding);
        f
    }
}

fn address() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn case() -> impl Strategy<Value = Case> {
    let addrs = (address(), any::<u16>(), any::<[u8; 6]>(), [address(), address()], address());
    let ports = (any::<[u16; 3]>(), any::<[u16; 3]>(), any::<[u16; 3]>(), 0..2usize);
    let transport = prop_oneof![
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(s, reply, next)| Transport::Tcp {
            syn: (s & !(ACK | RST)) | SYN,
            reply,
            next,
        }),
        any::<bool>().prop_map(|checksum| Transport::Udp { checksum }),
    ];
    let packet = (
        transport,
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(any::<u8>(), 0..64),
        2..=255u8,
        2..=255u8,
        0..=10usize,
        proptest::collection::vec(any::<u8>(), 0..12),
    );
    (addrs, ports, packet)
        .prop_map(|(a, p, k)| {
            let (client, client_port, mut mac, servers, remote_vip) = a;
            // A unicast, locally administered station address.
            mac[0] = (mac[0] & 0xfe) | 0x02;
            Case {
                client: SocketAddrV4::new(client, client_port),
                client_mac: MacAddr(mac),
                servers,
                vip_ports: p.0,
                real_ports: p.1,
                remote_vip,
                remote_ports: p.2,
                tcp_service: p.3,
                transport: k.0,
                payload: k.1,
                next_payload: k.2,
                ttl_fwd: k.3,
                ttl_rev: k.4,
                ip_option_words: k.5,
                padding: k.6,
            }
        })
        .prop_filter("distinct addresses and services", |c| {
            let mut all = vec![
                *c.client.ip(),
                c.servers[0],
                c.servers[1],
                c.remote_vip,
                SITE1.own,
                SITE1.vip,
                SITE1.pip,
            ];
            all.sort();
            all.dedup();
            all.len() == 7 && c.vip_ports[0] != c.vip_ports[1]
        })
}

// ---- frame surgery -----------------------------------------------------------

fn ip(frame: &[u8]) -> Ipv4Packet<&[u8]> {
    Ipv4Packet::new_checked(&frame[L3..]).expect("IPv4")
}

/// Where the transport header starts, and where the IPv4 packet ends.
fn l4_bounds(frame: &[u8]) -> (usize, usize) {
    let p = ip(frame);
    (L3 + p.header_len(), L3 + usize::from(p.total_len()))
}

fn add_ip_options(frame: &mut Vec<u8>, words: usize) {
    let opts: Vec<u8> = (0..4 * words).map(|i| if i % 3 == 0 { 1 } else { 0x5a }).collect();
    frame.splice(L3 + 20..L3 + 20, opts);
    let mut p = Ipv4Packet::new_unchecked(&mut frame[L3..]);
    let total = p.total_len() + 4 * words as u16;
    p.set_version_and_header_len(20 + 4 * words);
    p.set_total_len(total);
    p.fill_checksum();
}

fn set_ttl(frame: &mut [u8], ttl: u8) {
    let mut p = Ipv4Packet::new_unchecked(&mut frame[L3..]);
    p.set_ttl(ttl);
    p.fill_checksum();
}

fn endpoints(frame: &[u8]) -> (SocketAddrV4, SocketAddrV4) {
    let (l4, _) = l4_bounds(frame);
    let port = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
    let p = ip(frame);
    (SocketAddrV4::new(p.src_addr(), port(l4)), SocketAddrV4::new(p.dst_addr(), port(l4 + 2)))
}

fn l4_checksum(frame: &[u8], proto: u8) -> u16 {
    let (l4, _) = l4_bounds(frame);
    let at = l4 + if proto == protocol::TCP { 16 } else { 6 };
    u16::from_be_bytes([frame[at], frame[at + 1]])
}

/// The server's answer to a frame it received: addresses and ports swapped
/// (which leaves every checksum valid), sent to the appliance with `ttl`, and
/// for TCP carrying `tcp_flags` (checksum recomputed).
fn reply_to(frame: &[u8], from_mac: MacAddr, ttl: u8, tcp_flags: Option<u8>) -> Vec<u8> {
    let mut f = frame.to_vec();
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(SITE1.mac);
    eth.set_src_addr(from_mac);
    let (l4, end) = l4_bounds(&f);
    let (src, dst) = endpoints(&f);
    {
        let mut p = Ipv4Packet::new_unchecked(&mut f[L3..]);
        p.set_src_addr(*dst.ip());
        p.set_dst_addr(*src.ip());
    }
    f[l4..l4 + 2].copy_from_slice(&dst.port().to_be_bytes());
    f[l4 + 2..l4 + 4].copy_from_slice(&src.port().to_be_bytes());
    set_ttl(&mut f, ttl);
    if let Some(flags) = tcp_flags {
        let mut t = TcpPacket::new_unchecked(&mut f[l4..end]);
        t.set_flags(flags);
        t.fill_checksum(*dst.ip(), *src.ip());
    }
    f
}

/// The frame with every field a translation may change blanked: what is left
/// (IPv4 options, sequence numbers, flags, payload, padding) must pass through.
fn untranslated(frame: &[u8], proto: u8) -> Vec<u8> {
    let mut f = frame.to_vec();
    let (l4, _) = l4_bounds(frame);
    f[..12].fill(0); // MACs
    f[L3 + 8] = 0; // TTL
    f[L3 + 10..L3 + 20].fill(0); // header checksum, addresses
    f[l4..l4 + 4].fill(0); // ports
    let csum = l4 + if proto == protocol::TCP { 16 } else { 6 };
    f[csum..csum + 2].fill(0);
    f
}

// ---- a reference checksum, independent of the crate's -----------------------

fn words(data: &[u8]) -> u64 {
    data.chunks(2).map(|c| u64::from(c[0]) << 8 | u64::from(c.get(1).copied().unwrap_or(0))).sum()
}

fn folds_to_ones(mut s: u64) -> bool {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s == 0xffff
}

/// The IPv4 header checksum, and the TCP or UDP one over its pseudo-header
/// (a UDP checksum of 0 means "none" and passes).
fn checksums_valid(frame: &[u8], proto: u8) -> bool {
    let p = ip(frame);
    let (l4, end) = l4_bounds(frame);
    let header_ok = folds_to_ones(words(&frame[L3..l4]));
    let seg = if proto == protocol::UDP {
        let udp_len = usize::from(u16::from_be_bytes([frame[l4 + 4], frame[l4 + 5]]));
        if l4_checksum(frame, proto) == 0 {
            return header_ok;
        }
        &frame[l4..l4 + udp_len]
    } else {
        &frame[l4..end]
    };
    let pseudo =
        words(&p.src_addr().octets()) + words(&p.dst_addr().octets()) + u64::from(proto) + seg.len() as u64;
    header_ok && folds_to_ones(pseudo + words(seg))
}

// ---- the property ------------------------------------------------------------

struct Rig {
    core: Core,
    snap: Snapshot,
    now_ms: u64,
}

impl Rig {
    fn new(snap: Snapshot) -> Rig {
        let config = CoreConfig { flow_capacity: 1024, ..Default::default() };
        Rig { core: Core::with_port_share(config, &snap, 0).expect("data core"), snap, now_ms: 0 }
    }

    /// Processes `frame`; it must be sent on, at its own length.
    fn forward(&mut self, frame: &[u8]) -> Result<Vec<u8>, TestCaseError> {
        let mut buf = frame.to_vec();
        buf.resize(2048, 0);
        self.now_ms += 10;
        let action = self.core.process(&self.snap, &mut buf, frame.len(), self.now_ms);
        prop_assert_eq!(action, Action::Tx(frame.len() as u16), "{:?}", self.core.counters.nonzero());
        buf.truncate(frame.len());
        Ok(buf)
    }
}

fn round_trip(c: &Case, proxy: bool) -> Result<(), TestCaseError> {
    let proto = c.proto();
    let mut rig = Rig::new(c.snapshot(proxy));
    let (first, reply_flags, next_flags) = match c.transport {
        Transport::Tcp { syn, reply, next } => (syn, Some(reply), next),
        Transport::Udp { .. } => (0, None, 0),
    };
    let udp_unchecked = matches!(c.transport, Transport::Udp { checksum: false });
    let svc = c.service();

    // Client to VIP: to a real server (local) or from a PIP to the remote VIP.
    let sent = c.client_frame(first, &c.payload);
    let out = rig.forward(&sent)?;
    let (src, dst) = endpoints(&out);
    let eth = EthernetFrame::new_unchecked(&out[..]);
    if proxy {
        prop_assert_eq!(*src.ip(), SITE1.pip);
        prop_assert_eq!(dst, SocketAddrV4::new(c.remote_vip, c.remote_ports[svc]));
        prop_assert_eq!(eth.dst_addr(), SITE2.mac);
    } else {
        prop_assert_eq!(src, c.client);
        let server = c.servers.iter().position(|&s| s == *dst.ip());
        prop_assert!(server.is_some(), "{} is not a real server", dst);
        prop_assert_eq!(dst.port(), c.real_ports[svc]);
        prop_assert_eq!(eth.dst_addr(), SITE1.servers[server.unwrap_or(0)].2);
    }
    prop_assert_eq!(eth.src_addr(), SITE1.mac);
    prop_assert_eq!(ip(&out).ttl(), c.ttl_fwd - 1);
    prop_assert!(checksums_valid(&out, proto), "forward checksums");
    // Only in UDP does a zero checksum mean "none": a UDP datagram's must
    // stay zero or never become it. A TCP checksum of 0x0000 is an ordinary
    // value (one segment in a few tens of thousands; the proptest regression
    // file keeps such a case).
    if proto == protocol::UDP {
        prop_assert_eq!(l4_checksum(&out, proto) == 0, udp_unchecked);
    }
    prop_assert_eq!(untranslated(&out, proto), untranslated(&sent, proto));

    // The answer, from wherever the packet went, comes back from the VIP.
    let next_hop = eth.dst_addr();
    let answer = reply_to(&out, next_hop, c.ttl_rev, reply_flags);
    let back = rig.forward(&answer)?;
    prop_assert_eq!(endpoints(&back), (c.vip(), c.client));
    let eth = EthernetFrame::new_unchecked(&back[..]);
    prop_assert_eq!((eth.dst_addr(), eth.src_addr()), (c.client_mac, SITE1.mac));
    prop_assert_eq!(ip(&back).ttl(), c.ttl_rev - 1);
    prop_assert!(checksums_valid(&back, proto), "reverse checksums");
    if proto == protocol::UDP {
        prop_assert_eq!(l4_checksum(&back, proto) == 0, udp_unchecked);
    }
    prop_assert_eq!(untranslated(&back, proto), untranslated(&answer, proto));

    // The client's next packet takes the same translation.
    let again = rig.forward(&c.client_frame(next_flags, &c.next_payload))?;
    prop_assert_eq!(endpoints(&again), (src, dst));
    prop_assert!(checksums_valid(&again, proto), "second forward checksums");

    prop_assert_eq!(rig.core.flows.len(), 1);
    prop_assert_eq!(rig.core.pips.in_use(), usize::from(proxy));
    prop_assert_eq!(rig.core.counters.total_drops(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn local_path_round_trip_restores_the_client_view(c in case()) {
        round_trip(&c, false)?;
    }

    #[test]
    fn proxy_path_round_trip_restores_the_client_view(c in case()) {
        round_trip(&c, true)?;
    }
}

/// The reference checksum above agrees with what the frame builders produce,
/// and notices a single flipped bit, so the property's checks have teeth.
#[test]
fn reference_checksum_accepts_built_frames_and_rejects_a_flipped_bit() {
    let a = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 40_000);
    let b = SITE1.vip_port(seed::POP3);
    let m = MacAddr::ZERO;
    let frames =
        [(tcp(m, m, a, b, SYN, 7, 0, b"odd"), protocol::TCP), (udp(m, m, a, b, b"even"), protocol::UDP)];
    for (f, proto) in frames {
        assert!(checksums_valid(&f, proto));
        let mut g = f.clone();
        let last = g.len() - 1;
        g[last] ^= 0x10;
        assert!(!checksums_valid(&g, proto));
        let mut h = f;
        h[L3 + 8] ^= 1;
        assert!(!checksums_valid(&h, proto));
    }
}
