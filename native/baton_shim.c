/* baton's native shim: the only C in baton, and as small as it can be.
 *
 * It wraps what TypeScript cannot call directly (EAL, ethdev, mempool,
 * rte_ring) and keeps every hot call to u32/i32 arguments so Deno's FFI
 * takes its fast path. Packet bytes are never copied here: the mempool is
 * one memory region that TypeScript maps once, and each rx burst fills a
 * caller-visible descriptor table of [offset, length, action, _] int32s
 * per packet. TypeScript rewrites bytes in place through its one view, sets
 * each packet's action (a port to send on, or BT_DROP), and hands the burst
 * back with bt_tx_burst.
 *
 * Ports are configured here with rx interrupts where the PMD has them; an
 * idle poll loop waits on them in baton_idle.c. baton_internal.h is what
 * the shim's C files share.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "baton_internal.h"

#define BT_MAX_SLOTS 16     /* one slot per Worker pipeline */
#define BT_MAX_BURST 512    /* testpmd's MAX_PKT_BURST */
#define BT_DESC_WORDS 4     /* offset, length, action, spare */
#define BT_DROP (-1)
#define BT_MAX_RINGS 64
#define BT_ERR_LEN 256

struct bt_slot {
	/* mbufs[0, held) are this slot's: received, or allocated by bt_alloc */
	uint32_t held;
	struct rte_mbuf *mbufs[BT_MAX_BURST];
	int32_t desc[BT_MAX_BURST * BT_DESC_WORDS];
	/* per-port grouping scratch for bt_tx_burst */
	struct rte_mbuf *out[BT_MAX_BURST];
};

static struct bt_slot slots[BT_MAX_SLOTS];
static struct rte_mempool *pool;
static uintptr_t region_base;
static size_t region_len;
static struct rte_ring *rings[BT_MAX_RINGS];
static char last_error[BT_ERR_LEN];

/* What the hot calls refused, rather than trust TypeScript with memory:
 * a slot index out of range, a count beyond what the slot holds, a length
 * word beyond the mbuf's buffer, an action that is no port. Read with
 * bt_shim_counters. */
enum { BT_BAD_SLOT, BT_BEYOND_HELD, BT_BAD_LENGTH, BT_BAD_PORT, BT_SHIM_COUNTERS };
static uint64_t shim_counters[BT_SHIM_COUNTERS];

static int fail(int code, const char *fmt, const char *detail)
{
	snprintf(last_error, sizeof(last_error), fmt, detail);
	return code;
}

int bt_internal_fail(int code, const char *fmt, const char *detail)
{
	return fail(code, fmt, detail);
}

/* ---- errors -------------------------------------------------------- */

/* Copies the last error message into buf (NUL-terminated); returns its length. */
int32_t bt_last_error(char *buf, uint32_t cap)
{
	if (cap == 0)
		return 0;
	snprintf(buf, cap, "%s", last_error);
	return (int32_t)strlen(buf);
}

/* ---- EAL ----------------------------------------------------------- */

/* args: argc NUL-terminated strings back to back. Returns the number of
 * arguments EAL consumed, or a negative errno-style code. */
int32_t bt_eal_init(const char *args, int32_t argc)
{
	char **argv = calloc((size_t)argc + 1, sizeof(char *));
	if (argv == NULL)
		return fail(-ENOMEM, "%s", "out of memory for argv");
	const char *p = args;
	for (int i = 0; i < argc; i++) {
		argv[i] = strdup(p);
		p += strlen(p) + 1;
	}
	int ret = rte_eal_init(argc, argv);
	/* EAL keeps pointers into argv: leak it on purpose. */
	if (ret < 0)
		return fail(rte_errno > 0 ? -rte_errno : -EINVAL, "rte_eal_init failed: %s",
			    rte_strerror(rte_errno));
	return ret;
}

int32_t bt_eal_cleanup(void)
{
	return rte_eal_cleanup();
}

int32_t bt_lcore_count(void)
{
	return (int32_t)rte_lcore_count();
}

/* Writes the cpu ids of enabled lcores, main first; returns how many. */
int32_t bt_lcore_cpus(int32_t *out, uint32_t cap)
{
	uint32_t n = 0;
	unsigned int main_lcore = rte_get_main_lcore();
	if (n < cap)
		out[n++] = (int32_t)rte_lcore_to_cpu_id((int)main_lcore);
	unsigned int lcore;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (n < cap)
			out[n++] = (int32_t)rte_lcore_to_cpu_id((int)lcore);
	}
	return (int32_t)n;
}

/* Pins the calling thread to one cpu and makes it an EAL thread, so that
 * mempool per-lcore caches apply to it. */
int32_t bt_thread_register(int32_t cpu)
{
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		int r = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (r != 0)
			return fail(-r, "pin to cpu failed: %s", strerror(r));
	}
	if (rte_thread_register() != 0)
		return fail(-rte_errno, "rte_thread_register: %s",
			    rte_strerror(rte_errno));
	return (int32_t)rte_lcore_id();
}

void bt_thread_unregister(void)
{
	rte_thread_unregister();
}

/* ---- mempool ------------------------------------------------------- */

static void region_span(struct rte_mempool *mp, void *opaque,
			struct rte_mempool_memhdr *memhdr, unsigned int idx)
{
	(void)mp;
	(void)opaque;
	(void)idx;
	uintptr_t lo = (uintptr_t)memhdr->addr;
	uintptr_t hi = lo + memhdr->len;
	if (region_base == 0 || lo < region_base) {
		if (region_base != 0)
			region_len += region_base - lo;
		region_base = lo;
	}
	if (hi > region_base + region_len)
		region_len = hi - region_base;
}

int32_t bt_pool_create(uint32_t nb_mbufs, uint32_t data_room)
{
	if (pool != NULL)
		return 0;
	pool = rte_pktmbuf_pool_create("baton_pool", nb_mbufs, 256, 0,
				       (uint16_t)data_room, (int)rte_socket_id());
	if (pool == NULL)
		return fail(-rte_errno, "mbuf pool: %s",
			    rte_strerror(rte_errno));
	region_base = 0;
	region_len = 0;
	rte_mempool_mem_iter(pool, region_span, NULL);
	return 0;
}

/* The one memory region TypeScript maps: [base, base+len). */
void *bt_region_base(void)
{
	return (void *)region_base;
}

uint32_t bt_region_len(void)
{
	return (uint32_t)region_len;
}

uint32_t bt_pool_available(void)
{
	return pool ? rte_mempool_avail_count(pool) : 0;
}

/* ---- ports --------------------------------------------------------- */

int32_t bt_port_count(void)
{
	return (int32_t)rte_eth_dev_count_avail();
}

int32_t bt_port_name(uint32_t port, char *buf, uint32_t cap)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	if (rte_eth_dev_get_name_by_port((uint16_t)port, name) != 0)
		return fail(-ENODEV, "no port %s", "");
	snprintf(buf, cap, "%s", name);
	return (int32_t)strlen(buf);
}

/* How each port was set up, so that a start refused with rx interrupts can
 * be retried without them; rx_intr: every rx queue has an interrupt event
 * fd, so a poll loop may block on it (bt_idle_watch_queue). */
struct bt_port_setup {
	uint16_t nb_rxq, nb_txq, rxd, txd;
	uint8_t intr_conf; /* configured with intr_conf.rxq = 1 */
	uint8_t rx_intr;
};
static struct bt_port_setup port_setup[RTE_MAX_ETHPORTS];

static int setup_queues(uint16_t id, struct bt_port_setup *ps, int rx_intr)
{
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.intr_conf.rxq = rx_intr ? 1 : 0;
	ps->intr_conf = 0;
	ps->rx_intr = 0;
	int r = rte_eth_dev_configure(id, ps->nb_rxq, ps->nb_txq, &conf);
	if (r < 0)
		return fail(r, "rte_eth_dev_configure: %s", rte_strerror(-r));
	uint16_t rxd = ps->rxd, txd = ps->txd;
	r = rte_eth_dev_adjust_nb_rx_tx_desc(id, &rxd, &txd);
	if (r < 0)
		return fail(r, "adjust descriptors: %s", rte_strerror(-r));
	int socket = rte_eth_dev_socket_id(id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	for (uint16_t q = 0; q < ps->nb_rxq; q++) {
		r = rte_eth_rx_queue_setup(id, q, rxd, (unsigned int)socket,
					   NULL, pool);
		if (r < 0)
			return fail(r, "rx queue setup: %s", rte_strerror(-r));
	}
	for (uint16_t q = 0; q < ps->nb_txq; q++) {
		r = rte_eth_tx_queue_setup(id, q, txd, (unsigned int)socket,
					   NULL);
		if (r < 0)
			return fail(r, "tx queue setup: %s", rte_strerror(-r));
	}
	ps->intr_conf = (uint8_t)conf.intr_conf.rxq;
	return 0;
}

/* rx_intr: try rx queue interrupts first (intr_conf.rxq = 1), and without
 * them when the PMD refuses; bt_port_rx_intr says after the start whether
 * they are there. */
int32_t bt_port_configure(uint32_t port, uint32_t nb_rxq, uint32_t nb_txq,
			  uint32_t nb_rxd, uint32_t nb_txd, uint32_t rx_intr)
{
	uint16_t id = (uint16_t)port;
	if (port >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(id))
		return fail(-ENODEV, "port %s does not exist", "");
	struct bt_port_setup *ps = &port_setup[id];
	ps->nb_rxq = (uint16_t)nb_rxq;
	ps->nb_txq = (uint16_t)nb_txq;
	ps->rxd = (uint16_t)nb_rxd;
	ps->txd = (uint16_t)nb_txd;
	if (rx_intr && setup_queues(id, ps, 1) == 0)
		return 0;
	return setup_queues(id, ps, 0);
}

int32_t bt_port_start(uint32_t port)
{
	uint16_t id = (uint16_t)port;
	if (port >= RTE_MAX_ETHPORTS)
		return fail(-ENODEV, "port %s does not exist", "");
	struct bt_port_setup *ps = &port_setup[id];
	int r = rte_eth_dev_start(id);
	if (r < 0 && ps->intr_conf) {
		/* configure took rx interrupts but start did not: without them */
		if (setup_queues(id, ps, 0) == 0)
			r = rte_eth_dev_start(id);
	}
	if (r < 0)
		return fail(r, "rte_eth_dev_start: %s", rte_strerror(-r));
	int armed = ps->intr_conf && ps->nb_rxq > 0;
	if (armed) {
		/* PMDs that ignore intr_conf.rxq (most vdevs) make ethdev log an
		 * error here: a probe's answer, not the user's problem */
		int level = rte_log_get_level(rte_eth_dev_logtype);
		rte_log_set_level(rte_eth_dev_logtype, RTE_LOG_CRIT);
		for (uint16_t q = 0; armed && q < ps->nb_rxq; q++)
			armed = rte_eth_dev_rx_intr_ctl_q_get_fd(id, q) >= 0;
		if (level >= 0)
			rte_log_set_level(rte_eth_dev_logtype, (uint32_t)level);
	}
	ps->rx_intr = (uint8_t)armed;
	return 0;
}

int bt_internal_queue_rx_intr(uint16_t port, uint16_t queue)
{
	return port < RTE_MAX_ETHPORTS && port_setup[port].rx_intr &&
	       queue < port_setup[port].nb_rxq;
}

/* 1 when the started port has rx interrupts on every rx queue, else 0. */
int32_t bt_port_rx_intr(uint32_t port)
{
	if (port >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port((uint16_t)port))
		return fail(-ENODEV, "port %s does not exist", "");
	return port_setup[port].rx_intr;
}

int32_t bt_port_stop(uint32_t port)
{
	return rte_eth_dev_stop((uint16_t)port);
}

/* Closing is what makes net_pcap flush its tx_pcap file. */
int32_t bt_port_close(uint32_t port)
{
	if (port < RTE_MAX_ETHPORTS)
		port_setup[port].rx_intr = 0;
	return rte_eth_dev_close((uint16_t)port);
}

int32_t bt_port_promiscuous(uint32_t port, uint32_t on)
{
	return on ? rte_eth_promiscuous_enable((uint16_t)port)
		  : rte_eth_promiscuous_disable((uint16_t)port);
}

/* Writes the 6-byte MAC address into out. */
int32_t bt_port_mac(uint32_t port, uint8_t *out)
{
	struct rte_ether_addr addr;
	int r = rte_eth_macaddr_get((uint16_t)port, &addr);
	if (r < 0)
		return r;
	memcpy(out, addr.addr_bytes, RTE_ETHER_ADDR_LEN);
	return 0;
}

/* out[0] = up, out[1] = speed in Mbps, out[2] = full duplex. */
int32_t bt_port_link(uint32_t port, int32_t *out)
{
	struct rte_eth_link link;
	int r = rte_eth_link_get_nowait((uint16_t)port, &link);
	if (r < 0)
		return r;
	out[0] = link.link_status;
	out[1] = (int32_t)link.link_speed;
	out[2] = link.link_duplex;
	return 0;
}

/* out: ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors,
 * rx_nombuf, as doubles (exact to 2^53) so TypeScript needs no BigInt. */
int32_t bt_port_stats(uint32_t port, double *out)
{
	struct rte_eth_stats s;
	int r = rte_eth_stats_get((uint16_t)port, &s);
	if (r < 0)
		return r;
	out[0] = (double)s.ipackets;
	out[1] = (double)s.opackets;
	out[2] = (double)s.ibytes;
	out[3] = (double)s.obytes;
	out[4] = (double)s.imissed;
	out[5] = (double)s.ierrors;
	out[6] = (double)s.oerrors;
	out[7] = (double)s.rx_nombuf;
	return 0;
}

int32_t bt_port_stats_reset(uint32_t port)
{
	return rte_eth_stats_reset((uint16_t)port);
}

/* ---- bursts (the hot path) ---------------------------------------- */

/* The descriptor table of a slot, which TypeScript maps once. */
int32_t *bt_slot_desc(uint32_t slot)
{
	return slot < BT_MAX_SLOTS ? slots[slot].desc : NULL;
}

/* The refusal counters, as doubles: bad slot, beyond held, bad length, bad port. */
int32_t bt_shim_counters(double *out, uint32_t cap)
{
	uint32_t n = cap < BT_SHIM_COUNTERS ? cap : BT_SHIM_COUNTERS;
	for (uint32_t i = 0; i < n; i++)
		out[i] = (double)shim_counters[i];
	return (int32_t)n;
}

/* The slot, or NULL (counted) when the index is out of range. */
static inline struct bt_slot *slot_at(uint32_t slot)
{
	if (unlikely(slot >= BT_MAX_SLOTS)) {
		shim_counters[BT_BAD_SLOT]++;
		return NULL;
	}
	return &slots[slot];
}

/* n, or what the slot holds when n is more (counted): nothing past it is ours. */
static inline uint32_t clamp_held(const struct bt_slot *s, uint32_t n)
{
	if (unlikely(n > s->held)) {
		shim_counters[BT_BEYOND_HELD]++;
		return s->held;
	}
	return n;
}

/* A port id the action word may name (DPDK's range, and a port that exists). */
static inline int valid_port(int32_t port)
{
	return port >= 0 && port < RTE_MAX_ETHPORTS && rte_eth_dev_is_valid_port((uint16_t)port);
}

static inline void describe(struct bt_slot *s, uint32_t i, struct rte_mbuf *m)
{
	int32_t *d = &s->desc[i * BT_DESC_WORDS];
	d[0] = (int32_t)((uintptr_t)rte_pktmbuf_mtod(m, char *) - region_base);
	d[1] = (int32_t)m->data_len;
	d[2] = BT_DROP;
	d[3] = 0;
}

/* Receives up to max packets into the slot, from index 0. Chained
 * (multi-segment) mbufs are freed and not reported: baton only handles
 * single-segment frames, and data_len is what TypeScript may touch. */
uint32_t bt_rx_burst(uint32_t port, uint32_t queue, uint32_t slot, uint32_t max)
{
	struct bt_slot *s = slot_at(slot);
	if (s == NULL)
		return 0;
	/* a new burst replaces the last; its mbufs were sent or freed by now */
	s->held = 0;
	if (max > BT_MAX_BURST)
		max = BT_MAX_BURST;
	uint16_t n = rte_eth_rx_burst((uint16_t)port, (uint16_t)queue,
				      s->mbufs, (uint16_t)max);
	uint32_t kept = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = s->mbufs[i];
		if (unlikely(m->nb_segs != 1)) {
			rte_pktmbuf_free(m);
			continue;
		}
		s->mbufs[kept] = m;
		describe(s, kept, m);
		kept++;
	}
	s->held = kept;
	return kept;
}

/* Sends packets [0, n) of the slot, each to the port in its action word,
 * grouped by port in arrival order; frees drops and whatever the port
 * did not take. A length word changed by TypeScript is applied first.
 * Returns the number sent. */
uint32_t bt_tx_burst(uint32_t queue, uint32_t slot, uint32_t n)
{
	struct bt_slot *s = slot_at(slot);
	if (s == NULL)
		return 0;
	n = clamp_held(s, n);
	s->held = 0; /* from here every mbuf [0, n) is sent or freed */
	uint32_t sent = 0;
	uint32_t done = 0;
	int32_t first_port = BT_DROP;
	/* Common case: every packet goes to the same port. */
	for (uint32_t i = 0; i < n; i++) {
		int32_t *d = &s->desc[i * BT_DESC_WORDS];
		struct rte_mbuf *m = s->mbufs[i];
		if (unlikely((uint32_t)d[1] != m->data_len)) {
			/* a length TypeScript wrote: within the mbuf's buffer, or the frame is dropped */
			uint32_t room = (uint32_t)(m->buf_len - m->data_off);
			if (d[1] < 14 || (uint32_t)d[1] > room) {
				shim_counters[BT_BAD_LENGTH]++;
				d[2] = BT_DROP;
			} else {
				m->data_len = (uint16_t)d[1];
				m->pkt_len = (uint32_t)d[1];
			}
		}
		if (unlikely(d[2] != BT_DROP && !valid_port(d[2]))) {
			shim_counters[BT_BAD_PORT]++;
			d[2] = BT_DROP;
		}
		if (i == 0)
			first_port = d[2];
		else if (d[2] != first_port)
			first_port = -2; /* mixed */
	}
	if (first_port >= 0) {
		uint16_t k = rte_eth_tx_burst((uint16_t)first_port,
					      (uint16_t)queue, s->mbufs,
					      (uint16_t)n);
		for (uint32_t i = k; i < n; i++)
			rte_pktmbuf_free(s->mbufs[i]);
		return k;
	}
	/* Mixed: free the drops, then one tx per distinct port. */
	for (uint32_t i = 0; i < n; i++) {
		if (s->desc[i * BT_DESC_WORDS + 2] < 0) {
			rte_pktmbuf_free(s->mbufs[i]);
			s->mbufs[i] = NULL;
			done++;
		}
	}
	while (done < n) {
		int32_t port = BT_DROP;
		uint16_t k = 0;
		for (uint32_t i = 0; i < n; i++) {
			if (s->mbufs[i] == NULL)
				continue;
			int32_t p = s->desc[i * BT_DESC_WORDS + 2];
			if (port == BT_DROP)
				port = p;
			if (p == port) {
				s->out[k++] = s->mbufs[i];
				s->mbufs[i] = NULL;
			}
		}
		uint16_t t = 0;
		if (valid_port(port))
			t = rte_eth_tx_burst((uint16_t)port, (uint16_t)queue,
					     s->out, k);
		for (uint16_t i = t; i < k; i++)
			rte_pktmbuf_free(s->out[i]);
		sent += t;
		done += k;
	}
	return sent;
}

/* Frees packets [0, n) of the slot (for flushing rx queues). */
void bt_free_burst(uint32_t slot, uint32_t n)
{
	struct bt_slot *s = slot_at(slot);
	if (s == NULL)
		return;
	n = clamp_held(s, n);
	rte_pktmbuf_free_bulk(s->mbufs, n);
	s->held = 0;
}

/* Allocates one mbuf into slot position index with length len, so that
 * TypeScript can write a packet it builds (ARP reply, SYN/ACK, ...).
 * Returns the data offset in the region, or -1 when the pool is empty. */
int32_t bt_alloc(uint32_t slot, uint32_t index, uint32_t len)
{
	struct bt_slot *s = slot_at(slot);
	if (s == NULL || index >= BT_MAX_BURST || len > UINT16_MAX)
		return -1;
	/* positions are filled in order from 0: a gap would hold a stale mbuf */
	if (index > s->held) {
		shim_counters[BT_BEYOND_HELD]++;
		return -1;
	}
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (m == NULL)
		return -1;
	if (rte_pktmbuf_append(m, (uint16_t)len) == NULL) {
		rte_pktmbuf_free(m);
		return -1;
	}
	if (index < s->held) /* overwriting one not sent: free it, never leak it */
		rte_pktmbuf_free(s->mbufs[index]);
	s->mbufs[index] = m;
	describe(s, index, m);
	if (index == s->held)
		s->held = index + 1;
	return s->desc[index * BT_DESC_WORDS];
}

/* ---- rings between Workers ---------------------------------------- */

struct bt_msg {
	uint32_t len;
	uint8_t data[];
};

int32_t bt_ring_create(const char *name, uint32_t size)
{
	struct rte_ring *r = rte_ring_lookup(name);
	if (r == NULL)
		r = rte_ring_create(name, size, (int)rte_socket_id(), 0);
	if (r == NULL)
		return fail(-rte_errno, "ring: %s", rte_strerror(rte_errno));
	for (int i = 0; i < BT_MAX_RINGS; i++) {
		if (rings[i] == r)
			return i;
	}
	for (int i = 0; i < BT_MAX_RINGS; i++) {
		if (rings[i] == NULL) {
			rings[i] = r;
			return i;
		}
	}
	return fail(-ENOSPC, "%s", "too many rings");
}

/* Copies len bytes into a new message; returns 0, or -1 when full. */
int32_t bt_ring_enqueue(uint32_t ring, const uint8_t *buf, uint32_t len)
{
	if (ring >= BT_MAX_RINGS || rings[ring] == NULL)
		return -1;
	struct bt_msg *m = malloc(sizeof(*m) + len);
	if (m == NULL)
		return -1;
	m->len = len;
	memcpy(m->data, buf, len);
	if (rte_ring_enqueue(rings[ring], m) != 0) {
		free(m);
		return -1;
	}
	return 0;
}

/* Copies the next message into buf; returns its length, -1 when empty,
 * -2 when it does not fit (the message is dropped). */
int32_t bt_ring_dequeue(uint32_t ring, uint8_t *buf, uint32_t cap)
{
	if (ring >= BT_MAX_RINGS || rings[ring] == NULL)
		return -1;
	void *obj;
	if (rte_ring_dequeue(rings[ring], &obj) != 0)
		return -1;
	struct bt_msg *m = obj;
	int32_t len = (int32_t)m->len;
	if (m->len > cap)
		len = -2;
	else
		memcpy(buf, m->data, m->len);
	free(m);
	return len;
}

uint32_t bt_ring_count(uint32_t ring)
{
	if (ring >= BT_MAX_RINGS || rings[ring] == NULL)
		return 0;
	return rte_ring_count(rings[ring]);
}

/* ---- benchmark support --------------------------------------------- */

/* Writes frames (nb_frames of frame_len bytes, back to back) round-robin
 * into every free mbuf of the pool, then frees them again. PMDs that hand
 * out pool mbufs without writing them (net_null) then "receive" these
 * frames, which makes net_null a pktgen-like source of real TCP flows. */
int32_t bt_pool_fill(const uint8_t *frames, uint32_t frame_len,
		     uint32_t nb_frames)
{
	if (pool == NULL || nb_frames == 0)
		return fail(-EINVAL, "%s", "no pool or no frames");
	unsigned int avail = rte_mempool_avail_count(pool);
	struct rte_mbuf **all = calloc(avail, sizeof(*all));
	if (all == NULL)
		return fail(-ENOMEM, "%s", "out of memory");
	unsigned int got = 0;
	while (got < avail) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
		if (m == NULL)
			break;
		if (rte_pktmbuf_tailroom(m) >= frame_len) {
			uint32_t k = got % nb_frames;
			memcpy(rte_pktmbuf_mtod(m, uint8_t *),
			       frames + (size_t)k * frame_len, frame_len);
		}
		all[got++] = m;
	}
	rte_pktmbuf_free_bulk(all, got);
	free(all);
	return (int32_t)got;
}
