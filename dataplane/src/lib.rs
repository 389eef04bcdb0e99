//! gslbd data path, in pure Rust: no DPDK, no root, no `unsafe` FFI.
//!
//! A data core (`worker::Worker`) reads bursts from a `port::Port`, classifies
//! each frame (`pipeline`), looks it up in its own `flow::FlowTable`, and
//! translates it: to a local real server, or through a proxy IP to another
//! site's VIP, following the newest `snapshot::Snapshot` the control side
//! has published.

pub mod checksum;
pub mod counters;
pub mod flow;
pub mod hash;
pub mod lab;
pub mod mem;
pub mod pip;
pub mod pipeline;
pub mod port;
pub mod prefetch;
pub mod responder;
pub mod rss;
pub mod select;
pub mod snapshot;
pub mod turnaround;
pub mod wire;
pub mod worker;
