//! What the TOML grammar cannot say: names that refer to nothing, things
//! said twice, addresses used for two purposes.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::ops::Range;

use super::{cidr, member, File, Protocol};

type Fail = (Range<usize>, String);

pub fn check(f: &File) -> Result<(), Fail> {
    if f.eal.lcores.get_ref().trim().is_empty() {
        return Err((
            f.eal.lcores.span(),
            "expected lcores, e.g. \"0-1\" (control thread, then data cores)".into(),
        ));
    }
    let mut servers = HashMap::new();
    for rs in &f.real_servers {
        if servers.insert(rs.name.get_ref().as_str(), rs.address).is_some() {
            return Err((rs.name.span(), format!("a second real server named {:?}", rs.name.get_ref())));
        }
        if let Some(h) = &rs.health {
            if h.port().is_none() {
                return Err((
                    rs.name.span(),
                    format!("real server {:?}: a tcp health check needs a `port`", rs.name.get_ref()),
                ));
            }
            if h.kind == super::CheckKind::Dns {
                let Some(q) = &h.query else {
                    return Err((
                        rs.name.span(),
                        format!(
                            "real server {:?}: a dns health check needs a `query` name",
                            rs.name.get_ref()
                        ),
                    ));
                };
                crate::health::dns::question(q, h.query_type.as_deref())
                    .map_err(|e| (rs.name.span(), format!("real server {:?}: {e}", rs.name.get_ref())))?;
            }
            if h.interval_ms == 0 || h.timeout_ms == 0 || h.fall == 0 || h.rise == 0 {
                return Err((
                    rs.name.span(),
                    format!(
                        "real server {:?}: health interval_ms, timeout_ms, fall and rise must be at least 1",
                        rs.name.get_ref()
                    ),
                ));
            }
        }
        if let Some(mac) = &rs.mac {
            mac.get_ref().parse::<dataplane::wire::MacAddr>().map_err(|_| {
                (
                    mac.span(),
                    format!("expected a MAC address like \"02:00:00:00:00:01\", found {:?}", mac.get_ref()),
                )
            })?;
        }
    }
    let mut groups = HashSet::new();
    for g in &f.groups {
        if !groups.insert(g.name.get_ref().as_str()) {
            return Err((g.name.span(), format!("a second group named {:?}", g.name.get_ref())));
        }
        if servers.contains_key(g.name.get_ref().as_str()) {
            return Err((
                g.name.span(),
                format!("{:?} names both a group and a real server", g.name.get_ref()),
            ));
        }
        for m in &g.members {
            let (name, _) = member(m.get_ref()).map_err(|e| (m.span(), e))?;
            if !servers.contains_key(name) {
                return Err((
                    m.span(),
                    format!(
                        "group {:?} names real server {name:?}, which is not defined (expected one of: {})",
                        g.name.get_ref(),
                        names(servers.keys())
                    ),
                ));
            }
        }
    }
    for g in &f.groups {
        if let Some(b) = &g.backup {
            let b = b.get_ref().as_str();
            if b == g.name.get_ref() {
                return Err((
                    g.backup.as_ref().map_or(0..0, |s| s.span()),
                    "a group cannot be its own backup".into(),
                ));
            }
            if !servers.contains_key(b) && !groups.contains(b) {
                return Err((
                    g.backup.as_ref().map_or(0..0, |s| s.span()),
                    format!("backup {b:?} is neither a real server nor a group"),
                ));
            }
        }
    }

    let mut sites = HashSet::new();
    for r in &f.remote_sites {
        if !sites.insert(r.name.get_ref().as_str()) {
            return Err((r.name.span(), format!("a second remote site named {:?}", r.name.get_ref())));
        }
        if r.name.get_ref() == &f.site.name {
            return Err((r.name.span(), "a remote site cannot have this site's own name".into()));
        }
        match (r.peer, r.assume_up) {
            (Some(_), true) => {
                return Err((
                    r.name.span(),
                    "a remote site has either a peer (its reports decide) or assume_up = true, not both".into(),
                ))
            }
            (None, false) => {
                return Err((
                    r.name.span(),
                    "expected `peer = \"ADDR:PORT\"` (its site-state listener) or `assume_up = true`".into(),
                ))
            }
            (Some(_), false) if f.site_state.is_none() => {
                return Err((
                    r.name.span(),
                    "remote sites with a peer need a [site_state] section: without reports they are never reachable"
                        .into(),
                ))
            }
            _ => {}
        }
        if let Some(mac) = &r.next_hop_mac {
            mac.get_ref().parse::<dataplane::wire::MacAddr>().map_err(|_| {
                (
                    mac.span(),
                    format!("expected a MAC address like \"02:00:00:00:00:01\", found {:?}", mac.get_ref()),
                )
            })?;
        }
    }
    if let Some(k) = &f.kernel {
        for r in &k.routes {
            super::route(r.get_ref()).map_err(|e| (r.span(), e))?;
        }
    }
    for s in &f.services {
        for r in &s.remotes {
            if !sites.contains(r.site.get_ref().as_str()) {
                return Err((
                    r.site.span(),
                    format!(
                        "service {:?} names remote site {:?}, which is not defined",
                        s.name,
                        r.site.get_ref()
                    ),
                ));
            }
            if let Some(h) = &r.host {
                if !is_host_name(h.get_ref()) {
                    return Err((
                        h.span(),
                        format!(
                            "expected a host name like \"www.site2.example\" (no scheme, port or path), found {:?}",
                            h.get_ref()
                        ),
                    ));
                }
            }
        }
        if let Some(r) = s.redirect.as_ref().filter(|r| *r.get_ref()) {
            let why = if s.protocol != Protocol::Tcp {
                Some("a redirect is an HTTP answer: the service needs protocol \"tcp\"")
            } else if s.remotes.is_empty() {
                Some("a redirect needs at least one `remotes` entry to send clients to")
            } else if f.kernel.is_none() {
                Some("a redirect is answered by the appliance's kernel: it needs a [kernel] section")
            } else {
                None
            };
            if let Some(why) = why {
                return Err((r.span(), format!("service {:?}: {why}", s.name)));
            }
        }
    }

    let mut used: HashMap<Ipv4Addr, &str> = HashMap::new();
    if let Some(k) = &f.kernel {
        for a in &k.addresses {
            let (addr, _) = cidr(a.get_ref()).map_err(|e| (a.span(), e))?;
            used.insert(addr, "an own (kernel) address");
        }
    }
    for p in &f.site.pips {
        if let Some(what) = used.insert(*p.get_ref(), "a PIP") {
            return Err((p.span(), format!("PIP {} is already {what}", p.get_ref())));
        }
    }
    let mut services = HashSet::new();
    for s in &f.services {
        if !groups.contains(s.group.get_ref().as_str()) {
            return Err((
                s.group.span(),
                format!(
                    "service {:?} names group {:?}, which is not defined (expected one of: {})",
                    s.name,
                    s.group.get_ref(),
                    names(groups.iter())
                ),
            ));
        }
        let vip = *s.vip.get_ref();
        match used.get(&vip) {
            Some(&what) if what != "a VIP" => {
                return Err((s.vip.span(), format!("VIP {vip} is already {what}")))
            }
            _ => {
                used.insert(vip, "a VIP");
            }
        }
        let proto = match s.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        if !services.insert((vip, s.port, proto)) {
            return Err((s.vip.span(), format!("a second service on {vip}:{}/{proto}", s.port)));
        }
        if s.port == 0 {
            return Err((s.vip.span(), format!("service {:?}: port 0 is not a port", s.name)));
        }
    }
    super::dns::check(f)
}

/// A DNS name or an IPv4 address, as it may stand in a URL's authority.
fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn names<'a>(it: impl Iterator<Item = &'a &'a str>) -> String {
    let mut v: Vec<&str> = it.copied().collect();
    v.sort_unstable();
    v.join(", ")
}
