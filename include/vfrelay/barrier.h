/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/**
 * @file
 * Asymmetric fences for handshakes where one side runs constantly (a worker,
 * once per queue visit) and the other rarely (the control side parking a
 * queue). membarrier(PRIVATE_EXPEDITED) makes every running thread of the
 * process execute a full barrier, so the frequent side needs only a compiler
 * barrier and the rare side pays with a system call. Same pattern as
 * liburcu's and folly's asymmetric barriers.
 */

#ifndef VFRELAY_BARRIER_H
#define VFRELAY_BARRIER_H

#include <stdatomic.h>
#include <stdbool.h>

/** True when membarrier(PRIVATE_EXPEDITED) is registered (set once, before workers start). */
extern bool vfr_asym_fence;

/** Frequent side: orders its store before its following load. */
static inline void
vfr_light_barrier(void)
{
	if (vfr_asym_fence)
		atomic_signal_fence(memory_order_seq_cst);
	else
		atomic_thread_fence(memory_order_seq_cst);
}

/** Rare side: a full barrier on every running thread of the process. */
void vfr_heavy_barrier(void);

/** Register for vfr_heavy_barrier() before any worker exists; else both sides use full fences. */
void vfr_barrier_init(void);

#endif /* VFRELAY_BARRIER_H */
