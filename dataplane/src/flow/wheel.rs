//! A single-level timer wheel over flow entries, with lazy re-arming.
//!
//! A packet only stores the flow's new expiry time; it does not move the flow
//! between slots (unless the expiry got *earlier*, e.g. a FIN or RST). When a slot
//! comes due, each flow in it is either expired or re-linked at its real
//! expiry. An idle established flow therefore costs one visit per wheel
//! revolution, and aging never scans the table. Flows due beyond one revolution
//! are parked in the farthest slot and re-armed when it fires.
//!
//! Slots are numbered by absolute time (`ms >> SLOT_SHIFT`); only a flow's slot
//! number modulo `SLOTS` picks its list.

use super::entry::Flow;

/// 128 ms a slot: fine enough for a 1 s closed-state timeout, coarse enough that
/// a revolution (about 131 s) covers the SYN, FIN and UDP timeouts.
pub const SLOT_SHIFT: u32 = 7;
pub const SLOTS: usize = 1024;
pub(super) const NIL: u32 = 0;
/// The slot of a flow ageing has taken off the wheel and holds until its keys
/// are dropped (`held`): it is on no chain. A real slot number never takes
/// this value (`link`).
pub(super) const DETACHED: u32 = u32::MAX;

pub struct Wheel {
    heads: Box<[u32]>,
    /// Every slot before `cursor` has been processed.
    cursor: u64,
}

/// The absolute slot a flow due at `due_ms` belongs in.
#[inline]
pub fn slot_of(due_ms: u64) -> u64 {
    due_ms >> SLOT_SHIFT
}

impl Wheel {
    pub fn new(now_ms: u64) -> Wheel {
        Wheel { heads: vec![NIL; SLOTS].into_boxed_slice(), cursor: slot_of(now_ms) }
    }

    /// The slot that will hold a flow due at `due_ms`, within this revolution.
    #[inline]
    pub fn clamp(&self, due_slot: u64) -> u64 {
        due_slot.clamp(self.cursor + 1, self.cursor + SLOTS as u64 - 1)
    }

    pub fn link(&mut self, flows: &mut [Flow], idx: u32, slot: u64) {
        let head = &mut self.heads[slot as usize % SLOTS];
        let old = *head;
        *head = idx;
        let f = &mut flows[idx as usize];
        // Slot numbers are compared as wrapping differences, so one slot
        // early is harmless (the flow is visited and re-armed); DETACHED
        // must keep its meaning.
        f.slot = (slot as u32).min(DETACHED - 1);
        f.prev = NIL;
        f.next = old;
        if old != NIL {
            flows[old as usize].prev = idx;
        }
    }

    pub fn unlink(&mut self, flows: &mut [Flow], idx: u32) {
        let (prev, next, slot) = {
            let f = &flows[idx as usize];
            (f.prev, f.next, f.slot)
        };
        if slot == DETACHED {
            return;
        }
        if prev == NIL {
            self.heads[slot as usize % SLOTS] = next;
        } else {
            flows[prev as usize].next = next;
        }
        if next != NIL {
            flows[next as usize].prev = prev;
        }
    }

    /// Whether a flow now linked at `linked_slot` must move to fire by `due_slot`.
    #[inline]
    pub fn needs_relink(&self, linked_slot: u32, due_slot: u64) -> bool {
        // Slots are compared as a wrapping difference on the stored 32 bits.
        // A held flow is on no slot: ageing reads its expiry again before
        // dropping it.
        let due = self.clamp(due_slot) as u32;
        linked_slot != DETACHED && (due.wrapping_sub(linked_slot) as i32) < 0
    }

    /// The next slot that is due at `now_ms`, if any; the caller drains it with
    /// `take_head` and then calls `advance`.
    #[inline]
    pub fn due(&self, now_ms: u64) -> Option<u64> {
        (self.cursor < slot_of(now_ms)).then_some(self.cursor)
    }

    /// Detaches the cursor's whole slot and returns its first flow (or
    /// `NIL`); the caller walks the chain by `next`. Taking flows off one at
    /// a time would write each next flow's `prev` before its entry could be
    /// fetched: a DRAM miss per aged flow, one after another.
    #[inline]
    pub fn take_cursor(&mut self) -> u32 {
        std::mem::replace(&mut self.heads[self.cursor as usize % SLOTS], NIL)
    }

    /// Gives the cursor's slot back the rest of a chain `take_cursor`
    /// detached, from `idx` on (an unvisited suffix: its links are intact).
    #[inline]
    pub fn put_back(&mut self, flows: &mut [Flow], idx: u32) {
        if idx != NIL {
            flows[idx as usize].prev = NIL;
            self.heads[self.cursor as usize % SLOTS] = idx;
        }
    }

    #[inline]
    pub fn advance(&mut self) {
        self.cursor += 1;
    }
}
