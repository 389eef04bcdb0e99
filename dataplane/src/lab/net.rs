//! A whole network in memory: appliances (real `Worker`s over `MemoryPort`s)
//! and hosts on one Ethernet segment, frames delivered by destination MAC.
//!
//! Hosts are mailboxes: a test reads what reached a host and answers for it,
//! so every packet of a conversation can be asserted. Every delivery is
//! recorded in `trace`, which is what the demo prints.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use super::frames::Summary;
use crate::pipeline::{Core, CoreConfig};
use crate::port::MemoryPort;
use crate::snapshot::{Publisher, Snapshot};
use crate::wire::{EthernetFrame, MacAddr};
use crate::worker::Worker;

pub struct Appliance {
    pub name: String,
    pub mac: MacAddr,
    pub publisher: Publisher,
    pub worker: Worker<MemoryPort>,
}

impl Appliance {
    /// Applies `change` to a copy of the current snapshot and publishes it.
    pub fn update(&mut self, change: impl FnOnce(&mut Snapshot)) {
        let mut next = (*self.publisher.current()).clone();
        change(&mut next);
        match next.build() {
            Ok(s) => {
                self.publisher.publish(s);
            }
            Err(e) => panic!("lab snapshot for {} is invalid: {e}", self.name),
        }
    }

    pub fn snapshot(&self) -> std::sync::Arc<Snapshot> {
        self.publisher.current()
    }
}

pub struct Host {
    pub name: String,
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub inbox: VecDeque<Vec<u8>>,
}

/// One frame crossing the segment.
#[derive(Clone, Debug)]
pub struct Hop {
    pub from: String,
    pub to: String,
    pub frame: Vec<u8>,
}

impl Hop {
    pub fn summary(&self) -> Option<Summary> {
        Summary::parse(&self.frame)
    }
}

#[derive(Default)]
pub struct Lab {
    pub now_ms: u64,
    pub appliances: Vec<Appliance>,
    pub hosts: Vec<Host>,
    pub trace: Vec<Hop>,
    /// Frames whose destination MAC nobody has.
    pub lost: Vec<Vec<u8>>,
    /// Appliances whose link is down: frames to and from them are lost.
    pub cut: Vec<String>,
}

impl Lab {
    pub fn add_host(&mut self, name: &str, mac: MacAddr, ip: Ipv4Addr) {
        self.hosts.push(Host { name: name.into(), mac, ip, inbox: VecDeque::new() });
    }

    /// Adds an appliance running one data core over `snapshot`.
    pub fn add_appliance(&mut self, name: &str, snapshot: Snapshot, config: CoreConfig) {
        let mac = snapshot.mac;
        let publisher = Publisher::new(snapshot);
        let core = Core::with_port_share(config, &publisher.current(), self.now_ms)
            .unwrap_or_else(|e| panic!("no memory for {name}'s flow table: {e}"));
        let worker = Worker::new(core, MemoryPort::new(4096), publisher.subscribe());
        self.appliances.push(Appliance { name: name.into(), mac, publisher, worker });
    }

    pub fn appliance(&mut self, name: &str) -> &mut Appliance {
        let i = self.appliances.iter().position(|a| a.name == name);
        &mut self.appliances[i.unwrap_or_else(|| panic!("no appliance {name}"))]
    }

    pub fn host(&mut self, name: &str) -> &mut Host {
        let i = self.hosts.iter().position(|h| h.name == name);
        &mut self.hosts[i.unwrap_or_else(|| panic!("no host {name}"))]
    }

    fn name_of(&self, mac: MacAddr) -> Option<String> {
        self.appliances
            .iter()
            .map(|a| (&a.name, a.mac))
            .chain(self.hosts.iter().map(|h| (&h.name, h.mac)))
            .find(|&(_, m)| m == mac)
            .map(|(n, _)| n.clone())
    }

    /// Puts a frame on the wire from `from`, and lets the appliances run
    /// until nothing more moves.
    pub fn send(&mut self, from: &str, frame: Vec<u8>) {
        self.deliver(from, frame);
        self.settle();
    }

    fn deliver(&mut self, from: &str, frame: Vec<u8>) {
        let Ok(eth) = EthernetFrame::new_checked(&frame[..]) else {
            self.lost.push(frame);
            return;
        };
        let dst = eth.dst_addr();
        let targets: Vec<String> = if dst.is_broadcast() {
            let all = self
                .appliances
                .iter()
                .map(|a| a.name.clone())
                .chain(self.hosts.iter().map(|h| h.name.clone()));
            all.filter(|n| n != from).collect()
        } else {
            self.name_of(dst).into_iter().collect()
        };
        if targets.is_empty() || self.cut.iter().any(|c| c == from) {
            self.lost.push(frame);
            return;
        }
        for to in targets {
            self.trace.push(Hop { from: from.into(), to: to.clone(), frame: frame.clone() });
            if self.cut.contains(&to) {
                continue;
            }
            if let Some(a) = self.appliances.iter_mut().find(|a| a.name == to) {
                a.worker.port.inject(&frame);
            } else if let Some(h) = self.hosts.iter_mut().find(|h| h.name == to) {
                h.inbox.push_back(frame.clone());
            }
        }
    }

    /// Polls every appliance and delivers what they send until all are idle.
    pub fn settle(&mut self) {
        for _ in 0..1000 {
            let mut moved = 0;
            for i in 0..self.appliances.len() {
                let now = self.now_ms;
                let a = &mut self.appliances[i];
                moved += a.worker.poll(now);
                let name = a.name.clone();
                for f in a.worker.port.take_tx() {
                    moved += 1;
                    self.deliver(&name, f);
                }
            }
            if moved == 0 {
                return;
            }
        }
        panic!("the lab network never settled (a forwarding loop?)");
    }

    /// Lets `ms` pass and the appliances age their flows.
    pub fn advance(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms = (self.now_ms + 100).min(end);
            self.settle();
        }
    }

    /// Takes everything that reached `host`.
    pub fn take_inbox(&mut self, host: &str) -> Vec<Vec<u8>> {
        self.host(host).inbox.drain(..).collect()
    }

    /// Takes the single frame that reached `host`, or panics saying what did.
    pub fn take_one(&mut self, host: &str) -> Summary {
        let got = self.take_inbox(host);
        assert_eq!(got.len(), 1, "{host} expected one frame, got {}: {:?}", got.len(), summaries(&got));
        Summary::parse(&got[0]).unwrap_or_else(|| panic!("{host} got a frame that is not TCP/UDP/ICMP"))
    }
}

pub fn summaries(frames: &[Vec<u8>]) -> Vec<String> {
    frames
        .iter()
        .map(|f| Summary::parse(f).map_or_else(|| format!("{} bytes", f.len()), |s| s.to_string()))
        .collect()
}
