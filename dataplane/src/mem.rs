//! Large zeroed arrays for per-core tables, mapped straight from the kernel.
//!
//! The flow table's arrays are cache-line aligned, and the global allocator
//! zeroes such allocations by writing every byte: an 8M-flow table would be
//! faulted in whole at start, on 4 KiB pages. An anonymous mapping is zero
//! already, touched only as flows arrive, and can be advised onto transparent
//! huge pages, which spares a TLB miss on nearly every random lookup.

use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use bytemuck::Zeroable;
use memmap2::{Advice, MmapMut};

pub struct ZeroedArray<T> {
    map: MmapMut,
    len: usize,
    _elem: PhantomData<T>,
}

impl<T: Zeroable> ZeroedArray<T> {
    pub fn new(len: usize) -> io::Result<ZeroedArray<T>> {
        assert!(std::mem::align_of::<T>() <= 4096, "pages align to 4 KiB");
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "array size overflows"))?;
        let map = MmapMut::map_anon(bytes.max(1))?;
        // Only advice: without transparent huge pages the table still works.
        let _ = map.advise(Advice::HugePage);
        Ok(ZeroedArray { map, len, _elem: PhantomData })
    }
}

impl<T: Zeroable> Deref for ZeroedArray<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: the mapping is page-aligned (checked ≥ align_of T), at least
        // len * size_of T bytes long and lives as long as self; its bytes
        // start as zeros, a valid T (Zeroable), and are only ever written as T.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<T>(), self.len) }
    }
}

impl<T: Zeroable> DerefMut for ZeroedArray<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast::<T>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(64))]
    #[derive(Copy, Clone, Zeroable)]
    struct Line([u64; 8]);

    #[test]
    fn starts_zeroed_aligned_and_writable() {
        let mut a = ZeroedArray::<Line>::new(1000).expect("map");
        assert_eq!(a.len(), 1000);
        assert_eq!(a.as_ptr() as usize % 64, 0);
        assert!(a.iter().all(|l| l.0 == [0; 8]));
        a[999].0[7] = 42;
        assert_eq!(a[999].0[7], 42);
    }

    fn resident_bytes() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
        let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("resident");
        pages * 4096
    }

    #[test]
    fn a_large_array_costs_nothing_until_touched() {
        let before = resident_bytes();
        // 2 GiB: zeroing it eagerly would make all of it resident.
        let mut a = ZeroedArray::<Line>::new(1 << 25).expect("map");
        a[12_345_678].0[0] = 1;
        let grew = resident_bytes().saturating_sub(before);
        assert!(grew < 64 << 20, "mapping 2 GiB made {grew} bytes resident");
    }

    #[test]
    fn an_impossible_size_is_an_error() {
        assert!(ZeroedArray::<Line>::new(usize::MAX / 2).is_err());
    }
}
