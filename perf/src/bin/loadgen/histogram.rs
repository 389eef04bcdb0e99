//! Round-trip latencies: 10 ns buckets up to 1 ms, 10 µs buckets up to 1 s.
//!
//! The coarse tier matters on VMs whose host stops a vCPU for 100 ms at a
//! time (README, troubleshooting): with fine buckets alone, a p99 beyond
//! 1 ms could only be reported as the maximum. Two flat arrays keep `add`
//! an index and an increment, cheap enough for every packet received.

const FINE_NS: u64 = 10;
const FINE: usize = 100_000;
const FINE_END_NS: u64 = FINE_NS * FINE as u64;
const COARSE_NS: u64 = 10_000;
const COARSE: usize = 99_900;
const COARSE_END_NS: u64 = FINE_END_NS + COARSE_NS * COARSE as u64;

pub(crate) struct Histogram {
    fine: Vec<u64>,
    coarse: Vec<u64>,
    /// Every sample, those of 1 s or more (in no bucket) included.
    n: u64,
    pub(crate) max_ns: u64,
}

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram { fine: vec![0; FINE], coarse: vec![0; COARSE], n: 0, max_ns: 0 }
    }

    #[inline]
    pub(crate) fn add(&mut self, ns: u64) {
        self.n += 1;
        self.max_ns = self.max_ns.max(ns);
        if ns < FINE_END_NS {
            self.fine[(ns / FINE_NS) as usize] += 1;
        } else if ns < COARSE_END_NS {
            self.coarse[((ns - FINE_END_NS) / COARSE_NS) as usize] += 1;
        }
    }

    /// The latency below which a fraction `q` of the samples fall, as the
    /// middle of its bucket; the maximum if it is beyond the coarse tier.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        if self.n == 0 {
            return None;
        }
        let want = ((self.n as f64) * q).ceil().max(1.0) as u64;
        let fine = self.fine.iter().enumerate().map(|(i, &c)| (c, i as u64 * FINE_NS + FINE_NS / 2));
        let coarse = self
            .coarse
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, FINE_END_NS + i as u64 * COARSE_NS + COARSE_NS / 2));
        let mut seen = 0;
        for (count, mid) in fine.chain(coarse) {
            seen += count;
            if seen >= want {
                return Some(mid);
            }
        }
        Some(self.max_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_beyond_a_millisecond_is_measured_not_replaced_by_the_maximum() {
        let mut h = Histogram::new();
        for _ in 0..980 {
            h.add(500); // 0.5 µs
        }
        for _ in 0..20 {
            h.add(100_004_321); // a 100 ms stop
        }
        h.add(3_000_000_000); // one beyond the coarse tier
        assert_eq!(h.quantile(0.5), Some(505));
        let p99 = h.quantile(0.99).expect("samples");
        assert!((100_000_000..100_010_000).contains(&p99), "p99 {p99}");
        assert_eq!(h.quantile(1.0), Some(3_000_000_000));
        assert_eq!(h.max_ns, 3_000_000_000);
    }

    #[test]
    fn the_tiers_meet_without_a_gap() {
        let mut h = Histogram::new();
        h.add(FINE_END_NS - 1);
        h.add(FINE_END_NS);
        h.add(COARSE_END_NS - 1);
        assert_eq!(h.quantile(0.3), Some(FINE_END_NS - FINE_NS / 2));
        assert_eq!(h.quantile(0.6), Some(FINE_END_NS + COARSE_NS / 2));
        assert_eq!(h.quantile(1.0), Some(COARSE_END_NS - COARSE_NS / 2));
        assert_eq!(Histogram::new().quantile(0.5), None);
    }
}
