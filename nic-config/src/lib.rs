//! Everything that touches DPDK: EAL start-up, ports and their queues, and
//! the DPDK implementation of the data path's `Port`. Typed settings in,
//! running ports out; every failure says what was being done and why.

#[cfg(test)]
mod bell_test;
pub mod dns_rings;
pub mod doorbell;
pub mod eal;
pub mod error;
pub mod filebell;
pub mod port;
pub mod queue;
pub mod rings;
pub mod wake;

pub use dns_rings::DnsRings;
pub use eal::{tsc, Eal, EalConfig};
pub use error::DpdkError;
pub use port::{EthPort, PortConfig, PortStats};
pub use queue::{DpdkQueue, Mbuf};
pub use rings::Rings;
pub use wake::Waker;
