/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Guest kicks on a bound RX ring (worker lcore, inside the queue's zero-copy
 * window, request ZERO_COPY). While qsync serves the ring, librte_vhost's
 * indices for it are stale: rte_vhost_enable_guest_notification() would set
 * the kick threshold (EVENT_IDX avail_event) from its own last_avail_idx, a
 * point the guest may have passed long ago, and the guest would never kick.
 * We are the device for this ring, so we set the state from our indices.
 * Nothing here blocks; the worker calls it only when it is about to sleep or
 * has just woken.
 */

#include <errno.h>

#include <rte_atomic.h>

#include "qsync_inline.h"
#include "qsync_priv.h"

/* The device's half of event-idx suppression: the slot after the used ring. */
static inline uint16_t *
qsync_avail_event(struct qsync_vring *vr)
{
	return (uint16_t *)&vr->used->ring[vr->size];
}

int
qsync_rx_guest_kicks(struct fwd_queue *fq, bool enable)
{
	struct qsync_queue *qq = fq->zc;
	struct qsync_vring *vr = qq->vr;
	uint16_t flags;

	if (vr == NULL)
		return enable ? -EAGAIN : 0;
	/* We are the only writer of both fields; the guest only reads them. */
	flags = __atomic_load_n(&vr->used->flags, __ATOMIC_RELAXED);
	if (!enable) {
		/* With event idx the stale threshold lets at most one kick through. */
		if (!vr->event_idx)
			__atomic_store_n(&vr->used->flags, flags | VRING_USED_F_NO_NOTIFY,
					 __ATOMIC_RELAXED);
		return 0;
	}
	if (vr->event_idx)
		__atomic_store_n(qsync_avail_event(vr), vr->last_avail_idx, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&vr->used->flags, (uint16_t)(flags & ~VRING_USED_F_NO_NOTIFY),
				 __ATOMIC_RELAXED);
	/*
	 * The guest stores avail->idx, then loads our wish; we store the wish,
	 * then load avail->idx. With a full fence on both sides one of us sees
	 * the other: a buffer posted meanwhile is either seen here or kicked.
	 */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (qsync_vring_avail_count(vr) != 0 || qq->notify_pending)
		return -EAGAIN;
	return 0;
}

bool
qsync_rx_notify_owed(const struct fwd_queue *fq)
{
	const struct qsync_queue *qq = fq->zc;

	return qq->vr != NULL && qq->notify_pending;
}
