//! The DNS listeners: per configured address one UDP thread and one TCP
//! thread (RFC 7766: every authoritative server answers over TCP too), with
//! their sockets made in the appliance's network namespace so that queries
//! arrive through the exception path like any of its own traffic.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use hickory_proto::op::ResponseCode;

use super::answer::{respond, Outcome};
use super::view::DnsView;

/// Counters for the metrics: answers by response code, and queries dropped.
#[derive(Default)]
pub struct DnsStats {
    pub noerror: AtomicU64,
    pub nxdomain: AtomicU64,
    pub refused: AtomicU64,
    pub formerr: AtomicU64,
    pub servfail: AtomicU64,
    pub notimp: AtomicU64,
    pub dropped: AtomicU64,
    pub tcp_queries: AtomicU64,
    /// UDP queries from the data path whose checksum was wrong.
    pub bad_checksum: AtomicU64,
    /// Answers lost because the data cores' answer ring was full.
    pub ring_full: AtomicU64,
    /// UDP answers given from a response cache (the DNS thread's or a data core's).
    pub cache_hits: AtomicU64,
    /// UDP answers made on a data core (the rest of the data path's came
    /// from the DNS thread).
    pub on_data_cores: AtomicU64,
}

impl DnsStats {
    pub(super) fn count(&self, o: Outcome) {
        let c = match o {
            Outcome::Dropped => &self.dropped,
            Outcome::Answered(ResponseCode::NoError) => &self.noerror,
            Outcome::Answered(ResponseCode::NXDomain) => &self.nxdomain,
            Outcome::Answered(ResponseCode::Refused) => &self.refused,
            Outcome::Answered(ResponseCode::FormErr) => &self.formerr,
            Outcome::Answered(ResponseCode::NotImp) => &self.notimp,
            Outcome::Answered(_) => &self.servfail,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Moves the counts in `tally` (one thread's, uncontended) here: one
    /// shared write per counter per burst instead of one per query.
    pub(super) fn absorb(&self, tally: &DnsStats) {
        let pairs = [
            (&self.noerror, &tally.noerror),
            (&self.nxdomain, &tally.nxdomain),
            (&self.refused, &tally.refused),
            (&self.formerr, &tally.formerr),
            (&self.servfail, &tally.servfail),
            (&self.notimp, &tally.notimp),
            (&self.dropped, &tally.dropped),
            (&self.tcp_queries, &tally.tcp_queries),
            (&self.bad_checksum, &tally.bad_checksum),
            (&self.ring_full, &tally.ring_full),
            (&self.cache_hits, &tally.cache_hits),
            (&self.on_data_cores, &tally.on_data_cores),
        ];
        for (shared, mine) in pairs {
            let n = mine.load(Ordering::Relaxed);
            if n > 0 {
                mine.store(0, Ordering::Relaxed);
                shared.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// (response code label, count) for every answered code.
    pub fn answered(&self) -> [(&'static str, u64); 6] {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("NOERROR", l(&self.noerror)),
            ("NXDOMAIN", l(&self.nxdomain)),
            ("REFUSED", l(&self.refused)),
            ("FORMERR", l(&self.formerr)),
            ("SERVFAIL", l(&self.servfail)),
            ("NOTIMP", l(&self.notimp)),
        ]
    }
}

pub type SharedView = Arc<ArcSwapOption<DnsView>>;

pub struct DnsServer {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// How often a blocked thread looks at the stop flag.
const TICK: Duration = Duration::from_millis(200);
/// Concurrent TCP connections served at most; more wait in the backlog.
const MAX_TCP: usize = 64;

impl DnsServer {
    pub fn start(
        listen: &[SocketAddr],
        netns: Option<&str>,
        view: SharedView,
        stats: Arc<DnsStats>,
    ) -> Result<DnsServer, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for &addr in listen {
            let (udp, tcp) =
                crate::kernel::in_netns(netns, || -> std::io::Result<(UdpSocket, TcpListener)> {
                    Ok((UdpSocket::bind(addr)?, TcpListener::bind(addr)?))
                })?
                .map_err(|e| format!("dns.listen {addr}: {e}"))?;
            udp.set_read_timeout(Some(TICK)).map_err(|e| e.to_string())?;
            tcp.set_nonblocking(true).map_err(|e| e.to_string())?;
            let (s, st, v) = (stop.clone(), stats.clone(), view.clone());
            threads.push(spawn(format!("dns-udp {addr}"), move || serve_udp(&udp, &s, &st, &v))?);
            let (s, st, v) = (stop.clone(), stats.clone(), view.clone());
            threads.push(spawn(format!("dns-tcp {addr}"), move || serve_tcp(&tcp, &s, &st, &v))?);
        }
        Ok(DnsServer { stop, threads })
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new().name(name.clone()).spawn(f).map_err(|e| format!("{name}: {e}"))
}

fn serve_udp(sock: &UdpSocket, stop: &AtomicBool, stats: &DnsStats, view: &SharedView) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue, // the tick, or a signal: look at the stop flag
        };
        let guard = view.load();
        let Some(v) = guard.as_deref() else { continue };
        let (reply, outcome) = respond(v, &buf[..n], peer.ip(), true);
        stats.count(outcome);
        if let Some(r) = reply {
            let _ = sock.send_to(&r, peer);
        }
    }
}

fn serve_tcp(listener: &TcpListener, stop: &Arc<AtomicBool>, stats: &Arc<DnsStats>, view: &SharedView) {
    let open = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let (conn, peer) = match listener.accept() {
            Ok(x) => x,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= MAX_TCP {
            continue; // dropped: the client retries
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (open, stop, stats, view) = (open.clone(), stop.clone(), stats.clone(), view.clone());
        let _ = std::thread::Builder::new().name("dns-tcp-conn".into()).spawn(move || {
            serve_conn(conn, peer, &stop, &stats, &view);
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Length-prefixed messages (RFC 1035 §4.2.2) until the client closes, is
/// idle for 10 s (RFC 7766 §6.2.3), or the server stops.
fn serve_conn(mut conn: TcpStream, peer: SocketAddr, stop: &AtomicBool, stats: &DnsStats, view: &SharedView) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
    let mut len = [0u8; 2];
    while !stop.load(Ordering::Relaxed) && conn.read_exact(&mut len).is_ok() {
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if conn.read_exact(&mut msg).is_err() {
            return;
        }
        stats.tcp_queries.fetch_add(1, Ordering::Relaxed);
        let guard = view.load();
        let Some(v) = guard.as_deref() else { return };
        let (reply, outcome) = respond(v, &msg, peer.ip(), false);
        stats.count(outcome);
        let Some(r) = reply else { return };
        let Ok(n) = u16::try_from(r.len()) else { return };
        let mut out = Vec::with_capacity(r.len() + 2);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&r);
        if conn.write_all(&out).is_err() {
            return;
        }
    }
}
