/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Control thread: builds the instance, launches workers, turns librte_vhost
 * events into log lines, and tears down in the one safe order (guest
 * sockets, then workers, then VF ports).
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <vfrelay/barrier.h>
#include <vfrelay/qsync.h>
#include <vfrelay/vhost_backend.h>

#include "fwd_priv.h"

/* Lock-free C11 atomics and write(2) are async-signal-safe. */
static atomic_int fwd_ctl_signal;
static const struct fwd_waker *fwd_ctl_signal_waker;

static void
fwd_ctl_on_signal(int sig)
{
	atomic_store_explicit(&fwd_ctl_signal, sig, memory_order_relaxed);
	/* Any thread may take the signal: the control thread's sleep ends either way. */
	fwd_waker_wake(fwd_ctl_signal_waker);
}

/*
 * What the control thread waits for between rounds: a retry of a bind or of
 * an owed interrupt comes soon; otherwise only someone writing its eventfd
 * wakes it (an idle instance's control thread then costs nothing), with a
 * long timeout for what sets a flag without writing (a worker busy forwarding
 * while asking for a fallback).
 */
#define FWD_CTL_RETRY_MS 20
#define FWD_CTL_IDLE_MS 1000

/*
 * Enough mbufs for every VF RX ring, every TX ring in flight and one burst
 * per queue; each big enough for a whole frame (guest TX needs no chains,
 * jumbo RX no scatter) and for whatever a software PMD writes regardless.
 */
static struct rte_mempool *
fwd_ctl_create_pool(const struct fwd_relay_config *rc, uint16_t burst, uint32_t rx_max_write)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	uint32_t frame = (uint32_t)rc->mtu + RTE_ETHER_HDR_LEN + 8 + RTE_ETHER_CRC_LEN;
	uint32_t room = RTE_MAX((uint32_t)RTE_MBUF_DEFAULT_BUF_SIZE, frame + RTE_PKTMBUF_HEADROOM);
	uint32_t n = (uint32_t)rc->queues * (rc->rx_ring_size + rc->tx_ring_size + 2u * burst);

	room = RTE_MAX(room, rx_max_write + RTE_PKTMBUF_HEADROOM);
	room = RTE_ALIGN_CEIL(room, RTE_CACHE_LINE_SIZE);
	if (room > UINT16_MAX)
		return NULL;
	snprintf(name, sizeof(name), "vfr_%s", rc->name);
	return rte_pktmbuf_pool_create(name, n + 1024, 256, 0, (uint16_t)room, rte_socket_id());
}

static void
fwd_ctl_init_queue(const struct fwd_config *cfg, struct fwd_relay *r, uint16_t q)
{
	struct fwd_queue *fq = &r->queues[q];

	fq->relay = r;
	fq->qid = q;
	fq->port_id = r->port.port_id;
	fq->burst = cfg->burst;
	fq->tx_retries = cfg->tx_retries;
	fq->pool = r->pool;
	atomic_init(&fq->vid, -1);
	atomic_init(&fq->rx_enabled, false);
	atomic_init(&fq->tx_enabled, false);
	atomic_init(&fq->rx_mode, FWD_RX_MODE_COPY);
	/* zero_copy = on never copies: RX waits for the first bind. */
	atomic_init(&fq->zc_req,
		    r->cfg->zero_copy == FWD_ZC_ON ? FWD_ZC_REQ_PARK : FWD_ZC_REQ_COPY);
	atomic_init(&fq->zc_busy, 0);
	atomic_init(&fq->zc_give, 0);
	atomic_init(&fq->zc_want_copy, QSYNC_FB_NONE);
	atomic_init(&fq->zc_rebind, false);
	atomic_init(&fq->zc_reason, QSYNC_FB_NONE);
	atomic_init(&fq->zc_notify_vid, -1);
	atomic_init(&fq->rx_redirect, -1);
	atomic_init(&fq->wake_gen, 0);
	atomic_init(&fq->wake_mode, cfg->idle);
}

static int
fwd_ctl_setup_relay(struct fwd_instance *inst, unsigned int idx, char *err, size_t errlen)
{
	const struct fwd_config *cfg = inst->cfg;
	const struct fwd_relay_config *rc = &cfg->relays[idx];
	struct fwd_relay *r = &inst->relays[idx];
	struct hw_port_params prm = {
		.n_queues = rc->queues,
		.mtu = rc->mtu,
		.rx_ring_size = rc->rx_ring_size,
		.tx_ring_size = rc->tx_ring_size,
		/* Woken by the VF when idle, where its PMD can. */
		.rx_intr = cfg->idle == FWD_IDLE_EVENT,
	};
	char why[256];
	int ret;

	r->cfg = rc;
	r->index = idx;
	r->n_queues = rc->queues;
	atomic_init(&r->vid, -1);
	atomic_init(&r->conn_vid, -1);
	atomic_init(&r->zc_mode, rc->zero_copy);
	pthread_mutex_init(&r->zc_lock, NULL);
	r->port.port_id = RTE_MAX_ETHPORTS;

	ret = hw_port_open(&r->port, rc->vf, why, sizeof(why));
	if (ret < 0) {
		snprintf(err, errlen, "[relay %s] %s", rc->name, why);
		return ret;
	}
	r->pool = fwd_ctl_create_pool(rc, cfg->burst, r->port.rx_max_write);
	if (r->pool == NULL) {
		snprintf(err, errlen,
			 "[relay %s] mtu: cannot allocate mbufs for %u queues of %u+%u descriptors "
			 "(%s); give EAL more memory with '-m' in [vfrelay] eal",
			 rc->name, rc->queues, rc->rx_ring_size, rc->tx_ring_size,
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}
	prm.rx_pool = r->pool;

	for (uint16_t q = 0; q < rc->queues; q++) {
		uint16_t buf_size;

		fwd_ctl_init_queue(cfg, r, q);
		if (rc->zero_copy == FWD_ZC_OFF)
			continue;
		/* A software PMD writing a fixed amount needs that much; a NIC what we program. */
		buf_size = r->port.rx_max_write != 0
				   ? (uint16_t)RTE_MIN(r->port.rx_max_write, 65535u - 256u)
				   : qsync_buf_size(r->port.ops->rx_buf_align);
		r->queues[q].zc = qsync_queue_create(&r->queues[q], r->pool, buf_size);
		if (r->queues[q].zc == NULL) {
			snprintf(err, errlen,
				 "[relay %s] zero_copy: cannot create the zero-copy buffer pool "
				 "(%s); give EAL more memory with '-m' in [vfrelay] eal, or set "
				 "'off'",
				 rc->name, strerror(errno));
			return -ENOMEM;
		}
		prm.rx_pools[q] = qsync_queue_pool(r->queues[q].zc);
	}

	ret = hw_port_setup(&r->port, &prm, why, sizeof(why));
	if (ret < 0) {
		snprintf(err, errlen, "[relay %s] %s", rc->name, why);
		return ret;
	}
	for (uint16_t q = 0; q < rc->queues && rc->queues > 1; q++) {
		char name[RTE_RING_NAMESIZE];

		/* Room for a burst from every other queue, a few times over. */
		snprintf(name, sizeof(name), "vfr_rd_%u_%u", idx, q);
		r->queues[q].redirect_in =
			rte_ring_create(name, 1024, rte_socket_id(), RING_F_SC_DEQ);
		if (r->queues[q].redirect_in == NULL) {
			snprintf(err, errlen, "[relay %s] queues: cannot allocate a ring: %s",
				 rc->name, rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	for (uint16_t q = 0; q < rc->queues; q++) {
		r->queues[q].port_id = r->port.port_id;
		r->queues[q].vf_tx_offloads = r->port.tx_offloads;
		r->queues[q].vf_rx_csum = (r->port.rx_offloads & RTE_ETH_RX_OFFLOAD_CHECKSUM) != 0;
	}
	return 0;
}

static int
fwd_ctl_setup_workers(struct fwd_instance *inst, char *err, size_t errlen)
{
	const struct fwd_config *cfg = inst->cfg;
	uint16_t relay_queues[FWD_MAX_RELAYS];
	static unsigned int where[FWD_MAX_RELAYS * FWD_MAX_QUEUES];
	size_t sz;
	int ret;

	inst->n_workers = cfg->n_lcores - 1;
	sz = rte_rcu_qsbr_get_memsize(inst->n_workers);
	inst->qsv = rte_zmalloc("vfr_rcu", sz, RTE_CACHE_LINE_SIZE);
	if (inst->qsv == NULL || rte_rcu_qsbr_init(inst->qsv, inst->n_workers) != 0) {
		snprintf(err, errlen, "[vfrelay] eal: cannot allocate the RCU state");
		return -ENOMEM;
	}

	for (unsigned int r = 0; r < inst->n_relays; r++)
		relay_queues[r] = inst->relays[r].n_queues;
	ret = fwd_assign_queues(relay_queues, inst->n_relays, inst->n_workers, where);
	if (ret < 0) {
		snprintf(err, errlen, "[vfrelay] lcores: cannot assign queues to workers");
		return ret;
	}

	for (unsigned int i = 0; i < inst->n_workers; i++) {
		struct fwd_worker *w = &inst->workers[i];

		w->lcore = cfg->lcores[i + 1];
		w->rcu_id = i;
		w->qsv = inst->qsv;
		w->idle = cfg->idle;
		w->idle_sleep_max_us = cfg->idle_sleep_max_us;
		atomic_init(&w->waker.sleeping, false);
		atomic_init(&w->stop, false);
		rte_rcu_qsbr_thread_register(inst->qsv, i);
	}
	for (unsigned int r = 0; r < inst->n_relays; r++) {
		struct fwd_relay *rel = &inst->relays[r];

		for (uint16_t q = 0; q < rel->n_queues; q++) {
			struct fwd_worker *w = &inst->workers[where[r * FWD_MAX_QUEUES + q]];

			rel->queues[q].lcore = w->lcore;
			rel->queues[q].waker = &w->waker;
			w->queues[w->n_queues++] = &rel->queues[q];
		}
	}
	for (unsigned int i = 0; i < inst->n_workers && cfg->idle == FWD_IDLE_EVENT; i++) {
		ret = fwd_wake_setup(&inst->workers[i], err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int
fwd_ctl_setup(struct fwd_instance *inst, const struct fwd_config *cfg, char *err, size_t errlen)
{
	char why[384];
	int ret;

	memset(inst, 0, sizeof(*inst));
	inst->cfg = cfg;
	for (unsigned int i = 0; i < FWD_MAX_LCORES; i++) {
		inst->workers[i].epfd = -1;
		inst->workers[i].waker.fd = -1;
		inst->workers[i].ctl = &inst->ctl_waker;
	}
	/* Before any worker exists: registration must precede the first heavy barrier. */
	vfr_barrier_init();

	inst->ctl_waker.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (inst->ctl_waker.fd < 0) {
		snprintf(err, errlen, "[vfrelay] eal: cannot create an eventfd: %s",
			 strerror(errno));
		return -errno;
	}

	inst->events = rte_ring_create_elem("vfr_events", sizeof(struct fwd_event), 1024,
					    rte_socket_id(), RING_F_SC_DEQ);
	if (inst->events == NULL) {
		snprintf(err, errlen, "[vfrelay] eal: cannot allocate the event ring: %s",
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}

	for (unsigned int i = 0; i < cfg->n_relays; i++) {
		inst->n_relays = i + 1;
		ret = fwd_ctl_setup_relay(inst, i, err, errlen);
		if (ret < 0)
			goto fail;
	}
	ret = fwd_ctl_setup_workers(inst, err, errlen);
	if (ret < 0)
		goto fail;
	vhost_backend_init(&(struct vhost_backend_env){
		.events = inst->events,
		.events_lost = &inst->events_lost,
		.qsv = inst->qsv,
		.ctl_fd = inst->ctl_waker.fd,
	});

	for (unsigned int i = 0; i < inst->n_relays; i++) {
		struct fwd_relay *r = &inst->relays[i];

		ret = hw_port_start(&r->port, why, sizeof(why));
		for (uint16_t q = 0; q < r->n_queues && cfg->idle == FWD_IDLE_EVENT; q++)
			atomic_store_explicit(&r->queues[q].wake_mode,
					      r->port.rx_intr ? FWD_IDLE_EVENT : FWD_IDLE_BACKOFF,
					      memory_order_relaxed);
		if (ret == 0)
			ret = vhost_backend_register(r, why, sizeof(why));
		if (ret == 0)
			ret = vhost_backend_start(r, why, sizeof(why));
		if (ret < 0) {
			snprintf(err, errlen, "[relay %s] %s", r->cfg->name, why);
			goto fail;
		}
	}
	fwd_telemetry_attach(inst);
	return 0;

fail:
	fwd_ctl_teardown(inst);
	return ret;
}

static void
fwd_ctl_log_event(struct fwd_instance *inst, const struct fwd_event *ev)
{
	const struct fwd_relay *r = &inst->relays[ev->relay];
	const char *name = r->cfg->name;

	switch (ev->type) {
	case FWD_EV_GUEST_UP:
		VFR_LOG(INFO, "%s: guest attached (vid %d, %u vrings, features 0x%" PRIx64 ")",
			name, ev->vid, ev->vring, ev->features);
		if (ev->vring / 2u > r->n_queues)
			VFR_LOG(WARNING,
				"%s: guest has %u queue pairs, relay serves %u; the rest stay "
				"idle",
				name, ev->vring / 2u, r->n_queues);
		break;
	case FWD_EV_GUEST_DOWN:
		VFR_LOG(INFO, "%s: guest detached (vid %d)", name, ev->vid);
		break;
	case FWD_EV_VRING:
		VFR_LOG(INFO, "%s: vring %u (%s %u) %s", name, ev->vring,
			ev->vring & 1 ? "tx" : "rx", ev->vring / 2u,
			ev->enable ? "enabled" : "disabled");
		break;
	case FWD_EV_FEATURES:
		VFR_LOG(INFO, "%s: features now 0x%" PRIx64 "", name, ev->features);
		break;
	default:
		break;
	}
}

/*
 * Traffic follows the guest's queue pairs. The VF's RSS spreads frames over
 * every VF queue, but a guest may use fewer pairs than configured (Linux
 * enables min(vCPUs, pairs); ethtool -L changes it any time), and a VF queue
 * whose guest ring is disabled would drop its share in the NIC. Point the
 * redirection table at the enabled queues, and, for a PMD that cannot (or
 * frames already in flight), let the disabled queues' workers hand what they
 * still receive to an enabled queue, which copies it in (counted).
 */
static void
fwd_ctl_follow_queues(struct fwd_relay *r)
{
	uint16_t enabled[FWD_MAX_QUEUES];
	uint32_t mask = 0;
	uint16_t n = 0;
	int ret;

	if (r->n_queues < 2)
		return;
	for (uint16_t i = 0; i < r->n_queues; i++) {
		struct fwd_queue *q = &r->queues[i];

		if (atomic_load_explicit(&q->vid, memory_order_acquire) >= 0 &&
		    atomic_load_explicit(&q->rx_enabled, memory_order_relaxed)) {
			enabled[n++] = i;
			mask |= 1u << i;
		}
	}
	for (uint16_t i = 0; i < r->n_queues; i++) {
		int to = mask & (1u << i) || n == 0 ? -1 : enabled[i % n];

		atomic_store_explicit(&r->queues[i].rx_redirect, to, memory_order_relaxed);
	}
	/* A redirecting queue waits on other rings than before. */
	fwd_relay_wake_workers(r);
	/* Port control calls are serialised with zero copy's (it may stop the port). */
	pthread_mutex_lock(&r->zc_lock);
	ret = hw_port_rss_spread(&r->port, n != 0 ? mask : (1u << r->n_queues) - 1);
	pthread_mutex_unlock(&r->zc_lock);
	VFR_LOG(INFO, "%s: guest RX rings enabled 0x%x: %s", r->cfg->name, mask,
		ret == 0    ? "RSS redirection table follows them"
		: n != 0 ? "the VF cannot redirect: other queues' frames are copied into them"
			 : "none: the VF drops what it receives");
}

/*
 * What a sleeping worker of @p relay armed from that zero copy may change:
 * each queue's request and the VF's queues (stopped, started, set up again).
 */
static uint64_t
fwd_ctl_zc_state(struct fwd_relay *relay)
{
	uint64_t st = atomic_load_explicit(&relay->port.epoch, memory_order_acquire);

	for (uint16_t i = 0; i < relay->n_queues; i++)
		st ^= (uint64_t)atomic_load_explicit(&relay->queues[i].zc_req,
						     memory_order_relaxed)
		      << (32 + 2 * i);
	return st;
}

/*
 * Zero-copy transitions the workers and callbacks asked for. Runs here, not
 * in a librte_vhost callback: binding parks a worker that may be blocked on
 * a vring lock a callback holds.
 */
static bool
fwd_ctl_zc_service(struct fwd_instance *inst)
{
	bool pending = false;

	for (unsigned int r = 0; r < inst->n_relays; r++) {
		struct fwd_relay *relay = &inst->relays[r];
		uint64_t before = fwd_ctl_zc_state(relay);

		for (uint16_t i = 0; i < relay->n_queues; i++) {
			struct fwd_queue *q = &relay->queues[i];
			uint32_t want;
			int vid;

			if (q->zc == NULL)
				continue;
			qsync_ctl_notify_owed(q);
			want = atomic_exchange_explicit(&q->zc_want_copy, QSYNC_FB_NONE,
							memory_order_acq_rel);
			if (want != QSYNC_FB_NONE)
				qsync_ctl_quiesce(q, (enum qsync_fallback)want, false);
			/*
			 * Taken before the bind, not cleared after it: a message hook that
			 * unbinds the queue once the bind has let go of zc_lock asks again,
			 * and that request must not be lost (zero_copy = on: RX parked until
			 * the next event).
			 */
			if (!atomic_exchange_explicit(&q->zc_rebind, false, memory_order_acq_rel))
				continue;
			vid = atomic_load_explicit(&q->vid, memory_order_acquire);
			if (vid < 0 || !atomic_load_explicit(&q->rx_enabled, memory_order_relaxed))
				continue;
			/* -EAGAIN: a vhost message is in flight; try again next round. */
			if (qsync_ctl_bind(q, vid) == -EAGAIN)
				atomic_store_explicit(&q->zc_rebind, true, memory_order_release);
		}
		/* A sleeping worker re-arms from the new state (a retry that changed nothing
		 * wakes nobody). */
		if (fwd_ctl_zc_state(relay) != before)
			fwd_relay_wake_workers(relay);
		for (uint16_t i = 0; i < relay->n_queues; i++) {
			const struct fwd_queue *q = &relay->queues[i];

			if (atomic_load_explicit(&q->zc_rebind, memory_order_relaxed) ||
			    atomic_load_explicit(&q->zc_notify_vid, memory_order_relaxed) >= 0)
				pending = true;
		}
	}
	return pending;
}

/* Sleep until someone leaves work, or @p ms pass. */
static void
fwd_ctl_wait(struct fwd_instance *inst, int ms)
{
	struct pollfd pfd = {.fd = inst->ctl_waker.fd, .events = POLLIN};
	uint64_t cnt;

	if (poll(&pfd, 1, ms) > 0)
		(void)!read(inst->ctl_waker.fd, &cnt, sizeof(cnt));
}

int
fwd_ctl_run(struct fwd_instance *inst)
{
	struct sigaction sa = {.sa_handler = fwd_ctl_on_signal};
	struct fwd_event ev;
	int ret;

	fwd_ctl_signal_waker = &inst->ctl_waker;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (unsigned int i = 0; i < inst->n_workers; i++) {
		struct fwd_worker *w = &inst->workers[i];

		ret = rte_eal_remote_launch(fwd_worker_main, w, w->lcore);
		if (ret < 0) {
			VFR_LOG(ERR, "cannot launch worker on lcore %u: %s", w->lcore,
				strerror(-ret));
			return ret;
		}
	}
	VFR_LOG(INFO, "instance %s running: %u relays, %u workers", inst->cfg->name,
		inst->n_relays, inst->n_workers);
	/* Every relay's socket is registered and started (listening, or connecting). */
	fwd_notify("READY=1\nMAINPID=%d\nSTATUS=%u relays, %u workers", (int)getpid(),
		   inst->n_relays, inst->n_workers);

	while (atomic_load_explicit(&fwd_ctl_signal, memory_order_relaxed) == 0) {
		uint32_t follow = 0;

		while (rte_ring_sc_dequeue_elem(inst->events, &ev, sizeof(ev)) == 0) {
			fwd_ctl_log_event(inst, &ev);
			if (ev.type == FWD_EV_GUEST_UP || ev.type == FWD_EV_GUEST_DOWN ||
			    (ev.type == FWD_EV_VRING && !(ev.vring & 1)))
				follow |= 1u << ev.relay;
		}
		for (unsigned int r = 0; r < inst->n_relays; r++)
			if (follow & (1u << r))
				fwd_ctl_follow_queues(&inst->relays[r]);
		fwd_ctl_wait(inst, fwd_ctl_zc_service(inst) ? FWD_CTL_RETRY_MS : FWD_CTL_IDLE_MS);
	}
	VFR_LOG(INFO, "signal %d: shutting down", atomic_load(&fwd_ctl_signal));
	fwd_notify("STOPPING=1");
	return 0;
}

void
fwd_ctl_teardown(struct fwd_instance *inst)
{
	/* 0. Telemetry handlers must not read what is freed below. */
	fwd_telemetry_detach();

	/* 1. Guests first: destroy_device waits until workers let go of their memory. */
	for (unsigned int i = 0; i < inst->n_relays; i++)
		vhost_backend_unregister(&inst->relays[i]);

	/* 2. Workers, woken if they sleep. */
	for (unsigned int i = 0; i < inst->n_workers; i++) {
		struct fwd_worker *w = &inst->workers[i];
		static const uint64_t one = 1;

		atomic_store_explicit(&w->stop, true, memory_order_relaxed);
		if (w->waker.fd >= 0)
			(void)!write(w->waker.fd, &one, sizeof(one));
	}
	rte_eal_mp_wait_lcore();
	for (unsigned int i = 0; i < inst->n_workers; i++)
		fwd_wake_release(&inst->workers[i]);

	/* 3. VF ports and their buffers. */
	for (unsigned int i = 0; i < inst->n_relays; i++) {
		struct fwd_relay *r = &inst->relays[i];

		/* Closing the port returns its buffers: the pools must outlive it. */
		hw_port_close(&r->port);
		qsync_ctl_release(r);
		for (uint16_t q = 0; q < r->n_queues; q++) {
			qsync_queue_free(r->queues[q].zc);
			r->queues[q].zc = NULL;
		}
		for (uint16_t q = 0; q < r->n_queues; q++) {
			struct rte_mbuf *m;

			while (r->queues[q].redirect_in != NULL &&
			       rte_ring_dequeue(r->queues[q].redirect_in, (void **)&m) == 0)
				rte_pktmbuf_free(m);
			rte_ring_free(r->queues[q].redirect_in);
			r->queues[q].redirect_in = NULL;
		}
		rte_mempool_free(r->pool);
		r->pool = NULL;
		pthread_mutex_destroy(&r->zc_lock);
	}
	inst->n_relays = 0;
	inst->n_workers = 0;
	rte_free(inst->qsv);
	inst->qsv = NULL;
	rte_ring_free(inst->events);
	inst->events = NULL;
	fwd_ctl_signal_waker = NULL;
	if (inst->ctl_waker.fd >= 0)
		close(inst->ctl_waker.fd);
	inst->ctl_waker.fd = -1;
}
