//! How an idle data core sleeps, as a rule apart from the sleeping: after
//! `polls` empty polls in a row it sleeps between polls, so appliances can
//! share a small machine; one packet and it polls flat out again.
//!
//! A nap (a timed sleep) exists to batch: under load, what arrives meanwhile
//! is taken in one burst, one wake-up and one transmit call for many packets
//! (answering each arrival at once cost 1.2-2x the CPU per DNS answer flat
//! out, `perf/README.md`). When arrivals are sparse a nap batches nothing and
//! only makes the next packet wait for its end. So the rule keeps a running
//! mean of what its sleeps gathered (the packets of the poll right after
//! each): while it is under `BATCH`, a core that can sleep on its queues'
//! files (a `Waker`) does so at once, woken by the next arrival; while it is
//! at least `BATCH`, the first sleep after work is a nap, and only a nap that
//! found nothing leads to the files. Either way the mean is kept from what
//! the sleeps actually gather, so a rising rate turns the naps back on
//! (a wake-up on arrival then finds the packets that came while it woke and
//! worked). While sleeps do not batch, the spin before sleeping is shorter
//! too: it mostly finds nothing, and the files wake the core for what comes.
//! Each sleep on the files that ends with nothing doubles the next
//! up to `max_sleep` (the bound on how late the rest, which no file
//! announces, is seen). Without files it only naps.

use std::time::Duration;

/// Packets a sleep must gather, on average, for napping to be worth it. Under
/// dnsperf, naps gathered about 30 a sleep flat out and 2.5 at 20k queries/s,
/// where waking on arrival instead cut the median from 0.07 to 0.025 ms.
const BATCH: u32 = 4;
/// While sleeps do not batch (and files wake the core), the spin before
/// sleeping is this many times shorter: at 20k DNS queries/s it cut the CPU
/// per answer by a sixth and the median too (`perf/README.md`).
const SPARSE_SPIN: u32 = 4;
/// The mean is kept in sixteenths, over about the last `1 << DECAY` sleeps.
const ONE: u32 = 16;
const DECAY: u32 = 3;
/// One huge burst moves the mean no further than this many packets would.
const CLAMP: usize = 32;

#[derive(Copy, Clone, Debug)]
pub(super) struct Idle {
    pub polls: u32,
    pub sleep: Duration,
    pub max_sleep: Duration,
}

/// What to do after a poll.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Next {
    Poll,
    /// A timed nap (cut short by the DNS thread's doorbell, where there is one).
    Nap(Duration),
    /// Sleep on the queues' files, at most this long.
    Files(Duration),
}

pub(super) struct IdleState {
    idle: Idle,
    files: bool,
    empty: u32,
    /// Sleeps since the last work.
    sleeps: u32,
    /// The next sleep on the files.
    next: Duration,
    /// Whether the last answer was a sleep: the next poll's packets are
    /// what it gathered.
    slept: bool,
    /// Running mean of the packets a sleep gathered, in sixteenths.
    gathered: u32,
}

impl IdleState {
    /// `files`: whether the core has files to sleep on.
    pub fn new(idle: Idle, files: bool) -> IdleState {
        // Starts as if sleeps batch: the timed nap was the rule before there
        // was anything to go by.
        IdleState { idle, files, empty: 0, sleeps: 0, next: idle.sleep, slept: false, gathered: BATCH * ONE }
    }

    /// Whether sleeps lately gathered enough to make napping worth it.
    pub fn batching(&self) -> bool {
        self.gathered >= BATCH * ONE
    }

    /// Empty polls before sleeping. While sleeps gather single packets and
    /// the files wake the core, most of a long spin finds nothing; a share
    /// of it still catches a query's close followers without a wake-up.
    fn spin(&self) -> u32 {
        if self.files && !self.batching() {
            (self.idle.polls / SPARSE_SPIN).max(1)
        } else {
            self.idle.polls
        }
    }

    /// After a poll that found `work` packets.
    pub fn after(&mut self, work: usize) -> Next {
        if std::mem::take(&mut self.slept) {
            let got = work.min(CLAMP) as u32 * ONE;
            self.gathered = self.gathered - (self.gathered >> DECAY) + (got >> DECAY);
        }
        if work > 0 {
            self.empty = 0;
            self.sleeps = 0;
            self.next = self.idle.sleep;
            return Next::Poll;
        }
        self.empty = self.empty.saturating_add(1);
        if self.empty < self.spin() {
            return Next::Poll;
        }
        self.slept = true;
        self.sleeps = self.sleeps.saturating_add(1);
        if !self.files || (self.sleeps == 1 && self.batching()) {
            return Next::Nap(self.idle.sleep);
        }
        let d = self.next;
        self.next = (self.next * 2).min(self.idle.max_sleep);
        Next::Files(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    fn idle() -> Idle {
        Idle { polls: 3, sleep: 50 * US, max_sleep: 300 * US }
    }

    /// Spins to the first sleep, then has that sleep gather `got`.
    fn idle_period(s: &mut IdleState, got: usize) -> Next {
        let mut n = s.after(0);
        while n == Next::Poll {
            n = s.after(0);
        }
        assert_eq!(s.after(got), Next::Poll);
        n
    }

    #[test]
    fn spins_then_naps_then_sleeps_on_the_files_doubling_to_the_bound() {
        let mut s = IdleState::new(idle(), true);
        let seen: Vec<Next> = (0..8).map(|_| s.after(0)).collect();
        use Next::*;
        assert_eq!(
            seen,
            [
                Poll,
                Poll,
                Nap(50 * US),
                Files(50 * US),
                Files(100 * US),
                Files(200 * US),
                Files(300 * US),
                Files(300 * US)
            ]
        );
    }

    #[test]
    fn work_starts_over_with_spinning_and_the_shortest_sleep() {
        let mut s = IdleState::new(idle(), true);
        for _ in 0..6 {
            s.after(0);
        }
        assert_eq!(s.after(5), Next::Poll);
        // The sleeps so far gathered little: a short spin, then the files,
        // starting again from the shortest sleep.
        let seen: Vec<Next> = (0..3).map(|_| s.after(0)).collect();
        assert_eq!(seen, [Next::Files(50 * US), Next::Files(100 * US), Next::Files(200 * US)]);
        // Dense traffic: the whole spin, then a nap.
        let mut s = IdleState::new(idle(), true);
        assert_eq!(s.after(5), Next::Poll);
        let seen: Vec<Next> = (0..3).map(|_| s.after(0)).collect();
        assert_eq!(seen, [Next::Poll, Next::Poll, Next::Nap(50 * US)]);
    }

    #[test]
    fn sparse_arrivals_go_straight_to_the_files() {
        let mut s = IdleState::new(idle(), true);
        // One packet a sleep: naps batch nothing.
        let firsts: Vec<Next> = (0..12).map(|_| idle_period(&mut s, 1)).collect();
        assert_eq!(firsts[0], Next::Nap(50 * US));
        assert!(!s.batching());
        assert_eq!(*firsts.last().unwrap(), Next::Files(50 * US), "{firsts:?}");
    }

    #[test]
    fn a_rising_rate_turns_the_naps_back_on() {
        let mut s = IdleState::new(idle(), true);
        for _ in 0..12 {
            idle_period(&mut s, 1);
        }
        assert!(!s.batching());
        // Woken on arrival, the core now finds several packets each time.
        let firsts: Vec<Next> = (0..12).map(|_| idle_period(&mut s, 6)).collect();
        assert_eq!(firsts[0], Next::Files(50 * US));
        assert!(s.batching());
        assert_eq!(*firsts.last().unwrap(), Next::Nap(50 * US), "{firsts:?}");
    }

    #[test]
    fn dense_arrivals_keep_napping_first() {
        let mut s = IdleState::new(idle(), true);
        let firsts: Vec<Next> = (0..20).map(|_| idle_period(&mut s, 8)).collect();
        assert!(firsts.iter().all(|&n| n == Next::Nap(50 * US)), "{firsts:?}");
    }

    #[test]
    fn one_huge_burst_does_not_hold_the_naps_on() {
        let mut s = IdleState::new(idle(), true);
        for _ in 0..12 {
            idle_period(&mut s, 1);
        }
        idle_period(&mut s, 10_000);
        let firsts: Vec<Next> = (0..16).map(|_| idle_period(&mut s, 1)).collect();
        assert_eq!(*firsts.last().unwrap(), Next::Files(50 * US), "{firsts:?}");
    }

    #[test]
    fn sparse_arrivals_spin_a_shorter_while() {
        let idle = Idle { polls: 8, sleep: 50 * US, max_sleep: 300 * US };
        let polls_to_sleep = |s: &mut IdleState| (1..).find(|_| s.after(0) != Next::Poll).unwrap();
        let mut s = IdleState::new(idle, true);
        assert_eq!(polls_to_sleep(&mut s), 8);
        for _ in 0..12 {
            idle_period(&mut s, 1);
        }
        assert!(!s.batching());
        assert_eq!(polls_to_sleep(&mut s), 8 / SPARSE_SPIN);
        // Dense again: the whole spin comes back with the naps.
        for _ in 0..12 {
            idle_period(&mut s, 8);
        }
        assert_eq!(polls_to_sleep(&mut s), 8);
        // Without files nothing wakes the core early: the spin stays whole.
        let mut s = IdleState::new(idle, false);
        for _ in 0..12 {
            idle_period(&mut s, 1);
        }
        assert_eq!(polls_to_sleep(&mut s), 8);
    }

    #[test]
    fn without_files_it_only_naps() {
        let mut s = IdleState::new(idle(), false);
        let seen: Vec<Next> = (0..6).map(|_| s.after(0)).collect();
        assert!(seen[2..].iter().all(|&n| n == Next::Nap(50 * US)), "{seen:?}");
        for _ in 0..12 {
            assert_eq!(idle_period(&mut s, 1), Next::Nap(50 * US));
        }
    }
}
