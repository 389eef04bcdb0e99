//! The site-state protocol between appliances: each site reports, to every
//! peer, the health of its services and its load, periodically and at once
//! on a change; reports are authenticated and replay-protected, and a peer
//! not heard from for `misses` intervals is unreachable. What it learns feeds
//! the data path's proxy decision through the snapshot.

pub mod node;
pub mod peer;
pub mod wire;
