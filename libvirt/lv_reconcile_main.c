/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfrelay-reconcile: asks libvirt which domains run and makes the vfrelay instances
 * match (lv_reconcile.c); with --watch it stays, following lifecycle events and
 * reconnecting when libvirtd restarts. For boot, after upgrades, and whenever the hook
 * could not run (libvirtd down while a VM died). See vfrelay-reconcile(8).
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "lv_priv.h"

#define LV_DEFAULT_URI "qemu:///system"

struct rec_opts {
	const char *uri;
	bool dry_run;
	bool watch;
	unsigned int interval_s;
	unsigned int grace_s;
};

static atomic_bool quit; /* signal handler: wo, main loop: ro (lock-free: signal safe) */
/* Event callbacks run inside virEventRunDefaultImpl(), on the main thread: plain bools. */
static bool dirty;
static bool closed;

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: vfrelay-reconcile [--connect URI] [--dry-run] [--grace SECONDS]\n"
		"       vfrelay-reconcile --watch [--interval SECONDS] [--connect URI] [--grace "
		"S]\n"
		"  -c, --connect URI    libvirt URI (default %s)\n"
		"  -n, --dry-run        say what would be done, do nothing\n"
		"  -w, --watch          stay: follow lifecycle events, reconcile every --interval\n"
		"  -i, --interval S     full pass every S seconds with --watch (default 60)\n"
		"  -g, --grace S        release the claim of a domain that does not run only once\n"
		"                       it is S seconds old (default 60)\n"
		"See vfrelay-reconcile(8).\n",
		LV_DEFAULT_URI);
}

static void
on_signal(int sig)
{
	(void)sig;
	atomic_store(&quit, true);
}

static void
quiet_errors(void *data, virErrorPtr e)
{
	(void)data;
	(void)e;
}

static const char *
virt_err(void)
{
	const char *m = virGetLastErrorMessage();

	return m != NULL ? m : "unknown libvirt error";
}

static void
live_free(struct lv_live *live)
{
	free(live->v);
	live->v = NULL;
	live->n = 0;
}

/* Every active domain, parsed; -EIO if libvirt could not list them. */
static int
live_collect(virConnectPtr conn, const struct lv_host *h, struct lv_live *live, FILE *out)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);

	live->n = 0;
	live->v = NULL;
	if (n < 0) {
		fprintf(out, "%s: listing domains: %s\n", lv_prog, virt_err());
		return -EIO;
	}
	live->v = calloc(n > 0 ? (size_t)n : 1, sizeof(*live->v));
	if (live->v == NULL) {
		for (int i = 0; i < n; i++)
			virDomainFree(doms[i]);
		free(doms);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct lv_live_dom *ld = &live->v[live->n];
		char err[LV_ERR_MAX];
		int state = 0, reason = 0;
		char *xml;

		if (virDomainGetUUIDString(doms[i], ld->uuid) < 0) {
			virDomainFree(doms[i]);
			continue; /* gone meanwhile */
		}
		live->n++;
		if (virDomainGetState(doms[i], &state, &reason, 0) == 0)
			ld->starting = state == VIR_DOMAIN_PAUSED &&
				       reason == VIR_DOMAIN_PAUSED_STARTING_UP;
		xml = virDomainGetXMLDesc(doms[i], 0);
		if (xml == NULL) {
			fprintf(out, "%s: domain %s: no XML: %s; its state is left alone\n",
				lv_prog, virDomainGetName(doms[i]), virt_err());
		} else if (lv_domain_parse(xml, strlen(xml), h->socket_dir, &ld->d, err,
					   sizeof(err)) < 0) {
			fprintf(out, "%s: %s; its state is left alone\n", lv_prog, err);
		} else {
			ld->parsed = true;
		}
		free(xml);
		virDomainFree(doms[i]);
	}
	free(doms);
	return 0;
}

static int
pass(virConnectPtr conn, const struct lv_paths *p, const struct rec_opts *o)
{
	static struct lv_host h;
	struct lv_rec_stats st;
	struct lv_live live;
	char err[LV_ERR_MAX];
	int rc;

	/* Read each time: --watch follows edits of host.conf. */
	if (lv_host_load(p->host_conf, &h, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", lv_prog, err);
		return LV_EXIT_CONFIG;
	}
	if (live_collect(conn, &h, &live, stdout) < 0)
		return LV_EXIT_FAIL;
	rc = lv_reconcile_pass(p, &h, &live, o->dry_run, o->grace_s, stdout, &st);
	printf("%s: %u domain(s) served, %u instance(s) started, %u orphan instance(s) stopped, "
	       "%u claim(s) released, %u failure(s)\n",
	       lv_prog, st.served, st.started, st.stopped, st.freed, st.failed);
	fflush(stdout);
	live_free(&live);
	return rc < 0 ? LV_EXIT_FAIL : 0;
}

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	(void)conn;
	(void)dom;
	(void)detail;
	(void)opaque;
	if (event == VIR_DOMAIN_EVENT_STARTED || event == VIR_DOMAIN_EVENT_STOPPED ||
	    event == VIR_DOMAIN_EVENT_CRASHED)
		dirty = true;
	return 0;
}

static void
on_close(virConnectPtr conn, int reason, void *opaque)
{
	(void)conn;
	(void)reason;
	(void)opaque;
	closed = true;
}

static void
on_tick(int timer, void *opaque)
{
	static unsigned int ticks;
	const struct rec_opts *o = opaque;

	(void)timer;
	if (++ticks >= o->interval_s) {
		ticks = 0;
		dirty = true;
	}
}

static int
watch(const struct lv_paths *p, const struct rec_opts *o)
{
	unsigned int backoff_s = 1;
	int timer;

	if (virEventRegisterDefaultImpl() < 0) {
		fprintf(stderr, "%s: libvirt event loop: %s\n", lv_prog, virt_err());
		return LV_EXIT_FAIL;
	}
	/* A one-second tick wakes the loop, so a signal is seen within a second. */
	timer = virEventAddTimeout(1000, on_tick, (void *)o, NULL);
	while (!atomic_load(&quit)) {
		virConnectPtr conn = virConnectOpen(o->uri);
		int cb;

		if (conn == NULL) {
			fprintf(stderr, "%s: %s: %s; retrying in %u s\n", lv_prog, o->uri,
				virt_err(), backoff_s);
			for (unsigned int s = 0; s < backoff_s && !atomic_load(&quit); s++)
				sleep(1);
			backoff_s = backoff_s < 16 ? backoff_s * 2 : 30;
			continue;
		}
		backoff_s = 1;
		closed = false;
		/* Notice a libvirtd that went away even when no event is due. */
		virConnectSetKeepAlive(conn, 5, 3);
		virConnectRegisterCloseCallback(conn, on_close, NULL, NULL);
		cb = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
						      VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL,
						      NULL);
		printf("%s: connected to %s, watching\n", lv_prog, o->uri);
		dirty = true;
		while (!atomic_load(&quit) && !closed) {
			if (dirty) {
				dirty = false;
				if (pass(conn, p, o) == LV_EXIT_CONFIG)
					fprintf(stderr, "%s: fix the host config; retrying\n",
						lv_prog);
			}
			if (virEventRunDefaultImpl() < 0)
				break;
		}
		if (closed)
			printf("%s: connection to %s closed; reconnecting\n", lv_prog, o->uri);
		if (cb >= 0)
			virConnectDomainEventDeregisterAny(conn, cb);
		virConnectUnregisterCloseCallback(conn, on_close);
		virConnectClose(conn);
		fflush(stdout);
	}
	if (timer >= 0)
		virEventRemoveTimeout(timer);
	return 0;
}

static int
parse_seconds(const char *opt, const char *s, unsigned int lo, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > 86400) {
		fprintf(stderr, "%s: %s: must be %u..86400 seconds, got '%s'\n", lv_prog, opt, lo,
			s);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"connect", required_argument, NULL, 'c'},
		{"dry-run", no_argument, NULL, 'n'},
		{"watch", no_argument, NULL, 'w'},
		{"interval", required_argument, NULL, 'i'},
		{"grace", required_argument, NULL, 'g'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct rec_opts o = {.uri = LV_DEFAULT_URI, .interval_s = 60, .grace_s = 60};
	struct sigaction sa = {.sa_handler = on_signal};
	struct lv_paths paths;
	virConnectPtr conn;
	int opt;
	int rc;

	lv_prog = "vfrelay-reconcile";
	while ((opt = getopt_long(argc, argv, "c:nwi:g:Vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o.uri = optarg;
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'w':
			o.watch = true;
			break;
		case 'i':
			if (parse_seconds("--interval", optarg, 1, &o.interval_s) < 0)
				return LV_EXIT_CONFIG;
			break;
		case 'g':
			if (parse_seconds("--grace", optarg, 0, &o.grace_s) < 0)
				return LV_EXIT_CONFIG;
			break;
		case 'V':
			printf("vfrelay-reconcile %s\n", VFRELAY_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return LV_EXIT_CONFIG;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return LV_EXIT_CONFIG;
	}
	lv_paths_init(&paths);
	virSetErrorFunc(NULL, quiet_errors);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (o.watch)
		return watch(&paths, &o);

	conn = virConnectOpen(o.uri);
	if (conn == NULL) {
		fprintf(stderr, "%s: %s: %s\n", lv_prog, o.uri, virt_err());
		return LV_EXIT_FAIL;
	}
	rc = pass(conn, &paths, &o);
	virConnectClose(conn);
	return rc;
}
