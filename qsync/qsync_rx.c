/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Zero-copy RX datapath (worker lcore only). The VF has already written
 * each frame into a guest buffer; we write the virtio-net header in front of
 * it and complete its slot (its used entry is written then, in completion
 * order), publish used->idx once per burst and notify the guest at most once.
 * Only non-blocking vhost calls: control callbacks may hold every virtqueue
 * lock while they wait for this burst.
 */

#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_vhost.h>

#include "qsync_inline.h"
#include "qsync_priv.h"

/* Guest misbehaviour seen by this binding's ring, moved to the queue's lasting counters. */
static inline void
qsync_rx_take_ring_stats(struct qsync_queue *qq, struct qsync_vring *vr)
{
	struct qsync_vring_stats *s = &vr->stats;

	if (likely((s->bad_desc | s->desc_too_small | s->bad_ring) == 0))
		return;
	qq->bad_desc += s->bad_desc;
	qq->desc_too_small += s->desc_too_small;
	qq->fq->stats.rx_bad_ring += s->bad_ring;
	/* A guest posting buffers we must refuse is better served by the copy path. */
	if (s->desc_too_small != 0)
		atomic_store_explicit(&qq->fq->zc_want_copy, QSYNC_FB_guest_buf_small,
				      memory_order_relaxed);
	else if (s->bad_ring != 0)
		atomic_store_explicit(&qq->fq->zc_want_copy, QSYNC_FB_bad_ring,
				      memory_order_relaxed);
	memset(s, 0, sizeof(*s));
}

/*
 * Copy a frame the VF did not write in place (host mbuf left from copy mode,
 * several segments, data moved by the PMD) into one popped guest buffer.
 * @return bytes copied, 0 if it was dropped (counted).
 */
static uint32_t
qsync_rx_copy_one(struct qsync_queue *qq, struct rte_mbuf *m)
{
	struct fwd_queue *fq = qq->fq;
	struct qsync_buf *b;
	uint32_t len = rte_pktmbuf_pkt_len(m);
	uint32_t off = 0;
	uint8_t *dst;

	if (!qsync_stash_fill(qq, 1)) {
		fq->stats.rx_drop_no_guest_buf++;
		return 0;
	}
	b = &qq->stash[0];
	if ((uint32_t)qq->hdr_len + len > b->len) {
		/* Needs several guest buffers: the copy path serves such a queue (mtu check). */
		fq->stats.rx_drop_no_guest_buf++;
		return 0;
	}
	dst = (uint8_t *)(uintptr_t)b->hva + qq->hdr_len;
	for (const struct rte_mbuf *s = m; s != NULL && off < len; s = s->next) {
		uint32_t chunk = RTE_MIN((uint32_t)s->data_len, len - off);

		/* A segment claiming more than its buffer: read nothing past it. */
		if (unlikely((uint32_t)s->data_off + s->data_len > s->buf_len)) {
			fq->stats.rx_drop_no_guest_buf++;
			return 0;
		}

		memcpy(dst + off, rte_pktmbuf_mtod(s, void *), chunk);
		off += chunk;
	}
	qsync_net_hdr_write(dst - qq->hdr_len, qq->hdr_len, false);
	qsync_vring_complete(qq->vr, b->slot, qq->hdr_len + off);
	fq->stats.rx_copy_bytes += off;
	fq->stats.rx_copy_packets++;
	qq->n_stash--;
	memmove(qq->stash, &qq->stash[1], qq->n_stash * sizeof(qq->stash[0]));
	return off;
}

/*
 * Interrupt the guest without blocking: if a control callback holds the
 * vring lock, try again next visit rather than lose the wakeup.
 *
 * librte_vhost re-decides with its own copy of the ring indices (event-idx),
 * which we bypass: sync them first or it would suppress every call after the
 * first. Its window then covers ours, so it never drops a call we asked for.
 */
static inline void
qsync_rx_notify(struct qsync_queue *qq, int vid)
{
	rte_vhost_set_vring_base(vid, qq->vring, qq->vr->last_avail_idx, qq->vr->used_idx);
	if (rte_vhost_vring_call_nonblock(vid, qq->vring) == 0) {
		qq->notify_pending = false;
		qq->fq->stats.guest_notifications++;
	} else {
		qq->notify_pending = true;
	}
}

/* Free a delivered or dropped mbuf: shells to our free list, the rest to their pool. */
static inline void
qsync_rx_release(struct qsync_queue *qq, struct rte_mbuf *m)
{
	while (m != NULL) {
		struct rte_mbuf *next = m->next;

		if (m->pool == qq->pool) {
			struct qsync_shell *sh = qsync_shell_of(m);

			/* A shell not completed above goes back empty, in its place. */
			if (sh->bound && sh->gen == qq->gen)
				qsync_vring_complete(qq->vr, sh->slot, 0);
			qsync_shell_recycle(qq, m);
		} else {
			m->next = NULL;
			m->nb_segs = 1;
			rte_pktmbuf_free_seg(m);
		}
		m = next;
	}
}

/*
 * A frame the VF scattered over two guest buffers (its buffer unit is smaller
 * than the guest's buffer, e.g. 1408 bytes of a 1524-byte Linux buffer on
 * iavf, 1024 on igb). Both segments landed at the header offset of their own
 * buffer (RTE_PKTMBUF_HEADROOM into the shell). The guest gets both buffers
 * as one mergeable frame (num_buffers 2), the tail moved to the start of its
 * buffer. Copying the tail into the first buffer instead and handing the
 * second back to the VF would complete it behind every younger buffer the VF
 * holds: the used ring must answer buffers in the order they were posted, or
 * a relay restarted after a crash (librte_vhost resumes at used->idx) fills
 * buffers the guest already has back. @return frame bytes, 0 if the chain is
 * not the VF's own (the caller copies).
 */
static uint32_t
qsync_rx_tail(struct qsync_queue *qq, struct rte_mbuf *m)
{
	struct fwd_queue *fq = qq->fq;
	struct rte_mbuf *t = m->next;
	struct qsync_shell *sh = qsync_shell_of(m);
	struct qsync_shell *tsh = qsync_shell_of(t);
	uint32_t len = rte_pktmbuf_pkt_len(m);
	uint32_t head = m->data_len;
	uint32_t tail = t->data_len;
	struct virtio_net_hdr_mrg_rxbuf *h = (void *)(uintptr_t)sh->hva;
	uint8_t *tdst = (uint8_t *)(uintptr_t)tsh->hva;

	if (t->pool != qq->pool || t->next != NULL || head + tail != len ||
	    m->data_off != RTE_PKTMBUF_HEADROOM || t->data_off != RTE_PKTMBUF_HEADROOM ||
	    !sh->bound || sh->gen != qq->gen || !tsh->bound || tsh->gen != qq->gen)
		return 0;
	/* A PMD never reports more than the room it was given; trust no one. */
	if ((uint32_t)qq->hdr_len + head > sh->len || (uint32_t)qq->hdr_len + tail > tsh->len)
		return 0;
	if (qq->hdr_len != sizeof(struct virtio_net_hdr_mrg_rxbuf))
		return 0;

	/* Buffers of one mergeable frame take consecutive used entries, in posted order. */
	memmove(tdst, rte_pktmbuf_mtod(t, void *), tail);
	qsync_net_hdr_write(h, qq->hdr_len, false);
	h->num_buffers = 2;
	qsync_vring_complete(qq->vr, sh->slot, qq->hdr_len + head);
	qsync_vring_complete(qq->vr, tsh->slot, tail);
	sh->bound = 0;
	tsh->bound = 0;
	fq->stats.rx_zc_packets++;
	fq->stats.rx_zc_tail_packets++;
	fq->stats.rx_copy_bytes += tail;
	return len;
}

/* Slow path for anything but a one-segment frame the VF wrote in place. */
static uint32_t
qsync_rx_fixup(struct qsync_queue *qq, struct rte_mbuf *m)
{
	struct fwd_queue *fq = qq->fq;
	uint32_t len = rte_pktmbuf_pkt_len(m);

	if (m->pool == qq->pool && m->nb_segs == 2) {
		uint32_t done = qsync_rx_tail(qq, m);

		if (done != 0)
			return done;
	}

	if (m->pool == qq->pool && m->nb_segs == 1) {
		struct qsync_shell *sh = qsync_shell_of(m);
		uint8_t *start = (uint8_t *)(uintptr_t)sh->hva;
		uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);

		/*
		 * Data moved inside the guest buffer (af_packet re-inserting a VLAN
		 * tag prepends 4 bytes into the header room): move it in place.
		 */
		if (data >= start && data + len <= start + sh->len &&
		    (uint32_t)qq->hdr_len + len <= sh->len) {
			memmove(start + qq->hdr_len, data, len);
			qsync_net_hdr_write(start, qq->hdr_len, false);
			qsync_vring_complete(qq->vr, sh->slot, qq->hdr_len + len);
			sh->bound = 0;
			fq->stats.rx_copy_bytes += len;
			fq->stats.rx_copy_packets++;
			return len;
		}
	}
	return qsync_rx_copy_one(qq, m);
}

unsigned int
qsync_rx_burst(struct fwd_queue *fq, int vid)
{
	struct qsync_queue *qq = fq->zc;
	struct qsync_vring *vr = qq->vr;
	struct rte_mbuf *pkts[FWD_BURST_MAX];
	uint16_t want;
	uint16_t n;
	uint64_t bytes = 0;
	uint32_t zc = 0;
	bool notify;

	/*
	 * A PMD that allocates per frame (null, af_packet) is asked for no more
	 * than the guest has posted: each frame needs a guest buffer and the pool
	 * refuses partial requests. One that holds a ring of buffers (NICs) may
	 * have frames in buffers it already has: always harvest those.
	 */
	if (qq->pmd_holds_buffers)
		want = fq->burst;
	else
		want = (uint16_t)RTE_MIN((unsigned int)fq->burst,
					 (unsigned int)qsync_vring_avail_count(vr) + qq->n_stash);
	if (want == 0) {
		qsync_rx_take_ring_stats(qq, vr);
		if (unlikely(qq->notify_pending))
			qsync_rx_notify(qq, vid);
		return 0;
	}
	n = rte_eth_rx_burst(fq->port_id, fq->qid, pkts, want);

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint32_t len = rte_pktmbuf_pkt_len(m);

		if (i + 1 < n)
			rte_prefetch0(qsync_shell_of(pkts[i + 1]));
		if (likely(m->pool == qq->pool && m->nb_segs == 1 &&
			   m->data_off == RTE_PKTMBUF_HEADROOM)) {
			struct qsync_shell *sh = qsync_shell_of(m);
			bool csum_ok =
				fq->guest_csum && (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
							  RTE_MBUF_F_RX_L4_CKSUM_GOOD;

			/* A PMD never reports more than the room it was given; trust no one. */
			if (unlikely((uint32_t)qq->hdr_len + len > sh->len)) {
				fq->stats.rx_drop_no_guest_buf++;
				qsync_rx_release(qq, m);
				continue;
			}
			qsync_net_hdr_write((void *)(uintptr_t)sh->hva, qq->hdr_len, csum_ok);
			qsync_vring_complete(vr, sh->slot, qq->hdr_len + len);
			sh->bound = 0;
			fq->stats.rx_csum_good += csum_ok;
			zc++;
			bytes += len;
		} else {
			uint32_t copied = qsync_rx_fixup(qq, m);

			if (copied == 0) {
				qsync_rx_release(qq, m);
				continue;
			}
			bytes += copied;
		}
		qsync_rx_release(qq, m);
		fq->stats.rx_packets++;
	}
	fq->stats.rx_zc_packets += zc;
	fq->stats.rx_bytes += bytes;

	/* Rejected descriptors are completed too: flush even when nothing arrived. */
	if ((qsync_vring_flush(vr, &notify) != 0 && notify) || unlikely(qq->notify_pending))
		qsync_rx_notify(qq, vid);
	qsync_rx_take_ring_stats(qq, vr);
	return n;
}

uint16_t
qsync_rx_room(struct fwd_queue *fq)
{
	struct qsync_queue *qq = fq->zc;

	return (uint16_t)(qsync_vring_avail_count(qq->vr) + qq->n_stash);
}

unsigned int
qsync_rx_copy_burst(struct fwd_queue *fq, int vid, struct rte_mbuf **pkts, uint16_t n)
{
	struct qsync_queue *qq = fq->zc;
	uint64_t bytes = 0;
	uint16_t done = 0;
	bool notify;

	for (uint16_t i = 0; i < n; i++) {
		uint32_t copied = qsync_rx_copy_one(qq, pkts[i]);

		if (copied != 0) {
			bytes += copied;
			done++;
		}
		rte_pktmbuf_free(pkts[i]);
	}
	fq->stats.rx_packets += done;
	fq->stats.rx_bytes += bytes;
	fq->stats.rx_redirected += done;
	if ((qsync_vring_flush(qq->vr, &notify) != 0 && notify) || unlikely(qq->notify_pending))
		qsync_rx_notify(qq, vid);
	return n;
}
