//! How an idle data core sleeps, as a rule apart from the sleeping: after
//! `polls` empty polls in a row it sleeps between polls, so appliances can
//! share a small machine; one packet and it polls flat out again.
//!
//! The first sleep after work is a timed nap of `sleep`: under load, what
//! arrives meanwhile is taken in one burst, one wake-up and one transmit call
//! for many packets (answering each arrival at once cost 1.2-2x the CPU per
//! DNS answer flat out, `perf/README.md`). A nap that found nothing means the
//! traffic has paused: a core that can sleep on its queues' files (a
//! `Waker`) then does, woken by the next arrival, each such sleep that ends
//! with nothing doubling the next up to `max_sleep` (the bound on how late
//! the rest, which no file announces, is seen). Without one it keeps napping.

use std::time::Duration;

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
}

impl IdleState {
    /// `files`: whether the core has files to sleep on.
    pub fn new(idle: Idle, files: bool) -> IdleState {
        IdleState { idle, files, empty: 0, sleeps: 0, next: idle.sleep }
    }

    /// After a poll that found `work` packets.
    pub fn after(&mut self, work: usize) -> Next {
        if work > 0 {
            self.empty = 0;
            self.sleeps = 0;
            self.next = self.idle.sleep;
            return Next::Poll;
        }
        self.empty = self.empty.saturating_add(1);
        if self.empty < self.idle.polls {
            return Next::Poll;
        }
        self.sleeps = self.sleeps.saturating_add(1);
        if !self.files || self.sleeps == 1 {
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
    fn work_starts_over_with_spinning_and_a_nap() {
        let mut s = IdleState::new(idle(), true);
        for _ in 0..6 {
            s.after(0);
        }
        assert_eq!(s.after(5), Next::Poll);
        let seen: Vec<Next> = (0..4).map(|_| s.after(0)).collect();
        assert_eq!(seen, [Next::Poll, Next::Poll, Next::Nap(50 * US), Next::Files(50 * US)]);
    }

    #[test]
    fn without_files_it_only_naps() {
        let mut s = IdleState::new(idle(), false);
        let seen: Vec<Next> = (0..6).map(|_| s.after(0)).collect();
        assert!(seen[2..].iter().all(|&n| n == Next::Nap(50 * US)), "{seen:?}");
    }
}
