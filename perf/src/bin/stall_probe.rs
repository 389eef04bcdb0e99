//! How much CPU time the machine takes away from a thread that never sleeps:
//! the question behind a poll-mode benchmark whose tail latency is far worse
//! than its median.
//!
//! One thread per listed CPU, pinned, reads the monotonic clock in a tight
//! loop. Any gap between two reads longer than a few microseconds is time the
//! thread did not run: an interrupt, another task, or, in a VM, the host not
//! running the vCPU. Gaps are counted by size, and the long ones are listed
//! with when they happened, so a period shows (a host that caps the guest's
//! CPU time with a quota stops it for the rest of each period once the quota
//! is spent; on the machines this project is measured on, that is a stop of
//! about 100 ms, seen only while both vCPUs are busy).
//!
//! Run it with one CPU, then with all of them: the difference is what a
//! data core loses when the traffic generator (or anything else) is busy on
//! the other CPU.

use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
#[command(about = "Time a spinning, pinned thread per CPU loses to everything else")]
struct Args {
    /// CPUs to spin on, one thread each, all at once.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    cpus: Vec<usize>,
    /// How long to spin.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// List every gap at least this long (ms), with when it started.
    #[arg(long, default_value_t = 20)]
    list_ms: u64,
}

/// Gap sizes counted, in microseconds: a gap is counted in every class it
/// reaches.
const CLASSES_US: [u64; 5] = [10, 100, 1_000, 10_000, 50_000];

/// What one thread saw: gaps by class, the time lost in gaps of 10 µs or
/// more, the longest gap, and the long ones (start since the beginning, length).
#[derive(Default, Debug, PartialEq)]
struct Gaps {
    counts: [u64; CLASSES_US.len()],
    lost: Duration,
    longest: Duration,
    listed: Vec<(Duration, Duration)>,
}

impl Gaps {
    /// Accounts a gap of `gap` that began `at` after the start.
    fn add(&mut self, at: Duration, gap: Duration, list: Duration) {
        let us = gap.as_micros() as u64;
        if us < CLASSES_US[0] {
            return;
        }
        for (c, &limit) in self.counts.iter_mut().zip(&CLASSES_US) {
            if us >= limit {
                *c += 1;
            }
        }
        self.lost += gap;
        self.longest = self.longest.max(gap);
        if gap >= list {
            self.listed.push((at, gap));
        }
    }
}

/// Spins until `run` has passed, reading the clock as fast as it can.
fn spin(run: Duration, list: Duration) -> Gaps {
    let mut gaps = Gaps::default();
    let start = Instant::now();
    let mut last = start;
    loop {
        let now = Instant::now();
        gaps.add(last - start, now - last, list);
        last = now;
        if now - start >= run {
            return gaps;
        }
    }
}

fn pin(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it
    // for any cpu below CPU_SETSIZE, which the check below guarantees.
    unsafe {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    let run = Duration::from_secs(args.seconds);
    let list = Duration::from_millis(args.list_ms);
    let threads: Vec<_> = args
        .cpus
        .iter()
        .map(|&cpu| {
            std::thread::spawn(move || {
                pin(cpu).unwrap_or_else(|e| {
                    eprintln!("stall-probe: cannot pin a thread to CPU {cpu}: {e}");
                    std::process::exit(2);
                });
                (cpu, spin(run, list))
            })
        })
        .collect();
    let results: Vec<(usize, Gaps)> = threads.into_iter().map(|t| t.join().expect("spinner")).collect();

    println!(
        "{} s spinning on CPU(s) {:?}; gaps between clock reads, counted by size",
        args.seconds, args.cpus
    );
    println!(
        "{:>4} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>11}",
        "cpu", ">=10us", ">=100us", ">=1ms", ">=10ms", ">=50ms", "lost ms", "lost %", "longest ms"
    );
    for (cpu, g) in &results {
        let [a, b, c, d, e] = g.counts;
        println!(
            "{cpu:>4} {a:>9} {b:>9} {c:>9} {d:>9} {e:>9} {:>10.1} {:>8.2} {:>11.2}",
            g.lost.as_secs_f64() * 1e3,
            100.0 * g.lost.as_secs_f64() / run.as_secs_f64(),
            g.longest.as_secs_f64() * 1e3
        );
    }
    for (cpu, g) in &results {
        for (at, gap) in &g.listed {
            println!("  cpu {cpu}: stopped {:.1} ms at {:.3} s", gap.as_secs_f64() * 1e3, at.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_counted_in_every_class_they_reach_and_long_ones_listed() {
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        let mut g = Gaps::default();
        g.add(ms(0), us(3), ms(20)); // a clock read's own cost: not a gap
        g.add(ms(1), us(10), ms(20));
        g.add(ms(2), us(150), ms(20));
        g.add(ms(5), ms(12), ms(20));
        g.add(ms(900), ms(101), ms(20));
        assert_eq!(g.counts, [4, 3, 2, 2, 1]);
        assert_eq!(g.lost, us(10) + us(150) + ms(12) + ms(101));
        assert_eq!(g.longest, ms(101));
        assert_eq!(g.listed, vec![(ms(900), ms(101))]);
    }

    #[test]
    fn a_short_spin_returns_on_time_with_its_gaps_inside_it() {
        let run = Duration::from_millis(50);
        let t = Instant::now();
        let g = spin(run, Duration::from_millis(1));
        let took = t.elapsed();
        assert!(took >= run, "spun {took:?}, asked {run:?}");
        assert!(g.lost <= took, "lost {:?} of {took:?}", g.lost);
        assert!(g.listed.iter().all(|(at, gap)| *at + *gap <= took));
    }
}
