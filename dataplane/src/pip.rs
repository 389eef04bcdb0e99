//! Proxy-IP port pools, one set per data core.
//!
//! A proxied flow is known on the way back only by (remote VIP, PIP, PIP port), so
//! every live proxied flow of a PIP needs a port of its own. Each core owns a
//! disjoint share of every PIP's ports (the `owns` rule given at start, later
//! the one that makes the NIC's RSS steer replies back to this core), so cores
//! never coordinate. Free ports are kept in FIFO order: a port just released is
//! reused last, which gives the remote site's TIME_WAIT the longest time to clear.

use std::net::Ipv4Addr;

/// First port handed out; below it are the well-known and registered ports a
/// remote site might treat specially.
pub const FIRST_PORT: u16 = 1024;

/// A fixed ring of free ports for one PIP.
struct Ring {
    ports: Box<[u16]>,
    head: usize,
    len: usize,
}

impl Ring {
    fn pop(&mut self) -> Option<u16> {
        if self.len == 0 {
            return None;
        }
        let p = self.ports[self.head];
        self.head = (self.head + 1) % self.ports.len();
        self.len -= 1;
        Some(p)
    }

    fn push(&mut self, port: u16) {
        // A ring never holds more ports than it was built with, so a push
        // beyond that is a double free: ignoring it keeps the pool sound.
        if self.len == self.ports.len() {
            debug_assert!(false, "PIP port {port} freed twice");
            return;
        }
        let tail = (self.head + self.len) % self.ports.len();
        self.ports[tail] = port;
        self.len += 1;
    }
}

pub struct PipPools {
    rings: Vec<Ring>,
    /// The PIP to try first for the next flow: flows are spread over PIPs.
    next: usize,
}

impl PipPools {
    /// Pools for `pips`, holding the ports in `FIRST_PORT..=65535` for which
    /// `owns(pip, port)` says this core is the owner.
    pub fn new(pips: &[Ipv4Addr], mut owns: impl FnMut(Ipv4Addr, u16) -> bool) -> PipPools {
        let rings = pips
            .iter()
            .map(|&pip| {
                let ports: Box<[u16]> = (FIRST_PORT..=u16::MAX).filter(|&p| owns(pip, p)).collect();
                let len = ports.len();
                Ring { ports, head: 0, len }
            })
            .collect();
        PipPools { rings, next: 0 }
    }

    /// Takes a port from some PIP: `(pip index, port)`, or `None` when every
    /// PIP's share is in use.
    #[inline]
    pub fn alloc(&mut self) -> Option<(u8, u16)> {
        let n = self.rings.len();
        for i in 0..n {
            let pip = (self.next + i) % n;
            if let Some(port) = self.rings[pip].pop() {
                self.next = (pip + 1) % n;
                return Some((pip as u8, port));
            }
        }
        None
    }

    /// Like `alloc`, but prefers a port for which `want(pip, port)` holds,
    /// looking at up to `probes` free ports (those passed over go to the back
    /// of their queue). Falls back to any port: the caller copes with a
    /// port that is merely second best.
    pub fn alloc_where(&mut self, mut want: impl FnMut(u8, u16) -> bool, probes: usize) -> Option<(u8, u16)> {
        for _ in 0..probes {
            let (pip, port) = self.alloc()?;
            if want(pip, port) {
                return Some((pip, port));
            }
            self.free(pip, port);
        }
        self.alloc()
    }

    #[inline]
    pub fn free(&mut self, pip: u8, port: u16) {
        if let Some(r) = self.rings.get_mut(usize::from(pip)) {
            r.push(port);
        }
    }

    /// Ports handed out and not yet freed, over all PIPs.
    pub fn in_use(&self) -> usize {
        self.rings.iter().map(|r| r.ports.len() - r.len).sum()
    }

    pub fn available(&self) -> usize {
        self.rings.iter().map(|r| r.len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const PIP_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 200);
    const PIP_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 201);

    #[test]
    fn ports_are_unique_until_freed_and_exhaustion_is_reported() {
        let mut p = PipPools::new(&[PIP_A], |_, port| port < 1034);
        let mut seen = HashSet::new();
        for _ in 0..10 {
            let got = p.alloc().expect("port");
            assert!(seen.insert(got), "port {got:?} handed out twice");
        }
        assert_eq!(p.alloc(), None);
        assert_eq!(p.in_use(), 10);
        p.free(0, 1030);
        assert_eq!(p.alloc(), Some((0, 1030)));
    }

    #[test]
    fn released_ports_go_to_the_back_of_the_queue() {
        let mut p = PipPools::new(&[PIP_A], |_, port| port < 1027);
        let first = p.alloc().expect("port");
        p.free(first.0, first.1);
        assert_ne!(p.alloc(), Some(first));
    }

    #[test]
    fn cores_share_ports_without_overlap() {
        let ncores = 2u16;
        let mut pools: Vec<PipPools> =
            (0..ncores).map(|c| PipPools::new(&[PIP_A, PIP_B], move |_, port| port % ncores == c)).collect();
        let mut seen = HashSet::new();
        for pool in &mut pools {
            while let Some((pip, port)) = pool.alloc() {
                assert!(seen.insert((pip, port)));
            }
        }
        assert_eq!(seen.len(), 2 * (65536 - 1024));
    }

    #[test]
    fn flows_alternate_between_pips() {
        let mut p = PipPools::new(&[PIP_A, PIP_B], |_, _| true);
        let a = p.alloc().expect("port").0;
        let b = p.alloc().expect("port").0;
        assert_ne!(a, b);
    }

    #[test]
    fn a_preferred_port_is_found_when_there_is_one() {
        let mut p = PipPools::new(&[PIP_A, PIP_B], |_, port| port < 1100);
        let got = p.alloc_where(|pip, port| pip == 1 && port % 7 == 3, 64).expect("port");
        assert_eq!((got.0, got.1 % 7), (1, 3));
        // None qualifies: still a port, and nothing is lost.
        let before = p.available();
        assert!(p.alloc_where(|_, _| false, 8).is_some());
        assert_eq!(p.available(), before - 1);
    }

    #[test]
    fn no_pips_means_no_ports() {
        let mut p = PipPools::new(&[], |_, _| true);
        assert_eq!(p.alloc(), None);
        p.free(3, 2000);
    }
}
