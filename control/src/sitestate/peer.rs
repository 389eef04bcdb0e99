//! What one site knows of another from its reports: whether it is reachable
//! (a valid report within `misses` intervals), its services' health, its
//! load; and the replay protection that decides which reports count.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::wire::{Refusal, Report};

#[derive(Clone, Debug, Default)]
pub struct Peer {
    pub epoch: u64,
    pub seq: u64,
    pub last: Option<Instant>,
    pub load_permille: u16,
    pub services: HashMap<String, bool>,
    pub accepted: u64,
    pub refused: HashMap<&'static str, u64>,
}

impl Peer {
    /// Takes a report if it is newer than anything seen from this peer:
    /// a later epoch (the peer restarted), or a later sequence number in the
    /// same epoch. Older epochs are stale; repeated or older sequence numbers
    /// in the current epoch are replays.
    pub fn accept(&mut self, r: Report, now: Instant) -> Result<bool, Refusal> {
        if self.last.is_some() {
            if r.epoch < self.epoch {
                return Err(self.refuse(Refusal::Stale));
            }
            if r.epoch == self.epoch && r.seq <= self.seq {
                return Err(self.refuse(Refusal::Replayed));
            }
        }
        let services: HashMap<String, bool> = r.services.into_iter().collect();
        let changed =
            self.last.is_none() || services != self.services || self.load_permille != r.load_permille;
        self.epoch = r.epoch;
        self.seq = r.seq;
        self.last = Some(now);
        self.load_permille = r.load_permille;
        self.services = services;
        self.accepted += 1;
        Ok(changed)
    }

    pub fn refuse(&mut self, why: Refusal) -> Refusal {
        *self.refused.entry(why.name()).or_default() += 1;
        why
    }

    pub fn reachable(&self, now: Instant, interval: Duration, misses: u32) -> bool {
        self.last.is_some_and(|t| now.duration_since(t) <= interval * misses)
    }

    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.last.map(|t| now.duration_since(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(epoch: u64, seq: u64, pop3_up: bool) -> Report {
        Report {
            site: "site2".into(),
            epoch,
            seq,
            load_permille: 10,
            services: vec![("pop3".into(), pop3_up)],
        }
    }

    #[test]
    fn newer_reports_count_and_replays_do_not() {
        let t = Instant::now();
        let mut p = Peer::default();
        assert_eq!(p.accept(report(5, 1, true), t), Ok(true));
        assert_eq!(p.accept(report(5, 2, true), t), Ok(false), "nothing changed");
        assert_eq!(p.accept(report(5, 2, true), t), Err(Refusal::Replayed));
        assert_eq!(p.accept(report(5, 1, false), t), Err(Refusal::Replayed));
        assert_eq!(p.accept(report(4, 99, false), t), Err(Refusal::Stale));
        assert_eq!(p.accept(report(5, 3, false), t), Ok(true), "pop3 went down");
        assert_eq!(p.services.get("pop3"), Some(&false));
        assert_eq!(p.refused.get("replayed"), Some(&2));
        assert_eq!(p.refused.get("stale"), Some(&1));
    }

    #[test]
    fn a_restarted_peer_starts_a_new_epoch() {
        let t = Instant::now();
        let mut p = Peer::default();
        p.accept(report(5, 1000, true), t).expect("first");
        assert!(p.accept(report(6, 1, true), t).is_ok());
    }

    #[test]
    fn silence_for_misses_intervals_makes_a_peer_unreachable() {
        let t = Instant::now();
        let mut p = Peer::default();
        let iv = Duration::from_millis(250);
        assert!(!p.reachable(t, iv, 3), "never heard from");
        p.accept(report(1, 1, true), t).expect("first");
        assert!(p.reachable(t + Duration::from_millis(700), iv, 3));
        assert!(!p.reachable(t + Duration::from_millis(800), iv, 3));
    }
}
