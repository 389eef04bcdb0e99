//! A doorbell between a producer and pollers that park when idle: a poller
//! with nothing to do sleeps on a futex instead of a fixed timer, and the
//! producer wakes it as soon as it queues work. The producer pays a system
//! call only when someone is parked, so under load (nobody parks) the ring
//! is a fence and a load; when the pollers are idle, the hand-off costs a
//! wake-up instead of the rest of a sleep.
//!
//! No lost wake-ups, by the usual pairing: a poller announces itself, then
//! looks at its queue, then waits on the word it read before looking; a
//! producer queues, then looks for pollers, then bumps the word. With a
//! full fence on each side at least one of them sees the other's write.

use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::Duration;

#[derive(Default)]
pub struct Doorbell {
    /// Bumped by each ring that finds a poller parked: the futex word.
    word: AtomicU32,
    /// Pollers between announcing themselves and waking.
    parked: AtomicU32,
}

impl Doorbell {
    /// Parks the calling poller until rung or `timeout` passes, unless
    /// `has_work` says there is something to do after all.
    pub fn park(&self, has_work: impl FnOnce() -> bool, timeout: Duration) {
        self.parked.fetch_add(1, Ordering::SeqCst);
        let seen = self.word.load(Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !has_work() {
            futex_wait(&self.word, seen, timeout);
        }
        self.parked.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes the parked pollers, if any: call after queueing work.
    #[inline]
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) > 0 {
            self.word.fetch_add(1, Ordering::SeqCst);
            futex_wake(&self.word);
        }
    }
}

fn futex_wait(word: &AtomicU32, seen: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: a valid futex word and timespec for the call's duration. It
    // returns at once (EAGAIN) if the word no longer holds `seen`: a ring
    // came between the look at the queue and the wait. EINTR and the
    // timeout are ordinary returns: the caller polls again either way.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            seen,
            &ts as *const libc::timespec,
        );
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: a valid futex word; wakes every waiter (the parked pollers
    // each look at the queue once awake).
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, i32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_ring_wakes_a_parked_poller_long_before_its_timeout() {
        let waited = crate::bell_test::ring_wakes_a_parked_poller(
            Arc::new(Doorbell::default()),
            |b, has_work| b.park(has_work, Duration::from_secs(10)),
            Doorbell::ring,
            |b| b.parked.load(Ordering::SeqCst),
        );
        assert!(waited < Duration::from_secs(5), "woken by the ring, not the timeout: {waited:?}");
    }

    #[test]
    fn work_queued_before_parking_is_not_slept_on() {
        let bell = Doorbell::default();
        let t = Instant::now();
        bell.park(|| true, Duration::from_secs(10));
        assert!(t.elapsed() < Duration::from_secs(5));
        // A ring with nobody parked leaves the word alone (no system call).
        bell.ring();
        assert_eq!(bell.word.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_timeout_bounds_the_wait() {
        let bell = Doorbell::default();
        let t = Instant::now();
        bell.park(|| false, Duration::from_millis(20));
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(15) && waited < Duration::from_secs(5), "{waited:?}");
    }
}
