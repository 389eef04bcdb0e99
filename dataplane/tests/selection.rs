//! Each selection method, seen through the data path: how new connections
//! spread over a group, and how they move when members change.

mod common;

use common::{client, servers_snapshot, syn_from, which, Rig};
use dataplane::lab::seed::{CLIENT, POP3, SITE1};
use dataplane::select::Selector;
use dataplane::snapshot::{Health, Method};
use std::net::{Ipv4Addr, SocketAddrV4};

fn spread(rig: &mut Rig, n: usize, from: impl Fn(usize) -> SocketAddrV4) -> Vec<usize> {
    let mut counts = vec![0; rig.snap.real_servers.len()];
    for i in 0..n {
        let s = rig.forward(&syn_from(from(i), SITE1.vip_port(POP3)));
        counts[which(&s)] += 1;
    }
    counts
}

fn ports(i: usize) -> SocketAddrV4 {
    client(10_000 + i as u16)
}

#[test]
fn round_robin_takes_turns() {
    let mut rig = Rig::new(servers_snapshot(Method::RoundRobin, &[1, 1, 1, 1]), 4096);
    assert_eq!(spread(&mut rig, 400, ports), vec![100; 4]);
}

#[test]
fn round_robin_skips_a_down_server() {
    let mut rig = Rig::new(servers_snapshot(Method::RoundRobin, &[1, 1, 1]), 4096);
    rig.update(|s| s.real_servers[1].health = Health::Down);
    assert_eq!(spread(&mut rig, 300, ports), vec![150, 0, 150]);
}

#[test]
fn weighted_round_robin_follows_the_weights() {
    let mut rig = Rig::new(servers_snapshot(Method::WeightedRoundRobin, &[1, 2, 3, 4]), 4096);
    assert_eq!(spread(&mut rig, 1000, ports), vec![100, 200, 300, 400]);
}

#[test]
fn least_connections_fills_the_emptiest_server() {
    let mut rig = Rig::new(servers_snapshot(Method::LeastConnections, &[1, 3]), 4096);
    // Weighted: a server with weight 3 carries three times the connections.
    assert_eq!(spread(&mut rig, 100, ports), vec![25, 75]);
    // Close five of server 0's connections with a RST from its side: the next
    // five new connections all go to it.
    let mut closed = 0;
    for i in 0..100 {
        let sel = &rig.core.select;
        if closed == 5 || sel.conns(0) == 0 {
            break;
        }
        let s = rig.forward(&syn_from(ports(i), SITE1.vip_port(POP3)));
        if which(&s) == 0 {
            let rst = dataplane::lab::frames::tcp(
                common::server_mac(0),
                SITE1.mac,
                s.dst,
                s.src,
                dataplane::wire::tcp::flags::RST,
                0,
                0,
                b"",
            );
            rig.forward(&rst);
            closed += 1;
        }
    }
    rig.advance(10_000);
    assert_eq!(rig.core.select.conns(0), 20);
    assert_eq!(spread(&mut rig, 5, |i| ports(5000 + i)), vec![5, 0]);
}

#[test]
fn source_hash_keeps_a_client_on_one_server() {
    let mut rig = Rig::new(servers_snapshot(Method::SourceHash, &[1, 1, 1, 1]), 8192);
    let one = spread(&mut rig, 200, ports);
    assert_eq!(one.iter().filter(|&&c| c > 0).count(), 1, "one client, one server: {one:?}");
    // Many clients spread over all four.
    let many = spread(&mut rig, 2000, |i| SocketAddrV4::new(Ipv4Addr::from(0x0a10_0000 + i as u32), 5555));
    for c in &many {
        assert!((350..650).contains(c), "uneven source hash spread {many:?}");
    }
}

#[test]
fn maglev_spreads_by_weight() {
    let mut rig = Rig::new(servers_snapshot(Method::Maglev, &[1, 1, 2]), 16384);
    let counts = spread(&mut rig, 8000, |i| SocketAddrV4::new(Ipv4Addr::from(0x0a20_0000 + i as u32), 7000));
    let expect = [2000.0, 2000.0, 4000.0];
    for (c, e) in counts.iter().zip(expect) {
        let dev = (*c as f64 - e).abs() / e;
        assert!(dev < 0.08, "maglev share {counts:?} vs {expect:?}");
    }
}

#[test]
fn maglev_moves_only_the_connections_of_a_member_that_leaves() {
    let rig = Rig::new(servers_snapshot(Method::Maglev, &[1; 10]), 16);
    let mut sel = Selector::new(1, std::sync::Arc::new(dataplane::counters::CoreCounters::default()));
    sel.resize(&rig.snap);
    let hashes: Vec<u64> = (0..20_000u64).map(|i| dataplane::hash::hash2(99, i, i * 7)).collect();
    let before: Vec<u16> =
        hashes.iter().map(|&h| sel.pick(&rig.snap, 0, 1, h).expect("pick").server).collect();

    let mut after_snap = rig.snap.clone();
    after_snap.real_servers[3].health = Health::Down;
    let after_snap = after_snap.build().expect("valid");
    let after: Vec<u16> =
        hashes.iter().map(|&h| sel.pick(&after_snap, 0, 1, h).expect("pick").server).collect();

    let mut moved_needlessly = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(*a, 3, "a down member got a connection");
        if *b != 3 && a != b {
            moved_needlessly += 1;
        }
    }
    let frac = moved_needlessly as f64 / hashes.len() as f64;
    assert!(frac < 0.02, "{:.2}% of connections moved between surviving members", frac * 100.0);

    // And when it returns, connections mostly go back where they were.
    let back: Vec<u16> = hashes.iter().map(|&h| sel.pick(&rig.snap, 0, 1, h).expect("pick").server).collect();
    assert_eq!(back, before);
}

#[test]
fn every_method_uses_the_backup_when_the_group_is_down() {
    for method in [
        Method::RoundRobin,
        Method::WeightedRoundRobin,
        Method::LeastConnections,
        Method::SourceHash,
        Method::Maglev,
    ] {
        let mut snap = servers_snapshot(method, &[1, 1, 0]);
        snap.groups[0].members.pop();
        snap.groups[0].backup = dataplane::snapshot::Backup::Server(2);
        let mut rig = Rig::new(snap, 64);
        rig.update(|s| {
            s.real_servers[0].health = Health::Down;
            s.real_servers[1].health = Health::Down;
        });
        let s = rig.forward(&syn_from(SocketAddrV4::new(CLIENT, 1234), SITE1.vip_port(POP3)));
        assert_eq!(which(&s), 2, "{method:?} did not use the backup server");
        assert_eq!(rig.core.counters.event(dataplane::counters::Event::BackupUsed), 1);
    }
}
