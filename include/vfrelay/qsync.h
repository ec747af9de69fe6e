/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/**
 * @file
 * Zero-copy receive (queue sync): the VF writes frames straight into the
 * guest's posted RX buffers; the forwarder writes only the virtio-net header
 * and the used ring.
 *
 * Each zero-copy capable queue pair's VF RX queue draws its buffers from a
 * per-queue "hybrid" mempool. In copy mode the pool hands the PMD ordinary
 * host mbufs (librte_vhost then copies, as on the copy path); in zero-copy
 * mode it hands out shell mbufs that point into guest buffers popped from
 * the avail ring. Switching modes therefore never reconfigures the VF.
 *
 * Threads:
 *  - worker (qsync_rx_burst, and the pool ops inside rte_eth_rx_burst) while
 *    the queue's request is FWD_ZC_REQ_ZERO_COPY;
 *  - control thread: qsync_ctl_bind(), qsync_ctl_reclaim(), qsync_ctl_notify_owed();
 *  - vhost-events thread (vhost/, which owns every librte_vhost callback and
 *    hands us the relay): qsync_ctl_quiesce() and qsync_ctl_sync(), including
 *    from callbacks that run with every virtqueue lock held: they wait only
 *    for a zero-copy burst, which never takes a vhost lock.
 */

#ifndef VFRELAY_QSYNC_H
#define VFRELAY_QSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fwd_queue;
struct fwd_relay;
struct qsync_queue;
struct rte_mbuf;
struct rte_mempool;

/** Why a queue runs the copy path instead; each has a counter rx_zc_fallback_<name>. */
#define QSYNC_FALLBACK_REASONS(X)                                                                  \
	X(no_mrg_rxbuf)     /* guest did not negotiate mergeable RX buffers */                     \
	X(in_order)         /* VIRTIO_F_IN_ORDER negotiated */                                     \
	X(packed_ring)      /* VIRTIO_F_RING_PACKED negotiated */                                  \
	X(iommu_platform)   /* guest IOMMU: 22.11 has no public IOTLB translation */               \
	X(live_migration)   /* dirty logging on (VHOST_F_LOG_ALL) */                               \
	X(guest_buf_small)  /* guest posted buffers shorter than header + VF buffer */             \
	X(guest_ring_small) /* guest RX ring too small for the VF's smallest ring */               \
	X(mtu_exceeds_buf)  /* full-MTU frame over 2 VF buffers (1, software VF) */                \
	X(vf_no_dma)        /* the VF cannot be given guest memory for DMA */                      \
	X(vf_holds_buffers) /* the PMD keeps RX buffers and cannot give them back */               \
	X(vf_unknown)       /* a PMD vfrelay knows nothing of (see vf_quirks) */                   \
	X(bad_ring)         /* the guest broke the ring protocol */                                \
	X(bind_failed)      /* memory table or ring unusable */

enum qsync_fallback {
	QSYNC_FB_NONE = 0,
#define QSYNC_X_ENUM(name) QSYNC_FB_##name,
	QSYNC_FALLBACK_REASONS(QSYNC_X_ENUM)
#undef QSYNC_X_ENUM
	QSYNC_FB_N
};

/** "no_mrg_rxbuf", ... ("none" for QSYNC_FB_NONE). */
const char *qsync_fallback_name(enum qsync_fallback fb);

/** What a worker is asked to do with a zero-copy capable queue's RX side. */
enum fwd_zc_req {
	FWD_ZC_REQ_COPY = 0,   /**< copy path (librte_vhost owns the RX vring) */
	FWD_ZC_REQ_ZERO_COPY,  /**< qsync_rx_burst (we own the RX vring) */
	FWD_ZC_REQ_PARK,       /**< do not touch the RX side at all */
	FWD_ZC_REQ_PARK_ALL,   /**< do not touch the queue pair at all (port stop) */
};

/**
 * Create the zero-copy state and hybrid pool of one queue pair (control
 * thread, before the VF RX queue is set up with qsync_queue_pool()).
 *
 * @param fq       the queue pair
 * @param backing  host mbufs for copy mode (the relay's pool)
 * @param buf_size bytes the VF may write per buffer (after the virtio-net header)
 * @return the state, or NULL with errno
 */
struct qsync_queue *qsync_queue_create(struct fwd_queue *fq, struct rte_mempool *backing,
				       uint16_t buf_size);

/** The pool to give the VF RX queue. */
struct rte_mempool *qsync_queue_pool(struct qsync_queue *qq);

/** Free a queue's state (everything stopped, queue unbound). NULL is ignored. */
void qsync_queue_free(struct qsync_queue *qq);

/**
 * VF buffer size for zero copy: the largest size, in the device's
 * granularity, that a Linux guest's smallest mergeable buffer (1536 bytes)
 * holds after the virtio-net header. A longer frame spills into a second
 * buffer and its tail is copied back into the first (qsync_rx.c).
 */
uint16_t qsync_buf_size(uint16_t rx_buf_align);

/**
 * Why @p fq cannot run zero copy with guest @p features now, or QSYNC_FB_NONE.
 * Pure: features, config and VF capabilities only.
 */
enum qsync_fallback qsync_check_features(const struct fwd_queue *fq, uint64_t features);

/**
 * Try to move @p fq from the copy path to zero copy (control thread, no
 * vhost lock held). Parks the worker's RX side, snapshots the memory table
 * and the RX vring, maps DMA, and lets the worker run zero copy.
 *
 * @return 0 when running zero copy; -EAGAIN to retry later (a vhost message
 *         is in flight); or -errno with the fallback reason counted and the
 *         queue back on the copy path (or parked for zero_copy = on).
 */
int qsync_ctl_bind(struct fwd_queue *fq, int vid);

/**
 * Take @p fq off zero copy synchronously: park the worker, stop VF DMA (the
 * queue, or the whole port where the PMD cannot stop one queue), check every
 * shell is back, hand held descriptors back to the guest, set the vring base.
 * A VF that keeps shells leaves the queue parked and its memory mapped. Safe
 * in any librte_vhost callback.
 *
 * @param fq      the queue pair
 * @param reason  counted if not QSYNC_FB_NONE (a fallback, not a teardown)
 * @param locked  called with the virtqueue locks held: do not notify the guest
 */
void qsync_ctl_quiesce(struct fwd_queue *fq, enum qsync_fallback reason, bool locked);

/** Quiesce every zero-copy queue of @p relay (see qsync_ctl_quiesce()). */
void qsync_ctl_quiesce_relay(struct fwd_relay *relay, enum qsync_fallback reason, bool locked);

/**
 * The device is going away or its memory table is about to change: quiesce
 * every queue and let go of the relay's guest memory (its DMA mapping and page
 * references), except what a VF that kept buffers still needs.
 */
void qsync_ctl_detach(struct fwd_relay *relay, bool locked);

/** Process teardown, after the VF is closed: free what is left (control thread). */
void qsync_ctl_release(struct fwd_relay *relay);

/**
 * Pass through @p relay's zc_lock: called before librte_vhost applies a
 * message that changes the device, so that a bind in progress finishes first
 * (one that starts later sees the message in flight and retries).
 */
void qsync_ctl_sync(struct fwd_relay *relay);

/**
 * Send the guest interrupt a quiesce under the vring locks had to leave
 * (control thread, periodically). Retries on the next call while the vring is
 * busy; dropped if the device is gone.
 */
void qsync_ctl_notify_owed(struct fwd_queue *fq);

/**
 * Zero-copy RX burst (worker): take frames the VF wrote into guest buffers,
 * write their headers, publish them in order, notify once.
 * @return frames taken from the VF
 */
unsigned int qsync_rx_burst(struct fwd_queue *fq, int vid);

/**
 * Copy frames that arrived on another VF queue into guest buffers of @p fq's
 * bound ring (worker, inside the queue's zero-copy window); frees the mbufs.
 * @return frames taken
 */
unsigned int qsync_rx_copy_burst(struct fwd_queue *fq, int vid, struct rte_mbuf **pkts, uint16_t n);

/** Guest buffers @p fq's bound ring has for frames now (worker, inside the window). */
uint16_t qsync_rx_room(struct fwd_queue *fq);

/**
 * Guest kicks on @p fq's bound RX ring, set from qsync's own ring indices
 * (worker, inside the window, request ZERO_COPY): librte_vhost's indices of
 * a bound ring are stale, so rte_vhost_enable_guest_notification() must not
 * enable them. Non-blocking.
 *
 * @param enable true before the worker sleeps waiting for RX buffers: the
 *               guest is asked to kick once it posts past what qsync took
 *               (EVENT_IDX: avail_event = last_avail_idx, else
 *               VRING_USED_F_NO_NOTIFY cleared), then a full fence;
 *               false once it woke: suppressed again
 * @return 0, or with @p enable -EAGAIN when the worker must not sleep on the
 *         kick: the guest posted buffers meanwhile, an interrupt to it is
 *         still owed, or the ring is not bound
 */
int qsync_rx_guest_kicks(struct fwd_queue *fq, bool enable);

/**
 * An interrupt @p fq's bound ring owes the guest could not be sent yet (its
 * vring lock was busy): the worker must not sleep (worker, inside the window).
 */
bool qsync_rx_notify_owed(const struct fwd_queue *fq);

/** Guest-behaviour counters of a queue (for telemetry). */
struct qsync_queue_counters {
	uint64_t bad_desc;
	uint64_t desc_too_small;
	uint64_t shells_held;  /**< shells the VF holds now */
};
void qsync_queue_counters(const struct qsync_queue *qq, struct qsync_queue_counters *out);

#endif /* VFRELAY_QSYNC_H */
