/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/**
 * @file
 * One log convention for every module.
 *
 * Each module's meson.build names its logtype and its short name:
 *   c_args: ['-DRTE_LOG_DEFAULT_LOGTYPE=vfrelay.qsync', '-DVFR_LOG_MODULE=qsync']
 * and exactly one of its sources says VFR_LOG_REGISTER(). Then
 *   VFR_LOG(ERR, "%s: cannot map region %u", name, i);
 * prints "qsync: ...", appends the newline, and obeys
 * `--log-level=vfrelay.qsync:debug` or a runtime change over telemetry.
 *
 * Anything a guest or a socket peer can trigger is logged with
 * VFR_LOG_LIMITED (and counted where it happens): a hostile peer must not be
 * able to flood the log.
 */

#ifndef VFRELAY_LOG_H
#define VFRELAY_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_log.h>

#ifndef VFR_LOG_MODULE
#error "VFR_LOG_MODULE must name the module (set by its meson.build)"
#endif

#define VFR_CAT_(a, b) a##b
#define VFR_CAT(a, b) VFR_CAT_(a, b)

/** The module's dynamic logtype id (e.g. qsync_logtype). */
#define VFR_LOGTYPE VFR_CAT(VFR_LOG_MODULE, _logtype)
extern int VFR_LOGTYPE;

/** Define and register the module's logtype; once per module. */
#define VFR_LOG_REGISTER() RTE_LOG_REGISTER_DEFAULT(VFR_LOGTYPE, INFO)

/** Log one line at @p level (EMERG..DEBUG); the newline is added. */
#define VFR_LOG(level, fmt, ...)                                                                   \
	rte_log(RTE_LOG_##level, VFR_LOGTYPE, RTE_STR(VFR_LOG_MODULE) ": " fmt "\n", ##__VA_ARGS__)

/** Per call site: at most VFR_RATELIMIT_BURST lines every VFR_RATELIMIT_INTERVAL_S seconds. */
#define VFR_RATELIMIT_BURST 10
#define VFR_RATELIMIT_INTERVAL_S 5

struct vfr_ratelimit {
	_Atomic uint64_t window_end; /**< TSC at which the current window closes */
	_Atomic uint32_t used;       /**< lines printed in the current window */
	_Atomic uint32_t suppressed; /**< lines dropped since the last one printed */
};

/**
 * May a line be printed now? Thread-safe (callbacks, control and telemetry
 * threads may share a call site); a race can let a line more through, never
 * lose the count of suppressed ones.
 * @param suppressed set to the lines dropped since the last printed one
 */
bool vfr_ratelimit_allow(struct vfr_ratelimit *rl, uint32_t *suppressed);

/** VFR_LOG, rate-limited per call site; says how many lines it dropped. */
#define VFR_LOG_LIMITED(level, fmt, ...)                                                           \
	do {                                                                                       \
		static struct vfr_ratelimit vfr_rl_;                                               \
		uint32_t vfr_sup_;                                                                 \
		if (vfr_ratelimit_allow(&vfr_rl_, &vfr_sup_)) {                                    \
			if (vfr_sup_ != 0)                                                         \
				VFR_LOG(level, fmt " (%u similar lines suppressed)",               \
					##__VA_ARGS__, vfr_sup_);                                  \
			else                                                                       \
				VFR_LOG(level, fmt, ##__VA_ARGS__);                                \
		}                                                                                  \
	} while (0)

/**
 * Put a rate limiter per logtype in front of DPDK's log stream (after
 * rte_eal_init): librte_vhost logs what a front-end sends (a line per
 * message, a line per bad descriptor), so a peer could otherwise flood the
 * log. Lines over the budget are dropped and their number reported once the
 * logtype has budget again.
 * @return 0 or -errno (the log then stays as it was)
 */
int vfr_log_guard_install(void);

/** Level name ("emerg".."debug") for an RTE_LOG_* level, NULL if none. */
const char *vfr_log_level_name(uint32_t level);

/** RTE_LOG_* level for a name ("err", "warning", "info", ...), or -EINVAL. */
int vfr_log_level_parse(const char *name);

#endif /* VFRELAY_LOG_H */
