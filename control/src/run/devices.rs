//! The appliance's DPDK side: EAL, the data port, and the TAP whose kernel
//! side holds the appliance's own addresses (moved into its namespace,
//! addressed, routed). Dropped in the order DPDK needs: ports, then EAL.

use std::path::Path;
use std::time::Duration;

use nic_config::{Eal, EalConfig, EthPort, PortConfig};

use super::state::{own_addresses, redirect_vips};
use crate::config::{self, File};
use crate::kernel;
use crate::redirect;

pub(super) struct Devices {
    pub port: EthPort,
    pub kernel_port: Option<EthPort>,
    /// The TAP's interface name and namespace, as set up at start: a reload
    /// cannot move them.
    pub tap: Option<(String, Option<String>)>,
    pub lcores: Vec<u32>,
    // Declared last: dropped after the ports.
    pub eal: Eal,
}

fn eal_config(f: &File) -> EalConfig {
    EalConfig {
        lcores: f.eal.lcores.get_ref().clone(),
        file_prefix: f.eal.file_prefix.clone(),
        memory_mb: f.eal.memory_mb,
        in_memory: f.eal.in_memory,
        no_huge: f.eal.no_huge,
        vdevs: f.eal.vdevs.clone(),
        pci_allow: f.eal.pci_allow.clone(),
        log_level: f.eal.log_level.clone(),
    }
}

impl Devices {
    pub fn open(f: &File, path: &Path) -> Result<Devices, String> {
        let eal = Eal::init(&eal_config(f)).map_err(|e| e.to_string())?;
        let lcores = eal.worker_lcores();
        if lcores.is_empty() {
            return Err(format!(
                "{}: eal.lcores {:?} leaves no data core: list the control lcore and at least one more, e.g. \"0-1\"",
                path.display(),
                f.eal.lcores.get_ref()
            ));
        }
        let queues = lcores.len() as u16;
        let mut pc = PortConfig::new(&f.port.device, queues);
        pc.rx_descriptors = f.port.rx_descriptors;
        pc.tx_descriptors = f.port.tx_descriptors;
        pc.mbufs = f.port.mbufs;
        if let Some(size) = f.port.mbuf_size {
            pc.mbuf_size = size;
        }
        pc.mtu = f.port.mtu;
        pc.link_timeout = Duration::from_millis(f.port.link_timeout_ms);
        let port = EthPort::open(&pc).map_err(|e| e.to_string())?;
        let (kernel_port, tap) = match &f.kernel {
            None => (None, None),
            Some(k) => {
                let mut kc = PortConfig::new(&k.device, queues);
                kc.rx_descriptors = 256;
                kc.tx_descriptors = 256;
                kc.mbufs = kc.min_mbufs().max(2047);
                let kp = EthPort::open(&kc).map_err(|e| e.to_string())?;
                let iface = kernel::tap_iface(&f.eal.vdevs, &k.device).ok_or_else(|| {
                    format!(
                        "kernel.device {:?} must be a net_tap vdev with an iface= argument in eal.vdevs",
                        k.device
                    )
                })?;
                if let Some(ns) = &k.netns {
                    kernel::move_to_netns(&iface, ns)?;
                }
                let ns = k.netns.as_deref();
                kernel::configure_tap(ns, &iface, port.mac, &own_addresses(f))?;
                let routes: Vec<_> =
                    k.routes.iter().filter_map(|r| config::route(r.get_ref()).ok()).collect();
                kernel::add_routes(ns, &iface, &routes)?;
                kernel::set_local_vips(ns, &iface, &redirect_vips(&redirect::plans(f)))?;
                (Some(kp), Some((iface, k.netns.clone())))
            }
        };
        Ok(Devices { port, kernel_port, tap, lcores, eal })
    }

    /// The namespace of the TAP's kernel side, if it has one.
    pub fn tap_ns(&self) -> Option<&str> {
        self.tap.as_ref().and_then(|(_, ns)| ns.as_deref())
    }

    /// The kernel answers on exactly `vips` (the redirecting services').
    pub fn set_local_vips(&self, vips: &[std::net::Ipv4Addr]) -> Result<(), String> {
        match &self.tap {
            Some((iface, ns)) => kernel::set_local_vips(ns.as_deref(), iface, vips),
            None => Ok(()),
        }
    }

    /// The ports' own counters, for the last words of a stopping appliance.
    pub fn print_port_stats(&self) {
        for p in std::iter::once(&self.port).chain(self.kernel_port.as_ref()) {
            let s = p.stats();
            println!(
                "port {}: rx {} tx {} missed {} rx_errors {} tx_errors {} no_mbuf {}",
                p.name, s.rx_packets, s.tx_packets, s.rx_missed, s.rx_errors, s.tx_errors, s.rx_no_mbuf
            );
        }
    }
}
