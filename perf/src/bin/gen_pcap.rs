//! Writes a capture for replay by DPDK's pcap driver (`infinite_rx=1`): one
//! 64-byte frame per flow, in a fixed random order. UDP by default: the first
//! pass of the replay opens the flows, every later pass is established
//! traffic (flow-table hits). With `--tcp`, a SYN then a data segment per flow.

use std::fs::File;
use std::io::BufWriter;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use dataplane::lab::frames::{tcp, udp};
use dataplane::wire::tcp::flags::{ACK, PSH, SYN};
use dataplane::wire::MacAddr;
use gslbd_perf::{client_addr, random_order, PAYLOAD};
use pcap_file::pcap::{PcapPacket, PcapWriter};

#[derive(Parser)]
#[command(about = "Write a pcap of N TCP flows to a VIP, for DPDK's pcap driver")]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    flows: u32,
    /// Destination MAC: the appliance's data port.
    #[arg(long)]
    dst_mac: MacAddr,
    #[arg(long, default_value_t = Ipv4Addr::new(192, 0, 2, 10))]
    vip: Ipv4Addr,
    #[arg(long, default_value_t = 80)]
    port: u16,
    #[arg(long)]
    out: PathBuf,
    /// TCP flows (a SYN and a data segment each) instead of UDP.
    #[arg(long)]
    tcp: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let client_mac = MacAddr([0x02, 0, 0, 0, 0x0c, 0x01]);
    let vip = SocketAddrV4::new(a.vip, a.port);
    let mut w = PcapWriter::new(BufWriter::new(File::create(&a.out)?))?;
    let order = random_order(a.flows);
    let mut n = 0u64;
    let passes: &[(u8, &[u8])] = if a.tcp { &[(SYN, b""), (PSH | ACK, PAYLOAD)] } else { &[(0, PAYLOAD)] };
    for &(flags, data) in passes {
        for &i in &order {
            let mut f = if a.tcp {
                tcp(client_mac, a.dst_mac, client_addr(i), vip, flags, 1, 1, data)
            } else {
                // 14 + 20 + 8 + 18 bytes of data: 60, as a TCP frame with 6.
                udp(client_mac, a.dst_mac, client_addr(i), vip, b"gslbd-udp-payload!")
            };
            f.resize(60, 0); // padded to Ethernet's minimum, as on the wire
            w.write_packet(&PcapPacket::new(Duration::from_micros(n), f.len() as u32, &f))?;
            n += 1;
        }
    }
    eprintln!("{}: {n} frames, {} flows", a.out.display(), a.flows);
    Ok(())
}
