//! Finds the system DPDK with pkg-config, compiles the shim against it with
//! DPDK's own flags, and generates bindings for what `wrapper.h` includes,
//! kept to an allow list so a DPDK upgrade cannot silently widen the API.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const INSTALL: &str = "on Debian 12: apt-get install -y dpdk dpdk-dev libdpdk-dev pkg-config";

fn main() {
    for f in ["wrapper.h", "shim.h", "shim.c", "build.rs"] {
        println!("cargo:rerun-if-changed={f}");
    }
    pkg_config::Config::new().atleast_version("22.11").probe("libdpdk").unwrap_or_else(|e| {
        panic!("\n\nDPDK 22.11 or newer was not found by pkg-config ({INSTALL}).\n{e}\n")
    });
    // The crate's probe keeps -I and -D only; DPDK also needs `-include
    // rte_config.h` and an -march, so the full cflags are taken as given.
    let out = Command::new("pkg-config").args(["--cflags", "libdpdk"]).output().expect("pkg-config runs");
    let cflags: Vec<String> =
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect();

    let mut cc = cc::Build::new();
    cc.file("shim.c").opt_level(3).warnings(true);
    let mut it = cflags.iter();
    while let Some(f) = it.next() {
        if f == "-include" {
            if let Some(h) = it.next() {
                cc.flag("-include").flag(h);
            }
        } else {
            cc.flag(f);
        }
    }
    cc.compile("gslbd_dpdk_shim");

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&cflags)
        .clang_arg("-I.")
        .allowlist_function("gslbd_.*")
        .allowlist_function("rte_eal_(init|cleanup|mp_wait_lcore|remote_launch|process_type)")
        .allowlist_function("rte_eth_(dev_count_avail|dev_configure|dev_info_get|dev_start|dev_stop|dev_close)")
        .allowlist_function("rte_eth_(rx_queue_setup|tx_queue_setup|macaddr_get|link_get_nowait|dev_socket_id)")
        .allowlist_function("rte_eth_(dev_get_port_by_name|dev_get_name_by_port|promiscuous_enable|dev_set_mtu)")
        .allowlist_function("rte_eth_(stats_get|xstats_get|xstats_get_names|dev_rss_reta_update|dev_rss_reta_query)")
        .allowlist_function("rte_eth_(dev_rss_hash_conf_get|find_next_owned_by|dev_is_valid_port)")
        .allowlist_function("rte_pktmbuf_pool_create|rte_mempool_free|rte_mempool_avail_count|rte_mempool_in_use_count")
        .allowlist_function("rte_ring_(create|free|count)")
        .allowlist_function("rte_(strerror|socket_id|get_tsc_hz|lcore_count|get_main_lcore|lcore_is_enabled)")
        .allowlist_type("rte_eth_(conf|dev_info|link|stats|xstat|xstat_name|rss_reta_entry64|rss_conf)")
        .allowlist_var("RTE_ETH_(MQ_RX_RSS|MQ_RX_NONE|MQ_TX_NONE|LINK_UP|LINK_DOWN|RETA_GROUP_SIZE)")
        .allowlist_var("RTE_(MBUF_DEFAULT_BUF_SIZE|MAX_ETHPORTS|MAX_LCORE|ETH_NAME_MAX_LEN|PROC_PRIMARY)")
        .allowlist_var("RTE_ETH_(RX|TX)_OFFLOAD_.*")
        .allowlist_var("RING_F_.*|SOCKET_ID_ANY|RTE_ETHER_ADDR_LEN")
        // Packed types bindgen cannot lay out (DPDK 22.11); gslbd never touches them.
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_gtp_psc_generic_hdr")
        .derive_default(true)
        .generate_comments(false)
        .layout_tests(false)
        .generate()
        .unwrap_or_else(|e| {
            panic!("\n\nbindgen could not read DPDK's headers ({e}).\nIt needs libclang: on Debian 12, apt-get install -y libclang-dev clang\n")
        });
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    bindings.write_to_file(out.join("bindings.rs")).expect("write bindings");
}
