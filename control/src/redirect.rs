//! HTTP redirects, Alteon style: for a service with `redirect = true`, the
//! data path hands the connections no local server can take to the
//! appliance's kernel, and this module's server answers each request there
//! with `302 Found` to the same path at the best remote site, so the client
//! goes there itself instead of being proxied through a PIP.
//!
//! One small HTTP server per redirecting service listens on its VIP:port in
//! the kernel's namespace (the VIP is a local address there, see
//! `kernel::set_local_vips`). The site it names is chosen by the control
//! loop, from the same site-state reports the data path's snapshot is built
//! from, and read once per request.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use arc_swap::ArcSwapOption;
use tiny_http::{Method, Server};

use crate::config::File;
use crate::kernel;
use crate::sitestate::node::RemoteStatus;

/// A remote site's VIP for the service, as a redirect names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub site: String,
    /// The service's name at that site, as that site reports it.
    pub service: String,
    /// `http://host[:port]`, the Location's prefix.
    pub base: String,
}

/// One redirecting service: where it listens and where it may send clients,
/// in order of preference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    pub listen: SocketAddr,
    pub targets: Vec<Target>,
}

/// The redirecting services of a configuration.
pub fn plans(f: &File) -> Vec<Plan> {
    f.services
        .iter()
        .filter(|s| s.redirects())
        .map(|s| Plan {
            name: s.name.clone(),
            listen: SocketAddr::from((*s.vip.get_ref(), s.port)),
            targets: s
                .remotes
                .iter()
                .map(|r| {
                    let port = r.port.unwrap_or(s.port);
                    let host = r.host.as_ref().map_or_else(|| r.vip.to_string(), |h| h.get_ref().clone());
                    Target {
                        site: r.site.get_ref().clone(),
                        service: r.service.clone().unwrap_or_else(|| s.name.clone()),
                        base: if port == 80 {
                            format!("http://{host}")
                        } else {
                            format!("http://{host}:{port}")
                        },
                    }
                })
                .collect(),
        })
        .collect()
}

/// The first target whose site is reachable and reports the service healthy:
/// the test the snapshot's `remote_available` makes.
pub fn choose<'a>(targets: &'a [Target], remotes: &[RemoteStatus]) -> Option<&'a Target> {
    targets.iter().find(|t| {
        remotes.iter().any(|r| r.name == t.site && r.reachable && r.services.get(&t.service) == Some(&true))
    })
}

/// The path and query of a request target, whatever its form (origin-form
/// `/a?b`, absolute-form `http://host/a?b`, or `*`), with anything that may
/// not stand in a header percent-encoded.
fn path_and_query(target: &str) -> String {
    let rest = if target.starts_with('/') {
        target
    } else if let Some(after) = target.split_once("://").map(|(_, a)| a) {
        after.find('/').map_or("/", |i| &after[i..])
    } else {
        "/"
    };
    let mut out = String::with_capacity(rest.len());
    for b in rest.bytes() {
        if (0x21..=0x7e).contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The whole answer to one request: a redirect to `base` (keeping the path
/// and query of `target`), or 503 when no site can take it. Every answer
/// closes the connection: the next request may deserve another site.
fn answer(base: Option<&str>, target: &str, head: bool) -> Vec<u8> {
    let (status, location, body) = match base {
        Some(base) => {
            let location = format!("{base}{}", path_and_query(target));
            let body = format!("Found: {location}\n");
            ("302 Found", Some(location), body)
        }
        None => ("503 Service Unavailable", None, "No site can serve this request now.\n".to_string()),
    };
    let mut out = format!("HTTP/1.1 {status}\r\n");
    if let Some(l) = location {
        out.push_str(&format!("Location: {l}\r\n"));
    }
    out.push_str(&format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    if !head {
        out.push_str(&body);
    }
    out.into_bytes()
}

struct Running {
    plan: Plan,
    /// The current choice's `base`; `None`: answer 503.
    choice: Arc<ArcSwapOption<String>>,
    server: Arc<Server>,
    /// The server's listening socket, kept to stop listening at once on
    /// `stop` (tiny_http closes its own copy later, from its accept thread).
    listener: TcpListener,
    thread: Option<JoinHandle<()>>,
}

/// The redirect servers of the running configuration.
pub struct Redirects {
    ns: Option<String>,
    running: Vec<Running>,
}

impl Redirects {
    /// Starts one server per plan, its socket made in namespace `ns`, each
    /// pointing where `remotes` says.
    pub fn start(plans: Vec<Plan>, ns: Option<&str>, remotes: &[RemoteStatus]) -> Result<Redirects, String> {
        let mut me = Redirects { ns: ns.map(str::to_string), running: Vec::new() };
        for plan in plans {
            let listen = plan.listen;
            let (server, listener) = kernel::in_netns(ns, || -> Result<_, String> {
                let l = TcpListener::bind(listen).map_err(|e| e.to_string())?;
                let keep = l.try_clone().map_err(|e| e.to_string())?;
                Ok((Server::from_listener(l, None).map_err(|e| e.to_string())?, keep))
            })?
            .map_err(|e| format!("redirect for service {}: listen on {listen}: {e}", plan.name))?;
            let server = Arc::new(server);
            let choice = Arc::new(ArcSwapOption::from(None));
            let (s, c) = (server.clone(), choice.clone());
            let thread = std::thread::Builder::new()
                .name(format!("redirect-{}", plan.name))
                .spawn(move || serve(&s, &c))
                .map_err(|e| format!("redirect thread: {e}"))?;
            let targets: Vec<&str> = plan.targets.iter().map(|t| t.base.as_str()).collect();
            println!(
                "  redirect {} on {listen}: 302 to the first available of {}",
                plan.name,
                targets.join(", ")
            );
            me.running.push(Running { plan, choice, server, listener, thread: Some(thread) });
        }
        me.update(remotes);
        Ok(me)
    }

    pub fn plans(&self) -> Vec<Plan> {
        self.running.iter().map(|r| r.plan.clone()).collect()
    }

    /// Points every service at the site `remotes` now prefers.
    pub fn update(&self, remotes: &[RemoteStatus]) {
        for r in &self.running {
            let now = choose(&r.plan.targets, remotes).map(|t| t.base.clone());
            if r.choice.load().as_deref() != now.as_ref() {
                match &now {
                    Some(base) => println!("redirect: {} now sends clients to {base}", r.plan.name),
                    None => println!("redirect: {} has no site to send clients to (503)", r.plan.name),
                }
                r.choice.store(now.map(Arc::new));
            }
        }
    }

    pub fn stop(&mut self) {
        for mut r in self.running.drain(..) {
            r.server.unblock();
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
            // Dropping a tiny_http server connects to its own address to wake
            // its accept thread: that must happen in the namespace that owns
            // the address (elsewhere the connection could hang on a route to
            // nowhere, and the accept thread would never end).
            let server = r.server;
            let _ = kernel::in_netns(self.ns.as_deref(), move || drop(server));
            // The accept thread closes its socket when it gets round to it;
            // a reload listening on the same address must not wait for that.
            let _ = socket2::SockRef::from(&r.listener).shutdown(std::net::Shutdown::Both);
        }
    }

    /// Where the servers listen (for a test that asked for any port).
    #[cfg(test)]
    fn addresses(&self) -> Vec<SocketAddr> {
        self.running.iter().filter_map(|r| r.listener.local_addr().ok()).collect()
    }
}

impl Drop for Redirects {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(server: &Server, choice: &ArcSwapOption<String>) {
    // `recv` fails once `unblock` is called: that is the stop.
    while let Ok(req) = server.recv() {
        let base = choice.load_full();
        let bytes = answer(base.as_deref().map(String::as_str), req.url(), *req.method() == Method::Head);
        // tiny_http will not send `Connection: close` of its own accord:
        // the answer is written whole, headers and all.
        let mut w = req.into_writer();
        let _ = w.write_all(&bytes).and_then(|()| w.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpStream;
    use std::path::Path;
    use std::time::Duration;

    fn target(site: &str, base: &str) -> Target {
        Target { site: site.into(), service: "http".into(), base: base.into() }
    }

    fn status(name: &str, reachable: bool, healthy: Option<bool>) -> RemoteStatus {
        RemoteStatus {
            name: name.into(),
            reachable,
            age: None,
            load_permille: 0,
            services: healthy.map(|h| ("http".to_string(), h)).into_iter().collect(),
            accepted: 0,
            refused: HashMap::new(),
        }
    }

    #[test]
    fn the_first_reachable_site_with_the_service_healthy_is_chosen() {
        let targets = [target("site2", "http://b"), target("site3", "http://c")];
        let pick = |remotes: &[RemoteStatus]| choose(&targets, remotes).map(|t| t.base.as_str());
        assert_eq!(
            pick(&[status("site2", true, Some(true)), status("site3", true, Some(true))]),
            Some("http://b")
        );
        assert_eq!(
            pick(&[status("site2", false, Some(true)), status("site3", true, Some(true))]),
            Some("http://c")
        );
        assert_eq!(
            pick(&[status("site2", true, Some(false)), status("site3", true, Some(true))]),
            Some("http://c")
        );
        // A site that never mentioned the service is not taken as healthy.
        assert_eq!(pick(&[status("site2", true, None), status("site3", true, Some(true))]), Some("http://c"));
        assert_eq!(pick(&[status("site2", true, Some(false)), status("site3", false, Some(true))]), None);
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn a_remote_is_named_by_its_host_or_vip_and_its_port_unless_80() {
        let text = r#"
            [eal]
            lcores = "0-1"
            file_prefix = "t"
            [port]
            device = "net_af_packet0"
            [kernel]
            device = "net_tap0"
            addresses = ["10.1.0.1/24"]
            [site]
            name = "site1"
            [site_state]
            listen = "10.1.0.1:3011"
            key = "k"
            [[remote_site]]
            name = "site2"
            peer = "203.0.113.1:3011"
            next_hop = "10.1.0.254"
            [[real_server]]
            name = "a"
            address = "10.1.0.11"
            [[group]]
            name = "g"
            method = "round_robin"
            members = ["a"]
            [[service]]
            name = "http"
            vip = "192.0.2.10"
            port = 80
            protocol = "tcp"
            group = "g"
            redirect = true
            remotes = [{ site = "site2", vip = "203.0.113.10" },
                       { site = "site2", vip = "203.0.113.11", port = 8080, service = "web" },
                       { site = "site2", vip = "203.0.113.12", host = "www.site2.example" },
                       { site = "site2", vip = "203.0.113.13", port = 81, host = "alt.site2.example" }]
            [[service]]
            name = "plain"
            vip = "192.0.2.10"
            port = 8000
            protocol = "tcp"
            group = "g"
            remotes = [{ site = "site2", vip = "203.0.113.10" }]
        "#;
        let c = crate::config::Config::parse(Path::new("site1.toml"), text).expect("valid");
        let p = plans(&c.file);
        assert_eq!(p.len(), 1, "only the service that redirects: {p:?}");
        assert_eq!((p[0].name.as_str(), p[0].listen), ("http", "192.0.2.10:80".parse().expect("addr")));
        let bases: Vec<(&str, &str)> =
            p[0].targets.iter().map(|t| (t.base.as_str(), t.service.as_str())).collect();
        assert_eq!(
            bases,
            vec![
                ("http://203.0.113.10", "http"),
                ("http://203.0.113.11:8080", "web"),
                ("http://www.site2.example", "http"),
                ("http://alt.site2.example:81", "http"),
            ]
        );
    }

    #[test]
    fn the_location_keeps_path_and_query_whatever_the_request_form() {
        assert_eq!(path_and_query("/some/path?a=1&b"), "/some/path?a=1&b");
        assert_eq!(path_and_query("http://192.0.2.10/x?y"), "/x?y");
        assert_eq!(path_and_query("http://192.0.2.10"), "/");
        assert_eq!(path_and_query("*"), "/");
        assert_eq!(path_and_query("/caf\u{e9} x"), "/caf%C3%A9%20x");
        let a = String::from_utf8(answer(Some("http://b:8080"), "/p?q", false)).expect("text");
        assert!(a.starts_with("HTTP/1.1 302 Found\r\nLocation: http://b:8080/p?q\r\n"), "{a}");
        assert!(a.contains("\r\nConnection: close\r\n"), "{a}");
        let (head, body) = a.split_once("\r\n\r\n").expect("end of headers");
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{a}");
        let h = String::from_utf8(answer(Some("http://b"), "/p", true)).expect("text");
        assert!(h.ends_with("\r\n\r\n") && h.contains("Content-Length: "), "HEAD: headers only: {h}");
        let u = String::from_utf8(answer(None, "/p", false)).expect("text");
        assert!(u.starts_with("HTTP/1.1 503 Service Unavailable\r\n") && !u.contains("Location"), "{u}");
    }

    /// One request over a real socket; the status line and the headers.
    fn get(addr: SocketAddr, path: &str) -> (String, Vec<String>) {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
        let mut r = BufReader::new(s);
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).expect("read");
            let l = l.trim_end().to_string();
            if l.is_empty() {
                break;
            }
            lines.push(l);
        }
        let len: usize = lines
            .iter()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|n| n.parse().ok())
            .expect("a Content-Length");
        let mut body = vec![0; len];
        r.read_exact(&mut body).expect("body");
        (lines.remove(0), lines)
    }

    #[test]
    fn a_running_server_follows_the_site_state_and_stops() {
        let plan = |listen: SocketAddr| Plan {
            name: "http".into(),
            listen,
            targets: vec![
                target("site2", "http://203.0.113.10"),
                target("site3", "http://www.site3.example:8080"),
            ],
        };
        let mut r =
            Redirects::start(vec![plan("127.0.0.1:0".parse().expect("addr"))], None, &[]).expect("start");
        let listen = r.addresses()[0];
        let (line, _) = get(listen, "/a?b=1");
        assert_eq!(line, "HTTP/1.1 503 Service Unavailable");

        r.update(&[status("site2", true, Some(true)), status("site3", true, Some(true))]);
        let (line, headers) = get(listen, "/a?b=1");
        assert_eq!(line, "HTTP/1.1 302 Found");
        assert!(headers.contains(&"Location: http://203.0.113.10/a?b=1".to_string()), "{headers:?}");
        assert!(headers.contains(&"Connection: close".to_string()), "{headers:?}");

        r.update(&[status("site2", false, Some(true)), status("site3", true, Some(true))]);
        let (_, headers) = get(listen, "/");
        assert!(headers.contains(&"Location: http://www.site3.example:8080/".to_string()), "{headers:?}");

        r.stop();
        assert!(TcpStream::connect(listen).is_err(), "still listening after stop");
        // At once free for the next start on the same address (a reload).
        let mut again = Redirects::start(vec![plan(listen)], None, &[]).expect("restart on the same address");
        assert_eq!(get(listen, "/").0, "HTTP/1.1 503 Service Unavailable");
        again.stop();
    }
}
