//! Round-trip latencies, in 10 ns buckets up to 1 ms.

/// Latency in 10 ns buckets up to 1 ms, and a count of the rest.
pub(crate) struct Histogram {
    buckets: Vec<u64>,
    over: u64,
    n: u64,
    pub(crate) max_ns: u64,
}

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram { buckets: vec![0; 100_000], over: 0, n: 0, max_ns: 0 }
    }
    pub(crate) fn add(&mut self, ns: u64) {
        self.n += 1;
        self.max_ns = self.max_ns.max(ns);
        match self.buckets.get_mut((ns / 10) as usize) {
            Some(b) => *b += 1,
            None => self.over += 1,
        }
    }
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        let want = ((self.n as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b;
            if seen >= want.max(1) {
                return Some(i as u64 * 10 + 5);
            }
        }
        (self.n > 0).then_some(self.max_ns)
    }
}
