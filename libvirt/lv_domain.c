/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The domain XML libvirt hands the hook on stdin (or reconcile gets from
 * virDomainGetXMLDesc): which interfaces vfrelay serves and how.
 *
 * Managed: <interface type='vhostuser'> whose <source type='unix' path=P mode='server'/>
 * has P below socket_dir. Everything else is some other backend's and is left alone,
 * except a vhostuser socket below socket_dir in client mode: that one is meant for us
 * and cannot work (vfrelay connects, so QEMU must listen), so it is refused.
 *
 * The XML is libvirt's, but a domain definition is written by whoever may define
 * domains: every value is checked, the document must be small, and no DTD, entity or
 * network access is honoured.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "lv_priv.h"

struct dom_parser {
	struct lv_domain *d;
	const char *socket_dir;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 2, 3)))
dom_fail(struct dom_parser *p, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (p->err == NULL || p->errlen == 0)
		return -EINVAL;
	snprintf(p->err, p->errlen, "domain %s: ", p->d->name[0] != '\0' ? p->d->name : "?");
	used = strlen(p->err);
	va_start(ap, fmt);
	vsnprintf(p->err + used, p->errlen - used, fmt, ap);
	va_end(ap);
	lv_one_line(p->err);
	return -EINVAL;
}

static bool
is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns == NULL &&
	       strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *
child(const xmlNode *parent, const char *name)
{
	for (const xmlNode *c = parent->children; c != NULL; c = c->next) {
		if (is_elem(c, name))
			return c;
	}
	return NULL;
}

/* Attribute @name (no namespace) copied into @buf; 0, -ENOENT, or -E2BIG. */
static int
attr(const xmlNode *n, const char *name, char *buf, size_t len)
{
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
	size_t vl;

	if (v == NULL)
		return -ENOENT;
	vl = strlen((const char *)v);
	if (vl >= len) {
		xmlFree(v);
		return -E2BIG;
	}
	memcpy(buf, v, vl + 1);
	xmlFree(v);
	return 0;
}

/* Text content of @n, trimmed, into @buf. */
static int
text(const xmlNode *n, char *buf, size_t len)
{
	xmlChar *v = xmlNodeGetContent(n);
	const char *s, *e;

	if (v == NULL)
		return -ENOENT;
	s = (const char *)v;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	if ((size_t)(e - s) >= len) {
		xmlFree(v);
		return -E2BIG;
	}
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	xmlFree(v);
	return 0;
}

/* Plain decimal in lo..hi, as the instance config wants it. */
static int
parse_u16(const char *s, unsigned int lo, unsigned int hi, uint16_t *out)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -EINVAL;
	for (const char *c = s; *c != '\0'; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v < lo || v > hi)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int
lv_mac_parse(const char *s, uint8_t mac[6])
{
	static const char hex[] = "0123456789abcdef";

	if (strlen(s) != LV_MAC_LEN)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *hi = strchr(hex, s[3 * i] | 0x20);
		const char *lo = strchr(hex, s[3 * i + 1] | 0x20);

		if (s[3 * i] == '\0' || s[3 * i + 1] == '\0' || hi == NULL || lo == NULL)
			return -EINVAL;
		if (i < 5 && s[3 * i + 2] != ':')
			return -EINVAL;
		mac[i] = (uint8_t)((hi - hex) << 4 | (lo - hex));
	}
	return 0;
}

bool
lv_uuid_valid(const char *s)
{
	if (strlen(s) != LV_UUID_LEN)
		return false;
	for (int i = 0; i < LV_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];

		if (dash ? c != '-'
			 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			     (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

int
lv_instance_name(const char *domain, char *out, size_t len)
{
	size_t n = strlen(domain);

	if (n == 0)
		return -EINVAL;
	if (n >= FWD_NAME_MAX || n >= len)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < n; i++) {
		char c = domain[i];

		/* Spelled out: the rule must not depend on the locale. */
		out[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					 (c >= '0' && c <= '9') || c == '_'
				 ? c
				 : '_';
	}
	out[n] = '\0';
	return 0;
}

/* No whitespace, no control character: safe to write as an INI value. */
static bool
plain(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	}
	return true;
}

/* P below socket_dir: "<dir>/<rest>" with no "." or ".." component in rest. */
static bool
below(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	const char *rest;

	if (strncmp(path, dir, n) != 0 || path[n] != '/')
		return false;
	rest = path + n + 1;
	if (*rest == '\0')
		return false;
	for (const char *c = rest; *c != '\0';) {
		size_t seg = strcspn(c, "/");

		if (seg == 0 || (seg == 1 && c[0] == '.') ||
		    (seg == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += seg;
		if (*c == '/')
			c++;
	}
	return true;
}

/* One <interface type='vhostuser'>; adds it to d->ifaces if it is ours. */
static int
parse_iface(struct dom_parser *p, const xmlNode *n, unsigned int index)
{
	struct lv_domain *d = p->d;
	struct lv_iface *f;
	const xmlNode *src = child(n, "source"), *c;
	char path[FWD_SOCKET_PATH_MAX + 64];
	char mode[16] = "", stype[16] = "", val[64];
	char mac[LV_MAC_LEN + 1] = "";
	uint8_t mb[6];
	int rc;

	d->n_vhostuser++;
	if (p->socket_dir == NULL)
		return 0;
	c = child(n, "mac");
	if (c != NULL && attr(c, "address", val, sizeof(val)) == 0) {
		if (lv_mac_parse(val, mb) < 0)
			return dom_fail(p,
					"interface %u: <mac address>: not a MAC address, got '%s'",
					index, val);
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", mb[0], mb[1], mb[2],
			 mb[3], mb[4], mb[5]);
	}
	if (src == NULL)
		return 0; /* nothing libvirt would start; not ours to judge */
	rc = attr(src, "path", path, sizeof(path));
	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && !below(path, p->socket_dir))
		return 0; /* another backend's socket */
	if (rc < 0)
		return dom_fail(p, "interface %u: <source path>: longer than %d characters", index,
				FWD_SOCKET_PATH_MAX - 1);

	/* From here on the interface is meant for vfrelay: it must be right. */
	if (attr(src, "type", stype, sizeof(stype)) != 0 || strcmp(stype, "unix") != 0)
		return dom_fail(p, "interface %u (%s): <source type>: must be 'unix', got '%s'",
				index, path, stype);
	if (attr(src, "mode", mode, sizeof(mode)) != 0 || strcmp(mode, "server") != 0)
		return dom_fail(p,
				"interface %u (%s): <source mode>: must be 'server' (QEMU listens, "
				"vfrelay connects), got '%s'",
				index, path, mode);
	/* It becomes an INI value: no line breaks, no " ;" comment, nothing invisible. */
	if (!plain(path))
		return dom_fail(p,
				"interface %u: <source path>: whitespace or control character in "
				"'%s'",
				index, path);
	if (strlen(path) >= FWD_SOCKET_PATH_MAX)
		return dom_fail(p, "interface %u: <source path>: longer than %d characters", index,
				FWD_SOCKET_PATH_MAX - 1);
	if (d->n_ifaces == FWD_MAX_RELAYS)
		return dom_fail(p, "interface %u (%s): more than %d interfaces served by vfrelay",
				index, path, FWD_MAX_RELAYS);
	for (unsigned int i = 0; i < d->n_ifaces; i++) {
		if (strcmp(d->ifaces[i].socket, path) == 0)
			return dom_fail(
				p, "interface %u (%s): <source path>: used by interface %u too",
				index, path, d->ifaces[i].xml_index);
	}

	f = &d->ifaces[d->n_ifaces];
	memset(f, 0, sizeof(*f));
	f->xml_index = index;
	f->queues = 1;
	snprintf(f->socket, sizeof(f->socket), "%s", path);
	memcpy(f->mac, mac, sizeof(mac));

	c = child(n, "driver");
	if (c != NULL) {
		rc = attr(c, "queues", val, sizeof(val));
		if (rc == -E2BIG || (rc == 0 && parse_u16(val, 1, FWD_MAX_QUEUES, &f->queues) < 0))
			return dom_fail(p,
					"interface %u (%s): <driver queues>: must be an integer in "
					"1..%d, got '%s'",
					index, path, FWD_MAX_QUEUES, rc == 0 ? val : "(too long)");
	}
	c = child(n, "mtu");
	if (c != NULL) {
		rc = attr(c, "size", val, sizeof(val));
		if (rc != 0 || parse_u16(val, FWD_MTU_MIN, FWD_MTU_MAX, &f->mtu) < 0)
			return dom_fail(
				p,
				"interface %u (%s): <mtu size>: must be an integer in %d..%d, "
				"got '%s'",
				index, path, FWD_MTU_MIN, FWD_MTU_MAX,
				rc == 0		? val
				: rc == -ENOENT ? ""
						: "(too long)");
	}
	d->n_ifaces++;
	return 0;
}

/* The managed interface a <vfrelay:relay> names by @mac ("" = the only one). */
static struct lv_iface *
relay_target(struct dom_parser *p, const char *mac)
{
	struct lv_domain *d = p->d;
	struct lv_iface *hit = NULL;

	if (d->n_ifaces == 0) {
		dom_fail(p,
			 "metadata <vfrelay:relay>: no interface is served by vfrelay "
			 "(vhostuser, mode='server', socket below %s)",
			 p->socket_dir);
		return NULL;
	}
	if (mac[0] == '\0') {
		if (d->n_ifaces != 1) {
			dom_fail(p,
				 "metadata <vfrelay:relay>: mac is required when %u interfaces are "
				 "served by vfrelay",
				 d->n_ifaces);
			return NULL;
		}
		return &d->ifaces[0];
	}
	for (unsigned int i = 0; i < d->n_ifaces; i++) {
		if (strcmp(d->ifaces[i].mac, mac) != 0)
			continue;
		if (hit != NULL) {
			dom_fail(p,
				 "metadata <vfrelay:relay mac='%s'>: two interfaces have this mac",
				 mac);
			return NULL;
		}
		hit = &d->ifaces[i];
	}
	if (hit == NULL)
		dom_fail(p,
			 "metadata <vfrelay:relay mac='%s'>: no interface served by vfrelay has "
			 "this mac (vhostuser, mode='server', socket below %s)",
			 mac, p->socket_dir);
	return hit;
}

static int
parse_relay(struct dom_parser *p, const xmlNode *n, bool seen[])
{
	char mac[LV_MAC_LEN + 1] = "", macin[64] = "";
	char vf[FWD_DEVARGS_MAX] = "", zc[16] = "";
	struct lv_iface *f;
	uint8_t mb[6];
	int rc;

	for (const xmlAttr *a = n->properties; a != NULL; a = a->next) {
		const char *an = (const char *)a->name;

		if (a->ns != NULL || (strcmp(an, "mac") != 0 && strcmp(an, "vf") != 0 &&
				      strcmp(an, "zero_copy") != 0))
			return dom_fail(p,
					"metadata <vfrelay:relay>: unknown attribute '%s' (known: "
					"mac, vf, zero_copy)",
					an);
	}
	rc = attr(n, "mac", macin, sizeof(macin));
	if (rc == -E2BIG || (rc == 0 && lv_mac_parse(macin, mb) < 0))
		return dom_fail(p, "metadata <vfrelay:relay>: mac: not a MAC address, got '%.40s'",
				macin);
	if (rc == 0)
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", mb[0], mb[1], mb[2],
			 mb[3], mb[4], mb[5]);
	f = relay_target(p, mac);
	if (f == NULL)
		return -EINVAL;
	if (seen[f - p->d->ifaces])
		return dom_fail(p, "metadata: two <vfrelay:relay> elements for interface %u",
				f->xml_index);
	seen[f - p->d->ifaces] = true;

	rc = attr(n, "vf", vf, sizeof(vf));
	if (rc == -E2BIG)
		return dom_fail(p, "metadata <vfrelay:relay>: vf: longer than %d characters",
				FWD_DEVARGS_MAX - 1);
	if (rc == 0) {
		if (vf[0] == '\0' || !plain(vf))
			return dom_fail(p,
					"metadata <vfrelay:relay>: vf: must be a device string "
					"without whitespace, got '%s'",
					vf);
		snprintf(f->vf, sizeof(f->vf), "%s", vf);
		f->vf_from_metadata = true;
	}
	rc = attr(n, "zero_copy", zc, sizeof(zc));
	if (rc == -E2BIG ||
	    (rc == 0 && strcmp(zc, "auto") != 0 && strcmp(zc, "on") != 0 && strcmp(zc, "off") != 0))
		return dom_fail(p,
				"metadata <vfrelay:relay>: zero_copy: must be auto, on or off, got "
				"'%.15s'",
				zc);
	if (rc == 0)
		snprintf(f->zero_copy, sizeof(f->zero_copy), "%s", zc);
	return 0;
}

static int
parse_metadata(struct dom_parser *p, const xmlNode *md)
{
	bool seen[FWD_MAX_RELAYS] = {false};

	for (const xmlNode *c = md->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || c->ns == NULL || c->ns->href == NULL ||
		    strcmp((const char *)c->ns->href, LV_NS_URI) != 0)
			continue; /* other applications' metadata */
		if (strcmp((const char *)c->name, "relay") != 0)
			return dom_fail(p,
					"metadata: unknown element <%s> in namespace %s (known: "
					"relay)",
					(const char *)c->name, LV_NS_URI);
		if (parse_relay(p, c, seen) < 0)
			return -EINVAL;
	}
	return 0;
}

/* libxml2 prints to stderr unless told otherwise; the hook's stderr is one line. */
static void
xml_quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int
lv_domain_parse(const char *xml, size_t len, const char *socket_dir, struct lv_domain *d, char *err,
		size_t errlen)
{
	struct dom_parser p = {.d = d, .socket_dir = socket_dir, .err = err, .errlen = errlen};
	const xmlNode *root, *devs, *c;
	unsigned int index = 0;
	xmlDoc *doc;
	int name_rc;
	int rc;

	memset(d, 0, sizeof(*d));
	if (len > LV_XML_MAX)
		return dom_fail(&p, "XML larger than %u bytes", LV_XML_MAX);
	xmlSetGenericErrorFunc(NULL, xml_quiet);
	doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		const xmlError *e = xmlGetLastError();
		char msg[160] = "not well-formed";

		if (e != NULL && e->message != NULL) {
			snprintf(msg, sizeof(msg), "%s", e->message);
			msg[strcspn(msg, "\n")] = '\0';
		}
		return dom_fail(&p, "XML line %d: %s", e != NULL ? e->line : 0, msg);
	}
	rc = -EINVAL;
	root = xmlDocGetRootElement(doc);
	if (doc->intSubset != NULL) {
		/* libvirt never writes one; a DTD only brings entities we do not want. */
		dom_fail(&p, "XML has a DOCTYPE");
		goto out;
	}
	if (root == NULL || !is_elem(root, "domain")) {
		dom_fail(&p, "XML root element is not <domain>");
		goto out;
	}
	c = child(root, "name");
	if (c == NULL || text(c, d->name, sizeof(d->name)) != 0 || d->name[0] == '\0') {
		d->name[0] = '\0';
		dom_fail(&p, "<name>: missing, empty or longer than %d characters",
			 LV_DOMAIN_NAME_MAX - 1);
		goto out;
	}
	for (const char *s = d->name; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '/') {
			dom_fail(&p, "<name>: control character or '/' in the name");
			goto out;
		}
	}
	c = child(root, "uuid");
	if (c == NULL || text(c, d->uuid, sizeof(d->uuid)) != 0 || !lv_uuid_valid(d->uuid)) {
		dom_fail(&p, "<uuid>: missing or not a UUID");
		goto out;
	}
	for (char *s = d->uuid; *s != '\0'; s++)
		*s = (char)(*s >= 'A' && *s <= 'F' ? *s + ('a' - 'A') : *s);
	/* Checked below, once it is known whether any interface needs an instance. */
	name_rc = lv_instance_name(d->name, d->instance, sizeof(d->instance));
	devs = child(root, "devices");
	for (c = devs != NULL ? devs->children : NULL; c != NULL; c = c->next) {
		char type[32];

		if (!is_elem(c, "interface"))
			continue;
		if (attr(c, "type", type, sizeof(type)) == 0 && strcmp(type, "vhostuser") == 0 &&
		    parse_iface(&p, c, index) < 0)
			goto out;
		index++;
	}
	if (socket_dir != NULL && d->n_ifaces > 0 && name_rc < 0) {
		dom_fail(&p, "<name>: longer than %d characters, the longest vfrelay instance name",
			 FWD_NAME_MAX - 1);
		goto out;
	}
	c = child(root, "metadata");
	if (socket_dir != NULL && c != NULL && parse_metadata(&p, c) < 0)
		goto out;
	rc = 0;
out:
	xmlFreeDoc(doc);
	return rc;
}
