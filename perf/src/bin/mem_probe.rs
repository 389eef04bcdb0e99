//! How many cache misses this machine overlaps, and whether they overlap with
//! work: the question that decides the flow table's cost at a million flows.
//!
//! Random 64-byte reads over a region allocated as the flow table is (an
//! anonymous mapping advised onto huge pages), each followed by some work
//! that stands in for a packet's processing, in two orders:
//! - `batch`: prefetch 32 lines, then read and work on each: the burst
//!   pipeline's order (one pass prefetches a burst, the next uses it);
//! - `rolling`: prefetch the line `--ahead` reads from now, then read and
//!   work on this one.
//!
//! Beside each region size the same loop runs over 1 MB (in cache), so the
//! work's own cost is measured in the same run.
//!
//! With `--one-per-page` the reads go to one line in each 4 KiB page (at a
//! different offset in each, so they spread over the cache's sets): the data
//! stays in L2 while the pages it spans grow, which shows what the address
//! translation costs. In a VM whose host backs the guest with small pages,
//! that is a nested page walk for every page the TLB no longer holds.

use std::hint::black_box;
use std::time::Instant;

use clap::Parser;
use dataplane::mem::ZeroedArray;
use dataplane::prefetch;

#[derive(Parser)]
#[command(about = "Random-read throughput over a region, batched or rolling prefetch, with work per read")]
struct Args {
    /// Region sizes in MiB.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,96,512")]
    mib: Vec<usize>,
    /// Rounds of work per read (one multiply and xor-shift each, about 1.7 ns here).
    #[arg(long, value_delimiter = ',', default_value = "0,8,16")]
    work: Vec<u32>,
    /// Reads per measurement.
    #[arg(long, default_value_t = 1 << 23)]
    reads: usize,
    /// How far ahead the rolling order prefetches.
    #[arg(long, default_value_t = 16)]
    ahead: usize,
    /// Read one line of each 4 KiB page only.
    #[arg(long)]
    one_per_page: bool,
}

#[repr(C, align(64))]
#[derive(Copy, Clone, bytemuck::Zeroable)]
struct Line([u64; 8]);

const BATCH: usize = 32;

#[inline(always)]
fn work(mut h: u64, rounds: u32) -> u64 {
    for k in 0..rounds {
        h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(u64::from(k));
        h ^= h >> 29;
    }
    h
}

fn batch(lines: &[Line], idx: &[u32], rounds: u32) -> u64 {
    let mut h = 1u64;
    for chunk in idx.chunks_exact(BATCH) {
        for &i in chunk {
            prefetch::read(&lines[i as usize]);
        }
        for &i in chunk {
            h = work(h ^ lines[i as usize].0[0], rounds);
        }
    }
    h
}

fn rolling(lines: &[Line], idx: &[u32], rounds: u32, ahead: usize) -> u64 {
    let mut h = 1u64;
    for (n, &i) in idx.iter().enumerate() {
        if let Some(&next) = idx.get(n + ahead) {
            prefetch::read(&lines[next as usize]);
        }
        h = work(h ^ lines[i as usize].0[0], rounds);
    }
    h
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let which = if args.one_per_page { "one line a 4 KiB page" } else { "any line" };
    println!(
        "ns per read: random 64-byte lines ({which}), {} reads, prefetch {} ahead when rolling",
        args.reads, args.ahead
    );
    println!("{:>8} {:>6} {:>12} {:>12} {:>14}", "MiB", "work", "batch of 32", "rolling", "work in 1 MiB");
    let small = region(1)?;
    for &mib in &args.mib {
        let lines = region(mib)?;
        let idx = indices(args.reads, lines.len(), args.one_per_page);
        let idx_small = indices(args.reads, small.len(), args.one_per_page);
        for &rounds in &args.work {
            let b = per_read(args.reads, || batch(&lines, &idx, rounds));
            let r = per_read(args.reads, || rolling(&lines, &idx, rounds, args.ahead));
            let w = per_read(args.reads, || rolling(&small, &idx_small, rounds, args.ahead));
            println!("{mib:>8} {rounds:>6} {b:>12.2} {r:>12.2} {w:>14.2}");
        }
    }
    Ok(())
}

/// A region of `mib` MiB, every page touched so no fault is timed.
fn region(mib: usize) -> std::io::Result<ZeroedArray<Line>> {
    let mut lines = ZeroedArray::<Line>::new((mib << 20) / 64)?;
    for l in lines.iter_mut().step_by(4096 / 64) {
        l.0[0] = 1;
    }
    Ok(lines)
}

/// `n` pseudo-random line numbers below `len` (xorshift: no dependency, fixed
/// seed); with `per_page`, only one line of each 4 KiB page is ever chosen.
fn indices(n: usize, len: usize, per_page: bool) -> Vec<u32> {
    const LINES_A_PAGE: u64 = 4096 / 64;
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if per_page {
                let page = x % (len as u64 / LINES_A_PAGE).max(1);
                (page * LINES_A_PAGE + page * 37 % LINES_A_PAGE) as u32
            } else {
                (x % len as u64) as u32
            }
        })
        .collect()
}

/// Nanoseconds per read of `f`, best of three runs.
fn per_read(reads: usize, mut f: impl FnMut() -> u64) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64() * 1e9 / reads as f64
        })
        .fold(f64::INFINITY, f64::min)
}
