/* Out-of-line wrappers for DPDK's static-inline functions and macros, which
 * bindgen cannot bind: each is a one-line call, compiled with the same flags
 * as DPDK (pkg-config's), so the inline fast paths stay as DPDK meant them. */
#ifndef GSLBD_SHIM_H
#define GSLBD_SHIM_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

uint16_t gslbd_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t gslbd_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *gslbd_pktmbuf_alloc(struct rte_mempool *pool);
void gslbd_pktmbuf_free(struct rte_mbuf *m);
void gslbd_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n);
/* The frame's first byte, its length, and the room from the first byte to
 * the end of the buffer (what a reply may grow into). */
uint8_t *gslbd_mtod(struct rte_mbuf *m);
uint16_t gslbd_data_len(const struct rte_mbuf *m);
uint16_t gslbd_data_room(const struct rte_mbuf *m);
/* Sets a single-segment frame's length (data_len and pkt_len). */
void gslbd_set_len(struct rte_mbuf *m, uint16_t len);
/* Whether the NIC verified the IPv4 header checksum as good or bad (0: unknown). */
int gslbd_ip_cksum_flag(const struct rte_mbuf *m);
int gslbd_errno(void);
unsigned int gslbd_lcore_id(void);
uint64_t gslbd_rdtsc(void);
unsigned int gslbd_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned int n);
unsigned int gslbd_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned int n);
unsigned int gslbd_ring_count(const struct rte_ring *r);

/* Flag values that DPDK defines as macro expressions bindgen cannot evaluate. */
uint64_t gslbd_rx_offload_cksum(void); /* IPv4 + TCP + UDP checksum checks */
uint64_t gslbd_tx_offload_cksum(void); /* IPv4 + TCP + UDP checksum insertion */
uint64_t gslbd_rss_hf(void);           /* RSS over IPv4 addresses and TCP/UDP ports */

#endif
