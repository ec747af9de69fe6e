/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The configuration parser (forwarder/fwd_config.c) on any text.
 *
 * The input is the INI text itself, so seeds are plain config files; an input whose first byte
 * is below 0x08 uses that byte to pick the size of the error buffer instead (none, 1, 2, 40 or
 * 200 bytes: truncation must stay inside the buffer), otherwise it is large enough for any
 * message. Checked:
 * - the result is 0 or -EINVAL, and the error buffer is NUL-terminated inside its size;
 * - on success, every field of struct fwd_config is in the range include/vfrelay/config.h
 *   documents, strings are terminated and valid, relays are unique, and no word of `eal` is an
 *   EAL option vfrelay owns as EAL's getopt_long() would read it (a small model of GNU getopt
 *   over the words main.c passes);
 * - on failure, the struct is back to its defaults (nobody runs on a half-read config) and the
 *   message is one line in one of the documented forms, naming the origin and a key, a
 *   section or a line; a key it names is one the parser knows or one the text contains.
 */

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vfrelay/config.h>

#include "fuzz_input.h"

#define ORIGIN "fuzz.ini"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const known_keys[] = {
	"name",	  "lcores",	"eal", "idle_backoff", "idle_sleep_max_us",
	"burst",  "tx_retries", "vf",  "vhost",	       "vhost_mode",
	"queues", "zero_copy",	"mtu", "rx_ring_size", "tx_ring_size",
};

static struct fwd_config defaults;
static cpu_set_t affinity;

static bool
terminated(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

static bool
name_ok(const char *s, bool dash_ok)
{
	size_t len = strnlen(s, FWD_NAME_MAX);

	if (len == 0 || len >= FWD_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || (dash_ok && c == '-')))
			return false;
	}
	return true;
}

/* ---- EAL's view of the `eal` words ---- */

/* EAL 22.11 long options (lib/eal/common/eal_common_options.c): name, takes a required arg. */
static const struct {
	const char *name;
	bool arg;
} eal_long[] = {
	{"base-virtaddr", true},
	{"create-uio-dev", false},
	{"file-prefix", true},
	{"help", false},
	{"huge-dir", true},
	{"huge-unlink", false},
	{"iova-mode", true},
	{"lcores", true},
	{"log-level", true},
	{"trace", true},
	{"trace-dir", true},
	{"trace-bufsz", true},
	{"trace-mode", true},
	{"main-lcore", true},
	{"mbuf-pool-ops-name", true},
	{"no-hpet", false},
	{"no-huge", false},
	{"no-pci", false},
	{"no-shconf", false},
	{"in-memory", false},
	{"block", true},
	{"allow", true},
	{"proc-type", true},
	{"socket-mem", true},
	{"socket-limit", true},
	{"syslog", true},
	{"vdev", true},
	{"vfio-intr", true},
	{"vfio-vf-token", true},
	{"vmware-tsc-map", false},
	{"legacy-mem", false},
	{"single-file-segments", false},
	{"match-allocations", false},
	{"telemetry", false},
	{"no-telemetry", false},
	{"force-max-simd-bitwidth", true},
	{"huge-worker-stack", false},
};
/* The options vfrelay derives from its own keys (fwd_config.c's policy). */
static const char *const owned_long[] = {"file-prefix", "lcores", "main-lcore", "proc-type",
					 "in-memory"};
static const char short_with_arg[] = "abcsdlSmnr";
static const char short_flag[] = "hv";
static const char owned_short[] = "lc";

/* The long option @name (up to '=') resolves to, as getopt_long() does: exact or unique prefix. */
static int
eal_long_lookup(const char *name, size_t len)
{
	int found = -1;

	for (size_t i = 0; i < sizeof(eal_long) / sizeof(eal_long[0]); i++) {
		if (strncmp(eal_long[i].name, name, len) != 0)
			continue;
		if (strlen(eal_long[i].name) == len)
			return (int)i;
		if (found >= 0)
			return -2; /* ambiguous: EAL fails, nothing is overridden */
		found = (int)i;
	}
	return found;
}

/*
 * Does EAL, given the words main.c builds (split on blanks and tabs), see an option vfrelay
 * owns? GNU getopt permutes: words that are not options are skipped, "--" ends the options, an
 * option's argument is the rest of its word or the next word. Parsing errors end it (EAL fails
 * to start: nothing is silently overridden).
 */
static const char *
eal_owned_word(const char *eal, char *word_out, size_t out_len)
{
	char buf[FWD_EAL_ARGS_MAX];
	char *words[FWD_EAL_ARGS_MAX];
	size_t n = 0;
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", eal);
	for (char *t = strtok_r(buf, " \t", &save); t != NULL; t = strtok_r(NULL, " \t", &save))
		words[n++] = t;
	for (size_t i = 0; i < n; i++) {
		const char *w = words[i];

		if (w[0] != '-' || w[1] == '\0')
			continue;
		if (strcmp(w, "--") == 0)
			return NULL;
		if (w[1] == '-') {
			size_t len = strcspn(w + 2, "=");
			int k = eal_long_lookup(w + 2, len);

			if (k < 0)
				return NULL;
			for (size_t o = 0; o < sizeof(owned_long) / sizeof(owned_long[0]); o++) {
				if (strcmp(eal_long[k].name, owned_long[o]) == 0) {
					snprintf(word_out, out_len, "%s", w);
					return word_out;
				}
			}
			if (eal_long[k].arg && w[2 + len] != '=')
				i++;
			continue;
		}
		for (const char *c = w + 1; *c != '\0'; c++) {
			if (strchr(owned_short, *c) != NULL) {
				snprintf(word_out, out_len, "%s", w);
				return word_out;
			}
			if (strchr(short_with_arg, *c) != NULL) {
				if (c[1] == '\0')
					i++; /* the argument is the next word */
				break;
			}
			if (strchr(short_flag, *c) == NULL)
				return NULL; /* unknown option */
		}
	}
	return NULL;
}

/* ---- checks ---- */

static void
check_success(const struct fwd_config *c)
{
	char word[FWD_EAL_ARGS_MAX];
	cpu_set_t seen;

	FUZZ_CHECK(name_ok(c->name, true), "instance name '%.*s'", FWD_NAME_MAX, c->name);
	FUZZ_CHECK(c->n_lcores >= 2 && c->n_lcores <= FWD_MAX_LCORES, "n_lcores %u", c->n_lcores);
	CPU_ZERO(&seen);
	for (unsigned int i = 0; i < c->n_lcores; i++) {
		FUZZ_CHECK(c->lcores[i] < CPU_SETSIZE, "lcore %u", c->lcores[i]);
		FUZZ_CHECK(!CPU_ISSET(c->lcores[i], &seen), "lcore %u twice", c->lcores[i]);
		FUZZ_CHECK(CPU_ISSET(c->lcores[i], &affinity), "lcore %u not in affinity",
			   c->lcores[i]);
		CPU_SET(c->lcores[i], &seen);
	}
	for (unsigned int i = c->n_lcores; i < FWD_MAX_LCORES; i++)
		FUZZ_CHECK(c->lcores[i] == 0, "lcores[%u] = %u past n_lcores", i, c->lcores[i]);
	FUZZ_CHECK(terminated(c->eal, sizeof(c->eal)), "eal not terminated");
	FUZZ_CHECK(eal_owned_word(c->eal, word, sizeof(word)) == NULL,
		   "eal '%s': EAL reads '%s' as an option vfrelay sets itself", c->eal, word);
	FUZZ_CHECK(c->idle_sleep_max_us >= 1 && c->idle_sleep_max_us <= 100000,
		   "idle_sleep_max_us %u", c->idle_sleep_max_us);
	FUZZ_CHECK(c->burst >= 1 && c->burst <= 64, "burst %u", c->burst);
	FUZZ_CHECK(c->tx_retries <= 64, "tx_retries %u", c->tx_retries);
	FUZZ_CHECK(c->n_relays >= 1 && c->n_relays <= FWD_MAX_RELAYS, "n_relays %u", c->n_relays);
	for (unsigned int i = 0; i < c->n_relays; i++) {
		const struct fwd_relay_config *r = &c->relays[i];
		size_t vlen;

		/* Relay names are telemetry dict keys: no '-'. */
		FUZZ_CHECK(name_ok(r->name, false), "relay name '%.*s'", FWD_NAME_MAX, r->name);
		FUZZ_CHECK(terminated(r->vf, sizeof(r->vf)) && r->vf[0] != '\0', "relay %s: vf",
			   r->name);
		for (const char *s = r->vf; *s != '\0'; s++)
			FUZZ_CHECK(*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' &&
					   *s != '\v' && *s != '\f',
				   "relay %s: vf '%s' has whitespace", r->name, r->vf);
		vlen = strnlen(r->vhost, sizeof(r->vhost));
		FUZZ_CHECK(vlen < sizeof(r->vhost) && r->vhost[0] == '/', "relay %s: vhost '%.*s'",
			   r->name, (int)sizeof(r->vhost), r->vhost);
		FUZZ_CHECK(r->vhost_mode == FWD_VHOST_CLIENT || r->vhost_mode == FWD_VHOST_SERVER,
			   "relay %s: vhost_mode %d", r->name, r->vhost_mode);
		FUZZ_CHECK(r->zero_copy == FWD_ZC_AUTO || r->zero_copy == FWD_ZC_ON ||
				   r->zero_copy == FWD_ZC_OFF,
			   "relay %s: zero_copy %d", r->name, r->zero_copy);
		FUZZ_CHECK(r->zero_copy_unknown_vf == FWD_ZC_UNKNOWN_OFF ||
				   r->zero_copy_unknown_vf == FWD_ZC_UNKNOWN_PORT_STOP,
			   "relay %s: zero_copy_unknown_vf %d", r->name, r->zero_copy_unknown_vf);
		FUZZ_CHECK(r->queues >= 1 && r->queues <= FWD_MAX_QUEUES, "relay %s: queues %u",
			   r->name, r->queues);
		FUZZ_CHECK(r->mtu >= FWD_MTU_MIN && r->mtu <= FWD_MTU_MAX, "relay %s: mtu %u",
			   r->name, r->mtu);
		FUZZ_CHECK(r->rx_ring_size >= 64 && r->rx_ring_size <= 4096 &&
				   !(r->rx_ring_size & (r->rx_ring_size - 1)),
			   "relay %s: rx_ring_size %u", r->name, r->rx_ring_size);
		FUZZ_CHECK(r->tx_ring_size >= 64 && r->tx_ring_size <= 4096 &&
				   !(r->tx_ring_size & (r->tx_ring_size - 1)),
			   "relay %s: tx_ring_size %u", r->name, r->tx_ring_size);
		/* In client mode QEMU owns the socket: the access keys keep their defaults. */
		if (r->vhost_mode == FWD_VHOST_CLIENT)
			FUZZ_CHECK(r->socket_uid == defaults.relays[i].socket_uid &&
					   r->socket_gid == defaults.relays[i].socket_gid &&
					   r->socket_mode == defaults.relays[i].socket_mode,
				   "relay %s: client mode with socket access settings", r->name);
		/* Connecting needs write permission: the owner may, not every user may. */
		FUZZ_CHECK(r->socket_mode <= 0777 && (r->socket_mode & 0200) &&
				   !(r->socket_mode & 0002),
			   "relay %s: socket_mode 0%o", r->name, (unsigned int)r->socket_mode);
		for (unsigned int j = 0; j < i; j++) {
			FUZZ_CHECK(strcmp(r->name, c->relays[j].name) != 0, "relay %s twice",
				   r->name);
			FUZZ_CHECK(strcmp(r->vf, c->relays[j].vf) != 0, "vf %s twice", r->vf);
			FUZZ_CHECK(strcmp(r->vhost, c->relays[j].vhost) != 0, "vhost %s twice",
				   r->vhost);
		}
	}
	/* Relays not configured keep their defaults. */
	FUZZ_CHECK(memcmp(&c->relays[c->n_relays], &defaults.relays[c->n_relays],
			  sizeof(c->relays[0]) * (FWD_MAX_RELAYS - c->n_relays)) == 0,
		   "unused relay slots are not defaults");
}

static bool
key_known_or_given(const char *key, size_t len, const char *text)
{
	char k[64];

	for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++) {
		if (strlen(known_keys[i]) == len && strncmp(known_keys[i], key, len) == 0)
			return true;
	}
	/* An unknown key is named as written: the text must contain it. */
	if (len == 0 || len >= sizeof(k))
		return len > 0 && memmem(text, strlen(text), key, len) != NULL;
	memcpy(k, key, len);
	k[len] = '\0';
	return strstr(text, k) != NULL;
}

/*
 * The documented forms (fwd_config.c cfg_fail(), line_fail()):
 *   "<origin>: [<section>] <key>: <what>"     a key's value or a missing required key
 *   "<origin>: [<section>]: <what>"           a section header
 *   "<origin>: <key>: <what>"                 a key outside any section
 *   "<origin>:<line>: <what>"                 syntax, over-long line
 *   "<origin>: no [relay NAME] section..."    no relay at all
 */
static void
check_message(const char *msg, const char *text)
{
	const char *s = msg + strlen(ORIGIN);

	FUZZ_CHECK(strchr(msg, '\n') == NULL, "error message is more than one line: '%s'", msg);
	FUZZ_CHECK(strncmp(msg, ORIGIN ":", strlen(ORIGIN) + 1) == 0, "no origin in '%s'", msg);
	s++;
	if (*s >= '1' && *s <= '9') {
		while (*s >= '0' && *s <= '9')
			s++;
		FUZZ_CHECK(strncmp(s, ": ", 2) == 0 && s[2] != '\0', "bad line form: '%s'", msg);
		return;
	}
	FUZZ_CHECK(*s == ' ', "bad form: '%s'", msg);
	s++;
	if (strncmp(s, "no [relay NAME] section", 23) == 0)
		return;
	if (*s == '[') {
		/* the section is what the text wrote, or one the parser names itself */
		const char *end = strstr(s, "] ");
		const char *end2 = strstr(s, "]: ");

		if (end2 != NULL && (end == NULL || end2 < end)) {
			FUZZ_CHECK(end2[3] != '\0', "empty section message: '%s'", msg);
			return;
		}
		FUZZ_CHECK(end != NULL, "unterminated section in '%s'", msg);
		s = end + 2;
	}
	{
		const char *colon = strstr(s, ": ");

		FUZZ_CHECK(colon != NULL && colon[2] != '\0', "no key in '%s'", msg);
		FUZZ_CHECK(key_known_or_given(s, (size_t)(colon - s), text),
			   "message names key '%.*s', which is neither known nor in the text: '%s'",
			   (int)(colon - s), s, msg);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t errlens[] = {0, 1, 2, 40, 200, 0, 0, 0};
	static struct fwd_config cfg;
	static bool init;
	size_t errlen = 8192;
	bool err_null = false;
	char *text, *err = NULL;
	int rc;

	if (!init) {
		fwd_config_defaults(&defaults);
		if (sched_getaffinity(0, sizeof(affinity), &affinity) != 0)
			abort();
		init = true;
	}
	if (size > 0 && data[0] < 0x08) {
		errlen = errlens[data[0]];
		err_null = data[0] >= 5;
		data++;
		size--;
	}
	text = malloc(size + 1);
	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (!err_null) {
		err = malloc(errlen ? errlen : 1);
		if (err == NULL)
			abort();
		memset(err, 'X', errlen ? errlen : 1);
	}
	/* Whatever was in the struct before must not survive a parse. */
	memset(&cfg, 0xa5, sizeof(cfg));

	rc = fwd_config_parse_string(text, ORIGIN, &cfg, err, err_null ? 0 : errlen);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL, "rc %d", rc);
	if (err != NULL && errlen > 0)
		FUZZ_CHECK(terminated(err, errlen), "error buffer not terminated within %zu",
			   errlen);
	if (rc == 0) {
		if (err != NULL && errlen > 0)
			FUZZ_CHECK(err[0] == '\0', "success with a message: '%s'", err);
		check_success(&cfg);
	} else {
		FUZZ_CHECK(memcmp(&cfg, &defaults, sizeof(cfg)) == 0,
			   "failed parse left a half-read config");
		if (err != NULL && errlen > 1) {
			FUZZ_CHECK(err[0] != '\0', "failure without a message");
			if (strlen(err) + 1 < errlen)
				check_message(err, text);
		}
	}
	free(err);
	free(text);
	return 0;
}
