//! The wake-up check both doorbells must pass (`doorbell`, `filebell`): a
//! poller parked with a long timeout is woken by a ring, soon.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A poller thread parks on `bell` (by `park`, with a timeout of 10 s or
/// more) until work appears; once it is parked, work is queued and `ring`
/// called. Returns how long the poller waited in all.
pub fn ring_wakes_a_parked_poller<B: Send + Sync + 'static>(
    bell: Arc<B>,
    park: fn(&B, &dyn Fn() -> bool),
    ring: fn(&B),
    parked: fn(&B) -> u32,
) -> Duration {
    let work = Arc::new(AtomicBool::new(false));
    let (b, w) = (bell.clone(), work.clone());
    let poller = std::thread::spawn(move || {
        let t = Instant::now();
        while !w.load(Ordering::SeqCst) {
            park(&b, &|| w.load(Ordering::SeqCst));
        }
        t.elapsed()
    });
    while parked(&bell) == 0 {
        std::thread::yield_now();
    }
    work.store(true, Ordering::SeqCst);
    ring(&bell);
    poller.join().expect("poller")
}
