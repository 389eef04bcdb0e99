//! Raw FFI to the system DPDK (22.11 LTS), generated at build time.
//!
//! Only what gslbd uses is bound (see the allow lists in `build.rs`), plus
//! `gslbd_*` wrappers (`shim.c`) for DPDK's static-inline fast paths. Safe
//! wrappers live in `nic-config`; nothing here is safe to call by itself.

#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code)]
#![allow(clippy::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
