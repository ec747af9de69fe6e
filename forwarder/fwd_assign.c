/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

#include <errno.h>

#include <vfrelay/fwd.h>

int
fwd_assign_queues(const uint16_t *relay_queues, unsigned int n_relays, unsigned int n_workers,
		  unsigned int *out)
{
	unsigned int next = 0;

	if (n_workers == 0 || n_relays > FWD_MAX_RELAYS)
		return -EINVAL;
	/*
	 * Deal queue index by queue index (all relays' q0 first, then q1...):
	 * a relay's queues land on different workers, and a worker's load is
	 * balanced across relays rather than packed with one vNIC.
	 */
	for (unsigned int qi = 0; qi < FWD_MAX_QUEUES; qi++) {
		for (unsigned int r = 0; r < n_relays; r++) {
			if (relay_queues[r] > FWD_MAX_QUEUES || relay_queues[r] == 0)
				return -EINVAL;
			if (qi >= relay_queues[r])
				continue;
			out[r * FWD_MAX_QUEUES + qi] = next;
			next = (next + 1) % n_workers;
		}
	}
	return 0;
}
