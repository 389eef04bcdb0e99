//! The `gslbd` binary: the appliance (`run`), configuration checking, and the
//! in-memory two-site demonstration.

mod admin;
#[cfg(test)]
mod alloc_count;
mod config;
mod ctl;
mod demo;
mod dns;
mod health;
mod kernel;
mod metrics;
mod redirect;
mod run;
mod sitestate;
mod snapshot;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gslbd", version, about = "Global server load balancer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the appliance on DPDK ports (needs root and hugepages).
    Run {
        /// The configuration file (see examples/).
        #[arg(long, short)]
        config: PathBuf,
        /// Print the data port's packet rates every this many seconds.
        #[arg(long, value_name = "SECONDS")]
        stats_interval: Option<f64>,
    },
    /// Talk to a running appliance's admin API.
    Ctl {
        /// The management address (`[management] listen`).
        #[arg(long, default_value = "127.0.0.1:9180")]
        addr: std::net::SocketAddr,
        #[command(subcommand)]
        command: ctl::Ctl,
    },
    /// Check a configuration file and exit: 0 if it is valid.
    CheckConfig { file: PathBuf },
    /// Two sites in memory: a POP3 session to site 1, whose servers are down,
    /// served by site 2 through site 1's proxy IP, packet by packet.
    Demo,
}

fn main() {
    let result = match Cli::parse().command {
        Command::Run { config, stats_interval } => {
            run::run(&config, stats_interval.map(std::time::Duration::from_secs_f64))
        }
        Command::CheckConfig { file } => config::Config::load(&file)
            .map(|c| {
                let f = &c.file;
                println!(
                    "{}: valid ({} real servers, {} groups, {} services)",
                    file.display(),
                    f.real_servers.len(),
                    f.groups.len(),
                    f.services.len()
                );
            })
            .map_err(|e| e.to_string()),
        Command::Demo => demo::run(),
        Command::Ctl { addr, command } => ctl::run(addr, &command),
    };
    if let Err(e) = result {
        eprintln!("gslbd: {e}");
        std::process::exit(1);
    }
}
