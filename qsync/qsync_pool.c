/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The hybrid mempool a zero-copy capable VF RX queue allocates from.
 *
 * Created empty with cache size 0, so every get/put of the PMD reaches these
 * ops. In copy mode dequeue forwards to the backing pool (ordinary host
 * mbufs, whose m->pool sends them straight back there when freed). In
 * zero-copy mode dequeue pops validated guest buffers and hands out shells
 * pointing into them; the shells come back here when a PMD frees one
 * without delivering it, or to the datapath's free list after delivery.
 *
 * Shell layout: a PMD writes at buf_addr + RTE_PKTMBUF_HEADROOM (reset and
 * vector rearm both force that data_off), so buf_addr is placed headroom
 * minus header bytes before the guest buffer: the frame lands right after
 * the virtio-net header. The bytes before the guest buffer are never
 * written: every PMD we admit writes at data_off or, for a VLAN re-insert,
 * at most 4 bytes before it (inside the header).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <vfrelay/log.h>

#include "qsync_inline.h"
#include "qsync_priv.h"

#define QSYNC_POOL_OPS_NAME "vfrelay_qsync"

static int
qsync_pool_alloc(struct rte_mempool *mp)
{
	struct qsync_queue *qq = mp->pool_config;

	qq->free_shells = calloc(mp->size, sizeof(*qq->free_shells));
	if (qq->free_shells == NULL)
		return -ENOMEM;
	qq->n_free = 0;
	mp->pool_data = qq;
	return 0;
}

static void
qsync_pool_free(struct rte_mempool *mp)
{
	struct qsync_queue *qq = mp->pool_data;

	free(qq->free_shells);
	qq->free_shells = NULL;
}

/*
 * A shell comes back without having been delivered: a PMD dropped the frame
 * (too long, error) or released its ring. At runtime the guest buffer must
 * go back to the guest now (an empty used entry); while quiescing it stays
 * held, so the hand-back can rewind over it and the guest sees nothing.
 */
static int
qsync_pool_enqueue(struct rte_mempool *mp, void *const *obj_table, unsigned int n)
{
	struct qsync_queue *qq = mp->pool_data;

	for (unsigned int i = 0; i < n; i++) {
		struct rte_mbuf *m = obj_table[i];

		/* populate() enqueues objects before they are initialised: don't read them. */
		if (qq->populated) {
			struct qsync_shell *sh = qsync_shell_of(m);

			if (sh->bound && !qq->quiescing && qq->vr != NULL && sh->gen == qq->gen)
				qsync_vring_complete(qq->vr, sh->slot, 0);
			qsync_shell_recycle(qq, m);
		} else {
			qq->free_shells[qq->n_free++] = m;
		}
	}
	return 0;
}

bool
qsync_stash_fill(struct qsync_queue *qq, uint16_t n)
{
	if (qq->n_stash < n && qq->vr != NULL) {
		uint16_t room = (uint16_t)(RTE_MIN((unsigned int)n, (unsigned int)QSYNC_STASH_MAX) -
					   qq->n_stash);

		qq->n_stash += qsync_vring_pop(qq->vr, &qq->stash[qq->n_stash], room);
	}
	return qq->n_stash >= n;
}

static int
qsync_pool_dequeue(struct rte_mempool *mp, void **obj_table, unsigned int n)
{
	struct qsync_queue *qq = mp->pool_data;
	uint16_t hdr = qq->hdr_len;

	if (!qq->zc) {
		/* rte_mempool_free() dequeues every element through us: take nothing. */
		if (unlikely(qq->freeing))
			return -ENOBUFS;
		return rte_mempool_get_bulk(qq->backing, obj_table, n);
	}

	/*
	 * All or nothing, as mempool callers expect (i40e's vector rearm parks
	 * descriptors on a fake mbuf otherwise). Buffers popped for a request
	 * that cannot be served whole wait in the stash for the next one.
	 */
	if (unlikely(n > QSYNC_STASH_MAX || !qsync_stash_fill(qq, (uint16_t)n) || qq->n_free < n))
		return -ENOBUFS;

	for (unsigned int i = 0; i < n; i++) {
		const struct qsync_buf *b = &qq->stash[i];
		struct rte_mbuf *m = qq->free_shells[--qq->n_free];
		struct qsync_shell *sh = qsync_shell_of(m);
		/* Fits 16 bits: the pop caps a buffer at QSYNC_DESC_LEN_MAX (>= hdr). */
		uint32_t room = b->len - hdr + RTE_PKTMBUF_HEADROOM;

		RTE_BUILD_BUG_ON(QSYNC_DESC_LEN_MAX + RTE_PKTMBUF_HEADROOM > UINT16_MAX);
		m->buf_addr = (void *)(uintptr_t)(b->hva + hdr - RTE_PKTMBUF_HEADROOM);
		m->buf_iova = b->iova + hdr - RTE_PKTMBUF_HEADROOM;
		m->buf_len = (uint16_t)room;
		m->data_off = RTE_PKTMBUF_HEADROOM;
		sh->hva = b->hva;
		sh->len = b->len;
		sh->slot = b->slot;
		sh->gen = qq->gen;
		sh->bound = 1;
		obj_table[i] = m;
	}
	qq->n_stash -= (uint16_t)n;
	if (qq->n_stash != 0)
		memmove(qq->stash, &qq->stash[n], qq->n_stash * sizeof(qq->stash[0]));
	return 0;
}

static unsigned int
qsync_pool_get_count(const struct rte_mempool *mp)
{
	const struct qsync_queue *qq = mp->pool_data;

	return qq->n_free;
}

static const struct rte_mempool_ops qsync_pool_ops = {
	.name = QSYNC_POOL_OPS_NAME,
	.alloc = qsync_pool_alloc,
	.free = qsync_pool_free,
	.enqueue = qsync_pool_enqueue,
	.dequeue = qsync_pool_dequeue,
	.get_count = qsync_pool_get_count,
};

RTE_MEMPOOL_REGISTER_OPS(qsync_pool_ops);

/* Shells own no data room: only the mbuf header and our private area. */
static void
qsync_pool_init_shell(struct rte_mempool *mp, void *arg, void *obj, unsigned int idx)
{
	struct rte_mbuf *m = obj;

	RTE_SET_USED(arg);
	RTE_SET_USED(idx);
	memset(m, 0, mp->elt_size);
	m->priv_size = sizeof(struct qsync_shell);
	m->pool = mp;
	m->nb_segs = 1;
	m->port = RTE_MBUF_PORT_INVALID;
	rte_mbuf_refcnt_set(m, 1);
	m->next = NULL;
}

struct qsync_queue *
qsync_queue_create(struct fwd_queue *fq, struct rte_mempool *backing, uint16_t buf_size)
{
	struct rte_pktmbuf_pool_private priv = {
		.mbuf_data_room_size = (uint16_t)(RTE_PKTMBUF_HEADROOM + buf_size),
		.mbuf_priv_size = sizeof(struct qsync_shell),
	};
	char name[RTE_MEMPOOL_NAMESIZE];
	struct qsync_queue *qq;
	/*
	 * Shells in use at once: what the VF ring holds (hardware and tap keep a
	 * full ring), one allocation in flight, one burst in the worker's hand.
	 */
	unsigned int n = 2u * fq->relay->cfg->rx_ring_size + 2u * QSYNC_STASH_MAX + FWD_BURST_MAX;
	int ret;

	if ((uint32_t)buf_size + RTE_PKTMBUF_HEADROOM > UINT16_MAX) {
		errno = EINVAL;
		return NULL;
	}
	qq = calloc(1, sizeof(*qq));
	if (qq == NULL)
		return NULL;
	qq->fq = fq;
	qq->backing = backing;
	qq->buf_size = buf_size;
	qq->vid = -1;
	qq->pmd_holds_buffers = fq->relay->port.ops != NULL &&
				fq->relay->port.ops->rx_release != HW_RX_RELEASE_NONE;

	/* Pool names are short (26 chars): index and queue, not the relay name. */
	snprintf(name, sizeof(name), "vfr_zc_%u_%u", fq->relay->index, fq->qid);
	qq->pool = rte_mempool_create_empty(name, n,
					    sizeof(struct rte_mbuf) + sizeof(struct qsync_shell), 0,
					    sizeof(priv), rte_socket_id(), 0);
	if (qq->pool == NULL) {
		VFR_LOG(ERR, "%s: cannot create shell pool: %s", name, rte_strerror(rte_errno));
		goto fail;
	}
	ret = rte_mempool_set_ops_byname(qq->pool, QSYNC_POOL_OPS_NAME, qq);
	if (ret == 0) {
		/* Not rte_pktmbuf_pool_init(): it asserts a data room shells do not carry. */
		memcpy(rte_mempool_get_priv(qq->pool), &priv, sizeof(priv));
		ret = rte_mempool_populate_default(qq->pool);
		ret = ret < 0 ? ret : 0;
	}
	if (ret < 0) {
		VFR_LOG(ERR, "%s: cannot populate shell pool: %s", name, rte_strerror(-ret));
		goto fail;
	}
	rte_mempool_obj_iter(qq->pool, qsync_pool_init_shell, NULL);
	qq->n_shells = qq->pool->size;
	qq->populated = true;
	return qq;

fail:
	rte_mempool_free(qq->pool);
	free(qq);
	errno = ENOMEM;
	return NULL;
}

struct rte_mempool *
qsync_queue_pool(struct qsync_queue *qq)
{
	return qq->pool;
}

void
qsync_queue_free(struct qsync_queue *qq)
{
	if (qq == NULL)
		return;
	qsync_vring_destroy(qq->vr); /* a stuck binding's: kept until the VF closed */
	qq->vr = NULL;
	qq->zc = false;
	qq->freeing = true;
	rte_mempool_free(qq->pool);
	free(qq);
}
