/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* qsync internals shared by the pool ops, the control side and the datapath. */

#ifndef QSYNC_PRIV_H
#define QSYNC_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include <vfrelay/fwd.h>
#include <vfrelay/qsync.h>

#include "qsync_vring.h"
#include "qsync_xlate.h"

/* Popped but not yet handed to the PMD: at most what one allocation can ask for. */
#define QSYNC_STASH_MAX 128

/* A shell's private area (after struct rte_mbuf): which guest buffer it points into. */
struct qsync_shell {
	uint64_t hva;	/* guest buffer start (the header goes here) */
	uint32_t len;	/* guest buffer length */
	uint32_t gen;	/* binding it was handed out under */
	uint16_t slot;	/* ring slot to complete */
	uint16_t bound; /* handed out and not yet completed */
};

static inline struct qsync_shell *
qsync_shell_of(struct rte_mbuf *m)
{
	return (struct qsync_shell *)(m + 1);
}

/*
 * One queue pair's zero-copy state. Owned by the worker while the queue's
 * request is ZERO_COPY and by the control side while it is parked; the
 * Dekker handshake on fq->zc_busy hands it over, so no field is atomic.
 */
struct qsync_queue {
	struct fwd_queue *fq;
	struct rte_mempool *pool;    /* hybrid pool: the VF RX queue's */
	struct rte_mempool *backing; /* host mbufs for copy mode */
	uint16_t buf_size;	     /* bytes the VF writes per buffer */
	bool zc;		     /* pool hands out shells (else backing mbufs) */
	bool populated;		     /* shells initialised: enqueue may read them */
	bool quiescing;		     /* shells coming back keep their slot held */
	bool pmd_holds_buffers;	     /* the PMD keeps a ring of our buffers between bursts */
	bool stuck;		     /* the VF kept shells after a stop: never unbound */
	bool freeing;		     /* the pool is being freed: dequeue hands out nothing */

	/* Shell free list (LIFO: the most recently used shell is warm in cache). */
	struct rte_mbuf **free_shells;
	uint32_t n_free;
	uint32_t n_shells;

	/*
	 * Buffers popped for an allocation that could not be served whole, and
	 * (at the front) second buffers of scattered frames going back to the VF.
	 */
	struct qsync_buf stash[QSYNC_STASH_MAX + FWD_BURST_MAX];
	uint16_t n_stash;

	/* Binding (valid while vr != NULL). */
	struct qsync_vring *vr;
	struct qsync_mem *mem;	     /* the relay's guest memory it translates with */
	int vid;
	uint16_t vring;
	uint16_t hdr_len;
	bool guest_csum;
	bool notify_pending; /* a guest interrupt could not be sent yet */
	uint32_t gen;

	/* Guest misbehaviour, accumulated from each binding's ring (worker: wo). */
	uint64_t bad_desc;
	uint64_t desc_too_small;
};

/* Guest memory of a relay (qsync_mem.c, control side, under the relay's zc_lock). */
struct qsync_mem *qsync_mem_get(struct fwd_relay *relay, int vid, enum qsync_fallback *why);
void qsync_mem_put(struct fwd_relay *relay, struct qsync_mem *mem);
/* The memory table is about to change or the device is gone: no new binding uses it. */
void qsync_mem_forget(struct fwd_relay *relay);
/* Process teardown, the VF closed: free everything, orphans included. */
void qsync_mem_release_all(struct fwd_relay *relay);
const struct qsync_xlate *qsync_mem_xlate(const struct qsync_mem *mem);
bool qsync_mem_contains(const struct qsync_mem *mem, const void *p, size_t len);

/* Take @p n valid guest buffers into the stash; true if it holds at least n. */
bool qsync_stash_fill(struct qsync_queue *qq, uint16_t n);

/* Return a shell to the free list (its slot already completed or abandoned). */
static inline void
qsync_shell_recycle(struct qsync_queue *qq, struct rte_mbuf *m)
{
	qsync_shell_of(m)->bound = 0;
	m->next = NULL;
	m->nb_segs = 1;
	rte_mbuf_refcnt_set(m, 1);
	qq->free_shells[qq->n_free++] = m;
}

#endif /* QSYNC_PRIV_H */
