/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The VF pool. What a domain holds is one claim file, <run_dir>/claims/<uuid>,
 * written atomically; a VF is free when no claim names it. Every read-decide-write runs
 * under one flock (<run_dir>/claims.lock), so two VMs starting at once never get the
 * same VF, and nothing but a domain's own release removes its claim.
 *
 * run_dir is a tmpfs (/run): claims end with the boot, as the VMs do. A claim file that
 * cannot be read stops every allocation rather than risk handing its VFs out twice.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lv_priv.h"

#define LV_LOCK_POLL_NS (10 * 1000 * 1000)

static int
claims_dir(const struct lv_paths *p, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/claims", p->run_dir);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
lv_pool_lock(const struct lv_paths *p, unsigned int timeout_ms, char *err, size_t errlen)
{
	struct timespec poll = {.tv_nsec = LV_LOCK_POLL_NS};
	char path[PATH_MAX];
	unsigned int waited_ms = 0;
	int fd;
	int rc;

	rc = lv_mkdirs(p->run_dir, 0755);
	if (rc < 0)
		return lv_err(err, errlen, rc, "%s: cannot create: %s", p->run_dir, strerror(-rc));
	if (snprintf(path, sizeof(path), "%s/claims.lock", p->run_dir) >= (int)sizeof(path))
		return lv_err(err, errlen, -ENAMETOOLONG, "%s: path too long", p->run_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return lv_err(err, errlen, -errno, "%s: cannot open: %s", path, strerror(errno));
	/* Polled rather than blocking: a stuck holder must not hang libvirt. */
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = -errno;
			close(fd);
			return lv_err(err, errlen, rc, "%s: cannot lock: %s", path, strerror(-rc));
		}
		if (waited_ms >= timeout_ms) {
			close(fd);
			return lv_err(
				err, errlen, -ETIMEDOUT,
				"%s: still locked by another vfrelay-hook or vfrelay-reconcile "
				"after %u ms",
				path, timeout_ms);
		}
		nanosleep(&poll, NULL);
		waited_ms += LV_LOCK_POLL_NS / 1000000;
	}
	return fd;
}

void
lv_pool_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
}

void
lv_claims_free(struct lv_claims *c)
{
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

const struct lv_claim *
lv_claims_find(const struct lv_claims *c, const char *uuid)
{
	for (unsigned int i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].uuid, uuid) == 0)
			return &c->v[i];
	}
	return NULL;
}

static int
claim_parse(FILE *f, const char *path, struct lv_claim *cl, char *err, size_t errlen)
{
	char line[FWD_DEVARGS_MAX + LV_DOMAIN_NAME_MAX];
	int lineno = 0;

	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);
		char *val;

		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		val = strchr(line, ' ');
		if (val == NULL)
			goto bad;
		*val++ = '\0';
		if (strcmp(line, "instance") == 0 && strlen(val) < sizeof(cl->instance)) {
			strcpy(cl->instance, val);
		} else if (strcmp(line, "domain") == 0 && strlen(val) < sizeof(cl->domain)) {
			strcpy(cl->domain, val);
		} else if (strcmp(line, "vf") == 0 && strlen(val) < FWD_DEVARGS_MAX &&
			   cl->n_vfs < FWD_MAX_RELAYS) {
			strcpy(cl->vfs[cl->n_vfs++], val);
		} else {
			goto bad;
		}
	}
	if (cl->instance[0] == '\0')
		return lv_err(err, errlen, -EINVAL,
			      "%s: no 'instance' line: remove the file if its domain is gone",
			      path);
	return 0;
bad:
	return lv_err(err, errlen, -EINVAL,
		      "%s:%d: not a claim line: remove the file if its domain is gone", path,
		      lineno);
}

int
lv_claims_read(const struct lv_paths *p, struct lv_claims *c, char *err, size_t errlen)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	unsigned int cap = 0;
	struct dirent *e;
	DIR *dh;
	int rc = 0;

	c->n = 0;
	c->v = NULL;
	if (claims_dir(p, dir, sizeof(dir)) < 0)
		return lv_err(err, errlen, -ENAMETOOLONG, "%s: path too long", p->run_dir);
	dh = opendir(dir);
	if (dh == NULL) {
		if (errno == ENOENT)
			return 0;
		return lv_err(err, errlen, -errno, "%s: cannot read: %s", dir, strerror(errno));
	}
	while ((e = readdir(dh)) != NULL) {
		struct lv_claim *cl;
		struct stat st;
		FILE *f;

		/* Temporary files of a write in progress, or anything else, are no claims. */
		if (!lv_uuid_valid(e->d_name))
			continue;
		if (c->n == cap) {
			unsigned int ncap = cap == 0 ? 16 : cap * 2;
			struct lv_claim *nv = realloc(c->v, ncap * sizeof(*nv));

			if (nv == NULL) {
				rc = lv_err(err, errlen, -ENOMEM, "out of memory reading %s", dir);
				break;
			}
			c->v = nv;
			cap = ncap;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "re");
		if (f == NULL) {
			if (errno == ENOENT)
				continue;
			rc = lv_err(err, errlen, -errno, "%s: cannot read: %s", path,
				    strerror(errno));
			break;
		}
		cl = &c->v[c->n];
		memset(cl, 0, sizeof(*cl));
		memcpy(cl->uuid, e->d_name, LV_UUID_LEN + 1); /* checked above: 36 + NUL */
		cl->since = fstat(fileno(f), &st) == 0 ? st.st_mtime : 0;
		rc = claim_parse(f, path, cl, err, errlen);
		fclose(f);
		if (rc < 0)
			break;
		c->n++;
	}
	closedir(dh);
	return rc;
}

int
lv_claim_write(const struct lv_paths *p, const struct lv_claim *cl, char *err, size_t errlen)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	char text[FWD_MAX_RELAYS * (FWD_DEVARGS_MAX + 4) + 2 * LV_DOMAIN_NAME_MAX + 128];
	size_t off = 0;
	int rc;

	if (!lv_uuid_valid(cl->uuid))
		return lv_err(err, errlen, -EINVAL, "claim for a bad uuid '%s'", cl->uuid);
	if (claims_dir(p, dir, sizeof(dir)) < 0)
		return lv_err(err, errlen, -ENAMETOOLONG, "%s: path too long", p->run_dir);
	rc = lv_mkdirs(dir, 0755);
	if (rc < 0)
		return lv_err(err, errlen, rc, "%s: cannot create: %s", dir, strerror(-rc));
	snprintf(path, sizeof(path), "%s/%s", dir, cl->uuid);
	off += (size_t)snprintf(text + off, sizeof(text) - off,
				"# VFs held by one domain (vfrelay-hook); removed at its release\n"
				"instance %s\ndomain %s\n",
				cl->instance, cl->domain);
	for (unsigned int i = 0; i < cl->n_vfs; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "vf %s\n", cl->vfs[i]);
	return lv_write_atomic(path, text, 0644, err, errlen);
}

int
lv_claim_remove(const struct lv_paths *p, const char *uuid)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];

	if (!lv_uuid_valid(uuid) || claims_dir(p, dir, sizeof(dir)) < 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", dir, uuid);
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* The claim other than @self's that holds @vf, or NULL. */
static const struct lv_claim *
holder(const struct lv_claims *c, const char *self, const char *vf)
{
	for (unsigned int i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].uuid, self) == 0)
			continue;
		for (unsigned int j = 0; j < c->v[i].n_vfs; j++) {
			if (strcmp(c->v[i].vfs[j], vf) == 0)
				return &c->v[i];
		}
	}
	return NULL;
}

/* @vf already given to another interface of @d: by metadata, or by the pool earlier. */
static bool
taken_by_self(const struct lv_domain *d, unsigned int self, const char *vf)
{
	for (unsigned int i = 0; i < d->n_ifaces; i++) {
		const struct lv_iface *f = &d->ifaces[i];

		if (i != self && (f->vf_from_metadata || i < self) && strcmp(f->vf, vf) == 0)
			return true;
	}
	return false;
}

int
lv_pool_assign(const struct lv_host *h, const struct lv_claims *c, struct lv_domain *d, char *err,
	       size_t errlen)
{
	for (unsigned int i = 0; i < d->n_ifaces; i++) {
		if (!d->ifaces[i].vf_from_metadata)
			d->ifaces[i].vf[0] = '\0';
	}
	for (unsigned int i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].instance, d->instance) == 0 &&
		    strcmp(c->v[i].uuid, d->uuid) != 0)
			return lv_err(err, errlen, -EINVAL,
				      "domain %s: instance name '%s' is held by domain %s (%s): "
				      "rename one of them",
				      d->name, d->instance, c->v[i].domain, c->v[i].uuid);
	}
	/* The metadata first: a VF named there is not up for grabs by the pool below. */
	for (unsigned int i = 0; i < d->n_ifaces; i++) {
		struct lv_iface *f = &d->ifaces[i];
		const struct lv_claim *o;

		if (!f->vf_from_metadata)
			continue;
		if (lv_host_pool_index(h, f->vf) < 0)
			return lv_err(
				err, errlen, -EINVAL,
				"domain %s: metadata <vfrelay:relay> of interface %u: vf '%s' "
				"is not in vf_pool of %s",
				d->name, f->xml_index, f->vf, h->path);
		o = holder(c, d->uuid, f->vf);
		if (o != NULL)
			return lv_err(
				err, errlen, -EBUSY,
				"domain %s: metadata <vfrelay:relay> of interface %u: vf '%s' "
				"is held by domain %s",
				d->name, f->xml_index, f->vf, o->domain);
		if (taken_by_self(d, i, f->vf))
			return lv_err(
				err, errlen, -EINVAL,
				"domain %s: metadata <vfrelay:relay> of interface %u: vf '%s' "
				"is named for two interfaces",
				d->name, f->xml_index, f->vf);
	}
	for (unsigned int i = 0; i < d->n_ifaces; i++) {
		struct lv_iface *f = &d->ifaces[i];
		unsigned int v;

		if (f->vf_from_metadata)
			continue;
		for (v = 0; v < h->n_pool; v++) {
			const char *vf = h->pool[v];

			if (holder(c, d->uuid, vf) != NULL)
				continue;
			if (!taken_by_self(d, i, vf))
				break;
		}
		if (v == h->n_pool)
			return lv_err(err, errlen, -EBUSY,
				      "domain %s: interface %u (%s): no free VF in vf_pool of %s "
				      "(all %u held by running domains)",
				      d->name, f->xml_index, f->socket, h->path, h->n_pool);
		snprintf(f->vf, sizeof(f->vf), "%s", h->pool[v]);
	}
	return 0;
}

int
lv_pool_claim(const struct lv_paths *p, const struct lv_host *h, struct lv_domain *d, char *err,
	      size_t errlen)
{
	struct lv_claims c;
	struct lv_claim *cl;
	int fd;
	int rc;

	fd = lv_pool_lock(p, 10000, err, errlen);
	if (fd < 0)
		return fd;
	rc = lv_claims_read(p, &c, err, errlen);
	if (rc == 0)
		rc = lv_pool_assign(h, &c, d, err, errlen);
	lv_claims_free(&c);
	if (rc == 0) {
		cl = calloc(1, sizeof(*cl));
		if (cl == NULL) {
			rc = lv_err(err, errlen, -ENOMEM, "out of memory");
		} else {
			snprintf(cl->uuid, sizeof(cl->uuid), "%s", d->uuid);
			snprintf(cl->instance, sizeof(cl->instance), "%s", d->instance);
			snprintf(cl->domain, sizeof(cl->domain), "%s", d->name);
			cl->n_vfs = d->n_ifaces;
			for (unsigned int i = 0; i < d->n_ifaces; i++)
				snprintf(cl->vfs[i], sizeof(cl->vfs[i]), "%s", d->ifaces[i].vf);
			rc = lv_claim_write(p, cl, err, errlen);
			free(cl);
		}
	}
	lv_pool_unlock(fd);
	return rc;
}
