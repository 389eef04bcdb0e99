//! The site-state message (gslbd's counterpart of Alteon's DSSP): one UDP
//! datagram per report, authenticated with HMAC-SHA256 over a shared key.
//!
//! ```text
//!  0      4    5    6    7    8                16               24
//!  +------+----+----+----+----+----------------+----------------+
//!  |"GSSP"|ver |site| n  |rsvd| epoch (u64 BE) | seq (u64 BE)   |
//!  +------+----+----+----+----+----------------+----------------+
//!  | load (u16 BE, flows per thousand of capacity) | site name (site bytes) |
//!  | n services: name length (u8), name, healthy (u8: 0 or 1) ...          |
//!  | HMAC-SHA256 of everything before it (32 bytes)                        |
//! ```
//!
//! `epoch` is the sender's start time in nanoseconds: a restarted peer starts
//! a new epoch and its sequence numbers start over; within an epoch `seq`
//! only grows, which is what replay protection checks. Names are UTF-8, at
//! most 255 bytes. All integers are big-endian.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const MAGIC: &[u8; 4] = b"GSSP";
pub const VERSION: u8 = 1;
const TAG: usize = 32;
const FIXED: usize = 4 + 1 + 1 + 1 + 1 + 8 + 8 + 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub site: String,
    pub epoch: u64,
    pub seq: u64,
    pub load_permille: u16,
    /// (service name, healthy)
    pub services: Vec<(String, bool)>,
}

/// Why a datagram was refused (each is counted under its name).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    Malformed,
    BadVersion,
    BadMac,
    UnknownSite,
    Stale,
    Replayed,
}

impl Refusal {
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::BadVersion => "bad_version",
            Refusal::BadMac => "bad_mac",
            Refusal::UnknownSite => "unknown_site",
            Refusal::Stale => "stale",
            Refusal::Replayed => "replayed",
        }
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

pub fn encode(r: &Report, key: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(64 + r.services.len() * 16);
    b.extend_from_slice(MAGIC);
    b.push(VERSION);
    b.push(r.site.len().min(255) as u8);
    b.push(r.services.len().min(255) as u8);
    b.push(0);
    b.extend_from_slice(&r.epoch.to_be_bytes());
    b.extend_from_slice(&r.seq.to_be_bytes());
    b.extend_from_slice(&r.load_permille.to_be_bytes());
    b.extend_from_slice(&r.site.as_bytes()[..r.site.len().min(255)]);
    for (name, healthy) in r.services.iter().take(255) {
        let n = &name.as_bytes()[..name.len().min(255)];
        b.push(n.len() as u8);
        b.extend_from_slice(n);
        b.push(u8::from(*healthy));
    }
    let mut m = mac(key);
    m.update(&b);
    b.extend_from_slice(&m.finalize().into_bytes());
    b
}

/// Checks the tag, then parses. Never panics, whatever the bytes.
pub fn decode(d: &[u8], key: &[u8]) -> Result<Report, Refusal> {
    if d.len() < FIXED + TAG || &d[..4] != MAGIC {
        return Err(Refusal::Malformed);
    }
    if d[4] != VERSION {
        return Err(Refusal::BadVersion);
    }
    let (body, tag) = d.split_at(d.len() - TAG);
    let mut m = mac(key);
    m.update(body);
    m.verify_slice(tag).map_err(|_| Refusal::BadMac)?;

    let (site_len, n) = (usize::from(body[5]), usize::from(body[6]));
    let u64_at = |at: usize| body.get(at..at + 8).and_then(|s| s.try_into().ok()).map(u64::from_be_bytes);
    let epoch = u64_at(8).ok_or(Refusal::Malformed)?;
    let seq = u64_at(16).ok_or(Refusal::Malformed)?;
    let load_permille = u16::from_be_bytes([body[24], body[25]]);
    let mut at = FIXED;
    let text = |at: usize, len: usize| {
        body.get(at..at + len)
            .and_then(|s| std::str::from_utf8(s).ok())
            .map(str::to_string)
            .ok_or(Refusal::Malformed)
    };
    let site = text(at, site_len)?;
    at += site_len;
    let mut services = Vec::with_capacity(n);
    for _ in 0..n {
        let len = usize::from(*body.get(at).ok_or(Refusal::Malformed)?);
        let name = text(at + 1, len)?;
        let healthy = match body.get(at + 1 + len) {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(Refusal::Malformed),
        };
        services.push((name, healthy));
        at += len + 2;
    }
    if at != body.len() {
        return Err(Refusal::Malformed);
    }
    Ok(Report { site, epoch, seq, load_permille, services })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn report() -> Report {
        Report {
            site: "site2".into(),
            epoch: 1_700_000_000_000_000_000,
            seq: 42,
            load_permille: 125,
            services: vec![("pop3".into(), true), ("http".into(), false)],
        }
    }

    #[test]
    fn round_trip() {
        let wire = encode(&report(), b"k");
        assert_eq!(decode(&wire, b"k"), Ok(report()));
    }

    #[test]
    fn a_wrong_key_or_a_flipped_bit_is_refused() {
        let wire = encode(&report(), b"key one");
        assert_eq!(decode(&wire, b"key two"), Err(Refusal::BadMac));
        for i in 5..wire.len() {
            let mut w = wire.clone();
            w[i] ^= 0x01;
            assert!(decode(&w, b"key one").is_err(), "bit flip at {i} accepted");
        }
    }

    #[test]
    fn another_version_is_named() {
        let mut wire = encode(&report(), b"k");
        wire[4] = 2;
        assert_eq!(decode(&wire, b"k"), Err(Refusal::BadVersion));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(d in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&d, b"k");
        }

        #[test]
        fn a_validly_tagged_but_truncated_body_is_malformed(cut in 0usize..20) {
            // Re-tag a shortened body: the tag is right, the structure is not.
            let wire = encode(&report(), b"k");
            let body = &wire[..wire.len() - TAG - 1 - cut.min(10)];
            let mut m = mac(b"k");
            m.update(body);
            let mut forged = body.to_vec();
            forged.extend_from_slice(&m.finalize().into_bytes());
            prop_assert!(decode(&forged, b"k").is_err());
        }
    }
}
