#!/usr/bin/env bash
# End to end on DPDK, in network namespaces: gslbd (net_af_packet on the lab's
# segment, net_tap for its own addresses) in front of real servers, with
# ordinary Linux clients. Checks, in order:
#   1. HTTP requests to the VIP are spread over both web servers (curl);
#   2. POP3 through the VIP retrieves the known message (curl, dovecot);
#   3. the appliance's own address answers ping and reaches a TCP listener
#      in the kernel behind it (the exception path);
#   4. a web server's process stopped is taken out of service by its health
#      check and every new request goes to the other; the operator disabling
#      a server (SIGHUP reload) does the same;
#   5. the admin API (gslbd ctl) disables and enables a server; web2's ICMP
#      health check has passed every time; /metrics passes promtool and a
#      real Prometheus server scrapes it;
#   6. SIGTERM stops gslbd with exit 0, final counters, no hugepage files;
#   7. with two data cores (af_packet with two queue pairs, which spreads by
#      the kernel's hash), HTTP and POP3 still work: packets reaching the
#      core that does not own their flow are handed over through rte_rings.
# Needs root, hugepages (scripts/hugepages.sh) and the lab's packages
# (scripts/install-deps.sh). Prints "e2e-site: N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NAME=e2e-site
PAGES=128
# shellcheck source=tests/e2e-common.sh
. tests/e2e-common.sh

cargo build --release -q -p gslbd || exit 1
bin=target/release/gslbd
work="$(mktemp -d)"
cp examples/site1.toml "$work/site1.toml"
# web2 is checked by ICMP echo instead of HTTP: it must still come up (check 1
# needs it), through the same exception path.
sed -i '/address = "10.1.0.12"/{n;s|type = "http", path = "/", expect_status = 200|type = "icmp"|}' "$work/site1.toml"
grep -q 'type = "icmp"' "$work/site1.toml" || { echo "e2e-site: could not set web2's check to icmp" >&2; exit 1; }
gslbd_pid=""
listener_pid=""
cleanup() {
    [ -n "$gslbd_pid" ] && kill "$gslbd_pid" 2>/dev/null && wait "$gslbd_pid" 2>/dev/null
    [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null
    scripts/lab.sh down >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

scripts/lab.sh up >"$work/lab.log" 2>&1 || { cat "$work/lab.log"; exit 1; }
"$bin" run --config "$work/site1.toml" >"$work/gslbd.log" 2>&1 &
gslbd_pid=$!
client() { ip netns exec gs1-client "$@"; }

for _ in $(seq 1 50); do
    client curl -s --max-time 1 http://192.0.2.10/ >/dev/null 2>&1 && break
    sleep 0.2
done

# 1. HTTP spread over both servers.
answers="$(for _ in $(seq 1 10); do client curl -s --max-time 3 http://192.0.2.10/; done | sort | uniq -c | tr -s ' ')"
n1="$(grep -c . <<<"$(grep ' web1$' <<<"$answers")")"
n2="$(grep -c . <<<"$(grep ' web2$' <<<"$answers")")"
if [ "$n1" -eq 1 ] && [ "$n2" -eq 1 ] && grep -q " 5 web1" <<<" $answers" && grep -q " 5 web2" <<<" $answers"; then
    ok "10 HTTP requests: 5 answered by web1, 5 by web2 (round robin)"
else
    bad "HTTP spread over both servers; answers were: $answers"
fi

# 2. POP3 through the VIP.
if client curl -s --max-time 10 pop3://192.0.2.10/1 -u alice:secret | grep -q "Hello from pop1"; then
    ok "curl pop3://192.0.2.10/1 retrieved the known message from dovecot"
else
    bad "POP3 retrieval through the VIP"
fi

# 3. The exception path: ping and a TCP listener on the appliance's own address.
if client ping -c 2 -W 2 198.51.100.1 >/dev/null; then
    ok "ping to the appliance's own address 198.51.100.1 answered by the kernel behind the TAP"
else
    bad "ping to the appliance's own address"
fi
ip netns exec gs1-appl python3 - <<'PY' &
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.1", 7777))
s.listen(1)
s.settimeout(20)
c, _ = s.accept()
c.sendall(b"hello from the appliance's kernel\n")
c.close()
PY
listener_pid=$!
sleep 0.5
if client curl -s --max-time 5 telnet://198.51.100.1:7777 </dev/null | grep -q "appliance's kernel"; then
    ok "a TCP listener on 198.51.100.1:7777 in the appliance's kernel namespace was reached through the DPDK port"
else
    bad "TCP to a kernel listener on the own address"
fi

# 4. web1's process stops: its health check (HTTP every 250 ms, down after
#    3 misses) takes it out of service; new requests all go to web2. Then the
#    operator marks web2 disabled (SIGHUP reload) and web1 returns: requests
#    go back to web1 only.
# The HTTP server exits at once on SIGTERM: the clock starts with the stop.
t0="$(now)"
scripts/lab.sh stop-server web1 >/dev/null
for _ in $(seq 1 200); do
    grep -q "^health: web1 is down" "$work/gslbd.log" && break
    sleep 0.02
done
took="$(since "$t0")"
answers="$(for _ in $(seq 1 6); do client curl -s --max-time 3 http://192.0.2.10/; done | sort | uniq -c | tr -s ' ')"
if grep -q "^health: web1 is down" "$work/gslbd.log" && [ "$(tr -d ' \n' <<<"$answers")" = "6web2" ]; then
    ok "web1 stopped: marked down by its health check $took s later; 6 of 6 requests went to web2"
else
    bad "health-check failover to web2; answers were: $answers"
fi
scripts/lab.sh start-server web1 >/dev/null
sed -i '/address = "10.1.0.12"/a state = "disabled"' "$work/site1.toml"
kill -HUP "$gslbd_pid"
for _ in $(seq 1 100); do
    [ "$(grep -c "^health: web1 is up" "$work/gslbd.log")" -ge 2 ] && grep -q "^reloaded" "$work/gslbd.log" && break
    sleep 0.05
done
answers="$(for _ in $(seq 1 4); do client curl -s --max-time 3 http://192.0.2.10/; done | sort | uniq -c | tr -s ' ')"
if [ "$(tr -d ' \n' <<<"$answers")" = "4web1" ]; then
    ok "web1 back up and web2 disabled by the operator (SIGHUP): 4 of 4 requests went to web1"
else
    bad "return of web1 and disabling web2; answers were: $answers"
fi

# 5. The admin API: disabling web1 too leaves no server (and no remote site):
#    new connections are refused with a RST and counted (the HTTP service
#    redirects, but only to a site that can take the client: none here);
#    enabling it restores service. The metrics pass promtool, and a real
#    Prometheus scrapes them.
ctl() { "$bin" ctl --addr 127.0.0.1:9181 "$@"; }
ctl disable web1 >/dev/null
refused="$(client curl -s --max-time 3 -o /dev/null -w '%{http_code}' http://192.0.2.10/; echo " rc=$?")"
ctl enable web1 >/dev/null
after="$(client curl -s --max-time 3 http://192.0.2.10/)"
no_resource="$(curl -s http://127.0.0.1:9181/metrics | awk '/^gslbd_drops_total.*reason="no_resource"/ { s += $2 } END { print s + 0 }')"
redirected="$(curl -s http://127.0.0.1:9181/metrics | awk '/^gslbd_events_total.*event="redirected"/ { s += $2 } END { print s + 0 }')"
if [[ "$refused" == *"rc=7"* ]] && [ "$after" = "web1" ] && [ "$no_resource" -ge 1 ] && [ "$redirected" -eq 0 ]; then
    ok "gslbd ctl disable/enable: refused with a RST while no server was left (no_resource=$no_resource, redirected=0: no remote site to redirect to), served by web1 after"
else
    bad "admin disable/enable: refused '$refused', after '$after', no_resource $no_resource, redirected $redirected"
fi
icmp="$(ctl status | python3 -c '
import json, sys
r = next(r for r in json.load(sys.stdin)["real_servers"] if r["name"] == "web2")
s = r["health"]
print(s["checks"], s["failures"], s["up"], r["connections_total"])')"
read -r checks failures up conns <<<"$icmp"
# web2 took 5 of check 1's requests and 6 of check 4's.
if [ "${checks:-0}" -gt 4 ] && [ "$failures" = 0 ] && [ "$up" = True ] && [ "${conns:-0}" -ge 11 ]; then
    ok "web2's ICMP echo check: $checks checks through the exception path, no failure, up; $conns connections counted"
else
    bad "ICMP health check of web2: checks/failures/up/connections = $icmp"
fi
if curl -s http://127.0.0.1:9181/metrics | promtool check metrics; then
    ok "/metrics passes promtool check metrics"
else
    bad "promtool check metrics"
fi
mkdir -p "$work/prom"
cat >"$work/prom.yml" <<'YML'
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: gslbd
    static_configs:
      - targets: ["127.0.0.1:9181"]
YML
prometheus --config.file="$work/prom.yml" --storage.tsdb.path="$work/prom" \
    --web.listen-address=127.0.0.1:19090 >"$work/prom.log" 2>&1 &
prom_pid=$!
scraped=""
for _ in $(seq 1 40); do
    scraped="$(curl -s 'http://127.0.0.1:19090/api/v1/query?query=sum(gslbd_packets_total)' | grep -o '"value":\[[^]]*\]')"
    [ -n "$scraped" ] && break
    sleep 0.5
done
kill "$prom_pid" 2>/dev/null
wait "$prom_pid" 2>/dev/null
if [ -n "$scraped" ]; then
    ok "a real Prometheus scraped gslbd: sum(gslbd_packets_total) $scraped"
else
    bad "Prometheus scrape of /metrics"
fi

# 6. Clean stop.
kill -TERM "$gslbd_pid"
rc=0
wait "$gslbd_pid" || rc=$?
gslbd_pid=""
left="$(find /dev/hugepages -maxdepth 1 -name 'gslbd-site1*' | wc -l)"
if [ "$rc" -eq 0 ] && grep -q "^data core 0:" "$work/gslbd.log" && [ "$left" -eq 0 ]; then
    ok "SIGTERM: exit 0, final counters printed, no hugepage files left"
else
    bad "clean stop: exit $rc, hugepage files left: $left"
fi
grep -E "^(gslbd|data core|port)" "$work/gslbd.log" | sed 's/^/  /'

# 7. Two data cores sharing the second CPU.
cp examples/site1.toml "$work/two.toml"
sed -i -e 's/^lcores = .*/lcores = "0@0,1@1,2@1"/' -e 's/iface=gs1-wire,qpairs=1/iface=gs1-wire,qpairs=2/' "$work/two.toml"
"$bin" run --config "$work/two.toml" >"$work/two.log" 2>&1 &
gslbd_pid=$!
for _ in $(seq 1 50); do
    client curl -s --max-time 1 http://192.0.2.10/ >/dev/null 2>&1 && break
    sleep 0.2
done
answers="$(for _ in $(seq 1 20); do client curl -s --max-time 3 http://192.0.2.10/; done | sort | uniq -c | tr -s ' ')"
pop="$(client curl -s --max-time 10 pop3://192.0.2.10/1 -u alice:secret | grep -c "Hello from pop1")"
kill -TERM "$gslbd_pid"
wait "$gslbd_pid" || true
gslbd_pid=""
handed="$(grep -o 'handed_in=[0-9]*' "$work/two.log" | awk -F= '{ s += $2 } END { print s + 0 }')"
cores="$(grep -c '^data core [01]:' "$work/two.log")"
web="$(tr -d ' \n' <<<"$answers")"
if [ "$cores" -eq 2 ] && [ "$pop" -ge 1 ] && [[ "$web" =~ ^[0-9]+web1[0-9]+web2$ ]] && [ "$(awk '{ s += $1 } END { print s }' <<<"$answers")" -eq 20 ]; then
    ok "two data cores: 20 of 20 HTTP answers ($web), POP3 works, $handed packets handed between cores"
else
    bad "two data cores: cores $cores, HTTP answers $answers, POP3 $pop"
fi
grep -E "^(gslbd|data core|port)" "$work/two.log" | sed 's/^/  /'

echo "e2e-site: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
