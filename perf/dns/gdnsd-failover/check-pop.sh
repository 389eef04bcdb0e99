#!/usr/bin/env bash
# gdnsd's extmon check for perf/dns-failover.sh: site 1's VIP is up while
# site 1's POP3 server greets with +OK (gslbd's check also logs in);
# anything else is up.
case "$1" in
192.0.2.10)
    exec timeout 0.9 bash -c 'exec 3<>/dev/tcp/10.1.0.21/110 && read -r l <&3 && [[ "$l" == +OK* ]]'
    ;;
*) exit 0 ;;
esac
