//! Publishing snapshots to data cores without locks.
//!
//! The control thread swaps in a new `Arc<Snapshot>` (`arc-swap`: readers never
//! block, never spin on a writer) and bumps a generation counter. A data core
//! compares one integer between bursts and only then loads the new pointer,
//! so an unchanged snapshot costs a single relaxed load per burst.
//!
//! Old snapshots are freed on the control thread: the publisher keeps each
//! retired one until no core holds it, so a data core's reference is never the
//! last and a core never runs a deallocation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Snapshot;

struct Shared {
    current: ArcSwap<Snapshot>,
    generation: AtomicU64,
}

pub struct Publisher {
    shared: Arc<Shared>,
    retired: Vec<Arc<Snapshot>>,
}

impl Publisher {
    pub fn new(mut first: Snapshot) -> Publisher {
        first.generation = 1;
        Publisher {
            shared: Arc::new(Shared { current: ArcSwap::from_pointee(first), generation: AtomicU64::new(1) }),
            retired: Vec::new(),
        }
    }

    /// Makes `next` the snapshot every core will use from its next burst on;
    /// returns its generation.
    pub fn publish(&mut self, mut next: Snapshot) -> u64 {
        let generation = self.shared.generation.load(Ordering::Relaxed) + 1;
        next.generation = generation;
        let old = self.shared.current.swap(Arc::new(next));
        // Release: a core that sees the new generation also sees the new pointer.
        self.shared.generation.store(generation, Ordering::Release);
        self.retired.push(old);
        self.retired.retain(|s| Arc::strong_count(s) > 1);
        generation
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.shared.current.load_full()
    }

    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> Subscriber {
        let generation = self.shared.generation.load(Ordering::Acquire);
        Subscriber { shared: self.shared.clone(), seen: generation, current: self.current() }
    }
}

/// One data core's view of the published snapshot.
pub struct Subscriber {
    shared: Arc<Shared>,
    seen: u64,
    current: Arc<Snapshot>,
}

impl Subscriber {
    /// Picks up a newer snapshot if one was published; true if it did.
    #[inline]
    pub fn refresh(&mut self) -> bool {
        let generation = self.shared.generation.load(Ordering::Acquire);
        if generation == self.seen {
            return false;
        }
        self.current = self.shared.current.load_full();
        self.seen = generation;
        true
    }

    #[inline]
    pub fn get(&self) -> &Snapshot {
        &self.current
    }

    /// A reference the caller can hold while mutating other state.
    #[inline]
    pub fn arc(&self) -> Arc<Snapshot> {
        self.current.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MacAddr;

    #[test]
    fn subscribers_see_new_generations_once() {
        let mut p = Publisher::new(Snapshot::new(MacAddr::ZERO));
        let mut s = p.subscribe();
        assert!(!s.refresh());
        assert_eq!(s.get().generation, 1);
        let g = p.publish(Snapshot::new(MacAddr([2, 0, 0, 0, 0, 1])));
        assert_eq!(g, 2);
        assert!(s.refresh());
        assert_eq!(s.get().generation, 2);
        assert_eq!(s.get().mac, MacAddr([2, 0, 0, 0, 0, 1]));
        assert!(!s.refresh());
    }

    #[test]
    fn retired_snapshots_are_freed_by_the_publisher_once_released() {
        let mut p = Publisher::new(Snapshot::new(MacAddr::ZERO));
        let s = p.subscribe();
        let held = s.arc();
        p.publish(Snapshot::new(MacAddr::ZERO));
        p.publish(Snapshot::new(MacAddr::ZERO));
        // The subscriber still holds generation 1, so the publisher keeps it.
        assert_eq!(Arc::strong_count(&held), 3);
        drop(s);
        drop(held);
        p.publish(Snapshot::new(MacAddr::ZERO));
        assert!(p.retired.iter().all(|r| Arc::strong_count(r) > 1));
    }

    #[test]
    fn a_core_on_another_thread_picks_up_a_publication() {
        let mut p = Publisher::new(Snapshot::new(MacAddr::ZERO));
        let mut s = p.subscribe();
        let t = std::thread::spawn(move || {
            while !s.refresh() {
                std::hint::spin_loop();
            }
            s.get().mac
        });
        p.publish(Snapshot::new(MacAddr([2, 0, 0, 0, 0, 9])));
        assert_eq!(t.join().expect("thread"), MacAddr([2, 0, 0, 0, 0, 9]));
    }
}
