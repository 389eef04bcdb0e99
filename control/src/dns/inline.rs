//! DNS answered on the data cores (`answer_on = "data_cores"`): each data
//! core has a responder of its own, with its own response cache, reading the
//! view the control loop publishes for the DNS thread too. A query then costs
//! no ring, no wake-up of another thread and no second trip through a poll
//! loop; it is answered in the burst it arrived in. A cache hit allocates
//! nothing and takes no lock (the decision is made on the stack, the view is
//! read through `arc_swap`), so a warm data core keeps its rules.
//!
//! When the view says `thread`, or before there is a view, the responder
//! declines and the data core hands the queries to the DNS thread as before.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use dataplane::port::{Burst, PacketBuf};
use dataplane::responder::Responder;
use dataplane::wire::MacAddr;

use super::ring::Answerer;
use super::server::{DnsStats, SharedView};

pub struct InlineResponder {
    view: SharedView,
    stats: Arc<DnsStats>,
    /// This core's counts since the last burst, moved to `stats` after each.
    tally: DnsStats,
    mac: MacAddr,
    answerer: Answerer,
}

impl InlineResponder {
    pub fn new(view: SharedView, stats: Arc<DnsStats>, mac: MacAddr) -> InlineResponder {
        InlineResponder { view, stats, tally: DnsStats::default(), mac, answerer: Answerer::default() }
    }
}

impl<B: PacketBuf + Send> Responder<B> for InlineResponder {
    fn respond(&mut self, queries: &mut Burst<B>, answers: &mut Burst<B>) -> bool {
        let guard = self.view.load();
        let Some(view) = guard.as_deref().filter(|v| v.on_data_cores) else { return false };
        let mut made = 0;
        let mut left = Burst::new();
        for mut q in queries.drain(..) {
            if !self.answerer.answer_in_place(&mut q, Some(view), self.mac, &self.tally) {
                left.push(q);
                continue;
            }
            // Room is the worker's promise; an answer that found none is
            // left with the unanswered, to be freed, and counted.
            match answers.try_push(q) {
                Ok(()) => made += 1,
                Err(e) => {
                    self.tally.dropped.fetch_add(1, Ordering::Relaxed);
                    left.push(e.element());
                }
            }
        }
        *queries = left;
        self.tally.on_data_cores.fetch_add(made, Ordering::Relaxed);
        self.stats.absorb(&self.tally);
        true
    }
}
