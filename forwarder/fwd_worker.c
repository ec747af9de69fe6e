/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Worker lcore loop: visit each queue pair once per iteration, report an
 * RCU quiescent state, account busy and idle cycles, and sleep when idle so
 * an idle VM's forwarder costs next to no CPU: until something wakes it
 * (idle = event, fwd_wake.c), for a doubling interval (idle = backoff), or
 * never (idle = poll). While packets flow nothing here makes a system call.
 */

#include <errno.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <rte_atomic.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_vhost.h>

#include <vfrelay/barrier.h>
#include <vfrelay/qsync.h>
#include <vfrelay/vhost_backend.h>

#include "fwd_priv.h"

/*
 * A zero-copy capable queue pair follows the control side's request, inside
 * a window the control side waits for (see struct fwd_queue) — also from
 * librte_vhost callbacks that hold every vring lock. So nothing in the window
 * may wait for a vring lock: the zero-copy burst takes none, the guest TX
 * dequeue only tries, and the copy path's enqueue into the guest (which
 * waits for the lock) runs after the window. Everything that touches the VF
 * port is inside, so the control side can stop the port.
 */
/*
 * Frames went into another queue's redirection ring: wake its worker if it
 * sleeps. Dekker with fwd_wake_arm(): we enqueue then read its flag, it sets
 * its flag then looks at its rings, each with a full fence in between.
 */
static inline void
fwd_waker_poke_sleeping(struct fwd_waker *wk)
{
	static const uint64_t one = 1;

	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (unlikely(atomic_load_explicit(&wk->sleeping, memory_order_relaxed)) && wk->fd >= 0)
		(void)!write(wk->fd, &one, sizeof(one));
}

/*
 * This queue's guest ring is disabled (or missing): what its VF queue still
 * receives goes to queue @p to, whose worker copies it in. Host mbufs only: a
 * disabled ring is never bound to zero copy.
 */
static inline unsigned int
fwd_queue_redirect(struct fwd_queue *q, int to)
{
	struct rte_ring *dst = q->relay->queues[to].redirect_in;
	struct rte_mbuf *pkts[FWD_BURST_MAX];
	unsigned int sent;
	uint16_t n;

	/* As on the copy path: what cannot be delivered stays (and drops) in the VF. */
	if (rte_ring_free_count(dst) < q->burst)
		return 0;
	n = rte_eth_rx_burst(q->port_id, q->qid, pkts, q->burst);
	if (n == 0)
		return 0;
	sent = rte_ring_mp_enqueue_burst(dst, (void **)pkts, n, NULL);
	if (sent != 0)
		fwd_waker_poke_sleeping(q->relay->queues[to].waker);
	if (unlikely(sent < n)) {
		q->stats.rx_drop_redirect += n - sent;
		rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
	}
	return n;
}

/*
 * Frames other queues handed to this one (rare: only while the guest uses
 * fewer rings), at most @p room: what the guest has buffers for.
 */
static inline uint16_t
fwd_queue_redirected(struct fwd_queue *q, struct rte_mbuf **pkts, uint16_t room)
{
	if (likely(q->redirect_in == NULL) || likely(rte_ring_empty(q->redirect_in)) || room == 0)
		return 0;
	return (uint16_t)rte_ring_sc_dequeue_burst(q->redirect_in, (void **)pkts,
						   RTE_MIN(room, q->burst), NULL);
}

static inline void
fwd_queue_give_redirected(struct fwd_queue *q, int vid, struct rte_mbuf **pkts, uint16_t n)
{
	uint64_t before = q->stats.rx_packets;

	vhost_copy_rx_give(q, vid, pkts, n);
	q->stats.rx_redirected += q->stats.rx_packets - before;
}

static inline unsigned int
fwd_queue_poll_zc(struct fwd_queue *q, int vid, int redirect)
{
	struct rte_mbuf *pkts[FWD_BURST_MAX];
	struct rte_mbuf *moved[FWD_BURST_MAX];
	unsigned int n = 0;
	uint16_t room = 0;
	uint16_t taken = 0;
	uint16_t n_moved = 0;
	bool tx_idle = false;
	uint32_t req;

	/*
	 * The guest's room on the copy path is read under the vring's lock: before
	 * the window, on the request as it is now (if it changes meanwhile, the
	 * window sees the new one and the room is not used).
	 */
	if (vid >= 0 &&
	    atomic_load_explicit(&q->zc_req, memory_order_relaxed) == FWD_ZC_REQ_COPY &&
	    atomic_load_explicit(&q->rx_enabled, memory_order_relaxed))
		room = vhost_copy_rx_room(q, vid);

	/* Dekker with an asymmetric fence: the control side runs membarrier(). */
	atomic_store_explicit(&q->zc_busy, 1, memory_order_relaxed);
	vfr_light_barrier();
	req = atomic_load_explicit(&q->zc_req, memory_order_acquire);
	if (unlikely(redirect >= 0) && req == FWD_ZC_REQ_COPY)
		n = fwd_queue_redirect(q, redirect);
	if (vid >= 0) {
		if (req == FWD_ZC_REQ_ZERO_COPY) {
			n += qsync_rx_burst(q, vid);
			taken = fwd_queue_redirected(q, moved, qsync_rx_room(q));
			if (unlikely(taken != 0))
				n += qsync_rx_copy_burst(q, vid, moved, taken);
			taken = 0;
		} else if (req == FWD_ZC_REQ_COPY && room != 0) {
			n += taken = vhost_copy_rx_take(q, pkts, room);
			n_moved = fwd_queue_redirected(q, moved, room - taken);
		}
		if (req != FWD_ZC_REQ_PARK_ALL &&
		    atomic_load_explicit(&q->tx_enabled, memory_order_relaxed)) {
			unsigned int t = vhost_copy_tx_burst(q, vid);

			n += t;
			tx_idle = t == 0;
		}
	}
	/* Ordered before busy = 0: whoever sees the window over sees the give pending. */
	if (taken != 0 || n_moved != 0)
		atomic_store_explicit(&q->zc_give, 1, memory_order_relaxed);
	atomic_store_explicit(&q->zc_busy, 0, memory_order_release);
	/* Host mbufs: the port may be stopped meanwhile, they stay valid. */
	if (taken != 0 || n_moved != 0) {
		if (taken != 0)
			vhost_copy_rx_give(q, vid, pkts, taken);
		if (unlikely(n_moved != 0)) {
			fwd_queue_give_redirected(q, vid, moved, n_moved);
			n += n_moved;
		}
		atomic_store_explicit(&q->zc_give, 0, memory_order_release);
	}
	if (tx_idle)
		vhost_copy_tx_idle(q, vid);
	return n;
}

static inline unsigned int
fwd_queue_poll(struct fwd_queue *q)
{
	int vid = atomic_load_explicit(&q->vid, memory_order_acquire);
	int redirect = atomic_load_explicit(&q->rx_redirect, memory_order_relaxed);
	struct rte_mbuf *pkts[FWD_BURST_MAX];
	struct rte_mbuf *moved[FWD_BURST_MAX];
	unsigned int n = 0;
	uint16_t n_moved;

	if (q->zc != NULL)
		return fwd_queue_poll_zc(q, vid, redirect);
	if (unlikely(redirect >= 0))
		n = fwd_queue_redirect(q, redirect);
	if (vid < 0)
		return n;
	if (atomic_load_explicit(&q->rx_enabled, memory_order_relaxed)) {
		uint16_t room = vhost_copy_rx_room(q, vid);
		uint16_t taken = vhost_copy_rx_take(q, pkts, room);

		if (taken != 0) {
			vhost_copy_rx_give(q, vid, pkts, taken);
			n += taken;
		}
		n_moved = fwd_queue_redirected(q, moved, room - taken);
		if (unlikely(n_moved != 0)) {
			fwd_queue_give_redirected(q, vid, moved, n_moved);
			n += n_moved;
		}
	}
	if (atomic_load_explicit(&q->tx_enabled, memory_order_relaxed)) {
		unsigned int t = vhost_copy_tx_burst(q, vid);

		if (t == 0)
			vhost_copy_tx_idle(q, vid);
		n += t;
	}
	return n;
}

static inline unsigned int
fwd_worker_poll(struct fwd_worker *w)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < w->n_queues; i++)
		n += fwd_queue_poll(w->queues[i]);
	return n;
}

/*
 * idle = event: arm, poll once more, sleep, disarm. @return packets the last
 * poll moved (then it did not sleep), 0 after a sleep (@p fired: a queue's
 * VF interrupt or guest kick woke it), -EAGAIN if it must not sleep now
 * (something changed or is owed).
 */
static int
fwd_worker_sleep(struct fwd_worker *w, bool storm, bool *fired)
{
	uint32_t timeout = fwd_wake_arm(w);
	unsigned int n = 0;

	*fired = false;
	if (timeout != 0) {
		n = fwd_worker_poll(w);
		if (n == 0)
			*fired = fwd_wake_wait(w, timeout, storm);
	}
	fwd_wake_disarm(w);
	return timeout == 0 ? -EAGAIN : (int)n;
}

int
fwd_worker_main(void *arg)
{
	struct fwd_worker *w = arg;
	struct fwd_lcore_stats *st = &w->stats;
	const uint64_t spin = rte_get_tsc_hz() / 1000000 * FWD_EVENT_SPIN_US;
	uint32_t idle_iters = 0;
	uint32_t sleep_us = 0;
	uint32_t empty_wakes = 0;
	bool woke = false;
	uint64_t last_work;
	uint64_t prev;

	/* Default 50 us timer slack would make every short back-off sleep long. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	rte_rcu_qsbr_thread_online(w->qsv, w->rcu_id);
	prev = rte_rdtsc();
	last_work = prev;

	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		unsigned int n = fwd_worker_poll(w);
		uint64_t now;

		/* Between visits nothing of a device is held: the control side may drop it. */
		rte_rcu_qsbr_quiescent(w->qsv, w->rcu_id);

		now = rte_rdtsc();
		st->iterations++;
		if (n != 0) {
			st->busy_cycles += now - prev;
			st->packets += n;
			idle_iters = 0;
			sleep_us = 0;
			last_work = now;
			empty_wakes = 0;
			woke = false;
			prev = now;
			continue;
		}
		st->idle_cycles += now - prev;
		if (woke) {
			/* A VF interrupt or a guest kick woke us; the first poll found nothing. */
			st->wake_empty++;
			empty_wakes++;
			woke = false;
		}
		if (w->idle == FWD_IDLE_EVENT && now - last_work >= spin) {
			int ret = fwd_worker_sleep(w, empty_wakes >= FWD_WAKE_STORM_WAKES, &woke);
			uint64_t after = rte_rdtsc();

			st->idle_cycles += after - now;
			now = after;
			if (ret > 0) {
				st->packets += (unsigned int)ret;
				empty_wakes = 0;
			}
			/* Worked, or must look again: spin before the next try. */
			if (ret != 0)
				last_work = now;
		} else if (w->idle == FWD_IDLE_BACKOFF && ++idle_iters >= FWD_IDLE_SPIN_ITERS) {
			sleep_us = sleep_us == 0 ? 1 : RTE_MIN(sleep_us * 2, w->idle_sleep_max_us);
			/* Offline while asleep, so RCU writers need not wait for us. */
			rte_rcu_qsbr_thread_offline(w->qsv, w->rcu_id);
			rte_delay_us_sleep(sleep_us);
			rte_rcu_qsbr_thread_online(w->qsv, w->rcu_id);
			st->sleeps++;
			uint64_t woke_at = rte_rdtsc();
			st->idle_cycles += woke_at - now;
			now = woke_at;
		}
		prev = now;
	}
	rte_rcu_qsbr_thread_offline(w->qsv, w->rcu_id);
	return 0;
}
