/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfrelayctl list: the vfrelay instances running on this host. Every DPDK runtime directory
 * with a telemetry socket is asked for /vfrelay/relays; stale sockets and other DPDK
 * programs are left out without a word.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_table.h"

void
cli_list_check(const struct cli_ctx *ctx, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (ctx->name != NULL)
		cli_usage_error("list finds every instance; -n and -s do not apply");
}

/* "net0=running,net1=waiting", or "-" without relays. */
static char *
cli_list_states(const json_t *relays)
{
	char *out = NULL, *prev;
	const char *name;
	json_t *r;

	json_object_foreach((json_t *)relays, name, r) {
		char *state = cli_fmt_value(json_object_get(r, "state"));

		prev = out;
		out = prev == NULL ? cli_xasprintf("%s=%s", name, state)
				   : cli_xasprintf("%s,%s=%s", prev, name, state);
		free(prev);
		free(state);
	}
	return out != NULL ? out : cli_xstrdup("-");
}

int
cli_list_run(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *all = cli_json_object(), *relays;
	struct cli_instance *in;
	struct cli_table t;
	struct cli_tel tel;
	const char *name;
	size_t n;
	int ret, err = 0;
	json_t *o;

	(void)argc;
	(void)argv;
	ret = cli_instances_scan(&in, &n);
	if (ret < 0) {
		json_decref(all);
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		ret = cli_instance_probe(&tel, &in[i], &relays);
		if (ret == -ENOENT)
			continue;
		/* Said on stderr; the others are still listed, and the exit status tells. */
		if (ret < 0) {
			err = ret;
			continue;
		}
		o = json_pack("{s:I,s:s,s:O,s:o}", "pid", (json_int_t)cli_tel_pid(&tel), "socket",
			      in[i].path, "version",
			      json_object_get(tel.hello, "version") ?: json_null(), "relays",
			      relays);
		if (o == NULL)
			cli_oom();
		json_object_set_new(all, in[i].name, o);
		cli_tel_close(&tel);
	}
	free(in);

	if (ctx->json) {
		cli_print_json(all, JSON_INDENT(2));
	} else {
		cli_table_init(&t, 4, (UINT64_C(1) << 1) | (UINT64_C(1) << 2));
		cli_table_pushs(&t, "NAME");
		cli_table_pushs(&t, "PID");
		cli_table_pushs(&t, "RELAYS");
		cli_table_pushs(&t, "STATES");
		json_object_foreach(all, name, o) {
			relays = json_object_get(o, "relays");
			cli_table_pushs(&t, name);
			cli_table_push(&t, cli_fmt_value(json_object_get(o, "pid")));
			cli_table_pushf(&t, "%zu", json_object_size(relays));
			cli_table_push(&t, cli_list_states(relays));
		}
		cli_table_print(&t, 0);
		cli_table_free(&t);
	}
	json_decref(all);
	return err;
}
