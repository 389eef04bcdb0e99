//! `gslbd run`: the appliance. Configuration → EAL → ports → one data core
//! per worker lcore → the control loop on the main lcore, until SIGINT or
//! SIGTERM; then everything stops in reverse and the counters are printed.

mod control;
mod cores;
mod devices;
mod idle;
mod state;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::config::Config;

pub fn run(path: &Path, stats_every: Option<Duration>) -> Result<(), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    // SIGINT and SIGTERM stop, SIGHUP reloads. (signal-hook rather than
    // ctrlc: ctrlc's "termination" feature also takes SIGHUP as a stop.)
    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [(SIGINT, &stop), (SIGTERM, &stop), (SIGHUP, &reload)] {
        signal_hook::flag::register(sig, Arc::clone(flag)).map_err(|e| format!("signal handler: {e}"))?;
    }
    let dev = devices::Devices::open(&config.file, path)?;
    let mut ctl = control::Control::start(path, config, &dev, &stop, stats_every)?;
    ctl.run(&dev, &stop, &reload);

    println!("stopping: waiting for the data cores");
    let (publisher, counters) = ctl.stop(&dev);
    dev.eal.wait_all();
    for (i, c) in counters.iter().enumerate() {
        let mut line = format!("data core {i}:");
        for (name, v) in c.nonzero() {
            line.push_str(&format!(" {name}={v}"));
        }
        println!("{line}");
    }
    dev.print_port_stats();
    drop(publisher);
    // Ports close, then EAL cleans up (the fields' order).
    drop(dev);
    Ok(())
}
