//! Answers (reflected frames, TCP segments) that wait for room on the port:
//! they go out, in order, before anything new, since a lost answer is a lost
//! flow or connection.

use std::collections::VecDeque;

use dataplane::port::Burst;
use nic_config::{DpdkQueue, Mbuf};

/// Answers that may wait for room on the port.
pub(crate) const PENDING: usize = 8192;

/// Queues an answer, or frees it (counted) if too many wait already.
pub(crate) fn queue(pending: &mut VecDeque<Mbuf>, m: Mbuf, free: &mut Burst<Mbuf>, lost: &mut u64) {
    if pending.len() < PENDING {
        pending.push_back(m);
    } else {
        *lost += 1;
        free.push(m);
    }
}

/// Sends waiting answers in order until the port refuses one; returns how
/// many went.
pub(crate) fn send_pending(q: &mut DpdkQueue, pending: &mut VecDeque<Mbuf>, out: &mut Burst<Mbuf>) -> usize {
    let mut sent = 0;
    while !pending.is_empty() {
        while !out.is_full() {
            match pending.pop_front() {
                Some(m) => out.push(m),
                None => break,
            }
        }
        sent += q.tx_keep(out);
        if !out.is_empty() {
            // The port is full: what it refused goes back to the front.
            while let Some(m) = out.pop() {
                pending.push_front(m);
            }
            break;
        }
    }
    sent
}
