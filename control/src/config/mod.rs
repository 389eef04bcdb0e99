//! The configuration file: TOML, checked whole at load. Every error names the
//! file, the line and column, and what was expected there.

mod check;
mod dns;
mod error;
#[cfg(test)]
mod tests;

pub use dns::{name as dns_name, AllDown, AnswerOn, Dns, Rule};
pub use error::ConfigError;

use std::net::Ipv4Addr;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

/// A loaded, validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub file: File,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
        Config::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::toml(path, text, &e))?;
        check::check(&file).map_err(|(span, msg)| ConfigError::at(path, text, span, msg))?;
        Ok(Config { file })
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub eal: Eal,
    pub port: Port,
    pub kernel: Option<Kernel>,
    #[serde(default)]
    pub flows: Flows,
    pub site: Site,
    pub management: Option<Management>,
    pub site_state: Option<SiteState>,
    #[serde(default, rename = "remote_site")]
    pub remote_sites: Vec<RemoteSite>,
    #[serde(default, rename = "real_server")]
    pub real_servers: Vec<RealServer>,
    #[serde(default, rename = "group")]
    pub groups: Vec<Group>,
    #[serde(default, rename = "service")]
    pub services: Vec<Service>,
    pub dns: Option<Dns>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eal {
    /// Lcores as EAL's `-l`: the first is the control thread, the rest data cores.
    pub lcores: Spanned<String>,
    pub file_prefix: String,
    #[serde(default)]
    pub memory_mb: u32,
    #[serde(default)]
    pub in_memory: bool,
    #[serde(default)]
    pub no_huge: bool,
    #[serde(default)]
    pub vdevs: Vec<String>,
    #[serde(default)]
    pub pci_allow: Vec<String>,
    pub log_level: Option<String>,
}

fn d1024() -> u16 {
    1024
}
fn d_mbufs() -> u32 {
    8191
}
fn d_link() -> u64 {
    5000
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub device: String,
    #[serde(default = "d1024")]
    pub rx_descriptors: u16,
    #[serde(default = "d1024")]
    pub tx_descriptors: u16,
    #[serde(default = "d_mbufs")]
    pub mbufs: u32,
    /// Bytes per mbuf, 128 of headroom included (default 2176: a 1518-byte frame).
    pub mbuf_size: Option<u16>,
    pub mtu: Option<u16>,
    #[serde(default = "d_link")]
    pub link_timeout_ms: u64,
}

/// The exception path: a TAP device whose kernel side holds the appliance's own addresses.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    pub device: String,
    /// "address/prefix", one per subnet the appliance talks to itself.
    pub addresses: Vec<Spanned<String>>,
    /// A network namespace for the TAP interface (created if missing): the
    /// own addresses then belong to a kernel of their own, which two
    /// appliances on one host need. Health checks and site-state reports
    /// use sockets in it.
    pub netns: Option<String>,
    /// Kernel routes for the appliance's own traffic, "PREFIX via GATEWAY"
    /// (e.g. to the other sites' own addresses).
    #[serde(default)]
    pub routes: Vec<Spanned<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Flows {
    /// Flows per data core.
    pub capacity: u32,
    /// How long an idle data core naps: between polls without files to
    /// sleep on, and as the first sleep after work while sleeps gather
    /// bursts (`run/idle.rs`).
    pub idle_sleep_us: u64,
    /// Empty polls before a data core starts sleeping (a quarter of them
    /// while its sleeps gather single packets and its files wake it).
    pub idle_polls: u32,
    /// Longest sleep of an idle data core on its queues' files (one data
    /// core on net_af_packet): each such sleep that ends with nothing
    /// doubles the next, from `idle_sleep_us`. It bounds how late the flow
    /// expiry clock is seen when idle.
    pub idle_sleep_max_us: u64,
    /// Whether an idle data core sleeps on its queues' kernel files (where
    /// they can be found) until a frame arrives, or keeps napping
    /// `idle_sleep_us` at a time.
    pub wake_on_arrival: bool,
    /// Idle timeouts per state. A flow is aged no sooner than its timeout
    /// after its last packet and at most 1/64 of it later (the table renews
    /// an expiry only once that slack is used up).
    pub syn_timeout_s: u32,
    pub established_timeout_s: u32,
    pub fin_timeout_s: u32,
    pub closed_timeout_s: u32,
    pub udp_timeout_s: u32,
}

impl Default for Flows {
    fn default() -> Self {
        let t = dataplane::flow::Timeouts::default();
        Flows {
            capacity: 1 << 20,
            idle_sleep_us: 50,
            idle_polls: 100,
            idle_sleep_max_us: 1000,
            wake_on_arrival: true,
            syn_timeout_s: t.syn_ms / 1000,
            established_timeout_s: t.established_ms / 1000,
            fin_timeout_s: t.fin_ms / 1000,
            closed_timeout_s: t.closed_ms / 1000,
            udp_timeout_s: t.udp_ms / 1000,
        }
    }
}

/// The site-state protocol: reports to and from the other sites' appliances.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteState {
    /// One of the own addresses, and a port (every site uses the same key).
    pub listen: std::net::SocketAddr,
    /// Shared secret for HMAC-SHA256.
    pub key: String,
    #[serde(default = "d_report_ms")]
    pub interval_ms: u64,
    /// Intervals without a valid report before a site is unreachable.
    #[serde(default = "d_misses")]
    pub misses: u32,
}

fn d_report_ms() -> u64 {
    1000
}
fn d_misses() -> u32 {
    3
}

/// Another site: where its appliance reports from, and how to reach its VIPs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSite {
    pub name: Spanned<String>,
    /// Its `site_state.listen`: its reports say whether it is reachable and
    /// which of its services are up.
    pub peer: Option<std::net::SocketAddr>,
    /// No reports: the site and every service named for it are taken as up.
    /// For a site that runs no site-state protocol (another vendor's VIP, a
    /// benchmark's reflector), where something else watches it.
    #[serde(default)]
    pub assume_up: bool,
    /// The router on our segment towards its VIPs (MAC learned from the kernel).
    pub next_hop: Ipv4Addr,
    /// A fixed MAC for `next_hop` instead.
    pub next_hop_mac: Option<Spanned<String>>,
}

/// Where a service's connections go when this site has no server for them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    pub site: Spanned<String>,
    pub vip: Ipv4Addr,
    /// Default: the service's port.
    pub port: Option<u16>,
    /// The service's name at that site (default: the same name).
    pub service: Option<String>,
    /// The host a redirect names (default: `vip`); `:port` follows it when
    /// the port is not 80.
    pub host: Option<Spanned<String>>,
}

/// The management interface: Prometheus `/metrics` and the admin API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Management {
    /// e.g. "127.0.0.1:9180", or one of the own addresses.
    pub listen: std::net::SocketAddr,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: String,
    #[serde(default)]
    pub pips: Vec<Spanned<Ipv4Addr>>,
}

#[derive(Copy, Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    #[default]
    Up,
    Down,
    /// No new connections; existing ones finish.
    Disabled,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealServer {
    pub name: Spanned<String>,
    pub address: Ipv4Addr,
    /// A fixed next-hop MAC (otherwise learned from the kernel's neighbour table).
    pub mac: Option<Spanned<String>>,
    #[serde(default)]
    pub max_connections: u32,
    /// The operator's say: `down` and `disabled` override the health check.
    #[serde(default)]
    pub state: ServerState,
    /// How the server's health is checked; without one it is taken as up.
    pub health: Option<HealthCheck>,
}

#[derive(Copy, Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The port accepts a connection.
    #[default]
    Tcp,
    /// GET `path` answers `expect_status` (and contains `expect_body`).
    Http,
    /// `+OK` greeting; with `user`/`password`, a login.
    Pop3,
    /// `220` greeting.
    Smtp,
    /// `* OK` greeting; with `user`/`password`, a login.
    Imap,
    /// An ICMP echo is answered (raw socket: needs CAP_NET_RAW, as DPDK does).
    Icmp,
    /// A UDP query for `query` (type `query_type`, default A) is answered NOERROR.
    Dns,
}

/// Alteon's defaults: a check every 2 s, down after 4 misses.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheck {
    #[serde(rename = "type")]
    pub kind: CheckKind,
    /// Port to check (default: the protocol's: 80, 110, 25, 143; required for tcp).
    pub port: Option<u16>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Failed checks in a row before an up server is marked down.
    pub fall: u32,
    /// Passed checks in a row before a down server is marked up (the very
    /// first pass brings a new server up at once).
    pub rise: u32,
    pub path: Option<String>,
    pub host: Option<String>,
    pub expect_status: Option<u16>,
    pub expect_body: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The name a `dns` check asks for.
    pub query: Option<String>,
    /// Its record type (A, AAAA, NS, SOA, MX, TXT, ...; default A).
    pub query_type: Option<String>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            kind: CheckKind::Tcp,
            port: None,
            interval_ms: 2000,
            timeout_ms: 1000,
            fall: 4,
            rise: 2,
            path: None,
            host: None,
            expect_status: None,
            expect_body: None,
            user: None,
            password: None,
            query: None,
            query_type: None,
        }
    }
}

impl HealthCheck {
    /// The port probed; ICMP has none and reports 0.
    pub fn port(&self) -> Option<u16> {
        self.port.or(match self.kind {
            CheckKind::Tcp => None,
            CheckKind::Icmp => Some(0),
            CheckKind::Dns => Some(53),
            CheckKind::Http => Some(80),
            CheckKind::Pop3 => Some(110),
            CheckKind::Smtp => Some(25),
            CheckKind::Imap => Some(143),
        })
    }
}

#[derive(Copy, Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    RoundRobin,
    WeightedRoundRobin,
    LeastConnections,
    SourceHash,
    Maglev,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: Spanned<String>,
    pub method: Method,
    /// Real server names, each optionally `name:weight` (weight 1 if omitted).
    pub members: Vec<Spanned<String>>,
    /// A real server or another group used when no member can take a connection.
    pub backup: Option<Spanned<String>>,
}

#[derive(Copy, Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Copy, Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Refuse {
    Drop,
    #[default]
    Reset,
    Unreachable,
}

#[derive(Copy, Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnServerDown {
    Drop,
    #[default]
    Keep,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub vip: Spanned<Ipv4Addr>,
    pub port: u16,
    pub protocol: Protocol,
    pub group: Spanned<String>,
    pub real_port: Option<u16>,
    #[serde(default)]
    pub refuse: Refuse,
    #[serde(default)]
    pub on_server_down: OnServerDown,
    /// Other sites' VIPs for this service, in order of preference.
    #[serde(default)]
    pub remotes: Vec<Remote>,
    /// HTTP only: with no local server, answer `302 Found` to the first
    /// available remote instead of proxying the connection through a PIP.
    pub redirect: Option<Spanned<bool>>,
}

impl Service {
    pub fn redirects(&self) -> bool {
        self.redirect.as_ref().is_some_and(|r| *r.get_ref())
    }
}

/// A group member as written: `name` or `name:weight`.
pub fn member(spec: &str) -> Result<(&str, u32), String> {
    match spec.split_once(':') {
        None => Ok((spec, 1)),
        Some((name, w)) => w.parse::<u32>().map(|w| (name, w)).map_err(|_| {
            format!("expected `name` or `name:weight` with a whole-number weight, found {spec:?}")
        }),
    }
}

/// An address with its prefix length, as in "10.1.0.1/24".
pub fn cidr(spec: &str) -> Result<(Ipv4Addr, u8), String> {
    let bad =
        || format!("expected an IPv4 address with a prefix length, like \"10.1.0.1/24\", found {spec:?}");
    let (a, p) = spec.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let prefix: u8 = p.parse().map_err(|_| bad())?;
    if prefix > 32 {
        return Err(bad());
    }
    Ok((addr, prefix))
}

/// A kernel route as written: "203.0.113.0/24 via 198.51.100.254".
pub fn route(spec: &str) -> Result<((Ipv4Addr, u8), Ipv4Addr), String> {
    let bad = || {
        format!("expected \"PREFIX via GATEWAY\", like \"203.0.113.0/24 via 198.51.100.254\", found {spec:?}")
    };
    let mut words = spec.split_whitespace();
    let (Some(dst), Some("via"), Some(gw), None) = (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(bad());
    };
    Ok((cidr(dst).map_err(|_| bad())?, gw.parse().map_err(|_| bad())?))
}
