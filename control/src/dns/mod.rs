//! The authoritative DNS of the GSLB: the appliance answers for the
//! configured host names with the VIP of the site that should serve the
//! client now (by health, the site-state protocol's reports, load, the
//! client's subnet), and for its zones' SOA and NS.

mod answer;
mod cache;
mod inline;
mod ring;
mod select;
mod server;
mod service;
mod view;

pub use inline::InlineResponder;
pub use ring::{Idle, RingServer};
pub use server::{DnsServer, DnsStats, SharedView};
pub use service::{explain, local_health, Dns, DnsHandle};
pub use view::{DnsView, SiteInputs};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_inline;
