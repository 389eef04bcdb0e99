//! The seed scenario narrated: two in-memory sites, real data-path workers,
//! every frame of a POP3 session printed as it crosses the wire.

use std::net::SocketAddrV4;

use dataplane::counters::Event;
use dataplane::lab::frames::{tcp, Summary};
use dataplane::lab::net::Lab;
use dataplane::lab::seed::{self, Site, CLIENT, CLIENT_MAC, CLIENT_PORT, POP3, SITE1, SITE2};
use dataplane::pipeline::CoreConfig;
use dataplane::snapshot::{Health, Method};
use dataplane::wire::tcp::flags::{ACK, FIN, PSH, SYN};
use dataplane::wire::MacAddr;

/// What each of the six steps of the GSLB chapter is, in its words.
const STEPS: [&str; 6] = [
    "the client's SYN reaches site 1's VIP; site 1 has no local server for it",
    "site 1 rewrites it: source = its proxy IP, destination = site 2's VIP",
    "site 2 sees an ordinary SYN to its VIP and load-balances it locally",
    "the real server answers the proxy IP, through site 2's appliance",
    "site 2 sends the SYN-ACK to site 1: from its VIP, to site 1's proxy IP",
    "site 1 translates it back: from its own VIP, to the client",
];

fn show(lab: &Lab, mark: usize, label: &mut dyn FnMut(usize) -> Option<String>) -> Result<(), String> {
    for (i, hop) in lab.trace[mark..].iter().enumerate() {
        let s = hop.summary().ok_or("a frame that is not IPv4 crossed the wire")?;
        let tag = label(i).unwrap_or_default();
        let text: String = String::from_utf8_lossy(&s.payload).chars().take(24).collect();
        let text = if text.is_empty() { String::new() } else { format!("  {:?}", text) };
        println!("  {:<7} {:>6} -> {:<6} {}{}", tag, hop.from, hop.to, s, text);
    }
    Ok(())
}

fn take_at(lab: &mut Lab, site: &Site) -> Result<(&'static str, MacAddr, Summary), String> {
    for &(name, _, mac) in &site.servers {
        if let Some(f) = lab.take_inbox(name).pop() {
            return Ok((name, mac, Summary::parse(&f).ok_or("unparsable frame at a server")?));
        }
    }
    Err(format!("no server of {} received the frame", site.name))
}

pub fn run() -> Result<(), String> {
    let mut lab =
        seed::lab(Method::RoundRobin, CoreConfig { flow_capacity: 1 << 16, ..CoreConfig::default() });
    let client = SocketAddrV4::new(CLIENT, CLIENT_PORT);
    let vip = SITE1.vip_port(POP3);
    println!("gslbd two-site demo (in memory, one data core per site)");
    println!(
        "  client {CLIENT}   site 1: VIP {}  PIP {}   site 2: VIP {}  PIP {}",
        SITE1.vip, SITE1.pip, SITE2.vip, SITE2.pip
    );
    println!(
        "  site 1 real servers {} {}, site 2 real servers {} {}",
        SITE1.servers[0].1, SITE1.servers[1].1, SITE2.servers[0].1, SITE2.servers[1].1
    );
    println!();
    println!("Site 1's POP3 servers are marked down (operator error); site 2 is reachable and healthy.");
    seed::set_servers(&mut lab, &SITE1, Health::Down);
    println!();

    let mark = lab.trace.len();
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, client, vip, SYN, 1000, 0, b""));
    let (server, server_mac, syn) = take_at(&mut lab, &SITE2)?;
    let mut step = 0;
    show(&lab, mark, &mut |_| {
        step += 1;
        Some(format!("step {step}"))
    })?;
    let mark = lab.trace.len();
    lab.send(server, tcp(server_mac, SITE2.mac, syn.dst, syn.src, SYN | ACK, 5000, 1001, b""));
    show(&lab, mark, &mut |_| {
        step += 1;
        Some(format!("step {step}"))
    })?;
    lab.take_inbox("client");
    println!();
    for (i, what) in STEPS.iter().enumerate() {
        println!("  step {}: {what}", i + 1);
    }

    println!();
    println!("The session goes on, every frame on the same path, until FIN:");
    let (mut c, mut s) = (1001u32, 5001u32);
    let mark = lab.trace.len();
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, client, vip, ACK, c, s, b""));
    take_at(&mut lab, &SITE2)?;
    for (from_client, data) in [
        (false, &b"+OK POP3 ready\r\n"[..]),
        (true, &b"USER alice\r\n"[..]),
        (false, &b"+OK\r\n"[..]),
        (true, &b"RETR 1\r\n"[..]),
        (false, &b"+OK 12 octets\r\nHello Alice\r\n.\r\n"[..]),
    ] {
        if from_client {
            lab.send("client", tcp(CLIENT_MAC, SITE1.mac, client, vip, PSH | ACK, c, s, data));
            take_at(&mut lab, &SITE2)?;
            c += data.len() as u32;
        } else {
            lab.send(server, tcp(server_mac, SITE2.mac, syn.dst, syn.src, PSH | ACK, s, c, data));
            lab.take_inbox("client");
            s += data.len() as u32;
        }
    }
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, client, vip, FIN | ACK, c, s, b""));
    take_at(&mut lab, &SITE2)?;
    lab.send(server, tcp(server_mac, SITE2.mac, syn.dst, syn.src, FIN | ACK, s, c + 1, b""));
    lab.take_inbox("client");
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, client, vip, ACK, c + 1, s + 1, b""));
    take_at(&mut lab, &SITE2)?;
    show(&lab, mark, &mut |_| None)?;

    println!();
    lab.advance(5_000);
    for name in [SITE1.name, SITE2.name] {
        let a = lab.appliance(name);
        let core = &a.worker.core;
        let c = &core.counters;
        println!(
            "{name}: flows now {}, proxy flows made {}, local flows made {}, expired {}, PIP ports in use {}, drops {}",
            core.flows.len(),
            c.event(Event::FlowsCreatedProxy),
            c.event(Event::FlowsCreatedLocal),
            c.event(Event::FlowsExpiredLocal) + c.event(Event::FlowsExpiredProxy),
            core.pips.in_use(),
            c.total_drops()
        );
    }

    println!();
    println!("Site 1's servers come back: a new session is served locally.");
    seed::set_servers(&mut lab, &SITE1, Health::Up);
    let mark = lab.trace.len();
    let again = SocketAddrV4::new(CLIENT, CLIENT_PORT + 1);
    lab.send("client", tcp(CLIENT_MAC, SITE1.mac, again, vip, SYN, 1, 0, b""));
    show(&lab, mark, &mut |_| None)?;
    Ok(())
}
