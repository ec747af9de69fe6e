/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Split ring bind, hand back and unbind (control thread). The datapath is in qsync_inline.h. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>

#include <rte_common.h>

#include <vfrelay/log.h>

#include "qsync_inline.h"
#include "qsync_vring.h"

/* A buffer size beyond the 16-bit mbuf buf_len cannot be what a VF queue is programmed with. */
#define QSYNC_MAX_BUF_SIZE UINT16_MAX

struct qsync_vring *
qsync_vring_create(const struct qsync_vring_params *p)
{
	struct qsync_vring *vr;

	if (p == NULL || p->desc == NULL || p->avail == NULL || p->used == NULL ||
	    p->xlate == NULL) {
		VFR_LOG(ERR, "vring: missing ring address or translation table");
		errno = EINVAL;
		return NULL;
	}
	/* Split rings are a power of two (virtio 1.x 2.7); the slot index relies on it. */
	if (p->size == 0 || p->size > 32768 || !rte_is_power_of_2(p->size)) {
		VFR_LOG(ERR, "vring: size %u is not a power of two up to 32768", p->size);
		errno = EINVAL;
		return NULL;
	}
	if (p->features & (UINT64_C(1) << VIRTIO_F_RING_PACKED)) {
		VFR_LOG(ERR, "vring: packed ring negotiated; zero copy handles split rings only");
		errno = EINVAL;
		return NULL;
	}
	/* Slots are avail positions and used positions at once, which holds only if nothing is in
	 * flight at bind. librte_vhost keeps the two equal for split rings (SET_VRING_BASE sets
	 * both); a difference means buffers owned by someone else. */
	if (p->last_avail_idx != p->last_used_idx) {
		VFR_LOG(ERR, "vring: last_avail_idx %u != last_used_idx %u: buffers in flight",
			  p->last_avail_idx, p->last_used_idx);
		errno = EINVAL;
		return NULL;
	}
	if (p->buf_size == 0 || p->buf_size > QSYNC_MAX_BUF_SIZE) {
		VFR_LOG(ERR, "vring: VF buffer size %u out of 1..%u", p->buf_size,
			  QSYNC_MAX_BUF_SIZE);
		errno = EINVAL;
		return NULL;
	}

	vr = calloc(1, sizeof(*vr));
	if (vr == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	vr->slots = calloc(p->size, sizeof(vr->slots[0]));
	if (vr->slots == NULL) {
		free(vr);
		VFR_LOG(ERR, "vring: no memory for %u slots", p->size);
		errno = ENOMEM;
		return NULL;
	}
	vr->desc = p->desc;
	vr->avail = p->avail;
	vr->used = p->used;
	vr->xlate = p->xlate;
	vr->size = p->size;
	vr->mask = p->size - 1;
	vr->last_avail_idx = p->last_avail_idx;
	vr->last_used_idx = p->last_used_idx;
	vr->event_idx = !!(p->features & (UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX));
	vr->hdr_len = qsync_net_hdr_len(p->features);
	vr->min_len = vr->hdr_len + p->buf_size;
	/* signalled_used_valid stays false: the first flush notifies, as after a (re)bind we do
	 * not know what the guest was last told. */
	return vr;
}

void
qsync_vring_destroy(struct qsync_vring *vr)
{
	if (vr == NULL)
		return;
	free(vr->slots);
	free(vr);
}

void
qsync_vring_hand_back(struct qsync_vring *vr, struct qsync_hand_back *out)
{
	bool notify;
	bool all_held = true;
	uint16_t held;

	memset(out, 0, sizeof(*out));
	qsync_vring_flush(vr, &notify);
	out->notify = notify;

	/* After the flush the first in-flight slot (if any) is held; the held ones are the most
	 * recently popped exactly when no completed slot follows. */
	held = qsync_vring_in_flight(vr);
	for (uint16_t i = 0; i < held; i++) {
		if (vr->slots[(uint16_t)(vr->last_used_idx + i) & vr->mask].done) {
			all_held = false;
			break;
		}
	}

	if (all_held) {
		/* The guest's avail entries for them are unchanged (it cannot reuse an avail entry
		 * before we release a buffer), so they are simply read again next time. */
		vr->last_avail_idx -= held;
		out->rewound = held;
	} else {
		for (uint16_t i = 0; i < held; i++) {
			uint16_t pos = (uint16_t)(vr->last_used_idx + i) & vr->mask;
			struct qsync_slot *s = &vr->slots[pos];

			if (!s->done) {
				s->len = 0;
				s->done = 1;
				out->zeroed++;
			}
		}
		qsync_vring_flush(vr, &notify);
		out->notify |= notify;
	}
	if (out->rewound || out->zeroed)
		VFR_LOG(INFO, "vring: handed back %u held buffers by rewind, %u with length 0",
			  out->rewound, out->zeroed);
	out->last_avail_idx = vr->last_avail_idx;
	out->last_used_idx = vr->last_used_idx;
}
