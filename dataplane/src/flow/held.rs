//! Expired flows between the moment ageing finds them and their removal.
//!
//! Ageing finds an expired flow, starts fetching its two index buckets, and
//! removes it only `AHEAD` expired flows later, so those misses overlap. The
//! window is kept from one call to the next: a data core that ages a few
//! flows a poll, keeping pace with its traffic, would otherwise wait at the
//! end of every call for the buckets of the last flows it found.
//!
//! A held flow is off the wheel (its slot is `wheel::DETACHED`) but still in
//! the index, so its packets still find it. A packet may renew it meanwhile:
//! it is then put back on the wheel instead of being removed.

use super::wheel::NIL;

/// Flows held between the fetch of their buckets and their removal.
pub(super) const AHEAD: usize = 8;

/// An expired flow and the hashes of its two keys.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct HeldFlow {
    pub idx: u32,
    pub hf: u64,
    pub hr: u64,
}

pub(super) struct Held {
    ring: [HeldFlow; AHEAD],
    first: usize,
    len: usize,
}

impl Held {
    pub fn new() -> Held {
        Held { ring: [HeldFlow::default(); AHEAD], first: 0, len: 0 }
    }

    /// Holds `h`; when the window is full, hands back the oldest flow, whose
    /// buckets have had the longest to arrive.
    #[inline]
    pub fn push(&mut self, h: HeldFlow) -> Option<HeldFlow> {
        if self.len < AHEAD {
            self.ring[(self.first + self.len) % AHEAD] = h;
            self.len += 1;
            return None;
        }
        let oldest = std::mem::replace(&mut self.ring[self.first], h);
        self.first = (self.first + 1) % AHEAD;
        Some(oldest)
    }

    /// The oldest held flow, taken out.
    #[inline]
    pub fn pop(&mut self) -> Option<HeldFlow> {
        if self.len == 0 {
            return None;
        }
        let h = self.ring[self.first];
        self.first = (self.first + 1) % AHEAD;
        self.len -= 1;
        Some(h)
    }

    /// Drops flow `idx` from the window (it was removed some other way): its
    /// place is kept, as `NIL`, and skipped when it comes out.
    pub fn forget(&mut self, idx: u32) {
        for k in 0..self.len {
            let h = &mut self.ring[(self.first + k) % AHEAD];
            if h.idx == idx {
                h.idx = NIL;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(idx: u32) -> HeldFlow {
        HeldFlow { idx, hf: u64::from(idx), hr: 0 }
    }

    #[test]
    fn the_oldest_comes_out_first_once_the_window_is_full() {
        let mut w = Held::new();
        for i in 1..=AHEAD as u32 {
            assert_eq!(w.push(h(i)), None);
        }
        assert_eq!(w.push(h(100)), Some(h(1)));
        assert_eq!(w.push(h(101)), Some(h(2)));
        w.forget(3);
        let rest: Vec<u32> = std::iter::from_fn(|| w.pop()).map(|f| f.idx).collect();
        let mut want: Vec<u32> = vec![NIL];
        want.extend(4..=AHEAD as u32);
        want.extend([100, 101]);
        assert_eq!(rest, want);
        assert_eq!(w.pop(), None);
    }
}
