//! The `gslbd` binary. Until the appliance runs on DPDK ports, its one job is
//! the in-memory two-site demonstration of proxy-IP forwarding.

mod demo;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gslbd", version, about = "Global server load balancer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Two sites in memory: a POP3 session to site 1, whose servers are down,
    /// served by site 2 through site 1's proxy IP, packet by packet.
    Demo,
}

fn main() {
    match Cli::parse().command {
        Command::Demo => {
            if let Err(e) = demo::run() {
                eprintln!("gslbd demo: {e}");
                std::process::exit(1);
            }
        }
    }
}
