/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Parse and validate the instance INI file (contract: include/vfrelay/config.h,
 * reference: docs/configuration.md).
 *
 * No DPDK here: the file is checked before EAL starts, so a bad config fails fast with
 * FWD_EXIT_CONFIG and a message naming the file, section and key.
 *
 * inih does the tokenizing. We feed it lines through our own reader (ini_parse_stream()
 * is what ini_parse_string() and ini_parse_file() wrap) because inih tells the handler
 * nothing about section headers: the reader sees each header before any key below it,
 * which is the only way to reject empty, duplicate or unknown sections. The reader also
 * counts lines and refuses over-long ones, which inih would otherwise split silently
 * into two lines.
 */

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include <vfrelay/config.h>

/*
 * Longest accepted line, including the newline and NUL. `eal` alone may be 511
 * characters and `vf` 255, well past inih's default of 200, so this must stay above
 * FWD_EAL_ARGS_MAX plus the key and a comment.
 */
#define FWD_INI_MAX_LINE 4096

#define FWD_DEFAULT_IDLE_SLEEP_MAX_US 1000
#define FWD_IDLE_SLEEP_MAX_US_MAX 100000
#define FWD_DEFAULT_BURST 32
#define FWD_BURST_MAX 64
#define FWD_DEFAULT_TX_RETRIES 4
#define FWD_TX_RETRIES_MAX 64
#define FWD_DEFAULT_MTU 1500
#define FWD_DEFAULT_RING_SIZE 1024
#define FWD_RING_SIZE_MIN 64
#define FWD_RING_SIZE_MAX 4096
#define FWD_DEFAULT_SOCKET_MODE 0660

#define RELAY_PREFIX "relay "
#define RELAY_PREFIX_LEN (sizeof(RELAY_PREFIX) - 1)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum vfrelay_key {
	VK_NAME,
	VK_LCORES,
	VK_EAL,
	VK_IDLE,
	VK_IDLE_BACKOFF,
	VK_IDLE_SLEEP_MAX_US,
	VK_BURST,
	VK_TX_RETRIES,
	VK__COUNT,
};

static const char *const vfrelay_keys[VK__COUNT] = {
	[VK_NAME] = "name",
	[VK_LCORES] = "lcores",
	[VK_EAL] = "eal",
	[VK_IDLE] = "idle",
	[VK_IDLE_BACKOFF] = "idle_backoff",
	[VK_IDLE_SLEEP_MAX_US] = "idle_sleep_max_us",
	[VK_BURST] = "burst",
	[VK_TX_RETRIES] = "tx_retries",
};

enum relay_key {
	RK_VF,
	RK_VHOST,
	RK_VHOST_MODE,
	RK_QUEUES,
	RK_ZERO_COPY,
	RK_MTU,
	RK_RX_RING_SIZE,
	RK_TX_RING_SIZE,
	RK_SOCKET_USER,
	RK_SOCKET_GROUP,
	RK_SOCKET_MODE,
	RK_ZERO_COPY_UNKNOWN_VF,
	RK__COUNT,
};

static const char *const relay_keys[RK__COUNT] = {
	[RK_VF] = "vf",
	[RK_VHOST] = "vhost",
	[RK_VHOST_MODE] = "vhost_mode",
	[RK_QUEUES] = "queues",
	[RK_ZERO_COPY] = "zero_copy",
	[RK_MTU] = "mtu",
	[RK_RX_RING_SIZE] = "rx_ring_size",
	[RK_TX_RING_SIZE] = "tx_ring_size",
	[RK_SOCKET_USER] = "socket_user",
	[RK_SOCKET_GROUP] = "socket_group",
	[RK_SOCKET_MODE] = "socket_mode",
	[RK_ZERO_COPY_UNKNOWN_VF] = "zero_copy_unknown_vf",
};

/*
 * Options that vfrelay derives from its own keys (name -> --file-prefix, lcores -> -l and
 * --main-lcore) or that would break its process model. Passing them through `eal` would
 * silently override the config, so they are refused.
 */
static const char *const eal_owned_long[] = {
	"--file-prefix", "--lcores", "--main-lcore", "--proc-type", "--in-memory",
};
static const char eal_owned_short[] = "lc";
/* EAL's short options that take an argument (eal_short_options in DPDK 22.11): in a cluster
 * like "-vl0-1" everything after one of them is its argument. */
static const char eal_short_with_arg[] = "abcsdlSmnr";

enum cfg_section {
	SECTION_NONE,    /* before the first header */
	SECTION_VFRELAY,
	SECTION_RELAY,
};

struct cfg_parser {
	struct fwd_config *cfg;
	const char *origin;
	char *err;
	size_t errlen;
	bool failed;                    /* an error is in err; first error wins */

	FILE *file;                     /* line source: file, or ... */
	const char *text;               /* ... the unread rest of a string */
	int lineno;
	int read_errno;                 /* errno of a failed read, 0 if none */

	enum cfg_section section;
	char section_text[RELAY_PREFIX_LEN + FWD_NAME_MAX]; /* "vfrelay" / "relay NAME" */
	struct fwd_relay_config *relay; /* SECTION_RELAY: the relay being filled */
	bool vfrelay_seen;
	uint32_t vfrelay_keys_seen;     /* bit per enum vfrelay_key */
	uint32_t relay_keys_seen[FWD_MAX_RELAYS]; /* bit per enum relay_key */
};

/* -- error reporting ------------------------------------------------------------------- */

static void
err_vadd(struct cfg_parser *p, const char *fmt, va_list ap)
{
	size_t used;

	if (p->err == NULL || p->errlen == 0)
		return;
	used = strnlen(p->err, p->errlen);
	if (used + 1 >= p->errlen)
		return;
	vsnprintf(p->err + used, p->errlen - used, fmt, ap);
}

static void __attribute__((format(printf, 2, 3)))
err_add(struct cfg_parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vadd(p, fmt, ap);
	va_end(ap);
}

/* Start the one error message; false if an earlier error already won. */
static bool
err_begin(struct cfg_parser *p)
{
	if (p->failed)
		return false;
	p->failed = true;
	if (p->err != NULL && p->errlen > 0)
		p->err[0] = '\0';
	return true;
}

/*
 * "<origin>: [<section>] <key>: <what>, got '<value>'". @section NULL leaves out the
 * "[...] " part, @key NULL the "<key>: " part, @value NULL the ", got" part.
 */
static int __attribute__((format(printf, 5, 6)))
cfg_fail(struct cfg_parser *p, const char *section, const char *key, const char *value,
	 const char *fmt, ...)
{
	va_list ap;

	if (!err_begin(p))
		return -EINVAL;
	err_add(p, "%s: ", p->origin);
	if (section != NULL)
		err_add(p, "[%s]%s", section, key != NULL ? " " : ": ");
	if (key != NULL)
		err_add(p, "%s: ", key);
	va_start(ap, fmt);
	err_vadd(p, fmt, ap);
	va_end(ap);
	if (value != NULL)
		err_add(p, ", got '%s'", value);
	return -EINVAL;
}

/* Error in the key being parsed, in the current section. */
#define key_fail(p, key, value, ...) cfg_fail(p, (p)->section_text, key, value, __VA_ARGS__)

/* "<origin>:<line>: <what>", for errors that belong to a line rather than a key. */
static int __attribute__((format(printf, 2, 3)))
line_fail(struct cfg_parser *p, const char *fmt, ...)
{
	va_list ap;

	if (!err_begin(p))
		return -EINVAL;
	err_add(p, "%s:%d: ", p->origin, p->lineno);
	va_start(ap, fmt);
	err_vadd(p, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* -- value parsers: each returns 0 or -EINVAL with the error set ---------------------- */

static bool
valid_name(const char *s, size_t len, bool dash_ok)
{
	if (len == 0 || len >= FWD_NAME_MAX)
		return false;
	/* Spelled out rather than isalnum(): the rule must not depend on the locale. */
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '_' && !(dash_ok && c == '-'))
			return false;
	}
	return true;
}

/*
 * Decimal digits only: no sign, no hex, no trailing text, so "-1", "+5", "0x10" and
 * "12abc" are all refused instead of being half-read by strtoul().
 */
static bool
read_uint(const char *val, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v = 0;
	const char *s = val;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		/* Saturate instead of wrapping; anything above hi is refused below. */
		if (v <= hi)
			v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s != '\0' || v < lo || v > hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int
parse_uint(struct cfg_parser *p, const char *key, const char *val, uint32_t lo, uint32_t hi,
	   uint32_t *out)
{
	if (!read_uint(val, lo, hi, out))
		return key_fail(p, key, val, "must be an integer in %u..%u", lo, hi);
	return 0;
}

static int
parse_u16(struct cfg_parser *p, const char *key, const char *val, uint16_t lo, uint16_t hi,
	  uint16_t *out)
{
	uint32_t v;
	int rc;

	rc = parse_uint(p, key, val, lo, hi, &v);
	if (rc == 0)
		*out = (uint16_t)v;
	return rc;
}

static int
parse_ring_size(struct cfg_parser *p, const char *key, const char *val, uint16_t *out)
{
	uint32_t v;

	/* One message for both failures: the operator needs the whole rule either way. */
	if (!read_uint(val, FWD_RING_SIZE_MIN, FWD_RING_SIZE_MAX, &v) || (v & (v - 1)) != 0)
		return key_fail(p, key, val, "must be a power of two in %u..%u",
				FWD_RING_SIZE_MIN, FWD_RING_SIZE_MAX);
	*out = (uint16_t)v;
	return 0;
}

static int
parse_bool(struct cfg_parser *p, const char *key, const char *val, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(val, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(val, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return key_fail(p, key, val, "must be on, off, yes, no, true, false, 1 or 0");
}

static int
parse_name(struct cfg_parser *p, const char *key, const char *val, char *out)
{
	size_t len = strlen(val);

	if (!valid_name(val, len, true))
		return key_fail(p, key, val, "must be 1..%d characters of A-Z a-z 0-9 _ -",
				FWD_NAME_MAX - 1);
	memcpy(out, val, len + 1);
	return 0;
}

static void
skip_blanks(const char **s)
{
	while (**s == ' ' || **s == '\t')
		(*s)++;
}

/* Reads one decimal number, saturating at ULONG_MAX; false if there is no digit. */
static bool
read_dec(const char **s, unsigned long *out)
{
	unsigned long v = 0;

	if (!isdigit((unsigned char)**s))
		return false;
	for (; isdigit((unsigned char)**s); (*s)++) {
		unsigned int d = (unsigned int)(**s - '0');

		v = v > (ULONG_MAX - d) / 10 ? ULONG_MAX : v * 10 + d;
	}
	*out = v;
	return true;
}

/*
 * The CPUs this process may run on. sched_getaffinity() fails with EINVAL when the
 * kernel's mask is wider than ours, so grow until it fits.
 */
static cpu_set_t *
get_affinity(size_t *setsize)
{
	for (int ncpus = CPU_SETSIZE; ncpus <= (1 << 20); ncpus *= 2) {
		cpu_set_t *set = CPU_ALLOC(ncpus);
		int err;

		if (set == NULL)
			return NULL;
		*setsize = CPU_ALLOC_SIZE(ncpus);
		if (sched_getaffinity(0, *setsize, set) == 0)
			return set;
		err = errno;
		CPU_FREE(set);
		if (err != EINVAL) {
			errno = err;
			return NULL;
		}
	}
	errno = EINVAL;
	return NULL;
}

static int
check_lcores_affinity(struct cfg_parser *p, const char *key, const char *val)
{
	struct fwd_config *cfg = p->cfg;
	size_t setsize;
	cpu_set_t *allowed;
	int rc = 0;

	allowed = get_affinity(&setsize);
	if (allowed == NULL)
		return cfg_fail(p, p->section_text, key, NULL,
				"cannot read this process's CPU affinity: %s", strerror(errno));
	for (unsigned int i = 0; i < cfg->n_lcores; i++) {
		if (!CPU_ISSET_S(cfg->lcores[i], setsize, allowed)) {
			rc = key_fail(p, key, val,
				      "CPU %u is not in this process's CPU affinity set "
				      "(see taskset and the cgroup cpuset)", cfg->lcores[i]);
			break;
		}
	}
	CPU_FREE(allowed);
	return rc;
}

/* "0,1" or "0,2-5": the first CPU runs the control thread, the others run workers. */
static int
parse_lcores(struct cfg_parser *p, const char *key, const char *val)
{
	struct fwd_config *cfg = p->cfg;
	const char *s = val;
	cpu_set_t listed;

	CPU_ZERO(&listed);
	cfg->n_lcores = 0;
	for (;;) {
		unsigned long lo, hi;

		skip_blanks(&s);
		if (!read_dec(&s, &lo))
			goto syntax;
		hi = lo;
		skip_blanks(&s);
		if (*s == '-') {
			s++;
			skip_blanks(&s);
			if (!read_dec(&s, &hi))
				goto syntax;
			skip_blanks(&s);
		}
		if (lo >= CPU_SETSIZE || hi >= CPU_SETSIZE)
			return key_fail(p, key, val, "CPU ids must be 0..%d", CPU_SETSIZE - 1);
		if (hi < lo)
			return key_fail(p, key, val, "range %lu-%lu runs backwards", lo, hi);
		for (unsigned long c = lo; c <= hi; c++) {
			if (CPU_ISSET(c, &listed))
				return key_fail(p, key, val, "CPU %lu is listed twice", c);
			if (cfg->n_lcores == FWD_MAX_LCORES)
				return key_fail(p, key, val, "at most %d CPUs", FWD_MAX_LCORES);
			CPU_SET(c, &listed);
			cfg->lcores[cfg->n_lcores++] = (unsigned int)c;
		}
		if (*s == '\0')
			break;
		if (*s != ',')
			goto syntax;
		s++;
	}
	if (cfg->n_lcores < 2)
		return key_fail(p, key, val,
				"needs at least 2 CPUs: a control thread and at least one worker");
	return check_lcores_affinity(p, key, val);
syntax:
	return key_fail(p, key, val, "must be a comma separated list of CPU ids and ranges, "
			"e.g. 0,2-5");
}

/* True if @arg (one whitespace separated word of `eal`) sets an option vfrelay owns. */
static bool
eal_arg_is_owned(const char *arg)
{
	if (arg[0] != '-')
		return false;
	if (arg[1] == '-') {
		size_t len = strcspn(arg, "=");

		if (len <= 2)
			return false;
		/*
		 * EAL parses with getopt_long(), which also accepts any unambiguous prefix
		 * ("--file-pre=x"), so a prefix of an owned option counts as that option.
		 */
		for (size_t i = 0; i < ARRAY_SIZE(eal_owned_long); i++) {
			if (len <= strlen(eal_owned_long[i]) &&
			    strncmp(arg, eal_owned_long[i], len) == 0)
				return true;
		}
		return false;
	}
	/*
	 * getopt reads "-vl0-1" as -v then -l 0-1: walk the cluster up to the first option
	 * that takes an argument ("-l 0-3" and "-l0-3" alike).
	 */
	for (const char *c = arg + 1; *c != '\0'; c++) {
		if (strchr(eal_owned_short, *c) != NULL)
			return true;
		if (strchr(eal_short_with_arg, *c) != NULL)
			return false;
	}
	return false;
}

static int
parse_eal(struct cfg_parser *p, const char *key, const char *val)
{
	size_t len = strlen(val);
	const char *s = val;

	if (len >= FWD_EAL_ARGS_MAX)
		return key_fail(p, key, val, "must be at most %d characters", FWD_EAL_ARGS_MAX - 1);
	while (*s != '\0') {
		char arg[FWD_EAL_ARGS_MAX];
		size_t n;

		while (isspace((unsigned char)*s))
			s++;
		n = strcspn(s, " \t\r\n\v\f");
		if (n == 0)
			break;
		memcpy(arg, s, n);
		arg[n] = '\0';
		if (eal_arg_is_owned(arg))
			return key_fail(p, key, val, "'%s' is managed by vfrelay and must not be "
					"set here", arg);
		s += n;
	}
	memcpy(p->cfg->eal, val, len + 1);
	return 0;
}

static int
parse_vf(struct cfg_parser *p, const char *key, const char *val, char *out)
{
	size_t len = strlen(val);

	if (len >= FWD_DEVARGS_MAX)
		return key_fail(p, key, val, "must be at most %d characters", FWD_DEVARGS_MAX - 1);
	for (size_t i = 0; i < len; i++) {
		if (isspace((unsigned char)val[i]))
			return key_fail(p, key, val, "must not contain whitespace");
	}
	memcpy(out, val, len + 1);
	return 0;
}

/*
 * What can be known before the socket exists: librte_vhost needs an absolute path that
 * fits sun_path in an existing directory. Something other than a socket at that path is
 * a typo or someone else's file, never a socket left by an earlier run, and bind() or
 * connect() would only fail later with a vaguer error.
 */
static int
parse_vhost(struct cfg_parser *p, const char *key, const char *val, char *out)
{
	char dir[FWD_SOCKET_PATH_MAX];
	size_t len = strlen(val);
	struct stat st;
	char *slash;

	if (val[0] != '/')
		return key_fail(p, key, val, "must be an absolute path");
	if (len >= FWD_SOCKET_PATH_MAX)
		return key_fail(p, key, val, "must be at most %d characters to fit sun_path",
				FWD_SOCKET_PATH_MAX - 1);
	memcpy(dir, val, len + 1);
	slash = strrchr(dir, '/');
	slash[slash == dir ? 1 : 0] = '\0';
	if (stat(dir, &st) != 0)
		return key_fail(p, key, val, "directory '%s' is not usable: %s", dir,
				strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return key_fail(p, key, val, "'%s' is not a directory", dir);
	if (stat(val, &st) == 0 && !S_ISSOCK(st.st_mode))
		return key_fail(p, key, val, "exists and is not a socket");
	memcpy(out, val, len + 1);
	return 0;
}

static int
parse_vhost_mode(struct cfg_parser *p, const char *key, const char *val,
		 enum fwd_vhost_mode *out)
{
	if (strcmp(val, "client") == 0)
		*out = FWD_VHOST_CLIENT;
	else if (strcmp(val, "server") == 0)
		*out = FWD_VHOST_SERVER;
	else
		return key_fail(p, key, val, "must be client or server");
	return 0;
}

static int
parse_zero_copy(struct cfg_parser *p, const char *key, const char *val, enum fwd_zero_copy *out)
{
	enum fwd_zero_copy zc;

	if (strcmp(val, "auto") == 0)
		zc = FWD_ZC_AUTO;
	else if (strcmp(val, "on") == 0)
		zc = FWD_ZC_ON;
	else if (strcmp(val, "off") == 0)
		zc = FWD_ZC_OFF;
	else
		return key_fail(p, key, val, "must be auto, on or off");
	*out = zc;
	return 0;
}

/* A user or group by name, or a number; resolved now so a typo fails the check. */
static int
parse_owner(struct cfg_parser *p, const char *key, const char *val, bool group, uint32_t *out)
{
	char buf[4096];
	uint32_t id;
	int rc;

	if (read_uint(val, 0, UINT32_MAX - 1, &id)) {
		*out = id;
		return 0;
	}
	if (group) {
		struct group gr, *res = NULL;

		rc = getgrnam_r(val, &gr, buf, sizeof(buf), &res);
		if (res != NULL) {
			*out = (uint32_t)gr.gr_gid;
			return 0;
		}
	} else {
		struct passwd pw, *res = NULL;

		rc = getpwnam_r(val, &pw, buf, sizeof(buf), &res);
		if (res != NULL) {
			*out = (uint32_t)pw.pw_uid;
			return 0;
		}
	}
	if (rc != 0)
		return key_fail(p, key, val, "cannot look it up: %s", strerror(rc));
	return key_fail(p, key, val, "no such %s", group ? "group" : "user");
}

/* Octal permission bits. Connecting needs write permission, so o+w would admit any user. */
static int
parse_socket_mode(struct cfg_parser *p, const char *key, const char *val, mode_t *out)
{
	unsigned int mode = 0;
	const char *s = val;

	for (; *s >= '0' && *s <= '7'; s++) {
		mode = mode * 8 + (unsigned int)(*s - '0');
		if (mode > 0777)
			break;
	}
	if (*s != '\0' || s == val || mode > 0777)
		return key_fail(p, key, val, "must be octal permission bits, e.g. 0660");
	if (mode & 0002)
		return key_fail(p, key, val, "must not let every user connect (o+w)");
	if (!(mode & 0200))
		return key_fail(p, key, val, "must let the owner connect (u+w)");
	*out = (mode_t)mode;
	return 0;
}

/* -- sections (seen by the line reader) and keys (seen by the inih handler) ------------- */

static int
lookup_key(const char *const *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i], name) == 0)
			return (int)i;
	}
	return -1;
}

/* A "[name]" header; @name is not NUL terminated. */
static int
section_open(struct cfg_parser *p, const char *name, size_t len)
{
	struct fwd_config *cfg = p->cfg;
	char text[FWD_INI_MAX_LINE];
	const char *rname = text + RELAY_PREFIX_LEN;

	memcpy(text, name, len);
	text[len] = '\0';

	if (strcmp(text, "vfrelay") == 0) {
		if (p->vfrelay_seen)
			return cfg_fail(p, text, NULL, NULL, "duplicate section");
		p->vfrelay_seen = true;
		p->section = SECTION_VFRELAY;
		p->relay = NULL;
		strcpy(p->section_text, "vfrelay");
		return 0;
	}
	if (strcmp(text, "relay") == 0)
		return cfg_fail(p, text, NULL, NULL,
				"relay section needs a name, e.g. [relay net0]");
	if (strncmp(text, RELAY_PREFIX, RELAY_PREFIX_LEN) != 0)
		return cfg_fail(p, text, NULL, NULL,
				"unknown section, expected [vfrelay] or [relay NAME]");

	/* No '-': relay names are DPDK telemetry dict keys, which allow only [A-Za-z0-9_/]. */
	if (!valid_name(rname, strlen(rname), false))
		return cfg_fail(p, text, NULL, rname,
				"relay name must be 1..%d characters of A-Z a-z 0-9 _",
				FWD_NAME_MAX - 1);
	for (unsigned int i = 0; i < cfg->n_relays; i++) {
		if (strcmp(cfg->relays[i].name, rname) == 0)
			return cfg_fail(p, text, NULL, NULL, "duplicate section");
	}
	if (cfg->n_relays == FWD_MAX_RELAYS)
		return cfg_fail(p, text, NULL, NULL, "too many relays, at most %d",
				FWD_MAX_RELAYS);
	p->relay = &cfg->relays[cfg->n_relays++];
	strcpy(p->relay->name, rname);
	p->section = SECTION_RELAY;
	strcpy(p->section_text, text);
	return 0;
}

static bool
is_comment_char(char c)
{
	return c == ';' || c == '#';
}

/*
 * Opens the section if @line is a header, finding the header exactly as inih does
 * (']' before any inline comment). Lines inih will call a syntax error are left to it.
 */
static int
observe_line(struct cfg_parser *p, const char *line)
{
	const char *s = line, *end;
	bool was_space = false;

	if (p->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3; /* UTF-8 BOM, skipped by inih too */
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
		return 0;
	/* inih ignores text after ']'; "[vfrelay] name = x" would lose the key silently. */
	for (const char *t = end + 1; *t != '\0' && !is_comment_char(*t); t++) {
		if (!isspace((unsigned char)*t))
			return line_fail(p, "syntax error: text after section header");
	}
	return section_open(p, s + 1, (size_t)(end - (s + 1)));
}

/* fgets() over the string source. */
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
source_at_eof(struct cfg_parser *p)
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

/* ini_reader: hands inih one line at a time, seeing every line before inih parses it. */
static char *
cfg_reader(char *buf, int size, void *stream)
{
	struct cfg_parser *p = stream;
	char *line;
	size_t len;

	if (p->failed)
		return NULL; /* ends ini_parse_stream(); the first error stands */
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

static int
vfrelay_key(struct cfg_parser *p, enum vfrelay_key k, const char *key, const char *val)
{
	struct fwd_config *cfg = p->cfg;

	switch (k) {
	case VK_NAME:
		return parse_name(p, key, val, cfg->name);
	case VK_LCORES:
		return parse_lcores(p, key, val);
	case VK_EAL:
		return parse_eal(p, key, val);
	case VK_IDLE:
		if (p->vfrelay_keys_seen & (1u << VK_IDLE_BACKOFF))
			return key_fail(p, key, val, "conflicts with idle_backoff, its old "
					"spelling: keep only idle");
		if (strcmp(val, "event") == 0)
			cfg->idle = FWD_IDLE_EVENT;
		else if (strcmp(val, "backoff") == 0)
			cfg->idle = FWD_IDLE_BACKOFF;
		else if (strcmp(val, "poll") == 0)
			cfg->idle = FWD_IDLE_POLL;
		else
			return key_fail(p, key, val, "must be event, backoff or poll");
		return 0;
	case VK_IDLE_BACKOFF: {
		/* The old key: on meant "sleep when idle", which the default now does better. */
		bool on = true;
		int rc;

		if (p->vfrelay_keys_seen & (1u << VK_IDLE))
			return key_fail(p, key, val, "conflicts with idle, which replaces it: keep "
					"only idle");
		rc = parse_bool(p, key, val, &on);
		if (rc == 0)
			cfg->idle = on ? FWD_IDLE_EVENT : FWD_IDLE_POLL;
		return rc;
	}
	case VK_IDLE_SLEEP_MAX_US:
		return parse_uint(p, key, val, 1, FWD_IDLE_SLEEP_MAX_US_MAX,
				  &cfg->idle_sleep_max_us);
	case VK_BURST:
		return parse_u16(p, key, val, 1, FWD_BURST_MAX, &cfg->burst);
	case VK_TX_RETRIES:
		return parse_u16(p, key, val, 0, FWD_TX_RETRIES_MAX, &cfg->tx_retries);
	case VK__COUNT:
		break;
	}
	return -EINVAL;
}

static int
relay_key(struct cfg_parser *p, enum relay_key k, const char *key, const char *val)
{
	struct fwd_relay_config *r = p->relay;

	switch (k) {
	case RK_VF:
		return parse_vf(p, key, val, r->vf);
	case RK_VHOST:
		return parse_vhost(p, key, val, r->vhost);
	case RK_VHOST_MODE:
		return parse_vhost_mode(p, key, val, &r->vhost_mode);
	case RK_QUEUES:
		return parse_u16(p, key, val, 1, FWD_MAX_QUEUES, &r->queues);
	case RK_ZERO_COPY:
		return parse_zero_copy(p, key, val, &r->zero_copy);
	case RK_MTU:
		return parse_u16(p, key, val, FWD_MTU_MIN, FWD_MTU_MAX, &r->mtu);
	case RK_RX_RING_SIZE:
		return parse_ring_size(p, key, val, &r->rx_ring_size);
	case RK_TX_RING_SIZE:
		return parse_ring_size(p, key, val, &r->tx_ring_size);
	case RK_SOCKET_USER:
		return parse_owner(p, key, val, false, (uint32_t *)&r->socket_uid);
	case RK_SOCKET_GROUP:
		return parse_owner(p, key, val, true, (uint32_t *)&r->socket_gid);
	case RK_SOCKET_MODE:
		return parse_socket_mode(p, key, val, &r->socket_mode);
	case RK_ZERO_COPY_UNKNOWN_VF:
		if (strcmp(val, "off") == 0)
			r->zero_copy_unknown_vf = FWD_ZC_UNKNOWN_OFF;
		else if (strcmp(val, "port-stop") == 0)
			r->zero_copy_unknown_vf = FWD_ZC_UNKNOWN_PORT_STOP;
		else
			return key_fail(p, key, val, "must be off or port-stop");
		return 0;
	case RK__COUNT:
		break;
	}
	return -EINVAL;
}

/* ini_handler: one "key = value"; @section is ignored, the reader tracked it already. */
static int
cfg_handler(void *user, const char *section, const char *key, const char *val)
{
	struct cfg_parser *p = user;
	const char *const *keys;
	uint32_t *seen;
	size_t n_keys;
	int k, rc;

	(void)section;
	if (p->failed)
		return 0;
	if (key[0] == '\0') {
		line_fail(p, "syntax error: no key before '='");
		return 0;
	}
	switch (p->section) {
	case SECTION_VFRELAY:
		keys = vfrelay_keys;
		n_keys = ARRAY_SIZE(vfrelay_keys);
		seen = &p->vfrelay_keys_seen;
		break;
	case SECTION_RELAY:
		keys = relay_keys;
		n_keys = ARRAY_SIZE(relay_keys);
		seen = &p->relay_keys_seen[p->relay - p->cfg->relays];
		break;
	case SECTION_NONE:
	default:
		cfg_fail(p, NULL, key, val, "key outside any section, put it under [vfrelay] or "
			 "[relay NAME]");
		return 0;
	}

	k = lookup_key(keys, n_keys, key);
	if (k < 0) {
		key_fail(p, key, val, "unknown key");
		return 0;
	}
	if (*seen & (1u << k)) {
		key_fail(p, key, val, "duplicate key");
		return 0;
	}
	*seen |= 1u << k;
	if (val[0] == '\0') {
		key_fail(p, key, NULL, "value is empty");
		return 0;
	}
	if (p->section == SECTION_VFRELAY)
		rc = vfrelay_key(p, (enum vfrelay_key)k, key, val);
	else
		rc = relay_key(p, (enum relay_key)k, key, val);
	return rc == 0;
}

/* -- whole-file rules, once every key is known --------------------------------------- */

static int
check_required(struct cfg_parser *p)
{
	static const enum vfrelay_key vfrelay_required[] = { VK_NAME, VK_LCORES };
	static const enum relay_key relay_required[] = { RK_VF, RK_VHOST };
	struct fwd_config *cfg = p->cfg;

	for (size_t i = 0; i < ARRAY_SIZE(vfrelay_required); i++) {
		enum vfrelay_key k = vfrelay_required[i];

		if (!(p->vfrelay_keys_seen & (1u << k)))
			return cfg_fail(p, "vfrelay", vfrelay_keys[k], NULL,
					"required key is missing");
	}
	if (cfg->n_relays == 0)
		return cfg_fail(p, NULL, NULL, NULL,
				"no [relay NAME] section, at least one is required");
	for (unsigned int r = 0; r < cfg->n_relays; r++) {
		static const enum relay_key server_only[] = { RK_SOCKET_USER, RK_SOCKET_GROUP,
							      RK_SOCKET_MODE };
		char section[sizeof(p->section_text)];

		if (cfg->relays[r].vhost_mode == FWD_VHOST_SERVER)
			continue;
		snprintf(section, sizeof(section), RELAY_PREFIX "%s", cfg->relays[r].name);
		for (size_t i = 0; i < ARRAY_SIZE(server_only); i++)
			if (p->relay_keys_seen[r] & (1u << server_only[i]))
				return cfg_fail(p, section, relay_keys[server_only[i]], NULL,
						"only for vhost_mode = server (in client mode QEMU "
						"owns the socket)");
	}
	for (unsigned int r = 0; r < cfg->n_relays; r++) {
		for (size_t i = 0; i < ARRAY_SIZE(relay_required); i++) {
			enum relay_key k = relay_required[i];
			char section[sizeof(p->section_text)];

			if (p->relay_keys_seen[r] & (1u << k))
				continue;
			snprintf(section, sizeof(section), RELAY_PREFIX "%s", cfg->relays[r].name);
			return cfg_fail(p, section, relay_keys[k], NULL, "required key is missing");
		}
	}
	return 0;
}

/* Two relays on one VF or one socket would fight over it; name the later one. */
static int
check_unique(struct cfg_parser *p)
{
	struct fwd_config *cfg = p->cfg;

	for (unsigned int i = 1; i < cfg->n_relays; i++) {
		const struct fwd_relay_config *r = &cfg->relays[i];
		char section[sizeof(p->section_text)];

		snprintf(section, sizeof(section), RELAY_PREFIX "%s", r->name);
		for (unsigned int j = 0; j < i; j++) {
			const struct fwd_relay_config *o = &cfg->relays[j];

			if (strcmp(r->vf, o->vf) == 0)
				return cfg_fail(p, section, "vf", r->vf,
						"already used by [relay %s]", o->name);
			if (strcmp(r->vhost, o->vhost) == 0)
				return cfg_fail(p, section, "vhost", r->vhost,
						"already used by [relay %s]", o->name);
		}
	}
	return 0;
}

/* -- inih settings --------------------------------------------------------------------- */

/*
 * Debian's libinih exposes its compile-time options as variables. Set the ones our format
 * depends on for the duration of one parse and put the previous values back, so that
 * another inih user in the process is not surprised. Config loading runs once, on the
 * control thread, before any other thread exists.
 */
struct ini_settings {
	bool allow_multiline;
	bool allow_inline_comments;
	char *inline_comment_prefixes;
	char *start_comment_prefixes;
	bool stop_on_first_error;
	bool use_stack;
	int max_line;
	bool allow_no_value;
};

static char fwd_comment_prefixes[] = ";#";

static void
ini_settings_apply(struct ini_settings *saved)
{
	*saved = (struct ini_settings){
		.allow_multiline = ini_allow_multiline,
		.allow_inline_comments = ini_allow_inline_comments,
		.inline_comment_prefixes = ini_inline_comment_prefixes,
		.start_comment_prefixes = ini_start_comment_prefixes,
		.stop_on_first_error = ini_stop_on_first_error,
		.use_stack = ini_use_stack,
		.max_line = ini_max_line,
		.allow_no_value = ini_allow_no_value,
	};
	/* An indented line would otherwise continue the previous value. */
	ini_allow_multiline = false;
	ini_allow_inline_comments = true;
	ini_inline_comment_prefixes = fwd_comment_prefixes;
	ini_start_comment_prefixes = fwd_comment_prefixes;
	ini_stop_on_first_error = true;
	/* A stack line buffer of ini_max_line bytes; the heap variant is not needed. */
	ini_use_stack = true;
	ini_max_line = FWD_INI_MAX_LINE;
	/* "key" without "=" is a syntax error, not a key with no value. */
	ini_allow_no_value = false;
}

static void
ini_settings_restore(const struct ini_settings *saved)
{
	ini_allow_multiline = saved->allow_multiline;
	ini_allow_inline_comments = saved->allow_inline_comments;
	ini_inline_comment_prefixes = saved->inline_comment_prefixes;
	ini_start_comment_prefixes = saved->start_comment_prefixes;
	ini_stop_on_first_error = saved->stop_on_first_error;
	ini_use_stack = saved->use_stack;
	ini_max_line = saved->max_line;
	ini_allow_no_value = saved->allow_no_value;
}

/* -- entry points ---------------------------------------------------------------------- */

static int
cfg_parse(struct cfg_parser *p)
{
	struct ini_settings saved;
	int line;

	fwd_config_defaults(p->cfg);
	if (p->err != NULL && p->errlen > 0)
		p->err[0] = '\0';

	ini_settings_apply(&saved);
	line = ini_parse_stream(cfg_reader, p, cfg_handler, p);
	ini_settings_restore(&saved);

	if (!p->failed && line > 0) {
		p->lineno = line;
		line_fail(p, "syntax error");
	}
	if (!p->failed && p->read_errno != 0) {
		err_begin(p);
		err_add(p, "%s: cannot read: %s", p->origin, strerror(p->read_errno));
		fwd_config_defaults(p->cfg);
		return -p->read_errno;
	}
	if (!p->failed && line < 0) {
		/* Only -2, out of memory, which our stack line buffer rules out. */
		err_begin(p);
		err_add(p, "%s: cannot parse: %s", p->origin, strerror(ENOMEM));
		fwd_config_defaults(p->cfg);
		return -ENOMEM;
	}
	if (!p->failed)
		check_required(p);
	if (!p->failed)
		check_unique(p);
	if (p->failed) {
		/* Nobody should run on a half-read config. */
		fwd_config_defaults(p->cfg);
		return -EINVAL;
	}
	return 0;
}

int
fwd_config_parse_string(const char *text, const char *origin, struct fwd_config *cfg,
			char *err, size_t errlen)
{
	struct cfg_parser p = {
		.cfg = cfg,
		.origin = origin,
		.err = err,
		.errlen = errlen,
		.text = text,
	};

	return cfg_parse(&p);
}

int
fwd_config_load(const char *path, struct fwd_config *cfg, char *err, size_t errlen)
{
	struct cfg_parser p = {
		.cfg = cfg,
		.origin = path,
		.err = err,
		.errlen = errlen,
	};
	int rc;

	p.file = fopen(path, "r");
	if (p.file == NULL) {
		rc = -errno;
		fwd_config_defaults(cfg);
		err_begin(&p);
		err_add(&p, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	rc = cfg_parse(&p);
	fclose(p.file);
	return rc;
}

void
fwd_config_defaults(struct fwd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->idle = FWD_IDLE_EVENT;
	cfg->idle_sleep_max_us = FWD_DEFAULT_IDLE_SLEEP_MAX_US;
	cfg->burst = FWD_DEFAULT_BURST;
	cfg->tx_retries = FWD_DEFAULT_TX_RETRIES;
	for (unsigned int i = 0; i < FWD_MAX_RELAYS; i++) {
		struct fwd_relay_config *r = &cfg->relays[i];

		r->vhost_mode = FWD_VHOST_CLIENT;
		r->zero_copy = FWD_ZC_AUTO;
		r->queues = 1;
		r->mtu = FWD_DEFAULT_MTU;
		r->rx_ring_size = FWD_DEFAULT_RING_SIZE;
		r->tx_ring_size = FWD_DEFAULT_RING_SIZE;
		r->socket_uid = (uid_t)-1;
		r->socket_gid = (gid_t)-1;
		r->socket_mode = FWD_DEFAULT_SOCKET_MODE;
	}
}

const char *
fwd_vhost_mode_str(enum fwd_vhost_mode mode)
{
	switch (mode) {
	case FWD_VHOST_CLIENT:
		return "client";
	case FWD_VHOST_SERVER:
		return "server";
	}
	return "unknown";
}

const char *
fwd_idle_mode_str(enum fwd_idle_mode mode)
{
	switch (mode) {
	case FWD_IDLE_EVENT:
		return "event";
	case FWD_IDLE_BACKOFF:
		return "backoff";
	case FWD_IDLE_POLL:
		return "poll";
	}
	return "unknown";
}

const char *
fwd_zero_copy_str(enum fwd_zero_copy zc)
{
	switch (zc) {
	case FWD_ZC_AUTO:
		return "auto";
	case FWD_ZC_ON:
		return "on";
	case FWD_ZC_OFF:
		return "off";
	}
	return "unknown";
}
