//! The kernel side of the exception path: the TAP interface that carries the
//! appliance's own addresses, and the kernel's neighbour table, which is
//! where the data path's next-hop MAC addresses come from.
//!
//! Next hops are resolved by the kernel rather than by ARP on the data path:
//! the kernel already owns the appliance's addresses, retries and ages its
//! entries, and the health checks' own traffic keeps them fresh, so the data
//! path only reads a table the control side publishes in the snapshot.

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;

use dataplane::wire::MacAddr;

/// Runs `f` on a thread that has entered network namespace `ns` (or on a
/// plain thread when `ns` is None), returning its result. Sockets made there
/// stay in that namespace whatever thread uses them later.
pub fn in_netns<T: Send>(ns: Option<&str>, f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<T, String> {
            enter_netns(ns)?;
            Ok(f())
        })
        .join()
        .map_err(|_| "a namespace helper thread panicked".to_string())?
    })
}

/// Moves the calling thread into network namespace `ns` (as `ip netns` names them).
pub fn enter_netns(ns: Option<&str>) -> Result<(), String> {
    let Some(ns) = ns else { return Ok(()) };
    let f =
        std::fs::File::open(format!("/var/run/netns/{ns}")).map_err(|e| format!("namespace {ns}: {e}"))?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("enter namespace {ns}: {e}"))
}

/// Moves the TAP interface into its own namespace (created if missing), so
/// the appliance's own addresses belong to a kernel of their own rather than
/// to the host's (two appliances on one host would otherwise share one).
pub fn move_to_netns(iface: &str, ns: &str) -> Result<(), String> {
    if !std::path::Path::new(&format!("/var/run/netns/{ns}")).exists() {
        // A namespace deleted a moment ago may still be on its way out.
        if let Err(e) = ip(&["netns", "add", ns]) {
            if !e.contains("File exists") {
                return Err(e);
            }
        }
    }
    ip(&["link", "set", "dev", iface, "netns", ns])?;
    ip(&["-n", ns, "link", "set", "dev", "lo", "up"])
}

fn ip(args: &[&str]) -> Result<(), String> {
    ip_output(args).map(drop)
}

fn ip_output(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The kernel interface a TAP vdev creates: its `iface=` argument.
pub fn tap_iface(vdevs: &[String], device: &str) -> Option<String> {
    vdevs
        .iter()
        .find(|v| v.split(',').next() == Some(device))
        .and_then(|v| v.split(',').find_map(|kv| kv.strip_prefix("iface=").map(str::to_string)))
}

/// Gives the TAP interface the data port's MAC (so the kernel's frames and the
/// replies to them look like the appliance's), the own addresses, and brings it up.
pub fn configure_tap(
    ns: Option<&str>,
    iface: &str,
    mac: MacAddr,
    addresses: &[(Ipv4Addr, u8)],
) -> Result<(), String> {
    let ipn = |args: &[&str]| match ns {
        Some(ns) => ip(&[&["-n", ns], args].concat()),
        None => ip(args),
    };
    // IPv6 would make the kernel chatter (router solicitations, DAD) on the wire.
    let iface_owned = iface.to_string();
    in_netns(ns, move || {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{iface_owned}/disable_ipv6"), "1");
    })?;
    ipn(&["link", "set", "dev", iface, "down"])?;
    ipn(&["link", "set", "dev", iface, "address", &mac.to_string()])?;
    for (addr, prefix) in addresses {
        ipn(&["addr", "replace", &format!("{addr}/{prefix}"), "dev", iface])?;
    }
    ipn(&["link", "set", "dev", iface, "up"])
}

/// The label that marks the addresses `set_local_vips` manages on `lo`.
const VIP_LABEL: &str = "lo:gslbd";

/// Makes exactly `vips` local addresses of the kernel behind the TAP (as
/// /32s on that namespace's `lo`), for the services it answers itself (HTTP
/// redirects): the data path hands it packets to those VIPs, and the kernel
/// must accept them. On `lo` rather than on the TAP: there the VIP would be
/// a candidate source for the kernel's own traffic through the TAP (health
/// checks, site-state reports), and it would bring a connected route; on `lo`
/// the kernel prefers the TAP's own addresses. And the TAP is set to answer
/// ARP only for addresses on it, and to name its own address in its ARP
/// requests: the VIP's ARP belongs to the data path. Addresses this function
/// put there earlier and not in `vips` are removed.
pub fn set_local_vips(ns: Option<&str>, iface: &str, vips: &[Ipv4Addr]) -> Result<(), String> {
    let ipn = |args: &[&str]| match ns {
        Some(ns) => ip_output(&[&["-n", ns], args].concat()),
        None => ip_output(args),
    };
    let conf = format!("/proc/sys/net/ipv4/conf/{iface}");
    if !vips.is_empty() {
        // Without VIPs on lo there is nothing for these to guard. In a
        // container /proc/sys is read-only: the same effect comes from
        // `--sysctl net.ipv4.conf.all.arp_ignore=1 --sysctl
        // net.ipv4.conf.all.arp_announce=2` (the kernel takes the larger of
        // "all" and the interface's), so a failure here is only a warning.
        in_netns(ns, move || {
            for (knob, value) in [("arp_ignore", "1"), ("arp_announce", "2")] {
                if let Err(e) = std::fs::write(format!("{conf}/{knob}"), value) {
                    eprintln!(
                        "warning: {conf}/{knob}: {e} (set net.ipv4.conf.all.{knob}={value} where the namespace is made)"
                    );
                }
            }
        })?;
    }
    let present = ipn(&["-4", "-o", "addr", "show", "dev", "lo", "label", VIP_LABEL])?;
    for addr in labelled_addresses(&present) {
        if !vips.contains(&addr) {
            ipn(&["addr", "del", &format!("{addr}/32"), "dev", "lo"])?;
        }
    }
    for vip in vips {
        ipn(&["addr", "replace", &format!("{vip}/32"), "dev", "lo", "label", VIP_LABEL])?;
    }
    Ok(())
}

/// The IPv4 addresses in `ip -4 -o addr show` output.
fn labelled_addresses(text: &str) -> Vec<Ipv4Addr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace().skip_while(|w| *w != "inet");
            words.next()?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect()
}

/// Routes for the appliance's own traffic (e.g. to other sites' appliances).
pub fn add_routes(
    ns: Option<&str>,
    iface: &str,
    routes: &[((Ipv4Addr, u8), Ipv4Addr)],
) -> Result<(), String> {
    for ((dst, prefix), gw) in routes {
        let route = ["route", "replace", &format!("{dst}/{prefix}"), "via", &gw.to_string(), "dev", iface];
        match ns {
            Some(ns) => ip(&[&["-n", ns][..], &route[..]].concat())?,
            None => ip(&route)?,
        }
    }
    Ok(())
}

/// Where to read the neighbour table of a namespace from any thread: the
/// `/proc` directory of a thread parked in it. (Entering the namespace for
/// every read would cost a thread each time the control loop looks.)
pub struct Neighbours {
    arp: PathBuf,
}

impl Neighbours {
    pub fn new(ns: Option<&str>) -> Result<Neighbours, String> {
        let Some(ns) = ns else { return Ok(Neighbours { arp: PathBuf::from("/proc/self/net/arp") }) };
        let (tx, rx) = std::sync::mpsc::channel();
        let ns = ns.to_string();
        std::thread::Builder::new()
            .name("netns-view".into())
            .spawn(move || {
                let me = enter_netns(Some(&ns)).and_then(|()| {
                    std::fs::read_link("/proc/thread-self").map_err(|e| format!("/proc/thread-self: {e}"))
                });
                let _ = tx.send(me);
                loop {
                    std::thread::park();
                }
            })
            .map_err(|e| format!("namespace view thread: {e}"))?;
        let task = rx.recv().map_err(|_| "namespace view thread ended".to_string())??;
        Ok(Neighbours { arp: Path::new("/proc").join(task).join("net/arp") })
    }

    /// The kernel's complete IPv4 neighbour entries.
    pub fn read(&self) -> HashMap<Ipv4Addr, MacAddr> {
        parse_arp(&std::fs::read_to_string(&self.arp).unwrap_or_default())
    }
}

/// Complete entries of `/proc/net/arp`.
fn parse_arp(text: &str) -> HashMap<Ipv4Addr, MacAddr> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // IP address, HW type, Flags, HW address, Mask, Device; flag 0x2 = complete.
            let flags = u32::from_str_radix(f.get(2)?.trim_start_matches("0x"), 16).ok()?;
            if flags & 0x2 == 0 {
                return None;
            }
            Some((f.first()?.parse().ok()?, f.get(3)?.parse().ok()?))
        })
        .collect()
}

/// Makes the kernel resolve `addrs`: any datagram starts ARP; port 9
/// (discard) is the one meant for nothing.
pub fn solicit(ns: Option<&str>, addrs: &[Ipv4Addr]) {
    let _ = in_netns(ns, || {
        if let Ok(s) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) {
            for a in addrs {
                let _ = s.send_to(&[], (*a, 9));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_neighbour_entries_count() {
        let table = "IP address       HW type     Flags       HW address            Mask     Device\n\
                     10.1.0.11        0x1         0x2         02:67:73:01:00:0b     *        gs1-kernel\n\
                     10.1.0.12        0x1         0x0         00:00:00:00:00:00     *        gs1-kernel\n";
        let n = parse_arp(table);
        assert_eq!(n.len(), 1);
        assert_eq!(n.get(&Ipv4Addr::new(10, 1, 0, 11)), Some(&MacAddr([2, 0x67, 0x73, 1, 0, 0x0b])));
    }

    #[test]
    fn the_addresses_a_label_holds_are_read_from_ip_output() {
        let text = "1: lo    inet 192.0.2.10/32 scope global lo:gslbd\\       valid_lft forever preferred_lft forever\n\
                    1: lo    inet 192.0.2.11/32 scope global lo:gslbd\\       valid_lft forever preferred_lft forever\n";
        assert_eq!(
            labelled_addresses(text),
            vec![Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 11)]
        );
        assert!(labelled_addresses("").is_empty());
    }

    #[test]
    fn the_tap_interface_comes_from_its_vdev_arguments() {
        let vdevs =
            vec!["net_af_packet0,iface=gs1-wire".to_string(), "net_tap0,iface=gs1-kernel".to_string()];
        assert_eq!(tap_iface(&vdevs, "net_tap0").as_deref(), Some("gs1-kernel"));
        assert_eq!(tap_iface(&vdevs, "net_tap1"), None);
    }
}
