/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Zero-copy binding state machine, control side.
 *
 *   copy --bind (control thread)--> zero copy --quiesce (any callback)--> copy
 *                                        \--- VF keeps shells after a stop --> stuck (parked)
 *
 * Every transition is one operation, qsync_apply_locked(): make the set of
 * zero-copy queues of a relay what it should be, under the relay's zc_lock,
 * with the least disruptive thing the PMD allows to take its buffers back
 * (struct hw_ops.rx_release):
 *
 *  - NONE (the PMD holds nothing between bursts): park the queue's RX side;
 *  - QUEUE: park it, stop the VF RX queue (DMA stops, the ring is freed),
 *    start it again from the pool in its new mode;
 *  - PORT (no per-queue stop, or an unknown PMD): park every queue pair of the
 *    relay, stop the port, set the queues up as needed, start it again.
 *
 * A queue going to zero copy therefore starts with a VF ring of shells only
 * (never host buffers left from copy mode, whose frames would need copy
 * targets from the guest ring), sized from the guest's ring so the NIC never
 * holds more of the guest's buffers than the guest can spare. A queue leaving
 * zero copy gets every shell back before its descriptors are handed back to
 * the guest and before its guest memory may be unmapped; if the VF keeps one,
 * the queue stays parked and its memory mapped for good (counted, CRIT).
 *
 * bind runs on the control thread. quiesce also runs in librte_vhost
 * callbacks that hold every vring lock: it waits only for workers to leave a
 * burst window in which they never block on a vhost lock (fwd_worker.c).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include <rte_cycles.h>
#include <rte_pause.h>
#include <rte_vhost.h>

#include <vfrelay/barrier.h>
#include <vfrelay/log.h>

#include "qsync_inline.h"
#include "qsync_priv.h"

#define QSYNC_BIT(q) (1u << (q))
/* Shells a port stop may forget (rx_stop_forgets_partial): the head of a frame of at most
 * two segments, the most zero copy lets a frame take (qsync_check_features). */
#define QSYNC_FORGOTTEN_MAX 1u

/*
 * Keep the worker off the RX side (PARK) or the whole queue pair (PARK_ALL);
 * returns once it is outside any burst window of the queue.
 */
static void
qsync_park_req(struct fwd_queue *fq, enum fwd_zc_req req)
{
	uint64_t warn_at = rte_get_timer_cycles() + rte_get_timer_hz();

	atomic_store_explicit(&fq->zc_req, req, memory_order_seq_cst);
	/* The worker's side of the handshake has only a compiler barrier: fence it from here. */
	vfr_heavy_barrier();
	while (atomic_load_explicit(&fq->zc_busy, memory_order_seq_cst) != 0) {
		rte_pause();
		if (rte_get_timer_cycles() > warn_at) {
			/* Cannot happen: nothing in the window blocks. Say so loudly if it does. */
			VFR_LOG(WARNING, "%s q%u: worker still inside a burst after 1 s",
				fq->relay->cfg->name, fq->qid);
			warn_at = rte_get_timer_cycles() + rte_get_timer_hz();
		}
	}
}

/*
 * Where the queue goes when zero copy is not (or not yet) possible: the copy
 * path, or with zero_copy = on nowhere: that mode never copies. A stuck queue
 * is never polled again.
 */
static void
qsync_fall_back(struct fwd_queue *fq, enum qsync_fallback reason)
{
	bool on = atomic_load_explicit(&fq->relay->zc_mode, memory_order_relaxed) == FWD_ZC_ON;

	if (reason != QSYNC_FB_NONE) {
		if (atomic_load_explicit(&fq->zc_reason, memory_order_relaxed) !=
		    (uint32_t)reason) {
			fq->zc_fallbacks[reason]++;
			VFR_LOG_LIMITED(NOTICE, "%s q%u: %s: %s", fq->relay->cfg->name, fq->qid,
					on ? "RX stopped (zero_copy = on)" : "copy path",
					qsync_fallback_name(reason));
		}
		atomic_store_explicit(&fq->zc_reason, reason, memory_order_relaxed);
	}
	atomic_store_explicit(&fq->rx_mode, FWD_RX_MODE_COPY, memory_order_relaxed);
	/*
	 * A broken ring (avail index jumped) is not handed to the copy path,
	 * which would trust the same index: RX stops until the guest resets it.
	 */
	atomic_store_explicit(&fq->zc_req,
			      on || fq->zc->stuck || reason == QSYNC_FB_bad_ring ? FWD_ZC_REQ_PARK
										 : FWD_ZC_REQ_COPY,
			      memory_order_seq_cst);
}

static void
qsync_go_zero_copy(struct fwd_queue *fq)
{
	struct qsync_queue *qq = fq->zc;

	/* The first flush of a binding notifies anyway. */
	atomic_store_explicit(&fq->zc_notify_vid, -1, memory_order_relaxed);
	atomic_store_explicit(&fq->zc_reason, QSYNC_FB_NONE, memory_order_relaxed);
	atomic_store_explicit(&fq->zc_want_copy, QSYNC_FB_NONE, memory_order_relaxed);
	atomic_store_explicit(&fq->rx_mode, FWD_RX_MODE_ZERO_COPY, memory_order_relaxed);
	atomic_store_explicit(&fq->zc_req, FWD_ZC_REQ_ZERO_COPY, memory_order_seq_cst);
	VFR_LOG(INFO, "%s q%u: zero copy on (guest ring %u, VF ring %u, VF buffer %u, header %u)",
		fq->relay->cfg->name, fq->qid, qq->vr->size, fq->relay->port.rxq_size[fq->qid],
		qq->buf_size, qq->hdr_len);
}

/* Queues of @relay bound to a guest ring (stuck ones excluded: nothing moves them). */
static uint32_t
qsync_bound_mask(const struct fwd_relay *relay)
{
	uint32_t m = 0;

	for (uint16_t i = 0; i < relay->n_queues; i++) {
		const struct qsync_queue *qq = relay->queues[i].zc;

		if (qq != NULL && qq->vr != NULL && !qq->stuck)
			m |= QSYNC_BIT(i);
	}
	return m;
}

static bool
qsync_shells_back(const struct qsync_queue *qq)
{
	return qq->n_free == qq->n_shells;
}

static void
qsync_reclaim_one(struct rte_mempool *mp, void *arg, void *obj, unsigned int idx)
{
	RTE_SET_USED(arg);
	RTE_SET_USED(idx);
	/* Handed to the PMD and never returned: back through the pool, as if freed. */
	if (qsync_shell_of(obj)->bound)
		rte_mempool_put(mp, obj);
}

/*
 * After a port stop, a PMD that forgets an unfinished frame's head (igb)
 * still has it out of our pool: at most that many shells, which the NIC has
 * written and will not write again (their descriptors were done). Take them
 * back rather than keep the queue stuck for good.
 */
static void
qsync_reclaim_forgotten(struct fwd_relay *relay, struct qsync_queue *qq)
{
	unsigned int held = qq->n_shells - qq->n_free;

	if (held == 0 || held > QSYNC_FORGOTTEN_MAX || relay->port.started ||
	    !relay->port.ops->rx_stop_forgets_partial)
		return;
	rte_mempool_obj_iter(qsync_queue_pool(qq), qsync_reclaim_one, NULL);
	VFR_LOG(INFO, "%s: took back %u guest buffer(s) the PMD forgot at its stop (an "
		"unfinished frame)", relay->cfg->name, held - (qq->n_shells - qq->n_free));
}

/*
 * A queue of the relay is stuck: the VF kept guest buffers, so nothing may
 * stop, set up or start the port again (a restart could hand the PMD's ring,
 * shells included, back to the NIC; a setup would free a ring it may still
 * write). Per-queue operations on the other queues stay possible.
 */
static bool
qsync_relay_frozen(const struct fwd_relay *relay)
{
	for (uint16_t i = 0; i < relay->n_queues; i++)
		if (relay->queues[i].zc != NULL && relay->queues[i].zc->stuck)
			return true;
	return false;
}

/*
 * The guest's posted buffers, read-only: if what it has posted already
 * cannot take a VF buffer, binding would only hand them back empty.
 */
static bool
qsync_posted_buffers_fit(const struct rte_vhost_vring *vring, uint16_t last_avail, uint32_t min_len)
{
	uint16_t idx = __atomic_load_n(&vring->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(idx - last_avail);

	if (n > vring->size)
		return true; /* broken ring: the datapath will count it */
	for (uint16_t i = 0; i < n; i++) {
		uint16_t head = __atomic_load_n(
			&vring->avail->ring[(uint16_t)(last_avail + i) & (vring->size - 1)],
			__ATOMIC_RELAXED);

		if (head >= vring->size)
			continue;
		if (__atomic_load_n(&vring->desc[head].len, __ATOMIC_RELAXED) < min_len)
			return false;
	}
	return true;
}

/* The split ring's three parts as librte_vhost mapped them, each inside guest memory. */
static bool
qsync_ring_in_memory(const struct qsync_mem *mem, const struct rte_vhost_vring *v)
{
	size_t n = v->size;

	return qsync_mem_contains(mem, v->desc, n * sizeof(struct vring_desc)) &&
	       qsync_mem_contains(mem, v->avail, sizeof(struct vring_avail) + (n + 1) * 2) &&
	       qsync_mem_contains(mem, v->used, sizeof(struct vring_used) +
							n * sizeof(struct vring_used_elem) + 2);
}

/*
 * VF ring size for a zero-copy queue: what the guest can spare (half its
 * ring of @p guest_ring entries), in PMD units. A PMD that writes one buffer
 * at a time keeps its ring.
 */
static uint16_t
qsync_zc_ring_size(const struct fwd_queue *fq, uint16_t guest_ring)
{
	const struct hw_port *port = &fq->relay->port;

	if (!fq->zc->pmd_holds_buffers || port->ops->rx_one_buffer)
		return port->rxq_size[fq->qid];
	return hw_port_rx_ring_fit(port, (uint16_t)RTE_MIN(port->nb_rxd, guest_ring / 2));
}

/*
 * Buffers the guest must have posted before a bind: what the PMD takes at
 * once when it fills its ring (Linux posts its whole ring when the link comes
 * up). A PMD that takes a buffer per frame, or starts from host buffers (tap),
 * needs none: the datapath validates each buffer as it comes.
 */
static uint16_t
qsync_posted_needed(const struct fwd_queue *fq, uint16_t ring)
{
	if (!fq->zc->pmd_holds_buffers || fq->relay->port.ops->rx_one_buffer)
		return 0;
	return ring;
}

/*
 * Read-only: could the guest's RX ring be bound now? Checked before anything
 * parks a worker or stops the VF, so a guest that has not posted its buffers
 * yet costs nothing while the control thread retries.
 * @return 0, -EAGAIN (not enough posted yet), or -EINVAL with @p why
 */
static int
qsync_ring_ready(struct fwd_queue *fq, int vid, uint64_t features, enum qsync_fallback *why)
{
	uint16_t hdr_len = qsync_net_hdr_len(features);
	struct rte_vhost_vring vring;
	uint16_t last_avail, last_used;
	uint16_t ring;

	*why = QSYNC_FB_bind_failed;
	if (rte_vhost_get_vhost_vring(vid, fq->qid * 2, &vring) != 0 ||
	    rte_vhost_get_vring_base(vid, fq->qid * 2, &last_avail, &last_used) != 0 ||
	    vring.desc == NULL || vring.avail == NULL || vring.used == NULL ||
	    vring.size == 0 || !rte_is_power_of_2(vring.size))
		return -EINVAL;
	ring = qsync_zc_ring_size(fq, vring.size);
	if (ring == 0) {
		*why = QSYNC_FB_guest_ring_small;
		return -EINVAL;
	}
	if ((uint16_t)(__atomic_load_n(&vring.avail->idx, __ATOMIC_ACQUIRE) - last_avail) <
	    qsync_posted_needed(fq, ring)) {
		*why = QSYNC_FB_NONE;
		return -EAGAIN;
	}
	if (!qsync_posted_buffers_fit(&vring, last_avail, hdr_len + fq->zc->buf_size)) {
		*why = QSYNC_FB_guest_buf_small;
		return -EINVAL;
	}
	*why = QSYNC_FB_NONE;
	return 0;
}

/*
 * Snapshot the guest's RX ring and the relay's memory, and build the ring
 * state the datapath uses; @p ring is the VF ring size to use. No VF
 * operation: the pool still hands out host mbufs until qq->zc is set.
 * @return 0, -EAGAIN while the guest has not posted enough buffers, or
 *         -EINVAL with @p why
 */
static int
qsync_ring_attach(struct fwd_queue *fq, int vid, uint64_t features, uint16_t *ring,
		  enum qsync_fallback *why)
{
	struct qsync_queue *qq = fq->zc;
	uint16_t vring_idx = fq->qid * 2;
	uint16_t hdr_len = qsync_net_hdr_len(features);
	struct qsync_vring_params p = {0};
	struct rte_vhost_vring vring;
	uint16_t last_avail, last_used;
	struct qsync_mem *mem;

	int ret = qsync_ring_ready(fq, vid, features, why);

	if (ret != 0)
		return ret;
	*why = QSYNC_FB_bind_failed;
	/* Ready a moment ago, under zc_lock: no message can have changed the ring since. */
	if (rte_vhost_get_vhost_vring(vid, vring_idx, &vring) != 0 ||
	    rte_vhost_get_vring_base(vid, vring_idx, &last_avail, &last_used) != 0)
		return -EINVAL;
	*ring = qsync_zc_ring_size(fq, vring.size);
	mem = qsync_mem_get(fq->relay, vid, why);
	if (mem == NULL)
		return -EINVAL;
	if (!qsync_ring_in_memory(mem, &vring)) {
		VFR_LOG_LIMITED(ERR, "%s q%u: guest RX ring of %u entries lies outside its memory",
				fq->relay->cfg->name, fq->qid, vring.size);
		*why = QSYNC_FB_bad_ring;
		qsync_mem_put(fq->relay, mem);
		return -EINVAL;
	}
	p.desc = vring.desc;
	p.avail = vring.avail;
	p.used = vring.used;
	p.size = vring.size;
	p.last_avail_idx = last_avail;
	p.last_used_idx = last_used;
	p.features = features;
	p.buf_size = qq->buf_size;
	p.xlate = qsync_mem_xlate(mem);
	qq->vr = qsync_vring_create(&p);
	if (qq->vr == NULL) {
		qsync_mem_put(fq->relay, mem);
		return -EINVAL;
	}
	qq->mem = mem;
	qq->vid = vid;
	qq->vring = vring_idx;
	qq->hdr_len = hdr_len;
	qq->guest_csum = features & (1ULL << VIRTIO_NET_F_GUEST_CSUM);
	qq->n_stash = 0;
	qq->notify_pending = false;
	qq->quiescing = false;
	qq->gen++;
	*why = QSYNC_FB_NONE;
	return 0;
}

/*
 * Give the guest every buffer the binding still holds, set the ring's base
 * for librte_vhost, and drop the binding (every shell is back: the caller
 * checked, or the PMD cannot write them any more).
 */
static void
qsync_ring_detach(struct fwd_queue *fq, enum qsync_fallback reason, bool locked)
{
	struct qsync_queue *qq = fq->zc;
	struct qsync_hand_back hb;

	qq->zc = false;
	qsync_vring_hand_back(qq->vr, &hb);
	rte_vhost_set_vring_base(qq->vid, qq->vring, hb.last_avail_idx, hb.last_used_idx);
	/*
	 * Under the vring locks the interrupt cannot be sent now; the control
	 * thread sends it (qsync_ctl_notify_owed()), or the guest would wait for
	 * buffers it already has back.
	 */
	if (hb.notify && (locked || rte_vhost_vring_call_nonblock(qq->vid, qq->vring) == -EAGAIN))
		atomic_store_explicit(&fq->zc_notify_vid, qq->vid, memory_order_release);
	qsync_vring_destroy(qq->vr);
	qq->vr = NULL;
	qsync_mem_put(fq->relay, qq->mem);
	qq->mem = NULL;
	qq->n_stash = 0;
	qq->quiescing = false;
	VFR_LOG(INFO, "%s q%u: zero copy off (%s): %u rewound, %u returned empty",
		fq->relay->cfg->name, fq->qid,
		reason == QSYNC_FB_NONE ? "guest ring change" : qsync_fallback_name(reason),
		hb.rewound, hb.zeroed);
}

/* The VF kept shells of this binding after a stop: they may still be written. */
static void
qsync_mark_stuck(struct fwd_queue *fq)
{
	struct qsync_queue *qq = fq->zc;

	qq->stuck = true;
	qq->zc = false;
	VFR_LOG(CRIT, "%s q%u: the VF still holds %u guest buffers after a stop: the queue stays "
		"stopped and its guest memory mapped", fq->relay->cfg->name, fq->qid,
		qq->n_shells - qq->n_free);
	qsync_fall_back(fq, QSYNC_FB_vf_holds_buffers);
}

struct qsync_apply {
	int vid;
	uint64_t features;
	enum qsync_fallback reason; /* counted for the queues taken off zero copy */
	bool locked;                /* in a callback holding the vring locks */
	uint32_t retry;             /* out: queues to bind again later (guest buffers short) */
};

/*
 * Attach queue @q for a start of its VF ring in zero copy. Returns the ring
 * size to give the VF, or 0 (fallen back, or to retry).
 */
static uint16_t
qsync_prepare_bind(struct fwd_queue *fq, struct qsync_apply *a)
{
	enum qsync_fallback why;
	uint16_t ring;
	int ret = qsync_ring_attach(fq, a->vid, a->features, &ring, &why);

	if (ret == -EAGAIN)
		a->retry |= QSYNC_BIT(fq->qid);
	if (ret != 0) {
		qsync_fall_back(fq, why);
		return 0;
	}
	return ring;
}

/*
 * Port-wide: park every queue pair, stop the port, take the bound queues off
 * their rings, bind @final, set up the RX queues whose ring must change, start.
 */
static void
qsync_apply_port(struct fwd_relay *relay, uint32_t final, struct qsync_apply *a)
{
	struct hw_port *port = &relay->port;
	uint32_t bound = qsync_bound_mask(relay);
	uint16_t ring[FWD_MAX_QUEUES];
	bool setup_releases = port->ops->rx_setup_releases;
	uint32_t zc = 0;

	if (qsync_relay_frozen(relay)) {
		for (uint16_t i = 0; i < relay->n_queues; i++)
			if ((final & ~bound & QSYNC_BIT(i)) && !relay->queues[i].zc->stuck)
				qsync_fall_back(&relay->queues[i], QSYNC_FB_vf_holds_buffers);
		return;
	}
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		qsync_park_req(&relay->queues[i], FWD_ZC_REQ_PARK_ALL);
		if (bound & QSYNC_BIT(i))
			relay->queues[i].zc->quiescing = true; /* returned shells keep their slot */
	}
	if (hw_port_stop(port) != 0) {
		/*
		 * The port may still run. Its bound queues' DMA may go on: nothing
		 * they hold is handed back or unmapped. The others carry on with
		 * host buffers, as before.
		 */
		for (uint16_t i = 0; i < relay->n_queues; i++) {
			struct fwd_queue *fq = &relay->queues[i];

			if (bound & QSYNC_BIT(i))
				qsync_mark_stuck(fq);
			else
				qsync_fall_back(fq, final & QSYNC_BIT(i) ? QSYNC_FB_bind_failed
									 : QSYNC_FB_NONE);
		}
		return;
	}
	if (!setup_releases) {
		bool stuck = false;

		for (uint16_t i = 0; i < relay->n_queues; i++) {
			if (bound & QSYNC_BIT(i))
				qsync_reclaim_forgotten(relay, relay->queues[i].zc);
			if ((bound & QSYNC_BIT(i)) && !qsync_shells_back(relay->queues[i].zc)) {
				qsync_mark_stuck(&relay->queues[i]);
				stuck = true;
			}
		}
		/*
		 * The port stays stopped for good (qsync_relay_frozen()): the clean
		 * queues give their buffers back and stay parked with it.
		 */
		if (stuck) {
			for (uint16_t i = 0; i < relay->n_queues; i++) {
				struct fwd_queue *fq = &relay->queues[i];

				if ((bound & QSYNC_BIT(i)) && !fq->zc->stuck)
					qsync_ring_detach(fq, QSYNC_FB_vf_holds_buffers, a->locked);
				atomic_store_explicit(&fq->zc_req, FWD_ZC_REQ_PARK_ALL,
						      memory_order_seq_cst);
			}
			return;
		}
	}
	/* Stopped: the NIC writes nothing (tap writes only inside a burst) until the start. */
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		enum qsync_fallback why = final & QSYNC_BIT(i) ? QSYNC_FB_NONE : a->reason;

		if (bound & QSYNC_BIT(i))
			qsync_ring_detach(&relay->queues[i], why, a->locked);
	}
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		struct fwd_queue *fq = &relay->queues[i];

		ring[i] = port->nb_rxd;
		if (!(final & QSYNC_BIT(i)))
			continue;
		ring[i] = qsync_prepare_bind(fq, a);
		if (ring[i] == 0) {
			ring[i] = port->nb_rxd;
			continue;
		}
		zc |= QSYNC_BIT(i);
	}
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		if ((setup_releases || ring[i] != port->rxq_size[i]) &&
		    hw_port_rx_queue_setup(port, i, ring[i]) != 0 && (zc & QSYNC_BIT(i))) {
			/* Back to a host ring of the usual size. */
			relay->queues[i].zc->zc = false;
			qsync_ring_detach(&relay->queues[i], QSYNC_FB_bind_failed, a->locked);
			zc &= ~QSYNC_BIT(i);
			if (hw_port_rx_queue_setup(port, i, port->nb_rxd) != 0)
				VFR_LOG(CRIT, "%s q%u: the VF RX queue cannot be set up again",
					relay->cfg->name, i);
		}
	}
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		struct qsync_queue *qq = relay->queues[i].zc;

		/* Set up from host buffers (tap fills its ring there): the old rings are back. */
		if (setup_releases && !qsync_shells_back(qq)) {
			if (zc & QSYNC_BIT(i)) {
				qsync_ring_detach(&relay->queues[i], QSYNC_FB_NONE, a->locked);
				zc &= ~QSYNC_BIT(i);
			}
			qsync_mark_stuck(&relay->queues[i]);
		}
		/* From here on (the start) the PMD takes guest buffers for these queues. */
		if (zc & QSYNC_BIT(i))
			qq->zc = true;
	}
	if (hw_port_restart(port) != 0) {
		/* Likely a guest that took back buffers it had posted: start on host mbufs. */
		for (uint16_t i = 0; i < relay->n_queues; i++) {
			if (!(zc & QSYNC_BIT(i)))
				continue;
			relay->queues[i].zc->zc = false;
			qsync_ring_detach(&relay->queues[i], QSYNC_FB_bind_failed, a->locked);
			hw_port_rx_queue_setup(port, i, port->nb_rxd);
			qsync_fall_back(&relay->queues[i], QSYNC_FB_bind_failed);
		}
		zc = 0;
		if (hw_port_stop(port) != 0 || hw_port_restart(port) != 0) {
			VFR_LOG(CRIT, "%s: the VF does not start again: its queues stay stopped",
				relay->cfg->name);
			for (uint16_t i = 0; i < relay->n_queues; i++)
				atomic_store_explicit(&relay->queues[i].zc_req, FWD_ZC_REQ_PARK_ALL,
						      memory_order_seq_cst);
			return;
		}
	}
	VFR_LOG(INFO, "%s: VF stopped and started again%s (%u of %u queues zero copy)",
		relay->cfg->name,
		setup_releases ? ", its RX queues set up again to release guest buffers" : "",
		(unsigned int)__builtin_popcount(zc), relay->n_queues);
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		struct fwd_queue *fq = &relay->queues[i];

		if (zc & QSYNC_BIT(i))
			qsync_go_zero_copy(fq);
		else if (!fq->zc->stuck)
			qsync_fall_back(fq, bound & QSYNC_BIT(i) && !(final & QSYNC_BIT(i))
						    ? a->reason
						    : QSYNC_FB_NONE);
	}
}

/* One queue leaves zero copy (the PMD frees what it holds when the queue stops). */
static void
qsync_drop_queue(struct fwd_queue *fq, struct qsync_apply *a)
{
	struct hw_port *port = &fq->relay->port;
	struct qsync_queue *qq = fq->zc;
	bool queue_stop = port->ops->rx_release == HW_RX_RELEASE_QUEUE;

	qsync_park_req(fq, FWD_ZC_REQ_PARK);
	qq->quiescing = true;
	if (queue_stop && hw_port_rx_queue_stop(port, fq->qid) != 0) {
		/* A device that cannot stop one queue is stopped whole. */
		qq->quiescing = false;
		qsync_apply_port(fq->relay, qsync_bound_mask(fq->relay) & ~QSYNC_BIT(fq->qid), a);
		return;
	}
	if (!qsync_shells_back(qq)) {
		qsync_mark_stuck(fq);
		return;
	}
	qsync_ring_detach(fq, a->reason, a->locked);
	if (queue_stop && hw_port_rx_queue_start(port, fq->qid) != 0) {
		VFR_LOG(CRIT, "%s q%u: the VF RX queue does not start again: it stays stopped",
			fq->relay->cfg->name, fq->qid);
		atomic_store_explicit(&fq->zc_req, FWD_ZC_REQ_PARK, memory_order_seq_cst);
		return;
	}
	qsync_fall_back(fq, a->reason);
}

/*
 * One queue goes to zero copy. Returns false if its ring must be resized and
 * the PMD cannot do that for one queue (the caller goes port-wide).
 */
static bool
qsync_add_queue(struct fwd_queue *fq, struct qsync_apply *a)
{
	struct hw_port *port = &fq->relay->port;
	struct qsync_queue *qq = fq->zc;
	bool queue_stop = port->ops->rx_release == HW_RX_RELEASE_QUEUE;
	uint16_t ring;

	qsync_park_req(fq, FWD_ZC_REQ_PARK);
	ring = qsync_prepare_bind(fq, a);
	if (ring == 0)
		return true;
	if (queue_stop && ring != port->rxq_size[fq->qid] && !port->runtime_rx_setup) {
		qsync_ring_detach(fq, QSYNC_FB_NONE, a->locked);
		return false;
	}
	if (queue_stop) {
		/* The copy-mode ring goes: a fresh one holds only shells, in guest order. */
		if (hw_port_rx_queue_stop(port, fq->qid) != 0 ||
		    (ring != port->rxq_size[fq->qid] &&
		     hw_port_rx_queue_setup(port, fq->qid, ring) != 0)) {
			qsync_ring_detach(fq, QSYNC_FB_bind_failed, a->locked);
			hw_port_rx_queue_start(port, fq->qid);
			qsync_fall_back(fq, QSYNC_FB_bind_failed);
			return true;
		}
		qq->zc = true;
		if (hw_port_rx_queue_start(port, fq->qid) != 0) {
			/* Shells live only in a started ring: none went out, or all are back. */
			qq->quiescing = true;
			if (!qsync_shells_back(qq)) {
				qsync_mark_stuck(fq);
				return true;
			}
			qsync_ring_detach(fq, QSYNC_FB_bind_failed, a->locked);
			hw_port_rx_queue_start(port, fq->qid);
			qsync_fall_back(fq, QSYNC_FB_bind_failed);
			return true;
		}
	} else {
		qq->zc = true;
	}
	qsync_go_zero_copy(fq);
	return true;
}

static void qsync_apply_release(struct fwd_relay *relay, uint32_t final, uint32_t drop,
				uint32_t add, struct qsync_apply *a);

/*
 * Make the zero-copy queues of @relay exactly @final (zc_lock held). Queues
 * the guest has not posted enough buffers for yet come back in a->retry, and
 * the control thread will try them again.
 */
static void
qsync_apply_locked(struct fwd_relay *relay, uint32_t final, struct qsync_apply *a)
{
	uint32_t bound = qsync_bound_mask(relay);
	uint32_t drop = bound & ~final;
	uint32_t add = final & ~bound;

	if (drop == 0 && add == 0)
		return;
	qsync_apply_release(relay, final, drop, add, a);
	/* Queues whose guest had not posted enough yet: the control thread tries again. */
	for (uint16_t i = 0; i < relay->n_queues; i++)
		if (a->retry & QSYNC_BIT(i))
			atomic_store_explicit(&relay->queues[i].zc_rebind, true,
					      memory_order_release);
}

/* qsync_apply_locked(), with the least disruptive operation the PMD allows. */
static void
qsync_apply_release(struct fwd_relay *relay, uint32_t final, uint32_t drop, uint32_t add,
		    struct qsync_apply *a)
{
	switch (relay->port.ops->rx_release) {
	case HW_RX_RELEASE_NONE:
	case HW_RX_RELEASE_QUEUE:
		for (uint16_t i = 0; i < relay->n_queues; i++)
			if (drop & QSYNC_BIT(i))
				qsync_drop_queue(&relay->queues[i], a);
		for (uint16_t i = 0; i < relay->n_queues; i++) {
			if ((add & QSYNC_BIT(i)) && !qsync_add_queue(&relay->queues[i], a)) {
				/* This one and the rest, port-wide. */
				uint32_t rest = add >> i << i;

				qsync_apply_port(relay, qsync_bound_mask(relay) | rest, a);
				return;
			}
		}
		return;
	case HW_RX_RELEASE_PORT:
		qsync_apply_port(relay, final, a);
		return;
	case HW_RX_RELEASE_NEVER:
		break;
	}
	/* qsync_check_features() keeps such PMDs off zero copy: nothing is ever bound. */
}

/*
 * Is librte_vhost applying a message to this device right now? It holds
 * every vring lock from before our pre-handler until the message is done,
 * failed or not (vhost_user_msg_handler()), and the pre-handler passes
 * through zc_lock, which the caller holds: so if the RX vring's lock is free
 * now, no message is being applied and none can be until zc_lock is released.
 * The only public call that tries that lock is the non-blocking guest
 * interrupt; an extra interrupt is harmless (the guest finds nothing new).
 */
static int
qsync_message_in_flight(int vid, uint16_t vring)
{
	int ret = rte_vhost_vring_call_nonblock(vid, vring);

	if (ret == -EAGAIN)
		return 1;
	return ret < 0 ? ret : 0;
}

static void
qsync_quiesce_locked(struct fwd_relay *relay, uint32_t mask, enum qsync_fallback reason,
		     bool locked)
{
	struct qsync_apply a = {.vid = -1, .reason = reason, .locked = locked};
	uint32_t bound = qsync_bound_mask(relay);

	/* Rebinding the queues that stay needs the device they are bound to. */
	for (uint16_t i = 0; i < relay->n_queues && a.vid < 0; i++)
		if (bound & ~mask & QSYNC_BIT(i))
			a.vid = relay->queues[i].zc->vid;
	if (a.vid >= 0)
		rte_vhost_get_negotiated_features(a.vid, &a.features);
	if (bound & mask)
		qsync_apply_locked(relay, bound & ~mask, &a);
	if (reason == QSYNC_FB_NONE)
		return;
	for (uint16_t i = 0; i < relay->n_queues; i++)
		if ((mask & ~bound & QSYNC_BIT(i)) && relay->queues[i].zc != NULL &&
		    !relay->queues[i].zc->stuck)
			qsync_fall_back(&relay->queues[i], reason);
}

int
qsync_ctl_bind(struct fwd_queue *fq, int vid)
{
	struct fwd_relay *r = fq->relay;
	struct qsync_queue *qq = fq->zc;
	struct qsync_apply a = {.vid = vid};
	enum qsync_fallback why;
	int ret;

	if (qq == NULL)
		return -ENOTSUP;
	pthread_mutex_lock(&r->zc_lock);
	if (qq->stuck) {
		pthread_mutex_unlock(&r->zc_lock);
		return -EPERM;
	}
	if (atomic_load_explicit(&r->zc_mode, memory_order_relaxed) == FWD_ZC_OFF) {
		qsync_quiesce_locked(r, QSYNC_BIT(fq->qid), QSYNC_FB_NONE, false);
		qsync_fall_back(fq, QSYNC_FB_NONE);
		pthread_mutex_unlock(&r->zc_lock);
		return -EPERM;
	}
	/*
	 * destroy_device unpublishes the vid before it takes zc_lock to quiesce:
	 * checked here, under the lock, the device cannot go away until we are
	 * done, so every vid call below is on a live device.
	 */
	if (atomic_load_explicit(&fq->vid, memory_order_acquire) != vid ||
	    rte_vhost_get_negotiated_features(vid, &a.features) != 0) {
		pthread_mutex_unlock(&r->zc_lock);
		return -EAGAIN;
	}
	why = qsync_check_features(fq, a.features);
	if (why != QSYNC_FB_NONE) {
		/* Unbinds first if the queue still runs zero copy, else just falls back. */
		qsync_quiesce_locked(r, QSYNC_BIT(fq->qid), why, false);
		pthread_mutex_unlock(&r->zc_lock);
		return -EPERM;
	}
	if (qq->vr != NULL) {
		if (qq->vid == vid) {
			/* Still bound (a quiesce would have unbound it): resume where it was. */
			atomic_store_explicit(&fq->zc_req, FWD_ZC_REQ_ZERO_COPY,
					      memory_order_seq_cst);
			pthread_mutex_unlock(&r->zc_lock);
			return 0;
		}
		/* Bound to a device gone by (cannot happen: destroy quiesces); never reuse it. */
		VFR_LOG(ERR, "%s q%u: still bound to vid %d, now %d: unbinding", r->cfg->name,
			fq->qid, qq->vid, vid);
		qsync_quiesce_locked(r, QSYNC_BIT(fq->qid), QSYNC_FB_NONE, false);
	}
	ret = qsync_message_in_flight(vid, fq->qid * 2);
	if (ret != 0) {
		/* Retry once the message is applied (1), or the ring is not usable (< 0). */
		if (ret < 0)
			qsync_fall_back(fq, QSYNC_FB_bind_failed);
		pthread_mutex_unlock(&r->zc_lock);
		return ret > 0 ? -EAGAIN : -EPERM;
	}
	ret = qsync_ring_ready(fq, vid, a.features, &why);
	if (ret != 0) {
		if (ret != -EAGAIN)
			qsync_fall_back(fq, why);
		pthread_mutex_unlock(&r->zc_lock);
		return ret == -EAGAIN ? -EAGAIN : -EPERM;
	}
	/*
	 * The copy path's enqueue into the guest runs after the worker's window
	 * and writes the very ring a binding takes over: parked (no new one can
	 * start), wait for none to be under way. Not by waiting here, under
	 * zc_lock: that enqueue may wait for a vring lock librte_vhost holds while
	 * its pre-handler waits for zc_lock. Try again on the next tick instead.
	 */
	qsync_park_req(fq, FWD_ZC_REQ_PARK);
	if (atomic_load_explicit(&fq->zc_give, memory_order_acquire) != 0) {
		qsync_fall_back(fq, QSYNC_FB_NONE);
		pthread_mutex_unlock(&r->zc_lock);
		return -EAGAIN;
	}
	qsync_apply_locked(r, qsync_bound_mask(r) | QSYNC_BIT(fq->qid), &a);
	ret = qq->vr != NULL && qq->zc ? 0 : (a.retry & QSYNC_BIT(fq->qid)) ? -EAGAIN : -EPERM;
	pthread_mutex_unlock(&r->zc_lock);
	return ret;
}

void
qsync_ctl_quiesce(struct fwd_queue *fq, enum qsync_fallback reason, bool locked)
{
	if (fq->zc == NULL)
		return;
	pthread_mutex_lock(&fq->relay->zc_lock);
	qsync_quiesce_locked(fq->relay, QSYNC_BIT(fq->qid), reason, locked);
	pthread_mutex_unlock(&fq->relay->zc_lock);
}

void
qsync_ctl_quiesce_relay(struct fwd_relay *relay, enum qsync_fallback reason, bool locked)
{
	if (relay->n_queues == 0 || relay->queues[0].zc == NULL)
		return;
	pthread_mutex_lock(&relay->zc_lock);
	qsync_quiesce_locked(relay, QSYNC_BIT(relay->n_queues) - 1, reason, locked);
	pthread_mutex_unlock(&relay->zc_lock);
}

void
qsync_ctl_detach(struct fwd_relay *relay, bool locked)
{
	if (relay->n_queues == 0 || relay->queues[0].zc == NULL)
		return;
	pthread_mutex_lock(&relay->zc_lock);
	qsync_quiesce_locked(relay, QSYNC_BIT(relay->n_queues) - 1, QSYNC_FB_NONE, locked);
	qsync_mem_forget(relay);
	pthread_mutex_unlock(&relay->zc_lock);
}

void
qsync_ctl_release(struct fwd_relay *relay)
{
	qsync_mem_release_all(relay);
}

void
qsync_ctl_notify_owed(struct fwd_queue *fq)
{
	int vid = atomic_load_explicit(&fq->zc_notify_vid, memory_order_acquire);

	if (vid < 0)
		return;
	pthread_mutex_lock(&fq->relay->zc_lock);
	/* Only the device it was owed to, and only while it lives (vid checked under the lock). */
	if (atomic_load_explicit(&fq->vid, memory_order_acquire) != vid ||
	    rte_vhost_vring_call_nonblock(vid, fq->qid * 2) != -EAGAIN)
		atomic_compare_exchange_strong_explicit(&fq->zc_notify_vid, &vid, -1,
							memory_order_relaxed, memory_order_relaxed);
	pthread_mutex_unlock(&fq->relay->zc_lock);
}

void
qsync_ctl_sync(struct fwd_relay *relay)
{
	pthread_mutex_lock(&relay->zc_lock);
	pthread_mutex_unlock(&relay->zc_lock);
}

void
qsync_queue_counters(const struct qsync_queue *qq, struct qsync_queue_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (qq == NULL)
		return;
	out->bad_desc = qq->bad_desc;
	out->desc_too_small = qq->desc_too_small;
	out->shells_held = qq->n_shells - qq->n_free;
}
