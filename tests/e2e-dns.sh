#!/usr/bin/env bash
# The GSLB's DNS end to end: both sites' appliances (as in e2e-seed.sh) are
# authoritative for gslb.example.org on their own addresses; dig in site 1's
# client namespace asks them through the data path and the exception path.
# Checks, in order:
#   1. A for pop.gslb.example.org is site 1's VIP, from either appliance,
#      over UDP and TCP; SOA, NS with glue, NXDOMAIN, NODATA (AAAA), REFUSED
#      outside the zone;
#   2. EDNS Client Subnet: a client in site 2's subnet is sent to site 2,
#      and the option comes back with scope /24;
#   3. the admin API explains the answer rule by rule;
#   4. site 1's POP3 server killed: the answer becomes site 2's VIP; started
#      again: site 1's (the seconds each took are printed);
#   5. the response counters are in /metrics, UDP queries were answered on
#      the data core (not by the kernel's socket), and a repeated question
#      was answered from the response cache;
#   6. reloaded with answer_on = "thread": the DNS thread answers through
#      the data path's rings, and no more answers are made on the data core.
# Needs root and hugepages.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NAME=e2e-dns
PAGES=256
# shellcheck source=tests/e2e-common.sh
. tests/e2e-common.sh

two_sites
q() { ip netns exec gs1-client dig +time=1 +tries=1 "$@" 2>&1; }
short() { q @198.51.100.1 +short "$@" | tr '\n' ' ' | sed 's/ $//'; }
for _ in $(seq 1 100); do
    grep -q "^site-state: site2 is reachable" "$work/site1.log" &&
        [ "$(short pop.gslb.example.org)" = 192.0.2.10 ] && break
    sleep 0.1
done

# 1. Authoritative answers.
a1="$(short pop.gslb.example.org)"
a2="$(q @203.0.113.1 +short pop.gslb.example.org | tr -d '\n')"
tcp="$(q @198.51.100.1 +tcp +short pop.gslb.example.org | tr -d '\n')"
full="$(q @198.51.100.1 pop.gslb.example.org)"
if [ "$a1" = 192.0.2.10 ] && [ "$a2" = 192.0.2.10 ] && [ "$tcp" = 192.0.2.10 ] &&
    grep -q "flags: qr aa rd;" <<<"$full" && grep -qE "^pop.gslb.example.org.\s+60\s+IN\s+A\s+192.0.2.10" <<<"$full"; then
    ok "pop.gslb.example.org A 192.0.2.10 (TTL 60, authoritative) from both appliances, over UDP and TCP"
else
    bad "A answers: site1 '$a1', site2 '$a2', tcp '$tcp'"
fi
soa="$(short gslb.example.org SOA)"
ns="$(q @198.51.100.1 gslb.example.org NS)"
nx="$(q @198.51.100.1 nope.gslb.example.org)"
aaaa="$(q @198.51.100.1 pop.gslb.example.org AAAA)"
refused="$(q @198.51.100.1 www.example.com)"
if [[ "$soa" == "ns1.gslb.example.org. hostmaster.example.org. "* ]] &&
    grep -qE "^ns2.gslb.example.org.\s+[0-9]+\s+IN\s+A\s+203.0.113.1" <<<"$ns" &&
    grep -q "status: NXDOMAIN" <<<"$nx" && grep -q "IN	SOA" <<<"$nx" &&
    grep -q "status: NOERROR" <<<"$aaaa" && grep -q "ANSWER: 0" <<<"$aaaa" &&
    grep -q "status: REFUSED" <<<"$refused"; then
    ok "SOA, NS with glue, NXDOMAIN with the SOA, NODATA for AAAA, REFUSED outside the zone"
else
    bad "zone answers: soa '$soa'; nx $(grep -o 'status: [A-Z]*' <<<"$nx"); aaaa $(grep -o 'status: [A-Z]*' <<<"$aaaa"); refused $(grep -o 'status: [A-Z]*' <<<"$refused")"
fi

# 2. Client subnet.
ecs="$(q @198.51.100.1 +subnet=203.0.113.0/24 pop.gslb.example.org)"
if grep -qE "^pop.gslb.example.org.\s+60\s+IN\s+A\s+203.0.113.10" <<<"$ecs" && grep -q "CLIENT-SUBNET: 203.0.113.0/24/24" <<<"$ecs"; then
    ok "ECS 203.0.113.0/24: answered with site 2's VIP, scope /24 echoed"
else
    bad "ECS answer: $(grep -E 'IN\s+A|CLIENT-SUBNET' <<<"$ecs" | tr '\n' ' ')"
fi

# 3. Why this answer.
why="$(curl -s 'http://127.0.0.1:9181/api/dns/explain?name=pop.gslb.example.org&client=198.51.100.7')"
if python3 -c '
import json, sys
j = json.loads(sys.argv[1])
rules = [s["rule"] for s in j["steps"]]
assert rules == ["availability", "proximity", "failover"], rules
assert j["answers"] == ["192.0.2.10"], j["answers"]
assert {c["site"]: c["healthy"] for c in j["candidates"]} == {"site1": True, "site2": True}
' "$why"; then
    ok "/api/dns/explain: candidates, availability -> proximity -> failover, answer 192.0.2.10"
else
    bad "explain: $why"
fi

# 4. Failover through DNS, and back.
t0="$(now)"
GSLBD_LAB_SITE=1 scripts/lab.sh kill-server pop1 >/dev/null
for _ in $(seq 1 200); do [ "$(short pop.gslb.example.org)" = 203.0.113.10 ] && break; sleep 0.05; done
away="$(since "$t0")"
moved="$(short pop.gslb.example.org)"
GSLBD_LAB_SITE=1 scripts/lab.sh start-server pop1 >/dev/null
t0="$(now)"
for _ in $(seq 1 200); do [ "$(short pop.gslb.example.org)" = 192.0.2.10 ] && break; sleep 0.05; done
back="$(since "$t0")"
if [ "$moved" = 203.0.113.10 ] && [ "$(short pop.gslb.example.org)" = 192.0.2.10 ]; then
    ok "site 1's POP3 killed: dig answered site 2's VIP ${away} s later; restarted: site 1's again ${back} s after start-server returned"
else
    bad "DNS failover: after the kill '$moved' (${away} s), after the restart '$(short pop.gslb.example.org)'"
fi

# 5. Counters. The same question three times (no EDNS cookie: dig's is new
# each run, and part of the cache key) is built once and given from the
# response cache after.
for _ in 1 2 3; do q @198.51.100.1 +nocookie +short pop.gslb.example.org >/dev/null; done
m="$(curl -s http://127.0.0.1:9181/metrics)"
nxd="$(awk '/^gslbd_dns_responses_total\{rcode="NXDOMAIN"\}/ { print $2 }' <<<"$m")"
noerr="$(awk '/^gslbd_dns_responses_total\{rcode="NOERROR"\}/ { print $2 }' <<<"$m")"
tcpq="$(awk '/^gslbd_dns_tcp_queries_total/ { print $2 }' <<<"$m")"
# UDP queries stay on the data path, not the kernel's socket: the data cores
# count each query and each answer sent, and how many they made themselves.
events() { awk -v e="$2" '$1 ~ /^gslbd_events_total\{/ && $1 ~ "event=\"" e "\"" { s += $2 } END { print s + 0 }' <<<"$1"; }
on_core() { awk '/^gslbd_dns_data_core_answers_total/ { print $2 }' <<<"$1"; }
ring_q="$(events "$m" dns_queries)"
ring_a="$(events "$m" dns_answers)"
inline="$(on_core "$m")"
hits="$(awk '/^gslbd_dns_cache_hits_total/ { print $2 }' <<<"$m")"
if [ "${nxd:-0}" -ge 1 ] && [ "${noerr:-0}" -ge 10 ] && [ "${tcpq:-0}" -ge 1 ] &&
    [ "$ring_q" -ge 10 ] && [ "$ring_a" -ge 10 ] && [ "$((ring_q + tcpq))" -ge "$((noerr + nxd))" ] &&
    [ "${inline:-0}" -ge 10 ] && [ "${hits:-0}" -ge 2 ]; then
    ok "metrics: $noerr NOERROR, $nxd NXDOMAIN, $tcpq over TCP; $ring_q UDP queries on the data path, $ring_a answers ($inline made on the data core), $hits from the response cache"
else
    bad "dns metrics: noerror '$noerr' nxdomain '$nxd' tcp '$tcpq' data-path queries '$ring_q' answers '$ring_a' made on the data core '$inline' cache hits '$hits'"
fi

# 6. The DNS thread instead (a reload): the same answers, none made on the data core.
sed -i 's/^answer_on = .*/answer_on = "thread"/' "$work/site1.toml"
kill -HUP "${pids[0]}"
for _ in $(seq 1 100); do
    [ "$(grep -c "^reloaded" "$work/site1.log")" -ge 1 ] && break
    sleep 0.1
done
sleep 0.5 # "reloaded" is printed before the new view is published, in the same loop turn
answered=0
for _ in 1 2 3 4 5; do [ "$(short +nocookie pop.gslb.example.org)" = 192.0.2.10 ] && answered=$((answered + 1)); done
m2="$(curl -s http://127.0.0.1:9181/metrics)"
moved=$(($(events "$m2" dns_answers) - $(events "$m" dns_answers)))
if [ "$answered" -eq 5 ] && [ "$moved" -ge 5 ] && [ "$(on_core "$m2")" = "$inline" ]; then
    ok "answer_on = \"thread\" (reload): 5 of 5 answers right, $moved more answers sent, all made by the DNS thread"
else
    bad "answer_on = thread: $answered of 5 right, $moved answers sent, made on the data core: $inline then $(on_core "$m2")"
fi

if [ "$failed" -gt 0 ]; then
    grep -vE "^(EAL|TELEMETRY|tap_|qdisc|eth_dev_tap)" "$work/site1.log" | tail -n 15 | sed 's/^/  /'
fi
echo "e2e-dns: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
