//! Encoded responses, given again. Parsing a query and building its response
//! with hickory-proto is most of the DNS thread's cost per answer, while an
//! authoritative server gives the same bytes to the same question over and
//! over. The key is the query's bytes after its ID: flags, question and
//! EDNS options (with the client subnet), everything a response depends on
//! but the view and, for a host's address query, the decision made for the
//! client. A hit copies the stored bytes and writes the query's ID in.
//!
//! A host's entry keeps one response per distinct decision; each query still
//! gets its own decision from the current view (round robin turns, weights
//! draw, health and load count), so the cache changes only how a response is
//! encoded, never what it says. Every other response depends on the
//! configuration alone (zones, TTL, which names exist): a view built from
//! another configuration (a reload) empties the cache. Views rebuilt for
//! health or load keep it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;

use super::answer::{respond_on, Basis, Outcome};
use super::view::DnsView;

/// Entries at most; a full cache is emptied and fills again with what is
/// asked now (a flood of distinct names cannot grow it). With `DECISIONS`
/// this bounds the memory: typical responses are 60-200 bytes, so a few MB
/// at worst.
const ENTRIES: usize = 4096;
/// Responses kept per host entry, one per decision seen (a host has as many
/// distinct decisions as its sites allow: round robin over 3 sites, 3).
const DECISIONS: usize = 8;

enum Entry {
    Fixed {
        wire: Vec<u8>,
        rcode: ResponseCode,
    },
    /// `host`: its index in `DnsView::hosts`, the same in every view of one
    /// configuration (and the cache is emptied when that changes).
    Decided {
        host: usize,
        ecs: Option<Ipv4Addr>,
        by_decision: Vec<Stored>,
    },
}

/// A host's response for one decision (its answers and ECS scope).
struct Stored {
    answers: super::select::Answers,
    scope: u8,
    wire: Vec<u8>,
    rcode: ResponseCode,
}

#[derive(Default)]
pub struct AnswerCache {
    /// The configuration the entries were made from (`DnsView::config`).
    config: Option<u64>,
    entries: HashMap<Box<[u8]>, Entry>,
    /// Responses given from an entry (the DNS thread counts them).
    pub hits: u64,
}

impl AnswerCache {
    /// The UDP response to `query` from `source` under `view`, in `out`;
    /// as `respond`, with the same decisions, the same bytes and outcome.
    pub fn respond(&mut self, view: &DnsView, query: &[u8], source: Ipv4Addr, out: &mut Vec<u8>) -> Outcome {
        if self.config != Some(view.config) {
            self.entries.clear();
            self.config = Some(view.config);
        }
        out.clear();
        if query.len() < 12 {
            return miss(view, query, source, None, out).0;
        }
        let key = &query[2..];
        match self.entries.get_mut(key) {
            Some(Entry::Fixed { wire, rcode }) => {
                self.hits += 1;
                return give(wire, query, *rcode, out);
            }
            Some(Entry::Decided { host, ecs, by_decision }) => {
                let Some(h) = view.hosts.get(*host) else { return miss(view, query, source, None, out).0 };
                let d = h.decide(ecs.unwrap_or(source));
                if let Some(s) = by_decision.iter().find(|s| s.answers == d.answers && s.scope == d.scope) {
                    self.hits += 1;
                    return give(&s.wire, query, s.rcode, out);
                }
                let (outcome, basis) = miss(view, query, source, Some(&d), out);
                if let (Outcome::Answered(rcode), Basis::Decided { decision, .. }) = (outcome, basis) {
                    if by_decision.len() < DECISIONS {
                        by_decision.push(Stored::new(decision, out, rcode));
                    }
                }
                return outcome;
            }
            None => {}
        }
        let (outcome, basis) = miss(view, query, source, None, out);
        let Outcome::Answered(rcode) = outcome else { return outcome };
        if self.entries.len() >= ENTRIES {
            self.entries.clear();
        }
        let entry = match basis {
            Basis::Fixed => Entry::Fixed { wire: out.clone(), rcode },
            Basis::Decided { host, ecs, decision } => {
                Entry::Decided { host, ecs, by_decision: vec![Stored::new(decision, out, rcode)] }
            }
        };
        self.entries.insert(key.into(), entry);
        outcome
    }
}

impl Stored {
    fn new(d: super::select::Decision, wire: &[u8], rcode: ResponseCode) -> Stored {
        Stored { answers: d.answers, scope: d.scope, wire: wire.to_vec(), rcode }
    }
}

fn miss(
    view: &DnsView,
    query: &[u8],
    source: Ipv4Addr,
    decided: Option<&super::select::Decision>,
    out: &mut Vec<u8>,
) -> (Outcome, Basis) {
    let (wire, outcome, basis) = respond_on(view, query, IpAddr::V4(source), true, decided);
    if let Some(w) = wire {
        out.extend_from_slice(&w);
    }
    (outcome, basis)
}

/// A stored response with the query's ID.
fn give(wire: &[u8], query: &[u8], rcode: ResponseCode, out: &mut Vec<u8>) -> Outcome {
    out.extend_from_slice(wire);
    out[..2].copy_from_slice(&query[..2]);
    Outcome::Answered(rcode)
}
