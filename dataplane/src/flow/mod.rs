//! The per-core flow table: fixed capacity, one owner, no locks, aged by a timer wheel.

mod entry;
mod held;
mod key;
mod state;
mod table;
mod wheel;

pub use entry::{Flow, Path};
pub use key::{FlowKey, Tuple};
pub use state::{State, Timeouts};
pub use table::{Dir, FlowTable, Hit, InsertError, Probe};
