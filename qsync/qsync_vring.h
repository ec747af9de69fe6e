/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Zero-copy access to one guest split virtqueue (the guest's RX ring).
 *
 * The datapath pops the guest's posted buffers (each validated and translated) to hand them to
 * the VF, completes them as the VF fills them, possibly out of order, and flushes: completions
 * reach the used ring in pop order, like Linux vhost_zerocopy_signal_used(). Because every popped
 * avail entry yields exactly one used entry, the slot of a buffer is its avail position modulo
 * the ring size and the used entry it will become has that same position: entries in
 * [last_used_idx, last_avail_idx) are in flight or completed-but-unpublished.
 *
 * Threads: a struct qsync_vring is written by one datapath lcore while the queue runs and by the
 * control thread only while that lcore is parked (create, hand back, destroy). Nothing in it is
 * shared concurrently, so no field is atomic; the guest-shared ring memory is accessed with
 * explicit atomics in qsync_inline.h.
 *
 * Hot-path helpers (avail count, pop, complete, flush and notify, header) are in qsync_inline.h.
 */

#ifndef QSYNC_VRING_H
#define QSYNC_VRING_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "qsync_xlate.h"

/** What the caller hands over; the ring pointers are already our virtual addresses. */
struct qsync_vring_params {
	struct vring_desc *desc;
	struct vring_avail *avail; /* with room for used_event at ring[size] */
	struct vring_used *used;
	uint16_t size;           /* power of two, at most 32768 */
	uint16_t last_avail_idx; /* from rte_vhost_get_vring_base() */
	uint16_t last_used_idx;  /* likewise; must equal last_avail_idx */
	uint64_t features;       /* negotiated virtio feature bits */
	uint32_t buf_size;       /* bytes the VF writes per buffer, after the virtio-net header */
	const struct qsync_xlate *xlate; /* the guest's memory; must outlive the ring */
};

/** Guest misbehaviour, counted by the datapath (single writer), read by telemetry. */
struct qsync_vring_stats {
	uint64_t bad_ring;       /**< avail->idx moved more than the ring size: ignored */
	uint64_t bad_desc;       /**< bad head, chained, indirect, read-only or not translatable */
	uint64_t desc_too_small; /**< shorter than header + VF buffer */
};

/* Completion state of one slot (one popped avail entry). */
struct qsync_slot {
	uint32_t len;     /* used length once done */
	uint32_t max_len; /* the descriptor's length: a completion never claims more */
	uint16_t head;    /* descriptor id for the used entry */
	uint16_t done;    /* completed, not yet published */
};

struct qsync_vring {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	const struct qsync_xlate *xlate;
	struct qsync_slot *slots; /* size entries, by avail position & mask */
	uint16_t size;
	uint16_t mask;
	uint16_t last_avail_idx; /* next avail entry to pop */
	uint16_t last_used_idx;  /* next used entry to write; == used->idx after a flush */
	uint16_t signalled_used; /* used index at the last notification decision (EVENT_IDX) */
	bool signalled_used_valid;
	bool event_idx;
	uint16_t hdr_len;
	uint32_t min_len;    /* hdr_len + buf_size: shorter descriptors never reach the VF */
	uint32_t xlate_hint; /* last region hit, for qsync_xlate_lookup() */
	struct qsync_vring_stats stats;
};

/*
 * The most of one descriptor ever used: a shell's buf_len is 16 bits and holds the buffer
 * from the header on plus the mbuf headroom. A longer descriptor is used in part, so a
 * length near 2^32 never reaches buffer arithmetic; only what is used must be guest memory.
 */
#define QSYNC_DESC_LEN_MAX (UINT16_MAX - RTE_PKTMBUF_HEADROOM)

/** One buffer popped for the VF. */
struct qsync_buf {
	uint64_t hva;  /**< our address of the buffer's first byte (the header goes here) */
	uint64_t iova; /**< the VF's address of the same byte */
	uint32_t len;  /**< usable bytes, header included: the whole descriptor, contiguous */
	uint16_t head; /**< descriptor id */
	uint16_t slot; /**< pass to qsync_vring_complete() */
};

/** Result of qsync_vring_hand_back(). */
struct qsync_hand_back {
	uint16_t last_avail_idx; /**< for rte_vhost_set_vring_base() (with last_used_idx) */
	uint16_t last_used_idx;  /**< equals last_avail_idx */
	uint16_t rewound;        /**< held buffers made available again */
	uint16_t zeroed;         /**< held buffers completed with length 0 */
	bool notify;             /**< the used ring changed and the guest wants to hear of it */
};

/**
 * Bind to a guest split virtqueue (control thread).
 *
 * @return a ring to destroy with qsync_vring_destroy(), or NULL with errno EINVAL (a parameter
 *         is unusable; logged) or ENOMEM
 */
struct qsync_vring *qsync_vring_create(const struct qsync_vring_params *p);

/** Free a ring; the guest rings are not touched. NULL is ignored. */
void qsync_vring_destroy(struct qsync_vring *vr);

/**
 * Give every buffer still held back to the guest (control thread, queue parked, VF stopped and
 * all its buffers returned, every filled buffer completed).
 *
 * The held buffers are exactly the popped slots not completed: the slot state is the one record
 * of them, so the caller has no list to get wrong. Completed slots are published first. If the
 * held buffers are the most recently popped ones, last_avail_idx is rewound over them: they are
 * available again and the guest sees nothing. Otherwise each is completed with length 0 in pop
 * order (the guest reposts them), since rewinding would also re-offer buffers already used.
 *
 * @param vr  the ring
 * @param out the resulting indices and what was done
 */
void qsync_vring_hand_back(struct qsync_vring *vr, struct qsync_hand_back *out);

#endif /* QSYNC_VRING_H */
