//! An in-memory network for tests and the demo: real data-path workers, scripted
//! hosts, and the two-site topology of the Alteon GSLB chapter.

pub mod frames;
pub mod net;
pub mod seed;
