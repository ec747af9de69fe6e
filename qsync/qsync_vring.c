/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Split ring bind, hand back and unbind (control thread). The datapath is in qsync_inline.h. */

#include <assert.h>
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

/* Every slot free, slot 0 popped first. */
static void
qsync_vring_free_all(struct qsync_vring *vr)
{
	for (uint32_t i = 0; i < vr->size; i++)
		vr->free_ids[i] = (uint16_t)(vr->size - 1 - i);
	vr->n_free = vr->size;
}

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
	/* Split rings are a power of two (virtio 1.x 2.7); ring positions are masked. */
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
	/* In flight is last_avail_idx - last_used_idx, which counts only our own buffers if
	 * nothing is in flight at bind. librte_vhost keeps the two equal for split rings
	 * (SET_VRING_BASE sets both); a difference means buffers owned by someone else. */
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
	vr->free_ids = calloc(p->size, sizeof(vr->free_ids[0]));
	if (vr->slots == NULL || vr->free_ids == NULL) {
		qsync_vring_destroy(vr);
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
	vr->used_idx = p->last_used_idx;
	vr->avail_seq = p->last_avail_idx;
	qsync_vring_free_all(vr);
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
	free(vr->free_ids);
	free(vr->slots);
	free(vr);
}

/* Oldest avail entry first. */
static int
qsync_slot_seq_cmp(const void *a, const void *b, void *arg)
{
	const struct qsync_slot *slots = arg;
	uint64_t sa = slots[*(const uint16_t *)a].seq;
	uint64_t sb = slots[*(const uint16_t *)b].seq;

	return (sa > sb) - (sa < sb);
}

void
qsync_vring_hand_back(struct qsync_vring *vr, struct qsync_hand_back *out)
{
	/* The free list is rebuilt below (every slot ends free): until then it lists the held. */
	uint16_t *held_ids = vr->free_ids;
	uint32_t held = 0;
	uint32_t run = 0;

	memset(out, 0, sizeof(*out));
	for (uint32_t id = 0; id < vr->size; id++)
		if (vr->slots[id].held)
			held_ids[held++] = (uint16_t)id;
	assert(held == qsync_vring_in_flight(vr));
	qsort_r(held_ids, held, sizeof(held_ids[0]), qsync_slot_seq_cmp, vr->slots);

	/* The newest held buffers that are also the last avail entries popped. */
	while (run < held && vr->slots[held_ids[held - 1 - run]].seq == vr->avail_seq - 1 - run)
		run++;
	/* Every other one goes back empty, oldest first: something popped after it was completed,
	 * so the guest may have written its avail entry again. */
	for (uint32_t i = 0; i < held - run; i++) {
		struct qsync_slot *s = &vr->slots[held_ids[i]];

		qsync_vring_used_write(vr, s->head, 0);
		s->held = 0;
	}
	for (uint32_t i = held - run; i < held; i++)
		vr->slots[held_ids[i]].held = 0;
	vr->avail_seq -= run;
	vr->last_avail_idx = (uint16_t)vr->avail_seq;
	out->rewound = (uint16_t)run;
	out->zeroed = (uint16_t)(held - run);
	qsync_vring_free_all(vr);
	assert(vr->last_avail_idx == vr->last_used_idx);

	qsync_vring_flush(vr, &out->notify);
	if (out->rewound || out->zeroed)
		VFR_LOG(INFO, "vring: handed back %u held buffers by rewind, %u with length 0",
			  out->rewound, out->zeroed);
	out->last_avail_idx = vr->last_avail_idx;
	out->last_used_idx = vr->last_used_idx;
}
