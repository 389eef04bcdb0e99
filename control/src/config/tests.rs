//! Every kind of mistake is reported at its line, saying what was expected.

use std::path::Path;

use super::{Config, ConfigError};

const GOOD: &str = r#"
[eal]
lcores = "0-1"
file_prefix = "t"
vdevs = ["net_af_packet0,iface=x", "net_tap0,iface=k"]

[port]
device = "net_af_packet0"

[kernel]
device = "net_tap0"
addresses = ["10.1.0.1/24"]

[site]
name = "t"
pips = ["192.0.2.200"]

[[real_server]]
name = "a"
address = "10.1.0.11"

[[real_server]]
name = "b"
address = "10.1.0.12"

[[group]]
name = "g"
method = "weighted_round_robin"
members = ["a:3", "b"]

[[service]]
name = "http"
vip = "192.0.2.10"
port = 80
protocol = "tcp"
group = "g"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("site.toml"), text)
}

fn error(text: &str) -> ConfigError {
    parse(text).expect_err("should be refused")
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle in text") + 1
}

#[test]
fn the_shipped_examples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    assert!(checked > 0, "no example configurations found in {}", dir.display());
    let c = parse(GOOD).expect("valid");
    assert_eq!(c.file.flows.capacity, 1 << 20, "defaults apply");
}

#[test]
fn an_unknown_key_is_named_at_its_line() {
    let text = GOOD.replace("port = 80", "port = 80\ncolour = \"blue\"");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "colour"), "{e}");
    assert!(e.message.contains("unknown field `colour`"), "{e}");
    assert!(e.to_string().starts_with(&format!("site.toml:{}:", e.line)), "{e}");
}

#[test]
fn a_bad_address_says_what_was_expected() {
    let text = GOOD.replace("address = \"10.1.0.12\"", "address = \"10.1.0.300\"");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "10.1.0.300"), "{e}");
    assert!(e.message.contains("IPv4 address") || e.message.contains("invalid"), "{e}");
}

#[test]
fn a_group_naming_a_missing_server_is_refused() {
    let text = GOOD.replace("members = [\"a:3\", \"b\"]", "members = [\"a:3\", \"c\"]");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "members"), "{e}");
    assert!(e.message.contains("\"c\", which is not defined (expected one of: a, b)"), "{e}");
}

#[test]
fn a_weight_must_be_a_number() {
    let e = error(&GOOD.replace("\"a:3\"", "\"a:x\""));
    assert!(e.message.contains("`name:weight`"), "{e}");
}

#[test]
fn a_duplicate_service_is_refused_at_the_second() {
    let text = format!("{GOOD}\n[[service]]\nname = \"again\"\nvip = \"192.0.2.10\"\nport = 80\nprotocol = \"tcp\"\ngroup = \"g\"\n");
    let e = error(&text);
    assert_eq!(e.line, text.lines().count() - 3, "{e}");
    assert!(e.message.contains("a second service on 192.0.2.10:80/tcp"), "{e}");
}

#[test]
fn an_address_cannot_be_both_pip_and_vip() {
    let e = error(&GOOD.replace("vip = \"192.0.2.10\"", "vip = \"192.0.2.200\""));
    assert!(e.message.contains("VIP 192.0.2.200 is already a PIP"), "{e}");
}

#[test]
fn an_unknown_method_lists_the_known_ones() {
    let text = GOOD.replace("weighted_round_robin", "fastest");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "fastest"));
    assert!(e.message.contains("round_robin") && e.message.contains("maglev"), "{e}");
}

#[test]
fn an_own_address_needs_a_prefix() {
    let text = GOOD.replace("10.1.0.1/24", "10.1.0.1");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "addresses"));
    assert!(e.message.contains("prefix length"), "{e}");
}

#[test]
fn a_fixed_mac_must_be_a_mac() {
    let text = GOOD.replace("address = \"10.1.0.12\"", "address = \"10.1.0.12\"\nmac = \"02:00:00:00:00\"");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "mac = "), "{e}");
    assert!(e.message.contains("expected a MAC address"), "{e}");
}

#[test]
fn remote_sites_are_checked() {
    let remote =
        "\n[[remote_site]]\nname = \"site2\"\npeer = \"203.0.113.1:3011\"\nnext_hop = \"198.51.100.254\"\n";
    let e = error(&format!("{GOOD}{remote}"));
    assert!(e.message.contains("need a [site_state] section"), "{e}");
    let state = "\n[site_state]\nlisten = \"198.51.100.1:3011\"\nkey = \"k\"\n";
    let ok = format!("{GOOD}{state}{remote}").replace(
        "group = \"g\"\n",
        "group = \"g\"\nremotes = [{ site = \"site2\", vip = \"203.0.113.10\" }]\n",
    );
    let c = parse(&ok).expect("valid");
    assert_eq!(c.file.services[0].remotes.len(), 1);
    let unsure = ok.replace("peer = \"203.0.113.1:3011\"\n", "");
    assert!(error(&unsure).message.contains("or `assume_up = true`"));
    let both = ok.replace("peer = \"203.0.113.1:3011\"\n", "peer = \"203.0.113.1:3011\"\nassume_up = true\n");
    assert!(error(&both).message.contains("not both"));
    let fixed =
        format!("{GOOD}{remote}").replace("peer = \"203.0.113.1:3011\"\n", "assume_up = true\n").replace(
            "group = \"g\"\n",
            "group = \"g\"\nremotes = [{ site = \"site2\", vip = \"203.0.113.10\" }]\n",
        );
    let c = parse(&fixed).expect("assume_up needs no [site_state]");
    assert!(c.file.remote_sites[0].assume_up);
    let bad = ok.replace("site = \"site2\", vip", "site = \"site3\", vip");
    let e = error(&bad);
    assert_eq!(e.line, line_of(&bad, "site3"), "{e}");
    assert!(e.message.contains("remote site \"site3\", which is not defined"), "{e}");
}

#[test]
fn a_route_must_say_via() {
    let text = GOOD.replace(
        "addresses = [\"10.1.0.1/24\"]",
        "addresses = [\"10.1.0.1/24\"]\nroutes = [\"203.0.113.0/24 through 10.1.0.254\"]",
    );
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "routes"), "{e}");
    assert!(e.message.contains("PREFIX via GATEWAY"), "{e}");
}

#[test]
fn a_missing_section_is_named() {
    let e = error(&GOOD.replace("[port]\ndevice = \"net_af_packet0\"", ""));
    assert!(e.message.contains("missing field `port`"), "{e}");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let e = Config::load(Path::new("/nonexistent/gslbd.toml")).expect_err("missing");
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn a_dns_check_needs_a_valid_question() {
    let server = "name = \"b\"\naddress = \"10.1.0.12\"";
    let text = GOOD.replace(server, &format!("{server}\nhealth = {{ type = \"dns\" }}"));
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "name = \"b\""), "{e}");
    assert!(e.message.contains("needs a `query`"), "{e}");
    let text = GOOD.replace(
        server,
        &format!(
            "{server}\nhealth = {{ type = \"dns\", query = \"www.example.org\", query_type = \"AXFRX\" }}"
        ),
    );
    assert!(error(&text).message.contains("not a record type"));
    let text = GOOD
        .replace(server, &format!("{server}\nhealth = {{ type = \"dns\", query = \"www.example.org\" }}"));
    assert_eq!(
        parse(&text).expect("valid").file.real_servers[1].health.as_ref().and_then(|h| h.port()),
        Some(53)
    );
    let text = GOOD.replace(server, &format!("{server}\nhealth = {{ type = \"icmp\" }}"));
    assert!(parse(&text).is_ok(), "an icmp check needs no port");
}

const DNS: &str = r#"
[dns]
listen = ["10.1.0.1:53"]
[[dns.zone]]
name = "gslb.example.org"
ns = [{ name = "ns1.gslb.example.org", address = "10.1.0.1" }]
hostmaster = "hostmaster.example.org"
[[dns.host]]
name = "www.gslb.example.org"
service = "http"
proximity = [{ subnet = "198.51.100.0/24", sites = ["t"] }]
"#;

#[test]
fn dns_mistakes_are_named_at_their_line() {
    let good = format!("{GOOD}{DNS}");
    assert!(parse(&good).is_ok(), "{:?}", parse(&good).err());
    // (replace, with, the message says, the line that holds)
    for (from, to, says, at) in [
        (
            "name = \"www.gslb.example.org\"",
            "name = \"www.example.com\"",
            "in none of the",
            "www.example.com",
        ),
        ("service = \"http\"\nprox", "service = \"smtp\"\nprox", "no service named \"smtp\"", "\"smtp\""),
        ("sites = [\"t\"]", "sites = [\"mars\"]", "no site named \"mars\"", "mars"),
        ("subnet = \"198.51.100.0/24\"", "subnet = \"198.51.100.0\"", "prefix length", "subnet"),
        (", address = \"10.1.0.1\" }", " }", "needs an `address`", "name = \"gslb.example.org\""),
    ] {
        let text = good.replace(from, to);
        let e = error(&text);
        assert!(e.message.contains(says), "{from} -> {to}: {e}");
        assert_eq!(e.line, line_of(&text, at), "{e}");
    }
    let e = error(&format!("{good}rules = [\"nearest\"]\n"));
    assert!(e.message.contains("unknown variant `nearest`"), "{e}");
}

/// `GOOD` with a remote site and `remotes` on its service, for redirect.
fn with_remote(remote: &str) -> String {
    let state = "\n[site_state]\nlisten = \"10.1.0.1:3011\"\nkey = \"k\"\n";
    let site =
        "\n[[remote_site]]\nname = \"site2\"\npeer = \"203.0.113.1:3011\"\nnext_hop = \"10.1.0.254\"\n";
    format!("{GOOD}{state}{site}").replace("group = \"g\"\n", &format!("group = \"g\"\n{remote}\n"))
}

#[test]
fn redirect_is_off_unless_asked_and_a_remote_may_name_its_host() {
    let c = parse(&with_remote("remotes = [{ site = \"site2\", vip = \"203.0.113.10\" }]")).expect("valid");
    assert!(!c.file.services[0].redirects());
    assert!(c.file.services[0].remotes[0].host.is_none());
    let text = with_remote(
        "redirect = true\nremotes = [{ site = \"site2\", vip = \"203.0.113.10\", host = \"www.site2.example\" }]",
    );
    let c = parse(&text).expect("valid");
    assert!(c.file.services[0].redirects());
    assert_eq!(
        c.file.services[0].remotes[0].host.as_ref().map(|h| h.get_ref().as_str()),
        Some("www.site2.example")
    );
}

#[test]
fn redirect_needs_tcp_a_remote_and_a_kernel() {
    let remote = "remotes = [{ site = \"site2\", vip = \"203.0.113.10\" }]";
    let text = with_remote(&format!("redirect = true\n{remote}"))
        .replace("protocol = \"tcp\"", "protocol = \"udp\"");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "redirect = true"), "{e}");
    assert!(e.message.contains("service \"http\"") && e.message.contains("protocol \"tcp\""), "{e}");

    let text = with_remote("redirect = true");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "redirect = true"), "{e}");
    assert!(e.message.contains("at least one `remotes` entry"), "{e}");

    let text = with_remote(&format!("redirect = true\n{remote}"))
        .replace("[kernel]\ndevice = \"net_tap0\"\naddresses = [\"10.1.0.1/24\"]\n", "");
    let e = error(&text);
    assert_eq!(e.line, line_of(&text, "redirect = true"), "{e}");
    assert!(e.message.contains("[kernel]"), "{e}");

    // Switched off, none of that is asked for.
    assert!(
        parse(&with_remote("redirect = false").replace("protocol = \"tcp\"", "protocol = \"udp\"")).is_ok()
    );
}

#[test]
fn a_redirect_host_is_a_bare_host_name() {
    for bad in
        ["http://www.site2.example", "www.site2.example:8080", "www.site2.example/x", "", "a..b", "-a.b"]
    {
        let text = with_remote(&format!(
            "redirect = true\nremotes = [{{ site = \"site2\", vip = \"203.0.113.10\", host = {bad:?} }}]"
        ));
        let e = error(&text);
        assert_eq!(e.line, line_of(&text, "host = "), "{bad}: {e}");
        let at = text.lines().nth(e.line - 1).and_then(|l| l.find("host = ")).expect("host");
        assert_eq!(e.column, at + "host = ".len() + 1, "the value itself: {bad}: {e}");
        assert!(e.message.contains("expected a host name"), "{bad}: {e}");
    }
    for good in ["site2", "www.site2.example", "203.0.113.10", "a-b.example"] {
        let text = with_remote(&format!(
            "redirect = true\nremotes = [{{ site = \"site2\", vip = \"203.0.113.10\", host = {good:?} }}]"
        ));
        assert!(parse(&text).is_ok(), "{good}");
    }
}
