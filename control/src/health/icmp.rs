//! The ICMP health check: one echo request, answered by an echo reply from
//! the server with our identifier and sequence number (RFC 792).
//!
//! A raw socket, because Linux's unprivileged ping sockets are off unless
//! `net.ipv4.ping_group_range` allows them, in every namespace the appliance
//! creates; gslbd already needs CAP_NET_RAW-class privileges for DPDK. A raw
//! ICMP socket sees every ICMP packet of its namespace, so replies are
//! matched by source, identifier and sequence.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

static SEQ: AtomicU16 = AtomicU16::new(1);

pub fn probe(target: Ipv4Addr, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
        .map_err(|e| format!("icmp socket (needs CAP_NET_RAW): {e}"))?;
    let id = std::process::id() as u16;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let request = echo(ECHO_REQUEST, id, seq, b"gslbd-health");
    sock.send_to(&request, &SocketAddr::V4(SocketAddrV4::new(target, 0)).into())
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = [0u8; 1500];
    loop {
        let left = timeout.checked_sub(start.elapsed()).filter(|d| !d.is_zero()).ok_or("no echo reply")?;
        sock.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        let n = match (&sock).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err("no echo reply".into())
            }
            Err(e) => return Err(format!("recv: {e}")),
        };
        if is_reply(&buf[..n], target, id, seq) {
            return Ok(());
        }
    }
}

/// An ICMP echo message with its checksum.
fn echo(kind: u8, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let c = dataplane::checksum::data(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// Whether a datagram read from the raw socket (IPv4 header included) is
/// `target`'s echo reply to (id, seq).
fn is_reply(packet: &[u8], target: Ipv4Addr, id: u16, seq: u16) -> bool {
    let Some(&v_ihl) = packet.first() else { return false };
    let ihl = usize::from(v_ihl & 0x0f) * 4;
    if v_ihl >> 4 != 4 || ihl < 20 || packet.len() < ihl + 8 {
        return false;
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let icmp = &packet[ihl..];
    src == target
        && icmp[0] == ECHO_REPLY
        && icmp[1] == 0
        && u16::from_be_bytes([icmp[4], icmp[5]]) == id
        && u16::from_be_bytes([icmp[6], icmp[7]]) == seq
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(src: Ipv4Addr, icmp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&[127, 0, 0, 1]);
        p.extend_from_slice(icmp);
        p
    }

    #[test]
    fn the_echo_request_checksums_to_zero() {
        let m = echo(ECHO_REQUEST, 0x1234, 7, b"gslbd-health");
        assert_eq!(dataplane::checksum::data(&m), 0);
        assert_eq!(&m[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn only_the_targets_reply_to_this_request_counts() {
        let t = Ipv4Addr::new(10, 1, 0, 11);
        let reply = echo(ECHO_REPLY, 9, 3, b"x");
        assert!(is_reply(&ipv4(t, &reply), t, 9, 3));
        assert!(!is_reply(&ipv4(Ipv4Addr::new(10, 1, 0, 12), &reply), t, 9, 3), "other host");
        assert!(!is_reply(&ipv4(t, &reply), t, 9, 4), "other sequence");
        assert!(!is_reply(&ipv4(t, &reply), t, 8, 3), "other identifier");
        assert!(!is_reply(&ipv4(t, &echo(ECHO_REQUEST, 9, 3, b"x")), t, 9, 3), "our own request");
        assert!(!is_reply(&ipv4(t, &reply)[..24], t, 9, 3), "truncated");
        assert!(!is_reply(&[], t, 9, 3));
    }

    /// Loopback answers pings in any namespace; skipped without CAP_NET_RAW.
    #[test]
    fn loopback_answers_and_an_unused_address_does_not() {
        if Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).is_err() {
            eprintln!("icmp test SKIPPED: no CAP_NET_RAW");
            return;
        }
        assert_eq!(probe(Ipv4Addr::LOCALHOST, Duration::from_millis(500)), Ok(()));
        // TEST-NET-1 from a host with no route there: an error or silence, never a pass.
        assert!(probe(Ipv4Addr::new(192, 0, 2, 123), Duration::from_millis(200)).is_err());
    }
}
