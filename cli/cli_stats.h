/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* What stats and top share about a /vfrelay/stats reply. */

#ifndef VFRELAY_CLI_STATS_H
#define VFRELAY_CLI_STATS_H

#include <stddef.h>

#include <jansson.h>

#define CLI_STATS_MAX_COLUMNS 256

/*
 * Queue columns of a stats reply in the daemon's order, with "total" moved last so the sum
 * always sits at the right edge. @p keys point into @p stats.
 */
size_t cli_stats_columns(const json_t *stats, const char **keys, size_t max);

#endif /* VFRELAY_CLI_STATS_H */
