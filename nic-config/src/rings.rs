//! Hand-off rings between data cores: one per core, many producers (every
//! other core) and one consumer (its owner), as DPDK's lock-free `rte_ring`.

use std::ffi::CString;
use std::sync::Arc;

use dpdk_sys as sys;

use crate::error::DpdkError;

pub struct Rings {
    rings: Vec<*mut sys::rte_ring>,
}

// SAFETY: rte_rings are made for concurrent use from many lcores: each
// producer enqueues through the multi-producer path, and only its owner
// dequeues (single consumer), as the rings are created.
unsafe impl Send for Rings {}
unsafe impl Sync for Rings {}

impl Rings {
    /// A ring of `size` slots (a power of two) for each of `cores` data cores.
    pub fn new(cores: usize, size: u32) -> Result<Arc<Rings>, DpdkError> {
        let mut rings = Rings { rings: Vec::with_capacity(cores) };
        for i in 0..cores {
            let name = CString::new(format!("gslbd_handoff_{i}")).expect("no NUL");
            // SAFETY: valid name; NULL (with rte_errno) on failure.
            let r =
                unsafe { sys::rte_ring_create(name.as_ptr(), size, sys::SOCKET_ID_ANY, sys::RING_F_SC_DEQ) };
            if r.is_null() {
                return Err(DpdkError::from_errno(format!("create hand-off ring {i} ({size} slots)")));
            }
            rings.rings.push(r);
        }
        Ok(Arc::new(rings))
    }

    pub(crate) fn get(&self, core: usize) -> Option<*mut sys::rte_ring> {
        self.rings.get(core).copied()
    }
}

impl Drop for Rings {
    fn drop(&mut self) {
        for &r in &self.rings {
            // SAFETY: no data core runs any more; mbufs left in a ring go
            // back with the mempool when the port closes.
            unsafe { sys::rte_ring_free(r) };
        }
    }
}
