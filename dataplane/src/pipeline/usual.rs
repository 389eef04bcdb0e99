//! The usual frame, parsed in one go: to this appliance's MAC, untagged
//! IPv4 with a 20-byte header, not a fragment, a whole TCP or UDP header.
//!
//! Nearly every frame of the data path is one. The general parser checks
//! each layer in turn and names what it finds wrong, a branch and a drop
//! reason per check; this one reads the few header words all those checks
//! need and tests them together. Anything it does not accept, it leaves to
//! the general parser, which then finds the same key or the reason to drop.

use super::{Core, Prepared};
use crate::checksum;
use crate::snapshot::Snapshot;
use crate::wire::ipv4::protocol;

const ETH: usize = 14;
const IP: usize = 20;
/// The shortest usual frame: a UDP header after the IPv4 header.
const SHORTEST: usize = ETH + IP + 8;
/// Bytes read from a TCP frame: up to its flags byte.
const TCP_READ: usize = ETH + IP + 14;

impl Core {
    /// Fills `out` for a usual frame (its index bucket is then being
    /// fetched) and returns true; returns false, leaving `out` partly
    /// written, for any other frame.
    #[inline(always)]
    pub(super) fn parse_usual(&self, snap: &Snapshot, frame: &[u8], len: usize, out: &mut Prepared) -> bool {
        let len = len.min(frame.len());
        let Some(h) = frame.first_chunk::<SHORTEST>() else {
            return false;
        };
        if len < SHORTEST || h[..6] != snap.mac.0 {
            return false;
        }
        // Ethertype IPv4, version 4 with a 20-byte header.
        if h[12..15] != [0x08, 0x00, 0x45] {
            return false;
        }
        let total = usize::from(u16::from_be_bytes([h[16], h[17]]));
        // Neither more fragments nor an offset: the flags' reserved and DF bits may be set.
        let not_fragment = u16::from_be_bytes([h[20], h[21]]) & 0x3FFF == 0;
        let ip: &[u8; IP] = h[ETH..ETH + IP].try_into().expect("20 bytes");
        if !not_fragment || total > len - ETH || !checksum::header20_ok(ip) {
            return false;
        }
        let proto = h[23];
        let seg = total.wrapping_sub(IP);
        let l4 = ETH + IP;
        let flags = match proto {
            protocol::TCP => {
                let Some(t) = frame.first_chunk::<TCP_READ>() else {
                    return false;
                };
                let header = usize::from(t[l4 + 12] >> 4) * 4;
                // A TCP header of at least 20 bytes, whole within the datagram.
                if total < IP + 20 || header < 20 || header > seg {
                    return false;
                }
                t[l4 + 13]
            }
            protocol::UDP => {
                let udp_len = usize::from(u16::from_be_bytes([h[l4 + 4], h[l4 + 5]]));
                if total < IP + 8 || udp_len < 8 || udp_len > seg {
                    return false;
                }
                0
            }
            _ => return false,
        };
        out.key.tuple.src = u32::from_be_bytes([h[26], h[27], h[28], h[29]]);
        out.key.tuple.dst = u32::from_be_bytes([h[30], h[31], h[32], h[33]]);
        out.key.tuple.sport = u16::from_be_bytes([h[l4], h[l4 + 1]]);
        out.key.tuple.dport = u16::from_be_bytes([h[l4 + 2], h[l4 + 3]]);
        out.key.proto = proto;
        out.tcp_flags = flags;
        out.l3 = ETH as u16;
        out.l4 = l4 as u16;
        out.ttl = h[22];
        out.hit_idx = 0;
        out.hash = self.flows.hash(&out.key);
        self.flows.prefetch_bucket(out.hash);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::frames;
    use crate::lab::seed::{self, CLIENT_MAC, DNS, POP3, SITE1, SITE2};
    use crate::pipeline::CoreConfig;
    use crate::snapshot::Method;
    use crate::wire::tcp::flags::{ACK, PSH, SYN};
    use std::net::{Ipv4Addr, SocketAddrV4};

    /// Frames the usual path must take, and many it must not: every one
    /// with a byte of its first 60 changed, its length cut, or both.
    fn frames() -> Vec<(Vec<u8>, usize)> {
        let client = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 40_000);
        let good = [
            frames::tcp(CLIENT_MAC, SITE1.mac, client, SITE1.vip_port(POP3), SYN, 1, 0, b""),
            frames::tcp(CLIENT_MAC, SITE1.mac, client, SITE1.vip_port(POP3), PSH | ACK, 2, 1, b"RETR 1\r\n"),
            frames::udp(CLIENT_MAC, SITE1.mac, client, SITE1.vip_port(DNS), b"query"),
            frames::udp(CLIENT_MAC, SITE1.mac, client, SITE1.vip_port(DNS), b""),
        ];
        let mut out = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for f in good {
            out.push((f.clone(), f.len()));
            for _ in 0..20_000 {
                let mut g = f.clone();
                let r = next();
                let at = (r % 60) as usize % g.len();
                // Small changes near the fields' edges matter most.
                g[at] = match (r >> 8) % 4 {
                    0 => g[at] ^ (1 << ((r >> 16) % 8)),
                    1 => g[at].wrapping_add(1),
                    2 => g[at].wrapping_sub(1),
                    _ => (r >> 24) as u8,
                };
                // Most with the IPv4 header checksum made right again, so
                // the change reaches the checks behind it.
                if (r >> 48) % 4 != 0 {
                    g[24..26].fill(0);
                    let c = checksum::data(&g[14..34]);
                    g[24..26].copy_from_slice(&c.to_be_bytes());
                }
                let len = if (r >> 32) % 4 == 0 { (r >> 40) as usize % (g.len() + 1) } else { g.len() };
                out.push((g, len));
            }
        }
        out
    }

    /// The usual path accepts only what the general parser accepts, and
    /// finds the same key, offsets, flags and hash.
    #[test]
    fn the_usual_path_agrees_with_the_general_parser() {
        let snap = seed::snapshot(&SITE1, &SITE2, Method::RoundRobin).build().expect("valid");
        let mut core = Core::with_port_share(CoreConfig::default(), &snap, 0).expect("core");
        let (mut usual, mut taken) = (0, 0);
        for (f, len) in frames() {
            let mut fast = Prepared::default();
            let took = core.parse_usual(&snap, &f, len, &mut fast);
            let mut general = Prepared::default();
            let mut g = f.clone();
            let verdict = core.parse_general(&snap, &mut g, len, &mut general);
            if took {
                assert_eq!(
                    verdict, None,
                    "taken by the usual path, refused by the general one: {f:02x?} len {len}"
                );
                assert_eq!(format!("{fast:?}"), format!("{general:?}"), "{f:02x?} len {len}");
                taken += 1;
            }
            usual +=
                usize::from(verdict.is_none() && f[12..15] == [0x08, 0x00, 0x45] && f[..6] == snap.mac.0);
        }
        // The mutations leave many frames usual: the path is exercised, and
        // it takes every usual frame the general parser takes.
        assert!(taken > 20_000, "only {taken} frames took the usual path");
        assert_eq!(taken, usual, "usual frames left to the general parser");
    }
}
