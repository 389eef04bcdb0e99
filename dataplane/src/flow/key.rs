//! The 5-tuple a packet is looked up by, as it appears on the wire in one direction.

use std::net::Ipv4Addr;

use crate::hash::hash2;

/// Source and destination of one direction of a flow. Addresses are host-order
/// `u32` so comparing and hashing never touches byte order on the hot path.
#[repr(C)]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default, Debug, bytemuck::Zeroable, bytemuck::Pod)]
pub struct Tuple {
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
}

impl Tuple {
    pub fn new(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Self {
        Tuple { src: src.into(), dst: dst.into(), sport, dport }
    }

    /// The same conversation seen from the other end.
    #[inline]
    pub fn reversed(self) -> Self {
        Tuple { src: self.dst, dst: self.src, sport: self.dport, dport: self.sport }
    }

    /// Addresses and ports as two words, as they lie in memory, so tuples
    /// compare in two compares. The reversed tuple's words are these rotated
    /// by half their width (in either byte order).
    #[inline(always)]
    pub fn words(&self) -> (u64, u32) {
        let b: [u8; 12] = bytemuck::cast(*self);
        let (a, p) = b.split_at(8);
        (a.try_into().map_or(0, u64::from_ne_bytes), p.try_into().map_or(0, u32::from_ne_bytes))
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst)
    }
}

impl std::fmt::Display for Tuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} -> {}:{}", self.src_addr(), self.sport, self.dst_addr(), self.dport)
    }
}

/// A tuple plus its IP protocol: what the flow table is keyed by.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default, Debug)]
pub struct FlowKey {
    pub tuple: Tuple,
    pub proto: u8,
}

impl FlowKey {
    #[inline]
    pub fn new(tuple: Tuple, proto: u8) -> Self {
        FlowKey { tuple, proto }
    }

    #[inline(always)]
    pub fn hash(&self, seed: u64) -> u64 {
        let t = &self.tuple;
        let a = (u64::from(t.src) << 32) | u64::from(t.dst);
        let b = (u64::from(t.sport) << 32) | (u64::from(t.dport) << 16) | u64::from(self.proto);
        hash2(seed, a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversing_twice_is_identity() {
        let t = Tuple::new(Ipv4Addr::new(10, 0, 0, 1), 40000, Ipv4Addr::new(10, 1, 0, 1), 110);
        assert_eq!(t.reversed().reversed(), t);
        assert_eq!(t.reversed().src_addr(), Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(t.reversed().sport, 110);
    }

    #[test]
    fn reversed_words_are_the_words_rotated() {
        let t = Tuple::new(Ipv4Addr::new(10, 0, 0, 1), 40000, Ipv4Addr::new(10, 1, 0, 1), 110);
        let (a, p) = t.words();
        assert_eq!(t.reversed().words(), (a.rotate_left(32), p.rotate_left(16)));
        assert_ne!(t.reversed().words(), t.words());
    }

    #[test]
    fn direction_and_protocol_change_the_hash() {
        let t = Tuple::new(Ipv4Addr::new(10, 0, 0, 1), 40000, Ipv4Addr::new(10, 1, 0, 1), 110);
        let k = FlowKey::new(t, 6);
        assert_ne!(k.hash(1), FlowKey::new(t.reversed(), 6).hash(1));
        assert_ne!(k.hash(1), FlowKey::new(t, 17).hash(1));
    }
}
