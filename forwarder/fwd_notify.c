/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The service manager's readiness protocol (sd_notify(3)), spoken directly: a
 * datagram to the unix socket named by $NOTIFY_SOCKET. systemd's Type=notify
 * uses it, and so does vfrelay-hook when it starts an instance itself. Without
 * the variable nothing is sent.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fwd_priv.h"

void
fwd_notify(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t salen;
	char msg[512];
	va_list ap;
	size_t len;
	int fd;

	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path))
		return;
	/* "@name" is an abstract socket: a leading NUL, no terminating one. */
	len = strlen(path);
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
			    (path[0] == '@' ? 0 : 1));

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		VFR_LOG(WARNING, "cannot notify the service manager at %s: %s", path,
			strerror(errno));
	close(fd);
}
