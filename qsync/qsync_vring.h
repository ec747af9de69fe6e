/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Zero-copy access to one guest split virtqueue (the guest's RX ring); we are its device.
 *
 * The datapath pops the guest's posted buffers (each validated and translated) to hand them to
 * the VF, completes them as the VF fills them, in whatever order that is, and flushes once per
 * burst. A completion writes its used entry {descriptor id, length} at the next used position
 * at once: the used ring is in completion order, which virtio allows without VIRTIO_F_IN_ORDER
 * (zero copy refuses that feature), so a buffer the VF holds for long (one only written after
 * the VF ring wraps, one given back to the VF for a later frame) delays no other. The flush
 * makes the entries visible with one release store of used->idx and decides on a notification.
 *
 * Each popped buffer the VF may write takes a slot: {head, descriptor length, avail sequence
 * number}. Slot ids come from a free list, not from the avail position: a buffer held while the
 * guest reposts a ring's worth of others around it would otherwise collide with the entry at
 * its position one ring later and stop the pop. A head the guest posts twice while in flight
 * takes two slots. Rejected entries take none: they are completed with length 0 in the pop.
 *
 * Indices (16 bits, wrapping): last_avail_idx - last_used_idx is in flight (popped, not
 * completed), last_used_idx - used_idx is completed and not yet published. The pop keeps
 * last_avail_idx - used_idx <= size, so no used entry is written over one the guest has not
 * been shown, and at most size buffers are in flight: there is always a free slot to pop into.
 * A guest that respects the ring has at most size buffers out, so it never posts beyond it.
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

/* One popped buffer the VF may write, until it is completed. */
struct qsync_slot {
	uint64_t seq;     /* its avail entry's sequence number (see avail_seq) */
	uint32_t max_len; /* the descriptor's length: a completion never claims more */
	uint16_t head;    /* descriptor id for the used entry */
	uint16_t held;    /* popped, not completed */
};

struct qsync_vring {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	const struct qsync_xlate *xlate;
	struct qsync_slot *slots; /* size entries, by slot id */
	uint16_t *free_ids;       /* free slot ids, a stack (the last completed is warm) */
	uint16_t n_free;          /* == size - in flight */
	uint16_t size;
	uint16_t mask;
	uint16_t last_avail_idx; /* next avail entry to pop; (uint16_t)avail_seq */
	uint16_t last_used_idx;  /* next used entry to write */
	uint16_t used_idx;       /* used->idx as the last flush stored it */
	uint16_t signalled_used; /* used index at the last notification decision (EVENT_IDX) */
	bool signalled_used_valid;
	bool event_idx;
	uint16_t hdr_len;
	uint32_t min_len;    /* hdr_len + buf_size: shorter descriptors never reach the VF */
	uint32_t xlate_hint; /* last region hit, for qsync_xlate_lookup() */
	/* Avail entries popped, counting from the bind's last_avail_idx: 64 bits never wrap, so
	 * the hand back can order held buffers however long one was held. */
	uint64_t avail_seq;
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
	uint16_t slot; /**< opaque id below the ring size: pass to qsync_vring_complete() */
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
 * The held buffers are exactly the slots popped and not completed (the stash's included): the
 * slot state is the one record of them, so the caller has no list to get wrong. Held buffers
 * may be anywhere in the popped sequence. The longest run of them that ends at last_avail_idx
 * is rewound: their avail entries are still the guest's (overwriting one would take more used
 * entries than we have written), so they are read again next time and the guest sees nothing.
 * Every other held buffer is completed with length 0, oldest first (the guest reposts it):
 * rewinding over it would re-offer buffers already used. Then one flush publishes it all.
 * Afterwards nothing is in flight and last_avail_idx == last_used_idx == used->idx.
 *
 * @param vr  the ring
 * @param out the resulting indices and what was done
 */
void qsync_vring_hand_back(struct qsync_vring *vr, struct qsync_hand_back *out);

#endif /* QSYNC_VRING_H */
