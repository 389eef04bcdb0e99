//! Answering a UDP datagram in the buffer it came in: the appliance's own
//! services (its DNS) read the query where the NIC put it and write the
//! answer over it, headers turned around, so an answer costs no kernel
//! socket, no copy into a new buffer and no allocation of a frame.

use std::net::SocketAddrV4;
use std::ops::Range;

use crate::wire::ipv4::protocol;
use crate::wire::{EtherType, EthernetFrame, Ipv4Packet, MacAddr, UdpPacket};

/// TTL of what the appliance originates (Linux's default).
const TTL: u8 = 64;
const IPV4_HEADER: usize = 20;
const UDP_HEADER: usize = 8;

/// A UDP datagram found in a frame, by where its parts are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// Where the IPv4 header starts (after any VLAN tag).
    l3: usize,
    /// The UDP payload's bytes in the frame.
    pub payload: Range<usize>,
}

/// Why a frame holds no datagram to answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotDatagram {
    /// Not an unfragmented IPv4 UDP datagram with sound lengths.
    Malformed,
    /// Its UDP checksum is wrong: the kernel would drop it too.
    BadChecksum,
}

/// Finds the UDP datagram in `frame`, checking what the data core did not
/// (the UDP checksum; it forwards without looking at payloads).
pub fn datagram(frame: &[u8]) -> Result<Datagram, NotDatagram> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| NotDatagram::Malformed)?;
    if eth.ethertype() != EtherType::IPV4 {
        return Err(NotDatagram::Malformed);
    }
    let l3 = eth.header_len();
    let ip = Ipv4Packet::new_checked(&frame[l3..]).map_err(|_| NotDatagram::Malformed)?;
    if ip.protocol() != protocol::UDP || ip.is_fragment() || !ip.verify_checksum() {
        return Err(NotDatagram::Malformed);
    }
    let l4 = l3 + ip.header_len();
    let end = l3 + usize::from(ip.total_len());
    let udp = UdpPacket::new_checked(&frame[l4..end]).map_err(|_| NotDatagram::Malformed)?;
    if !udp.verify_checksum(ip.src_addr(), ip.dst_addr()) {
        return Err(NotDatagram::BadChecksum);
    }
    Ok(Datagram {
        src: SocketAddrV4::new(ip.src_addr(), udp.src_port()),
        dst: SocketAddrV4::new(ip.dst_addr(), udp.dst_port()),
        l3,
        payload: l4 + UDP_HEADER..l4 + usize::from(udp.len()),
    })
}

/// Rewrites the frame in `room` (which held `d`) into the answer `payload`
/// from `d.dst` to `d.src`, sent from `mac`; returns the new frame length,
/// or `None` if the answer does not fit the buffer. IPv4 options of the
/// query are not echoed: the answer's header is 20 bytes.
pub fn turn_around(room: &mut [u8], d: &Datagram, mac: MacAddr, payload: &[u8]) -> Option<usize> {
    let l4 = d.l3 + IPV4_HEADER;
    let udp_len = UDP_HEADER + payload.len();
    let end = l4 + udp_len;
    let ip_len = u16::try_from(IPV4_HEADER + udp_len).ok()?;
    if end > room.len() {
        return None;
    }
    let mut eth = EthernetFrame::new_unchecked(&mut room[..]);
    let asker = eth.src_addr();
    eth.set_dst_addr(asker);
    eth.set_src_addr(mac);

    room[l4 + UDP_HEADER..end].copy_from_slice(payload);
    let mut udp = UdpPacket::new_unchecked(&mut room[l4..end]);
    udp.set_src_port(d.dst.port());
    udp.set_dst_port(d.src.port());
    udp.set_len(udp_len as u16);
    udp.fill_checksum(*d.dst.ip(), *d.src.ip());

    let mut ip = Ipv4Packet::new_unchecked(&mut room[d.l3..l4]);
    ip.set_version_and_header_len(IPV4_HEADER);
    ip.set_tos(0);
    ip.set_total_len(ip_len);
    // DF with ID 0: an atomic datagram (RFC 6864); answers are kept under
    // 1232 bytes, so no path should need to fragment them.
    ip.set_ident(0);
    ip.set_flags_and_frag(0x4000);
    ip.set_ttl(TTL);
    ip.set_protocol(protocol::UDP);
    ip.set_src_addr(*d.dst.ip());
    ip.set_dst_addr(*d.src.ip());
    ip.fill_checksum();
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::frames;
    use std::net::Ipv4Addr;

    const ME: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);

    fn query(payload: &[u8]) -> Vec<u8> {
        let c = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 7), 40000);
        let s = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 53);
        frames::udp(CLIENT_MAC, ME, c, s, payload)
    }

    #[test]
    fn finds_the_datagram() {
        let f = query(b"question");
        let d = datagram(&f).expect("a datagram");
        assert_eq!(d.src, "10.0.0.7:40000".parse().expect("address"));
        assert_eq!(d.dst, "10.0.0.1:53".parse().expect("address"));
        assert_eq!(&f[d.payload.clone()], b"question");
    }

    #[test]
    fn a_bad_udp_checksum_is_named() {
        let mut f = query(b"question");
        let last = f.len() - 1;
        f[last] ^= 0x40;
        assert_eq!(datagram(&f), Err(NotDatagram::BadChecksum));
    }

    #[test]
    fn fragments_and_other_protocols_are_refused() {
        let mut f = query(b"question");
        f[14 + 6] |= 0x20; // more fragments
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.fill_checksum();
        assert_eq!(datagram(&f), Err(NotDatagram::Malformed));
        let tcp = frames::tcp(
            CLIENT_MAC,
            ME,
            "10.0.0.7:40000".parse().expect("address"),
            "10.0.0.1:53".parse().expect("address"),
            0x02,
            1,
            0,
            &[],
        );
        assert_eq!(datagram(&tcp), Err(NotDatagram::Malformed));
        assert_eq!(datagram(&f[..30]), Err(NotDatagram::Malformed));
    }

    /// The answer is what a kernel would have sent: addresses and ports
    /// swapped, lengths and both checksums right, payload in place.
    #[test]
    fn answers_in_place() {
        for answer_len in [0usize, 5, 8, 300, 1232] {
            let mut room = vec![0u8; 2048];
            let f = query(b"a question of some length");
            room[..f.len()].copy_from_slice(&f);
            let d = datagram(&room[..f.len()]).expect("a datagram");
            let answer: Vec<u8> = (0..answer_len).map(|i| i as u8).collect();
            let n = turn_around(&mut room, &d, ME, &answer).expect("room for the answer");
            let out = &room[..n];
            assert_eq!(n, 14 + 20 + 8 + answer_len);
            let back = datagram(out).expect("a sound datagram");
            assert_eq!(back.src, d.dst);
            assert_eq!(back.dst, d.src);
            assert_eq!(&out[back.payload.clone()], &answer[..]);
            let eth = EthernetFrame::new_unchecked(out);
            assert_eq!((eth.dst_addr(), eth.src_addr()), (CLIENT_MAC, ME));
            let ip = Ipv4Packet::new_unchecked(&out[14..]);
            assert_eq!((ip.ttl(), ip.header_len(), ip.dont_frag()), (TTL, 20, true));
        }
    }

    #[test]
    fn options_in_the_query_are_not_echoed() {
        // A 24-byte IPv4 header (one NOP-padded option word).
        let f = query(b"q");
        let mut g = f[..34].to_vec();
        g.extend_from_slice(&[1, 1, 1, 0]);
        g.extend_from_slice(&f[34..]);
        let mut ip = Ipv4Packet::new_unchecked(&mut g[14..]);
        ip.set_version_and_header_len(24);
        ip.set_total_len(ip.total_len() + 4);
        ip.fill_checksum();
        let mut room = vec![0u8; 2048];
        room[..g.len()].copy_from_slice(&g);
        let d = datagram(&room[..g.len()]).expect("a datagram");
        let n = turn_around(&mut room, &d, ME, b"answer").expect("room for the answer");
        let back = datagram(&room[..n]).expect("a datagram");
        assert_eq!(&room[back.payload], b"answer");
    }

    #[test]
    fn an_answer_too_big_for_the_buffer_is_refused() {
        let f = query(b"q");
        let mut room = f.clone();
        room.resize(100, 0);
        let d = datagram(&f).expect("a datagram");
        assert_eq!(turn_around(&mut room, &d, ME, &[0; 59]), None);
        assert_eq!(turn_around(&mut room, &d, ME, &[0; 58]), Some(100));
    }
}
