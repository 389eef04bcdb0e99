//! The README's main-job command: the two-site demo prints the six steps with
//! the addresses the GSLB chapter describes.

use std::process::Command;

#[test]
fn demo_prints_the_six_steps_with_real_addresses() {
    let out = Command::new(env!("CARGO_BIN_EXE_gslbd")).arg("demo").output().expect("run gslbd demo");
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let step = |n: u32| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("step {n} ")))
            .unwrap_or_else(|| panic!("no step {n} line in:\n{text}"))
            .to_string()
    };
    assert!(step(1).contains("198.51.100.7:40110 > 192.0.2.10:110 [S]"), "{}", step(1));
    assert!(step(2).contains("site1 -> site2") && step(2).contains("192.0.2.200:"), "{}", step(2));
    assert!(step(2).contains("> 203.0.113.10:110 [S]"), "{}", step(2));
    assert!(step(3).contains("> 10.2.0.1"), "{}", step(3));
    assert!(step(5).contains("203.0.113.10:110 > 192.0.2.200:"), "{}", step(5));
    assert!(
        step(6).contains("site1 -> client") && step(6).contains("192.0.2.10:110 > 198.51.100.7:40110 [S.]")
    );
    assert!(text.contains("site1: flows now 0, proxy flows made 1"), "{text}");
    assert!(text.contains("PIP ports in use 0, drops 0"), "{text}");
    // Once site 1's servers are back, the new session goes to one of them.
    let last = text.lines().last().expect("output");
    assert!(last.contains("site1 -> pop1"), "{last}");
}
