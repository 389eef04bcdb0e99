/*
 * Preloaded into Pktgen-DPDK by perf/pktgen-bench.sh.
 *
 * Pktgen 23.06.1 sets the MTU on every port and stops with a panic when that
 * fails; DPDK 22.11's net_memif has no MTU operation, so the call fails with
 * -ENOTSUP and pktgen cannot use a memif port at all. A memif port carries
 * any frame that fits its buffers, so "not supported" is taken as success
 * here; every other error still reaches pktgen.
 *
 *   cc -shared -fPIC -O2 -o memif-mtu.so memif-mtu.c -ldl
 *   LD_PRELOAD=./memif-mtu.so pktgen ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

int rte_eth_dev_set_mtu(uint16_t port_id, uint16_t mtu);

int
rte_eth_dev_set_mtu(uint16_t port_id, uint16_t mtu)
{
    static int (*next)(uint16_t, uint16_t);
    int ret;

    if (next == NULL)
        next = (int (*)(uint16_t, uint16_t))dlsym(RTLD_NEXT, "rte_eth_dev_set_mtu");
    if (next == NULL) /* no ethdev library loaded: nothing to set */
        return 0;
    ret = next(port_id, mtu);
    return ret == -ENOTSUP ? 0 : ret;
}
