/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Asymmetric fences (see include/vfrelay/barrier.h). */

#include <linux/membarrier.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vfrelay/barrier.h>

bool vfr_asym_fence;

static int
vfr_membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

void
vfr_barrier_init(void)
{
	int cmds = vfr_membarrier(MEMBARRIER_CMD_QUERY);

	vfr_asym_fence = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
			 vfr_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

void
vfr_heavy_barrier(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	/* Cannot fail once registered; a full fence above covers the fallback. */
	if (vfr_asym_fence)
		vfr_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
}
