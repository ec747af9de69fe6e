/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Paths, messages, hook.log and file helpers shared by the hook and reconcile. */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lv_priv.h"

/* Set by meson from its options; see libvirt/meson.build. */
#ifndef LV_DEFAULT_HOST_CONF
#define LV_DEFAULT_HOST_CONF "/etc/vfrelay/host.conf"
#endif
#ifndef LV_DEFAULT_RUN_DIR
#define LV_DEFAULT_RUN_DIR "/run/vfrelay"
#endif
#ifndef LV_DEFAULT_LOG_DIR
#define LV_DEFAULT_LOG_DIR "/var/log/vfrelay"
#endif
#ifndef LV_DEFAULT_VFRELAY
#define LV_DEFAULT_VFRELAY "/usr/bin/vfrelay"
#endif

const char *lv_prog = "vfrelay-hook";

static void
path_from(char *dst, size_t len, const char *env, const char *dflt)
{
	const char *v = getenv(env);

	snprintf(dst, len, "%s", v != NULL && v[0] != '\0' ? v : dflt);
	/* "/run/vfrelay/" and "/run/vfrelay" are one directory. */
	for (size_t n = strlen(dst); n > 1 && dst[n - 1] == '/'; n--)
		dst[n - 1] = '\0';
}

void
lv_paths_init(struct lv_paths *p)
{
	path_from(p->host_conf, sizeof(p->host_conf), "VFRELAY_HOST_CONF", LV_DEFAULT_HOST_CONF);
	path_from(p->run_dir, sizeof(p->run_dir), "VFRELAY_RUN_DIR", LV_DEFAULT_RUN_DIR);
	path_from(p->log_dir, sizeof(p->log_dir), "VFRELAY_LOG_DIR", LV_DEFAULT_LOG_DIR);
	path_from(p->vfrelay, sizeof(p->vfrelay), "VFRELAY_BIN", LV_DEFAULT_VFRELAY);
	path_from(p->sysfs, sizeof(p->sysfs), "VFRELAY_SYSFS", "/sys");
}

int
lv_path_instance(const struct lv_paths *p, const char *instance, const char *suffix, char *buf,
		 size_t len)
{
	int n = snprintf(buf, len, "%s/%s%s", p->run_dir, instance, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void
lv_one_line(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			*s = '?';
	}
}

int
lv_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		lv_one_line(err);
	}
	return rc;
}

void
lv_log(const struct lv_paths *p, const char *fmt, ...)
{
	char path[PATH_MAX + 16];
	char stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/hook.log", p->log_dir) >= (int)sizeof(path))
		return;
	if (lv_mkdirs(p->log_dir, 0750) < 0)
		return;
	f = fopen(path, "ae");
	if (f == NULL)
		return;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S%z", &tm);
	fprintf(f, "%s %s[%ld]: ", stamp, lv_prog, (long)getpid());
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

int
lv_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (c == '\0')
			break;
	}
	return 0;
}

int
lv_write_atomic(const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text);
	size_t off = 0;
	int fd;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return lv_err(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return lv_err(err, errlen, -errno, "%s: cannot create: %s", tmp, strerror(errno));
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			close(fd);
			unlink(tmp);
			return lv_err(err, errlen, rc, "%s: cannot write: %s", tmp, strerror(-rc));
		}
		off += (size_t)w;
	}
	/* The file must be whole before its name says it exists (a power cut, a crash). */
	if (fsync(fd) != 0 || close(fd) != 0) {
		rc = -errno;
		unlink(tmp);
		return lv_err(err, errlen, rc, "%s: cannot write: %s", tmp, strerror(-rc));
	}
	if (rename(tmp, path) != 0) {
		rc = -errno;
		unlink(tmp);
		return lv_err(err, errlen, rc, "%s: cannot rename into place: %s", path,
			      strerror(-rc));
	}
	return 0;
}
