/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The instance config of one domain (<run_dir>/<instance>.ini), and its check by
 * vfrelay's own parser before anything is started: the hook refuses a config the
 * daemon would refuse, with the daemon's message.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lv_priv.h"

struct out {
	char *buf;
	size_t len;
	size_t off;
	bool full;
};

static void __attribute__((format(printf, 2, 3))) put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->off, o->len - o->off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->off)
		o->full = true;
	else
		o->off += (size_t)n;
}

int
lv_instance_render(const struct lv_host *h, const struct lv_domain *d, char *buf, size_t len,
		   char *err, size_t errlen)
{
	struct out o = {.buf = buf, .len = len};
	char lcores[LV_LCORES_MAX];

	if (d->n_ifaces == 0)
		return lv_err(err, errlen, -EINVAL, "domain %s: no interface served by vfrelay",
			      d->name);
	if (lv_host_lcores(h, lcores, sizeof(lcores)) < 0)
		return lv_err(err, errlen, -ERANGE,
			      "%s: [host] lcores: not set, and this process may run on fewer "
			      "than 2 CPUs: set it",
			      h->path);
	put(&o, "; vfrelay instance of libvirt domain %s (%s).\n", d->name, d->uuid);
	put(&o, "; Written by vfrelay-hook at every start of the domain from %s and the\n",
	    h->path);
	put(&o, "; domain XML: change those, not this file.\n");
	put(&o, "[vfrelay]\nname = %s\nlcores = %s\n", d->instance, lcores);
	if (h->eal[0] != '\0')
		put(&o, "eal = %s\n", h->eal);
	for (int k = 0; k < LV_DEF_ZERO_COPY; k++) {
		if (h->defaults[k][0] != '\0')
			put(&o, "%s = %s\n", lv_default_key(k), h->defaults[k]);
	}
	for (unsigned int i = 0; i < d->n_ifaces; i++) {
		const struct lv_iface *f = &d->ifaces[i];
		const char *zc =
			f->zero_copy[0] != '\0' ? f->zero_copy : h->defaults[LV_DEF_ZERO_COPY];

		if (f->vf[0] == '\0')
			return lv_err(err, errlen, -EINVAL,
				      "domain %s: interface %u: no VF assigned", d->name,
				      f->xml_index);
		put(&o, "\n[relay net%u]\n", i);
		put(&o, "; interface %u%s%s\n", f->xml_index, f->mac[0] ? ", mac " : "", f->mac);
		put(&o, "vf = %s\nvhost = %s\nvhost_mode = client\nqueues = %u\n", f->vf, f->socket,
		    f->queues);
		if (zc[0] != '\0')
			put(&o, "zero_copy = %s\n", zc);
		if (f->mtu != 0)
			put(&o, "mtu = %u\n", f->mtu);
		else if (h->defaults[LV_DEF_MTU][0] != '\0')
			put(&o, "mtu = %s\n", h->defaults[LV_DEF_MTU]);
		for (int k = LV_DEF_RX_RING_SIZE; k < LV_DEF_COUNT; k++) {
			if (h->defaults[k][0] != '\0')
				put(&o, "%s = %s\n", lv_default_key(k), h->defaults[k]);
		}
	}
	if (o.full)
		return lv_err(err, errlen, -E2BIG,
			      "domain %s: instance config longer than %zu bytes", d->name, len - 1);
	return 0;
}

int
lv_instance_check(const char *text, const char *origin, char *err, size_t errlen)
{
	struct fwd_config *cfg = malloc(sizeof(*cfg));
	int rc;

	if (cfg == NULL)
		return lv_err(err, errlen, -ENOMEM, "out of memory");
	rc = fwd_config_parse_string(text, origin, cfg, err, errlen);
	free(cfg);
	return rc;
}
