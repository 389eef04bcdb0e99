//! `gslbd ctl`: the admin API from the command line.

use std::net::SocketAddr;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum Ctl {
    /// Services, real servers (state, health), data cores (flows).
    Status,
    /// Take a real server out of service gracefully: no new connections.
    Disable { server: String },
    /// Put a disabled real server back in service.
    Enable { server: String },
    /// Reload the configuration file (as SIGHUP).
    Reload,
}

pub fn run(addr: SocketAddr, cmd: &Ctl) -> Result<(), String> {
    let base = format!("http://{addr}");
    let result = match cmd {
        Ctl::Status => ureq::get(&format!("{base}/api/status")).call(),
        Ctl::Disable { server } => ureq::post(&format!("{base}/api/servers/{server}/disable")).call(),
        Ctl::Enable { server } => ureq::post(&format!("{base}/api/servers/{server}/enable")).call(),
        Ctl::Reload => ureq::post(&format!("{base}/api/reload")).call(),
    };
    let body = match result {
        Ok(r) => r.into_string().map_err(|e| e.to_string())?,
        Err(ureq::Error::Status(code, r)) => {
            let text = r.into_string().unwrap_or_default();
            return Err(format!("{addr} answered {code}: {text}"));
        }
        Err(e) => return Err(format!("cannot reach the admin API at {addr}: {e}")),
    };
    let value: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("not JSON from {addr}: {e}"))?;
    println!("{}", serde_json::to_string_pretty(&value).unwrap_or(body));
    Ok(())
}
