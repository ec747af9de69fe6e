/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfrelayctl: the operator's view of the vfrelay instances on a host, read over their DPDK
 * telemetry sockets (see cli_tel.h for why it speaks the protocol itself). This file parses
 * the command line and dispatches through the command table; each command is cli_<name>.c.
 */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CLI_TOP_INTERVAL_MAX 3600.0

/* The order here is the order of --help. */
static const struct cli_command cli_commands[] = {
	{
		.name = "relays",
		.help = "one line per relay: state, VF, vhost socket, queues, MTU",
		.flags = CLI_CMD_CONNECT,
		.run = cli_relays_run,
	},
	{
		.name = "stats",
		.args = "[RELAY]",
		.help = "per-queue counters of RELAY, or of every relay",
		.max_args = 1,
		.flags = CLI_CMD_CONNECT,
		.check = cli_stats_check,
		.run = cli_stats_run,
	},
	{
		.name = "lcores",
		.help = "per-worker cycles since start: busy %, cycles per packet",
		.flags = CLI_CMD_CONNECT,
		.run = cli_lcores_run,
	},
	{
		.name = "top",
		.args = "[-i SEC] [-c N]",
		.help = "per-queue packet and bit rates, refreshed every SEC",
		.opts = CLI_OPT_INTERVAL | CLI_OPT_COUNT,
		.flags = CLI_CMD_CONNECT,
		.run = cli_top_run,
	},
	{
		.name = "zero-copy",
		.args = "RELAY MODE",
		.help = "set RELAY's zero copy to auto, on or off at runtime",
		.min_args = 2,
		.max_args = 2,
		.flags = CLI_CMD_CONNECT,
		.check = cli_zero_copy_check,
		.run = cli_zero_copy_run,
	},
	{
		.name = "log-level",
		.args = "[PATTERN LEVEL]",
		.help = "show log levels, or set them by logtype PATTERN",
		.max_args = 2,
		.flags = CLI_CMD_CONNECT,
		.check = cli_log_level_check,
		.run = cli_log_level_run,
	},
	{
		.name = "metrics",
		.args = "[--all] [--format F]",
		.help = "counters as OpenMetrics text (one instance, or --all)",
		.opts = CLI_OPT_ALL | CLI_OPT_FORMAT,
		.check = cli_metrics_check,
		.run = cli_metrics_run,
	},
	{
		.name = "list",
		.help = "find the vfrelay instances running on this host",
		.check = cli_list_check,
		.run = cli_list_run,
	},
};

#define CLI_N_COMMANDS (sizeof(cli_commands) / sizeof(cli_commands[0]))

/* Option names for "only applies to" messages, by enum cli_opt bit. */
static const struct {
	unsigned int opt;
	const char *name;
} cli_opt_names[] = {
	{ CLI_OPT_INTERVAL, "--interval" },
	{ CLI_OPT_COUNT, "--count" },
	{ CLI_OPT_ALL, "--all" },
	{ CLI_OPT_FORMAT, "--format" },
};

/* "relays, stats, ... or list", for messages. */
static const char *
cli_command_names(void)
{
	static char buf[256];
	size_t len = 0;

	if (buf[0] != '\0')
		return buf;
	for (size_t i = 0; i < CLI_N_COMMANDS; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
					i == 0		       ? ""
					: i + 1 == CLI_N_COMMANDS ? " or "
								  : ", ",
					cli_commands[i].name);
	return buf;
}

static void
cli_usage(void)
{
	printf("Usage: " CLI_PROG " [-n NAME | -s SOCKET] [--json] COMMAND [ARGS]\n"
	       "\n"
	       "Show and change the state of running vfrelay instances, over their DPDK\n"
	       "telemetry sockets.\n"
	       "\n"
	       "Commands:\n");
	for (size_t i = 0; i < CLI_N_COMMANDS; i++) {
		const struct cli_command *c = &cli_commands[i];
		char head[64];

		snprintf(head, sizeof(head), "%s%s%s", c->name, c->args != NULL ? " " : "",
			 c->args != NULL ? c->args : "");
		/* A synopsis too long for the column gets the help on the next line. */
		if (strlen(head) > 20)
			printf("  %s\n  %-20s %s\n", head, "", c->help);
		else
			printf("  %-20s %s\n", head, c->help);
	}
	fputs("\n"
	      "Options:\n"
	      "  -n, --name NAME      instance name: [vfrelay] name in the config, the DPDK\n"
	      "                       --file-prefix; its socket is <runtime dir>/dpdk/NAME/\n"
	      "                       " CLI_TEL_SOCKET_NAME "\n"
	      "  -s, --socket PATH    telemetry socket path (instead of finding it from NAME)\n"
	      "  -j, --json           print the telemetry JSON (top: one object per refresh)\n"
	      "  -i, --interval SEC   top: seconds between refreshes, fractional ok (default 1)\n"
	      "  -c, --count N        top: stop after N refreshes (default: until Ctrl-C)\n"
	      "  -a, --all            metrics: every instance on this host\n"
	      "      --format F       metrics: openmetrics (default), or prometheus for\n"
	      "                       node_exporter's textfile collector\n"
	      "  -h, --help           print this help and exit\n"
	      "  -V, --version        print the version and exit\n"
	      "\n"
	      "Exit status: 0 success; 1 instance not running or gone, unknown relay, bad\n"
	      "reply; 2 bad usage. See vfrelayctl(8).\n",
	      stdout);
}

static const struct cli_command *
cli_command_find(const char *name)
{
	for (size_t i = 0; i < CLI_N_COMMANDS; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return &cli_commands[i];
	return NULL;
}

/* -n NAME or -s PATH into ctx->name and ctx->path; neither leaves ctx->name NULL. */
static void
cli_resolve_instance(struct cli_ctx *ctx, const char *socket_arg)
{
	if (socket_arg != NULL) {
		if (strlen(socket_arg) >= sizeof(ctx->path))
			cli_usage_error("socket path '%s' is longer than %zu bytes", socket_arg,
					sizeof(ctx->path) - 1);
		strcpy(ctx->path, socket_arg);
		if (ctx->name == NULL)
			cli_instance_name_from_path(ctx);
		return;
	}
	if (ctx->name == NULL)
		return;
	/* The name is a directory component; anything else would look elsewhere. */
	if (ctx->name[0] == '\0' || strchr(ctx->name, '/') != NULL ||
	    strcmp(ctx->name, ".") == 0 || strcmp(ctx->name, "..") == 0)
		cli_usage_error("'%s' is not an instance name", ctx->name);
	if (cli_instance_path(ctx->path, sizeof(ctx->path), ctx->name) < 0)
		cli_usage_error("socket path '%s/dpdk/%s/" CLI_TEL_SOCKET_NAME
				"' is longer than %zu bytes",
				cli_runtime_dir(), ctx->name, sizeof(ctx->path) - 1);
}

enum { CLI_LONGOPT_FORMAT = 256 };

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "all", no_argument, NULL, 'a' },
		{ "format", required_argument, NULL, CLI_LONGOPT_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_ctx ctx = { .interval = 1.0, .tel = { .fd = -1 } };
	const struct cli_command *cmd;
	const char *socket_arg = NULL;
	unsigned int given = 0;
	char *end;
	int opt, nargs, ret;

	/* Options may come before or after the command (GNU permutation): `stats net0 --json`. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:s:ji:c:ahV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			ctx.name = optarg;
			break;
		case 's':
			socket_arg = optarg;
			break;
		case 'j':
			ctx.json = true;
			break;
		case 'i':
			errno = 0;
			ctx.interval = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !isfinite(ctx.interval) || ctx.interval <= 0 ||
			    ctx.interval > CLI_TOP_INTERVAL_MAX)
				cli_usage_error("--interval wants seconds in (0, %g], not '%s'",
						CLI_TOP_INTERVAL_MAX, optarg);
			given |= CLI_OPT_INTERVAL;
			break;
		case 'c':
			errno = 0;
			ctx.count = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' ||
			    ctx.count == 0)
				cli_usage_error("--count wants a positive integer, not '%s'",
						optarg);
			given |= CLI_OPT_COUNT;
			break;
		case 'a':
			ctx.all = true;
			given |= CLI_OPT_ALL;
			break;
		case CLI_LONGOPT_FORMAT:
			if (strcmp(optarg, "openmetrics") == 0)
				ctx.format = CLI_METRICS_OPENMETRICS;
			else if (strcmp(optarg, "prometheus") == 0)
				ctx.format = CLI_METRICS_PROMETHEUS;
			else
				cli_usage_error("--format is openmetrics or prometheus, not '%s'",
						optarg);
			given |= CLI_OPT_FORMAT;
			break;
		case 'h':
			cli_usage();
			return 0;
		case 'V':
			puts(CLI_PROG " " VFRELAY_VERSION);
			return 0;
		case ':':
			cli_usage_error("option '%s' needs an argument", argv[optind - 1]);
			break;
		default:
			if (optopt != 0)
				cli_usage_error("unknown option '-%c'", optopt);
			cli_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}

	if (optind >= argc)
		cli_usage_error("missing command (%s)", cli_command_names());
	cmd = cli_command_find(argv[optind]);
	if (cmd == NULL)
		cli_usage_error("unknown command '%s' (%s)", argv[optind], cli_command_names());
	optind++;
	nargs = argc - optind;
	if (nargs > (int)cmd->max_args)
		cli_usage_error("unexpected argument '%s' after '%s'",
				argv[optind + cmd->max_args], cmd->name);
	if (nargs < (int)cmd->min_args)
		cli_usage_error("%s wants %s", cmd->name, cmd->args);
	for (size_t i = 0; i < sizeof(cli_opt_names) / sizeof(cli_opt_names[0]); i++)
		if ((given & cli_opt_names[i].opt) && !(cmd->opts & cli_opt_names[i].opt))
			cli_usage_error("%s does not apply to '%s'", cli_opt_names[i].name,
					cmd->name);
	cli_resolve_instance(&ctx, socket_arg);
	if ((cmd->flags & CLI_CMD_CONNECT) && ctx.name == NULL)
		cli_usage_error("which instance? give -n NAME (or -s SOCKET)");
	if (cmd->check != NULL)
		cmd->check(&ctx, nargs, argv + optind);

	ret = 0;
	if (cmd->flags & CLI_CMD_CONNECT)
		ret = cli_tel_connect(&ctx.tel, ctx.name, ctx.path, false);
	if (ret == 0)
		ret = cmd->run(&ctx, nargs, argv + optind);
	cli_tel_close(&ctx.tel);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, CLI_PROG ": writing output: %s\n", strerror(errno));
		return CLI_EXIT_RUNTIME;
	}
	return ret < 0 ? CLI_EXIT_RUNTIME : 0;
}
