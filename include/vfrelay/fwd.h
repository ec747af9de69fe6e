/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/**
 * @file
 * Runtime objects shared by the forwarder, the vhost-user glue and the
 * datapaths: a relay (one vNIC) owns queue pairs; each queue pair is served
 * by exactly one worker lcore for the life of the process.
 *
 * Threads and who touches what:
 *  - control thread (main lcore): builds everything before workers start,
 *    tears it down after they stop; logs events.
 *  - vhost-events thread (librte_vhost callbacks, vhost/): owns the
 *    connection of each relay, publishes/unpublishes its device and the vring
 *    enable bits; after unpublishing it waits for the workers with RCU. It
 *    takes a relay's zc_lock only to quiesce zero copy (see qsync.h).
 *  - worker lcores: read the published state once per visit, own the
 *    counters of their queues. An idle worker sleeps (idle = event): whoever
 *    changes what it armed its wake-ups from calls fwd_queue_wake_worker().
 *  - telemetry thread: reads counters and state.
 */

#ifndef VFRELAY_FWD_H
#define VFRELAY_FWD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include <rte_common.h>

#include <vfrelay/config.h>
#include <vfrelay/hw.h>
#include <vfrelay/qsync.h>
#include <vfrelay/stats.h>

struct rte_mempool;
struct rte_rcu_qsbr;
struct rte_ring;
struct fwd_relay;
struct qsync_mem;

/** Upper bound of the configurable burst; sizes on-stack arrays. */
#define FWD_BURST_MAX 64

/** Which path a queue pair's RX side takes now (telemetry shows it). */
enum fwd_rx_mode {
	FWD_RX_MODE_COPY = 0,
	FWD_RX_MODE_ZERO_COPY,
};

/**
 * What wakes a sleeping worker besides its VF interrupts and guest kicks: an
 * eventfd in its epoll set (one per worker).
 */
struct fwd_waker {
	int fd;               /**< eventfd; set before workers start, -1 if none */
	atomic_bool sleeping; /**< armed and about to sleep or asleep; worker: wo, others: ro */
};

/** VF queue i <-> guest RX vring 2i and TX vring 2i+1. */
struct fwd_queue {
	/* Set before workers start, read-only afterwards. */
	struct fwd_relay *relay;
	uint16_t qid;
	uint16_t port_id;
	uint16_t burst;
	uint16_t tx_retries;
	unsigned int lcore;
	struct rte_mempool *pool;     /**< mbufs for guest TX (dequeue copies into them) */
	/* Frames other VF queues of the relay received while their guest ring was disabled,
	 * for this queue's guest ring (many producers, this worker consumes). NULL: 1 queue. */
	struct rte_ring *redirect_in;
	uint64_t vf_tx_offloads;      /**< offloads enabled on the VF's TX side */
	bool vf_rx_csum;              /**< the VF marks RX checksums */
	struct fwd_waker *waker;      /**< of the worker serving this queue pair */

	/*
	 * Anyone: incremented (release) after changing what the queue's worker
	 * arms its wake-ups from (device, vring enable bits, kick fds, zero-copy
	 * request, VF queues, redirection); worker: ro. fwd_queue_wake_worker().
	 */
	_Atomic uint32_t wake_gen;
	/* Worker: wo, telemetry: ro. enum fwd_idle_mode the queue pair runs now. */
	_Atomic int wake_mode;

	/* vhost-events: wo (release), worker: ro (acquire). -1: no device. */
	_Atomic int vid;
	/* vhost-events: wo, worker: ro. Guest enabled the vring. */
	atomic_bool rx_enabled;
	atomic_bool tx_enabled;
	_Atomic uint16_t rx_vring_size; /* the guest RX ring's size at its enable, 0: unknown */
	/* vhost-events: wo before publishing vid, worker: ro. */
	bool guest_csum;              /**< guest accepts partial checksums (GUEST_CSUM) */
	/* A guest interrupt a quiesce under the vring locks could not send: the vid to
	 * notify on the RX vring, -1 if none. qsync: wo, control thread: rw. */
	_Atomic int zc_notify_vid;
	/* telemetry: ro */
	_Atomic int rx_mode;          /**< enum fwd_rx_mode */
	/* Control: wo, worker: ro. This queue's guest ring is disabled (or the guest has fewer
	 * queue pairs): what its VF queue still receives goes to queue rx_redirect; -1: no. */
	_Atomic int rx_redirect;

	/*
	 * Zero copy; zc is NULL when zero_copy = off. The RX side of a queue
	 * with zc follows zc_req, read by the worker inside a window marked by
	 * zc_busy (Dekker-style: worker stores busy then loads req, control
	 * stores req then loads busy, both seq_cst), so the control side can
	 * park it without waiting for a whole loop of the worker.
	 */
	struct qsync_queue *zc;
	_Atomic uint32_t zc_req;      /**< enum fwd_zc_req; control: wo, worker: ro */
	_Atomic uint32_t zc_busy;     /**< worker: wo, control: ro */
	/*
	 * The worker is giving the guest frames it took in copy mode (librte_vhost's
	 * enqueue, after the window: it may wait for the vring's lock). Set inside the
	 * window, cleared when the enqueue returns. A bind must not start while it is
	 * set: the enqueue writes the ring zero copy is about to own. worker: wo.
	 */
	_Atomic uint32_t zc_give;
	_Atomic uint32_t zc_want_copy; /**< enum qsync_fallback; worker: wo, control: rw */
	atomic_bool zc_rebind;        /**< a (re)bind should be tried; vhost: wo, control: rw */
	_Atomic uint32_t zc_reason;   /**< enum qsync_fallback now in force; telemetry: ro */
	/* Written under relay->zc_lock, telemetry: ro. */
	uint64_t zc_fallbacks[QSYNC_FB_N];

	/* Worker only: consecutive polls a guest ring had buffers librte_vhost would not take. */
	uint32_t rx_stuck_polls;
	uint32_t tx_stuck_polls;
	bool rx_ring_broken; /* avail index over a ring ahead: counted once, not fed */

	/* Worker: rw, telemetry: ro. */
	struct fwd_queue_stats stats __rte_cache_aligned;
};

/** One vNIC: a VF port plus a vhost-user socket. */
struct fwd_relay {
	const struct fwd_relay_config *cfg;
	unsigned int index;
	struct hw_port port;
	struct rte_mempool *pool;
	bool registered;              /**< vhost socket registered (control thread) */

	/*
	 * Serialises zero-copy bind (control thread) against quiesce (vhost
	 * thread). Never held while waiting on a worker that could be blocked
	 * on a vhost lock, so librte_vhost callbacks may take it.
	 */
	pthread_mutex_t zc_lock;
	/* enum fwd_zero_copy in force: config, changed at runtime over telemetry. */
	_Atomic int zc_mode;
	/* qsync's, under zc_lock: the guest memory bindings use, and stale tables the VF
	 * may still hold buffers in. */
	struct qsync_mem *zc_mem;
	struct qsync_mem *zc_mem_orphans;

	/* vhost-events: wo, telemetry/control: ro. */
	_Atomic int conn_vid;         /**< the one accepted vhost-user connection, -1 if none */
	_Atomic uint64_t connections_refused; /**< further connections while one was attached */
	_Atomic uint64_t messages_refused;    /**< vhost-user requests refused (see vhost/) */
	/** Connections that closed before their device ever ran (vhost-events: rw). */
	_Atomic uint64_t connections_failed;
	bool conn_ran;                /**< the current connection's device ran (vhost-events) */
	int conn_fd;                  /**< its socket, -1 if none (vhost-events) */
	bool guard_closing;           /**< closing while the device runs (vhost-events) */
	_Atomic int vid;              /**< device of conn_vid while it runs, -1 otherwise */
	_Atomic uint64_t features;    /**< negotiated virtio features of the current guest */
	_Atomic uint64_t connects;    /**< guests that became ready, for operators */
	_Atomic uint64_t disconnects;

	uint16_t n_queues;
	struct fwd_queue queues[FWD_MAX_QUEUES];
};

struct fwd_wake_queue;

/** A worker lcore and the queue pairs it serves. */
struct fwd_worker {
	unsigned int lcore;
	unsigned int rcu_id;          /**< thread id in the RCU QSBR variable */
	enum fwd_idle_mode idle;
	uint32_t idle_sleep_max_us;
	unsigned int n_queues;
	struct fwd_queue *queues[FWD_MAX_RELAYS * FWD_MAX_QUEUES];
	struct rte_rcu_qsbr *qsv;
	/* idle = event: the epoll set the worker sleeps on, and its wake-up state per queue
	 * (worker only, forwarder/fwd_wake.c). Created before workers start. */
	int epfd;
	struct fwd_wake_queue *wake;
	struct fwd_waker waker;
	uint32_t storm_us;            /**< worker only: rationing of wake-ups that find nothing */

	struct fwd_waker *ctl;        /**< the control thread's: work a sleeping worker leaves it */
	atomic_bool stop;             /**< control: wo, worker: ro */
	struct fwd_lcore_stats stats __rte_cache_aligned; /**< worker: rw, telemetry: ro */
};

/** Everything one vfrelay process runs. */
struct fwd_instance {
	const struct fwd_config *cfg;
	unsigned int n_relays;
	struct fwd_relay relays[FWD_MAX_RELAYS];
	unsigned int n_workers;
	struct fwd_worker workers[FWD_MAX_LCORES];
	struct rte_rcu_qsbr *qsv;     /**< workers report quiescence once per loop */
	struct rte_ring *events;      /**< vhost-events -> control thread (struct fwd_event) */
	/* The control thread sleeps on it: whoever leaves it work (an event, a bind to try, a
	 * fallback a worker asks for, a signal) writes it. */
	struct fwd_waker ctl_waker;
	_Atomic uint64_t events_lost; /**< ring full: only logging suffers */
};

enum fwd_event_type {
	FWD_EV_GUEST_UP = 1,  /**< new_device: relay serves a guest */
	FWD_EV_GUEST_DOWN,    /**< destroy_device: workers already let go of it */
	FWD_EV_VRING,         /**< a vring was enabled or disabled */
	FWD_EV_FEATURES,      /**< features changed (e.g. dirty logging for migration) */
};

/** What librte_vhost callbacks tell the control thread (for logs and state). */
struct fwd_event {
	uint32_t type;        /**< enum fwd_event_type */
	uint32_t relay;       /**< index in fwd_instance.relays */
	int32_t vid;
	uint16_t vring;
	uint16_t enable;
	uint64_t features;
};

/** Wake whoever sleeps on @p wk (an eventfd write: never blocks; async-signal-safe). */
static inline void
fwd_waker_wake(const struct fwd_waker *wk)
{
	static const uint64_t one = 1;

	/* EAGAIN only at a counter near 2^64: a wake-up is pending then anyway. */
	if (wk != NULL && wk->fd >= 0)
		(void)!write(wk->fd, &one, sizeof(one));
}

/**
 * @p q's worker must re-read the queue's state before it sleeps again, and wake
 * if it sleeps. Any thread, also librte_vhost callbacks holding vring locks:
 * one eventfd write, which never blocks.
 */
static inline void
fwd_queue_wake_worker(struct fwd_queue *q)
{
	atomic_fetch_add_explicit(&q->wake_gen, 1, memory_order_release);
	fwd_waker_wake(q->waker);
}

/** fwd_queue_wake_worker() for every queue pair of @p relay. */
static inline void
fwd_relay_wake_workers(struct fwd_relay *relay)
{
	for (uint16_t i = 0; i < relay->n_queues; i++)
		fwd_queue_wake_worker(&relay->queues[i]);
}

/**
 * Spread every relay's queue pairs over the workers: queue pairs are dealt
 * round-robin in relay order so each relay's queues land on different
 * lcores when there are enough of them.
 *
 * @param relay_queues  number of queue pairs of each relay
 * @param n_relays      entries in @p relay_queues
 * @param n_workers     worker lcores (>= 1)
 * @param out           out[r * FWD_MAX_QUEUES + q] = worker index of relay r queue q
 * @return 0 or -EINVAL
 */
int fwd_assign_queues(const uint16_t *relay_queues, unsigned int n_relays,
		      unsigned int n_workers, unsigned int *out);

#endif /* VFRELAY_FWD_H */
