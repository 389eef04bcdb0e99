//! DPDK's Environment Abstraction Layer: start-up from typed settings, the
//! lcores it runs, and clean-up.
//!
//! EAL may be initialised once per process and must be cleaned up on exit,
//! or an `--in-memory`-less run leaves hugepage files behind. `Eal` is that
//! one-time handle: created by `Eal::init`, cleaned up when dropped.

use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{check, DpdkError};

/// How EAL is started. Mirrors the EAL command line, which is what operators
/// know from `dpdk-testpmd`.
#[derive(Clone, Debug, Default)]
pub struct EalConfig {
    /// `-l`: lcores to run on, e.g. "0-1". The first is the main lcore (the
    /// control thread); every other one runs a data core.
    pub lcores: String,
    /// `--file-prefix`: every DPDK process on a host needs its own.
    pub file_prefix: String,
    /// `-m`: megabytes of memory to reserve (0: EAL's default).
    pub memory_mb: u32,
    /// `--in-memory`: no shared files at all (hugepages still used).
    pub in_memory: bool,
    /// `--no-huge`: run without hugepages (slower; for virtual devices).
    pub no_huge: bool,
    /// `--vdev`: virtual devices, e.g. "net_af_packet0,iface=veth0".
    pub vdevs: Vec<String>,
    /// `-a`: PCI devices to use; empty means none (only virtual devices),
    /// so a lab never grabs the machine's own NIC by accident.
    pub pci_allow: Vec<String>,
    /// `--log-level`, e.g. "lib.eal:notice".
    pub log_level: Option<String>,
}

impl EalConfig {
    /// The EAL argument vector (argv[0] included).
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["gslbd".to_string()];
        if !self.lcores.is_empty() {
            // "0-1" is a plain lcore list (-l); "0@0,(1,2)@1" maps lcores to
            // CPUs (--lcores), e.g. two data cores sharing one CPU.
            if self.lcores.contains('@') || self.lcores.contains('(') {
                a.push(format!("--lcores={}", self.lcores));
            } else {
                a.extend(["-l".into(), self.lcores.clone()]);
            }
        }
        if !self.file_prefix.is_empty() {
            a.push(format!("--file-prefix={}", self.file_prefix));
        }
        if self.memory_mb > 0 {
            a.extend(["-m".into(), self.memory_mb.to_string()]);
        }
        if self.in_memory {
            a.push("--in-memory".into());
        }
        if self.no_huge {
            a.push("--no-huge".into());
        }
        for v in &self.vdevs {
            a.push(format!("--vdev={v}"));
        }
        if self.pci_allow.is_empty() {
            a.push("--no-pci".into());
        }
        for p in &self.pci_allow {
            a.extend(["-a".into(), p.clone()]);
        }
        if let Some(l) = &self.log_level {
            a.push(format!("--log-level={l}"));
        }
        a
    }

    /// Settings EAL itself would reject, said in words before it tries.
    pub fn validate(&self) -> Result<(), String> {
        if self.no_huge && self.in_memory {
            return Err("eal: `no_huge` and `in_memory` cannot both be set (EAL rejects the pair)".into());
        }
        if self.file_prefix.contains('/') {
            return Err(format!("eal: file_prefix {:?} must not contain '/'", self.file_prefix));
        }
        Ok(())
    }
}

static STARTED: AtomicBool = AtomicBool::new(false);

/// A running EAL. Dropping it runs `rte_eal_cleanup`.
pub struct Eal {
    _private: (),
}

impl Eal {
    pub fn init(config: &EalConfig) -> Result<Eal, DpdkError> {
        config.validate().map_err(|e| DpdkError::new(e, 0))?;
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::new("EAL is already initialised in this process", 0));
        }
        let args: Vec<CString> = config
            .args()
            .into_iter()
            .map(|a| CString::new(a).map_err(|_| DpdkError::new("EAL argument contains a NUL byte", 0)))
            .collect::<Result<_, _>>()?;
        // EAL may keep and permute argv: hand it pointers that live forever.
        let mut argv: Vec<*mut std::ffi::c_char> = args.into_iter().map(CString::into_raw).collect();
        let argc = argv.len() as i32;
        let argv_ptr = argv.as_mut_ptr();
        std::mem::forget(argv);
        // SAFETY: argc/argv form a valid, leaked argument vector; called once.
        let rc = unsafe { dpdk_sys::rte_eal_init(argc, argv_ptr) };
        if rc < 0 {
            return Err(DpdkError::from_errno(format!(
                "EAL initialisation (args: {})",
                config.args().join(" ")
            )));
        }
        Ok(Eal { _private: () })
    }

    /// The worker lcores (every enabled lcore but the main one), in order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        // SAFETY: plain queries of EAL's lcore table after init.
        let main = unsafe { dpdk_sys::rte_get_main_lcore() };
        (0..dpdk_sys::RTE_MAX_LCORE)
            .filter(|&l| l != main && unsafe { dpdk_sys::rte_lcore_is_enabled(l) } != 0)
            .collect()
    }

    /// Runs `job` on worker lcore `lcore`. The lcore must be idle.
    pub fn launch(&self, lcore: u32, job: impl FnOnce() -> i32 + Send + 'static) -> Result<(), DpdkError> {
        type Job = Box<dyn FnOnce() -> i32 + Send>;
        extern "C" fn trampoline(arg: *mut c_void) -> i32 {
            // SAFETY: `arg` is the Box<Job> leaked below, taken back exactly once.
            let job: Box<Job> = unsafe { Box::from_raw(arg.cast::<Job>()) };
            job()
        }
        let arg = Box::into_raw(Box::new(Box::new(job) as Job)).cast::<c_void>();
        // SAFETY: the trampoline owns `arg`; on failure we take it back.
        let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if rc < 0 {
            // SAFETY: the launch failed, so the trampoline never ran.
            drop(unsafe { Box::from_raw(arg.cast::<Job>()) });
        }
        check(rc, || format!("launch a data core on lcore {lcore}")).map(|_| ())
    }

    /// Waits for every worker lcore's job to return.
    pub fn wait_all(&self) {
        // SAFETY: called from the main lcore.
        unsafe { dpdk_sys::rte_eal_mp_wait_lcore() };
    }

    /// TSC ticks per second, for the data cores' clocks.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: a query after init.
        unsafe { dpdk_sys::rte_get_tsc_hz() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: ports are closed by their own Drop before this runs (they
        // borrow the Eal), and no lcore is running a job.
        unsafe { dpdk_sys::rte_eal_cleanup() };
    }
}

/// The time-stamp counter: a data core's clock, read without a system call.
#[inline]
pub fn tsc() -> u64 {
    // SAFETY: reads the CPU's counter.
    unsafe { dpdk_sys::gslbd_rdtsc() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_follow_the_settings() {
        let c = EalConfig {
            lcores: "0-1".into(),
            file_prefix: "site1".into(),
            memory_mb: 256,
            in_memory: true,
            vdevs: vec!["net_null0".into()],
            ..EalConfig::default()
        };
        assert_eq!(
            c.args(),
            [
                "gslbd",
                "-l",
                "0-1",
                "--file-prefix=site1",
                "-m",
                "256",
                "--in-memory",
                "--vdev=net_null0",
                "--no-pci"
            ]
        );
    }

    #[test]
    fn lcore_to_cpu_maps_use_the_long_option() {
        let c = EalConfig { lcores: "0@0,1@1,2@1".into(), ..EalConfig::default() };
        assert_eq!(c.args()[1], "--lcores=0@0,1@1,2@1");
    }

    #[test]
    fn pairs_eal_rejects_are_refused_in_words() {
        let c = EalConfig { no_huge: true, in_memory: true, ..EalConfig::default() };
        assert!(c.validate().unwrap_err().contains("cannot both"));
    }
}
