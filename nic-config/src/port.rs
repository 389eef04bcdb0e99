//! One Ethernet port, configured and started: queues, RSS, its mempool,
//! its link, its statistics.

use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

use dataplane::wire::MacAddr;
use dpdk_sys as sys;

use crate::error::{check, DpdkError};

/// The RSS key every port is given, so software can predict the hash: the
/// key of Microsoft's RSS specification, whose test vectors `toeplitz.rs`
/// checks against.
pub const RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0,
    0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42,
    0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

#[derive(Clone, Debug)]
pub struct PortConfig {
    /// DPDK's name for the device: a vdev name ("net_af_packet0") or a PCI address.
    pub device: String,
    /// Receive/transmit queue pairs: one per data core.
    pub queues: u16,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// Buffers in the port's mempool: enough for every descriptor of every
    /// queue plus bursts in flight and per-lcore caches.
    pub mbufs: u32,
    pub mbuf_cache: u32,
    /// Bytes per mbuf buffer, headroom (128) included; DPDK's default fits a
    /// 1518-byte frame.
    pub mbuf_size: u16,
    pub mtu: Option<u16>,
    pub link_timeout: Duration,
}

impl PortConfig {
    pub fn new(device: impl Into<String>, queues: u16) -> PortConfig {
        PortConfig {
            device: device.into(),
            queues,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            mbufs: 8191,
            mbuf_cache: 256,
            mbuf_size: sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
            mtu: None,
            link_timeout: Duration::from_secs(5),
        }
    }

    /// The fewest buffers that can never run dry with every ring full.
    pub fn min_mbufs(&self) -> u32 {
        let per_queue = u32::from(self.rx_descriptors) + u32::from(self.tx_descriptors) + 2 * 32;
        u32::from(self.queues) * (per_queue + self.mbuf_cache)
    }
}

/// A started port. Stopped, closed and its mempool freed when dropped.
pub struct EthPort {
    pub id: u16,
    pub name: String,
    pub queues: u16,
    pub mac: MacAddr,
    pub driver: String,
    /// The RSS redirection table (hash bucket → queue); empty without RSS.
    pub reta: Vec<u16>,
    /// The kernel interface behind the device (net_af_packet's), or 0.
    pub if_index: u32,
    pool: *mut sys::rte_mempool,
}

// SAFETY: the port and its mempool are DPDK objects usable from any lcore;
// EthPort itself is only used by the control thread.
unsafe impl Send for EthPort {}

/// Counters the device keeps (`rte_eth_stats`).
#[derive(Copy, Clone, Debug, Default)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Dropped by the device for lack of descriptors.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_no_mbuf: u64,
}

impl EthPort {
    pub fn open(cfg: &PortConfig) -> Result<EthPort, DpdkError> {
        let dev = &cfg.device;
        let cname = CString::new(dev.as_str()).map_err(|_| DpdkError::new("device name contains NUL", 0))?;
        let mut id = 0u16;
        // SAFETY: valid C string and out pointer.
        let rc = unsafe { sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(DpdkError::new(
                format!("no DPDK port named {dev:?}: give the device to EAL (a `vdevs` entry, or `pci_allow` for a NIC bound with dpdk-devbind.py)"),
                0,
            ));
        }
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out pointer.
        check(unsafe { sys::rte_eth_dev_info_get(id, &mut info) }, || format!("read device info of {dev}"))?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: DPDK's static driver name.
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };
        if cfg.queues == 0 || cfg.queues > info.max_rx_queues || cfg.queues > info.max_tx_queues {
            return Err(DpdkError::new(
                format!(
                    "{dev} ({driver}) supports {} rx / {} tx queues; {} asked (one per data core)",
                    info.max_rx_queues, info.max_tx_queues, cfg.queues
                ),
                0,
            ));
        }
        if cfg.mbufs < cfg.min_mbufs() {
            return Err(DpdkError::new(
                format!(
                    "{dev}: {} mbufs cannot fill its rings; at least {} are needed",
                    cfg.mbufs,
                    cfg.min_mbufs()
                ),
                0,
            ));
        }
        // SAFETY: valid port id.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let pool_name = CString::new(format!("gslbd_{id}")).expect("no NUL");
        // SAFETY: valid arguments; NULL (with rte_errno) on failure.
        let pool = unsafe {
            sys::rte_pktmbuf_pool_create(
                pool_name.as_ptr(),
                cfg.mbufs,
                cfg.mbuf_cache,
                0,
                cfg.mbuf_size,
                socket,
            )
        };
        if pool.is_null() {
            return Err(DpdkError::from_errno(format!(
                "create the mempool of {dev} ({} mbufs): are hugepages reserved? (scripts/hugepages.sh)",
                cfg.mbufs
            )));
        }
        let mut port = EthPort {
            id,
            name: dev.clone(),
            queues: cfg.queues,
            mac: MacAddr::ZERO,
            driver,
            reta: Vec::new(),
            if_index: info.if_index,
            pool,
        };
        port.configure(cfg, &info)?;
        Ok(port)
    }

    fn configure(&mut self, cfg: &PortConfig, info: &sys::rte_eth_dev_info) -> Result<(), DpdkError> {
        let (id, dev) = (self.id, cfg.device.clone());
        let mut conf = sys::rte_eth_conf::default();
        // SAFETY: constant getters.
        let rss_hf = unsafe { sys::gslbd_rss_hf() } & info.flow_type_rss_offloads;
        let mut key = RSS_KEY;
        if cfg.queues > 1 && rss_hf != 0 {
            conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
            conf.rx_adv_conf.rss_conf.rss_key_len = key.len() as u8;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        if let Some(mtu) = cfg.mtu {
            conf.rxmode.mtu = u32::from(mtu);
        }
        // SAFETY: valid port and config (the key outlives the call).
        check(unsafe { sys::rte_eth_dev_configure(id, cfg.queues, cfg.queues, &conf) }, || {
            format!("configure {dev} with {} queue pairs", cfg.queues)
        })?;
        // SAFETY: valid port id.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) } as u32;
        for q in 0..cfg.queues {
            // SAFETY: valid port, queue, pool; NULL conf means the driver's defaults.
            check(
                unsafe {
                    sys::rte_eth_rx_queue_setup(
                        id,
                        q,
                        cfg.rx_descriptors,
                        socket,
                        std::ptr::null(),
                        self.pool,
                    )
                },
                || format!("set up rx queue {q} of {dev}"),
            )?;
            // SAFETY: as above.
            check(
                unsafe { sys::rte_eth_tx_queue_setup(id, q, cfg.tx_descriptors, socket, std::ptr::null()) },
                || format!("set up tx queue {q} of {dev}"),
            )?;
        }
        // Promiscuous mode is not supported everywhere (e.g. some vdevs);
        // the data path filters by MAC itself, so its absence is harmless.
        // SAFETY: valid port id.
        let _ = unsafe { sys::rte_eth_promiscuous_enable(id) };
        // SAFETY: valid, configured port.
        check(unsafe { sys::rte_eth_dev_start(id) }, || format!("start {dev}"))?;
        let mut mac = sys::rte_ether_addr::default();
        // SAFETY: valid port and out pointer.
        check(unsafe { sys::rte_eth_macaddr_get(id, &mut mac) }, || {
            format!("read the MAC address of {dev}")
        })?;
        self.mac = MacAddr(mac.addr_bytes);
        self.reta = self.read_reta(info.reta_size);
        self.wait_link(cfg.link_timeout)
    }

    fn read_reta(&self, size: u16) -> Vec<u16> {
        if size == 0 || self.queues < 2 {
            return Vec::new();
        }
        let groups = usize::from(size).div_ceil(sys::RTE_ETH_RETA_GROUP_SIZE as usize);
        let mut conf = vec![sys::rte_eth_rss_reta_entry64 { mask: u64::MAX, reta: [0; 64] }; groups];
        // SAFETY: `conf` holds `size` entries.
        let rc = unsafe { sys::rte_eth_dev_rss_reta_query(self.id, conf.as_mut_ptr(), size) };
        if rc != 0 {
            return Vec::new();
        }
        conf.iter().flat_map(|g| g.reta).take(usize::from(size)).collect()
    }

    /// Waits for the link to come up; virtual devices are up at once.
    fn wait_link(&self, timeout: Duration) -> Result<(), DpdkError> {
        let start = Instant::now();
        loop {
            if self.link_up() {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(DpdkError::new(
                    format!("the link of {} did not come up within {} ms", self.name, timeout.as_millis()),
                    0,
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn link_up(&self) -> bool {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: valid port and out pointer.
        let rc = unsafe { sys::rte_eth_link_get_nowait(self.id, &mut link) };
        rc == 0 && link.link_status() != 0
    }

    pub fn stats(&self) -> PortStats {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid port and out pointer.
        if unsafe { sys::rte_eth_stats_get(self.id, &mut s) } != 0 {
            return PortStats::default();
        }
        PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_no_mbuf: s.rx_nombuf,
        }
    }

    /// The device's extended statistics, by name.
    pub fn xstats(&self) -> Vec<(String, u64)> {
        // SAFETY: a NULL array asks for the count.
        let n = unsafe { sys::rte_eth_xstats_get_names(self.id, std::ptr::null_mut(), 0) };
        if n <= 0 {
            return Vec::new();
        }
        let mut names = vec![sys::rte_eth_xstat_name { name: [0; 64] }; n as usize];
        let mut values = vec![sys::rte_eth_xstat::default(); n as usize];
        // SAFETY: both arrays hold n entries.
        let got_names = unsafe { sys::rte_eth_xstats_get_names(self.id, names.as_mut_ptr(), n as u32) };
        // SAFETY: as above.
        let got = unsafe { sys::rte_eth_xstats_get(self.id, values.as_mut_ptr(), n as u32) };
        if got_names != n || got != n {
            return Vec::new();
        }
        values
            .iter()
            .filter_map(|v| {
                let name = names.get(v.id as usize)?;
                // SAFETY: DPDK NUL-terminates names within the 64 bytes.
                let name = unsafe { CStr::from_ptr(name.name.as_ptr()) }.to_string_lossy().into_owned();
                Some((name, v.value))
            })
            .collect()
    }

    /// A fresh buffer from the port's pool (for a program that makes its own
    /// packets, such as a load generator), or `None` when the pool is empty.
    pub fn alloc(&self) -> Option<crate::queue::Mbuf> {
        // SAFETY: valid pool; the mbuf returned is ours.
        let m = unsafe { sys::gslbd_pktmbuf_alloc(self.pool) };
        crate::queue::Mbuf::from_raw(m)
    }

    /// Buffers of the port's pool not in use.
    pub fn free_mbufs(&self) -> u32 {
        // SAFETY: valid pool.
        unsafe { sys::rte_mempool_avail_count(self.pool) }
    }
}

impl Drop for EthPort {
    fn drop(&mut self) {
        // SAFETY: no data core uses the port any more (they are joined before
        // ports are dropped); stop, close, then free the pool its rings used.
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
            sys::rte_mempool_free(self.pool);
        }
    }
}
