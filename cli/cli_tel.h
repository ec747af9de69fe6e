/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * A DPDK telemetry v2 client (lib/telemetry/telemetry.c of DPDK 22.11): one SOCK_SEQPACKET
 * connection, one JSON hello from the server, then exactly one JSON reply per command. It
 * links no DPDK, so vfrelayctl starts in milliseconds and cannot disturb the daemon's EAL.
 */

#ifndef VFRELAY_CLI_TEL_H
#define VFRELAY_CLI_TEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

#include <jansson.h>

#define CLI_TEL_SOCKET_NAME "dpdk_telemetry.v2"
#define CLI_TEL_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
/* A daemon whose telemetry thread is stuck must not hang a script forever. */
#define CLI_TEL_TIMEOUT_S 5

struct cli_tel {
	char name[CLI_TEL_PATH_MAX]; /* instance name, for messages */
	char path[CLI_TEL_PATH_MAX];
	/* Leave messages in err[] for the caller instead of printing them (scanning). */
	bool quiet;
	int fd;
	json_t *hello; /* {"version", "pid", "max_output_len"} */
	char *buf;     /* receive buffer, buf_len + 1 bytes (room for a NUL) */
	size_t buf_len;
	char err[CLI_TEL_PATH_MAX * 3]; /* last error, one line without the program name */
};

/*
 * Set from a signal handler to cut a blocked receive short: the pending call returns
 * -EINTR. Lock-free atomics are the C11 way to share state with a handler (C11 7.14.1.1).
 */
extern atomic_bool cli_tel_interrupted;

/*
 * Connect to the telemetry socket @p path of instance @p name and read the hello.
 * -ENOENT or -ECONNREFUSED: nobody listens there (no socket, or a dead daemon's stale one).
 */
int cli_tel_connect(struct cli_tel *t, const char *name, const char *path, bool quiet);

/*
 * Send @p cmd ("/path" or "/path,param") and return the reply's data in *out (a new
 * reference; JSON null when the server does not know the command or refused the parameter).
 * -EPIPE: the instance went away.
 */
int cli_tel_query(struct cli_tel *t, const char *cmd, json_t **out);

/* Like cli_tel_query(), but anything except a dict means the daemon lacks the command. */
int cli_tel_query_dict(struct cli_tel *t, const char *cmd, json_t **out);

/* The server's pid from the hello, or -1. */
long cli_tel_pid(const struct cli_tel *t);

void cli_tel_close(struct cli_tel *t);

#endif /* VFRELAY_CLI_TEL_H */
