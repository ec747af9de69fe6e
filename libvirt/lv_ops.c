/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * What happens to a domain: prepare (claim, config, VF MACs, start) and stop/release.
 * Shared by the hook and vfrelay-reconcile, so both leave the same state behind.
 *
 * Order matters both ways: VFs are claimed before anything uses them and given back
 * only after the instance that used them has exited; whatever fails after the claim
 * gives it back, so a refused start holds nothing.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lv_priv.h"

/* MAC through the PF and an MTU the PF can carry, for each real SR-IOV VF. */
static int
setup_real_vfs(const struct lv_paths *p, const struct lv_host *h, const struct lv_domain *d,
	       char *err, size_t errlen)
{
	for (unsigned int i = 0; i < d->n_ifaces; i++) {
		const struct lv_iface *f = &d->ifaces[i];
		char msg[LV_ERR_MAX];
		struct lv_vf_pf pf;
		unsigned int want, pf_mtu;
		uint8_t mac[6];
		int rc;

		if (!lv_vf_is_pci(f->vf))
			continue; /* a vdev: nothing to set from outside */
		rc = lv_vf_resolve(p->sysfs, f->vf, &pf, msg, sizeof(msg));
		if (rc == -ENODEV)
			continue; /* a PF or a plain device: its MAC is its own */
		if (rc < 0)
			return lv_err(err, errlen, rc, "domain %s: interface %u: %s", d->name,
				      f->xml_index, msg);
		if (f->mac[0] == '\0' || lv_mac_parse(f->mac, mac) < 0)
			return lv_err(err, errlen, -EINVAL,
				      "domain %s: interface %u: no <mac address>, needed for VF %s",
				      d->name, f->xml_index, f->vf);
		want = f->mtu != 0 ? f->mtu
		       : h->defaults[LV_DEF_MTU][0] != '\0'
			       ? (unsigned int)strtoul(h->defaults[LV_DEF_MTU], NULL, 10)
			       : 1500;
		/* Most PF drivers refuse a VF MTU above their own; say so before vfrelay fails. */
		if (lv_vf_pf_mtu(p->sysfs, &pf, &pf_mtu) == 0 && pf_mtu < want)
			return lv_err(
				err, errlen, -EINVAL,
				"domain %s: interface %u: MTU %u is above the MTU %u of PF %s "
				"(VF %s): raise the PF's",
				d->name, f->xml_index, want, pf_mtu, pf.pf_ifname, f->vf);
		rc = lv_vf_set_mac(&pf, mac, msg, sizeof(msg));
		if (rc < 0)
			return lv_err(err, errlen, rc, "domain %s: interface %u: %s", d->name,
				      f->xml_index, msg);
		lv_log(p, "domain %s: VF %s (PF %s vf %u): mac %s", d->name, f->vf, pf.pf_ifname,
		       pf.vf_index, f->mac);
	}
	return 0;
}

int
lv_op_prepare(const struct lv_paths *p, const struct lv_host *h, struct lv_domain *d, char *err,
	      size_t errlen)
{
	char ini[PATH_MAX], undo[LV_ERR_MAX];
	char *text = malloc(LV_INSTANCE_TEXT_MAX);
	int rc;

	if (text == NULL)
		return lv_err(err, errlen, -ENOMEM, "out of memory");
	if (lv_path_instance(p, d->instance, ".ini", ini, sizeof(ini)) < 0) {
		free(text);
		return lv_err(err, errlen, -ENAMETOOLONG, "%s: path too long", p->run_dir);
	}
	/* Whatever this domain still holds (a crash, a release never run) goes first. */
	rc = lv_op_stop(p, h, d->uuid, NULL, true, err, errlen);
	if (rc == 0)
		rc = lv_pool_claim(p, h, d, err, errlen);
	if (rc < 0) {
		free(text);
		return rc;
	}
	rc = lv_instance_render(h, d, text, LV_INSTANCE_TEXT_MAX, err, errlen);
	if (rc == 0)
		rc = lv_instance_check(text, ini, err, errlen);
	if (rc == 0)
		rc = setup_real_vfs(p, h, d, err, errlen);
	if (rc == 0)
		rc = lv_write_atomic(ini, text, 0644, err, errlen);
	if (rc == 0) {
		char why[LV_ERR_MAX];

		rc = lv_launch_start(p, h, d->instance, why, sizeof(why));
		if (rc < 0)
			lv_err(err, errlen, rc, "domain %s: instance %s: %s", d->name, d->instance,
			       why);
	}
	free(text);
	if (rc < 0) {
		if (lv_op_stop(p, h, d->uuid, NULL, true, undo, sizeof(undo)) < 0)
			lv_log(p, "domain %s: undoing a failed start: %s", d->name, undo);
		return rc;
	}
	lv_log(p, "domain %s (%s): instance %s started, %u relay(s), pid %ld", d->name, d->uuid,
	       d->instance, d->n_ifaces, (long)lv_launch_pid(p, h, d->instance));
	return 0;
}

int
lv_op_stop(const struct lv_paths *p, const struct lv_host *h, const char *uuid,
	   const char *instance, bool free_vfs, char *err, size_t errlen)
{
	char name[FWD_NAME_MAX] = "", id[LV_UUID_LEN + 1] = "", ini[PATH_MAX];
	struct lv_claims c;
	int fd;
	int rc;

	fd = lv_pool_lock(p, 10000, err, errlen);
	if (fd < 0)
		return fd;
	rc = lv_claims_read(p, &c, err, errlen);
	for (unsigned int i = 0; rc == 0 && i < c.n; i++) {
		if (uuid != NULL ? strcmp(c.v[i].uuid, uuid) == 0
				 : instance != NULL && strcmp(c.v[i].instance, instance) == 0) {
			snprintf(name, sizeof(name), "%s", c.v[i].instance);
			snprintf(id, sizeof(id), "%s", c.v[i].uuid);
			break;
		}
	}
	lv_claims_free(&c);
	lv_pool_unlock(fd);
	if (rc < 0 || name[0] == '\0')
		return rc; /* nothing held: a prepare that failed early, or another domain's */

	/* The VFs stay claimed until the process that used them is gone. */
	rc = lv_launch_stop(p, h, name, err, errlen);
	if (rc < 0)
		return rc;
	if (!free_vfs) {
		lv_log(p, "instance %s stopped", name);
		return 0;
	}
	if (lv_path_instance(p, name, ".ini", ini, sizeof(ini)) == 0)
		unlink(ini);
	fd = lv_pool_lock(p, 10000, err, errlen);
	if (fd < 0)
		return fd;
	rc = lv_claim_remove(p, id);
	lv_pool_unlock(fd);
	if (rc < 0)
		return lv_err(err, errlen, rc, "claim %s: cannot remove: %s", id, strerror(-rc));
	lv_log(p, "instance %s stopped, its VFs released (domain %s)", name, id);
	return 0;
}
