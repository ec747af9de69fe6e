/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Telemetry v2 client: see cli_tel.h. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_tel.h"

/* DPDK 22.11 replies are at most 16 KiB; later releases grow, and the hello says by how much. */
#define CLI_TEL_RECV_MIN (64 * 1024)
/* The server reads each command into a 1024-byte buffer, NUL included. */
#define CLI_TEL_CMD_MAX 1023

atomic_bool cli_tel_interrupted;

static void __attribute__((format(printf, 2, 3)))
cli_tel_error(struct cli_tel *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	if (!t->quiet)
		fprintf(stderr, CLI_PROG ": %s\n", t->err);
}

static int
cli_tel_gone(struct cli_tel *t)
{
	cli_tel_error(t, "instance '%s' went away (telemetry connection to %s closed)", t->name,
		      t->path);
	return -EPIPE;
}

static void
cli_tel_alloc(struct cli_tel *t, size_t len)
{
	free(t->buf);
	t->buf_len = len;
	t->buf = malloc(len + 1);
	if (t->buf == NULL)
		cli_oom();
}

/*
 * Receive one message into t->buf and parse it. SEQPACKET keeps message boundaries, so one
 * recv() is one reply; MSG_TRUNC makes the kernel report the real length of a longer one.
 */
static int
cli_tel_recv(struct cli_tel *t, const char *what, json_t **out)
{
	json_error_t err;
	ssize_t n;

	do {
		n = recv(t->fd, t->buf, t->buf_len, MSG_TRUNC);
	} while (n < 0 && errno == EINTR && !atomic_load(&cli_tel_interrupted));
	if (n < 0 && errno == EINTR)
		return -EINTR;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		cli_tel_error(t, "instance '%s' did not answer '%s' within %d s on %s", t->name,
			      what, CLI_TEL_TIMEOUT_S, t->path);
		return -ETIMEDOUT;
	}
	/* EOF or reset: the server closed; callers say what that means where they are. */
	if (n <= 0)
		return -EPIPE;
	if ((size_t)n > t->buf_len) {
		cli_tel_error(t, "reply of instance '%s' to '%s' is %zd bytes, over %zu", t->name,
			      what, n, t->buf_len);
		return -EMSGSIZE;
	}
	t->buf[n] = '\0';
	*out = json_loadb(t->buf, (size_t)n, 0, &err);
	if (*out == NULL) {
		cli_tel_error(t, "malformed reply of instance '%s' to '%s': %s", t->name, what,
			      err.text);
		return -EPROTO;
	}
	return 0;
}

int
cli_tel_connect(struct cli_tel *t, const char *name, const char *path, bool quiet)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CLI_TEL_TIMEOUT_S };
	json_t *max;
	int ret;

	*t = (struct cli_tel){ .fd = -1, .quiet = quiet };
	snprintf(t->name, sizeof(t->name), "%s", name);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		cli_tel_error(t, "socket path '%s' is longer than %zu bytes", path,
			      sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(t->path, path, strlen(path) + 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	t->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (t->fd < 0) {
		ret = -errno;
		cli_tel_error(t, "socket: %s", strerror(-ret));
		return ret;
	}
	if (connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		/* A dead daemon's stale socket file refuses: the same thing to an operator. */
		if (ret == -ENOENT || ret == -ECONNREFUSED || ret == -ENOTDIR) {
			cli_tel_error(t, "instance '%s' is not running (no telemetry socket at %s)",
				      t->name, t->path);
			return ret == -ENOTDIR ? -ENOENT : ret;
		}
		cli_tel_error(t, "cannot connect to %s: %s", t->path, strerror(-ret));
		return ret;
	}
	setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	cli_tel_alloc(t, CLI_TEL_RECV_MIN);
	ret = cli_tel_recv(t, "hello", &t->hello);
	if (ret == -EPIPE)
		/* The server accepts and at once closes a connection beyond its client limit. */
		cli_tel_error(t,
			      "instance '%s' closed the telemetry connection at once (DPDK serves "
			      "at most 10 clients at a time; too many open?)",
			      t->name);
	if (ret < 0)
		return ret;
	max = json_object_get(t->hello, "max_output_len");
	if (json_is_integer(max) && json_integer_value(max) > (json_int_t)t->buf_len)
		cli_tel_alloc(t, (size_t)json_integer_value(max));
	return 0;
}

int
cli_tel_query(struct cli_tel *t, const char *cmd, json_t **out)
{
	size_t len = strlen(cmd);
	size_t key_len = strcspn(cmd, ",");
	const char *key;
	json_t *reply, *data;
	ssize_t n;
	int ret;

	if (len > CLI_TEL_CMD_MAX) {
		cli_tel_error(t, "command '%.40s...' exceeds the %d bytes DPDK reads", cmd,
			      CLI_TEL_CMD_MAX);
		return -E2BIG;
	}
	/* MSG_NOSIGNAL: a daemon that exits must give a message, not kill us with SIGPIPE. */
	n = send(t->fd, cmd, len, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EINTR)
			return -EINTR;
		return cli_tel_gone(t);
	}
	ret = cli_tel_recv(t, cmd, &reply);
	if (ret == -EPIPE)
		return cli_tel_gone(t);
	if (ret < 0)
		return ret;

	/* The reply is {"<command without params>": data}. */
	data = NULL;
	json_object_foreach(reply, key, data) {
		if (strlen(key) == key_len && strncmp(key, cmd, key_len) == 0)
			break;
	}
	if (!json_is_object(reply) || data == NULL) {
		cli_tel_error(t, "reply of instance '%s' to '%s' does not carry '%.*s'", t->name,
			      cmd, (int)key_len, cmd);
		json_decref(reply);
		return -EPROTO;
	}
	*out = json_incref(data);
	json_decref(reply);
	return 0;
}

int
cli_tel_query_dict(struct cli_tel *t, const char *cmd, json_t **out)
{
	int ret = cli_tel_query(t, cmd, out);

	if (ret < 0)
		return ret;
	if (!json_is_object(*out)) {
		cli_tel_error(t,
			      "instance '%s' does not serve %s (not a vfrelay daemon, or an "
			      "incompatible version)",
			      t->name, cmd);
		json_decref(*out);
		*out = NULL;
		return -EPROTO;
	}
	return 0;
}

long
cli_tel_pid(const struct cli_tel *t)
{
	const json_t *pid = json_object_get(t->hello, "pid");

	return json_is_integer(pid) ? (long)json_integer_value(pid) : -1;
}

void
cli_tel_close(struct cli_tel *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	free(t->buf);
	t->buf = NULL;
	json_decref(t->hello);
	t->hello = NULL;
}
