/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfrelayctl internals shared by its commands: the parsed command line, the command table
 * entry, and the output helpers every command uses. Nothing here is a library contract: the
 * CLI is one program, and main (cli_main.c) is the only caller of the command handlers.
 */

#ifndef VFRELAY_CLI_H
#define VFRELAY_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli_tel.h"

#define CLI_PROG "vfrelayctl"

#define CLI_EXIT_RUNTIME 1 /* instance missing or gone, unknown relay, bad reply */
#define CLI_EXIT_USAGE 2

/* Options beyond the common ones (-n, -s, --json); a command lists those it accepts. */
enum cli_opt {
	CLI_OPT_INTERVAL = 1u << 0, /* top */
	CLI_OPT_COUNT = 1u << 1,    /* top */
	CLI_OPT_ALL = 1u << 2,      /* metrics */
	CLI_OPT_FORMAT = 1u << 3,   /* metrics */
};

enum cli_metrics_format {
	CLI_METRICS_OPENMETRICS, /* application/openmetrics-text 1.0.0 */
	CLI_METRICS_PROMETHEUS,  /* text/plain 0.0.4, what node_exporter's textfile reads */
};

/* The command line, filled by main before a command runs. */
struct cli_ctx {
	/* Instance chosen with -n or -s; name is NULL when neither was given. */
	const char *name;
	char path[CLI_TEL_PATH_MAX];
	char name_buf[CLI_TEL_PATH_MAX]; /* name taken from -s */
	bool json;
	double interval;     /* top */
	unsigned long count; /* top; 0 = until interrupted */
	bool all;            /* metrics: every instance on the host */
	enum cli_metrics_format format;
	/* Connection to the chosen instance, opened by main for CLI_CMD_CONNECT commands. */
	struct cli_tel tel;
};

enum cli_cmd_flag {
	CLI_CMD_CONNECT = 1u << 0, /* needs -n/-s; main connects before run() */
};

/*
 * One command. The table of these in cli_main.c drives dispatch, the usage text and the
 * error messages, so a new command is one entry plus its file.
 */
struct cli_command {
	const char *name;
	const char *args; /* synopsis of the positional arguments, "" for none */
	const char *help; /* one line for --help */
	unsigned int min_args, max_args;
	unsigned int opts;  /* enum cli_opt the command accepts */
	unsigned int flags; /* enum cli_cmd_flag */
	/* Rejects bad arguments with cli_usage_error() before anything connects; may be NULL. */
	void (*check)(const struct cli_ctx *ctx, int argc, char **argv);
	/* 0 or -errno; the error is already on stderr. */
	int (*run)(struct cli_ctx *ctx, int argc, char **argv);
};

/* Handlers, one file each (cli_<command>.c). */
int cli_relays_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_stats_check(const struct cli_ctx *ctx, int argc, char **argv);
int cli_stats_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_lcores_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_top_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_zero_copy_check(const struct cli_ctx *ctx, int argc, char **argv);
int cli_zero_copy_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_log_level_check(const struct cli_ctx *ctx, int argc, char **argv);
int cli_log_level_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_metrics_check(const struct cli_ctx *ctx, int argc, char **argv);
int cli_metrics_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_list_check(const struct cli_ctx *ctx, int argc, char **argv);
int cli_list_run(struct cli_ctx *ctx, int argc, char **argv);

/* Telemetry commands the daemon serves (contract: docs/vfrelayctl.md). */
#define CLI_CMD_RELAYS "/vfrelay/relays"
#define CLI_CMD_STATS "/vfrelay/stats"
#define CLI_CMD_LCORES "/vfrelay/lcores"
#define CLI_CMD_ZERO_COPY "/vfrelay/zero_copy"
#define CLI_CMD_LOG_LEVEL "/vfrelay/log_level"

/* Errors and memory (cli_util.c). Out of memory ends the program: there is no retry. */
void cli_usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void cli_oom(void) __attribute__((noreturn));
char *cli_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cli_xstrdup(const char *s);
json_t *cli_json_object(void);
double cli_now_mono(void);

/* Output (cli_util.c). */
void cli_print_json(const json_t *v, size_t flags);
char *cli_fmt_value(const json_t *v);
bool cli_get_u64(const json_t *obj, const char *key, uint64_t *out);
bool cli_relay_name_ok(const char *s);

/* /vfrelay/stats,RELAY: the relay's counters, or JSON null when it has no such relay. */
int cli_query_stats(struct cli_tel *t, const char *relay, json_t **out);

/*
 * Finding instances (cli_instance.c). The runtime directory follows DPDK's
 * eal_create_runtime_dir(): $RUNTIME_DIRECTORY, /var/run for root, else $XDG_RUNTIME_DIR
 * or /tmp; each instance is <dir>/dpdk/<name>/dpdk_telemetry.v2.
 */
const char *cli_runtime_dir(void);
int cli_instance_path(char *buf, size_t len, const char *name);
void cli_instance_name_from_path(struct cli_ctx *ctx);

struct cli_instance {
	char name[CLI_TEL_PATH_MAX];
	char path[CLI_TEL_PATH_MAX];
};

/* Every telemetry socket under <runtime dir>/dpdk, sorted by name; *out is freed by free(). */
int cli_instances_scan(struct cli_instance **out, size_t *n);

/*
 * Connect to @p in and ask for its relays. -ENOENT, quietly, when it is no vfrelay instance
 * (stale socket, another DPDK program, or it exited meanwhile); other errors are printed.
 * On success the connection stays open in @p t and *relays holds the reply.
 */
int cli_instance_probe(struct cli_tel *t, const struct cli_instance *in, json_t **relays);

#endif /* VFRELAY_CLI_H */
