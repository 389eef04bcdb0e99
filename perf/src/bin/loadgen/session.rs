//! Whole TCP connections for `loadgen --mode tcp`: the generator is every
//! client and every server, and keeps no per-connection state. Each segment
//! that comes back carries what the next one needs: the client's initial
//! sequence number (the low 32 bits of the TSC when the SYN left, which also
//! times the connection) and, through it, the server's.
//!
//! One connection, as the appliance sees it (P payload bytes each way):
//!
//! | # | from   | segment                  |
//! |---|--------|--------------------------|
//! | 1 | client | SYN                      |
//! | 2 | server | SYN, ACK                 |
//! | 3 | client | ACK, PSH + P bytes       |
//! | 4 | server | FIN, PSH, ACK + P bytes  |
//! | 5 | client | FIN, ACK (connection done: its time is taken here) |
//! | 6 | server | ACK                      |

use std::net::Ipv4Addr;

use dataplane::checksum;
use dataplane::wire::MacAddr;

const ETH: usize = 14;
const IP: usize = ETH;
const TCP: usize = IP + 20;
const DATA: usize = TCP + 20;
/// Ethernet's minimum frame without FCS: shorter segments are padded.
const MIN_FRAME: usize = 60;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// The server's initial sequence number, from the client's.
fn server_isn(c0: u32) -> u32 {
    c0 ^ 0x5a5a_5a5a
}

/// What to do with a segment that came back.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The frame now holds the answer, `len` bytes: send it.
    Answer(usize),
    /// As `Answer`, and a connection is complete: `c0` is its SYN's stamp.
    Done { len: usize, c0: u32 },
    /// Not part of a connection, or its last segment: free it.
    Drop,
}

pub struct Sessions {
    /// Payload bytes each way.
    pub payload: usize,
    pub own_mac: MacAddr,
    /// Where everything is sent: the appliance.
    pub dst_mac: MacAddr,
}

struct Seg {
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: usize,
}

impl Sessions {
    /// Segment 1 of a new connection from `client` to `vip`.
    pub fn syn(&self, f: &mut [u8], client: (Ipv4Addr, u16), vip: (Ipv4Addr, u16), c0: u32) -> usize {
        self.write(
            f,
            &Seg {
                src: client.0,
                sport: client.1,
                dst: vip.0,
                dport: vip.1,
                seq: c0,
                ack: 0,
                flags: SYN,
                payload: 0,
            },
        )
    }

    /// The answer to a segment the appliance forwarded, written over it.
    /// `to_client` says which side it reached.
    pub fn answer(&self, f: &mut [u8], len: usize, to_client: bool) -> Step {
        let Some(s) = parse(&f[..len.min(f.len())]) else { return Step::Drop };
        let p = self.payload as u32;
        // The reply goes back the way the segment came.
        let back = |seq: u32, ack: u32, flags: u8, payload: usize| Seg {
            src: s.dst,
            sport: s.dport,
            dst: s.src,
            dport: s.sport,
            seq,
            ack,
            flags,
            payload,
        };
        let (reply, done) = match (to_client, s.flags & (FIN | SYN | PSH | ACK), s.payload) {
            // 1 -> 2
            (false, SYN, 0) => (back(server_isn(s.seq), s.seq.wrapping_add(1), SYN | ACK, 0), None),
            // 2 -> 3
            (true, f, 0) if f == SYN | ACK => {
                let c0 = s.ack.wrapping_sub(1);
                (back(c0.wrapping_add(1), s.seq.wrapping_add(1), ACK | PSH, self.payload), None)
            }
            // 3 -> 4
            (false, f, n) if f == ACK | PSH && n == self.payload => {
                let c0 = s.seq.wrapping_sub(1);
                let s0 = server_isn(c0);
                (back(s0.wrapping_add(1), c0.wrapping_add(1 + p), FIN | PSH | ACK, self.payload), None)
            }
            // 4 -> 5: the client has everything
            (true, f, n) if f == FIN | PSH | ACK && n == self.payload => {
                let c0 = s.ack.wrapping_sub(1 + p);
                let s0 = server_isn(c0);
                (back(c0.wrapping_add(1 + p), s0.wrapping_add(2 + p), FIN | ACK, 0), Some(c0))
            }
            // 5 -> 6
            (false, f, 0) if f == FIN | ACK => {
                let c0 = s.seq.wrapping_sub(1 + p);
                let s0 = server_isn(c0);
                (back(s0.wrapping_add(2 + p), c0.wrapping_add(2 + p), ACK, 0), None)
            }
            _ => return Step::Drop,
        };
        let len = self.write(f, &reply);
        match done {
            Some(c0) => Step::Done { len, c0 },
            None => Step::Answer(len),
        }
    }

    /// Writes a whole frame for `s` (headers, checksums, payload) into `f`.
    fn write(&self, f: &mut [u8], s: &Seg) -> usize {
        let ip_len = 40 + s.payload;
        let len = (ETH + ip_len).max(MIN_FRAME);
        let f = &mut f[..len];
        f[0..6].copy_from_slice(&self.dst_mac.0);
        f[6..12].copy_from_slice(&self.own_mac.0);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[IP..TCP];
        ip.copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[12..16].copy_from_slice(&s.src.octets());
        ip[16..20].copy_from_slice(&s.dst.octets());
        let c = checksum::data(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let seg = &mut f[TCP..ETH + ip_len];
        seg[..20].fill(0);
        seg[0..2].copy_from_slice(&s.sport.to_be_bytes());
        seg[2..4].copy_from_slice(&s.dport.to_be_bytes());
        seg[4..8].copy_from_slice(&s.seq.to_be_bytes());
        seg[8..12].copy_from_slice(&s.ack.to_be_bytes());
        seg[12] = 5 << 4;
        seg[13] = s.flags;
        seg[14..16].copy_from_slice(&64240u16.to_be_bytes());
        seg[20..].iter_mut().enumerate().for_each(|(i, b)| *b = b'a' + (i % 26) as u8);
        let sum = checksum::pseudo_header(s.src, s.dst, 6, (20 + s.payload) as u16) + checksum::sum(seg);
        let c = checksum::finish(sum);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        f[ETH + ip_len..].fill(0);
        len
    }
}

/// The TCP/IPv4 segment in `f`, if it is one with a 20-byte IP header.
fn parse(f: &[u8]) -> Option<Seg> {
    if f.len() < DATA || f[12..14] != [0x08, 0x00] || f[IP] != 0x45 || f[IP + 9] != 6 {
        return None;
    }
    let ip_len = usize::from(u16::from_be_bytes([f[IP + 2], f[IP + 3]]));
    let tcp_hdr = usize::from(f[TCP + 12] >> 4) * 4;
    if ip_len < 20 + tcp_hdr || ETH + ip_len > f.len() {
        return None;
    }
    let addr = |at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
    let be32 = |at: usize| u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]]);
    Some(Seg {
        src: addr(IP + 12),
        dst: addr(IP + 16),
        sport: u16::from_be_bytes([f[TCP], f[TCP + 1]]),
        dport: u16::from_be_bytes([f[TCP + 2], f[TCP + 3]]),
        seq: be32(TCP + 4),
        ack: be32(TCP + 8),
        flags: f[TCP + 13],
        payload: ip_len - 20 - tcp_hdr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEN: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const LB: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    fn valid(f: &[u8]) -> bool {
        let s = parse(f).expect("a TCP segment");
        let ip_ok = checksum::data(&f[IP..TCP]) == 0;
        let seg = &f[TCP..TCP + 20 + s.payload];
        let tcp_ok =
            checksum::finish(checksum::pseudo_header(s.src, s.dst, 6, seg.len() as u16) + checksum::sum(seg))
                == 0;
        ip_ok && tcp_ok
    }

    #[test]
    fn a_connection_runs_its_six_segments_and_is_timed_by_its_syn() {
        let s = Sessions { payload: 100, own_mac: GEN, dst_mac: LB };
        let client = (Ipv4Addr::new(100, 64, 0, 9), 40000);
        let vip = (Ipv4Addr::new(192, 0, 2, 10), 80);
        let server = Ipv4Addr::new(10, 1, 0, 11);
        let mut f = vec![0u8; 2048];
        let c0 = 0xffff_fff0; // sequence numbers wrap on the way
        let mut len = s.syn(&mut f, client, vip, c0);
        assert!(valid(&f[..len]));
        let mut flags = vec![];
        let mut done = None;
        for hop in 0..6 {
            // The appliance in between, as far as the generator can tell:
            // the VIP becomes the server on the way in, and back on the way out.
            let at_client = hop % 2 == 1;
            if at_client {
                f[IP + 12..IP + 16].copy_from_slice(&vip.0.octets());
            } else {
                f[IP + 16..IP + 20].copy_from_slice(&server.octets());
            }
            len = match s.answer(&mut f, len, at_client) {
                Step::Answer(n) => n,
                Step::Done { len, c0 } => {
                    done = Some((hop, c0));
                    len
                }
                Step::Drop => {
                    assert_eq!(hop, 5, "only the last ACK ends the exchange");
                    break;
                }
            };
            assert!(valid(&f[..len]), "hop {hop}: checksums");
            let seg = parse(&f[..len]).expect("segment");
            flags.push(seg.flags);
            let want = if at_client { (client.0, vip.0) } else { (server, client.0) };
            assert_eq!((seg.src, seg.dst), want, "hop {hop}");
            assert_eq!(seg.payload, if seg.flags & PSH != 0 { 100 } else { 0 });
        }
        assert_eq!(flags, vec![SYN | ACK, ACK | PSH, FIN | PSH | ACK, FIN | ACK, ACK]);
        assert_eq!(done, Some((3, c0)), "done when the server's FIN reaches the client");
    }

    #[test]
    fn anything_else_is_dropped() {
        let s = Sessions { payload: 10, own_mac: GEN, dst_mac: LB };
        let mut f = vec![0u8; 256];
        let len = s.syn(&mut f, (Ipv4Addr::new(100, 64, 0, 1), 1), (Ipv4Addr::new(192, 0, 2, 10), 80), 7);
        // A SYN reaching a client, or a segment with the wrong payload size.
        assert_eq!(s.answer(&mut f.clone(), len, true), Step::Drop);
        let mut udp = f.clone();
        udp[IP + 9] = 17;
        assert_eq!(s.answer(&mut udp, len, false), Step::Drop);
        assert_eq!(s.answer(&mut f[..20].to_vec(), 20, false), Step::Drop);
    }
}
