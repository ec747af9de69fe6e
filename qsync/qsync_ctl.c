/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Zero-copy binding state machine, control side.
 *
 *   copy --bind (control thread)--> zero copy --quiesce (any callback)--> copy
 *
 * bind parks the worker's RX side, snapshots memory table and RX vring,
 * maps DMA and hands the ring to the worker. quiesce is synchronous and runs
 * before librte_vhost may unmap or move guest memory or stop the ring
 * (destroy_device, ring disable, the pre-handlers of SET_MEM_TABLE,
 * SET_VRING_ADDR and SET_FEATURES): it parks the worker, stops VF DMA, checks
 * every shell is back, hands held descriptors back, sets the vring base and
 * unmaps DMA. It waits only for a zero-copy burst, which takes no vhost lock,
 * so it is safe where librte_vhost holds every virtqueue lock.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/vhost.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_memory.h>
#include <rte_pause.h>
#include <rte_vhost.h>

#include <vfrelay/barrier.h>
#include <vfrelay/log.h>

#include "qsync_inline.h"
#include "qsync_priv.h"

/*
 * Keep the worker off the RX side (PARK) or the whole queue pair (PARK_ALL);
 * returns once it is outside any burst of the queue.
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
			/* Cannot happen for a zero-copy burst; say so loudly if it does. */
			VFR_LOG(WARNING, "%s q%u: worker still inside a burst after 1 s",
				  fq->relay->cfg->name, fq->qid);
			warn_at = rte_get_timer_cycles() + rte_get_timer_hz();
		}
	}
}

static void
qsync_park(struct fwd_queue *fq)
{
	qsync_park_req(fq, FWD_ZC_REQ_PARK);
}

/*
 * Where the queue goes when zero copy is not (or not yet) possible: the copy
 * path, or with zero_copy = on nowhere: that mode never copies.
 */
static void
qsync_fall_back(struct fwd_queue *fq, enum qsync_fallback reason)
{
	bool on = atomic_load_explicit(&fq->relay->zc_mode, memory_order_relaxed) == FWD_ZC_ON;

	if (reason != QSYNC_FB_NONE) {
		if (atomic_load_explicit(&fq->zc_reason, memory_order_relaxed) !=
		    (uint32_t)reason) {
			fq->zc_fallbacks[reason]++;
			VFR_LOG(NOTICE, "%s q%u: %s: %s", fq->relay->cfg->name, fq->qid,
				  on ? "RX stopped (zero_copy = on)" : "copy path",
				  qsync_fallback_name(reason));
		}
		atomic_store_explicit(&fq->zc_reason, reason, memory_order_relaxed);
	}
	atomic_store_explicit(&fq->rx_mode, FWD_RX_MODE_COPY, memory_order_relaxed);
	/* A PMD still holding a shell must not be polled before qsync_ctl_reclaim(). */
	atomic_store_explicit(&fq->zc_req,
			      on || fq->zc->needs_reclaim ? FWD_ZC_REQ_PARK : FWD_ZC_REQ_COPY,
			      memory_order_seq_cst);
}

/*
 * IOMMU (IOVA as VA): let the VF reach each guest region at its host address.
 * Software VFs and PA mode (the VF uses physical addresses) need nothing.
 */
static int
qsync_dma_map(struct qsync_queue *qq, bool map)
{
	const struct hw_port *port = &qq->fq->relay->port;
	struct rte_eth_dev_info info;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint32_t done = 0;
	int ret = 0;

	if (port->ops->software || rte_eal_iova_mode() != RTE_IOVA_VA)
		return 0;
	if (rte_eth_dev_info_get(port->port_id, &info) != 0)
		return -ENODEV;
	for (; done < qq->xlate->nregions; done++) {
		const struct qsync_xlate_region *r = &qq->xlate->regions[done];
		void *va = (void *)(uintptr_t)r->hva;

		if (map) {
			ret = rte_extmem_register(va, r->size, NULL, 0, pg);
			if (ret < 0 && rte_errno != EEXIST)
				break;
			ret = rte_dev_dma_map(info.device, va, r->hva, r->size);
			if (ret < 0) {
				rte_extmem_unregister(va, r->size);
				break;
			}
		} else {
			rte_dev_dma_unmap(info.device, va, r->hva, r->size);
			rte_extmem_unregister(va, r->size);
		}
	}
	if (map && done < qq->xlate->nregions) {
		VFR_LOG(ERR, "%s: cannot map guest region %u for DMA: %s", port->name, done,
			  rte_strerror(rte_errno));
		for (uint32_t i = 0; i < done; i++) {
			const struct qsync_xlate_region *r = &qq->xlate->regions[i];

			rte_dev_dma_unmap(info.device, (void *)(uintptr_t)r->hva, r->hva, r->size);
			rte_extmem_unregister((void *)(uintptr_t)r->hva, r->size);
		}
		return -EIO;
	}
	qq->dma_mapped = map;
	return 0;
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

static int
qsync_bind_locked(struct fwd_queue *fq, int vid, uint64_t features, enum qsync_fallback *why)
{
	struct qsync_queue *qq = fq->zc;
	uint16_t vring_idx = fq->qid * 2;
	struct rte_vhost_memory *mem = NULL;
	struct rte_vhost_vring vring;
	struct qsync_vring_params p = {0};
	uint16_t last_avail;
	uint16_t last_used;
	enum qsync_iova_mode mode = QSYNC_IOVA_VA;
	int pagemap = -1;
	uint16_t hdr_len = qsync_net_hdr_len(features);

	*why = QSYNC_FB_bind_failed;
	if (rte_vhost_get_vhost_vring(vid, vring_idx, &vring) != 0 ||
	    rte_vhost_get_vring_base(vid, vring_idx, &last_avail, &last_used) != 0 ||
	    rte_vhost_get_mem_table(vid, &mem) != 0)
		goto fail;

	if (!qsync_posted_buffers_fit(&vring, last_avail, hdr_len + qq->buf_size)) {
		*why = QSYNC_FB_guest_buf_small;
		goto fail;
	}
	/* Without an IOMMU the VF uses physical addresses of pinned guest pages. */
	if (!fq->relay->port.ops->software && rte_eal_iova_mode() == RTE_IOVA_PA) {
		mode = QSYNC_IOVA_PA;
		pagemap = qsync_xlate_pagemap_open();
		if (pagemap < 0) {
			*why = QSYNC_FB_vf_no_dma;
			goto fail;
		}
	}
	qq->xlate = qsync_xlate_create(mem, mode, pagemap);
	if (pagemap >= 0)
		close(pagemap);
	free(mem);
	mem = NULL;
	if (qq->xlate == NULL)
		goto fail;
	if (qsync_dma_map(qq, true) != 0) {
		*why = QSYNC_FB_vf_no_dma;
		goto fail;
	}

	p.desc = vring.desc;
	p.avail = vring.avail;
	p.used = vring.used;
	p.size = vring.size;
	p.last_avail_idx = last_avail;
	p.last_used_idx = last_used;
	p.features = features;
	p.buf_size = qq->buf_size;
	p.xlate = qq->xlate;
	qq->vr = qsync_vring_create(&p);
	if (qq->vr == NULL) {
		qsync_dma_map(qq, false);
		goto fail;
	}
	qq->vid = vid;
	qq->vring = vring_idx;
	qq->hdr_len = hdr_len;
	qq->guest_csum = features & (1ULL << VIRTIO_NET_F_GUEST_CSUM);
	qq->n_stash = 0;
	qq->notify_pending = false;
	qq->gen++;
	qq->zc = true;
	*why = QSYNC_FB_NONE;
	return 0;

fail:
	free(mem);
	qsync_xlate_free(qq->xlate);
	qq->xlate = NULL;
	return -EINVAL;
}

static void qsync_unbind_locked(struct fwd_queue *fq, enum qsync_fallback reason, bool locked);
static void qsync_quiesce_locked(struct fwd_queue *fq, enum qsync_fallback reason, bool locked);

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

int
qsync_ctl_bind(struct fwd_queue *fq, int vid)
{
	struct fwd_relay *r = fq->relay;
	struct qsync_queue *qq = fq->zc;
	enum qsync_fallback why;
	uint64_t features = 0;
	int ret;

	if (qq == NULL)
		return -ENOTSUP;
	if (atomic_load_explicit(&r->zc_mode, memory_order_relaxed) == FWD_ZC_OFF) {
		qsync_ctl_quiesce(fq, QSYNC_FB_NONE, false);
		qsync_fall_back(fq, QSYNC_FB_NONE);
		return -EPERM;
	}

	/*
	 * Park first, without our lock: the worker may be inside a copy burst
	 * blocked on a vring lock that a vhost callback holds while it waits
	 * for our lock. Parked, the worker no longer consumes the ring.
	 */
	qsync_park(fq);
	pthread_mutex_lock(&r->zc_lock);
	/*
	 * destroy_device unpublishes the vid before it takes zc_lock to quiesce:
	 * checked here, under the lock, the device cannot go away until we are
	 * done, so every vid call below is on a live device.
	 */
	if (atomic_load_explicit(&fq->vid, memory_order_acquire) != vid) {
		pthread_mutex_unlock(&r->zc_lock);
		qsync_fall_back(fq, QSYNC_FB_NONE);
		return -EAGAIN;
	}
	if (rte_vhost_get_negotiated_features(vid, &features) != 0) {
		pthread_mutex_unlock(&r->zc_lock);
		qsync_fall_back(fq, QSYNC_FB_NONE);
		return -EAGAIN;
	}
	why = qsync_check_features(fq, features);
	if (why != QSYNC_FB_NONE) {
		/* Unbinds first if the queue still runs zero copy, else just falls back. */
		qsync_quiesce_locked(fq, why, false);
		pthread_mutex_unlock(&r->zc_lock);
		return -EPERM;
	}
	if (qq->vr != NULL) {
		if (qq->vid == vid) {
			/* Still bound (a quiesce would have unbound it): resume where it was. */
			pthread_mutex_unlock(&r->zc_lock);
			atomic_store_explicit(&fq->zc_req, FWD_ZC_REQ_ZERO_COPY,
					      memory_order_seq_cst);
			return 0;
		}
		/* Bound to a device gone by (cannot happen: destroy quiesces); never reuse it. */
		VFR_LOG(ERR, "%s q%u: still bound to vid %d, now %d: unbinding", r->cfg->name,
			fq->qid, qq->vid, vid);
		qsync_unbind_locked(fq, QSYNC_FB_NONE, false);
	}
	ret = qsync_message_in_flight(vid, fq->qid * 2);
	if (ret != 0) {
		/* Retry once the message is applied (1), or the ring is not usable (< 0). */
		pthread_mutex_unlock(&r->zc_lock);
		if (ret > 0) {
			qsync_fall_back(fq, QSYNC_FB_NONE);
			return -EAGAIN;
		}
		qsync_fall_back(fq, QSYNC_FB_bind_failed);
		return -EPERM;
	}
	if (qq->needs_reclaim) {
		/* The control loop reclaims the PMD's buffers first, then binds. */
		pthread_mutex_unlock(&r->zc_lock);
		qsync_fall_back(fq, QSYNC_FB_NONE);
		return -EAGAIN;
	}
	ret = qsync_bind_locked(fq, vid, features, &why);
	if (ret == 0) {
		/* The first flush of a binding notifies anyway. */
		atomic_store_explicit(&fq->zc_notify_vid, -1, memory_order_relaxed);
		atomic_store_explicit(&fq->zc_reason, QSYNC_FB_NONE, memory_order_relaxed);
		atomic_store_explicit(&fq->zc_want_copy, QSYNC_FB_NONE, memory_order_relaxed);
		atomic_store_explicit(&fq->rx_mode, FWD_RX_MODE_ZERO_COPY, memory_order_relaxed);
		atomic_store_explicit(&fq->zc_req, FWD_ZC_REQ_ZERO_COPY, memory_order_seq_cst);
		VFR_LOG(INFO, "%s q%u: zero copy on (ring %u, VF buffer %u, header %u)",
			  r->cfg->name, fq->qid, qq->vr->size, qq->buf_size, qq->hdr_len);
	} else {
		qsync_fall_back(fq, why);
	}
	pthread_mutex_unlock(&r->zc_lock);
	return ret == 0 ? 0 : -EPERM;
}

/*
 * Take a bound queue off zero copy (queue parked by the caller): stop DMA,
 * get the shells back, hand held descriptors back, unmap. Publishes nothing
 * to the worker; the caller decides where the queue goes next.
 */
static void
qsync_unbind_locked(struct fwd_queue *fq, enum qsync_fallback reason, bool locked)
{
	struct qsync_queue *qq = fq->zc;
	const struct hw_port *port = &fq->relay->port;
	struct qsync_hand_back hb;
	bool stopped = false;

	/* Stop DMA and get back every shell the PMD holds; they keep their slots held. */
	qq->quiescing = true;
	if (port->ops->rx_holds_buffers && port->ops->rx_queue_stop)
		stopped = rte_eth_dev_rx_queue_stop(port->port_id, fq->qid) == 0;
	if (qq->n_free != qq->n_shells) {
		if (port->ops->rx_setup_releases)
			/* Software (tap): it writes only inside a burst, and the worker is
			 * parked; its shells come back when its RX queue is set up again. */
			qq->needs_reclaim = true;
		else
			VFR_LOG(CRIT, "%s q%u: %u shells still held by the VF after stop",
				  fq->relay->cfg->name, fq->qid, qq->n_shells - qq->n_free);
	}

	/* Nothing the VF wrote is pending: give the guest every buffer we still hold. */
	qsync_vring_hand_back(qq->vr, &hb);
	rte_vhost_set_vring_base(qq->vid, qq->vring, hb.last_avail_idx, hb.last_used_idx);
	/*
	 * Under the vring locks the interrupt cannot be sent now; the control
	 * thread sends it (qsync_ctl_notify_owed()), or the guest would wait for
	 * buffers it already has back.
	 */
	if (hb.notify && (locked || rte_vhost_vring_call_nonblock(qq->vid, qq->vring) == -EAGAIN))
		atomic_store_explicit(&fq->zc_notify_vid, qq->vid, memory_order_release);

	qsync_dma_map(qq, false);
	qsync_vring_destroy(qq->vr);
	qq->vr = NULL;
	qsync_xlate_free(qq->xlate);
	qq->xlate = NULL;
	qq->n_stash = 0;
	qq->zc = false;
	qq->quiescing = false;
	if (stopped && rte_eth_dev_rx_queue_start(port->port_id, fq->qid) != 0)
		VFR_LOG(ERR, "%s q%u: cannot restart the VF RX queue", fq->relay->cfg->name,
			  fq->qid);
	VFR_LOG(INFO, "%s q%u: zero copy off (%s): %u rewound, %u returned empty",
		  fq->relay->cfg->name, fq->qid,
		  reason == QSYNC_FB_NONE ? "guest ring change" : qsync_fallback_name(reason),
		  hb.rewound, hb.zeroed);
}

static void
qsync_quiesce_locked(struct fwd_queue *fq, enum qsync_fallback reason, bool locked)
{
	if (fq->zc->vr == NULL) {
		if (reason != QSYNC_FB_NONE)
			qsync_fall_back(fq, reason);
		return;
	}
	qsync_park(fq);
	qsync_unbind_locked(fq, reason, locked);
	qsync_fall_back(fq, reason);
}

bool
qsync_ctl_reclaim(struct fwd_relay *relay)
{
	uint32_t saved[FWD_MAX_QUEUES];
	bool any = false;
	int ret;

	for (uint16_t i = 0; i < relay->n_queues; i++)
		any |= relay->queues[i].zc != NULL && relay->queues[i].zc->needs_reclaim;
	if (!any)
		return false;

	/* Every queue pair of the port idle, before our lock (see qsync_ctl_bind). */
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		saved[i] = atomic_load_explicit(&relay->queues[i].zc_req, memory_order_relaxed);
		qsync_park_req(&relay->queues[i], FWD_ZC_REQ_PARK_ALL);
	}
	pthread_mutex_lock(&relay->zc_lock);
	/* Setting an RX queue up again takes fresh buffers: none may come from a guest. */
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		struct fwd_queue *fq = &relay->queues[i];

		if (fq->zc->vr != NULL) {
			qsync_unbind_locked(fq, QSYNC_FB_NONE, false);
			saved[i] = FWD_ZC_REQ_COPY;
			atomic_store_explicit(&fq->zc_rebind, true, memory_order_release);
		}
	}
	ret = hw_port_rx_reset(&relay->port);
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		struct fwd_queue *fq = &relay->queues[i];
		struct qsync_queue *qq = fq->zc;

		if (ret != 0) {
			/* Polling the PMD could write into guest memory we gave back. */
			VFR_LOG(CRIT, "%s q%u: VF buffers not reclaimed: RX stays stopped",
				  relay->cfg->name, fq->qid);
			atomic_store_explicit(&fq->zc_req, FWD_ZC_REQ_PARK, memory_order_seq_cst);
			continue;
		}
		if (qq->needs_reclaim) {
			qq->needs_reclaim = false;
			saved[i] = FWD_ZC_REQ_COPY;
			atomic_store_explicit(&fq->zc_rebind, true, memory_order_release);
		}
		if (qq->n_free != qq->n_shells)
			VFR_LOG(CRIT, "%s q%u: %u shells still held after RX queue setup",
				  relay->cfg->name, fq->qid, qq->n_shells - qq->n_free);
		if (saved[i] == FWD_ZC_REQ_COPY)
			qsync_fall_back(fq, QSYNC_FB_NONE);
		else
			atomic_store_explicit(&fq->zc_req, saved[i], memory_order_seq_cst);
	}
	pthread_mutex_unlock(&relay->zc_lock);
	if (ret == 0)
		VFR_LOG(INFO, "%s: VF RX queues set up again to release guest buffers",
			  relay->cfg->name);
	return true;
}

void
qsync_ctl_quiesce(struct fwd_queue *fq, enum qsync_fallback reason, bool locked)
{
	if (fq->zc == NULL)
		return;
	pthread_mutex_lock(&fq->relay->zc_lock);
	qsync_quiesce_locked(fq, reason, locked);
	pthread_mutex_unlock(&fq->relay->zc_lock);
}

void
qsync_ctl_quiesce_relay(struct fwd_relay *relay, enum qsync_fallback reason, bool locked)
{
	for (uint16_t i = 0; i < relay->n_queues; i++)
		qsync_ctl_quiesce(&relay->queues[i], reason, locked);
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
	out->bad_ring = qq->bad_ring;
	out->shells_held = qq->n_shells - qq->n_free;
}
