//! The flow table proper: a bucketised two-choice cuckoo index over a slab of
//! 64-byte flow entries.
//!
//! Each flow has two keys in the index, one per direction, so a reply finds
//! the same entry as the client's packets. An index slot is one `u64`: a 32-bit
//! signature of the key's hash and the entry index with the direction in its
//! low bit. A bucket is one cache line: seven slots and a count of the keys
//! whose first bucket it is that live in their second (`Bucket::overflow`;
//! such a key's slot word is marked `ALT`). A lookup reads one bucket and one
//! entry; the second bucket only when that count is not zero, so a new key's
//! lookup, an insert and a removal usually read one bucket a key, not two
//! (each is a DRAM line at a million flows, and a new connection touches a
//! dozen of them). A key's second bucket is derived from its first and its
//! signature (as in DPDK's `rte_hash`), so entries can be moved between their
//! two buckets without recomputing the key's hash.
//!
//! All memory is allocated zeroed at start, so pages are touched only as flows
//! arrive and an 8M-entry table costs nothing until used; after that nothing on
//! the packet path allocates. A full table (or, rarely, two full buckets with no
//! room to displace) refuses the new flow and leaves every other one untouched.

use super::entry::Flow;
use super::held::{Held, HeldFlow};
use super::key::FlowKey;
use super::wheel::{slot_of, Wheel, DETACHED, NIL};
use crate::hash::mum;
use crate::mem::ZeroedArray;

/// Key slots in a bucket; the line's last word is `Bucket::overflow`.
const WAYS: usize = 7;
const OVERFLOW: usize = WAYS;
const EMPTY: u64 = 0;
/// Set in a slot word whose key lives in its second bucket. (An entry index
/// is below 2^30, so with the direction it fills 31 bits of the low half.)
const ALT: u64 = 1 << 31;

#[repr(C, align(64))]
#[derive(Copy, Clone, bytemuck::Zeroable)]
struct Bucket([u64; WAYS + 1]);

impl Bucket {
    /// How many keys whose first bucket this is live in their second: while
    /// none does, a key not found here is in neither.
    #[inline(always)]
    fn overflow(&self) -> u64 {
        self.0[OVERFLOW]
    }

    /// Bit 2k+1 is set for each slot k whose signature (the word's high
    /// half) is `sig`; an empty slot, all zeroes, matches a zero signature.
    /// Four SSE2 compares of the whole line instead of eight scalar ones:
    /// the search was a ninth of a packet's instructions, and half of a new
    /// flow's (callgrind).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn sig_bits(&self, sig: u32) -> u32 {
        use std::arch::x86_64::*;
        let p = self.0.as_ptr().cast::<__m128i>();
        // SAFETY: SSE2 is part of x86-64; `p` points at 64 bytes aligned to
        // 64 (the bucket), read as four aligned 16-byte vectors.
        let lanes = unsafe {
            let s = _mm_set1_epi32(sig as i32);
            let m =
                |i: usize| _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(_mm_load_si128(p.add(i)), s)));
            m(0) | m(1) << 4 | m(2) << 8 | m(3) << 12
        };
        // Lane 2k+1 is slot k's high half (little endian); lane 15 is the
        // overflow count's, never a slot.
        lanes as u32 & 0x2AAA
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn sig_bits(&self, sig: u32) -> u32 {
        self.0[..WAYS]
            .iter()
            .enumerate()
            .filter(|(_, &w)| (w >> 32) as u32 == sig)
            .fold(0, |m, (k, _)| m | 2 << (2 * k))
    }

    /// The first occupied slot whose signature is `sig`.
    #[inline(always)]
    fn first_sig(&self, sig: u32) -> Option<usize> {
        SigSlots(self.sig_bits(sig)).find(|&k| self.0[k] != EMPTY)
    }
}

/// The slots a `sig_bits` mask names, lowest first.
struct SigSlots(u32);

impl Iterator for SigSlots {
    type Item = usize;
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let k = self.0.trailing_zeros() as usize / 2;
        self.0 &= self.0 - 1;
        Some(k)
    }
}

/// Which way a packet travels relative to the client's first packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client → VIP, as the flow was opened.
    Forward = 0,
    /// Real server or remote VIP → appliance: the reply.
    Reverse = 1,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub idx: u32,
    pub dir: Dir,
}

/// What a key's first bucket says (`FlowTable::probe`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A slot with the key's signature; its entry is being fetched.
    Found(Hit),
    /// The key is in neither bucket.
    Absent,
    /// Not in the first bucket, but keys of it live in their second, which
    /// is being fetched.
    Second,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// Every entry is in use.
    Full,
    /// Both candidate buckets of a key are full and nothing could be moved.
    BucketFull,
    /// One of the flow's keys already belongs to another flow (e.g. two VIPs
    /// sending the same client port to the same real server).
    Collision,
}

pub struct FlowTable {
    /// Entry 0 is never used, so index 0 can mean "none" in slots and links.
    flows: ZeroedArray<Flow>,
    buckets: ZeroedArray<Bucket>,
    mask: usize,
    seed: u64,
    free_head: u32,
    /// Entries never handed out yet: `free_head` holds only recycled ones, so a
    /// fresh table needs no free list built (and touches no pages) at start.
    never_used: u32,
    len: u32,
    capacity: u32,
    wheel: Wheel,
    /// Expired flows whose buckets are being fetched (`held`).
    held: Held,
}

/// How long past its timeout a flow may stay: `touch` renews an expiry
/// only once this much of it is used up.
#[inline(always)]
fn slack(timeout_ms: u32) -> u32 {
    timeout_ms >> 6
}

/// When a flow last seen at `now_ms` may be aged: its timeout plus the slack.
#[inline(always)]
fn deadline(now_ms: u64, timeout_ms: u32) -> u64 {
    now_ms + u64::from(timeout_ms) + u64::from(slack(timeout_ms))
}

#[inline]
fn slot_word(sig: u32, idx: u32, dir: Dir) -> u64 {
    (u64::from(sig) << 32) | u64::from((idx << 1) | dir as u32)
}

#[inline]
fn slot_entry(word: u64) -> (u32, Dir) {
    let low = (word & !ALT) as u32;
    (low >> 1, if low & 1 == 0 { Dir::Forward } else { Dir::Reverse })
}

/// Largest number of flows one table may hold (the entry index keeps one bit for direction).
pub const MAX_CAPACITY: u32 = (1 << 30) - 1;
// An index shifted left for the direction bit stays below ALT.
const _: () = assert!((MAX_CAPACITY as u64) < ALT >> 1);

impl FlowTable {
    /// A table for `capacity` flows. The index is sized for at most about 70 %
    /// of its slots in use at capacity, which keeps two-choice inserts from failing.
    pub fn new(capacity: u32, seed: u64, now_ms: u64) -> std::io::Result<FlowTable> {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        let keys = 2 * capacity as usize;
        let nbuckets = (keys * 10 / (WAYS * 7) + 1).next_power_of_two().max(2);
        Ok(FlowTable {
            flows: ZeroedArray::new(capacity as usize + 1)?,
            buckets: ZeroedArray::new(nbuckets)?,
            mask: nbuckets - 1,
            seed,
            free_head: 0,
            never_used: 1,
            len: 0,
            capacity,
            wheel: Wheel::new(now_ms),
            held: Held::new(),
        })
    }

    /// Bytes of table memory per flow at capacity (entries plus index).
    pub fn bytes_per_flow(&self) -> usize {
        (self.flows.len() * std::mem::size_of::<Flow>() + self.buckets.len() * std::mem::size_of::<Bucket>())
            / self.capacity as usize
    }

    #[inline]
    pub fn len(&self) -> u32 {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    #[inline(always)]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        key.hash(self.seed)
    }

    #[inline]
    fn primary(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    #[inline]
    fn alternate(&self, bucket: usize, sig: u32) -> usize {
        bucket ^ ((mum(u64::from(sig), 0x9e37_79b9_7f4a_7c15) as usize | 1) & self.mask)
    }

    /// Starts loading a key's primary bucket, so a later `lookup` finds it in cache.
    #[inline]
    pub fn prefetch_bucket(&self, hash: u64) {
        crate::prefetch::read(&self.buckets[self.primary(hash)]);
    }

    /// Starts loading a flow entry found by `lookup`.
    #[inline]
    pub fn prefetch_flow(&self, idx: u32) {
        crate::prefetch::read(&self.flows[idx as usize]);
    }

    #[inline]
    fn matches(&self, word: u64, key: &FlowKey) -> Option<Hit> {
        let (idx, dir) = slot_entry(word);
        self.flows[idx as usize].has_key(dir, key).then_some(Hit { idx, dir })
    }

    #[inline]
    fn find_in(&self, bucket: usize, sig: u32, key: &FlowKey) -> Option<Hit> {
        let b = &self.buckets[bucket];
        SigSlots(b.sig_bits(sig)).find_map(|k| match b.0[k] {
            EMPTY => None,
            word => self.matches(word, key),
        })
    }

    /// Finds the flow a packet with `key` belongs to; `hash` is `self.hash(key)`.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<Hit> {
        let sig = (hash >> 32) as u32;
        let b1 = self.primary(hash);
        self.find_in(b1, sig, key)
            .or_else(|| self.spilled(b1).then(|| self.find_in(self.alternate(b1, sig), sig, key))?)
    }

    /// Whether any key whose first bucket is `b` lives in its second.
    #[inline(always)]
    fn spilled(&self, b: usize) -> bool {
        self.buckets[b].overflow() != 0
    }

    /// `probe` and, if need be, `probe_second` at once: the first entry whose
    /// signature matches `hash` (the tests' view of what the pipeline does
    /// in two steps).
    #[cfg(test)]
    fn candidate(&self, hash: u64) -> Option<Hit> {
        match self.probe(hash) {
            Probe::Found(h) => Some(h),
            Probe::Absent => None,
            Probe::Second => self.probe_second(hash),
        }
    }

    /// The first entry whose signature matches `hash` in the key's first
    /// bucket, without reading the entry itself (it is prefetched instead):
    /// the burst pipeline confirms it with `confirm` one stage later, once
    /// the entry is in cache. When the key may be in its second bucket,
    /// that bucket is prefetched and `Probe::Second` returned: the pipeline
    /// asks `probe_second` after the rest of the burst's probes, rather than
    /// wait for an unrequested line at once (about 2 % of keys at the
    /// table's load, and a tenth of the burst's time at 1M flows).
    #[inline(always)]
    pub fn probe(&self, hash: u64) -> Probe {
        let sig = (hash >> 32) as u32;
        let b1 = self.primary(hash);
        if let Some((idx, dir)) = self.sig_in(b1, sig) {
            self.prefetch_flow(idx);
            Probe::Found(Hit { idx, dir })
        } else if self.spilled(b1) {
            crate::prefetch::read(&self.buckets[self.alternate(b1, sig)]);
            Probe::Second
        } else {
            Probe::Absent
        }
    }

    /// `probe`'s search, for a key it sent to its second bucket.
    #[inline]
    pub fn probe_second(&self, hash: u64) -> Option<Hit> {
        let sig = (hash >> 32) as u32;
        let (idx, dir) = self.sig_in(self.alternate(self.primary(hash), sig), sig)?;
        self.prefetch_flow(idx);
        Some(Hit { idx, dir })
    }

    /// The first slot of `bucket` whose signature is `sig`.
    #[inline(always)]
    fn sig_in(&self, bucket: usize, sig: u32) -> Option<(u32, Dir)> {
        let b = &self.buckets[bucket];
        b.first_sig(sig).map(|slot| slot_entry(b.0[slot]))
    }

    /// Whether `hit` (from `candidate`, however many packets ago) really is
    /// `key`'s flow: a live entry holding the key is its flow, as keys are
    /// unique, and a removed one holds protocol 0 (`free_entry`).
    #[inline]
    pub fn confirm(&self, hit: Hit, key: &FlowKey) -> bool {
        self.flows[hit.idx as usize].has_key(hit.dir, key)
    }

    #[inline]
    pub fn get(&self, idx: u32) -> &Flow {
        &self.flows[idx as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut Flow {
        &mut self.flows[idx as usize]
    }

    fn free_slot(&self, bucket: usize) -> Option<usize> {
        self.buckets[bucket].0[..WAYS].iter().position(|&w| w == EMPTY)
    }

    /// Puts a key word in slot `s` of bucket `b`, one of its two buckets
    /// (`b1` is its first), keeping `b1`'s overflow count.
    #[inline]
    fn put(&mut self, b: usize, s: usize, b1: usize, word: u64) {
        if b == b1 {
            self.buckets[b].0[s] = word;
        } else {
            self.buckets[b].0[s] = word | ALT;
            self.buckets[b1].0[OVERFLOW] += 1;
        }
    }

    /// Places a key word in one of its two buckets, the first if it has
    /// room, moving one resident of a full bucket to that resident's other
    /// bucket if needed.
    fn place(&mut self, hash: u64, word: u64) -> bool {
        let sig = (hash >> 32) as u32;
        let b1 = self.primary(hash);
        let b2 = self.alternate(b1, sig);
        for b in [b1, b2] {
            if let Some(s) = self.free_slot(b) {
                self.put(b, s, b1, word);
                return true;
            }
        }
        for b in [b1, b2] {
            for s in 0..WAYS {
                let victim = self.buckets[b].0[s];
                let other = self.alternate(b, (victim >> 32) as u32);
                if let Some(free) = self.free_slot(other) {
                    if victim & ALT != 0 {
                        // Back to its first bucket.
                        self.buckets[other].0[free] = victim & !ALT;
                        self.buckets[other].0[OVERFLOW] -= 1;
                    } else {
                        self.buckets[other].0[free] = victim | ALT;
                        self.buckets[b].0[OVERFLOW] += 1;
                    }
                    self.put(b, s, b1, word);
                    return true;
                }
            }
        }
        false
    }

    fn unplace(&mut self, hash: u64, word: u64) {
        let b1 = self.primary(hash);
        if let Some(s) = self.buckets[b1].0[..WAYS].iter().position(|&w| w == word) {
            self.buckets[b1].0[s] = EMPTY;
            return;
        }
        let b2 = self.alternate(b1, (hash >> 32) as u32);
        if let Some(s) = self.buckets[b2].0[..WAYS].iter().position(|&w| w == word | ALT) {
            self.buckets[b2].0[s] = EMPTY;
            self.buckets[b1].0[OVERFLOW] -= 1;
            return;
        }
        debug_assert!(false, "flow key missing from its buckets");
    }

    fn alloc_entry(&mut self) -> Option<u32> {
        if self.free_head != 0 {
            let idx = self.free_head;
            self.free_head = self.flows[idx as usize].next;
            // The list is a chain through cold entries: ageing frees a
            // wheel slot's flows in a rush, and new connections take them
            // for the rest of the slot's 128 ms, long after they left the
            // cache. Reading each next link on demand was over half of an
            // insert's time in a SYN flood (perf); fetched now, the next
            // head is in by the next new connection.
            self.prefetch_flow(self.free_head);
            Some(idx)
        } else if self.never_used <= self.capacity {
            self.never_used += 1;
            Some(self.never_used - 1)
        } else {
            None
        }
    }

    fn free_entry(&mut self, idx: u32) {
        let f = &mut self.flows[idx as usize];
        // No packet's key has protocol 0: a candidate found before the flow
        // was removed can never be confirmed against its stale entry.
        f.proto = 0;
        f.next = self.free_head;
        self.free_head = idx;
    }

    /// Adds `flow` (its tuples, protocol and path data filled in), due to expire
    /// after `timeout_ms`. The caller has already checked that its forward key
    /// is not in the table; the reverse key is checked here.
    pub fn insert(&mut self, flow: Flow, now_ms: u64, timeout_ms: u32) -> Result<u32, InsertError> {
        let (hf, hr) = (self.hash(&flow.forward_key()), self.hash(&flow.reverse_key()));
        self.insert_hashed(flow, hf, hr, now_ms, timeout_ms)
    }

    /// `insert` for a caller that has hashed both keys already: the pipeline
    /// hashed the forward one to look it up, and the reply one to start
    /// fetching its bucket (`prefetch_bucket`) a while before inserting.
    pub fn insert_hashed(
        &mut self,
        flow: Flow,
        hf: u64,
        hr: u64,
        now_ms: u64,
        timeout_ms: u32,
    ) -> Result<u32, InsertError> {
        if self.len >= self.capacity {
            return Err(InsertError::Full);
        }
        let fwd = flow.forward_key();
        let rev = flow.reverse_key();
        debug_assert_eq!(hf, self.hash(&fwd), "the forward key's hash");
        debug_assert_eq!(hr, self.hash(&rev), "the reply key's hash");
        if self.lookup(&rev, hr).is_some() || fwd == rev {
            return Err(InsertError::Collision);
        }
        let idx = self.alloc_entry().ok_or(InsertError::Full)?;
        let fw = slot_word((hf >> 32) as u32, idx, Dir::Forward);
        let rw = slot_word((hr >> 32) as u32, idx, Dir::Reverse);
        if !self.place(hf, fw) {
            self.free_entry(idx);
            return Err(InsertError::BucketFull);
        }
        if !self.place(hr, rw) {
            self.unplace(hf, fw);
            self.free_entry(idx);
            return Err(InsertError::BucketFull);
        }
        let due = deadline(now_ms, timeout_ms);
        let e = &mut self.flows[idx as usize];
        *e = flow;
        e.expires = due as u32;
        let slot = self.wheel.clamp(slot_of(due));
        self.wheel.link(&mut self.flows, idx, slot);
        self.len += 1;
        Ok(idx)
    }

    /// Pushes a flow's expiry to `timeout_ms` from now; moves it in the wheel
    /// only when the new expiry is earlier than the slot it sits in.
    ///
    /// The expiry is stored with a slack of 1/64 of the timeout and renewed
    /// only once that slack is used up (or the timeout got shorter: a FIN),
    /// as Linux conntrack long renewed its timers. A flow then never ages
    /// before its timeout and at most 1/64 after; and most packets leave
    /// the entry unwritten, so at a million flows its cache line goes back
    /// to memory clean instead of being written back.
    #[inline(always)]
    pub fn touch(&mut self, idx: u32, now_ms: u64, timeout_ms: u32) {
        let floor = now_ms + u64::from(timeout_ms);
        let due = deadline(now_ms, timeout_ms);
        let f = &mut self.flows[idx as usize];
        // Left alone while the stored expiry lies within (floor, due]: past
        // the timeout, within this timeout's slack. Below that the slack is
        // used up; above it the timeout got shorter.
        if f.expires.wrapping_sub(floor as u32).wrapping_sub(1) < slack(timeout_ms) {
            return;
        }
        f.expires = due as u32;
        let linked = f.slot;
        if self.wheel.needs_relink(linked, slot_of(due)) {
            self.relink(idx, due);
        }
    }

    /// Out of line: most packets of a flow leave it in its wheel slot.
    #[inline(never)]
    fn relink(&mut self, idx: u32, due: u64) {
        self.wheel.unlink(&mut self.flows, idx);
        let slot = self.wheel.clamp(slot_of(due));
        self.wheel.link(&mut self.flows, idx, slot);
    }

    /// Removes a flow at once (its keys and its entry).
    pub fn remove(&mut self, idx: u32) {
        if self.flows[idx as usize].slot == DETACHED {
            self.held.forget(idx);
        }
        self.wheel.unlink(&mut self.flows, idx);
        self.drop_entry(idx);
    }

    fn drop_entry(&mut self, idx: u32) {
        let (hf, hr) = self.key_hashes(idx);
        self.drop_hashed(idx, hf, hr);
    }

    /// The hashes of flow `idx`'s forward and reverse keys.
    #[inline]
    fn key_hashes(&self, idx: u32) -> (u64, u64) {
        let f = &self.flows[idx as usize];
        (self.hash(&f.forward_key()), self.hash(&f.reverse_key()))
    }

    fn drop_hashed(&mut self, idx: u32, hf: u64, hr: u64) {
        self.unplace(hf, slot_word((hf >> 32) as u32, idx, Dir::Forward));
        self.unplace(hr, slot_word((hr >> 32) as u32, idx, Dir::Reverse));
        self.free_entry(idx);
        self.len -= 1;
    }

    /// Ages flows whose time has come, visiting at most `budget` entries so a
    /// data core never stalls on a burst of expiries (the rest wait for the
    /// next call). `on_expire` sees each flow just before it is freed, to give
    /// back what it held. Returns how many flows were removed.
    ///
    /// The index buckets of an expired flow's two keys (their first ones:
    /// nearly every key lives there) are prefetched as it is found, and its
    /// keys cleared `held::AHEAD` expired flows later, so those DRAM misses
    /// overlap instead of stalling one after the other; with a large table
    /// under a high connection rate they are most of the cost of ageing.
    /// While the budget runs out the window is kept for the next call; once
    /// nothing more is due it is emptied.
    pub fn expire(&mut self, now_ms: u64, budget: usize, mut on_expire: impl FnMut(&Flow)) -> usize {
        let mut visited = 0;
        let mut expired = 0;
        let now32 = now_ms as u32;
        let mut more_due = false;
        'wheel: while self.wheel.due(now_ms).is_some() {
            let mut idx = self.wheel.take_cursor();
            while idx != NIL {
                let f = &self.flows[idx as usize];
                let (next, left) = (f.next, f.expires.wrapping_sub(now32) as i32);
                // The slot is a chain: fetch the next entry now, so its miss
                // overlaps this flow's work.
                if next != NIL {
                    self.prefetch_flow(next);
                }
                if left <= 0 {
                    let (hf, hr) = self.key_hashes(idx);
                    self.prefetch_bucket(hf);
                    self.prefetch_bucket(hr);
                    self.flows[idx as usize].slot = DETACHED;
                    if let Some(oldest) = self.held.push(HeldFlow { idx, hf, hr }) {
                        expired += self.settle(oldest, now_ms, &mut on_expire);
                    }
                } else {
                    self.rearm(idx, now_ms, left);
                }
                visited += 1;
                idx = next;
                if visited >= budget {
                    self.wheel.put_back(&mut self.flows, idx);
                    more_due = true;
                    break 'wheel;
                }
            }
            self.wheel.advance();
        }
        if !more_due {
            while let Some(h) = self.held.pop() {
                expired += self.settle(h, now_ms, &mut on_expire);
            }
        }
        expired
    }

    /// Removes a held flow, unless a packet renewed it while it was held
    /// (it goes back on the wheel) or it was removed meanwhile (`NIL`).
    fn settle(&mut self, h: HeldFlow, now_ms: u64, on_expire: &mut impl FnMut(&Flow)) -> usize {
        if h.idx == NIL {
            return 0;
        }
        let f = &self.flows[h.idx as usize];
        let left = f.expires.wrapping_sub(now_ms as u32) as i32;
        if left > 0 {
            self.rearm(h.idx, now_ms, left);
            return 0;
        }
        on_expire(f);
        self.drop_hashed(h.idx, h.hf, h.hr);
        1
    }

    /// Puts a flow found not yet expired back on the wheel, `left_ms` from now.
    fn rearm(&mut self, idx: u32, now_ms: u64, left_ms: i32) {
        let slot = self.wheel.clamp(slot_of(now_ms + left_ms as u64));
        self.wheel.link(&mut self.flows, idx, slot);
    }

    /// Visits every live flow (for the admin API and tests; not for the packet path).
    pub fn for_each(&self, mut f: impl FnMut(u32, &Flow)) {
        for b in self.buckets.iter() {
            for &w in &b.0[..WAYS] {
                let (idx, dir) = slot_entry(w);
                if w != EMPTY && dir == Dir::Forward {
                    f(idx, &self.flows[idx as usize]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Tuple;
    use std::net::Ipv4Addr;

    #[test]
    fn the_vector_signature_search_finds_what_a_scan_finds() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..100_000 {
            // Few distinct signatures, so matches, repeats and misses are all common;
            // the low half sometimes equals the signature too, which must not match.
            let sig = (next() % 4) as u32; // zero too: it matches empty slots' bits
                                           // The overflow word is filled alike: whatever it holds, it is never a slot.
            let mut b = Bucket([EMPTY; WAYS + 1]);
            for w in b.0.iter_mut() {
                let r = next();
                if r % 4 != 0 {
                    *w = u64::from(1 + (r >> 8) as u32 % 3) << 32 | u64::from((r >> 40) as u32 % 4);
                }
            }
            let scan = b.0[..WAYS].iter().position(|&w| w != EMPTY && (w >> 32) as u32 == sig);
            assert_eq!(b.first_sig(sig), scan, "{sig:#x} in {:x?}", b.0);
            let all: Vec<usize> = (0..WAYS).filter(|&k| (b.0[k] >> 32) as u32 == sig).collect();
            assert_eq!(SigSlots(b.sig_bits(sig)).collect::<Vec<_>>(), all, "{sig:#x} in {:x?}", b.0);
        }
    }

    impl FlowTable {
        /// Checks where every key lives against its hash and each bucket's
        /// overflow count against a recount; returns how many keys live in
        /// their second bucket.
        fn audit(&self) -> usize {
            let mut spilled = vec![0u64; self.buckets.len()];
            let mut keys = 0;
            for (b, bucket) in self.buckets.iter().enumerate() {
                for &w in &bucket.0[..WAYS] {
                    if w == EMPTY {
                        continue;
                    }
                    let (idx, dir) = slot_entry(w);
                    let f = &self.flows[idx as usize];
                    let key = if dir == Dir::Forward { f.forward_key() } else { f.reverse_key() };
                    let hash = self.hash(&key);
                    let b1 = self.primary(hash);
                    assert_eq!(w >> 32, hash >> 32, "signature of {key:?}");
                    if w & ALT == 0 {
                        assert_eq!(b, b1, "{key:?} marked in its first bucket");
                    } else {
                        assert_eq!(
                            b,
                            self.alternate(b1, (hash >> 32) as u32),
                            "{key:?} marked in its second"
                        );
                        spilled[b1] += 1;
                    }
                    keys += 1;
                }
            }
            assert_eq!(keys, 2 * self.len as usize, "two keys a flow");
            for (b, bucket) in self.buckets.iter().enumerate() {
                assert_eq!(bucket.overflow(), spilled[b], "overflow count of bucket {b}");
            }
            spilled.iter().sum::<u64>() as usize
        }
    }

    #[test]
    fn keys_in_their_second_bucket_are_counted_and_found() {
        // A small table run full, with flows removed and added at random:
        // buckets fill, keys spill to their second bucket and are moved back
        // and forth. Every flow must stay findable by both keys, by lookup
        // and by candidate, and the counts must match where keys live.
        let cap = 512;
        let mut t = FlowTable::new(cap, 5, 0).expect("table");
        let mut live: Vec<(u32, u32)> = Vec::new(); // (flow number, entry)
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut most_spilled = 0;
        let mut seconds = 0;
        let mut n = 0;
        for round in 0..200 {
            while t.len() < cap {
                match t.insert(flow(n), 0, 60_000) {
                    Ok(idx) => live.push((n, idx)),
                    Err(InsertError::BucketFull) => {}
                    Err(e) => panic!("insert {n}: {e:?}"),
                }
                n += 1;
                if n % 4096 == 0 {
                    break; // buckets too full to take more: remove some first
                }
            }
            most_spilled = most_spilled.max(t.audit());
            for &(i, idx) in &live {
                let f = flow(i);
                for (key, dir) in [(f.forward_key(), Dir::Forward), (f.reverse_key(), Dir::Reverse)] {
                    let hash = t.hash(&key);
                    assert_eq!(t.lookup(&key, hash), Some(Hit { idx, dir }), "round {round}: {key:?}");
                    let c = t.candidate(hash).expect("a candidate");
                    assert!(
                        c == Hit { idx, dir } || !t.confirm(c, &key),
                        "round {round}: a wrong candidate confirmed"
                    );
                    // The pipeline's split of `candidate`: a live key is
                    // never absent, and one sent on to its second bucket
                    // is found there.
                    match t.probe(hash) {
                        Probe::Found(_) => {}
                        Probe::Absent => panic!("round {round}: {key:?} reported absent"),
                        Probe::Second => {
                            seconds += 1;
                            let c = t.probe_second(hash).expect("found in its second bucket");
                            assert!(
                                c == Hit { idx, dir } || !t.confirm(c, &key),
                                "round {round}: wrong confirmed"
                            );
                        }
                    }
                }
            }
            assert_eq!(t.lookup(&flow(n).forward_key(), t.hash(&flow(n).forward_key())), None);
            for _ in 0..cap / 4 {
                let k = (next() % live.len() as u64) as usize;
                let (_, idx) = live.swap_remove(k);
                t.remove(idx);
            }
            t.audit();
        }
        assert!(most_spilled > cap as usize / 20, "the test must spill keys: at most {most_spilled}");
        assert!(seconds > 0, "no key was sent on to its second bucket");
    }

    fn flow(i: u32) -> Flow {
        let client = Ipv4Addr::from(0x0a00_0000 + i);
        let orig = Tuple::new(client, 1024 + (i % 60000) as u16, Ipv4Addr::new(192, 0, 2, 10), 110);
        let xlat = Tuple::new(client, orig.sport, Ipv4Addr::new(10, 9, 0, 1), 110);
        Flow::new(orig, xlat, 6)
    }

    fn find(t: &FlowTable, key: FlowKey) -> Option<Hit> {
        t.lookup(&key, t.hash(&key))
    }

    #[test]
    fn a_candidate_is_confirmed_only_while_its_flow_lives() {
        let mut t = FlowTable::new(16, 1, 0).expect("table");
        let f = flow(1);
        let idx = t.insert(f, 0, 1000).expect("insert");
        let (fwd, rev) = (f.forward_key(), f.reverse_key());
        let hit = t.candidate(t.hash(&fwd)).expect("candidate");
        let back = t.candidate(t.hash(&rev)).expect("reply's candidate");
        assert!(t.confirm(hit, &fwd) && t.confirm(back, &rev));
        // A reply's key is not the forward one, nor the other way round.
        assert!(!t.confirm(Hit { idx, dir: Dir::Forward }, &rev));
        assert!(!t.confirm(Hit { idx, dir: Dir::Reverse }, &fwd));
        // Held across the flow's removal (as between a burst's passes), the
        // candidate must not be trusted: the entry still holds the old tuples.
        t.remove(idx);
        assert!(!t.confirm(hit, &fwd) && !t.confirm(back, &rev));
        // Its entry reused by another flow, it confirms only that flow's keys.
        let g = flow(2);
        assert_eq!(t.insert(g, 0, 1000), Ok(idx));
        assert!(!t.confirm(hit, &fwd));
        assert!(t.confirm(hit, &g.forward_key()));
    }

    #[test]
    fn both_directions_find_the_same_entry() {
        let mut t = FlowTable::new(16, 1, 0).expect("table");
        let f = flow(1);
        let idx = t.insert(f, 0, 1000).expect("insert");
        assert_eq!(find(&t, f.forward_key()), Some(Hit { idx, dir: Dir::Forward }));
        assert_eq!(find(&t, f.reverse_key()), Some(Hit { idx, dir: Dir::Reverse }));
        assert_eq!(find(&t, flow(2).forward_key()), None);
    }

    #[test]
    fn full_table_refuses_and_keeps_every_flow() {
        let cap = 10_000;
        let mut t = FlowTable::new(cap, 7, 0).expect("table");
        for i in 0..cap {
            t.insert(flow(i), 0, 60_000).expect("below capacity");
        }
        assert_eq!(t.insert(flow(cap), 0, 60_000), Err(InsertError::Full));
        for i in 0..cap {
            let f = flow(i);
            assert!(find(&t, f.forward_key()).is_some(), "flow {i} lost");
            assert!(find(&t, f.reverse_key()).is_some(), "flow {i} reverse lost");
        }
        assert_eq!(t.len(), cap);
    }

    #[test]
    fn reverse_key_collision_is_refused() {
        let mut t = FlowTable::new(16, 1, 0).expect("table");
        let a = flow(1);
        t.insert(a, 0, 1000).expect("first");
        let mut b = a;
        b.orig.dst = Ipv4Addr::new(192, 0, 2, 11).into();
        assert_eq!(t.insert(b, 0, 1000), Err(InsertError::Collision));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn flows_expire_on_time_and_not_before() {
        let mut t = FlowTable::new(64, 3, 0).expect("table");
        t.insert(flow(1), 0, 1_000).expect("insert");
        t.insert(flow(2), 0, 5_000).expect("insert");
        assert_eq!(t.expire(900, 100, |_| {}), 0);
        let mut gone = Vec::new();
        // A slot is processed once it has fully passed: at most 128 ms late.
        assert_eq!(t.expire(1_200, 100, |f| gone.push(f.orig)), 1);
        assert_eq!(gone, vec![flow(1).orig]);
        assert!(find(&t, flow(1).forward_key()).is_none());
        assert!(find(&t, flow(2).forward_key()).is_some());
        assert_eq!(t.expire(5_200, 100, |_| {}), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn touching_keeps_a_flow_alive() {
        let mut t = FlowTable::new(8, 3, 0).expect("table");
        let idx = t.insert(flow(1), 0, 1_000).expect("insert");
        for now in (500..10_000).step_by(500) {
            t.touch(idx, now, 1_000);
            assert_eq!(t.expire(now, 100, |_| {}), 0, "expired at {now}");
        }
        assert_eq!(t.expire(11_500, 100, |_| {}), 1);
    }

    #[test]
    fn shortening_the_timeout_relinks() {
        let mut t = FlowTable::new(8, 3, 0).expect("table");
        let idx = t.insert(flow(1), 0, 600_000).expect("insert");
        t.touch(idx, 1_000, 2_000);
        assert_eq!(t.expire(3_500, 100, |_| {}), 1);
    }

    /// `touch` leaves the entry alone until the slack is used up, and
    /// however the packets fall a flow is never aged before its timeout
    /// after its last packet, nor much after.
    #[test]
    fn renewal_waits_for_the_slack_and_never_ages_a_flow_early() {
        let timeout = 64_000; // a slack of 1 s
        let mut t = FlowTable::new(8, 3, 0).expect("table");
        let idx = t.insert(flow(1), 0, timeout).expect("insert");
        let set = t.get(idx).expires;
        t.touch(idx, 999, timeout);
        assert_eq!(t.get(idx).expires, set, "not written within the slack");
        t.touch(idx, 1_000, timeout);
        assert_eq!(t.get(idx).expires, set + 1_000, "renewed once the slack is used up");

        let mut last = 1_000;
        let mut now = 1_000;
        let mut gap = 7u64;
        for _ in 0..2_000 {
            gap = gap * 1_103 % 1_999; // up to 2 s between packets
            now += gap;
            assert_eq!(t.expire(now, 100, |_| {}), 0, "aged at {now}, last packet at {last}");
            t.touch(idx, now, timeout);
            last = now;
        }
        assert_eq!(t.expire(last + u64::from(timeout) - 1, 100, |_| {}), 0, "aged early");
        let late = last + u64::from(timeout) + 1_000 + 2 * 128;
        assert_eq!(t.expire(late, 100, |_| {}), 1, "not aged by the end of the slack");
    }

    #[test]
    fn timeouts_longer_than_a_revolution_are_rearmed() {
        let mut t = FlowTable::new(8, 3, 0).expect("table");
        t.insert(flow(1), 0, 600_000).expect("insert");
        let mut now = 0;
        while now < 599_000 {
            now += 1_000;
            assert_eq!(t.expire(now, 100, |_| {}), 0, "early at {now}");
        }
        // The timeout, and `touch`'s slack of 1/64 of it.
        assert_eq!(t.expire(601_000 + 600_000 / 64, 100, |_| {}), 1);
    }

    #[test]
    fn budget_bounds_the_work_per_call() {
        let mut t = FlowTable::new(1000, 3, 0).expect("table");
        for i in 0..1000 {
            t.insert(flow(i), 0, 1_000).expect("insert");
        }
        // The last AHEAD flows found by a call that ran out of budget are
        // held for the next one, and a call that finds nothing more due
        // removes them.
        let ahead = super::super::held::AHEAD;
        assert_eq!(t.expire(2_000, 300, |_| {}), 300 - ahead);
        assert_eq!(t.expire(2_000, 300, |_| {}), 300);
        assert_eq!(t.expire(2_000, 1000, |_| {}), 400 + ahead);
        assert!(t.is_empty());
    }

    /// Flows held between two calls (found expired, not yet removed) are
    /// still flows: a packet may renew one, and the admin may remove one.
    #[test]
    fn a_held_flow_renewed_or_removed_meanwhile_is_not_aged() {
        let mut t = FlowTable::new(64, 3, 0).expect("table");
        let ids: Vec<u32> = (0..20).map(|i| t.insert(flow(i), 0, 1_000).expect("insert")).collect();
        // Visits 12 flows: the last AHEAD of them are held.
        let ahead = super::super::held::AHEAD;
        assert_eq!(t.expire(2_000, 12, |_| {}), 12 - ahead);
        let held: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&i| t.get(i).proto != 0 && t.flows[i as usize].slot == DETACHED)
            .collect();
        assert_eq!(held.len(), ahead, "held flows are off the wheel");
        // A packet renews one held flow (a later timeout: no relink), and
        // a shorter timeout for another (which would relink it if linked).
        t.touch(held[0], 2_000, 60_000);
        t.touch(held[1], 2_000, 1);
        t.remove(held[2]);
        let removed = t.len();
        let n = t.expire(2_000, 1_000, |_| {});
        // Every other due flow goes, the renewed one stays, the removed one
        // is not removed twice, and the one due in 1 ms goes next time.
        assert_eq!(n, 20 - (12 - ahead) - 1 - 1 - 1, "aged in the second call");
        assert_eq!(t.len(), removed - n as u32);
        assert!(find(&t, flow(orig_index(&ids, held[0])).forward_key()).is_some(), "the renewed flow stays");
        assert_eq!(t.expire(2_200, 1_000, |_| {}), 1, "the flow due 1 ms later");
        assert_eq!(t.len(), 1);
        assert_eq!(t.expire(70_000, 1_000, |_| {}), 1, "the renewed flow, at its new time");
        assert!(t.is_empty());
        t.audit();
    }

    fn orig_index(ids: &[u32], idx: u32) -> u32 {
        ids.iter().position(|&i| i == idx).expect("one of ours") as u32
    }

    #[test]
    fn entries_are_recycled_after_expiry() {
        let mut t = FlowTable::new(100, 3, 0).expect("table");
        for round in 0..5u64 {
            for i in 0..100 {
                t.insert(flow(i), round * 10_000, 1_000).expect("insert");
            }
            t.expire(round * 10_000 + 5_000, usize::MAX, |_| {});
            assert!(t.is_empty());
        }
    }

    #[test]
    fn removing_is_immediate() {
        let mut t = FlowTable::new(8, 3, 0).expect("table");
        let idx = t.insert(flow(1), 0, 60_000).expect("insert");
        t.insert(flow(2), 0, 60_000).expect("insert");
        t.remove(idx);
        assert!(find(&t, flow(1).forward_key()).is_none());
        assert!(find(&t, flow(2).reverse_key()).is_some());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_million_flows_fill_the_table_to_capacity() {
        // Two-choice placement with one displacement must take every flow
        // up to capacity, however the power-of-two rounding fell.
        let cap = 1 << 20;
        let mut t = FlowTable::new(cap, 11, 0).expect("table");
        for i in 0..cap {
            let r = t.insert(flow(i), 0, 60_000);
            assert!(r.is_ok(), "insert {i} of {cap} failed: {r:?}");
        }
        assert_eq!(t.insert(flow(cap), 0, 60_000), Err(InsertError::Full));
    }

    #[test]
    fn eight_million_entries_fit_in_128_bytes_each() {
        let t = FlowTable::new(8 << 20, 1, 0).expect("table");
        assert!(t.bytes_per_flow() <= 128, "{} bytes per flow", t.bytes_per_flow());
    }
}
