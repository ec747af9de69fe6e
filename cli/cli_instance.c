/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Where an instance lives: a DPDK process with its own --file-prefix, so its EAL made
 * <runtime dir>/dpdk/<prefix>/ and its telemetry thread listens on dpdk_telemetry.v2 in it.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/*
 * Same rule as DPDK's eal_create_runtime_dir(), so `-n NAME` finds the socket of a daemon
 * started with --file-prefix=NAME by the same user (systemd's RuntimeDirectory= included).
 */
const char *
cli_runtime_dir(void)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");

	if (dir != NULL)
		return dir;
	if (getuid() == 0)
		return "/var/run";
	dir = getenv("XDG_RUNTIME_DIR");
	return dir != NULL ? dir : "/tmp";
}

int
cli_instance_path(char *buf, size_t len, const char *name)
{
	int ret = snprintf(buf, len, "%s/dpdk/%s/" CLI_TEL_SOCKET_NAME, cli_runtime_dir(), name);

	return ret < 0 || (size_t)ret >= len ? -ENAMETOOLONG : 0;
}

/*
 * With only -s, the instance is named after the socket's directory, which is the name by
 * construction (<runtime>/dpdk/<name>/dpdk_telemetry.v2), so messages read the same either way.
 */
void
cli_instance_name_from_path(struct cli_ctx *ctx)
{
	char *slash, *start;

	memcpy(ctx->name_buf, ctx->path, sizeof(ctx->name_buf));
	ctx->name = ctx->path;
	slash = strrchr(ctx->name_buf, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	start = strrchr(ctx->name_buf, '/');
	start = start != NULL ? start + 1 : ctx->name_buf;
	if (*start != '\0')
		ctx->name = start;
}
