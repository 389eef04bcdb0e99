//! A doorbell for pollers that sleep in poll(2) on files instead of on a
//! futex: an idle data core asleep on its queues' files (`wake::Waker`) is
//! woken by a frame, and with this also by work another thread queued for
//! it (the DNS thread's answers). The bell is an eventfd among the sleeper's
//! files; the producer writes it only when someone is parked, so under load
//! ringing is a fence and a load.
//!
//! No lost wake-ups, by the same pairing as `doorbell`: a poller announces
//! itself, then looks at its queue, then sleeps; a producer queues, then
//! looks for pollers, then writes. A write that lands after its poller woke
//! for another reason leaves the eventfd readable: the next sleep returns
//! at once and drains it, one early wake-up and no loss.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

pub struct FileBell {
    fd: OwnedFd,
    /// Pollers between announcing themselves and waking.
    parked: AtomicU32,
    /// Set with each write, cleared by the poller that drains it: spares a
    /// read on every wake-up that was not the bell's.
    rung: AtomicBool,
}

impl FileBell {
    pub fn new() -> std::io::Result<FileBell> {
        // SAFETY: plain system call; the descriptor is owned from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(FileBell { fd, parked: AtomicU32::new(0), rung: AtomicBool::new(false) })
    }

    /// The file to poll for POLLIN beside the others.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Runs `sleep` (which must poll `fd()` among its files) unless
    /// `has_work` says there is something to do after all.
    pub fn park(&self, has_work: impl FnOnce() -> bool, sleep: impl FnOnce()) {
        self.parked.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !has_work() {
            sleep();
        }
        self.parked.fetch_sub(1, Ordering::SeqCst);
        if self.rung.swap(false, Ordering::Acquire) {
            let mut count = 0u64;
            // SAFETY: reads 8 bytes into a u64 from our own eventfd. EAGAIN
            // (another poller drained it) is fine: it is empty either way.
            unsafe { libc::read(self.fd(), (&mut count as *mut u64).cast(), 8) };
        }
    }

    /// Sleeps on the bell alone until it is rung, or `timeout` (for a
    /// `park` whose poller has no other files).
    pub fn wait(&self, timeout: Duration) {
        let mut p = libc::pollfd { fd: self.fd(), events: libc::POLLIN, revents: 0 };
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        // SAFETY: one valid pollfd and a valid timespec for the call. EINTR
        // and the timeout are ordinary returns: the caller polls again.
        unsafe { libc::ppoll(&mut p, 1, &ts, std::ptr::null()) };
    }

    /// Wakes the parked pollers, if any: call after queueing work.
    #[inline]
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) > 0 {
            let one = 1u64;
            // SAFETY: writes 8 bytes from a u64 to our own eventfd; it fails
            // only when the counter is about to overflow, which still leaves
            // it readable.
            unsafe { libc::write(self.fd(), (&one as *const u64).cast(), 8) };
            // After the write: a readable eventfd then always has `rung`
            // set (or about to be), so some poller drains it. Set before,
            // a poller could clear it and read before the write, leaving the
            // file readable for good and every sleep cut short.
            self.rung.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    fn poll_one(fd: RawFd, timeout: Duration) -> bool {
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, timeout.as_millis() as i32) > 0 }
    }

    #[test]
    fn a_ring_wakes_a_poller_asleep_on_the_file() {
        let waited = crate::bell_test::ring_wakes_a_parked_poller(
            Arc::new(FileBell::new().expect("eventfd")),
            |b, has_work| {
                b.park(has_work, || {
                    poll_one(b.fd(), Duration::from_secs(10));
                })
            },
            FileBell::ring,
            |b| b.parked.load(Ordering::SeqCst),
        );
        // Whether this poller drained the eventfd depends on whether the
        // producer had set `rung` when it left; the tests below cover both.
        assert!(waited < Duration::from_secs(5), "woken by the ring, not the timeout: {waited:?}");
    }

    #[test]
    fn a_ring_ends_a_wait_on_the_bell_alone() {
        let waited = crate::bell_test::ring_wakes_a_parked_poller(
            Arc::new(FileBell::new().expect("eventfd")),
            |b, has_work| b.park(has_work, || b.wait(Duration::from_secs(10))),
            FileBell::ring,
            |b| b.parked.load(Ordering::SeqCst),
        );
        assert!(waited < Duration::from_secs(5), "woken by the ring, not the timeout: {waited:?}");
        let bell = FileBell::new().expect("eventfd");
        let t = Instant::now();
        bell.park(|| false, || bell.wait(Duration::from_millis(20)));
        assert!(t.elapsed() >= Duration::from_millis(15), "the timeout bounds the wait");
    }

    #[test]
    fn nobody_parked_no_write_and_work_found_first_is_not_slept_on() {
        let bell = FileBell::new().expect("eventfd");
        bell.ring();
        assert!(!poll_one(bell.fd(), Duration::ZERO), "a ring with nobody parked writes nothing");
        let mut slept = false;
        bell.park(|| true, || slept = true);
        assert!(!slept);
    }

    fn sleep_50ms(bell: &FileBell) -> Duration {
        let t = Instant::now();
        bell.park(
            || false,
            || {
                poll_one(bell.fd(), Duration::from_millis(50));
            },
        );
        t.elapsed()
    }

    #[test]
    fn a_ring_during_the_sleep_is_drained_on_the_way_out() {
        let bell = FileBell::new().expect("eventfd");
        bell.park(|| false, || bell.ring());
        assert!(!poll_one(bell.fd(), Duration::ZERO));
        assert!(sleep_50ms(&bell) >= Duration::from_millis(40), "nothing left to cut the next sleep short");
    }

    #[test]
    fn a_ring_after_the_poller_left_costs_one_early_wake_up() {
        let bell = FileBell::new().expect("eventfd");
        // The producer saw the poller parked; its write lands after the
        // poller woke for another reason and left.
        bell.parked.fetch_add(1, Ordering::SeqCst);
        bell.ring();
        bell.parked.fetch_sub(1, Ordering::SeqCst);
        assert!(sleep_50ms(&bell) < Duration::from_millis(40), "the next sleep returns at once");
        assert!(sleep_50ms(&bell) >= Duration::from_millis(40), "and drained it: the one after is whole");
    }
}
