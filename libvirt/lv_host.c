/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * host.conf: what the hook needs to know about this hypervisor (reference:
 * docs/operations.md, vfrelay-hook(8)). Same syntax as the instance config
 * (docs/configuration.md): inih tokenizes, our line reader sees every section header,
 * the first error wins and names file, section and key.
 *
 * The instance defaults (mtu, zero_copy, burst...) are copied into every instance
 * config, so their rules are vfrelay's: they are checked by running vfrelay's own
 * parser on a probe config made of them, and its message is re-addressed to [host].
 */

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "lv_priv.h"

#define LV_INI_MAX_LINE		 4096
#define LV_START_TIMEOUT_DEFAULT 10
#define LV_START_TIMEOUT_MAX	 120

enum host_key {
	HK_SOCKET_DIR = 0,
	HK_VF_POOL,
	HK_LCORES,
	HK_EAL,
	HK_LAUNCHER,
	HK_START_TIMEOUT,
	HK_DEFAULTS, /* LV_DEF_COUNT keys follow, in enum lv_default order */
};

static const char *const host_keys[] = {
	"socket_dir", "vf_pool", "lcores", "eal", "launcher", "start_timeout",
};

static const char *const default_keys[LV_DEF_COUNT] = {
	[LV_DEF_IDLE] = "idle",
	[LV_DEF_IDLE_BACKOFF] = "idle_backoff",
	[LV_DEF_IDLE_SLEEP_MAX_US] = "idle_sleep_max_us",
	[LV_DEF_BURST] = "burst",
	[LV_DEF_TX_RETRIES] = "tx_retries",
	[LV_DEF_ZERO_COPY] = "zero_copy",
	[LV_DEF_MTU] = "mtu",
	[LV_DEF_RX_RING_SIZE] = "rx_ring_size",
	[LV_DEF_TX_RING_SIZE] = "tx_ring_size",
};

#define HK_COUNT (HK_DEFAULTS + LV_DEF_COUNT)

struct host_parser {
	struct lv_host *h;
	const char *origin;
	const char *text; /* string source, or */
	FILE *file;	  /* file source */
	char *err;
	size_t errlen;
	int lineno;
	int read_errno;
	bool failed;
	bool in_host; /* inside [host] */
	bool host_seen;
	bool seen[HK_COUNT];
};

const char *
lv_default_key(enum lv_default d)
{
	return d < LV_DEF_COUNT ? default_keys[d] : "?";
}

static const char *
key_name(int k)
{
	return k < HK_DEFAULTS ? host_keys[k] : default_keys[k - HK_DEFAULTS];
}

static int __attribute__((format(printf, 4, 5)))
fail(struct host_parser *p, const char *key, const char *value, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (p->failed)
		return -EINVAL;
	p->failed = true;
	if (p->err == NULL || p->errlen == 0)
		return -EINVAL;
	if (key != NULL)
		snprintf(p->err, p->errlen, "%s: [host] %s: ", p->origin, key);
	else
		snprintf(p->err, p->errlen, "%s: ", p->origin);
	used = strlen(p->err);
	va_start(ap, fmt);
	vsnprintf(p->err + used, p->errlen - used, fmt, ap);
	va_end(ap);
	used = strlen(p->err);
	if (value != NULL && used < p->errlen)
		snprintf(p->err + used, p->errlen - used, ", got '%s'", value);
	lv_one_line(p->err);
	return -EINVAL;
}

static int __attribute__((format(printf, 2, 3)))
line_fail(struct host_parser *p, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (p->failed)
		return -EINVAL;
	p->failed = true;
	if (p->err == NULL || p->errlen == 0)
		return -EINVAL;
	snprintf(p->err, p->errlen, "%s:%d: ", p->origin, p->lineno);
	used = strlen(p->err);
	va_start(ap, fmt);
	vsnprintf(p->err + used, p->errlen - used, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* -- the line reader: sections ---------------------------------------------------------- */

static bool
is_comment_char(char c)
{
	return c == ';' || c == '#';
}

static int
observe_line(struct host_parser *p, const char *line)
{
	const char *s = line, *end;
	bool was_space = false;
	char name[LV_INI_MAX_LINE];

	if (p->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (isspace((unsigned char)*s))
		s++;
	if (*s != '[')
		return 0;
	for (end = s + 1; *end != '\0' && *end != ']'; end++) {
		if (was_space && is_comment_char(*end))
			return 0;
		was_space = isspace((unsigned char)*end);
	}
	if (*end != ']')
		return 0; /* inih calls it a syntax error */
	for (const char *t = end + 1; *t != '\0' && !is_comment_char(*t); t++) {
		if (!isspace((unsigned char)*t))
			return line_fail(p, "syntax error: text after section header");
	}
	memcpy(name, s + 1, (size_t)(end - s - 1));
	name[end - s - 1] = '\0';
	if (strcmp(name, "host") != 0) {
		p->in_host = false;
		return fail(p, NULL, NULL, "[%s]: unknown section, expected [host]", name);
	}
	if (p->host_seen)
		return fail(p, NULL, NULL, "[host]: duplicate section");
	p->host_seen = true;
	p->in_host = true;
	return 0;
}

static char *
string_gets(char *buf, int size, const char **pos)
{
	const char *s = *pos;
	int n = 0;

	if (*s == '\0')
		return NULL;
	while (n < size - 1 && s[n] != '\0') {
		buf[n] = s[n];
		if (s[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	*pos = s + n;
	return buf;
}

static bool
source_at_eof(struct host_parser *p)
{
	int c;

	if (p->file == NULL)
		return *p->text == '\0';
	c = getc(p->file);
	if (c == EOF)
		return true;
	ungetc(c, p->file);
	return false;
}

static char *
host_reader(char *buf, int size, void *stream)
{
	struct host_parser *p = stream;
	char *line;
	size_t len;

	if (p->failed)
		return NULL;
	line = p->file != NULL ? fgets(buf, size, p->file) : string_gets(buf, size, &p->text);
	if (line == NULL) {
		if (p->file != NULL && ferror(p->file))
			p->read_errno = errno != 0 ? errno : EIO;
		return NULL;
	}
	p->lineno++;
	len = strlen(line);
	if (len == (size_t)size - 1 && line[len - 1] != '\n' && !source_at_eof(p)) {
		line_fail(p, "line too long, at most %d characters", size - 2);
		return NULL;
	}
	if (observe_line(p, line) < 0)
		return NULL;
	return line;
}

/* -- keys ------------------------------------------------------------------------------- */

static int
parse_socket_dir(struct host_parser *p, const char *key, const char *val)
{
	struct lv_host *h = p->h;
	struct stat st;
	size_t n = strlen(val);

	if (val[0] != '/')
		return fail(p, key, val, "must be an absolute path");
	while (n > 1 && val[n - 1] == '/')
		n--;
	/* Room for "/x.sock" at least; vfrelay checks each full socket path too. */
	if (n + 8 > FWD_SOCKET_PATH_MAX - 1)
		return fail(p, key, val, "too long: socket paths below it must fit %d characters",
			    FWD_SOCKET_PATH_MAX - 1);
	memcpy(h->socket_dir, val, n);
	h->socket_dir[n] = '\0';
	if (stat(h->socket_dir, &st) != 0)
		return fail(p, key, val, "%s", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(p, key, val, "not a directory");
	return 0;
}

static int
parse_vf_pool(struct host_parser *p, const char *key, const char *val)
{
	struct lv_host *h = p->h;
	const char *s = val;

	while (*s != '\0') {
		size_t n;

		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		for (n = 0; s[n] != '\0' && !isspace((unsigned char)s[n]); n++)
			;
		if (n >= FWD_DEVARGS_MAX)
			return fail(p, key, NULL,
				    "device string '%.40s...' is longer than %d characters", s,
				    FWD_DEVARGS_MAX - 1);
		if (h->n_pool == LV_POOL_MAX)
			return fail(p, key, NULL, "more than %d VFs", LV_POOL_MAX);
		memcpy(h->pool[h->n_pool], s, n);
		h->pool[h->n_pool][n] = '\0';
		for (unsigned int i = 0; i < h->n_pool; i++) {
			if (strcmp(h->pool[i], h->pool[h->n_pool]) == 0)
				return fail(p, key, NULL, "'%s' is listed twice", h->pool[i]);
		}
		h->n_pool++;
		s += n;
	}
	if (h->n_pool == 0)
		return fail(p, key, NULL, "no VF listed");
	return 0;
}

static int
parse_uint(struct host_parser *p, const char *key, const char *val, unsigned long lo,
	   unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	/* Plain decimal only, as in the instance config. */
	for (const char *c = val; *c != '\0'; c++) {
		if (!isdigit((unsigned char)*c))
			return fail(p, key, val, "must be an integer in %lu..%lu", lo, hi);
	}
	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno != 0 || v < lo || v > hi)
		return fail(p, key, val, "must be an integer in %lu..%lu", lo, hi);
	*out = v;
	return 0;
}

static int
copy_value(struct host_parser *p, const char *key, const char *val, char *dst, size_t len)
{
	size_t n = strlen(val);

	if (n >= len)
		return fail(p, key, NULL, "too long, at most %zu characters", len - 1);
	memcpy(dst, val, n + 1);
	return 0;
}

static int
host_key(struct host_parser *p, int k, const char *key, const char *val)
{
	struct lv_host *h = p->h;
	unsigned long v = 0;

	switch (k) {
	case HK_SOCKET_DIR:
		return parse_socket_dir(p, key, val);
	case HK_VF_POOL:
		return parse_vf_pool(p, key, val);
	case HK_LCORES:
		return copy_value(p, key, val, h->lcores, sizeof(h->lcores));
	case HK_EAL:
		return copy_value(p, key, val, h->eal, sizeof(h->eal));
	case HK_LAUNCHER:
		if (strcmp(val, "auto") == 0)
			h->launcher = LV_LAUNCH_AUTO;
		else if (strcmp(val, "systemd") == 0)
			h->launcher = LV_LAUNCH_SYSTEMD;
		else if (strcmp(val, "direct") == 0)
			h->launcher = LV_LAUNCH_DIRECT;
		else
			return fail(p, key, val, "must be auto, systemd or direct");
		return 0;
	case HK_START_TIMEOUT:
		if (parse_uint(p, key, val, 1, LV_START_TIMEOUT_MAX, &v) < 0)
			return -EINVAL;
		h->start_timeout_ms = (unsigned int)v * 1000;
		return 0;
	default:
		return copy_value(p, key, val, h->defaults[k - HK_DEFAULTS], LV_VALUE_MAX);
	}
}

static int
host_handler(void *user, const char *section, const char *key, const char *val)
{
	struct host_parser *p = user;
	int k;

	(void)section; /* the reader tracked it */
	if (p->failed)
		return 0;
	if (!p->host_seen)
		return fail(p, NULL, NULL, "%s: key outside any section, expected [host] first",
			    key) == 0;
	if (!p->in_host)
		return 0; /* an unknown section already failed */
	for (k = 0; k < HK_COUNT; k++) {
		if (strcmp(key, key_name(k)) == 0)
			break;
	}
	if (k == HK_COUNT)
		return fail(p, key, val, "unknown key") == 0;
	if (p->seen[k])
		return fail(p, key, val, "duplicate key") == 0;
	p->seen[k] = true;
	if (val[0] == '\0')
		return fail(p, key, NULL, "value is empty") == 0;
	return host_key(p, k, key, val) == 0;
}

/* -- the probe: instance defaults checked by vfrelay's parser --------------------------- */

/* The first two CPUs this process may run on, "a,b": the lcores when host.conf has none. */
static int
default_lcores(char *buf, size_t len)
{
	cpu_set_t set;
	int found[2];
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++) {
		if (CPU_ISSET(c, &set))
			found[n++] = c;
	}
	if (n < 2)
		return -ERANGE;
	snprintf(buf, len, "%d,%d", found[0], found[1]);
	return 0;
}

int
lv_host_lcores(const struct lv_host *h, char *buf, size_t len)
{
	if (h->lcores[0] == '\0')
		return default_lcores(buf, len);
	snprintf(buf, len, "%s", h->lcores);
	return 0;
}

/* "<origin>: [vfrelay] burst: must..." -> "<origin>: [host] burst: must..." */
static void
readdress(const char *origin, const char *msg, char *err, size_t errlen)
{
	static const char *const sections[] = {"[vfrelay] ", "[relay probe] "};
	size_t olen = strlen(origin);
	const char *rest = msg;

	if (strncmp(msg, origin, olen) == 0 && strncmp(msg + olen, ": ", 2) == 0)
		rest = msg + olen + 2;
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		size_t n = strlen(sections[i]);

		if (strncmp(rest, sections[i], n) == 0) {
			snprintf(err, errlen, "%s: [host] %s", origin, rest + n);
			return;
		}
	}
	snprintf(err, errlen, "%s: [host]: %s", origin, rest);
}

static int
check_defaults(struct host_parser *p)
{
	struct lv_host *h = p->h;
	char lcores[LV_LCORES_MAX];
	char text[LV_INSTANCE_TEXT_MAX];
	char msg[LV_ERR_MAX];
	size_t off = 0;
	int rc;

	if (lv_host_lcores(h, lcores, sizeof(lcores)) < 0) {
		return fail(p, "lcores", NULL,
			    "not set, and this process may run on fewer than 2 CPUs: set it");
	}
#define PUT(...) (off += (size_t)snprintf(text + off, sizeof(text) - off, __VA_ARGS__))
	PUT("[vfrelay]\nname = probe\nlcores = %s\n", lcores);
	if (h->eal[0] != '\0')
		PUT("eal = %s\n", h->eal);
	for (int d = 0; d < LV_DEF_ZERO_COPY; d++) {
		if (h->defaults[d][0] != '\0')
			PUT("%s = %s\n", default_keys[d], h->defaults[d]);
	}
	PUT("[relay probe]\nvf = net_null0\nvhost = /vfrelay-probe.sock\n");
	for (int d = LV_DEF_ZERO_COPY; d < LV_DEF_COUNT; d++) {
		if (h->defaults[d][0] != '\0')
			PUT("%s = %s\n", default_keys[d], h->defaults[d]);
	}
#undef PUT
	rc = lv_instance_check(text, p->origin, msg, sizeof(msg));
	if (rc < 0) {
		p->failed = true;
		if (p->err != NULL && p->errlen > 0)
			readdress(p->origin, msg, p->err, p->errlen);
		return -EINVAL;
	}
	return 0;
}

/* -- entry points ----------------------------------------------------------------------- */

static char lv_comment_prefixes[] = ";#";

static int
host_parse(struct host_parser *p)
{
	bool multiline = ini_allow_multiline, inline_c = ini_allow_inline_comments;
	char *inline_pfx = ini_inline_comment_prefixes, *start_pfx = ini_start_comment_prefixes;
	bool stop = ini_stop_on_first_error, stack = ini_use_stack;
	bool no_value = ini_allow_no_value;
	int max_line = ini_max_line;
	struct lv_host *h = p->h;
	int line;

	memset(h, 0, sizeof(*h));
	snprintf(h->path, sizeof(h->path), "%s", p->origin);
	h->start_timeout_ms = LV_START_TIMEOUT_DEFAULT * 1000;
	if (p->err != NULL && p->errlen > 0)
		p->err[0] = '\0';

	/* The instance config's syntax (see fwd_config.c), restored afterwards. */
	ini_allow_multiline = false;
	ini_allow_inline_comments = true;
	ini_inline_comment_prefixes = lv_comment_prefixes;
	ini_start_comment_prefixes = lv_comment_prefixes;
	ini_stop_on_first_error = true;
	ini_use_stack = true;
	ini_max_line = LV_INI_MAX_LINE;
	ini_allow_no_value = false;
	line = ini_parse_stream(host_reader, p, host_handler, p);
	ini_allow_multiline = multiline;
	ini_allow_inline_comments = inline_c;
	ini_inline_comment_prefixes = inline_pfx;
	ini_start_comment_prefixes = start_pfx;
	ini_stop_on_first_error = stop;
	ini_use_stack = stack;
	ini_max_line = max_line;
	ini_allow_no_value = no_value;

	if (!p->failed && line > 0) {
		p->lineno = line;
		line_fail(p, "syntax error");
	}
	if (!p->failed && p->read_errno != 0) {
		lv_err(p->err, p->errlen, 0, "%s: cannot read: %s", p->origin,
		       strerror(p->read_errno));
		return -p->read_errno;
	}
	if (!p->failed && line < 0)
		fail(p, NULL, NULL, "cannot parse: %s", strerror(ENOMEM));
	if (!p->failed && !p->host_seen)
		fail(p, NULL, NULL, "[host]: required section is missing");
	for (int k = 0; !p->failed && k <= HK_VF_POOL; k++) {
		if (!p->seen[k])
			fail(p, key_name(k), NULL, "required key is missing");
	}
	if (!p->failed)
		check_defaults(p);
	return p->failed ? -EINVAL : 0;
}

int
lv_host_parse_string(const char *text, const char *origin, struct lv_host *h, char *err,
		     size_t errlen)
{
	struct host_parser p = {
		.h = h,
		.origin = origin,
		.text = text,
		.err = err,
		.errlen = errlen,
	};

	return host_parse(&p);
}

int
lv_host_load(const char *path, struct lv_host *h, char *err, size_t errlen)
{
	struct host_parser p = {
		.h = h,
		.origin = path,
		.err = err,
		.errlen = errlen,
	};
	int rc;

	p.file = fopen(path, "re");
	if (p.file == NULL) {
		rc = -errno;
		return lv_err(err, errlen, rc, "%s: cannot open: %s", path, strerror(-rc));
	}
	rc = host_parse(&p);
	fclose(p.file);
	return rc;
}

int
lv_host_pool_index(const struct lv_host *h, const char *vf)
{
	for (unsigned int i = 0; i < h->n_pool; i++) {
		if (strcmp(h->pool[i], vf) == 0)
			return (int)i;
	}
	return -1;
}

enum lv_launcher
lv_launcher_resolve(enum lv_launcher l)
{
	if (l != LV_LAUNCH_AUTO)
		return l;
	/* sd_booted(): this directory exists only when systemd is PID 1. */
	return access("/run/systemd/system", F_OK) == 0 ? LV_LAUNCH_SYSTEMD : LV_LAUNCH_DIRECT;
}
