#!/usr/bin/env bash
# The GSLB chapter's scenario between two real appliances, in network
# namespaces: site 1 and site 2 each run gslbd on DPDK in front of their own
# dovecot POP3 server; a router joins the two sites' segments; the client
# lives at site 1 and only ever talks to site 1's VIP. Checks, in order:
#   1. site 1 serves POP3 locally;
#   2. site 1's POP3 server dies: within the health-check window new
#      sessions to site 1's VIP are served by site 2 through site 1's proxy
#      IP (a capture at site 2's server shows the PIP as the source);
#   3. a proxied session is left open;
#   4. the link to site 2 is cut: site 1 marks it unreachable and refuses new
#      connections with a RST, counted as no_resource;
#   5. both restored: new sessions are local again, and the proxied session
#      opened in 3 still retrieves its mail through site 2 and ends cleanly;
#   6. site 1's HTTP service redirects rather than proxies: with both its web
#      servers dead, a request to site 1's VIP gets a 302 to the same path
#      at site 2's VIP, and the client, following it, is served by site 2
#      directly (through the router, from its own address).
# Probes every 250 ms, down after 3 misses, for health checks and site-state
# reports alike; the times it measures are printed. Needs root and hugepages.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NAME=e2e-seed
PAGES=256
# shellcheck source=tests/e2e-common.sh
. tests/e2e-common.sh

two_sites
client() { ip netns exec gs1-client "$@"; }
pop() { client curl -s --max-time 4 pop3://192.0.2.10/1 -u alice:secret; }
metric() { curl -s http://127.0.0.1:9181/metrics | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'; }

for _ in $(seq 1 100); do
    grep -q "^site-state: site2 is reachable" "$work/site1.log" && pop | grep -q "Hello" && break
    sleep 0.1
done

# 1. Local service.
if pop | grep -q "Hello from pop1"; then
    ok "site 1 serves POP3 from its own server"
else
    bad "local POP3 at site 1"
fi

# 2. Site 1's POP3 server dies (SIGKILL); site 2 takes new sessions through site 1's PIP.
ip netns exec gs2-pop1 tcpdump -i eth0 -nn -U --immediate-mode -w "$work/site2-pop.pcap" tcp port 110 >"$work/tcpdump.log" 2>&1 &
capture=$!
pids+=("$capture")
# -s: the background shell may not have created the log yet.
for _ in $(seq 1 50); do grep -qs "listening on" "$work/tcpdump.log" && break; sleep 0.1; done
t0="$(now)"
GSLBD_LAB_SITE=1 scripts/lab.sh kill-server pop1 >/dev/null
served=""
for _ in $(seq 1 100); do
    served="$(pop)"
    grep -q "Hello from site 2" <<<"$served" && break
    sleep 0.05
done
took="$(since "$t0")"
sleep 0.5
kill "$capture" 2>/dev/null
wait "$capture" 2>/dev/null
# Site 2's own health checks come from its address 10.2.0.1; anything else
# that reached the server must be site 1's PIP.
sources="$(tcpdump -nn -r "$work/site2-pop.pcap" 2>/dev/null | awk '/> 10.2.0.21.110/ { split($3, a, "."); print a[1]"."a[2]"."a[3]"."a[4] }' | grep -v '^10.2.0.1$' | sort -u | tr '\n' ' ')"
if grep -q "Hello from site 2" <<<"$served" && [ "$sources" = "192.0.2.200 " ]; then
    ok "site 1's POP3 server killed: a session to site 1's VIP was served by site 2 ${took} s later; site 2's server saw only site 1's PIP ($sources)"
else
    bad "proxy to site 2 (${took} s): served '$(grep -o "Hello from.*" <<<"$served")', sources at site 2: '$sources'"
    tcpdump -nn -r "$work/site2-pop.pcap" 2>/dev/null | tail -n 4 | sed 's/^/  /'
    cat "$work/tcpdump.log"
fi
proxied="$(metric 'gslbd_flows_created_total{core="0",path="proxy"}')"

# 3. A proxied session left open (Python's poplib, logged in, waiting).
cat >"$work/held.py" <<'PY'
import os, poplib, sys, time
p = poplib.POP3("192.0.2.10", 110, timeout=30)
p.user("alice"); p.pass_("secret")
open(sys.argv[1], "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
lines = p.retr(1)[1]
p.quit()
print(b"\n".join(lines).decode())
PY
client python3 "$work/held.py" "$work/held.ready" "$work/held.go" >"$work/held.out" 2>&1 &
held=$!
for _ in $(seq 1 100); do [ -e "$work/held.ready" ] && break; sleep 0.05; done

# 4. Site 2 cut off. (Site 1 said "unreachable" once already, at start,
#    before its first report from site 2: wait for a new line.)
seen="$(grep -c "^site-state: site2 is unreachable" "$work/site1.log")"
t0="$(now)"
scripts/lab.sh cut-wan >/dev/null
for _ in $(seq 1 250); do
    [ "$(grep -c "^site-state: site2 is unreachable" "$work/site1.log")" -gt "$seen" ] && break
    sleep 0.02
done
took="$(since "$t0")"
before="$(metric 'gslbd_drops_total{core="0",reason="no_resource"}')"
refused="$(client curl -s --max-time 4 pop3://192.0.2.10/1 -u alice:secret; echo "rc=$?")"
after="$(metric 'gslbd_drops_total{core="0",reason="no_resource"}')"
reach="$(metric 'gslbd_remote_site_reachable{site="site2"}')"
if [ "$(grep -c "^site-state: site2 is unreachable" "$work/site1.log")" -gt "$seen" ] && [[ "$refused" == *"rc=7"* ]] \
    && [ "$after" -gt "$before" ] && [ "$reach" = "0" ]; then
    ok "WAN cut: site 1 marked site 2 unreachable ${took} s later; a new session was refused with a RST (no_resource $before -> $after)"
else
    bad "site 2 cut off (waited ${took} s): refused '$refused', no_resource $before -> $after, reachable $reach"
fi

# 5. Both restored.
scripts/lab.sh restore-wan >/dev/null
GSLBD_LAB_SITE=1 scripts/lab.sh start-server pop1 >/dev/null
for _ in $(seq 1 20); do
    pop | grep -q "Hello from pop1" && break
    sleep 0.2
done
if pop | grep -q "Hello from pop1"; then
    ok "restored: new sessions are served by site 1's own server again"
else
    bad "return to local service"
fi
touch "$work/held.go"
wait "$held"
if grep -q "Hello from site 2" "$work/held.out"; then
    ok "the proxied session opened before the cut kept its path and retrieved its mail from site 2"
else
    bad "held proxied session: $(head -c 200 "$work/held.out")"
fi

# 6. Site 1's web servers die: HTTP to site 1's VIP is redirected to site 2.
proxied_before_http="$(metric 'gslbd_flows_created_total{core="0",path="proxy"}')"
GSLBD_LAB_SITE=1 scripts/lab.sh kill-server web1 >/dev/null
GSLBD_LAB_SITE=1 scripts/lab.sh kill-server web2 >/dev/null
t0="$(now)"
for _ in $(seq 1 250); do
    grep -q "^health: web1 is down" "$work/site1.log" && grep -q "^health: web2 is down" "$work/site1.log" && break
    sleep 0.02
done
took="$(since "$t0")"
redirect() { client curl -s -L --max-time 4 -w '\n%{url_effective} %{num_redirects}' "http://192.0.2.10/whoami?via=site1"; }
want="http://203.0.113.10/whoami?via=site1 1"
got=""
# Site 2 must be reachable again after the cut of 4 for site 1 to name it.
for _ in $(seq 1 50); do
    got="$(redirect)"
    [ "$(tail -n 1 <<<"$got")" = "$want" ] && break
    sleep 0.1
done
redirected="$(metric 'gslbd_events_total{core="0",event="redirected"}')"
proxied_after="$(metric 'gslbd_flows_created_total{core="0",path="proxy"}')"
if [ "$(tail -n 1 <<<"$got")" = "$want" ] && [[ "$(head -n 1 <<<"$got")" == "site2-web1 198.51.100.7:"* ]] \
    && [ "$redirected" -ge 1 ]; then
    ok "site 1's web servers killed (down ${took} s later): GET /whoami?via=site1 at site 1's VIP was redirected once to ${want% *}, and site 2 served the client itself ($(head -n 1 <<<"$got")); redirected=$redirected"
else
    bad "HTTP redirect to site 2 (servers down after ${took} s): got '$(tr '\n' '|' <<<"$got")', redirected $redirected"
fi
if [ "$proxied_after" = "$proxied_before_http" ]; then
    ok "no HTTP connection was proxied while redirecting (proxied flows at site 1 stayed $proxied_after)"
else
    bad "HTTP connections proxied instead of redirected: proxied flows $proxied_before_http -> $proxied_after"
fi
GSLBD_LAB_SITE=1 scripts/lab.sh start-server web1 >/dev/null
GSLBD_LAB_SITE=1 scripts/lab.sh start-server web2 >/dev/null

echo "  proxied flows created at site 1: $proxied"
grep -E "^(health|site-state|redirect)" "$work/site1.log" | sed 's/^/  site1 /'

if [ "$failed" -gt 0 ]; then
    for s in site1 site2; do
        echo "  --- $s log (tail)"
        grep -vE "^(EAL|TELEMETRY|tap_|qdisc|eth_dev_tap)" "$work/$s.log" | tail -n 15 | sed 's/^/  /'
    done
fi
echo "e2e-seed: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
