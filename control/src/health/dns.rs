//! The DNS health check: one query over UDP, answered NOERROR by the server
//! with our ID and question. The wire format is hickory-proto's.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

/// The question a check asks, or what is wrong with its name or type.
pub fn question(name: &str, rtype: Option<&str>) -> Result<Query, String> {
    let fqdn = if name.ends_with('.') { name.to_string() } else { format!("{name}.") };
    let name =
        Name::from_ascii(&fqdn).map_err(|e| format!("dns query {fqdn:?} is not a domain name: {e}"))?;
    let rtype = match rtype {
        None => RecordType::A,
        Some(t) => match t.to_ascii_uppercase().parse::<RecordType>() {
            Ok(RecordType::Unknown(_)) | Err(_) => {
                return Err(format!(
                    "dns query_type {t:?} is not a record type (A, AAAA, NS, SOA, MX, TXT, ...)"
                ))
            }
            Ok(t) => t,
        },
    };
    Ok(Query::query(name, rtype))
}

/// Asks `addr` the configured question; Ok once a matching NOERROR reply arrives.
pub fn probe(name: &str, rtype: Option<&str>, addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    let query = question(name, rtype)?;
    let id = query_id();
    let mut msg = Message::new();
    msg.set_id(id).set_message_type(MessageType::Query).set_op_code(OpCode::Query).add_query(query.clone());
    let wire = msg.to_vec().map_err(|e| format!("encode: {e}"))?;
    let sock = UdpSocket::bind(("0.0.0.0", 0)).map_err(|e| format!("bind: {e}"))?;
    sock.connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    sock.send(&wire).map_err(|e| format!("send: {e}"))?;
    let mut buf = [0u8; 4096];
    loop {
        let left = timeout.checked_sub(start.elapsed()).filter(|d| !d.is_zero()).ok_or("no answer")?;
        sock.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err("no answer".into())
            }
            Err(e) => return Err(format!("recv: {e}")),
        };
        // Anything that is not the answer to this query (a late reply to an
        // earlier one, garbage) is skipped, not judged.
        let Ok(reply) = Message::from_vec(&buf[..n]) else { continue };
        if reply.id() != id
            || reply.message_type() != MessageType::Response
            || reply.queries() != [query.clone()]
        {
            continue;
        }
        return match reply.response_code() {
            ResponseCode::NoError => Ok(()),
            rc => Err(format!("dns answered {rc}")),
        };
    }
}

/// Not secret: a check only needs to tell its reply from a stale one.
fn query_id() -> u16 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.subsec_nanos() ^ (t.as_secs() as u32) ^ std::process::id()) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{rdata::A, RData, Record};

    /// A DNS server on loopback that answers each query with `rcode` (and an
    /// A record when NOERROR); with `wrong_id`, it first sends a reply to
    /// some other query.
    fn server(rcode: ResponseCode, wrong_id: bool) -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = s.local_addr().expect("addr");
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let Ok((n, peer)) = s.recv_from(&mut buf) else { return };
            let q = Message::from_vec(&buf[..n]).expect("query");
            let mut r = Message::new();
            r.set_id(q.id()).set_message_type(MessageType::Response).set_response_code(rcode);
            r.add_queries(q.queries().to_vec());
            if rcode == ResponseCode::NoError {
                let name = q.queries()[0].name().clone();
                r.add_answer(Record::from_rdata(name, 60, RData::A(A::new(192, 0, 2, 10))));
            }
            if wrong_id {
                let mut stale = r.clone();
                stale.set_id(q.id().wrapping_add(1)).set_response_code(ResponseCode::ServFail);
                let _ = s.send_to(&stale.to_vec().expect("encode"), peer);
            }
            let _ = s.send_to(&r.to_vec().expect("encode"), peer);
        });
        addr
    }

    const T: Duration = Duration::from_millis(500);

    #[test]
    fn noerror_passes_and_other_codes_fail_by_name() {
        assert_eq!(probe("www.example.org", None, server(ResponseCode::NoError, false), T), Ok(()));
        let e = probe("www.example.org", Some("aaaa"), server(ResponseCode::Refused, false), T).unwrap_err();
        assert!(e.contains("Refused"), "{e}");
        let e = probe("nope.example.org", None, server(ResponseCode::NXDomain, false), T).unwrap_err();
        assert!(e.contains("Non-Existent Domain") || e.contains("NXDomain"), "{e}");
    }

    #[test]
    fn a_reply_to_another_query_is_skipped() {
        assert_eq!(probe("www.example.org", None, server(ResponseCode::NoError, true), T), Ok(()));
    }

    #[test]
    fn silence_times_out() {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let start = Instant::now();
        let e = probe("www.example.org", None, s.local_addr().expect("addr"), Duration::from_millis(200));
        assert_eq!(e, Err("no answer".into()));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn bad_names_and_types_are_refused_in_words() {
        assert!(question("www.example.org", Some("MX")).is_ok());
        assert!(question("bad..name", None).unwrap_err().contains("not a domain name"));
        assert!(question("www.example.org", Some("BOGUS")).unwrap_err().contains("not a record type"));
    }
}
