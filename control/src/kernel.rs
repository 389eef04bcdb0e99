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
use std::process::Command;

use dataplane::wire::MacAddr;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
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
pub fn configure_tap(iface: &str, mac: MacAddr, addresses: &[(Ipv4Addr, u8)]) -> Result<(), String> {
    // IPv6 would make the kernel chatter (router solicitations, DAD) on the wire.
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{iface}/disable_ipv6"), "1");
    ip(&["link", "set", "dev", iface, "down"])?;
    ip(&["link", "set", "dev", iface, "address", &mac.to_string()])?;
    for (addr, prefix) in addresses {
        ip(&["addr", "replace", &format!("{addr}/{prefix}"), "dev", iface])?;
    }
    ip(&["link", "set", "dev", iface, "up"])
}

/// Routes for the appliance's own traffic (e.g. to other sites' appliances).
pub fn add_routes(iface: &str, routes: &[((Ipv4Addr, u8), Ipv4Addr)]) -> Result<(), String> {
    for ((dst, prefix), gw) in routes {
        ip(&["route", "replace", &format!("{dst}/{prefix}"), "via", &gw.to_string(), "dev", iface])?;
    }
    Ok(())
}

/// The kernel's complete IPv4 neighbour entries (`/proc/net/arp`).
pub fn neighbours() -> HashMap<Ipv4Addr, MacAddr> {
    let text = std::fs::read_to_string("/proc/net/arp").unwrap_or_default();
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

/// Makes the kernel resolve `addr`: any datagram to it starts ARP; port 9
/// (discard) is the one meant for nothing.
pub fn solicit(addr: Ipv4Addr) {
    if let Ok(s) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) {
        let _ = s.send_to(&[], (addr, 9));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tap_interface_comes_from_its_vdev_arguments() {
        let vdevs =
            vec!["net_af_packet0,iface=gs1-wire".to_string(), "net_tap0,iface=gs1-kernel".to_string()];
        assert_eq!(tap_iface(&vdevs, "net_tap0").as_deref(), Some("gs1-kernel"));
        assert_eq!(tap_iface(&vdevs, "net_tap1"), None);
    }
}
