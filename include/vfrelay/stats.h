/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/**
 * @file
 * Per-queue and per-lcore counters.
 *
 * Each struct is written by exactly one worker lcore with plain increments
 * (no atomics on the hot path) and read by the telemetry thread, which may
 * see a value a few packets old but never a torn one (aligned 64-bit stores).
 * Counters only grow; a reader derives rates from two samples.
 */

#ifndef VFRELAY_STATS_H
#define VFRELAY_STATS_H

#include <stddef.h>
#include <stdint.h>

/*
 * X-macro so the struct, the telemetry output and the aggregation can never
 * disagree on the list. Order is the order the CLI prints.
 */
#define FWD_QUEUE_COUNTERS(X)                                                                      \
	X(rx_packets)           /* frames delivered to the guest RX ring */                        \
	X(rx_bytes)             /* their bytes (without virtio-net header) */                      \
	X(rx_zc_packets)        /* ...of which the VF wrote straight into guest memory */          \
	X(rx_zc_tail_packets)   /* ...and of those, frames whose tail was copied (buffer unit) */  \
	X(rx_copy_packets)      /* ...of which this process copied */                              \
	X(rx_copy_bytes)        /* bytes this process memcpy'd into guest buffers */               \
	X(rx_drop_no_guest_buf) /* read from the VF but the guest had no room */                   \
	X(rx_drop_guest_down)   /* read from the VF but the ring went away */                      \
	X(rx_redirected)        /* delivered here from a VF queue whose guest ring is disabled */  \
	X(rx_drop_redirect)     /* frames of this disabled queue another ring had no room for */   \
	X(rx_csum_good)         /* delivered with the VF's checksum-good mark */                   \
	X(rx_ring_stuck)        /* copy path: buffers posted, librte_vhost took none (a bad one) */\
	X(rx_bad_ring)          /* avail index over a ring ahead (broken guest): ring not fed */   \
	X(tx_packets)           /* frames from the guest sent by the VF */                         \
	X(tx_bytes)             /* their bytes */                                                  \
	X(tx_drop_vf_full)      /* VF TX ring stayed full after the retries */                     \
	X(tx_drop_bad_offload)  /* guest offload request the VF and we could not honour */         \
	X(tx_sw_csum)           /* checksums computed in software for the guest */                 \
	X(tx_ring_stuck)        /* frames posted, librte_vhost took none (it stops at a bad one) */\
	X(tx_bad_desc)          /* taken without making a frame (malformed, or no host mbuf) */    \
	X(guest_notifications)  /* interrupts (eventfd writes) sent to the guest */

struct fwd_queue_stats {
#define FWD_X_FIELD(name) uint64_t name;
	FWD_QUEUE_COUNTERS(FWD_X_FIELD)
#undef FWD_X_FIELD
};

/** Number of counters in struct fwd_queue_stats. */
#define FWD_QUEUE_N_COUNTERS (sizeof(struct fwd_queue_stats) / sizeof(uint64_t))

/** Counter names in struct order, for output and tests. */
extern const char *const fwd_queue_counter_names[];

/** Per-worker-lcore cycle accounting (single writer: that worker). */
struct fwd_lcore_stats {
	uint64_t busy_cycles; /**< TSC cycles in loop iterations that moved packets */
	uint64_t idle_cycles; /**< TSC cycles in iterations that moved none, sleeps included */
	uint64_t packets;     /**< packets moved, both directions */
	uint64_t iterations;  /**< loop iterations */
	uint64_t sleeps;      /**< sleeps taken (back-off, or waiting for an event) */
	/* idle = event: why the worker woke (one wake-up may have several causes). */
	uint64_t wakeups;     /**< returns from waiting for an event */
	uint64_t wake_vf;     /**< ...a VF RX interrupt (frames arrived) */
	uint64_t wake_kick;   /**< ...a guest kick (frames to send, or RX buffers posted) */
	uint64_t wake_ctl;    /**< ...the control side (reconfiguration, redirected frames, stop) */
	uint64_t wake_timer;  /**< ...the back-off timer of a queue that cannot wake the worker */
	uint64_t wake_empty;  /**< wake-ups after which the worker found nothing to do */
};

/** dst += src, counter by counter. */
void fwd_queue_stats_add(struct fwd_queue_stats *dst, const struct fwd_queue_stats *src);

/** Counter @p idx (0..FWD_QUEUE_N_COUNTERS-1) of @p s. */
uint64_t fwd_queue_stats_get(const struct fwd_queue_stats *s, size_t idx);

#endif /* VFRELAY_STATS_H */
