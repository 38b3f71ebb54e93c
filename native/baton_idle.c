/* The idle waits of baton's poll loops (--idle=adaptive): a loop that
 * found nothing blocks here, on rx interrupts where every queue it polls
 * has them (as DPDK's examples/l3fwd-power does: arm, poll once more to
 * close the race, rte_epoll_wait, disarm), else in a short sleep. The
 * ports are configured with interrupts in baton_shim.c. Each thread waits
 * on its own per-thread epoll; the counters are the process's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <rte_epoll.h>
#include <rte_ethdev.h>
#include <rte_interrupts.h>

#include "baton_internal.h"

/* A poll loop's thread while it waits: the rx queues it polls, each with
 * an interrupt where its port has them (registered in the thread's own
 * epoll, RTE_EPOLL_PER_THREAD). Only the thread itself touches it. */
#define BT_WAIT_QUEUES 16

enum { BT_WOKE_TIMEOUT, BT_WOKE_RX_INTR };

struct bt_waiter {
	int active;
	/* every watched queue raises rx interrupts: waits block in epoll */
	int interrupts;
	uint32_t nb_queues;
	uint16_t port[BT_WAIT_QUEUES];
	uint16_t queue[BT_WAIT_QUEUES];
	uint8_t intr[BT_WAIT_QUEUES];
};

static __thread struct bt_waiter waiter;

/* What the waits of every thread did: waits, woken by an rx interrupt,
 * timed out. Read with bt_idle_counters. */
enum { BT_IDLE_WAITS, BT_IDLE_RX_INTR, BT_IDLE_TIMEOUT, BT_IDLE_COUNTERS };
static uint64_t idle_counters[BT_IDLE_COUNTERS];

static void set_rx_intr(int on)
{
	for (uint32_t i = 0; i < waiter.nb_queues; i++) {
		/* -ENOTSUP from a PMD whose queue fd always signals is fine */
		if (on)
			rte_eth_dev_rx_intr_enable(waiter.port[i], waiter.queue[i]);
		else
			rte_eth_dev_rx_intr_disable(waiter.port[i], waiter.queue[i]);
	}
}

/* Makes the calling thread (a poll loop) a waiter, and sets its timer
 * slack: the kernel's default 50 us would stretch every short sleep. */
int32_t bt_idle_begin(uint32_t timer_slack_ns)
{
	if (waiter.active)
		return bt_internal_fail(-EEXIST, "%s", "this thread is a waiter already");
	memset(&waiter, 0, sizeof(waiter));
	waiter.active = 1;
	if (timer_slack_ns > 0)
		prctl(PR_SET_TIMERSLACK, (unsigned long)timer_slack_ns, 0, 0, 0);
	return 0;
}

/* Watches an rx queue the calling thread polls: 1 when it raises rx
 * interrupts, 0 when not. The thread waits on interrupts only when every
 * watched queue has them (else a frame on the others would wait too). */
int32_t bt_idle_watch_queue(uint32_t port, uint32_t queue)
{
	if (!waiter.active)
		return bt_internal_fail(-EINVAL, "%s", "bt_idle_begin first");
	if (port >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port((uint16_t)port))
		return bt_internal_fail(-ENODEV, "port %s does not exist", "");
	for (uint32_t i = 0; i < waiter.nb_queues; i++) {
		if (waiter.port[i] == port && waiter.queue[i] == queue)
			return waiter.intr[i];
	}
	if (waiter.nb_queues == BT_WAIT_QUEUES)
		return bt_internal_fail(-ENOSPC, "%s", "too many rx queues for one thread");
	uint32_t i = waiter.nb_queues++;
	waiter.port[i] = (uint16_t)port;
	waiter.queue[i] = (uint16_t)queue;
	waiter.intr[i] = 0;
	if (bt_internal_queue_rx_intr((uint16_t)port, (uint16_t)queue)) {
		void *data = (void *)(uintptr_t)(port << 16 | queue);
		waiter.intr[i] = rte_eth_dev_rx_intr_ctl_q((uint16_t)port, (uint16_t)queue,
							   RTE_EPOLL_PER_THREAD,
							   RTE_INTR_EVENT_ADD, data) == 0;
	}
	waiter.interrupts = 1;
	for (uint32_t k = 0; k < waiter.nb_queues; k++)
		waiter.interrupts = waiter.interrupts && waiter.intr[k];
	return waiter.intr[i];
}

/* The loop found nothing and means to wait on interrupts: turns them on.
 * It must poll once more before bt_idle_wait (a frame that came before
 * this raised none), and call bt_idle_disarm if that poll found work.
 * Returns 1 when waits are on rx interrupts, 0 when the caller sleeps. */
int32_t bt_idle_arm(void)
{
	if (!waiter.interrupts)
		return 0;
	set_rx_intr(1);
	return 1;
}

void bt_idle_disarm(void)
{
	if (waiter.interrupts)
		set_rx_intr(0);
}

/* After bt_idle_arm and one more empty poll: blocks the calling thread
 * until an rx interrupt on a watched queue or timeout_us (rounded up to
 * whole milliseconds, epoll's unit), then turns interrupts off again.
 * Returns BT_WOKE_RX_INTR or BT_WOKE_TIMEOUT. Without interrupts it sleeps
 * timeout_us. */
int32_t bt_idle_wait(uint32_t timeout_us)
{
	int woke = BT_WOKE_TIMEOUT;
	if (waiter.interrupts) {
		struct rte_epoll_event events[BT_WAIT_QUEUES];
		int ms = (int)((timeout_us + 999) / 1000);
		int n = rte_epoll_wait(RTE_EPOLL_PER_THREAD, events, (int)waiter.nb_queues, ms);
		if (n > 0)
			woke = BT_WOKE_RX_INTR;
		set_rx_intr(0);
	} else {
		struct timespec t = { .tv_sec = timeout_us / 1000000,
				      .tv_nsec = (long)(timeout_us % 1000000) * 1000 };
		clock_nanosleep(CLOCK_MONOTONIC, 0, &t, NULL);
	}
	__atomic_fetch_add(&idle_counters[BT_IDLE_WAITS], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&idle_counters[woke == BT_WOKE_RX_INTR ? BT_IDLE_RX_INTR
								  : BT_IDLE_TIMEOUT],
			   1, __ATOMIC_RELAXED);
	return woke;
}

/* The calling thread's loop ends: its queues leave its epoll. */
void bt_idle_end(void)
{
	if (!waiter.active)
		return;
	bt_idle_disarm();
	for (uint32_t i = 0; i < waiter.nb_queues; i++) {
		if (waiter.intr[i])
			rte_eth_dev_rx_intr_ctl_q(waiter.port[i], waiter.queue[i],
						  RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_DEL, NULL);
	}
	memset(&waiter, 0, sizeof(waiter));
}

/* The wait counters, as doubles: waits, woken by an rx interrupt, timed out. */
int32_t bt_idle_counters(double *out, uint32_t cap)
{
	uint32_t n = cap < BT_IDLE_COUNTERS ? cap : BT_IDLE_COUNTERS;
	for (uint32_t i = 0; i < n; i++)
		out[i] = (double)__atomic_load_n(&idle_counters[i], __ATOMIC_RELAXED);
	return (int32_t)n;
}

