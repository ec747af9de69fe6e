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

#include <vfrelay/qsync.h>
#include <vfrelay/vhost_backend.h>

#include "fwd_priv.h"

/*
 * Guest TX, polled less often while it stays empty: an empty dequeue still
 * costs a locked trylock and a read of the guest's avail index, which at a
 * few packets per loop is a good part of every RX packet's cost. Backs off
 * up to FWD_TX_IDLE_SKIP_MAX loop iterations (a few microseconds).
 */
static inline unsigned int
fwd_queue_poll_tx(struct fwd_queue *q, int vid)
{
	unsigned int n;

	if (q->tx_idle_skip != 0) {
		q->tx_idle_skip--;
		return 0;
	}
	n = vhost_copy_tx_burst(q, vid);
	if (n == 0) {
		q->tx_idle_backoff = q->tx_idle_backoff == 0 ? 1
							     : RTE_MIN(q->tx_idle_backoff * 2,
								       FWD_TX_IDLE_SKIP_MAX);
		q->tx_idle_skip = q->tx_idle_backoff;
	} else {
		q->tx_idle_backoff = 0;
	}
	return n;
}

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
	fwd_light_barrier();
	req = atomic_load_explicit(&q->zc_req, memory_order_acquire);
	if (req == FWD_ZC_REQ_ZERO_COPY)
		n = qsync_rx_burst(q, vid);
	else if (req == FWD_ZC_REQ_COPY &&
		 atomic_load_explicit(&q->rx_enabled, memory_order_relaxed))
		n = vhost_copy_rx_burst(q, vid);
	if (req != FWD_ZC_REQ_PARK_ALL &&
	    atomic_load_explicit(&q->tx_enabled, memory_order_relaxed))
		n += fwd_queue_poll_tx(q, vid);
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
		n += fwd_queue_poll_tx(q, vid);
	return n;
}

/*
 * Busy/idle cycle accounting reads the TSC only when the loop switches
 * between moving packets and not, and every FWD_TSC_EVERY iterations within
 * a run, so counters stay fresh without a TSC read per iteration (that read
 * was ~5 % of the zero-copy path at a few packets per iteration).
 */
#define FWD_TSC_EVERY 256

int
fwd_worker_main(void *arg)
{
	struct fwd_worker *w = arg;
	struct fwd_lcore_stats *st = &w->stats;
	uint32_t idle_iters = 0;
	uint32_t sleep_us = 0;
	uint32_t since_tsc = 0;
	bool was_busy = false;
	uint64_t mark;

	/* Default 50 us timer slack would make every short back-off sleep long. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	rte_rcu_qsbr_thread_online(w->qsv, w->rcu_id);
	mark = rte_rdtsc();

	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		unsigned int n = 0;
		bool busy;

		for (unsigned int i = 0; i < w->n_queues; i++)
			n += fwd_queue_poll(w->queues[i]);
		/* Between visits nothing of a device is held: the control side may drop it. */
		rte_rcu_qsbr_quiescent(w->qsv, w->rcu_id);

		st->iterations++;
		st->packets += n;
		busy = n != 0;
		/* Cycles up to now belong to the state the loop was in. */
		if (busy != was_busy || ++since_tsc == FWD_TSC_EVERY) {
			uint64_t now = rte_rdtsc();

			if (was_busy)
				st->busy_cycles += now - mark;
			else
				st->idle_cycles += now - mark;
			mark = now;
			was_busy = busy;
			since_tsc = 0;
		}
		if (busy) {
			idle_iters = 0;
			sleep_us = 0;
		} else if (w->idle_backoff && ++idle_iters >= FWD_IDLE_SPIN_ITERS) {
			uint64_t now;

			sleep_us = sleep_us == 0 ? 1 : RTE_MIN(sleep_us * 2, w->idle_sleep_max_us);
			/* Offline while asleep, so RCU writers need not wait for us. */
			rte_rcu_qsbr_thread_offline(w->qsv, w->rcu_id);
			rte_delay_us_sleep(sleep_us);
			rte_rcu_qsbr_thread_online(w->qsv, w->rcu_id);
			st->sleeps++;
			now = rte_rdtsc();
			st->idle_cycles += now - mark;
			mark = now;
		}
	}
	rte_rcu_qsbr_thread_offline(w->qsv, w->rcu_id);
	return 0;
}
