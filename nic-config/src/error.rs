//! Errors from DPDK calls, with the call that failed and DPDK's own reason.

use std::ffi::CStr;
use std::fmt;

#[derive(Debug)]
pub struct DpdkError {
    /// What was being done, e.g. "configure port net_tap0".
    pub what: String,
    /// The negative errno DPDK returned (or `rte_errno`), 0 if none.
    pub code: i32,
}

impl DpdkError {
    pub fn new(what: impl Into<String>, code: i32) -> DpdkError {
        DpdkError { what: what.into(), code }
    }

    /// For calls that return NULL or -1 and leave the reason in `rte_errno`.
    pub fn from_errno(what: impl Into<String>) -> DpdkError {
        // SAFETY: reads the calling thread's rte_errno.
        let code = unsafe { dpdk_sys::gslbd_errno() };
        DpdkError::new(what, -code.abs())
    }
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code == 0 {
            return write!(f, "{}", self.what);
        }
        // SAFETY: rte_strerror returns a pointer to a static or thread-local string.
        let reason = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(self.code.abs())) };
        write!(f, "{}: {} (errno {})", self.what, reason.to_string_lossy(), self.code.abs())
    }
}

impl std::error::Error for DpdkError {}

/// Turns a DPDK return code (negative errno on failure) into a result.
pub fn check(rc: i32, what: impl FnOnce() -> String) -> Result<i32, DpdkError> {
    if rc < 0 {
        Err(DpdkError::new(what(), rc))
    } else {
        Ok(rc)
    }
}
