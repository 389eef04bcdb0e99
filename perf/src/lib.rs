//! Shared by the load tools: how test flows are numbered and shuffled.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Six bytes of data: a TCP/IPv4 frame with it is 60 bytes, 64 on the wire.
pub const PAYLOAD: &[u8] = b"gslbd!";

/// The client endpoint of test flow `i`: 1024 ports per address.
pub fn client_addr(i: u32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(0x0a80_0000 + (i >> 10)), 1024 + (i & 1023) as u16)
}

/// 0..n in a fixed pseudo-random order (xorshift Fisher–Yates), so runs compare.
pub fn random_order(n: u32) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}
