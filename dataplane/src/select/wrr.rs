//! Weighted round robin: nginx's smooth WRR (ngx_http_upstream_round_robin.c),
//! materialised once per configuration change as a schedule of member indices,
//! so the data path picks with one array lookup and a wrapping counter.
//! For flow-sticky selection see `maglev` (Maglev, NSDI'16, Eisenbud et al., §3.4).

/// Longest schedule `schedule` returns; also the number of member indices a
/// `u16` can name, so members past index 65535 are ignored (as if weight 0).
pub const MAX_SCHEDULE: usize = 65536;

/// Interleaved sequence of member indices in which member i appears weight_i/g
/// times (g = gcd of the non-zero weights), spread out smoothly (no long runs of
/// one member). Empty if no weight > 0. Length capped: if Σ(w/g) > MAX_SCHEDULE
/// (= 65536), weights are scaled down proportionally (each non-zero weight keeps
/// ≥ 1).
///
/// The order is exactly nginx's: every step each member's `current` grows by its
/// weight, the largest `current` (lowest index on ties) is picked and loses the
/// total weight. For weights 5,1,1 that is `0 0 1 0 2 0 0`.
pub fn schedule(weights: &[u32]) -> Vec<u16> {
    let weights = reduced_weights(weights);
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return Vec::new();
    }

    // Members of equal weight always stay within one pick of each other and are
    // served in index order, so only the next one of each weight class can hold
    // the maximum. At most ~362 distinct weights fit in a sum of 65536, which
    // bounds a step at that many comparisons however many members there are.
    let mut by_weight: Vec<(u32, u16)> = weights
        .iter()
        .enumerate()
        .filter(|(_, &w)| w > 0)
        // `0u16..` would overflow when yielding the last index; reduced_weights
        // already caps the length so every index converts.
        .filter_map(|(i, &w)| Some((w, u16::try_from(i).ok()?)))
        .collect();
    by_weight.sort_unstable();
    let mut classes: Vec<Class> = Vec::new();
    for (w, i) in by_weight {
        match classes.last_mut() {
            Some(class) if class.weight == i64::from(w) => class.members.push(i),
            _ => classes.push(Class { weight: i64::from(w), members: vec![i], picks: 0 }),
        }
    }

    // total ≤ MAX_SCHEDULE and weights < 2^32, so every `current` fits in i64.
    let total = total as i64;
    let len = total as usize;
    let mut out = Vec::with_capacity(len);
    for step in 1..=total {
        let mut best: Option<(i64, u16, usize)> = None;
        for (c, class) in classes.iter().enumerate() {
            let Some((current, index)) = class.head(step, total) else {
                continue;
            };
            let better = match best {
                None => true,
                Some((bc, bi, _)) => current > bc || (current == bc && index < bi),
            };
            if better {
                best = Some((current, index, c));
            }
        }
        let Some((_, index, c)) = best else { break };
        out.push(index);
        if let Some(class) = classes.get_mut(c) {
            class.picks += 1;
        }
    }
    out
}

/// Members sharing one weight, in index order.
struct Class {
    weight: i64,
    members: Vec<u16>,
    picks: usize,
}

impl Class {
    /// The member nginx would consider from this class at `step` (1-based) and
    /// its `current`: the lowest index among those picked least so far.
    fn head(&self, step: i64, total: i64) -> Option<(i64, u16)> {
        let m = self.members.len();
        let index = *self.members.get(self.picks.checked_rem(m)?)?;
        let picked = (self.picks / m) as i64;
        Some((step * self.weight - total * picked, index))
    }
}

/// Weights divided by their gcd, then scaled down if their sum still exceeds
/// MAX_SCHEDULE. Zero stays zero; everything else stays ≥ 1.
fn reduced_weights(weights: &[u32]) -> Vec<u32> {
    let weights = &weights[..weights.len().min(MAX_SCHEDULE)];
    let g = weights.iter().fold(0, |g, &w| gcd(g, w));
    if g == 0 {
        return Vec::new();
    }
    let reduced: Vec<u32> = weights.iter().map(|&w| w / g).collect();
    let sum: u64 = reduced.iter().map(|&w| u64::from(w)).sum();
    if sum <= MAX_SCHEDULE as u64 {
        return reduced;
    }

    // Rounding each weight to target·w/sum can overshoot because of the ≥ 1
    // floor for tiny weights, so search for the largest target that fits. A
    // target of 0 always fits: it gives one slot per non-zero member, and there
    // are at most MAX_SCHEDULE members.
    let scale = |target: u64| -> Vec<u32> {
        reduced
            .iter()
            .map(|&w| {
                if w == 0 {
                    0
                } else {
                    let scaled = (u64::from(w) * target + sum / 2) / sum;
                    u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
                }
            })
            .collect()
    };
    let fits = |target: u64| scale(target).iter().map(|&w| u64::from(w)).sum::<u64>() <= MAX_SCHEDULE as u64;
    let (mut lo, mut hi) = (0u64, MAX_SCHEDULE as u64);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let scaled = scale(lo);
    let g = scaled.iter().fold(0, |g, &w| gcd(g, w)).max(1);
    scaled.into_iter().map(|w| w / g).collect()
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counts(s: &[u16], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &i in s {
            c[i as usize] += 1;
        }
        c
    }

    fn max_run(s: &[u16], member: u16) -> usize {
        let (mut best, mut run) = (0, 0);
        for &i in s {
            run = if i == member { run + 1 } else { 0 };
            best = best.max(run);
        }
        best
    }

    #[test]
    fn classic_nginx_sequence() {
        let s = schedule(&[5, 1, 1]);
        assert_eq!(counts(&s, 3), [5, 1, 1]);
        assert!(max_run(&s, 0) <= 3, "{s:?}");
        assert_eq!(s, [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn small_weights_exact_counts() {
        let s = schedule(&[3, 1, 4, 1, 5]);
        assert_eq!(counts(&s, 5), [3, 1, 4, 1, 5]);
    }

    #[test]
    fn gcd_reduction() {
        let s = schedule(&[10, 20]);
        assert_eq!(s.len(), 3);
        assert_eq!(counts(&s, 2), [1, 2]);
    }

    #[test]
    fn zero_weights_excluded() {
        let s = schedule(&[0, 3, 0, 1]);
        assert_eq!(counts(&s, 4), [0, 3, 0, 1]);
    }

    #[test]
    fn empty_and_all_zero() {
        assert!(schedule(&[]).is_empty());
        assert!(schedule(&[0, 0, 0]).is_empty());
    }

    #[test]
    fn huge_weights_capped_and_proportional() {
        let weights = [u32::MAX, u32::MAX / 3, 1_000_000_007, 1];
        let s = schedule(&weights);
        assert!(s.len() <= MAX_SCHEDULE && !s.is_empty());
        let c = counts(&s, weights.len());
        let total: f64 = weights.iter().map(|&w| w as f64).sum();
        for i in 0..3 {
            let ideal = s.len() as f64 * weights[i] as f64 / total;
            let dev = (c[i] as f64 - ideal).abs() / ideal;
            assert!(dev <= 0.01, "member {i}: {} vs {ideal:.1}", c[i]);
        }
        assert_eq!(c[3], 1);
    }

    #[test]
    fn many_tiny_members_still_fit() {
        let mut weights = vec![1; MAX_SCHEDULE - 1];
        weights.push(u32::MAX);
        let s = schedule(&weights);
        assert_eq!(s.len(), MAX_SCHEDULE);
        assert!(counts(&s, weights.len()).iter().all(|&c| c == 1));
    }

    #[test]
    fn indices_past_u16_ignored() {
        let s = schedule(&vec![1; MAX_SCHEDULE + 10]);
        assert_eq!(s.len(), MAX_SCHEDULE);
    }

    /// Straight O(n) per step nginx loop, to check the weight-class shortcut.
    fn nginx(weights: &[u32]) -> Vec<u16> {
        let total: i64 = weights.iter().map(|&w| w as i64).sum();
        let mut current = vec![0i64; weights.len()];
        let mut out = Vec::new();
        for _ in 0..total {
            let mut best = 0;
            for (i, &w) in weights.iter().enumerate() {
                current[i] += w as i64;
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            out.push(best as u16);
        }
        out
    }

    proptest! {
        #[test]
        fn matches_plain_nginx(weights in proptest::collection::vec(0u32..12, 0..20)) {
            let g = weights.iter().fold(0, |g, &w| gcd(g, w)).max(1);
            let reduced: Vec<u32> = weights.iter().map(|&w| w / g).collect();
            prop_assert_eq!(schedule(&weights), nginx(&reduced));
        }

        #[test]
        fn any_input_bounded(
            weights in proptest::collection::vec(
                prop_oneof![Just(0u32), 1u32..1000, Just(u32::MAX)], 0..50)
        ) {
            let s = schedule(&weights);
            prop_assert!(s.len() <= MAX_SCHEDULE);
            let c = counts(&s, weights.len());
            for (i, &w) in weights.iter().enumerate() {
                prop_assert_eq!(w == 0, c[i] == 0);
            }
        }
    }
}
