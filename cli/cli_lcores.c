/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* vfrelayctl lcores: cycle accounting per worker lcore since the daemon started. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cli_table.h"

static char *
cli_lcores_pct(uint64_t part, uint64_t whole)
{
	if (whole == 0)
		return cli_xstrdup("-");
	return cli_xasprintf("%.1f", 100.0 * (double)part / (double)whole);
}

int
cli_lcores_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char *const counters[] = {
		"busy_cycles", "idle_cycles", "packets", "iterations", "sleeps",
	};
	const size_t nctr = sizeof(counters) / sizeof(counters[0]);
	const char *key;
	uint64_t busy, idle, pkts;
	json_t *lcores, *v;
	struct cli_table t;
	size_t i;
	int ret;

	(void)argc;
	(void)argv;
	ret = cli_tel_query_dict(&ctx->tel, CLI_CMD_LCORES, &lcores);
	if (ret < 0)
		return ret;
	if (ctx->json) {
		cli_print_json(lcores, JSON_INDENT(2));
		json_decref(lcores);
		return 0;
	}
	/* Scalars (tsc_hz) are instance-wide: one "key value" line each, before the table. */
	json_object_foreach(lcores, key, v) {
		if (!json_is_object(v)) {
			char *s = cli_fmt_value(v);

			printf("%s %s\n", key, s);
			free(s);
		}
	}

	/* Every column right-aligned but the lcore id, like the other tables' first column. */
	cli_table_init(&t, nctr + 4, ~UINT64_C(1));
	cli_table_pushs(&t, "LCORE");
	cli_table_pushs(&t, "QUEUES");
	for (i = 0; i < nctr; i++) {
		char *h = cli_xstrdup(counters[i]);

		for (char *p = h; *p != '\0'; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
		cli_table_push(&t, h);
	}
	cli_table_pushs(&t, "BUSY%");
	cli_table_pushs(&t, "CYCLES/PKT");
	json_object_foreach(lcores, key, v) {
		if (!json_is_object(v))
			continue;
		cli_table_pushs(&t, key);
		cli_table_push(&t, cli_fmt_value(json_object_get(v, "queues")));
		for (i = 0; i < nctr; i++)
			cli_table_push(&t, cli_fmt_value(json_object_get(v, counters[i])));
		if (cli_get_u64(v, "busy_cycles", &busy) && cli_get_u64(v, "idle_cycles", &idle))
			cli_table_push(&t, cli_lcores_pct(busy, busy + idle));
		else
			cli_table_pushs(&t, "-");
		if (cli_get_u64(v, "busy_cycles", &busy) && cli_get_u64(v, "packets", &pkts) &&
		    pkts != 0)
			cli_table_pushf(&t, "%" PRIu64, busy / pkts);
		else
			cli_table_pushs(&t, "-");
	}
	putchar('\n');
	cli_table_print(&t, cli_output_width());
	cli_table_free(&t);
	json_decref(lcores);
	return 0;
}
