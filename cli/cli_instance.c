/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Where instances live: the socket of one (-n NAME) and every one on the host (list,
 * metrics --all). An instance is a DPDK process with its own --file-prefix, so its EAL made
 * <runtime dir>/dpdk/<prefix>/ and its telemetry thread listens on dpdk_telemetry.v2 in it.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static int
cli_instance_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cli_instance *)a)->name,
		      ((const struct cli_instance *)b)->name);
}

int
cli_instances_scan(struct cli_instance **out, size_t *n)
{
	char dir[CLI_TEL_PATH_MAX];
	struct cli_instance *v = NULL, *in;
	size_t cap = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int ret;

	*out = NULL;
	*n = 0;
	ret = snprintf(dir, sizeof(dir), "%s/dpdk", cli_runtime_dir());
	if (ret < 0 || (size_t)ret >= sizeof(dir)) {
		fprintf(stderr, CLI_PROG ": runtime directory '%s/dpdk' is too long\n",
			cli_runtime_dir());
		return -ENAMETOOLONG;
	}
	d = opendir(dir);
	if (d == NULL) {
		/* No DPDK process ever ran here as this user: no instances, not an error. */
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		fprintf(stderr, CLI_PROG ": cannot read %s: %s\n", dir, strerror(-ret));
		return ret;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = realloc(v, cap * sizeof(*v));
			if (v == NULL)
				cli_oom();
		}
		in = &v[*n];
		/* A name too long for a socket path has no socket we could reach. */
		ret = snprintf(in->name, sizeof(in->name), "%s", de->d_name);
		if (ret < 0 || (size_t)ret >= sizeof(in->name))
			continue;
		ret = snprintf(in->path, sizeof(in->path), "%s/%s/" CLI_TEL_SOCKET_NAME, dir,
			       de->d_name);
		/*
		 * Only the unsuffixed socket: DPDK names a second one dpdk_telemetry.v2:1 when a
		 * secondary process of the same prefix (dpdk-proc-info) runs, and that is no
		 * daemon. A prefix directory without a socket is a process without telemetry, or
		 * one that is gone.
		 */
		if (ret < 0 || (size_t)ret >= sizeof(in->path) || stat(in->path, &st) < 0 ||
		    !S_ISSOCK(st.st_mode))
			continue;
		(*n)++;
	}
	closedir(d);
	if (v != NULL)
		qsort(v, *n, sizeof(*v), cli_instance_cmp);
	*out = v;
	return 0;
}

int
cli_instance_probe(struct cli_tel *t, const struct cli_instance *in, json_t **relays)
{
	int ret = cli_tel_connect(t, in->name, in->path, true);

	*relays = NULL;
	/* A socket file whose process died: nobody listens. */
	if (ret == -ENOENT || ret == -ECONNREFUSED)
		goto skip;
	if (ret < 0)
		goto err;
	ret = cli_tel_query(t, CLI_CMD_RELAYS, relays);
	/* Exited between the hello and the query: it is not running any more. */
	if (ret == -EPIPE)
		goto skip;
	if (ret < 0)
		goto err;
	/* Another DPDK program (testpmd, an OVS) answers null: not ours to show. */
	if (!json_is_object(*relays)) {
		json_decref(*relays);
		*relays = NULL;
		goto skip;
	}
	return 0;
skip:
	cli_tel_close(t);
	return -ENOENT;
err:
	fprintf(stderr, CLI_PROG ": %s\n", t->err);
	cli_tel_close(t);
	return ret;
}
