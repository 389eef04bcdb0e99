//! Hashing for the per-packet path: flow keys, address and service maps.
//!
//! The folded 64×64→128 multiply (as in wyhash) mixes a 5-tuple in two
//! multiplications; SipHash, the std default, costs several times more and its
//! DoS resistance comes instead from the per-table random seed.

use std::hash::{BuildHasherDefault, Hasher};

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

/// Multiplies and folds the 128-bit product: every input bit reaches every output bit.
#[inline(always)]
pub fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a).wrapping_mul(u128::from(b));
    (r as u64) ^ ((r >> 64) as u64)
}

/// Hashes two words with a seed; the seed keeps one table's layout private.
#[inline(always)]
pub fn hash2(seed: u64, a: u64, b: u64) -> u64 {
    mum(mum(a ^ seed ^ P0, b ^ P1), seed ^ P2)
}

/// A `Hasher` for the small control-built maps the data path reads (addresses,
/// services): keys are integers, so one multiply is enough.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        mum(self.0 ^ P0, P1)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mum(self.0 ^ u64::from(b), P2);
        }
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0 = mum(self.0 ^ u64::from(i), P2);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = mum(self.0 ^ i, P2);
    }
}

pub type FastBuildHasher = BuildHasherDefault<FastHasher>;
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bit_changes_about_half_the_output() {
        let base = hash2(7, 0x0a00_0001_0a00_0002, 0x1234_0050_0006);
        let mut total = 0u32;
        for bit in 0..64 {
            total += (base ^ hash2(7, 0x0a00_0001_0a00_0002 ^ (1 << bit), 0x1234_0050_0006)).count_ones();
        }
        let avg = f64::from(total) / 64.0;
        assert!((24.0..40.0).contains(&avg), "avalanche {avg}");
    }

    #[test]
    fn seed_changes_the_hash() {
        assert_ne!(hash2(1, 5, 6), hash2(2, 5, 6));
    }
}
