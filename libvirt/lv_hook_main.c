/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfrelay-hook: libvirt's qemu hook (installed as <hooks>/qemu.d/vfrelay), see
 * vfrelay-hook(8). libvirt runs it as root with `<domain> <operation> <sub-operation> -`
 * and the domain XML on stdin, waits for it, and refuses to go on when it exits
 * non-zero; only its stderr reaches the user, so every failure is one line there.
 *
 * Never calls back into libvirt (libvirt holds the domain while hooks run) and never
 * prints to stdout: for `migrate` and `restore` libvirt takes stdout as a new XML.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lv_priv.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: vfrelay-hook DOMAIN OPERATION SUB-OPERATION EXTRA  (run by libvirt,\n"
		   "                    the domain XML on stdin)\n"
		   "       vfrelay-hook --check    validate the host config and exit\n"
		   "       vfrelay-hook --version\n"
		   "See vfrelay-hook(8).\n");
}

static int __attribute__((format(printf, 2, 3))) fail(int code, const char *fmt, ...)
{
	va_list ap;

	char line[LV_ERR_MAX + 64];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Only stderr reaches libvirt's error message, and it shows one line. */
	lv_one_line(line);
	fprintf(stderr, "%s: %s\n", lv_prog, line);
	return code;
}

/* All of stdin, NUL terminated; libvirt writes the whole XML and closes it. */
static char *
read_stdin(size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);

	while (buf != NULL) {
		ssize_t r;

		if (n == cap) {
			char *nb;

			if (cap >= LV_XML_MAX)
				break; /* lv_domain_parse() refuses it with a message */
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		r = read(0, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (buf != NULL)
		buf[n] = '\0';
	*len = n;
	return buf;
}

static int
check_host(const struct lv_paths *paths)
{
	static struct lv_host h;
	char err[LV_ERR_MAX];
	char lcores[LV_LCORES_MAX] = "?";

	if (lv_host_load(paths->host_conf, &h, err, sizeof(err)) < 0)
		return fail(LV_EXIT_CONFIG, "%s", err);
	lv_host_lcores(&h, lcores, sizeof(lcores));
	printf("%s: %s: OK (socket_dir %s, %u VFs in vf_pool, lcores %s, launcher %s)\n", lv_prog,
	       paths->host_conf, h.socket_dir, h.n_pool, lcores,
	       lv_launcher_resolve(h.launcher) == LV_LAUNCH_SYSTEMD ? "systemd" : "direct");
	return 0;
}

static int
prepare(const struct lv_paths *paths, const char *xml, size_t len)
{
	static struct lv_host h;
	static struct lv_domain d;
	char err[LV_ERR_MAX];

	if (lv_domain_parse(xml, len, NULL, &d, err, sizeof(err)) < 0)
		return fail(LV_EXIT_CONFIG, "%s", err);
	/* No vhost-user at all: not ours, and host.conf need not even exist. */
	if (d.n_vhostuser == 0)
		return 0;
	if (lv_host_load(paths->host_conf, &h, err, sizeof(err)) < 0)
		return fail(LV_EXIT_CONFIG, "%s", err);
	if (lv_domain_parse(xml, len, h.socket_dir, &d, err, sizeof(err)) < 0)
		return fail(LV_EXIT_CONFIG, "%s", err);
	if (d.n_ifaces == 0)
		return 0;
	if (lv_op_prepare(paths, &h, &d, err, sizeof(err)) < 0) {
		lv_log(paths, "not started: %s", err);
		return fail(LV_EXIT_FAIL, "%s", err);
	}
	return 0;
}

static int
stop(const struct lv_paths *paths, const char *name, const char *xml, size_t len, bool free_vfs)
{
	static struct lv_host h;
	static struct lv_domain d;
	char err[LV_ERR_MAX];
	char instance[FWD_NAME_MAX] = "";
	const char *uuid = NULL;

	/* Which domain: its XML's uuid; by the instance name only if the XML is unusable. */
	if (lv_domain_parse(xml, len, NULL, &d, err, sizeof(err)) == 0)
		uuid = d.uuid;
	else if (lv_instance_name(name, instance, sizeof(instance)) < 0)
		return fail(LV_EXIT_CONFIG, "%s", err);
	/* A broken host.conf must not keep a stopped domain's instance running. */
	if (lv_host_load(paths->host_conf, &h, err, sizeof(err)) < 0) {
		memset(&h, 0, sizeof(h));
		h.launcher = LV_LAUNCH_AUTO;
	}
	if (lv_op_stop(paths, &h, uuid, instance, free_vfs, err, sizeof(err)) < 0) {
		lv_log(paths, "%s of domain %s failed: %s", free_vfs ? "release" : "stop", name,
		       err);
		return fail(LV_EXIT_FAIL, "%s", err);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct lv_paths paths;
	const char *op, *sub;
	size_t len = 0;
	char *xml;
	int rc = 0;

	lv_prog = "vfrelay-hook";
	lv_paths_init(&paths);
	if (argc == 2 && strcmp(argv[1], "--check") == 0)
		return check_host(&paths);
	if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
		printf("vfrelay-hook %s\n", VFRELAY_VERSION);
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 4) {
		usage(stderr);
		return LV_EXIT_CONFIG;
	}
	op = argv[2];
	sub = argv[3];

	/* Read it whatever the operation: libvirt writes it to every hook. */
	xml = read_stdin(&len);
	if (xml == NULL)
		return fail(LV_EXIT_FAIL, "domain %s: cannot read the domain XML on stdin: %s",
			    argv[1], strerror(errno));
	if (strcmp(op, "prepare") == 0 && strcmp(sub, "begin") == 0)
		rc = prepare(&paths, xml, len);
	else if (strcmp(op, "stopped") == 0 && strcmp(sub, "end") == 0)
		rc = stop(&paths, argv[1], xml, len, false);
	else if (strcmp(op, "release") == 0 && strcmp(sub, "end") == 0)
		rc = stop(&paths, argv[1], xml, len, true);
	/*
	 * Everything else succeeds without a word. `reconnect` above all: libvirtd restarted
	 * and a failing hook would make it kill a running VM; vfrelay-reconcile is what
	 * checks the instances then.
	 */
	free(xml);
	return rc;
}
