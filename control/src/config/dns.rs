//! The `[dns]` section: the zones the appliance is authoritative for and,
//! per host name, how a site is chosen for each answer.

use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;
use toml::Spanned;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// Where queries are served, UDP and TCP: the appliance's own addresses
    /// (their kernel side; e.g. "198.51.100.1:53").
    pub listen: Vec<SocketAddr>,
    /// TTL of answers (Alteon's default: 60 s).
    #[serde(default = "d_ttl")]
    pub ttl: u32,
    /// A records per answer at most.
    #[serde(default = "d_answers")]
    pub answers: usize,
    /// Where UDP queries to the data port are answered.
    #[serde(default)]
    pub answer_on: AnswerOn,
    #[serde(default, rename = "zone")]
    pub zones: Vec<Zone>,
    #[serde(default, rename = "host")]
    pub hosts: Vec<Host>,
}

fn d_ttl() -> u32 {
    60
}
fn d_answers() -> usize {
    1
}

/// Where the data path's UDP queries are answered. TCP queries, and every
/// query on a setup without DNS rings, go to the kernel's socket either way.
#[derive(Copy, Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AnswerOn {
    /// On the data core that received the query, in the same burst: the
    /// cheapest per answer and the lowest latency; DNS work then shares the
    /// data cores' time with forwarding.
    #[default]
    DataCores,
    /// On a DNS thread of its own, fed by ring: keeps DNS work (a flood of
    /// uncached names, say) off the data cores, at the price of a hand-off
    /// and a wake-up each way.
    Thread,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: Spanned<String>,
    /// The zone's name servers (NS records), with an address when they are
    /// inside the zone (glue and their A record).
    pub ns: Vec<NameServer>,
    /// SOA RNAME: the zone administrator's mailbox as a name ("hostmaster.example.org").
    pub hostmaster: String,
    /// SOA minimum: how long resolvers cache NXDOMAIN and empty answers.
    #[serde(default = "d_negative")]
    pub negative_ttl: u32,
}

fn d_negative() -> u32 {
    30
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameServer {
    pub name: String,
    pub address: Option<Ipv4Addr>,
}

#[derive(Copy, Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Only sites whose service is healthy.
    Availability,
    /// The first site of `order` still in the running.
    Failover,
    /// One site, drawn in proportion to `weights`.
    Weighted,
    /// The sites reporting the least load.
    LeastLoad,
    /// The client's (or its ECS subnet's) preferred sites.
    Proximity,
    /// Each answer starts with the next site.
    RoundRobin,
}

#[derive(Copy, Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AllDown {
    /// Every site whose health is known, healthy or not.
    All,
    /// An empty answer.
    None,
    /// The sites of the last answer that had a healthy site.
    #[default]
    LastGood,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// A name inside one of the zones.
    pub name: Spanned<String>,
    /// The local service whose VIP (and whose `remotes`, the other sites)
    /// answer for this name.
    pub service: Spanned<String>,
    /// Applied in order; a rule that would leave no site is skipped.
    #[serde(default = "d_rules")]
    pub rules: Vec<Rule>,
    /// For `failover`: site names, most preferred first.
    #[serde(default)]
    pub order: Vec<Spanned<String>>,
    /// For `weighted`: site name = weight (missing sites weigh 1).
    #[serde(default)]
    pub weights: std::collections::BTreeMap<String, u32>,
    /// For `proximity`: client subnets and their preferred sites.
    #[serde(default)]
    pub proximity: Vec<Proximity>,
    /// When `availability` leaves no site.
    #[serde(default)]
    pub all_down: AllDown,
}

fn d_rules() -> Vec<Rule> {
    vec![Rule::Availability, Rule::RoundRobin]
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proximity {
    /// "198.51.100.0/24"
    pub subnet: Spanned<String>,
    pub sites: Vec<Spanned<String>>,
}

type Fail = (std::ops::Range<usize>, String);

/// A domain name as configured, fully qualified.
pub fn name(spec: &str) -> Result<hickory_proto::rr::Name, String> {
    let fqdn = if spec.ends_with('.') { spec.to_string() } else { format!("{spec}.") };
    hickory_proto::rr::Name::from_ascii(&fqdn)
        .map(|n| n.to_lowercase())
        .map_err(|e| format!("expected a domain name like \"www.example.org\", found {spec:?} ({e})"))
}

/// What the grammar cannot say about `[dns]`: names outside every zone,
/// services and sites that do not exist, bad subnets.
pub(super) fn check(f: &super::File) -> Result<(), Fail> {
    let Some(d) = &f.dns else { return Ok(()) };
    let whole = 0..0;
    if d.listen.is_empty() {
        return Err((whole, "dns.listen needs at least one address, e.g. [\"198.51.100.1:53\"]".into()));
    }
    if d.answers == 0 {
        return Err((whole, "dns.answers must be at least 1".into()));
    }
    let mut zones: Vec<hickory_proto::rr::Name> = Vec::new();
    for z in &d.zones {
        let zn = name(z.name.get_ref()).map_err(|e| (z.name.span(), e))?;
        if zones.contains(&zn) {
            return Err((z.name.span(), format!("a second zone named {:?}", z.name.get_ref())));
        }
        if z.ns.is_empty() {
            return Err((z.name.span(), format!("zone {:?} needs at least one `ns`", z.name.get_ref())));
        }
        for ns in &z.ns {
            let n = name(&ns.name)
                .map_err(|e| (z.name.span(), format!("zone {:?}: ns {e}", z.name.get_ref())))?;
            if zn.zone_of(&n) && ns.address.is_none() {
                return Err((
                    z.name.span(),
                    format!(
                        "zone {:?}: name server {:?} is inside the zone and needs an `address`",
                        z.name.get_ref(),
                        ns.name
                    ),
                ));
            }
        }
        name(&z.hostmaster)
            .map_err(|e| (z.name.span(), format!("zone {:?}: hostmaster {e}", z.name.get_ref())))?;
        zones.push(zn);
    }
    let mut sites: Vec<&str> = vec![f.site.name.as_str()];
    sites.extend(f.remote_sites.iter().map(|r| r.name.get_ref().as_str()));
    let site_known = |s: &Spanned<String>| {
        if sites.contains(&s.get_ref().as_str()) {
            Ok(())
        } else {
            Err((
                s.span(),
                format!("no site named {:?} (expected one of: {})", s.get_ref(), sites.join(", ")),
            ))
        }
    };
    let mut hosts = Vec::new();
    for h in &d.hosts {
        let hn = name(h.name.get_ref()).map_err(|e| (h.name.span(), e))?;
        if !zones.iter().any(|z| z.zone_of(&hn)) {
            return Err((
                h.name.span(),
                format!("host {:?} is in none of the [[dns.zone]]s", h.name.get_ref()),
            ));
        }
        if hosts.contains(&hn) {
            return Err((h.name.span(), format!("a second dns host named {:?}", h.name.get_ref())));
        }
        hosts.push(hn);
        if !f.services.iter().any(|s| s.name == *h.service.get_ref()) {
            return Err((h.service.span(), format!("no service named {:?}", h.service.get_ref())));
        }
        if h.rules.is_empty() {
            return Err((h.name.span(), format!("host {:?}: `rules` cannot be empty", h.name.get_ref())));
        }
        for s in &h.order {
            site_known(s)?;
        }
        for p in &h.proximity {
            super::cidr(p.subnet.get_ref()).map_err(|e| (p.subnet.span(), e))?;
            for s in &p.sites {
                site_known(s)?;
            }
        }
    }
    Ok(())
}
