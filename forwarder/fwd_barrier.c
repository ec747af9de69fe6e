/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Asymmetric fences for the zero-copy busy handshake (Dekker): the worker
 * runs it once per queue visit, the control side only when it parks a queue.
 * membarrier(PRIVATE_EXPEDITED) makes every running thread of the process
 * execute a full barrier, so the worker's side can drop its own (a locked
 * instruction per visit) for a compiler barrier. Same pattern as liburcu's
 * and folly's asymmetric barriers.
 */

#include <linux/membarrier.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vfrelay/fwd.h>

bool fwd_asym_fence;

static int
fwd_membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

void
fwd_barrier_init(void)
{
	int cmds = fwd_membarrier(MEMBARRIER_CMD_QUERY);

	fwd_asym_fence = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
			 fwd_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

void
fwd_heavy_barrier(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	/* Cannot fail once registered; a full fence above covers the fallback. */
	if (fwd_asym_fence)
		fwd_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
}
