/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfrelayctl log-level [PATTERN LEVEL]: show every logtype's level, or set the level of the
 * logtypes matching a glob, at runtime (/vfrelay/log_level and /vfrelay/log_level,PAT,LEVEL).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_table.h"

/* rte_log's level names, most severe first (RTE_LOG_EMERG = 1 ... RTE_LOG_DEBUG = 8). */
static const char *const cli_log_levels[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

void
cli_log_level_check(const struct cli_ctx *ctx, int argc, char **argv)
{
	size_t i;

	(void)ctx;
	if (argc == 0)
		return;
	if (argc != 2)
		cli_usage_error("log-level wants PATTERN and LEVEL, or nothing to show the levels");
	/* The daemon splits its parameters at ','. */
	if (argv[0][0] == '\0' || strchr(argv[0], ',') != NULL)
		cli_usage_error("'%s' is not a logtype pattern", argv[0]);
	for (i = 0; i < sizeof(cli_log_levels) / sizeof(cli_log_levels[0]); i++)
		if (strcmp(argv[1], cli_log_levels[i]) == 0)
			return;
	cli_usage_error("log LEVEL is emerg, alert, crit, err, warning, notice, info or debug, "
			"not '%s'",
			argv[1]);
}

/*
 * DPDK 22.11 refuses a dict key with a '.' (telemetry_data.c valid_name() allows only
 * A-Za-z0-9_/), so the daemon sends lib.eal as lib/eal. Logtype names have no '/'.
 */
static json_t *
cli_log_level_names(const json_t *wire)
{
	json_t *out = cli_json_object(), *v;
	const char *key;

	json_object_foreach((json_t *)wire, key, v) {
		char *name = cli_xstrdup(key);

		for (char *p = name; *p != '\0'; p++)
			if (*p == '/')
				*p = '.';
		json_object_set(out, name, v);
		free(name);
	}
	return out;
}

static int
cli_log_level_show(struct cli_ctx *ctx)
{
	const char *key;
	struct cli_table t;
	json_t *wire, *levels, *v;
	int ret;

	ret = cli_tel_query_dict(&ctx->tel, CLI_CMD_LOG_LEVEL, &wire);
	if (ret < 0)
		return ret;
	levels = cli_log_level_names(wire);
	json_decref(wire);
	if (ctx->json) {
		cli_print_json(levels, JSON_INDENT(2));
		json_decref(levels);
		return 0;
	}
	cli_table_init(&t, 2, 0);
	cli_table_pushs(&t, "LOGTYPE");
	cli_table_pushs(&t, "LEVEL");
	json_object_foreach(levels, key, v) {
		cli_table_pushs(&t, key);
		cli_table_push(&t, cli_fmt_value(v));
	}
	cli_table_print(&t, 0);
	cli_table_free(&t);
	json_decref(levels);
	return 0;
}

/* Whether the daemon lists @p cmd among its commands ("/" answers with all of them). */
static bool
cli_log_level_served(struct cli_tel *tel, const char *cmd)
{
	json_t *list, *v;
	size_t i;
	bool found = false;

	if (cli_tel_query(tel, "/", &list) < 0)
		return true; /* cannot tell: do not claim it is missing */
	json_array_foreach(list, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), cmd) == 0)
			found = true;
	}
	json_decref(list);
	return found;
}

int
cli_log_level_run(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *pattern, *level;
	json_t *reply;
	char *cmd;
	int ret;

	if (argc == 0)
		return cli_log_level_show(ctx);
	pattern = argv[0];
	level = argv[1];
	cmd = cli_xasprintf(CLI_CMD_LOG_LEVEL ",%s,%s", pattern, level);
	ret = cli_tel_query(&ctx->tel, cmd, &reply);
	free(cmd);
	if (ret < 0)
		return ret;
	if (!json_is_object(reply)) {
		json_decref(reply);
		/* Null means "refused" and "unknown command" alike: tell the operator which. */
		if (!cli_log_level_served(&ctx->tel, CLI_CMD_LOG_LEVEL))
			fprintf(stderr,
				CLI_PROG ": instance '%s' does not serve " CLI_CMD_LOG_LEVEL
					 " (a vfrelay daemon older than this vfrelayctl?)\n",
				ctx->tel.name);
		else
			fprintf(stderr,
				CLI_PROG ": instance '%s' refused log level '%s' for '%s'\n",
				ctx->tel.name, level, pattern);
		return -EINVAL;
	}
	if (ctx->json) {
		cli_print_json(reply, JSON_INDENT(2));
	} else {
		/* What the daemon says it applied, which is what the operator asked for. */
		const char *p = json_string_value(json_object_get(reply, "pattern"));
		const char *l = json_string_value(json_object_get(reply, "level"));

		printf("%s: log level = %s\n", p != NULL ? p : pattern, l != NULL ? l : level);
	}
	json_decref(reply);
	return 0;
}
