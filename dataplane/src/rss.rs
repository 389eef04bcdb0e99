//! Receive-side scaling in software: the Toeplitz hash NICs use to pick a
//! receive queue, so the data path can predict where a packet will land.
//!
//! Used to choose a PIP port whose replies the NIC steers to the core that
//! owns the proxied flow, so they need no hand-off. The hash is linear over
//! its input bits, so it is computed from per-byte tables (one lookup per
//! input byte) built once from the key.

use std::net::Ipv4Addr;

/// Input of an IPv4 TCP/UDP hash: source address, destination address,
/// source port, destination port (Microsoft's RSS specification order).
const INPUT_LEN: usize = 12;

pub struct Toeplitz {
    /// `tables[i][b]`: the hash contribution of byte value `b` at input position `i`.
    tables: Box<[[u32; 256]; INPUT_LEN]>,
}

impl Toeplitz {
    /// Precomputes the tables for a key of at least 16 bytes (NICs use 40).
    pub fn new(key: &[u8]) -> Option<Toeplitz> {
        if key.len() < INPUT_LEN + 4 {
            return None;
        }
        // The 32-bit window of the key starting at bit `bit`.
        let window = |bit: usize| -> u32 {
            let mut w = 0u64;
            for i in 0..5 {
                w = (w << 8) | u64::from(*key.get(bit / 8 + i).unwrap_or(&0));
            }
            (w >> (8 - bit % 8)) as u32
        };
        let mut tables = Box::new([[0u32; 256]; INPUT_LEN]);
        for (pos, table) in tables.iter_mut().enumerate() {
            for (byte, slot) in table.iter_mut().enumerate() {
                *slot = (0..8).filter(|b| byte & (0x80 >> b) != 0).fold(0, |h, b| h ^ window(pos * 8 + b));
            }
        }
        Some(Toeplitz { tables })
    }

    pub fn hash_bytes(&self, input: &[u8; INPUT_LEN]) -> u32 {
        input.iter().zip(self.tables.iter()).fold(0, |h, (&b, t)| h ^ t[usize::from(b)])
    }

    /// The hash of an IPv4 TCP/UDP packet from `src:sport` to `dst:dport`.
    pub fn hash(&self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> u32 {
        let mut input = [0u8; INPUT_LEN];
        input[0..4].copy_from_slice(&src.octets());
        input[4..8].copy_from_slice(&dst.octets());
        input[8..10].copy_from_slice(&sport.to_be_bytes());
        input[10..12].copy_from_slice(&dport.to_be_bytes());
        self.hash_bytes(&input)
    }
}

/// A device's RSS as the data path needs it: the hash and the redirection
/// table (hash low bits → queue).
pub struct Rss {
    pub toeplitz: Toeplitz,
    pub reta: Vec<u16>,
}

impl Rss {
    /// The queue the device puts a packet on.
    pub fn queue(&self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> Option<u16> {
        if self.reta.is_empty() {
            return None;
        }
        let h = self.toeplitz.hash(src, dst, sport, dport) as usize;
        self.reta.get(h % self.reta.len()).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key and IPv4 vectors of Microsoft's "Verifying the RSS Hash
    /// Calculation" (the ones DPDK's and every NIC vendor's tests use).
    const KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0,
        0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42,
        0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    /// (destination, destination port, source, source port, IPv4+TCP hash).
    type Vector = ([u8; 4], u16, [u8; 4], u16, u32);

    const VECTORS: [Vector; 5] = [
        ([161, 142, 100, 80], 1766, [66, 9, 149, 187], 2794, 0x51cc_c178),
        ([65, 69, 140, 83], 4739, [199, 92, 111, 2], 14230, 0xc626_b0ea),
        ([12, 22, 207, 184], 38024, [24, 19, 198, 95], 12898, 0x5c2b_394a),
        ([209, 142, 163, 6], 2217, [38, 27, 205, 30], 48228, 0xafc7_327f),
        ([202, 188, 127, 2], 1303, [153, 39, 163, 191], 44251, 0x10e8_28a2),
    ];

    #[test]
    fn matches_the_published_ipv4_tcp_vectors() {
        let t = Toeplitz::new(&KEY).expect("key");
        for (dst, dport, src, sport, want) in VECTORS {
            let got = t.hash(Ipv4Addr::from(src), Ipv4Addr::from(dst), sport, dport);
            assert_eq!(got, want, "{src:?}:{sport} -> {dst:?}:{dport}: {got:#010x}, expected {want:#010x}");
        }
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(Toeplitz::new(&KEY[..8]).is_none());
    }

    #[test]
    fn the_redirection_table_picks_the_queue() {
        let rss =
            Rss { toeplitz: Toeplitz::new(&KEY).expect("key"), reta: (0..128).map(|i| i % 2).collect() };
        let (dst, dport, src, sport, hash) = VECTORS[0];
        let q = rss.queue(Ipv4Addr::from(src), Ipv4Addr::from(dst), sport, dport);
        assert_eq!(q, Some(((hash % 128) % 2) as u16));
        let none = Rss { toeplitz: Toeplitz::new(&KEY).expect("key"), reta: Vec::new() };
        assert_eq!(none.queue(Ipv4Addr::from(src), Ipv4Addr::from(dst), sport, dport), None);
    }
}
