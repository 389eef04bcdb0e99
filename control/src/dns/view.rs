//! What the DNS threads answer from: the zones' fixed records and, per host
//! name, its candidate sites with their current health and load. The control
//! loop rebuilds it whenever health or a remote site's report changes and
//! publishes it whole; a query reads one consistent view.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record};

use super::select::{answer, decide, Answers, Candidate, Decision, Policy, Preference};
use crate::config::{self, File};
use crate::sitestate::node::RemoteStatus;

pub struct ZoneView {
    pub name: Name,
    pub soa: Record,
    pub ns: Vec<Record>,
    /// A records of the name servers inside the zone.
    pub glue: Vec<Record>,
    pub negative_ttl: u32,
}

pub struct HostView {
    pub candidates: Vec<Candidate>,
    pub policy: Policy,
    turn: AtomicU64,
    last_good: LastGood,
    /// Some candidate is healthy: fixed for the view, so not worked out again per query.
    any_healthy: bool,
}

impl HostView {
    /// Decides one answer for `client` (advancing the host's turn).
    pub fn decide(&self, client: Ipv4Addr) -> Decision {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let d = answer(&self.policy, &self.candidates, client, turn, &self.last_good.get());
        if self.any_healthy {
            self.last_good.set(&d.answers);
        }
        d
    }

    /// The same decision without advancing anything (for the admin API).
    pub fn explain(&self, client: Ipv4Addr) -> Decision {
        let good = self.last_good.get();
        decide(&self.policy, &self.candidates, client, self.turn.load(Ordering::Relaxed), &good)
    }
}

/// VIPs of the last answer made while a site was healthy (the `last_good`
/// policy's answer when none is), at most `LastGood::SLOTS` of them.
/// Written by every query that has a healthy site, from any thread that
/// answers (data cores, the DNS thread), so it is atomics and no lock: two
/// answers written at once may leave a mix of both (a VIP possibly twice),
/// which still names only VIPs a healthy decision named a moment ago, and
/// that is all the policy promises. A store happens only when the answer
/// differs from what is held.
#[derive(Default)]
struct LastGood {
    len: AtomicUsize,
    vips: [AtomicU32; LastGood::SLOTS],
}

impl LastGood {
    const SLOTS: usize = 8;

    fn get(&self) -> Answers {
        let n = self.len.load(Ordering::Acquire).min(Self::SLOTS);
        self.vips[..n].iter().map(|v| Ipv4Addr::from(v.load(Ordering::Relaxed))).collect()
    }

    fn set(&self, answers: &[Ipv4Addr]) {
        let answers = &answers[..answers.len().min(Self::SLOTS)];
        if answers.is_empty() || self.get().as_slice() == answers {
            return;
        }
        for (slot, vip) in self.vips.iter().zip(answers) {
            slot.store(u32::from(*vip), Ordering::Relaxed);
        }
        self.len.store(answers.len(), Ordering::Release);
    }
}

pub struct DnsView {
    pub ttl: u32,
    pub zones: Vec<ZoneView>,
    /// In the configuration's order, so a host's index is the same in every
    /// view built from one configuration (the response cache keeps indices:
    /// hashing and comparing a `Name` was a tenth of a cache hit's cost).
    pub hosts: Vec<HostView>,
    host_index: HashMap<Name, usize>,
    /// Names that own records (hosts, in-zone name servers, apexes), to tell
    /// an empty answer (NODATA) from a name that does not exist.
    pub names: HashMap<Name, usize>,
    /// Which configuration the view was built from (it changes with each
    /// start or reload, not with health or load): responses that depend on
    /// nothing else stay valid while it stays the same.
    pub config: u64,
    /// Data cores answer UDP queries themselves (`answer_on = "data_cores"`).
    pub on_data_cores: bool,
}

/// What the candidates' health and load come from.
pub struct SiteInputs<'a> {
    /// This site's services: healthy, or `None` before any of their servers has a result.
    pub local: &'a HashMap<String, Option<bool>>,
    pub local_load: u16,
    pub remotes: &'a [RemoteStatus],
}

impl DnsView {
    /// The zone a name falls in (the longest match), if any.
    pub fn zone_of(&self, name: &Name) -> Option<usize> {
        self.zones
            .iter()
            .enumerate()
            .filter(|(_, z)| z.name.zone_of(name))
            .max_by_key(|(_, z)| z.name.num_labels())
            .map(|(i, _)| i)
    }

    /// The host named `name` (lower case), with its index in `hosts`.
    pub fn host(&self, name: &Name) -> Option<(usize, &HostView)> {
        let &i = self.host_index.get(name)?;
        Some((i, self.hosts.get(i)?))
    }

    /// Builds the view; `previous` carries each host's turn and last good answer over.
    pub fn build(f: &File, inputs: &SiteInputs, previous: Option<&DnsView>) -> Option<DnsView> {
        let d = f.dns.as_ref()?;
        let mut zones = Vec::new();
        let mut names = HashMap::new();
        for z in &d.zones {
            // Checked at load: these parse.
            let apex = config::dns_name(z.name.get_ref()).ok()?;
            let ns_names: Vec<Name> = z.ns.iter().filter_map(|n| config::dns_name(&n.name).ok()).collect();
            let rname = config::dns_name(&z.hostmaster).ok()?;
            let serial = serial();
            let soa = SOA::new(ns_names[0].clone(), rname, serial, 3600, 600, 86400, z.negative_ttl);
            let soa = Record::from_rdata(apex.clone(), 3600, RData::SOA(soa));
            let ns = ns_names
                .iter()
                .map(|n| Record::from_rdata(apex.clone(), 3600, RData::NS(NS(n.clone()))))
                .collect();
            let glue: Vec<Record> = z
                .ns
                .iter()
                .zip(&ns_names)
                .filter_map(|(c, n)| c.address.map(|a| Record::from_rdata(n.clone(), 3600, RData::A(A(a)))))
                .filter(|r| apex.zone_of(r.name()))
                .collect();
            let i = zones.len();
            names.insert(apex.clone(), i);
            for g in &glue {
                names.insert(g.name().clone(), i);
            }
            zones.push(ZoneView { name: apex, soa, ns, glue, negative_ttl: z.negative_ttl });
        }
        let mut hosts = Vec::new();
        let mut host_index = HashMap::new();
        for h in &d.hosts {
            let name = config::dns_name(h.name.get_ref()).ok()?;
            let zone = zones.iter().position(|z| z.name.zone_of(&name))?;
            let svc = f.services.iter().find(|s| s.name == *h.service.get_ref())?;
            let weight = |site: &str| h.weights.get(site).copied().unwrap_or(1);
            let mut candidates = vec![Candidate {
                site: f.site.name.clone(),
                vip: *svc.vip.get_ref(),
                healthy: inputs.local.get(&svc.name).copied().flatten(),
                load_permille: inputs.local_load,
                weight: weight(&f.site.name),
            }];
            for r in &svc.remotes {
                let site = r.site.get_ref();
                let status = inputs.remotes.iter().find(|s| s.name == *site);
                let remote_service = r.service.as_deref().unwrap_or(&svc.name);
                candidates.push(Candidate {
                    site: site.clone(),
                    vip: r.vip,
                    healthy: status.and_then(|s| {
                        if s.reachable {
                            Some(s.services.get(remote_service).copied().unwrap_or(false))
                        } else {
                            // Heard from before and lost: down. Never heard: unknown.
                            s.age.map(|_| false)
                        }
                    }),
                    load_permille: status.map_or(0, |s| s.load_permille),
                    weight: weight(site),
                });
            }
            let order = if h.order.is_empty() {
                candidates.iter().map(|c| c.site.clone()).collect()
            } else {
                h.order.iter().map(|s| s.get_ref().clone()).collect()
            };
            let proximity = h
                .proximity
                .iter()
                .filter_map(|p| {
                    let (net, prefix) = config::cidr(p.subnet.get_ref()).ok()?;
                    Some(Preference {
                        net,
                        prefix,
                        sites: p.sites.iter().map(|s| s.get_ref().clone()).collect(),
                    })
                })
                .collect();
            let policy =
                Policy { rules: h.rules.clone(), order, proximity, all_down: h.all_down, answers: d.answers };
            let old = previous.and_then(|p| p.host(&name)).map(|(_, h)| h);
            let turn = AtomicU64::new(old.map_or(0, |o| o.turn.load(Ordering::Relaxed)));
            let last_good = LastGood::default();
            if let Some(o) = old {
                last_good.set(&o.last_good.get());
            }
            names.insert(name.clone(), zone);
            host_index.insert(name, hosts.len());
            let any_healthy = candidates.iter().any(|c| c.healthy == Some(true));
            hosts.push(HostView { candidates, policy, turn, last_good, any_healthy });
        }
        let on_data_cores = d.answer_on == config::AnswerOn::DataCores;
        Some(DnsView { ttl: d.ttl, zones, hosts, host_index, names, config: 0, on_data_cores })
    }

    /// Whether `name` exists in its zone: it owns records, or a name that
    /// does lies below it (an empty non-terminal).
    pub fn exists(&self, name: &Name) -> bool {
        self.names.contains_key(name) || self.names.keys().any(|n| name.zone_of(n))
    }
}

/// SOA serial: the start time in seconds, so that a restarted appliance
/// never goes back (RFC 1982 arithmetic tolerates the wrap in 2106).
fn serial() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs() as u32)
}
