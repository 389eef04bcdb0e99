//! One health probe: reach a real server over an ordinary socket (through the
//! appliance's exception path) and check that it speaks its protocol. ICMP
//! and DNS have modules of their own; the TCP protocols are here.
//!
//! Greetings follow the protocols' RFCs: POP3 `+OK` (RFC 1939), SMTP `220`
//! (RFC 5321), IMAP `* OK` (RFC 3501); HTTP/1.1 GET with a status and an
//! optional body match (RFC 9110).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{dns, icmp};
use crate::config::{CheckKind, HealthCheck};

/// Runs `check` against `addr`; Ok with the round-trip time, or why not.
pub fn probe(check: &HealthCheck, addr: SocketAddr) -> Result<Duration, String> {
    let timeout = Duration::from_millis(check.timeout_ms);
    let start = Instant::now();
    match (check.kind, addr) {
        (CheckKind::Icmp, SocketAddr::V4(a)) => {
            return icmp::probe(*a.ip(), timeout).map(|()| start.elapsed())
        }
        (CheckKind::Icmp, _) => return Err("icmp checks are IPv4 only".into()),
        (CheckKind::Dns, _) => {
            let query = check.query.as_deref().unwrap_or(".");
            return dns::probe(query, check.query_type.as_deref(), addr, timeout).map(|()| start.elapsed());
        }
        _ => {}
    }
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    let left = |start: Instant| timeout.saturating_sub(start.elapsed()).max(Duration::from_millis(1));
    stream.set_read_timeout(Some(left(start))).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(left(start))).map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    match check.kind {
        CheckKind::Tcp => {}
        CheckKind::Http => http(check, addr, stream)?,
        CheckKind::Pop3 => mail(check, stream, "+OK", Login::Pop3)?,
        CheckKind::Smtp => mail(check, stream, "220", Login::None)?,
        CheckKind::Imap => mail(check, stream, "* OK", Login::Imap)?,
        CheckKind::Icmp | CheckKind::Dns => unreachable!("not a TCP check: handled above"),
    }
    Ok(start.elapsed())
}

enum Login {
    None,
    Pop3,
    Imap,
}

fn line(r: &mut impl BufRead) -> Result<String, String> {
    let mut l = String::new();
    loop {
        // A signal to the process may interrupt the read: that says nothing about the server.
        match r.read_line(&mut l) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) => return Err("connection closed".into()),
            Ok(_) => return Ok(l.trim_end().to_string()),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

fn mail(check: &HealthCheck, stream: TcpStream, greeting: &str, login: Login) -> Result<(), String> {
    let mut w = stream.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(stream);
    let g = line(&mut r)?;
    if !g.starts_with(greeting) {
        return Err(format!("expected a greeting starting {greeting:?}, got {g:?}"));
    }
    let (Some(user), Some(pass)) = (&check.user, &check.password) else {
        return Ok(());
    };
    match login {
        Login::None => Ok(()),
        Login::Pop3 => {
            for cmd in [format!("USER {user}\r\n"), format!("PASS {pass}\r\n")] {
                w.write_all(cmd.as_bytes()).map_err(|e| format!("write: {e}"))?;
                let reply = line(&mut r)?;
                if !reply.starts_with("+OK") {
                    return Err(format!("login refused: {reply:?}"));
                }
            }
            let _ = w.write_all(b"QUIT\r\n");
            Ok(())
        }
        Login::Imap => {
            w.write_all(format!("a1 LOGIN {user} {pass}\r\n").as_bytes())
                .map_err(|e| format!("write: {e}"))?;
            loop {
                let reply = line(&mut r)?;
                if let Some(rest) = reply.strip_prefix("a1 ") {
                    let _ = w.write_all(b"a2 LOGOUT\r\n");
                    return if rest.starts_with("OK") {
                        Ok(())
                    } else {
                        Err(format!("login refused: {reply:?}"))
                    };
                }
            }
        }
    }
}

fn http(check: &HealthCheck, addr: SocketAddr, mut stream: TcpStream) -> Result<(), String> {
    let path = check.path.as_deref().unwrap_or("/");
    let host = check.host.clone().unwrap_or_else(|| addr.ip().to_string());
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: gslbd-health\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).map_err(|e| format!("write: {e}"))?;
    // Bounded: a health page is small, and a check must not be held up by a
    // large one. A server that keeps the connection open despite
    // `Connection: close` is judged on what it sent before the timeout.
    let mut body = Vec::new();
    let mut chunk = [0u8; 4096];
    while body.len() < 64 * 1024 {
        match stream.read(&mut chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if body.is_empty() => return Err(format!("read: {e}")),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    let status_line = text.lines().next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {status_line:?}"))?;
    let want = check.expect_status.unwrap_or(200);
    if status != want {
        return Err(format!("HTTP status {status}, expected {want}"));
    }
    if let Some(needle) = &check.expect_body {
        let payload = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        if !payload.contains(needle.as_str()) {
            return Err(format!("body does not contain {needle:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// An HTTP server for one request: reads it, answers, closes.
    fn serve_http(reply: &'static [u8]) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(reply);
            }
        });
        addr
    }

    /// A mail server: greets, then answers every line with `reply`.
    fn serve(reply: &'static [u8]) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let _ = s.write_all(reply);
                let mut buf = [0u8; 512];
                // Answer whatever comes (logins) the same way, then close.
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(reply).is_err() {
                        break;
                    }
                }
            }
        });
        addr
    }

    fn check(kind: CheckKind) -> HealthCheck {
        HealthCheck { kind, ..HealthCheck::default() }
    }

    #[test]
    fn greetings_decide_mail_checks() {
        assert!(probe(&check(CheckKind::Pop3), serve(b"+OK ready\r\n")).is_ok());
        assert!(probe(&check(CheckKind::Smtp), serve(b"220 mail ESMTP\r\n")).is_ok());
        assert!(probe(&check(CheckKind::Imap), serve(b"* OK IMAP4rev1\r\n")).is_ok());
        let e = probe(&check(CheckKind::Pop3), serve(b"-ERR go away\r\n")).unwrap_err();
        assert!(e.contains("greeting"), "{e}");
    }

    #[test]
    fn http_status_and_body_are_checked() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nweb1\n";
        assert!(probe(&check(CheckKind::Http), serve_http(ok)).is_ok());
        let mut c = check(CheckKind::Http);
        c.expect_body = Some("web2".into());
        assert!(probe(&c, serve_http(ok)).unwrap_err().contains("body"));
        c.expect_body = Some("web1".into());
        assert!(probe(&c, serve_http(ok)).is_ok());
        let e = probe(&check(CheckKind::Http), serve_http(b"HTTP/1.1 503 Busy\r\n\r\n")).unwrap_err();
        assert!(e.contains("503"), "{e}");
    }

    #[test]
    fn a_closed_port_fails_quickly() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        assert!(probe(&check(CheckKind::Tcp), addr).unwrap_err().contains("connect"));
    }

    #[test]
    fn a_silent_server_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let mut c = check(CheckKind::Pop3);
        c.timeout_ms = 200;
        let start = Instant::now();
        assert!(probe(&c, addr).is_err());
        assert!(start.elapsed() < Duration::from_secs(2));
        drop(l);
    }

    #[test]
    fn pop3_login_is_tried_when_configured() {
        let mut c = check(CheckKind::Pop3);
        c.user = Some("alice".into());
        c.password = Some("secret".into());
        assert!(probe(&c, serve(b"+OK\r\n")).is_ok());
    }
}
