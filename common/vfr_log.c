/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Rate limits for logs a peer can trigger, and level names (see include/vfrelay/log.h). */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>

#define VFR_LOG_MODULE vfr
#include <vfrelay/log.h>

bool
vfr_ratelimit_allow(struct vfr_ratelimit *rl, uint32_t *suppressed)
{
	uint64_t now = rte_get_timer_cycles();
	uint64_t end = atomic_load_explicit(&rl->window_end, memory_order_relaxed);

	*suppressed = 0;
	if (now >= end) {
		uint64_t next = now + (uint64_t)VFR_RATELIMIT_INTERVAL_S * rte_get_timer_hz();

		/* One thread opens the new window; the others count against it. */
		if (atomic_compare_exchange_strong_explicit(&rl->window_end, &end, next,
							    memory_order_relaxed,
							    memory_order_relaxed))
			atomic_store_explicit(&rl->used, 0, memory_order_relaxed);
	}
	if (atomic_fetch_add_explicit(&rl->used, 1, memory_order_relaxed) >= VFR_RATELIMIT_BURST) {
		atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
		return false;
	}
	*suppressed = atomic_exchange_explicit(&rl->suppressed, 0, memory_order_relaxed);
	return true;
}

/*
 * The guard: a stream in front of EAL's. rte_vlog() formats a whole message
 * and flushes, so each write is one message of rte_log_cur_msg_logtype(); the
 * stream's lock serialises writes, so the buckets need no atomics.
 */
#define VFR_GUARD_TYPES 512  /* logtype ids tracked one by one; the rest share the last */
#define VFR_GUARD_BURST 200  /* lines a logtype may print at once */
#define VFR_GUARD_PER_S 20   /* and afterwards per second */

struct vfr_guard_bucket {
	uint64_t last;       /* TSC of the last refill */
	uint32_t tokens;
	uint32_t dropped;
};

static struct {
	FILE *next;
	uint64_t per_token;  /* TSC cycles per token */
	struct vfr_guard_bucket b[VFR_GUARD_TYPES];
} vfr_guard;

static ssize_t
vfr_guard_write(void *cookie, const char *buf, size_t size)
{
	int type = rte_log_cur_msg_logtype();
	struct vfr_guard_bucket *b = &vfr_guard.b[type >= 0 && type < VFR_GUARD_TYPES
							  ? type
							  : VFR_GUARD_TYPES - 1];
	uint64_t now = rte_get_timer_cycles();

	RTE_SET_USED(cookie);
	if (b->last == 0) {
		b->last = now;
		b->tokens = VFR_GUARD_BURST;
	} else if (now - b->last >= vfr_guard.per_token) {
		uint64_t add = (now - b->last) / vfr_guard.per_token;

		b->tokens = (uint32_t)RTE_MIN((uint64_t)VFR_GUARD_BURST, b->tokens + add);
		b->last += add * vfr_guard.per_token;
	}
	if (b->tokens == 0) {
		b->dropped++;
		return (ssize_t)size; /* the caller must not retry */
	}
	b->tokens--;
	if (b->dropped != 0) {
		fprintf(vfr_guard.next, "vfr: %u log lines of logtype %d suppressed (rate limit)\n",
			b->dropped, type);
		b->dropped = 0;
	}
	fwrite(buf, 1, size, vfr_guard.next);
	fflush(vfr_guard.next);
	return (ssize_t)size;
}

int
vfr_log_guard_install(void)
{
	static const cookie_io_functions_t io = {.write = vfr_guard_write};
	FILE *f;

	if (vfr_guard.next != NULL)
		return 0;
	vfr_guard.per_token = rte_get_timer_hz() / VFR_GUARD_PER_S;
	if (vfr_guard.per_token == 0)
		return -EINVAL;
	vfr_guard.next = rte_log_get_stream();
	f = fopencookie(NULL, "w", io);
	if (f == NULL) {
		vfr_guard.next = NULL;
		return -errno;
	}
	/* Line-buffered so nothing sits in our buffer if rte_vlog's flush ever splits. */
	setvbuf(f, NULL, _IOLBF, 0);
	return rte_openlog_stream(f) == 0 ? 0 : -EIO;
}

static const char *const vfr_level_names[] = {
	[RTE_LOG_EMERG] = "emerg", [RTE_LOG_ALERT] = "alert",     [RTE_LOG_CRIT] = "crit",
	[RTE_LOG_ERR] = "err",     [RTE_LOG_WARNING] = "warning", [RTE_LOG_NOTICE] = "notice",
	[RTE_LOG_INFO] = "info",   [RTE_LOG_DEBUG] = "debug",
};

const char *
vfr_log_level_name(uint32_t level)
{
	return level < RTE_DIM(vfr_level_names) ? vfr_level_names[level] : NULL;
}

int
vfr_log_level_parse(const char *name)
{
	for (uint32_t l = RTE_LOG_EMERG; l < RTE_DIM(vfr_level_names); l++)
		if (strcmp(name, vfr_level_names[l]) == 0)
			return (int)l;
	return -EINVAL;
}
