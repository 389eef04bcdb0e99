//! Which sites a DNS answer names: a host's rules applied in order to its
//! candidate sites, each narrowing or ordering what the previous left, with a
//! record of what every rule did (the admin API's "why this answer").
//!
//! A rule that would leave nothing is skipped rather than applied, so rules
//! combine with a fallback: `proximity` then `least_load` picks the least
//! loaded of the client's preferred sites, or of all sites when none of the
//! preferred ones is left. `availability` is the exception: when no site is
//! healthy the host's `all_down` policy decides. A site whose health is not
//! known yet (no check result, no report) is never answered.

use std::net::Ipv4Addr;

use serde::Serialize;
use smallvec::SmallVec;

use crate::config::{AllDown, Rule};

/// One site that can answer for a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub site: String,
    pub vip: Ipv4Addr,
    /// `None` until the site's first health result (local checks or a report).
    pub healthy: Option<bool>,
    /// Active flows against capacity, per thousand, as last reported.
    pub load_permille: u16,
    pub weight: u32,
}

/// A client subnet and the sites it prefers, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preference {
    pub net: Ipv4Addr,
    pub prefix: u8,
    pub sites: Vec<String>,
}

impl Preference {
    fn contains(&self, a: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
        u32::from(a) & mask == u32::from(self.net) & mask
    }
}

/// How one host chooses.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub rules: Vec<Rule>,
    /// Site names, most preferred first (`failover`; default: candidate order).
    pub order: Vec<String>,
    pub proximity: Vec<Preference>,
    pub all_down: AllDown,
    pub answers: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub rule: &'static str,
    /// Sites left after the rule, in answer order.
    pub left: Vec<String>,
    pub note: String,
}

/// Sites a decision works on without touching the heap: a query's decision
/// is made on the data path, where nothing is allocated once warm. More
/// sites than this still work, from the heap.
const INLINE: usize = 8;

/// The VIPs an answer names, in order.
pub type Answers = SmallVec<[Ipv4Addr; INLINE]>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub answers: Answers,
    pub steps: Vec<Step>,
    /// ECS scope prefix length: how much of the client's address the answer
    /// depended on (RFC 7871 §7.2.1).
    pub scope: u8,
}

fn rule_name(r: Rule) -> &'static str {
    match r {
        Rule::Availability => "availability",
        Rule::Failover => "failover",
        Rule::Weighted => "weighted",
        Rule::LeastLoad => "least_load",
        Rule::Proximity => "proximity",
        Rule::RoundRobin => "round_robin",
    }
}

/// Applies `policy` to `candidates` for a client at `client`, saying what
/// each rule did. `turn` is a counter that advances once per query (round
/// robin, weighted draw); `last_good` the VIPs of the last answer that had a
/// healthy site.
pub fn decide(
    policy: &Policy,
    candidates: &[Candidate],
    client: Ipv4Addr,
    turn: u64,
    last_good: &[Ipv4Addr],
) -> Decision {
    choose(policy, candidates, client, turn, last_good, true)
}

/// The same decision without its story (`steps` stays empty): what a query
/// needs. Formatting the notes would cost more than the rules themselves.
pub fn answer(
    policy: &Policy,
    candidates: &[Candidate],
    client: Ipv4Addr,
    turn: u64,
    last_good: &[Ipv4Addr],
) -> Decision {
    choose(policy, candidates, client, turn, last_good, false)
}

fn choose(
    policy: &Policy,
    candidates: &[Candidate],
    client: Ipv4Addr,
    turn: u64,
    last_good: &[Ipv4Addr],
    explain: bool,
) -> Decision {
    // A note is formatted only when it will be read.
    macro_rules! say {
        ($($t:tt)*) => {
            if explain { format!($($t)*) } else { String::new() }
        };
    }
    let mut steps = Vec::new();
    let mut scope = 0u8;
    let mut set: SmallVec<[&Candidate; INLINE]> = candidates.iter().filter(|c| c.healthy.is_some()).collect();
    let names = |s: &[&Candidate]| s.iter().map(|c| c.site.clone()).collect::<Vec<_>>();
    if explain && set.len() < candidates.len() {
        let unknown: Vec<&str> =
            candidates.iter().filter(|c| c.healthy.is_none()).map(|c| c.site.as_str()).collect();
        steps.push(Step {
            rule: "known",
            left: names(&set),
            note: format!("no health result yet: {}", unknown.join(", ")),
        });
    }
    for &rule in &policy.rules {
        let before = set.clone();
        let note = match rule {
            Rule::Availability => {
                set.retain(|c| c.healthy == Some(true));
                if set.is_empty() {
                    match policy.all_down {
                        AllDown::All => {
                            set.clone_from(&before);
                            say!("no site is healthy: answering every site (all_down = all)")
                        }
                        AllDown::None => {
                            if explain {
                                steps.push(Step {
                                    rule: "availability",
                                    left: vec![],
                                    note: "no site is healthy: empty answer (all_down = none)".into(),
                                });
                            }
                            return Decision { answers: Answers::new(), steps, scope };
                        }
                        AllDown::LastGood => {
                            let answers: Answers = last_good.iter().copied().take(policy.answers).collect();
                            if explain {
                                steps.push(Step {
                                    rule: "availability",
                                    left: vec![],
                                    note: format!("no site is healthy: the last good answer {answers:?} (all_down = last_good)"),
                                });
                            }
                            return Decision { answers, steps, scope };
                        }
                    }
                } else {
                    say!("healthy sites only")
                }
            }
            Rule::Failover => {
                let rank =
                    |c: &Candidate| policy.order.iter().position(|s| *s == c.site).unwrap_or(usize::MAX);
                if let Some(first) = set.iter().copied().min_by_key(|c| rank(c)) {
                    set.clear();
                    set.push(first);
                }
                say!("the first site of the order")
            }
            Rule::Proximity => {
                match policy.proximity.iter().filter(|p| p.contains(client)).max_by_key(|p| p.prefix) {
                    None => say!("no client subnet matches"),
                    Some(p) => {
                        scope = scope.max(p.prefix);
                        let mut near: SmallVec<[&Candidate; INLINE]> = p
                            .sites
                            .iter()
                            .filter_map(|s| set.iter().copied().find(|c| c.site == *s))
                            .collect();
                        if near.is_empty() {
                            say!(
                                "{}/{} prefers {:?}, none of which is left: skipped",
                                p.net,
                                p.prefix,
                                p.sites
                            )
                        } else {
                            std::mem::swap(&mut set, &mut near);
                            say!("{}/{} prefers {:?}", p.net, p.prefix, p.sites)
                        }
                    }
                }
            }
            Rule::LeastLoad => {
                let least = set.iter().map(|c| c.load_permille).min().unwrap_or(0);
                set.retain(|c| c.load_permille == least);
                say!("least load {}.{}%", least / 10, least % 10)
            }
            Rule::Weighted => {
                let total: u64 = set.iter().map(|c| u64::from(c.weight)).sum();
                if total > 0 {
                    // Over any `total` consecutive queries each site is
                    // drawn exactly `weight` times.
                    let mut at = turn % total;
                    let pick = set.iter().position(|c| {
                        let w = u64::from(c.weight);
                        if at < w {
                            true
                        } else {
                            at -= w;
                            false
                        }
                    });
                    if let Some(i) = pick {
                        set.rotate_left(i);
                        set.truncate(1);
                    }
                    say!("drawn by weight")
                } else {
                    set.clone_from(&before);
                    say!("every weight is 0: skipped")
                }
            }
            Rule::RoundRobin => {
                if !set.is_empty() {
                    let n = set.len();
                    set.rotate_left((turn % n as u64) as usize);
                }
                say!("rotated")
            }
        };
        let note = if set.is_empty() {
            set = before;
            say!("{note}: would leave no site, skipped")
        } else {
            note
        };
        if explain {
            steps.push(Step { rule: rule_name(rule), left: names(&set), note });
        }
    }
    let answers = set.iter().map(|c| c.vip).take(policy.answers.max(1)).collect();
    Decision { answers, steps, scope }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str, last: u8, healthy: Option<bool>, load: u16) -> Candidate {
        Candidate {
            site: name.into(),
            vip: Ipv4Addr::new(192, 0, 2, last),
            healthy,
            load_permille: load,
            weight: 1,
        }
    }

    fn policy(rules: &[Rule]) -> Policy {
        Policy { rules: rules.to_vec(), answers: 1, ..Policy::default() }
    }

    fn sites(d: &Decision) -> Vec<u8> {
        d.answers.iter().map(|a| a.octets()[3]).collect()
    }

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    #[test]
    fn availability_drops_down_and_unknown_sites() {
        let c = [site("a", 1, Some(false), 0), site("b", 2, None, 0), site("c", 3, Some(true), 0)];
        let d = decide(&policy(&[Rule::Availability]), &c, CLIENT, 0, &[]);
        assert_eq!(sites(&d), vec![3]);
        assert_eq!(d.steps[0].rule, "known");
        assert!(d.steps[0].note.contains('b'));
    }

    #[test]
    fn all_down_policies() {
        let c = [site("a", 1, Some(false), 0), site("b", 2, Some(false), 0), site("u", 9, None, 0)];
        let mut p = policy(&[Rule::Availability]);
        p.answers = 4;
        p.all_down = AllDown::All;
        assert_eq!(
            sites(&decide(&p, &c, CLIENT, 0, &[])),
            vec![1, 2],
            "every known site, never the unknown one"
        );
        p.all_down = AllDown::None;
        assert!(decide(&p, &c, CLIENT, 0, &[]).answers.is_empty());
        p.all_down = AllDown::LastGood;
        let good = [Ipv4Addr::new(192, 0, 2, 2)];
        assert_eq!(sites(&decide(&p, &c, CLIENT, 0, &good)), vec![2]);
        assert!(decide(&p, &c, CLIENT, 0, &[]).answers.is_empty(), "no last good answer yet");
    }

    #[test]
    fn failover_takes_the_first_healthy_site_of_the_order() {
        let c = [site("a", 1, Some(true), 0), site("b", 2, Some(true), 0), site("c", 3, Some(true), 0)];
        let mut p = policy(&[Rule::Availability, Rule::Failover]);
        p.order = vec!["c".into(), "a".into()];
        assert_eq!(sites(&decide(&p, &c, CLIENT, 0, &[])), vec![3]);
        let c = [site("a", 1, Some(true), 0), site("b", 2, Some(true), 0), site("c", 3, Some(false), 0)];
        assert_eq!(sites(&decide(&p, &c, CLIENT, 0, &[])), vec![1]);
    }

    #[test]
    fn weighted_draws_in_proportion() {
        let mut c = [site("a", 1, Some(true), 0), site("b", 2, Some(true), 0)];
        c[0].weight = 3;
        let p = policy(&[Rule::Weighted]);
        let mut n = [0u32; 2];
        for turn in 0..4000 {
            n[usize::from(sites(&decide(&p, &c, CLIENT, turn, &[]))[0]) - 1] += 1;
        }
        assert!((2800..3200).contains(&n[0]), "{n:?}");
    }

    #[test]
    fn least_load_keeps_the_least_loaded() {
        let c = [site("a", 1, Some(true), 300), site("b", 2, Some(true), 100), site("c", 3, Some(true), 200)];
        assert_eq!(sites(&decide(&policy(&[Rule::LeastLoad]), &c, CLIENT, 0, &[])), vec![2]);
    }

    #[test]
    fn proximity_prefers_the_longest_matching_subnet_and_falls_back() {
        let c = [site("a", 1, Some(true), 0), site("b", 2, Some(false), 0), site("c", 3, Some(true), 0)];
        let mut p = policy(&[Rule::Availability, Rule::Proximity]);
        p.proximity = vec![
            Preference { net: Ipv4Addr::new(198, 51, 0, 0), prefix: 16, sites: vec!["a".into()] },
            Preference {
                net: Ipv4Addr::new(198, 51, 100, 0),
                prefix: 24,
                sites: vec!["c".into(), "a".into()],
            },
            Preference { net: Ipv4Addr::new(203, 0, 113, 0), prefix: 24, sites: vec!["b".into()] },
        ];
        let d = decide(&p, &c, CLIENT, 0, &[]);
        assert_eq!((sites(&d), d.scope), (vec![3], 24));
        // b is down: its clients fall back to whatever is left.
        let d = decide(&p, &c, Ipv4Addr::new(203, 0, 113, 5), 0, &[]);
        assert_eq!(d.answers.len(), 1);
        assert!(d.steps.last().is_some_and(|s| s.note.contains("skipped")), "{:?}", d.steps);
        let d = decide(&p, &c, Ipv4Addr::new(10, 0, 0, 1), 0, &[]);
        assert_eq!((sites(&d), d.scope), (vec![1], 0));
    }

    #[test]
    fn round_robin_rotates_and_answers_several() {
        let c = [site("a", 1, Some(true), 0), site("b", 2, Some(true), 0), site("c", 3, Some(true), 0)];
        let mut p = policy(&[Rule::RoundRobin]);
        p.answers = 2;
        let firsts: Vec<u8> = (0..6).map(|t| sites(&decide(&p, &c, CLIENT, t, &[]))[0]).collect();
        assert_eq!(firsts, vec![1, 2, 3, 1, 2, 3]);
        assert_eq!(sites(&decide(&p, &c, CLIENT, 1, &[])), vec![2, 3]);
    }
}
