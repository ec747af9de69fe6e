/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * qsync's one dynamic logtype ("vfrelay.qsync", named by the build), so an operator can say
 * --log-level=vfrelay.qsync:debug. Control-thread code only: the datapath counts what a guest
 * does instead of logging it.
 */

#ifndef QSYNC_LOG_H
#define QSYNC_LOG_H

#include <rte_log.h>

extern int qsync_logtype;

#define QSYNC_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, qsync_logtype, "qsync: " fmt "\n", ##__VA_ARGS__)

#endif /* QSYNC_LOG_H */
