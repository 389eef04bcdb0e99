//! This site's end of the site-state protocol: a UDP socket on one of the
//! appliance's own addresses, the peers' state, and when to report.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::peer::Peer;
use super::wire::{decode, encode, Refusal, Report};

/// A remote site as the control side reports it (admin API, metrics).
#[derive(Clone, Debug)]
pub struct RemoteStatus {
    pub name: String,
    pub reachable: bool,
    pub age: Option<Duration>,
    pub load_permille: u16,
    pub services: HashMap<String, bool>,
    pub accepted: u64,
    pub refused: HashMap<&'static str, u64>,
}

pub struct Node {
    sock: UdpSocket,
    key: Vec<u8>,
    site: String,
    epoch: u64,
    seq: u64,
    pub interval: Duration,
    pub misses: u32,
    peers: HashMap<String, Peer>,
    addrs: Vec<(String, SocketAddr)>,
    last_sent: Option<Instant>,
    last_reachable: HashMap<String, bool>,
    /// Refusals that cannot be pinned on a known peer.
    pub refused_unknown: HashMap<&'static str, u64>,
}

impl Node {
    pub fn new(
        listen: SocketAddr,
        key: &str,
        site: &str,
        peers: &[(String, SocketAddr)],
        interval: Duration,
        misses: u32,
    ) -> io::Result<Node> {
        let sock = UdpSocket::bind(listen)?;
        sock.set_nonblocking(true)?;
        // A new epoch every start: peers take our sequence numbers from 1 again.
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        Ok(Node {
            sock,
            key: key.as_bytes().to_vec(),
            site: site.to_string(),
            epoch,
            seq: 0,
            interval,
            misses,
            peers: peers.iter().map(|(n, _)| (n.clone(), Peer::default())).collect(),
            addrs: peers.to_vec(),
            last_sent: None,
            last_reachable: HashMap::new(),
            refused_unknown: HashMap::new(),
        })
    }

    /// Reads every waiting report; true if what we know of a peer changed
    /// (its services, its load, or whether it is reachable).
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut changed = false;
        let mut buf = [0u8; 2048];
        while let Ok((n, _from)) = self.sock.recv_from(&mut buf) {
            match decode(&buf[..n], &self.key) {
                Ok(report) => match self.peers.get_mut(&report.site) {
                    Some(peer) => changed |= peer.accept(report, now).unwrap_or(false),
                    None => *self.refused_unknown.entry(Refusal::UnknownSite.name()).or_default() += 1,
                },
                Err(why) => *self.refused_unknown.entry(why.name()).or_default() += 1,
            }
        }
        for (name, peer) in &self.peers {
            let r = peer.reachable(now, self.interval, self.misses);
            if self.last_reachable.insert(name.clone(), r) != Some(r) {
                changed = true;
            }
        }
        changed
    }

    /// Sends a report to every peer if an interval has passed, or at once with `now_please`.
    pub fn report(
        &mut self,
        now: Instant,
        services: &[(String, bool)],
        load_permille: u16,
        now_please: bool,
    ) {
        let due = self.last_sent.is_none_or(|t| now.duration_since(t) >= self.interval);
        if !(due || now_please) {
            return;
        }
        self.seq += 1;
        let wire = encode(
            &Report {
                site: self.site.clone(),
                epoch: self.epoch,
                seq: self.seq,
                load_permille,
                services: services.to_vec(),
            },
            &self.key,
        );
        for (_, addr) in &self.addrs {
            // A peer we cannot send to right now is simply not told this time.
            let _ = self.sock.send_to(&wire, addr);
        }
        self.last_sent = Some(now);
    }

    pub fn status(&self, now: Instant) -> Vec<RemoteStatus> {
        let mut v: Vec<RemoteStatus> = self
            .peers
            .iter()
            .map(|(name, p)| RemoteStatus {
                name: name.clone(),
                reachable: p.reachable(now, self.interval, self.misses),
                age: p.age(now),
                load_permille: p.load_permille,
                services: p.services.clone(),
                accepted: p.accepted,
                refused: p.refused.clone(),
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(site: &str, peer: &str, peer_addr: SocketAddr, key: &str) -> Node {
        let peers = vec![(peer.to_string(), peer_addr)];
        Node::new("127.0.0.1:0".parse().expect("addr"), key, site, &peers, Duration::from_millis(100), 3)
            .expect("bind")
    }

    fn wait_for(mut f: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn two_sites_learn_each_other_and_notice_silence() {
        let mut a = node("site1", "site2", "127.0.0.1:9".parse().expect("addr"), "k");
        let mut b = node("site2", "site1", a.sock.local_addr().expect("addr"), "k");
        a.addrs[0].1 = b.sock.local_addr().expect("addr");
        b.report(Instant::now(), &[("pop3".into(), true)], 250, true);
        assert!(wait_for(|| a.poll(Instant::now())), "site1 never heard site2");
        let s = &a.status(Instant::now())[0];
        assert!(s.reachable);
        assert_eq!((s.load_permille, s.services.get("pop3")), (250, Some(&true)));
        // Silence beyond misses × interval.
        assert!(a.poll(Instant::now() + Duration::from_millis(400)));
        assert!(!a.status(Instant::now() + Duration::from_millis(400))[0].reachable);
    }

    #[test]
    fn reports_with_another_key_are_refused_and_counted() {
        let mut a = node("site1", "site2", "127.0.0.1:9".parse().expect("addr"), "right");
        let mut b = node("site2", "site1", a.sock.local_addr().expect("addr"), "wrong");
        b.report(Instant::now(), &[("pop3".into(), true)], 0, true);
        assert!(wait_for(|| {
            a.poll(Instant::now());
            a.refused_unknown.get("bad_mac") == Some(&1)
        }));
        assert!(!a.status(Instant::now())[0].reachable);
    }
}
