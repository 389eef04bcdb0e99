//! Real-server selection: the per-core half of each method.
//!
//! What can be computed once per snapshot (the Maglev table, the weighted
//! round-robin schedule) is built by the control side into the snapshot; what
//! changes per connection (round-robin cursors, connection counts) lives here,
//! owned by one data core (the connection counts in its `CoreCounters`, which
//! the metrics read too). Least connections and maximum connections therefore
//! see this core's connections only: with RSS spreading clients evenly that
//! approximates the global count without any shared write.

pub mod maglev;
pub mod wrr;

use std::sync::Arc;

use crate::counters::CoreCounters;
use crate::snapshot::{Backup, Group, Health, Method, Snapshot};

/// The chosen real server, and whether it came from the group's backup.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Pick {
    pub server: u16,
    pub backup: bool,
}

pub struct Selector {
    /// Next position per group, for round robin and the WRR schedule.
    cursors: Vec<u32>,
    /// This core's counters: its open connections per real server live there
    /// (sized for every real server a snapshot may have), so the count the
    /// methods use and the one the metrics show are the same memory.
    counters: Arc<CoreCounters>,
    cores: u32,
}

impl Selector {
    pub fn new(cores: u32, counters: Arc<CoreCounters>) -> Selector {
        Selector { cursors: Vec::new(), counters, cores: cores.max(1) }
    }

    /// Sizes the per-group array for a new snapshot (control keeps indices
    /// stable, so existing counts stay meaningful). Runs only when a snapshot
    /// changes, never per packet.
    pub fn resize(&mut self, snap: &Snapshot) {
        self.cursors.resize(snap.groups.len(), 0);
    }

    #[inline]
    pub fn conns(&self, server: u16) -> u32 {
        self.counters.server_active(server) as u32
    }

    /// A new connection is going to `server`: it counts against the
    /// server's limit from now. Undone by `closed` if its flow is not made.
    #[inline]
    pub fn reserve(&mut self, server: u16) {
        self.counters.server_reserved(server);
    }

    /// The flow of a reserved connection was made.
    #[inline]
    pub fn opened(&mut self, server: u16) {
        self.counters.server_opened(server);
    }

    /// A connection to `server` ended, or a reserved one was not made.
    #[inline]
    pub fn closed(&mut self, server: u16) {
        self.counters.server_closed(server);
    }

    /// Whether `server` can take one more connection on this core.
    #[inline]
    fn available(&self, snap: &Snapshot, server: u16) -> bool {
        let Some(rs) = snap.real_servers.get(usize::from(server)) else {
            return false;
        };
        if rs.health != Health::Up {
            return false;
        }
        rs.max_conns == 0 || self.conns(server) < (rs.max_conns / self.cores).max(1)
    }

    /// A real server for a new connection to `group`: from its members, else
    /// its backup. `client` and `hash` are the client address and the flow hash.
    pub fn pick(&mut self, snap: &Snapshot, group: u16, client: u32, hash: u64) -> Option<Pick> {
        let g = snap.groups.get(usize::from(group))?;
        if let Some(server) = self.pick_member(snap, group, g, client, hash) {
            return Some(Pick { server, backup: false });
        }
        let server = match g.backup {
            Backup::None => None,
            Backup::Server(s) => self.available(snap, s).then_some(s),
            Backup::Group(b) => {
                let bg = snap.groups.get(usize::from(b))?;
                self.pick_member(snap, b, bg, client, hash)
            }
        }?;
        Some(Pick { server, backup: true })
    }

    fn pick_member(&mut self, snap: &Snapshot, gi: u16, g: &Group, client: u32, hash: u64) -> Option<u16> {
        let n = g.members.len();
        if n == 0 {
            return None;
        }
        let ok = |s: &Selector, m: usize| s.available(snap, g.members[m].server) && g.members[m].weight > 0;
        let member = match g.method {
            Method::RoundRobin => {
                let cursor = &mut self.cursors[usize::from(gi)];
                let start = *cursor as usize % n;
                let found = (0..n).map(|i| (start + i) % n).find(|&m| ok(self, m));
                if let Some(m) = found {
                    self.cursors[usize::from(gi)] = (m + 1) as u32;
                }
                found
            }
            Method::WeightedRoundRobin => {
                let len = g.wrr.len();
                let start = self.cursors[usize::from(gi)] as usize;
                let found =
                    (0..len).map(|i| (start + i) % len.max(1)).find(|&p| ok(self, usize::from(g.wrr[p])));
                found.map(|p| {
                    self.cursors[usize::from(gi)] = ((p + 1) % len) as u32;
                    usize::from(g.wrr[p])
                })
            }
            Method::LeastConnections => (0..n).filter(|&m| ok(self, m)).min_by(|&a, &b| {
                // conns/weight compared without division.
                let ca = u64::from(self.conns(g.members[a].server)) * u64::from(g.members[b].weight);
                let cb = u64::from(self.conns(g.members[b].server)) * u64::from(g.members[a].weight);
                ca.cmp(&cb)
            }),
            Method::SourceHash => {
                let start = (crate::hash::mum(u64::from(client), 0x5bd1_e995) % n as u64) as usize;
                (0..n).map(|i| (start + i) % n).find(|&m| ok(self, m))
            }
            Method::Maglev => {
                let slot = g.maglev.get((hash % maglev::TABLE_SIZE as u64) as usize).copied();
                match slot {
                    Some(m) if m != maglev::NONE && ok(self, usize::from(m)) => Some(usize::from(m)),
                    // Its owner is at its connection limit (or the table is empty):
                    // spill deterministically to the next member that can take it.
                    _ => {
                        let start = (hash % n as u64) as usize;
                        (0..n).map(|i| (start + i) % n).find(|&m| ok(self, m))
                    }
                }
            }
        }?;
        Some(g.members[member].server)
    }
}
