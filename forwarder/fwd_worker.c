/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Worker lcore loop: visit each queue pair once per iteration, report an
 * RCU quiescent state, account busy and idle cycles, and back off when idle
 * so an idle VM's forwarder costs next to no CPU.
 */

#include <sys/prctl.h>

#include <rte_cycles.h>
#include <rte_rcu_qsbr.h>

#include <vfrelay/barrier.h>
#include <vfrelay/qsync.h>
#include <vfrelay/vhost_backend.h>

#include "fwd_priv.h"

/*
 * A zero-copy capable queue pair follows the control side's request, inside
 * a window the control side can wait for (see struct fwd_queue). TX is in
 * the window too so the port can be stopped; dequeue never blocks.
 */
static inline unsigned int
fwd_queue_poll_zc(struct fwd_queue *q, int vid)
{
	unsigned int n = 0;
	uint32_t req;

	/* Dekker with an asymmetric fence: the control side runs membarrier(). */
	atomic_store_explicit(&q->zc_busy, 1, memory_order_relaxed);
	vfr_light_barrier();
	req = atomic_load_explicit(&q->zc_req, memory_order_acquire);
	if (req == FWD_ZC_REQ_ZERO_COPY)
		n = qsync_rx_burst(q, vid);
	else if (req == FWD_ZC_REQ_COPY &&
		 atomic_load_explicit(&q->rx_enabled, memory_order_relaxed))
		n = vhost_copy_rx_burst(q, vid);
	if (req != FWD_ZC_REQ_PARK_ALL &&
	    atomic_load_explicit(&q->tx_enabled, memory_order_relaxed))
		n += vhost_copy_tx_burst(q, vid);
	atomic_store_explicit(&q->zc_busy, 0, memory_order_release);
	return n;
}

static inline unsigned int
fwd_queue_poll(struct fwd_queue *q)
{
	int vid = atomic_load_explicit(&q->vid, memory_order_acquire);
	unsigned int n = 0;

	/* A disabled vring's VF queue is not polled: the NIC keeps (and drops) its frames. */
	if (vid < 0)
		return 0;
	if (q->zc != NULL)
		return fwd_queue_poll_zc(q, vid);
	if (atomic_load_explicit(&q->rx_enabled, memory_order_relaxed))
		n += vhost_copy_rx_burst(q, vid);
	if (atomic_load_explicit(&q->tx_enabled, memory_order_relaxed))
		n += vhost_copy_tx_burst(q, vid);
	return n;
}

int
fwd_worker_main(void *arg)
{
	struct fwd_worker *w = arg;
	struct fwd_lcore_stats *st = &w->stats;
	uint32_t idle_iters = 0;
	uint32_t sleep_us = 0;
	uint64_t prev;

	/* Default 50 us timer slack would make every short back-off sleep long. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	rte_rcu_qsbr_thread_online(w->qsv, w->rcu_id);
	prev = rte_rdtsc();

	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		unsigned int n = 0;
		uint64_t now;

		for (unsigned int i = 0; i < w->n_queues; i++)
			n += fwd_queue_poll(w->queues[i]);
		/* Between visits nothing of a device is held: the control side may drop it. */
		rte_rcu_qsbr_quiescent(w->qsv, w->rcu_id);

		now = rte_rdtsc();
		st->iterations++;
		if (n != 0) {
			st->busy_cycles += now - prev;
			st->packets += n;
			idle_iters = 0;
			sleep_us = 0;
		} else {
			st->idle_cycles += now - prev;
			if (w->idle_backoff && ++idle_iters >= FWD_IDLE_SPIN_ITERS) {
				sleep_us = sleep_us == 0
						   ? 1
						   : RTE_MIN(sleep_us * 2, w->idle_sleep_max_us);
				/* Offline while asleep, so RCU writers need not wait for us. */
				rte_rcu_qsbr_thread_offline(w->qsv, w->rcu_id);
				rte_delay_us_sleep(sleep_us);
				rte_rcu_qsbr_thread_online(w->qsv, w->rcu_id);
				st->sleeps++;
				uint64_t woke = rte_rdtsc();
				st->idle_cycles += woke - now;
				now = woke;
			}
		}
		prev = now;
	}
	rte_rcu_qsbr_thread_offline(w->qsv, w->rcu_id);
	return 0;
}
