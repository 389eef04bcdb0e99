//! Malformed frames at every layer, fed to one data core that already carries
//! an established connection: each is dropped under its own reason, counted
//! once under that reason only, and leaves the flow table and the established
//! connection exactly as they were. Valid oddities (IPv4 options, an 802.1Q
//! tag) are shown to be honoured, and ARP, ping and own-address traffic handled.

use std::net::{Ipv4Addr, SocketAddrV4};

use dataplane::counters::{DropReason, Event};
use dataplane::lab::frames::{arp_request, icmp_echo, tcp, udp, Summary};
use dataplane::lab::seed::{self, CLIENT, CLIENT_MAC, CLIENT_PORT, DNS, HTTP, POP3, SITE1, SITE2};
use dataplane::pipeline::{Action, Core, CoreConfig};
use dataplane::snapshot::{Method, Snapshot};
use dataplane::wire::icmp::msg_type;
use dataplane::wire::tcp::flags::{ACK, PSH, RST, SYN};
use dataplane::wire::{ArpOp, ArpPacket, EtherType, EthernetFrame, Ipv4Packet, MacAddr};

/// An address on site 1's segment that the appliance does not own.
const STRANGER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);

fn client(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(CLIENT, port)
}

/// One data core of site 1 and its snapshot, driven frame by frame.
struct Rig {
    core: Core,
    snap: Snapshot,
    now_ms: u64,
}

impl Rig {
    fn new() -> Rig {
        let snap = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin).build().expect("seed snapshot");
        let config = CoreConfig { flow_capacity: 1024, ..Default::default() };
        let core = Core::with_port_share(config, &snap, 0).expect("data core");
        Rig { core, snap, now_ms: 0 }
    }

    /// Processes a copy of `frame` in a buffer with room to grow; returns the
    /// action and the buffer cut to the length the action says (the input
    /// length for anything but `Tx`).
    fn process(&mut self, frame: &[u8]) -> (Action, Vec<u8>) {
        let mut buf = frame.to_vec();
        buf.resize(2048, 0);
        self.now_ms += 1;
        let action = self.core.process(&self.snap, &mut buf, frame.len(), self.now_ms);
        let out = match action {
            Action::Tx(n) => usize::from(n),
            _ => frame.len(),
        };
        buf.truncate(out);
        (action, buf)
    }

    fn drops(&self) -> Vec<u64> {
        let c = &self.core.counters;
        DropReason::ALL.iter().map(|&r| c.dropped(r)).collect()
    }

    fn event(&self, e: Event) -> u64 {
        self.core.counters.event(e)
    }
}

/// The real server a frame leaving the appliance is addressed to.
fn server_of(out: &Summary) -> usize {
    (0..2).find(|&i| SITE1.server(i) == out.dst).unwrap_or_else(|| panic!("not to a site 1 server: {out}"))
}

/// A connection from `CLIENT_PORT` to site 1's POP3 VIP, taken through the
/// three-way handshake. Returns the index of the real server that got it.
fn establish(rig: &mut Rig) -> usize {
    let (a, out) = rig.process(&syn_to_vip(CLIENT_PORT));
    assert_eq!(a, Action::Tx(out.len() as u16));
    let syn = Summary::parse(&out).expect("rewritten SYN");
    let server = server_of(&syn);
    assert_eq!(syn.src, client(CLIENT_PORT), "local path keeps the client");
    assert_eq!((syn.src_mac, syn.dst_mac), (SITE1.mac, SITE1.servers[server].2));
    assert_eq!((syn.flags, syn.seq), (SYN, 100));
    assert!(syn.checksums_ok, "{syn}");

    let (a, out) = rig.process(&server_reply(server, SYN | ACK, 900, 101, b""));
    assert!(matches!(a, Action::Tx(_)), "{a:?}");
    let syn_ack = Summary::parse(&out).expect("rewritten SYN-ACK");
    assert_eq!((syn_ack.src, syn_ack.dst), (SITE1.vip_port(POP3), client(CLIENT_PORT)));
    assert!(syn_ack.checksums_ok);

    let (a, out) = rig.process(&client_ack(b""));
    assert!(matches!(a, Action::Tx(_)), "{a:?}");
    assert_eq!(server_of(&Summary::parse(&out).expect("ACK")), server);
    server
}

fn syn_to_vip(port: u16) -> Vec<u8> {
    tcp(CLIENT_MAC, SITE1.mac, client(port), SITE1.vip_port(POP3), SYN, 100, 0, b"")
}

/// The next segment of the established connection, from the client.
fn client_ack(data: &[u8]) -> Vec<u8> {
    tcp(CLIENT_MAC, SITE1.mac, client(CLIENT_PORT), SITE1.vip_port(POP3), PSH | ACK, 101, 901, data)
}

/// A segment of the established connection from real server `i` to the client.
fn server_reply(i: usize, f: u8, seq: u32, ack: u32, data: &[u8]) -> Vec<u8> {
    let (_, _, mac) = SITE1.servers[i];
    tcp(mac, SITE1.mac, SITE1.server(i), client(CLIENT_PORT), f, seq, ack, data)
}

fn dns_query() -> Vec<u8> {
    udp(CLIENT_MAC, SITE1.mac, client(CLIENT_PORT + 7), SITE1.vip_port(DNS), b"\x12\x34\x01\x00\x00\x01query")
}

fn ping(dst: Ipv4Addr) -> Vec<u8> {
    icmp_echo(CLIENT_MAC, SITE1.mac, CLIENT, dst, 1)
}

// ---- single mutations of a valid frame --------------------------------------

const L3: usize = 14;
const L4: usize = L3 + 20;

/// Applies `f` to the IPv4 header and puts a correct header checksum back, so
/// the only fault left is the one `f` made.
fn with_ip(mut frame: Vec<u8>, f: impl FnOnce(&mut Ipv4Packet<&mut [u8]>)) -> Vec<u8> {
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[L3..]);
    f(&mut ip);
    ip.fill_checksum();
    frame
}

/// Shortens the IPv4 packet to `total` bytes, the frame with it (checksum fixed).
fn cut_ip_to(frame: Vec<u8>, total: usize) -> Vec<u8> {
    let mut f = with_ip(frame, |ip| ip.set_total_len(total as u16));
    f.truncate(L3 + total);
    f
}

fn with_byte(mut frame: Vec<u8>, at: usize, v: u8) -> Vec<u8> {
    frame[at] = v;
    frame
}

fn with_u16(mut frame: Vec<u8>, at: usize, v: u16) -> Vec<u8> {
    frame[at..at + 2].copy_from_slice(&v.to_be_bytes());
    frame
}

/// Inserts an 802.1Q-style tag (`tpid`, TCI 100) after the MAC addresses.
fn tagged(mut frame: Vec<u8>, tpid: u16) -> Vec<u8> {
    let mut tag = tpid.to_be_bytes().to_vec();
    tag.extend_from_slice(&100u16.to_be_bytes());
    frame.splice(12..12, tag);
    frame
}

/// Adds `words` 32-bit IPv4 option words (NOPs, the last ending in EOL) to an
/// untagged IPv4 frame, keeping every length and checksum right.
fn with_ip_options(mut frame: Vec<u8>, words: usize) -> Vec<u8> {
    let mut opts = vec![1u8; 4 * words];
    if let Some(last) = opts.last_mut() {
        *last = 0;
    }
    frame.splice(L4..L4, opts);
    let total = Ipv4Packet::new_unchecked(&frame[L3..]).total_len();
    with_ip(frame, |ip| {
        ip.set_version_and_header_len(20 + 4 * words);
        ip.set_total_len(total + 4 * words as u16);
    })
}

/// Each malformed frame, named, and the reason it must be dropped for.
fn malformed() -> Vec<(&'static str, Vec<u8>, DropReason)> {
    use DropReason as R;
    let syn = || syn_to_vip(CLIENT_PORT + 1);
    let syn_len = syn().len() - L3;
    let dns_len = dns_query().len() - L3;
    let arp = || arp_request(CLIENT_MAC, CLIENT, SITE1.vip);
    vec![
        // Ethernet
        ("13-byte frame", syn()[..13].to_vec(), R::EthTruncated),
        ("802.1Q tag cut short", tagged(syn(), EtherType::VLAN)[..16].to_vec(), R::EthTruncated),
        ("802.1ad outer tag", tagged(syn(), EtherType::QINQ), R::VlanStacked),
        ("two 802.1Q tags", tagged(tagged(syn(), EtherType::VLAN), EtherType::VLAN), R::VlanStacked),
        ("802.1Q over 802.1ad", tagged(tagged(syn(), EtherType::QINQ), EtherType::VLAN), R::VlanStacked),
        ("unicast to site 2's MAC", with_mac(syn(), SITE2.mac), R::NotOurMac),
        ("IPv4 multicast MAC", with_mac(syn(), MacAddr([0x01, 0x00, 0x5e, 0, 0, 1])), R::NotOurMac),
        ("IPv6 ethertype", with_u16(syn(), 12, EtherType::IPV6), R::UnsupportedEthertype),
        ("LLDP ethertype", with_u16(syn(), 12, 0x88cc), R::UnsupportedEthertype),
        (
            "IPv6 inside an 802.1Q tag",
            with_u16(tagged(syn(), EtherType::VLAN), 16, EtherType::IPV6),
            R::UnsupportedEthertype,
        ),
        // ARP
        ("ARP cut at 27 bytes", arp()[..L3 + 27].to_vec(), R::ArpTruncated),
        ("ARP htype IEEE 802", with_u16(arp(), L3, 6), R::ArpUnsupported),
        ("ARP ptype IPv6", with_u16(arp(), L3 + 2, EtherType::IPV6), R::ArpUnsupported),
        ("ARP hlen 8", with_byte(arp(), L3 + 4, 8), R::ArpUnsupported),
        ("ARP request for a stranger", arp_request(CLIENT_MAC, CLIENT, STRANGER), R::ArpNotOurs),
        ("ARP request for a real server", arp_request(CLIENT_MAC, CLIENT, SITE1.servers[0].1), R::ArpNotOurs),
        // IPv4 header
        ("IPv4 cut at 19 bytes", syn()[..L3 + 19].to_vec(), R::Ipv4Truncated),
        ("IP version 6", with_byte(syn(), L3, 0x65), R::Ipv4BadVersion),
        ("IHL 4", with_byte(syn(), L3, 0x44), R::Ipv4BadHeaderLen),
        ("IHL 15 beyond the packet", with_byte(syn(), L3, 0x4f), R::Ipv4BadHeaderLen),
        (
            "total length one past the frame",
            with_ip(syn(), |ip| ip.set_total_len(syn_len as u16 + 1)),
            R::Ipv4BadTotalLen,
        ),
        ("total length below the header", with_ip(syn(), |ip| ip.set_total_len(19)), R::Ipv4BadTotalLen),
        ("frame cut inside TCP, total length left", syn()[..L3 + syn_len - 1].to_vec(), R::Ipv4BadTotalLen),
        ("header checksum off by one", with_byte(syn(), L3 + 11, syn()[L3 + 11] ^ 1), R::Ipv4BadChecksum),
        (
            "header checksum off, on the established flow",
            with_byte(client_ack(b"x"), L3 + 10, !client_ack(b"x")[L3 + 10]),
            R::Ipv4BadChecksum,
        ),
        ("first fragment (MF)", with_ip(syn(), |ip| ip.set_flags_and_frag(0x2000)), R::Ipv4Fragment),
        (
            "later fragment (offset 1480)",
            with_ip(syn(), |ip| ip.set_flags_and_frag(1480 / 8)),
            R::Ipv4Fragment,
        ),
        (
            "fragment of the established flow",
            with_ip(client_ack(b"x"), |ip| ip.set_flags_and_frag(0x2000)),
            R::Ipv4Fragment,
        ),
        ("TTL 1 to the VIP", with_ip(syn(), |ip| ip.set_ttl(1)), R::TtlExpired),
        ("TTL 0 to the VIP", with_ip(syn(), |ip| ip.set_ttl(0)), R::TtlExpired),
        ("TTL 1 on the established flow", with_ip(client_ack(b"x"), |ip| ip.set_ttl(1)), R::TtlExpired),
        // TCP
        ("TCP cut at 19 bytes", cut_ip_to(syn(), 20 + 19), R::TcpTruncated),
        ("TCP cut, on the established flow", cut_ip_to(client_ack(b""), 20 + 12), R::TcpTruncated),
        ("TCP data offset 4", with_byte(syn(), L4 + 12, 0x40), R::TcpBadHeaderLen),
        ("TCP data offset beyond the segment", with_byte(syn(), L4 + 12, 0x60), R::TcpBadHeaderLen),
        // UDP
        ("UDP cut at 7 bytes", cut_ip_to(dns_query(), 20 + 7), R::UdpTruncated),
        ("UDP length 7", with_u16(dns_query(), L4 + 4, 7), R::UdpBadLength),
        (
            "UDP length past the segment",
            with_u16(dns_query(), L4 + 4, dns_len as u16 - 20 + 1),
            R::UdpBadLength,
        ),
        // ICMP
        ("ICMP cut at 7 bytes", cut_ip_to(ping(SITE1.vip), 20 + 7), R::IcmpTruncated),
        ("echo reply to the VIP", with_byte(ping(SITE1.vip), L4, msg_type::ECHO_REPLY), R::IcmpUnsupported),
        (
            "destination unreachable to the VIP",
            with_byte(ping(SITE1.vip), L4, msg_type::DST_UNREACHABLE),
            R::IcmpUnsupported,
        ),
        ("echo request with code 1", with_byte(ping(SITE1.vip), L4 + 1, 1), R::IcmpUnsupported),
        ("ping to a stranger", ping(STRANGER), R::NotOurAddress),
        // Other protocols, addresses and ports
        ("GRE to the VIP", with_ip(syn(), |ip| ip.set_protocol(47)), R::UnsupportedProtocol),
        (
            "GRE to the PIP",
            with_ip(syn(), |ip| {
                ip.set_protocol(47);
                ip.set_dst_addr(SITE1.pip);
            }),
            R::UnsupportedProtocol,
        ),
        ("ACK to the VIP, no flow", with_tcp_flags(syn(), ACK), R::TcpNoFlow),
        ("SYN-ACK to the VIP, no flow", with_tcp_flags(syn(), SYN | ACK), R::TcpNoFlow),
        ("RST to the VIP, no flow", with_tcp_flags(syn(), RST), R::TcpNoFlow),
        (
            "SYN to a VIP port with no service",
            tcp(CLIENT_MAC, SITE1.mac, client(CLIENT_PORT + 1), SITE1.vip_port(HTTP + 1), SYN, 1, 0, b""),
            R::VipNoService,
        ),
        (
            "UDP to a TCP-only VIP port",
            udp(CLIENT_MAC, SITE1.mac, client(CLIENT_PORT + 1), SITE1.vip_port(POP3), b"hi"),
            R::VipNoService,
        ),
        (
            "SYN to the UDP-only VIP port",
            tcp(CLIENT_MAC, SITE1.mac, client(CLIENT_PORT + 1), SITE1.vip_port(DNS), SYN, 1, 0, b""),
            R::VipNoService,
        ),
        (
            "late SYN-ACK to a PIP port",
            tcp(
                SITE2.mac,
                SITE1.mac,
                SITE2.vip_port(POP3),
                SocketAddrV4::new(SITE1.pip, 5000),
                SYN | ACK,
                1,
                2,
                b"",
            ),
            R::PipNoFlow,
        ),
        (
            "UDP to a PIP port",
            udp(
                SITE2.mac,
                SITE1.mac,
                SITE2.vip_port(DNS),
                SocketAddrV4::new(SITE1.pip, 5000),
                b"late answer",
            ),
            R::PipNoFlow,
        ),
        (
            "SYN to a stranger",
            tcp(
                CLIENT_MAC,
                SITE1.mac,
                client(CLIENT_PORT + 1),
                SocketAddrV4::new(STRANGER, POP3),
                SYN,
                1,
                0,
                b"",
            ),
            R::NotOurAddress,
        ),
        (
            "SYN straight to a real server",
            tcp(CLIENT_MAC, SITE1.mac, client(CLIENT_PORT + 1), SITE1.server(0), SYN, 1, 0, b""),
            R::NotOurAddress,
        ),
    ]
}

fn with_mac(mut frame: Vec<u8>, dst: MacAddr) -> Vec<u8> {
    EthernetFrame::new_unchecked(&mut frame[..]).set_dst_addr(dst);
    frame
}

fn with_tcp_flags(frame: Vec<u8>, f: u8) -> Vec<u8> {
    with_byte(frame, L4 + 13, f)
}

// ---- tests -------------------------------------------------------------------

#[test]
fn every_malformed_frame_is_dropped_for_its_reason_and_disturbs_nothing() {
    let mut rig = Rig::new();
    let server = establish(&mut rig);
    let flows = rig.core.flows.len();
    let pips = rig.core.pips.in_use();
    let quiet = [
        Event::TxPackets,
        Event::ExceptionPackets,
        Event::ArpReplies,
        Event::IcmpEchoReplies,
        Event::ResetsSent,
        Event::UnreachablesSent,
        Event::FlowsCreatedLocal,
        Event::FlowsCreatedProxy,
    ];

    let cases = malformed();
    for (name, frame, want) in &cases {
        let before = rig.drops();
        let events: Vec<u64> = quiet.iter().map(|&e| rig.event(e)).collect();
        let (action, _) = rig.process(frame);
        assert_eq!(action, Action::Drop(*want), "{name}");
        let after = rig.drops();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            let grew = after[i] - before[i];
            let expected = u64::from(r == want);
            assert_eq!(grew, expected, "{name}: {} went up by {grew}", r.name());
        }
        let now: Vec<u64> = quiet.iter().map(|&e| rig.event(e)).collect();
        assert_eq!(now, events, "{name}: something was sent or created");
        assert_eq!(rig.core.flows.len(), flows, "{name}: flow table changed");
        assert_eq!(rig.core.pips.in_use(), pips, "{name}: a PIP port moved");
    }
    assert_eq!(rig.core.counters.total_drops(), cases.len() as u64);

    // The established connection is untouched: same server, both ways, and
    // still valid checksums.
    let (a, out) = rig.process(&client_ack(b"RETR 1\r\n"));
    assert_eq!(a, Action::Tx(out.len() as u16));
    let fwd = Summary::parse(&out).expect("TCP");
    assert_eq!(server_of(&fwd), server);
    assert_eq!((fwd.src, fwd.payload.as_slice()), (client(CLIENT_PORT), &b"RETR 1\r\n"[..]));
    assert!(fwd.checksums_ok, "{fwd}");

    let (a, out) = rig.process(&server_reply(server, PSH | ACK, 901, 109, b"+OK\r\n"));
    assert!(matches!(a, Action::Tx(_)), "{a:?}");
    let back = Summary::parse(&out).expect("TCP");
    assert_eq!((back.src, back.dst), (SITE1.vip_port(POP3), client(CLIENT_PORT)));
    assert_eq!(back.dst_mac, CLIENT_MAC);
    assert!(back.checksums_ok, "{back}");
    assert_eq!(rig.core.flows.len(), flows);
}

/// Each malformed frame above is one change away from one of these, and these
/// are accepted as they are: the change is what gets the frame dropped.
#[test]
fn the_unmutated_frames_are_accepted() {
    let valid = [
        ("SYN to the VIP", syn_to_vip(CLIENT_PORT + 1)),
        ("DNS query to the VIP", dns_query()),
        ("ping to the VIP", ping(SITE1.vip)),
        ("ARP for the VIP", arp_request(CLIENT_MAC, CLIENT, SITE1.vip)),
        ("tagged SYN to the VIP", tagged(syn_to_vip(CLIENT_PORT + 1), EtherType::VLAN)),
    ];
    for (name, frame) in valid {
        let mut rig = Rig::new();
        let (a, _) = rig.process(&frame);
        assert_eq!(a, Action::Tx(frame.len() as u16), "{name}");
        assert_eq!(rig.core.counters.total_drops(), 0, "{name}");
    }
    // The established flow's next segment, with the flow in place.
    let mut rig = Rig::new();
    establish(&mut rig);
    let (a, _) = rig.process(&client_ack(b"x"));
    assert!(matches!(a, Action::Tx(_)), "{a:?}");
    assert_eq!(rig.core.counters.total_drops(), 0);
}

#[test]
fn ipv4_options_are_honoured() {
    for words in [1, 10] {
        let mut rig = Rig::new();
        let syn = with_ip_options(syn_to_vip(CLIENT_PORT), words);
        let (a, out) = rig.process(&syn);
        assert_eq!(a, Action::Tx(syn.len() as u16), "{words} option words");
        let s = Summary::parse(&out).expect("TCP");
        server_of(&s);
        assert_eq!((s.src, s.flags, s.seq), (client(CLIENT_PORT), SYN, 100));
        assert!(s.checksums_ok, "{words} option words: {s}");
        assert_eq!(rig.core.flows.len(), 1);

        // The options travel untouched, the header keeps its length.
        let ip = Ipv4Packet::new_checked(&out[L3..]).expect("IPv4");
        let sent = Ipv4Packet::new_checked(&syn[L3..]).expect("IPv4");
        assert_eq!(ip.header_len(), 20 + 4 * words);
        assert_eq!(ip.options(), sent.options());
        // Past the ports, only the TCP checksum may differ.
        let (got, was) = (ip.payload(), sent.payload());
        assert_eq!((&got[4..16], &got[18..]), (&was[4..16], &was[18..]));
    }
}

#[test]
fn an_8021q_tag_is_kept_on_both_directions() {
    let mut rig = Rig::new();
    let syn = tagged(syn_to_vip(CLIENT_PORT), EtherType::VLAN);
    let (a, out) = rig.process(&syn);
    assert_eq!(a, Action::Tx(syn.len() as u16));
    assert_eq!(out[12..16], syn[12..16], "TPID and TCI kept");
    let fwd = Summary::parse(&untagged(&out)).expect("TCP");
    let server = server_of(&fwd);
    assert_eq!(fwd.dst_mac, SITE1.servers[server].2);
    assert_eq!(fwd.ttl, Summary::parse(&untagged(&syn)).expect("TCP").ttl - 1);
    assert!(fwd.checksums_ok, "{fwd}");

    let reply = tagged(server_reply(server, SYN | ACK, 900, 101, b""), EtherType::VLAN);
    let (a, out) = rig.process(&reply);
    assert_eq!(a, Action::Tx(reply.len() as u16));
    assert_eq!(out[12..16], reply[12..16]);
    let back = Summary::parse(&untagged(&out)).expect("TCP");
    assert_eq!((back.src, back.dst), (SITE1.vip_port(POP3), client(CLIENT_PORT)));
    assert!(back.checksums_ok, "{back}");
}

/// The frame without its (single) tag, for `Summary::parse`.
fn untagged(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    f.drain(12..16);
    f
}

#[test]
fn arp_for_the_vip_and_the_pip_is_answered_with_the_appliance_mac() {
    let mut rig = Rig::new();
    for target in [SITE1.vip, SITE1.pip] {
        let req = arp_request(CLIENT_MAC, CLIENT, target);
        let (a, out) = rig.process(&req);
        assert_eq!(a, Action::Tx(req.len() as u16), "{target}");
        let eth = EthernetFrame::new_checked(&out[..]).expect("Ethernet");
        assert_eq!((eth.dst_addr(), eth.src_addr()), (CLIENT_MAC, SITE1.mac));
        assert_eq!(eth.ethertype(), EtherType::ARP);
        let arp = ArpPacket::new_checked(eth.payload()).expect("ARP");
        assert_eq!(arp.operation(), ArpOp::REPLY);
        assert_eq!((arp.sender_hw(), arp.sender_ip()), (SITE1.mac, target));
        assert_eq!((arp.target_hw(), arp.target_ip()), (CLIENT_MAC, CLIENT));
    }
    assert_eq!(rig.event(Event::ArpReplies), 2);
    assert_eq!(rig.core.counters.total_drops(), 0);
}

#[test]
fn ping_to_the_vip_is_answered() {
    let mut rig = Rig::new();
    let req = ping(SITE1.vip);
    let (a, out) = rig.process(&req);
    assert_eq!(a, Action::Tx(req.len() as u16));
    let sent = Summary::parse(&req).expect("ICMP");
    let reply = Summary::parse(&out).expect("ICMP");
    assert_eq!(reply.flags, msg_type::ECHO_REPLY);
    assert_eq!((reply.src, reply.dst), (sent.dst, sent.src));
    assert_eq!((reply.src_mac, reply.dst_mac), (SITE1.mac, CLIENT_MAC));
    assert_eq!(reply.payload, sent.payload);
    assert!(reply.ttl > 1);
    assert!(reply.checksums_ok, "{reply}");
    assert_eq!(rig.event(Event::IcmpEchoReplies), 1);
}

#[test]
fn traffic_for_the_appliance_itself_goes_to_the_kernel() {
    let mut rig = Rig::new();
    let ssh =
        tcp(CLIENT_MAC, SITE1.mac, client(CLIENT_PORT), SocketAddrV4::new(SITE1.own, 22), SYN, 1, 0, b"");
    let own = [
        ("SSH SYN", ssh.clone()),
        ("ping", ping(SITE1.own)),
        ("GRE", with_ip(ssh, |ip| ip.set_protocol(47))),
        ("ARP request", arp_request(CLIENT_MAC, CLIENT, SITE1.own)),
    ];
    for (name, frame) in &own {
        let (a, out) = rig.process(frame);
        assert_eq!(a, Action::Kernel, "{name}");
        assert_eq!(&out, frame, "{name}: handed over unchanged");
    }
    assert_eq!(rig.event(Event::ExceptionPackets), own.len() as u64);
    assert_eq!(rig.core.counters.total_drops(), 0);
    assert!(rig.core.flows.is_empty());
}
