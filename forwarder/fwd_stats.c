/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

#include <vfrelay/stats.h>

const char *const fwd_queue_counter_names[] = {
#define FWD_X_NAME(name) #name,
	FWD_QUEUE_COUNTERS(FWD_X_NAME)
#undef FWD_X_NAME
};

void
fwd_queue_stats_add(struct fwd_queue_stats *dst, const struct fwd_queue_stats *src)
{
#define FWD_X_ADD(name) dst->name += src->name;
	FWD_QUEUE_COUNTERS(FWD_X_ADD)
#undef FWD_X_ADD
}

uint64_t
fwd_queue_stats_get(const struct fwd_queue_stats *s, size_t idx)
{
	size_t i = 0;

#define FWD_X_GET(name)                                                                            \
	if (i++ == idx)                                                                            \
		return s->name;
	FWD_QUEUE_COUNTERS(FWD_X_GET)
#undef FWD_X_GET
	return 0;
}
