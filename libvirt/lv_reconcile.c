/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * One reconcile pass: running domains against claims and running instances (see
 * vfrelay-reconcile(8)). No libvirt here; lv_reconcile_main.c asks libvirt what runs.
 *
 * The hook may be at work while a pass runs (a VM starting or stopping), so nothing is
 * decided on a stale view: a domain libvirt is still starting is the hook's, the claim
 * of a domain that does not run is released only once older than the grace time (it may
 * be a start whose domain libvirt does not list yet), and the claims are read again
 * under the lock before an unclaimed instance is called an orphan (a claim is always
 * written before its instance starts and removed only after it stopped).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lv_priv.h"

#define LV_MAX_INSTANCES 1024

static int
snapshot(const struct lv_paths *p, struct lv_claims *c, char *err, size_t errlen)
{
	int fd = lv_pool_lock(p, 10000, err, errlen);
	int rc;

	if (fd < 0)
		return fd;
	rc = lv_claims_read(p, c, err, errlen);
	lv_pool_unlock(fd);
	return rc;
}

static const struct lv_live_dom *
live_find(const struct lv_live *live, const char *uuid)
{
	for (unsigned int i = 0; i < live->n; i++) {
		if (strcasecmp(live->v[i].uuid, uuid) == 0)
			return &live->v[i];
	}
	return NULL;
}

static bool
claimed_instance(const struct lv_claims *c, const char *instance)
{
	for (unsigned int i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].instance, instance) == 0)
			return true;
	}
	return false;
}

static void
vf_list(const struct lv_claim *cl, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < cl->n_vfs && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "", cl->vfs[i]);
}

/* Running domains: each served by a running instance. */
static void
serve_running(const struct lv_paths *p, const struct lv_host *h, const struct lv_live *live,
	      const struct lv_claims *c, bool dry, FILE *out, struct lv_rec_stats *st)
{
	struct lv_domain *d = malloc(sizeof(*d));
	char err[LV_ERR_MAX];

	if (d == NULL) {
		st->failed++;
		return;
	}
	for (unsigned int i = 0; i < live->n; i++) {
		const struct lv_live_dom *ld = &live->v[i];
		const struct lv_claim *cl;
		const char *why;

		if (!ld->parsed || ld->d.n_ifaces == 0)
			continue;
		cl = lv_claims_find(c, ld->d.uuid);
		if (cl != NULL && lv_launch_pid(p, h, cl->instance) > 0) {
			if (cl->n_vfs != ld->d.n_ifaces)
				fprintf(out,
					"%s: domain %s: %u interfaces served by vfrelay now, "
					"instance %s "
					"has %u (hot-plugged interfaces are not followed): left as "
					"it is\n",
					lv_prog, ld->d.name, ld->d.n_ifaces, cl->instance,
					cl->n_vfs);
			st->served++;
			continue;
		}
		/*
		 * Past "prepare" QEMU runs, so the hook is done with a running domain; only one
		 * libvirt is still starting may be the hook's to finish.
		 */
		if (ld->starting) {
			fprintf(out, "%s: domain %s: being started, left to the hook\n", lv_prog,
				ld->d.name);
			continue;
		}
		why = cl != NULL ? "its instance is not running" : "it holds no VF";
		fprintf(out, "%s: domain %s runs but %s: %sstarting instance %s\n", lv_prog,
			ld->d.name, why, dry ? "would be " : "", ld->d.instance);
		if (dry)
			continue;
		/* A copy: prepare fills in the VFs. */
		*d = ld->d;
		if (lv_op_prepare(p, h, d, err, sizeof(err)) < 0) {
			fprintf(out, "%s: domain %s: %s\n", lv_prog, d->name, err);
			lv_log(p, "reconcile: domain %s: not served: %s", d->name, err);
			st->failed++;
			continue;
		}
		lv_log(p, "reconcile: domain %s runs but %s: instance %s started", d->name, why,
		       d->instance);
		st->started++;
		st->served++;
	}
	free(d);
}

/* Claims of domains that are not running: their instance stopped, their VFs released. */
static void
release_gone(const struct lv_paths *p, const struct lv_host *h, const struct lv_live *live,
	     const struct lv_claims *c, bool dry, unsigned int grace_s, FILE *out,
	     struct lv_rec_stats *st)
{
	time_t now = time(NULL);
	char err[LV_ERR_MAX], vfs[1024];

	for (unsigned int i = 0; i < c->n; i++) {
		const struct lv_claim *cl = &c->v[i];

		if (live_find(live, cl->uuid) != NULL)
			continue;
		if (now - cl->since < (time_t)grace_s) {
			fprintf(out, "%s: domain %s: claim only %lds old, left to the hook\n",
				lv_prog, cl->domain, (long)(now - cl->since));
			continue;
		}
		vf_list(cl, vfs, sizeof(vfs));
		fprintf(out,
			"%s: domain %s (%s) is not running: %sstopping instance %s, releasing %s\n",
			lv_prog, cl->domain, cl->uuid, dry ? "would be " : "", cl->instance, vfs);
		if (dry)
			continue;
		if (lv_op_stop(p, h, cl->uuid, NULL, true, err, sizeof(err)) < 0) {
			fprintf(out, "%s: domain %s: %s\n", lv_prog, cl->domain, err);
			st->failed++;
			continue;
		}
		lv_log(p, "reconcile: domain %s is gone: instance %s stopped, %s released",
		       cl->domain, cl->instance, vfs);
		st->freed++;
	}
}

/* Instances no claim names: nobody knows what they serve. */
static void
stop_unclaimed(const struct lv_paths *p, const struct lv_host *h, bool dry, FILE *out,
	       struct lv_rec_stats *st)
{
	char(*names)[FWD_NAME_MAX] = calloc(LV_MAX_INSTANCES, FWD_NAME_MAX);
	char err[LV_ERR_MAX], ini[PATH_MAX];
	struct lv_claims c = {0};
	unsigned int n = 0;

	if (names == NULL || lv_launch_list(p, h, names, LV_MAX_INSTANCES, &n) < 0 ||
	    snapshot(p, &c, err, sizeof(err)) < 0) {
		fprintf(out, "%s: cannot list running instances\n", lv_prog);
		st->failed++;
		goto out;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (claimed_instance(&c, names[i]))
			continue;
		fprintf(out, "%s: instance %s runs for no domain: %sstopping it\n", lv_prog,
			names[i], dry ? "would be " : "");
		if (dry)
			continue;
		if (lv_launch_stop(p, h, names[i], err, sizeof(err)) < 0) {
			fprintf(out, "%s: %s\n", lv_prog, err);
			st->failed++;
			continue;
		}
		if (lv_path_instance(p, names[i], ".ini", ini, sizeof(ini)) == 0)
			unlink(ini);
		lv_log(p, "reconcile: instance %s ran for no domain: stopped", names[i]);
		st->stopped++;
	}
out:
	lv_claims_free(&c);
	free(names);
}

int
lv_reconcile_pass(const struct lv_paths *p, const struct lv_host *h, const struct lv_live *live,
		  bool dry_run, unsigned int grace_s, FILE *out, struct lv_rec_stats *st)
{
	struct lv_claims c = {0};
	char err[LV_ERR_MAX];
	int rc;

	memset(st, 0, sizeof(*st));
	rc = snapshot(p, &c, err, sizeof(err));
	if (rc < 0) {
		fprintf(out, "%s: %s\n", lv_prog, err);
		st->failed++;
		return rc;
	}
	serve_running(p, h, live, &c, dry_run, out, st);
	release_gone(p, h, live, &c, dry_run, grace_s, out, st);
	lv_claims_free(&c);
	stop_unclaimed(p, h, dry_run, out, st);
	return st->failed > 0 ? -EIO : 0;
}
