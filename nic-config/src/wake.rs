//! Waking an idle data core when a frame arrives, instead of at the end of
//! a timed nap. DPDK's receive interrupts are the general way, but neither
//! net_af_packet nor net_tap offer them per queue in a form a poll-mode core
//! can sleep on here (af_packet has none in DPDK 22.11). Behind each of their
//! queues, though, is a kernel file: a packet socket with a mapped receive
//! ring, a TAP queue. poll(2) on it says when a frame is waiting, exactly as
//! for any other reader, and the kernel wakes the sleeper when one lands. So
//! an idle core (when, rather than a timed nap, is the data core loop's
//! policy, `run/idle.rs`) sleeps in `epoll_pwait2` on its queue's files, with a
//! timeout for what no file announces (the expiry clock, hand-offs from
//! other cores); the DNS thread's answers come with an eventfd of their own
//! (`DnsRings::wake_with_answers`).
//!
//! The drivers do not export those descriptors; they are found among the
//! process's own: packet sockets bound to the port's interface index, and
//! TAP files attached to the kernel port's interface, each in the order the
//! driver opened them (one per queue; lowest-numbered first, as nothing is
//! closed between their openings). A queue whose files cannot be told
//! apart gets no waker and naps as before. A wrong guess would cost only
//! latency (a wait to the timeout), never a frame: the core polls its
//! queues the same way however it woke.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The files that announce frames for one data core's queues, registered
/// once in an epoll set. A core sleeps thousands of times a second under a
/// moderate load (about 9,500 at 20,000 DNS queries/s): ppoll(2) set up and
/// tore down a wait on each file every time, about 9 % of the data core's
/// samples in that bench, against 5 % with epoll (`perf/README.md`).
pub struct Waker {
    epoll: OwnedFd,
    files: usize,
    /// The kernel has no epoll_pwait2: sleeps are whole milliseconds.
    coarse: bool,
}

impl Waker {
    /// The waker for queue `queue` of `queues`: the data port's packet
    /// socket (interface index `ifindex`) and, with one queue and a TAP
    /// kernel port named `tap`, the TAP's files. None unless the data
    /// port's files are found.
    pub fn for_queue(ifindex: u32, tap: Option<&str>, queue: u16, queues: u16) -> Option<Waker> {
        let own = own_fds();
        let sockets = packet_sockets(&own, ifindex);
        let mut fds =
            vec![*sockets.get(usize::from(queue)).filter(|_| sockets.len() == usize::from(queues))?];
        // net_tap keeps more files than queues (a detached keep-alive, and
        // here two attached files for one queue), so which is whose is not
        // known: a single queue waits on every attached one. With several,
        // the TAP's frames wait for the (short) timeout.
        if let (Some(name), 1) = (tap, queues) {
            fds.extend(tap_files(&own, name));
        }
        let mut w = Waker::new().ok()?;
        for fd in fds {
            w.also(fd);
        }
        Some(w)
    }

    /// A waker with no files yet.
    fn new() -> std::io::Result<Waker> {
        // SAFETY: plain epoll creation; the descriptor is owned from here on.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a descriptor we just opened and own alone.
        Ok(Waker { epoll: unsafe { OwnedFd::from_raw_fd(fd) }, files: 0, coarse: false })
    }

    /// How many files this waker sleeps on (the data port's, and the TAP's
    /// when found).
    pub fn files(&self) -> usize {
        self.files
    }

    /// Adds a file whose readability also ends the sleep (a doorbell's
    /// eventfd, `filebell`). Level-triggered, as poll(2) is: a frame already
    /// waiting ends the next sleep at once.
    pub fn also(&mut self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: fd as u64 };
        // SAFETY: our epoll descriptor, an open file and a valid event.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } == 0 {
            self.files += 1;
        }
    }

    /// Sleeps until one of the files has a frame, or `timeout`.
    pub fn wait(&mut self, timeout: Duration) {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        let mut ready = [libc::epoll_event { events: 0, u64: 0 }; 4];
        let (ep, events, n) = (self.epoll.as_raw_fd(), ready.as_mut_ptr(), ready.len() as libc::c_int);
        if !self.coarse {
            // SAFETY: our epoll descriptor, an event array of the length
            // given, and a valid timespec. Errors (EINTR) and the timeout are
            // ordinary returns: the caller polls its queues either way.
            let rc = unsafe { libc::epoll_pwait2(ep, events, n, &ts, std::ptr::null()) };
            if rc >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
                return;
            }
            // Kernels before 5.11 have no epoll_pwait2: without this the
            // core would return at once and spin instead of sleeping.
            self.coarse = true;
        }
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: as above, with a timeout in whole milliseconds.
        unsafe { libc::epoll_wait(ep, events, n, ms) };
    }
}

/// The process's open descriptors, ascending.
fn own_fds() -> Vec<RawFd> {
    let mut fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    fds.sort_unstable();
    fds
}

/// Packet sockets bound to interface `ifindex`, in `fds` order.
fn packet_sockets(fds: &[RawFd], ifindex: u32) -> Vec<RawFd> {
    if ifindex == 0 {
        return Vec::new();
    }
    fds.iter()
        .copied()
        .filter(|&fd| {
            let mut domain: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: an int-sized out buffer; a non-socket fails with ENOTSOCK.
            let rc = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_DOMAIN,
                    (&mut domain as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            if rc != 0 || domain != libc::AF_PACKET {
                return false;
            }
            // SAFETY: all-zero is a valid sockaddr_ll.
            let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: out buffer of the packet family's address size.
            let rc = unsafe { libc::getsockname(fd, (&mut addr as *mut libc::sockaddr_ll).cast(), &mut len) };
            rc == 0 && addr.sll_ifindex as u32 == ifindex
        })
        .collect()
}

/// TAP queue files of interface `name` that carry frames (not detached),
/// in `fds` order.
fn tap_files(fds: &[RawFd], name: &str) -> Vec<RawFd> {
    fds.iter()
        .copied()
        .filter(|&fd| {
            let is_tun = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .is_ok_and(|p| p.as_os_str() == "/dev/net/tun");
            is_tun && tun_iff(fd).is_some_and(|(n, flags)| n == name && flags & IFF_DETACH_QUEUE == 0)
        })
        .collect()
}

const IFF_DETACH_QUEUE: u16 = 0x0400;

/// The interface a TUN/TAP file is attached to, and its flags (TUNGETIFF;
/// the kernel adds IFF_DETACH_QUEUE for a detached queue).
fn tun_iff(fd: RawFd) -> Option<(String, u16)> {
    // struct ifreq: IFNAMSIZ bytes of name, then the union (flags first).
    let mut ifr = [0u8; 40];
    const TUNGETIFF: libc::c_ulong = 0x8004_54d2;
    // SAFETY: a 40-byte buffer, the size of struct ifreq on Linux.
    let rc = unsafe { libc::ioctl(fd, TUNGETIFF, ifr.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    let end = ifr[..libc::IFNAMSIZ].iter().position(|&b| b == 0).unwrap_or(libc::IFNAMSIZ);
    let flags = u16::from_ne_bytes([ifr[libc::IFNAMSIZ], ifr[libc::IFNAMSIZ + 1]]);
    std::str::from_utf8(&ifr[..end]).ok().map(|n| (n.to_owned(), flags))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A socket pair stands in for a queue's file: the waker sleeps until
    /// the other end writes, and no longer than its timeout otherwise.
    #[test]
    fn a_frame_ends_the_wait_and_the_timeout_bounds_it() {
        // Both ways to sleep: with epoll_pwait2, and in whole milliseconds
        // where the kernel lacks it.
        for coarse in [false, true] {
            frame_ends_the_wait(coarse);
        }
    }

    fn frame_ends_the_wait(coarse: bool) {
        let mut sv = [0; 2];
        // SAFETY: a two-int out array.
        assert_eq!(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, sv.as_mut_ptr()) }, 0);
        let mut w = Waker::new().expect("epoll");
        w.also(sv[0]);
        w.coarse = coarse;
        assert_eq!(w.files(), 1);
        let t = Instant::now();
        w.wait(Duration::from_millis(20));
        let slept = t.elapsed();
        assert!(slept >= Duration::from_millis(15), "nothing came: the whole timeout ({slept:?})");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            // SAFETY: a one-byte buffer on an open socket.
            unsafe { libc::write(sv[1], b"x".as_ptr().cast(), 1) };
            sv[1]
        });
        let t = Instant::now();
        w.wait(Duration::from_secs(10));
        assert!(t.elapsed() < Duration::from_secs(5), "woken by the frame, not the timeout");
        let other = writer.join().expect("writer");
        // Level-triggered: a frame still waiting ends every sleep at once;
        // once it is taken, sleeps last again.
        let t = Instant::now();
        w.wait(Duration::from_secs(10));
        assert!(t.elapsed() < Duration::from_secs(5), "the unread frame ends the sleep");
        let mut b = [0u8; 1];
        // SAFETY: a one-byte buffer on an open socket.
        assert_eq!(unsafe { libc::read(sv[0], b.as_mut_ptr().cast(), 1) }, 1);
        let t = Instant::now();
        w.wait(Duration::from_millis(20));
        assert!(t.elapsed() >= Duration::from_millis(15), "nothing waiting: the whole timeout");
        // SAFETY: closing our own sockets.
        unsafe {
            libc::close(sv[0]);
            libc::close(other);
        }
    }

    /// Packet sockets are told apart by interface: one bound to loopback is
    /// found by loopback's index and by no other. (Needs CAP_NET_RAW; without
    /// it the test says so and checks nothing.)
    #[test]
    fn packet_sockets_are_found_by_interface() {
        // SAFETY: plain socket creation.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            eprintln!("SKIPPED packet_sockets_are_found_by_interface: no CAP_NET_RAW (run as root)");
            return;
        }
        // SAFETY: a C string literal.
        let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = lo as i32;
        // SAFETY: a valid address of its size.
        let rc = unsafe {
            libc::bind(
                fd,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(rc, 0);
        let own = own_fds();
        assert!(packet_sockets(&own, lo).contains(&fd));
        assert!(!packet_sockets(&own, lo + 1000).contains(&fd));
        assert!(packet_sockets(&own, 0).is_empty());
        // SAFETY: our socket.
        unsafe { libc::close(fd) };
    }
}
