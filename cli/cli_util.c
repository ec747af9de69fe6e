/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Errors, memory and output helpers every command uses. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(CLI_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" CLI_PROG " --help' for more information.\n", stderr);
	exit(CLI_EXIT_USAGE);
}

void
cli_oom(void)
{
	fputs(CLI_PROG ": out of memory\n", stderr);
	exit(CLI_EXIT_RUNTIME);
}

char *
cli_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int ret;

	va_start(ap, fmt);
	ret = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (ret < 0)
		cli_oom();
	return s;
}

char *
cli_xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		cli_oom();
	return d;
}

json_t *
cli_json_object(void)
{
	json_t *o = json_object();

	if (o == NULL)
		cli_oom();
	return o;
}

double
cli_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
cli_print_json(const json_t *v, size_t flags)
{
	char *s = json_dumps(v, flags | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	if (s == NULL)
		cli_oom();
	puts(s);
	free(s);
}

char *
cli_fmt_value(const json_t *v)
{
	char *s;

	if (v == NULL)
		return cli_xstrdup("-");
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		return cli_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return cli_xasprintf("%.6g", json_real_value(v));
	case JSON_STRING:
		return cli_xstrdup(json_string_value(v));
	case JSON_TRUE:
		return cli_xstrdup("true");
	case JSON_FALSE:
		return cli_xstrdup("false");
	case JSON_NULL:
		return cli_xstrdup("-");
	default:
		s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s == NULL)
			cli_oom();
		return s;
	}
}

bool
cli_get_u64(const json_t *obj, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* A relay name travels as a telemetry parameter, where ',' separates parameters. */
bool
cli_relay_name_ok(const char *s)
{
	return s[0] != '\0' && strchr(s, ',') == NULL;
}

int
cli_query_stats(struct cli_tel *t, const char *relay, json_t **out)
{
	char *cmd = cli_xasprintf(CLI_CMD_STATS ",%s", relay);
	int ret = cli_tel_query(t, cmd, out);

	free(cmd);
	return ret;
}
