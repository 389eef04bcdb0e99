//! Maglev consistent hashing: builds the prime-sized lookup table that maps a flow
//! hash to a backend so that membership changes move as few flows as possible.
//! Reference: Maglev, NSDI'16, Eisenbud et al., §3.4; the weighted population
//! follows Katran's `MaglevHashV2`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Number of slots in a lookup table. Prime, so every `skip` in `1..TABLE_SIZE`
/// makes a member's preference list a full permutation of the slots.
pub const TABLE_SIZE: usize = 65537; // prime

/// Slot value meaning "no member": the table is all `NONE` when no member has
/// a weight above zero.
pub const NONE: u16 = u16::MAX;

/// Largest number of members that take part in a table. Indices have to fit in
/// a `u16` that is not `NONE`; members past this position are ignored, as if
/// their weight were zero.
pub const MAX_MEMBERS: usize = 65534;

/// One backend of a Maglev table: a stable identity (hash of e.g. the real
/// server's address:port, so it stays the same when other members come and go)
/// and a weight.
#[derive(Clone, Copy, Debug)]
pub struct MaglevMember {
    pub key: u64,
    pub weight: u32,
}

/// Builds the lookup table: each entry holds the index (into `members`) of the
/// member owning that slot, or `NONE` (u16::MAX) when there is no member with
/// weight > 0. The result always has `TABLE_SIZE` entries.
///
/// Members with weight 0 never own a slot; if every weight is 0, or `members` is
/// empty, every entry is `NONE`. Otherwise every entry is filled and member `i`
/// owns about `TABLE_SIZE * w_i / Σw` slots.
///
/// Members are processed in order of `key` (ties by input position), so the
/// slot → key mapping does not depend on the order of `members`, only the
/// indices stored do. Keys are expected to be unique; duplicates still give a
/// full table, but then the owner among the duplicates depends on input order.
pub fn build(members: &[MaglevMember]) -> Box<[u16]> {
    let mut table = vec![NONE; TABLE_SIZE].into_boxed_slice();
    // Always succeeds: the slice was just allocated with TABLE_SIZE entries.
    if let Ok(array) = <&mut [u16; TABLE_SIZE]>::try_from(&mut table[..]) {
        build_into(members, array);
    }
    table
}

/// Same as [`build`], writing into an existing table so the control plane can
/// rebuild without a fresh 128 KiB allocation.
pub fn build_into(members: &[MaglevMember], table: &mut [u16; TABLE_SIZE]) {
    table.fill(NONE);

    let mut order: Vec<u16> = members
        .iter()
        .take(MAX_MEMBERS)
        .enumerate()
        .filter(|(_, m)| m.weight > 0)
        .filter_map(|(i, _)| u16::try_from(i).ok())
        .collect();
    // Sorting by key makes the table a function of the member set, not of the
    // order the control plane happened to list it in.
    order.sort_unstable_by_key(|&i| (members[usize::from(i)].key, i));

    let Some(max_weight) = order.iter().map(|&i| u64::from(members[usize::from(i)].weight)).max() else {
        return;
    };

    let mut walkers: Vec<Walker> =
        order.iter().map(|&index| Walker::new(index, &members[usize::from(index)], max_weight)).collect();

    // Katran's credit loop gives member i its k-th slot in round
    // ceil(k * max_weight / w_i), members of one round taking turns in key
    // order. Popping (round, rank) from a heap yields exactly that sequence but
    // costs O(log n) per slot instead of O(n) per round, which matters when one
    // heavy member makes the light ones idle for many rounds.
    let mut heap: BinaryHeap<Reverse<(u64, u32)>> =
        walkers.iter().zip(0u32..).map(|(w, rank)| Reverse((w.next_round, rank))).collect();

    let mut filled = 0;
    while filled < TABLE_SIZE {
        let Some(mut top) = heap.peek_mut() else {
            return;
        };
        let Reverse((_, rank)) = *top;
        let Some(walker) = walkers.get_mut(rank as usize) else {
            return;
        };
        walker.claim(table);
        *top = Reverse((walker.next_round, rank));
        filled += 1;
    }
}

/// A member's walk along its preference list (offset, offset + skip, ...).
struct Walker {
    index: u16,
    pos: u32,
    skip: u32,
    weight: u64,
    max_weight: u64,
    claimed: u64,
    next_round: u64,
}

impl Walker {
    fn new(index: u16, member: &MaglevMember, max_weight: u64) -> Self {
        let m = TABLE_SIZE as u64;
        let weight = u64::from(member.weight);
        Walker {
            index,
            pos: (hash(member.key, SEED_OFFSET) % m) as u32,
            skip: (hash(member.key, SEED_SKIP) % (m - 1) + 1) as u32,
            weight,
            max_weight,
            claimed: 0,
            next_round: round_of_claim(1, weight, max_weight),
        }
    }

    /// Takes the first free slot on the preference list. Terminates because the
    /// list visits every slot (prime table) and the caller only asks while some
    /// slot is free.
    fn claim(&mut self, table: &mut [u16; TABLE_SIZE]) {
        let m = TABLE_SIZE as u32;
        loop {
            let slot = &mut table[self.pos as usize % TABLE_SIZE];
            // Wrapping by subtraction: pos < m and skip < m, so one is enough
            // and it avoids a division per probe.
            self.pos += self.skip;
            if self.pos >= m {
                self.pos -= m;
            }
            if *slot == NONE {
                *slot = self.index;
                break;
            }
        }
        self.claimed += 1;
        self.next_round = round_of_claim(self.claimed + 1, self.weight, self.max_weight);
    }
}

/// Round in which Katran's credit loop grants the k-th slot: credit grows by
/// `weight` per round and a slot costs `max_weight`. No overflow: k ≤ 65538
/// and max_weight < 2^32.
fn round_of_claim(k: u64, weight: u64, max_weight: u64) -> u64 {
    (k * max_weight).div_ceil(weight.max(1))
}

const SEED_OFFSET: u64 = 0x9e37_79b9_7f4a_7c15;
const SEED_SKIP: u64 = 0xd1b5_4a32_d192_ed03;

/// splitmix64 finaliser over `key + seed`: two seeds give two independent-looking
/// hashes, so offset and skip are uncorrelated even for sequential keys.
fn hash(key: u64, seed: u64) -> u64 {
    let mut z = key.wrapping_add(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn members(weights: &[u32]) -> Vec<MaglevMember> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| MaglevMember {
                // Looks like an IPv4 address:port packed into a u64.
                key: 0x0a00_0000_0000 | ((i as u64) << 16) | 80,
                weight,
            })
            .collect()
    }

    fn shares(table: &[u16], n: usize) -> Vec<usize> {
        let mut counts = vec![0; n];
        for &slot in table {
            counts[slot as usize] += 1;
        }
        counts
    }

    fn keys_of(table: &[u16], members: &[MaglevMember]) -> Vec<Option<u64>> {
        table.iter().map(|&s| (s != NONE).then(|| members[s as usize].key)).collect()
    }

    #[test]
    fn every_slot_filled() {
        for weights in [&[1][..], &[0, 7], &[3, 0, 1, 1000], &[u32::MAX, 1]] {
            let table = build(&members(weights));
            assert_eq!(table.len(), TABLE_SIZE);
            assert!(table.iter().all(|&s| s != NONE), "weights {weights:?}");
        }
    }

    #[test]
    fn equal_weights_share_evenly() {
        for n in [3, 10, 100] {
            let table = build(&members(&vec![5; n]));
            let ideal = TABLE_SIZE as f64 / n as f64;
            for (i, &c) in shares(&table, n).iter().enumerate() {
                let dev = (c as f64 - ideal).abs() / ideal;
                assert!(dev <= 0.05, "n={n} member {i}: {c} slots vs {ideal:.0}");
            }
        }
    }

    #[test]
    fn weights_give_proportional_shares() {
        let table = build(&members(&[1, 2, 3]));
        let counts = shares(&table, 3);
        for (i, &c) in counts.iter().enumerate() {
            let ideal = TABLE_SIZE as f64 * (i + 1) as f64 / 6.0;
            let dev = (c as f64 - ideal).abs() / ideal;
            assert!(dev <= 0.05, "member {i}: {c} slots vs {ideal:.0}");
        }
    }

    #[test]
    fn removal_disrupts_little() {
        let before_members = members(&[1; 10]);
        let before = keys_of(&build(&before_members), &before_members);
        let removed = before_members[3].key;
        let mut after_members = before_members.clone();
        after_members.remove(3);
        let after = keys_of(&build(&after_members), &after_members);

        let moved = before.iter().zip(&after).filter(|(b, a)| **b != Some(removed) && b != a).count();
        let fraction = moved as f64 / TABLE_SIZE as f64;
        println!("removal: {:.3}% of slots moved among survivors", fraction * 100.0);
        assert!(fraction < 0.02, "{moved} slots ({:.3}%) moved among survivors", fraction * 100.0);
    }

    #[test]
    fn addition_disrupts_little() {
        let before_members = members(&[1; 10]);
        let before = keys_of(&build(&before_members), &before_members);
        let after_members = members(&[1; 11]);
        let after = keys_of(&build(&after_members), &after_members);

        let changed = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        let fraction = changed as f64 / TABLE_SIZE as f64;
        println!("addition: {:.3}% of slots changed owner", fraction * 100.0);
        assert!(fraction <= 1.0 / 11.0 + 0.03, "{changed} slots ({:.3}%) changed owner", fraction * 100.0);
    }

    #[test]
    fn zero_weight_never_owns() {
        let table = build(&members(&[0, 4, 0, 1, 0]));
        let counts = shares(&table, 5);
        assert_eq!((counts[0], counts[2], counts[4]), (0, 0, 0));
        assert_eq!(counts[1] + counts[3], TABLE_SIZE);
    }

    #[test]
    fn empty_or_all_zero_is_all_none() {
        for weights in [&[][..], &[0], &[0, 0, 0]] {
            let table = build(&members(weights));
            assert_eq!(table.len(), TABLE_SIZE);
            assert!(table.iter().all(|&s| s == NONE), "weights {weights:?}");
        }
    }

    #[test]
    fn build_into_reuses_and_resets() {
        let mut table = vec![7u16; TABLE_SIZE].into_boxed_slice();
        let array = <&mut [u16; TABLE_SIZE]>::try_from(&mut table[..]).unwrap();
        build_into(&members(&[0, 0]), array);
        assert!(array.iter().all(|&s| s == NONE));
        build_into(&members(&[2, 1]), array);
        assert_eq!(&array[..], &build(&members(&[2, 1]))[..]);
    }

    #[test]
    fn deterministic_and_order_independent() {
        let ms = members(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(build(&ms), build(&ms));

        let mut shuffled = ms.clone();
        shuffled.reverse();
        shuffled.swap(1, 4);
        assert_eq!(keys_of(&build(&ms), &ms), keys_of(&build(&shuffled), &shuffled));
    }

    #[test]
    fn build_time_report() {
        for n in [10, 100, 1000] {
            let ms = members(&(1..=n as u32).collect::<Vec<_>>());
            let start = std::time::Instant::now();
            let table = build(&ms);
            println!("maglev build, {n} members: {:?}", start.elapsed());
            assert_eq!(table.len(), TABLE_SIZE);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_input_gives_defined_table(
            weights in proptest::collection::vec(
                prop_oneof![Just(0u32), 1u32..10, Just(u32::MAX)], 0..40)
        ) {
            let table = build(&members(&weights));
            prop_assert_eq!(table.len(), TABLE_SIZE);
            let any = weights.iter().any(|&w| w > 0);
            for &s in table.iter() {
                if any {
                    prop_assert!(s != NONE && weights[s as usize] > 0);
                } else {
                    prop_assert_eq!(s, NONE);
                }
            }
        }
    }
}
