/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * qsync hot-path helpers, static inline so the datapath pays no calls and unit tests can include
 * them directly.
 *
 * Everything read from guest memory (ring indices, ring entries, descriptors, used_event, flags)
 * is read exactly once with an atomic load: the guest may rewrite it at any moment, and a value
 * that was checked must be the value that is used. Relaxed loads cost nothing on x86.
 *
 * Ring fields are used in host byte order, as librte_vhost does for split rings: vfrelay runs on
 * little-endian hosts, where legacy and virtio 1.0 layouts agree.
 */

#ifndef QSYNC_INLINE_H
#define QSYNC_INLINE_H

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <rte_atomic.h>
#include <rte_branch_prediction.h>
#include <rte_common.h>

#include "qsync_vring.h"
#include "qsync_xlate.h"

/* ---- address translation ---- */

/* PA mode: IOVA of hva and how far, up to len, the physical pages stay consecutive. */
static inline int
qsync_xlate_pa(const struct qsync_xlate *x, const struct qsync_xlate_region *r, uint64_t hva,
	       uint64_t len, struct qsync_xlate_res *res)
{
	const uint32_t shift = x->page_shift;
	const uint64_t psz = UINT64_C(1) << shift;
	uint64_t i = (hva >> shift) - r->first_page;
	uint64_t in_page = hva & (psz - 1);
	uint64_t iova = r->page_iova[i];
	uint64_t contig = psz - in_page;

	if (unlikely(iova == QSYNC_XLATE_IOVA_NONE))
		return -EFAULT;
	res->iova = iova + in_page;
	/* Bounded by len, which is within the region, so i never leaves the page array. Build
	 * keeps every IOVA below 2^64 - page size, so iova + psz neither wraps nor equals the
	 * not-present marker. */
	while (contig < len) {
		uint64_t next = r->page_iova[++i];

		if (next != iova + psz)
			break;
		iova = next;
		contig += psz;
	}
	res->len = RTE_MIN(contig, len);
	return 0;
}

/**
 * Translate a guest-physical address.
 *
 * @param x    the table
 * @param gpa  guest-physical address
 * @param want bytes the caller needs from gpa; res->len is never more, so PA mode walks no
 *             more pages than needed
 * @param hint caller-owned index of the last region hit, updated on a miss; any value is safe
 * @param res  on success: host VA, IOVA and the contiguous length from gpa, at most @p want.
 *             Contiguity stops at the region's end (adjacent regions are not merged) and, in PA
 *             mode, where physical pages stop being consecutive or are not present.
 * @return 0, or -EFAULT when gpa is in no region or its page is not present
 */
static inline int
qsync_xlate_lookup(const struct qsync_xlate *x, uint64_t gpa, uint64_t want, uint32_t *hint,
		   struct qsync_xlate_res *res)
{
	const struct qsync_xlate_region *r;
	uint32_t h = *hint;
	uint64_t off;

	/* Unsigned: a gpa below the region start wraps to a huge offset and misses. */
	if (likely(h < x->nregions && gpa - x->regions[h].gpa < x->regions[h].size)) {
		r = &x->regions[h];
	} else {
		uint32_t lo = 0, hi = x->nregions;

		/* First region starting after gpa; the candidate is the one before it. */
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (x->regions[mid].gpa <= gpa)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == 0 || gpa - x->regions[lo - 1].gpa >= x->regions[lo - 1].size)
			return -EFAULT;
		r = &x->regions[lo - 1];
		*hint = lo - 1;
	}

	off = gpa - r->gpa;
	want = RTE_MIN(want, r->size - off);
	res->hva = r->hva + off;
	if (x->mode == QSYNC_IOVA_VA) {
		res->iova = res->hva;
		res->len = want;
		return 0;
	}
	return qsync_xlate_pa(x, r, res->hva, want, res);
}

/* ---- virtio-net header ---- */

/** Header length: the 12-byte form once MRG_RXBUF or VERSION_1 is negotiated, else 10. */
static inline uint16_t
qsync_net_hdr_len(uint64_t features)
{
	const uint64_t f12 = (UINT64_C(1) << VIRTIO_NET_F_MRG_RXBUF) |
			     (UINT64_C(1) << VIRTIO_F_VERSION_1);

	if (features & f12)
		return sizeof(struct virtio_net_hdr_mrg_rxbuf);
	return sizeof(struct virtio_net_hdr);
}

/**
 * Write the header of a received frame that fills one buffer: no GSO, no checksum to complete,
 * num_buffers 1 in the 12-byte form.
 *
 * @param dst        the buffer's first byte (our address)
 * @param hdr_len    from qsync_net_hdr_len()
 * @param data_valid the VF verified the checksums: the guest may skip doing so
 */
static inline void
qsync_net_hdr_write(void *dst, uint16_t hdr_len, bool data_valid)
{
	const struct virtio_net_hdr_mrg_rxbuf h = {
		.hdr = {
			.flags = data_valid ? VIRTIO_NET_HDR_F_DATA_VALID : 0,
			.gso_type = VIRTIO_NET_HDR_GSO_NONE,
		},
		.num_buffers = 1,
	};

	/* One copy of a constant-size-ish struct: the guest reads the header, so every byte of
	 * it is written, never left from the previous packet. */
	memcpy(dst, &h, hdr_len == sizeof(h) ? sizeof(h) : sizeof(h.hdr));
}

/* ---- split ring ---- */

/** Popped buffers not yet completed: held by the VF, the stash or the worker. */
static inline uint16_t
qsync_vring_in_flight(const struct qsync_vring *vr)
{
	return (uint16_t)(vr->last_avail_idx - vr->last_used_idx);
}

/**
 * Buffers the guest has posted that we have not popped.
 *
 * A guest that moves avail->idx more than the ring size ahead is broken or hostile: the count is
 * not used (it would read entries the guest has not written), bad_ring is counted, and 0 is
 * returned.
 */
static inline uint16_t
qsync_vring_avail_count(struct qsync_vring *vr)
{
	/* Acquire: the ring entries below idx are read after it. */
	uint16_t idx = __atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(idx - vr->last_avail_idx);

	if (unlikely(n > vr->size)) {
		vr->stats.bad_ring++;
		return 0;
	}
	return n;
}

/* Validate and translate descriptor head; on success fill b (but for the slot). */
static inline bool
qsync_vring_desc_ok(struct qsync_vring *vr, uint16_t head, struct qsync_buf *b)
{
	const struct vring_desc *d;
	struct qsync_xlate_res res;
	uint64_t addr;
	uint32_t len;
	uint16_t flags;

	if (unlikely(head >= vr->size)) {
		vr->stats.bad_desc++;
		return false;
	}
	d = &vr->desc[head];
	addr = __atomic_load_n(&d->addr, __ATOMIC_RELAXED);
	len = RTE_MIN(__atomic_load_n(&d->len, __ATOMIC_RELAXED), (uint32_t)QSYNC_DESC_LEN_MAX);
	flags = __atomic_load_n(&d->flags, __ATOMIC_RELAXED);

	/* The VF writes one contiguous buffer: no chains, no indirect tables, and only where the
	 * guest allowed the device to write. */
	if (unlikely((flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) ||
		     !(flags & VRING_DESC_F_WRITE))) {
		vr->stats.bad_desc++;
		return false;
	}
	/* The VF writes up to buf_size bytes after the header whatever the frame: a shorter
	 * descriptor would let it write past the guest's buffer. */
	if (unlikely(len < vr->min_len)) {
		vr->stats.desc_too_small++;
		return false;
	}
	/* The whole descriptor must be guest memory, contiguous for us and for the VF. This also
	 * refuses addr + len wrapping around 2^64: no region reaches that far. */
	if (unlikely(qsync_xlate_lookup(vr->xlate, addr, len, &vr->xlate_hint, &res) < 0 ||
		     res.len < len)) {
		vr->stats.bad_desc++;
		return false;
	}
	b->hva = res.hva;
	b->iova = res.iova;
	b->len = len;
	b->head = head;
	return true;
}

/*
 * Write the next used entry; the guest sees it at the next flush. Only ever for a popped entry
 * (so last_used_idx < last_avail_idx <= used_idx + size): the entry it replaces, one ring
 * back, was published before.
 */
static inline void
qsync_vring_used_write(struct qsync_vring *vr, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vr->used->ring[vr->last_used_idx & vr->mask];

	e->id = head;
	e->len = len;
	vr->last_used_idx++;
}

/**
 * Pop up to @p n valid buffers.
 *
 * Each valid buffer takes a free slot, whose id is in its struct qsync_buf. A rejected avail
 * entry (counted as bad_desc or desc_too_small) is never given to the VF: its used entry is
 * written at once with length 0 and reaches the guest at the next flush. Fewer than @p n are
 * returned when the guest has posted fewer, when entries are rejected, or when a ring's worth
 * of entries is popped beyond what was last published (in flight or completed, unflushed).
 *
 * Flush after popping even if nothing was returned, so rejected entries go back.
 *
 * A head the guest posts again while it is still in flight is given out again: both buffers are
 * that guest's own validated memory, so only the guest can be hurt (Linux vhost does not check
 * this either), and each has its own slot.
 *
 * @return the number of buffers written to @p bufs
 */
static inline uint16_t
qsync_vring_pop(struct qsync_vring *vr, struct qsync_buf *bufs, uint16_t n)
{
	uint16_t avail = qsync_vring_avail_count(vr);
	/* Never a used entry over an unpublished one, never more in flight than there are slots,
	 * whatever the guest claims to have posted. */
	uint16_t unpublished = (uint16_t)(vr->last_avail_idx - vr->used_idx);
	uint16_t budget = RTE_MIN(avail, (uint16_t)(vr->size - unpublished));
	uint64_t seq = vr->avail_seq;
	uint16_t got = 0;

	while (got < n && budget > 0) {
		uint16_t pos = (uint16_t)seq & vr->mask;
		uint16_t head = __atomic_load_n(&vr->avail->ring[pos], __ATOMIC_RELAXED);

		budget--;
		if (likely(qsync_vring_desc_ok(vr, head, &bufs[got]))) {
			uint16_t id = vr->free_ids[--vr->n_free];
			struct qsync_slot *s = &vr->slots[id];

			s->seq = seq;
			s->max_len = bufs[got].len;
			s->head = head;
			s->held = 1;
			bufs[got].slot = id;
			got++;
		} else {
			qsync_vring_used_write(vr, head, 0);
		}
		seq++;
	}
	vr->avail_seq = seq;
	vr->last_avail_idx = (uint16_t)seq;
	return got;
}

/**
 * The buffer in @p slot holds @p len bytes (header included): write its used entry at the next
 * used position now, in completion order, and free the slot. Nothing reaches the guest until
 * qsync_vring_flush().
 */
static inline void
qsync_vring_complete(struct qsync_vring *vr, uint16_t slot, uint32_t len)
{
	struct qsync_slot *s = &vr->slots[slot & vr->mask];

	/* Only a held slot: completing one twice would publish a buffer twice and overfill the
	 * free list, so even without asserts a caller bug changes nothing. */
	if (unlikely(!s->held)) {
		assert(s->held);
		return;
	}
	/* Never tell the guest more than its buffer holds, even on a caller bug. */
	qsync_vring_used_write(vr, s->head, RTE_MIN(len, s->max_len));
	s->held = 0;
	vr->free_ids[vr->n_free++] = slot & vr->mask;
}

/* After a flush: does the guest want an interrupt? Once per flush (the fence is costly). */
static inline bool
qsync_vring_notify_needed(struct qsync_vring *vr)
{
	/* The used->idx store must be visible before we read the guest's wish, or we may skip a
	 * notification the guest asked for just after reading the old used->idx (lost wakeup). */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);

	if (vr->event_idx) {
		uint16_t old = vr->signalled_used;
		uint16_t new_idx = vr->used_idx;
		bool valid = vr->signalled_used_valid;
		uint16_t event = __atomic_load_n(&vr->avail->ring[vr->size], __ATOMIC_RELAXED);

		vr->signalled_used = new_idx;
		vr->signalled_used_valid = true;
		/* With no decision yet made there is no old index to compare with: notify. */
		return !valid || vring_need_event(event, new_idx, old);
	}
	return !(__atomic_load_n(&vr->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
}

/**
 * Publish every used entry written since the last flush (completions and rejected entries, in
 * the order they were written) with one release store of used->idx; decide whether to notify
 * the guest.
 *
 * @param vr     the ring
 * @param notify set when the guest should be interrupted (rte_vhost_vring_call_nonblock());
 *               false when nothing was published
 * @return the number of used entries published
 */
static inline uint16_t
qsync_vring_flush(struct qsync_vring *vr, bool *notify)
{
	uint16_t n = (uint16_t)(vr->last_used_idx - vr->used_idx);

	*notify = false;
	if (n == 0)
		return 0;
	vr->used_idx = vr->last_used_idx;
	/* Release: the entries (and the frames and headers before them) are visible before the
	 * index that exposes them. */
	__atomic_store_n(&vr->used->idx, vr->used_idx, __ATOMIC_RELEASE);
	*notify = qsync_vring_notify_needed(vr);
	return n;
}

#endif /* QSYNC_INLINE_H */
