/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* vfrelayctl stats [RELAY]: per-queue counters, one row per counter. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_stats.h"
#include "cli_table.h"

size_t
cli_stats_columns(const json_t *stats, const char **keys, size_t max)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	json_object_foreach((json_t *)stats, key, v) {
		if (json_is_object(v) && strcmp(key, "total") != 0 && n < max - 1)
			keys[n++] = key;
	}
	if (json_is_object(json_object_get(stats, "total")))
		keys[n++] = "total";
	return n;
}

/*
 * Rows are counters, columns are queues: a queue count grows the table sideways by one short
 * column, a new counter adds one line, and `grep rx_drop` prints one line per counter with
 * every queue on it. Row names are the union of the queues' keys in first-seen order, so
 * counters the daemon adds later show up without a CLI change.
 */
static void
cli_stats_print(const char *relay, const json_t *stats)
{
	const char *cols[CLI_STATS_MAX_COLUMNS];
	size_t ncols = cli_stats_columns(stats, cols, CLI_STATS_MAX_COLUMNS);
	json_t *rows = cli_json_object(); /* used as an ordered set of row names */
	const char *key;
	struct cli_table t;
	json_t *v;
	size_t i;

	for (i = 0; i < ncols; i++)
		json_object_foreach(json_object_get(stats, cols[i]), key, v)
			json_object_set_new(rows, key, json_true());

	cli_table_init(&t, ncols + 1, ~UINT64_C(1));
	cli_table_pushs(&t, relay);
	for (i = 0; i < ncols; i++)
		cli_table_pushs(&t, cols[i]);
	json_object_foreach(rows, key, v) {
		cli_table_pushs(&t, key);
		for (i = 0; i < ncols; i++)
			cli_table_push(&t, cli_fmt_value(json_object_get(
						   json_object_get(stats, cols[i]), key)));
	}
	cli_table_print(&t, cli_output_width());
	cli_table_free(&t);
	json_decref(rows);
}

void
cli_stats_check(const struct cli_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	if (argc > 0 && !cli_relay_name_ok(argv[0]))
		cli_usage_error("'%s' is not a relay name", argv[0]);
}

static int
cli_stats_one(struct cli_ctx *ctx, const char *relay)
{
	json_t *stats;
	int ret = cli_query_stats(&ctx->tel, relay, &stats);

	if (ret < 0)
		return ret;
	if (!json_is_object(stats)) {
		json_decref(stats);
		fprintf(stderr, CLI_PROG ": no relay '%s' in instance '%s'\n", relay,
			ctx->tel.name);
		return -ENOENT;
	}
	if (ctx->json)
		cli_print_json(stats, JSON_INDENT(2));
	else
		cli_stats_print(relay, stats);
	json_decref(stats);
	return 0;
}

int
cli_stats_run(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *relays, *all, *stats, *r;
	const char *name;
	bool first = true;
	int ret;

	if (argc > 0)
		return cli_stats_one(ctx, argv[0]);

	ret = cli_tel_query_dict(&ctx->tel, CLI_CMD_RELAYS, &relays);
	if (ret < 0)
		return ret;
	all = cli_json_object();
	json_object_foreach(relays, name, r) {
		ret = cli_query_stats(&ctx->tel, name, &stats);
		if (ret < 0)
			goto out;
		/* A relay removed between the two queries is simply not shown. */
		if (!json_is_object(stats)) {
			json_decref(stats);
			continue;
		}
		json_object_set_new(all, name, stats);
	}
	if (ctx->json) {
		cli_print_json(all, JSON_INDENT(2));
	} else {
		json_object_foreach(all, name, stats) {
			if (!first)
				putchar('\n');
			first = false;
			cli_stats_print(name, stats);
		}
	}
out:
	json_decref(all);
	json_decref(relays);
	return ret;
}
