/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* vfrelayctl relays: one line per relay of the instance. */

#include "cli.h"
#include "cli_table.h"

int
cli_relays_run(struct cli_ctx *ctx, int argc, char **argv)
{
	/* Column header, then the key in each relay's dict. */
	static const char *const cols[][2] = {
		{ "STATE", "state" },		{ "VF", "vf" },		  { "VHOST", "vhost" },
		{ "MODE", "vhost_mode" },	{ "QUEUES", "queues" },	  { "MTU", "mtu" },
		{ "ZERO_COPY", "zero_copy" }, { "WAKE", "wake" },
		{ "FEATURES", "features" },
	};
	const size_t ncols = sizeof(cols) / sizeof(cols[0]);
	const char *name;
	json_t *relays, *r;
	struct cli_table t;
	size_t i;
	int ret;

	(void)argc;
	(void)argv;
	ret = cli_tel_query_dict(&ctx->tel, CLI_CMD_RELAYS, &relays);
	if (ret < 0)
		return ret;
	if (ctx->json) {
		cli_print_json(relays, JSON_INDENT(2));
		json_decref(relays);
		return 0;
	}
	/* QUEUES and MTU right-aligned: they are the numbers. */
	cli_table_init(&t, ncols + 1, (UINT64_C(1) << 5) | (UINT64_C(1) << 6));
	cli_table_pushs(&t, "NAME");
	for (i = 0; i < ncols; i++)
		cli_table_pushs(&t, cols[i][0]);
	json_object_foreach(relays, name, r) {
		cli_table_pushs(&t, name);
		for (i = 0; i < ncols; i++)
			cli_table_push(&t, cli_fmt_value(json_object_get(r, cols[i][1])));
	}
	cli_table_print(&t, cli_output_width());
	cli_table_free(&t);
	json_decref(relays);
	return 0;
}
