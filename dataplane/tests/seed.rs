//! The six steps of the Alteon GSLB chapter, packet by packet, between two
//! in-memory sites: a POP3 client reaches site 1's VIP while site 1's POP3
//! servers are down, and is served by site 2 through site 1's proxy IP.

use std::net::SocketAddrV4;

use dataplane::counters::{DropReason, Event};
use dataplane::lab::frames::{tcp, Summary};
use dataplane::lab::net::Lab;
use dataplane::lab::seed::{self, CLIENT, CLIENT_MAC, CLIENT_PORT, POP3, SITE1, SITE2};
use dataplane::pipeline::CoreConfig;
use dataplane::snapshot::{Health, Method};
use dataplane::wire::tcp::flags::{ACK, FIN, PSH, SYN};

fn client() -> SocketAddrV4 {
    SocketAddrV4::new(CLIENT, CLIENT_PORT)
}

/// Frames that crossed the segment since `mark`, as (from, to, summary).
fn hops(lab: &Lab, mark: usize) -> Vec<(String, String, Summary)> {
    lab.trace[mark..]
        .iter()
        .map(|h| (h.from.clone(), h.to.clone(), h.summary().expect("an IPv4 frame")))
        .collect()
}

fn counter(lab: &mut Lab, site: &str, e: Event) -> u64 {
    lab.appliance(site).worker.core.counters.event(e)
}

/// Which of site 2's servers got the frame, and the frame.
fn take_at_site2(lab: &mut Lab) -> (&'static str, Summary) {
    for (name, _, _) in SITE2.servers {
        let got = lab.take_inbox(name);
        if !got.is_empty() {
            assert_eq!(got.len(), 1, "{name} got {} frames", got.len());
            return (name, Summary::parse(&got[0]).expect("TCP"));
        }
    }
    panic!("no site 2 server received anything; trace: {:?}", lab.trace.last().map(|h| h.summary()));
}

/// A server's reply: from its own address to where the request came from,
/// sent to its default gateway (the site's appliance).
fn server_reply(
    req: &Summary,
    server_mac: dataplane::wire::MacAddr,
    gw: &seed::Site,
    f: u8,
    seq: u32,
    data: &[u8],
) -> Vec<u8> {
    tcp(server_mac, gw.mac, req.dst, req.src, f, seq, req.seq + req.payload.len().max(1) as u32, data)
}

#[test]
fn pop3_through_the_proxy_ip_follows_the_six_steps() {
    let mut lab = seed::lab(Method::RoundRobin, CoreConfig::default());
    seed::set_servers(&mut lab, &SITE1, Health::Down);

    // Step 1: the client's SYN reaches site 1's VIP; site 1 has no local server.
    let mark = lab.trace.len();
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, client(), SITE1.vip_port(POP3), SYN, 1000, 0, b""));
    let h = hops(&lab, mark);
    assert_eq!(h.len(), 3, "client→site1, site1→site2, site2→server: {h:?}");
    assert_eq!((h[0].0.as_str(), h[0].1.as_str()), ("client", "site1"));
    assert_eq!((h[0].2.src, h[0].2.dst), (client(), SITE1.vip_port(POP3)));

    // Step 2: site 1 rewrites the source to its PIP and the destination to site 2's VIP.
    let (from, to, s2) = &h[1];
    assert_eq!((from.as_str(), to.as_str()), ("site1", "site2"));
    assert_eq!(*s2.src.ip(), SITE1.pip, "source is site 1's proxy IP");
    let pip_port = s2.src.port();
    assert!(pip_port >= 1024);
    assert_eq!(s2.dst, SITE2.vip_port(POP3));
    assert_eq!((s2.src_mac, s2.dst_mac), (SITE1.mac, SITE2.mac));
    assert_eq!((s2.flags, s2.seq), (SYN, 1000), "TCP header otherwise untouched");
    assert_eq!(s2.ttl, 63);
    assert!(s2.checksums_ok);

    // Step 3: site 2 sees an ordinary SYN to its VIP and balances it locally.
    let (_, _, s3) = &h[2];
    assert_eq!(s3.src, SocketAddrV4::new(SITE1.pip, pip_port), "site 2's server sees site 1's PIP");
    assert!(SITE2.servers.iter().any(|&(_, a, _)| SocketAddrV4::new(a, POP3) == s3.dst));
    assert!(s3.checksums_ok);
    let (server, syn) = take_at_site2(&mut lab);
    let server_mac = SITE2.servers.iter().find(|s| s.0 == server).expect("server").2;
    assert_eq!(syn, *s3);
    assert!(lab.take_inbox("pop1a").is_empty() && lab.take_inbox("pop1b").is_empty());

    // Step 4: the server answers the PIP, through site 2's appliance.
    let mark = lab.trace.len();
    lab.send(server, server_reply(&syn, server_mac, &SITE2, SYN | ACK, 5000, b""));
    let h = hops(&lab, mark);
    assert_eq!(h.len(), 3, "server→site2, site2→site1, site1→client: {h:?}");
    assert_eq!((h[0].2.src, h[0].2.dst), (syn.dst, syn.src));

    // Step 5: site 2 sends the SYN-ACK to site 1: from its VIP, to site 1's PIP.
    let (from, to, s5) = &h[1];
    assert_eq!((from.as_str(), to.as_str()), ("site2", "site1"));
    assert_eq!(s5.src, SITE2.vip_port(POP3));
    assert_eq!(s5.dst, SocketAddrV4::new(SITE1.pip, pip_port));
    assert_eq!((s5.flags, s5.seq, s5.ack), (SYN | ACK, 5000, 1001));
    assert!(s5.checksums_ok);

    // Step 6: site 1 translates it back: from its own VIP, to the client.
    let (from, to, s6) = &h[2];
    assert_eq!((from.as_str(), to.as_str()), ("site1", "client"));
    assert_eq!(s6.src, SITE1.vip_port(POP3), "the client only ever sees site 1's VIP");
    assert_eq!(s6.dst, client());
    assert_eq!((s6.src_mac, s6.dst_mac), (SITE1.mac, CLIENT_MAC));
    assert!(s6.checksums_ok);
    assert_eq!(lab.take_one("client"), *s6);

    // The handshake completes and mail flows both ways, every frame on the same path.
    let mut c_seq = 1001u32;
    let mut s_seq = 5001u32;
    let exchange = [
        (false, b"+OK POP3 server ready\r\n".as_slice()),
        (true, b"USER alice\r\n".as_slice()),
        (false, b"+OK\r\n".as_slice()),
        (true, b"RETR 1\r\n".as_slice()),
        (false, b"+OK 12 octets\r\nHello Alice\r\n.\r\n".as_slice()),
    ];
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, client(), SITE1.vip_port(POP3), ACK, c_seq, s_seq, b""));
    let at_server = take_at_site2(&mut lab).1;
    assert_eq!((at_server.src, at_server.flags), (syn.src, ACK));
    for (from_client, data) in exchange {
        if from_client {
            lab.send(
                "client",
                tcp(CLIENT_MAC, SITE1.mac, client(), SITE1.vip_port(POP3), PSH | ACK, c_seq, s_seq, data),
            );
            let (_, got) = take_at_site2(&mut lab);
            assert_eq!((got.src, got.dst), (syn.src, syn.dst));
            assert_eq!(got.payload, data);
            assert!(got.checksums_ok);
            c_seq += data.len() as u32;
        } else {
            lab.send(server, tcp(server_mac, SITE2.mac, syn.dst, syn.src, PSH | ACK, s_seq, c_seq, data));
            let got = lab.take_one("client");
            assert_eq!((got.src, got.dst), (SITE1.vip_port(POP3), client()));
            assert_eq!(got.payload, data);
            assert!(got.checksums_ok);
            s_seq += data.len() as u32;
        }
    }

    // FIN/ACK teardown, client first.
    lab.send(
        "client",
        tcp(CLIENT_MAC, SITE1.mac, client(), SITE1.vip_port(POP3), FIN | ACK, c_seq, s_seq, b""),
    );
    assert_eq!(take_at_site2(&mut lab).1.flags, FIN | ACK);
    lab.send(server, tcp(server_mac, SITE2.mac, syn.dst, syn.src, FIN | ACK, s_seq, c_seq + 1, b""));
    assert_eq!(lab.take_one("client").flags, FIN | ACK);
    lab.send(
        "client",
        tcp(CLIENT_MAC, SITE1.mac, client(), SITE1.vip_port(POP3), ACK, c_seq + 1, s_seq + 1, b""),
    );
    assert_eq!(take_at_site2(&mut lab).1.flags, ACK);

    assert_eq!(lab.appliance("site1").worker.core.flows.len(), 1);
    assert_eq!(lab.appliance("site1").worker.core.pips.in_use(), 1);
    assert_eq!(counter(&mut lab, "site1", Event::FlowsCreatedProxy), 1);
    assert_eq!(counter(&mut lab, "site2", Event::FlowsCreatedLocal), 1);

    // Closed flows linger a few seconds for stray ACKs, then both entries and
    // the PIP port are released.
    lab.advance(5_000);
    for site in ["site1", "site2"] {
        assert!(lab.appliance(site).worker.core.flows.is_empty(), "{site} still has a flow");
    }
    assert_eq!(lab.appliance("site1").worker.core.pips.in_use(), 0);
    assert_eq!(counter(&mut lab, "site1", Event::FlowsExpiredProxy), 1);
    assert_eq!(counter(&mut lab, "site2", Event::FlowsExpiredLocal), 1);
    for site in ["site1", "site2"] {
        let c = &lab.appliance(site).worker.core.counters;
        assert_eq!(c.total_drops(), 0, "{site} dropped: {:?}", c.nonzero());
    }
}

#[test]
fn servers_coming_back_take_new_connections_while_the_proxied_one_keeps_its_path() {
    let mut lab = seed::lab(Method::RoundRobin, CoreConfig::default());
    seed::set_servers(&mut lab, &SITE1, Health::Down);
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, client(), SITE1.vip_port(POP3), SYN, 1, 0, b""));
    let (server, syn) = take_at_site2(&mut lab);
    let server_mac = SITE2.servers.iter().find(|s| s.0 == server).expect("server").2;

    seed::set_servers(&mut lab, &SITE1, Health::Up);

    // A new connection is served locally by site 1.
    let other = SocketAddrV4::new(CLIENT, CLIENT_PORT + 1);
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, other, SITE1.vip_port(POP3), SYN, 1, 0, b""));
    let local: Vec<_> = ["pop1a", "pop1b"].iter().flat_map(|s| lab.take_inbox(s)).collect();
    assert_eq!(local.len(), 1, "new connection goes to a site 1 server");
    let local = Summary::parse(&local[0]).expect("TCP");
    assert_eq!(local.src, other, "local SLB keeps the client's address");

    // The proxied connection still goes through site 2, both ways.
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, client(), SITE1.vip_port(POP3), ACK, 2, 5001, b""));
    assert_eq!(take_at_site2(&mut lab).1.src, syn.src);
    lab.send(server, tcp(server_mac, SITE2.mac, syn.dst, syn.src, PSH | ACK, 5001, 2, b"+OK\r\n"));
    let back = lab.take_one("client");
    assert_eq!((back.src, back.dst), (SITE1.vip_port(POP3), client()));
    assert_eq!(back.payload, b"+OK\r\n");
}

#[test]
fn an_unreachable_remote_site_means_refusal_with_a_reset() {
    let mut lab = seed::lab(Method::RoundRobin, CoreConfig::default());
    seed::set_servers(&mut lab, &SITE1, Health::Down);
    lab.appliance("site1").update(|s| s.sites[0].reachable = false);
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, client(), SITE1.vip_port(POP3), SYN, 77, 0, b""));
    let rst = lab.take_one("client");
    assert_eq!((rst.src, rst.dst), (SITE1.vip_port(POP3), client()));
    assert_eq!((rst.flags, rst.ack), (dataplane::wire::tcp::flags::RST | ACK, 78));
    assert!(rst.checksums_ok);
    assert!(lab.trace.iter().all(|h| h.to != "site2"), "nothing was sent to site 2");
    let c = &lab.appliance("site1").worker.core.counters;
    assert_eq!(c.dropped(DropReason::NoResource), 1);
    assert_eq!(c.event(Event::ResetsSent), 1);
    assert!(lab.appliance("site1").worker.core.flows.is_empty());
}
