/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfrelayctl metrics: every counter of one instance (or of every instance on the host) as
 * OpenMetrics text, or as the older Prometheus text format that node_exporter's textfile
 * collector reads.
 *
 * Generic on purpose: every numeric key the daemon reports becomes a metric named after it
 * (vfrelay_<level>_<key>, counters with _total), so a counter the daemon grows needs no new
 * vfrelayctl. Only two small tables know keys: the numbers that are gauges, and the strings
 * that are states with a known set of values. Every other string is a label of the level's
 * info metric.
 *
 * The exposition groups samples by metric family, and a family spans relays and instances,
 * so everything is collected first and printed at the end. An instance is only added once
 * all its replies are in: one that exits mid-scrape leaves no half family behind.
 */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vfrelay/qsync.h>

#include "cli.h"

enum cli_mlevel {
	CLI_ML_INSTANCE,
	CLI_ML_RELAY,
	CLI_ML_QUEUE,
	CLI_ML_LCORE,
};

static const char *const cli_mlevel_prefix[] = {
	[CLI_ML_INSTANCE] = "vfrelay_instance",
	[CLI_ML_RELAY] = "vfrelay_relay",
	[CLI_ML_QUEUE] = "vfrelay_queue",
	[CLI_ML_LCORE] = "vfrelay_lcore",
};

/* Where each level's keys come from, for the HELP of a key nobody described. */
static const char *const cli_mlevel_source[] = {
	[CLI_ML_INSTANCE] = CLI_CMD_LCORES,
	[CLI_ML_RELAY] = CLI_CMD_RELAYS,
	[CLI_ML_QUEUE] = CLI_CMD_STATS ",RELAY",
	[CLI_ML_LCORE] = CLI_CMD_LCORES,
};

enum cli_mtype {
	CLI_MT_COUNTER,
	CLI_MT_GAUGE,
	CLI_MT_INFO,
	CLI_MT_STATESET,
};

static const char *const cli_mtype_name[] = {
	[CLI_MT_COUNTER] = "counter",
	[CLI_MT_GAUGE] = "gauge",
	[CLI_MT_INFO] = "info",
	[CLI_MT_STATESET] = "stateset",
};

/* What a sample's name adds to its family's name. */
static const char *const cli_mtype_suffix[] = {
	[CLI_MT_COUNTER] = "_total",
	[CLI_MT_GAUGE] = "",
	[CLI_MT_INFO] = "_info",
	[CLI_MT_STATESET] = "",
};

/* Numbers that can go down. Every other number the daemon reports is a counter. */
static const char *const cli_metrics_gauges[] = {
	"lcore",   "rx_enabled", "tx_enabled", "zc_shells_held", "queues",
	"mtu",	   "port_id",	 "vid",	       "tsc_hz",
};

/* Strings whose values are a known set: each becomes a state set, with every state shown. */
static const char *const cli_state_zero_copy[] = { "auto", "on", "off", NULL };
static const char *const cli_state_rx_mode[] = { "zero-copy", "copy", NULL };
static const char *const cli_state_idle[] = { "event", "backoff", "poll", NULL };
static const char *const cli_state_zc_reason[] = {
	"none",
#define CLI_X_NAME(name) #name,
	QSYNC_FALLBACK_REASONS(CLI_X_NAME)
#undef CLI_X_NAME
	NULL,
};

static const struct {
	enum cli_mlevel level;
	const char *key;
	const char *const *states;
} cli_metrics_statesets[] = {
	{ CLI_ML_RELAY, "zero_copy", cli_state_zero_copy },
	{ CLI_ML_QUEUE, "mode", cli_state_rx_mode },
	{ CLI_ML_QUEUE, "zc_state", cli_state_zc_reason },
	{ CLI_ML_QUEUE, "wake", cli_state_idle },
	{ CLI_ML_LCORE, "idle", cli_state_idle },
};

/* HELP of the keys docs/vfrelayctl.md describes; others get one naming their source. */
static const struct {
	enum cli_mlevel level;
	const char *key;
	const char *help;
} cli_metrics_help[] = {
	{ CLI_ML_INSTANCE, "up", "1 when every reply of the instance came in, 0 when one failed" },
	{ CLI_ML_INSTANCE, "info", "DPDK version and pid of the instance" },
	{ CLI_ML_INSTANCE, "tsc_hz", "TSC frequency; cycles divided by it are seconds" },
	{ CLI_ML_RELAY, "info", "Configuration of the relay; features change as a guest attaches" },
	{ CLI_ML_RELAY, "running", "1 when a guest driver is attached, 0 while waiting" },
	{ CLI_ML_RELAY, "zero_copy", "Zero-copy policy of the relay (auto, on, off)" },
	{ CLI_ML_RELAY, "port_id", "DPDK port id of the VF" },
	{ CLI_ML_RELAY, "vid", "librte_vhost device id, -1 while waiting" },
	{ CLI_ML_RELAY, "mtu", "MTU of the relay" },
	{ CLI_ML_RELAY, "queues", "Queue pairs of the relay" },
	{ CLI_ML_RELAY, "connects", "vhost-user connections established" },
	{ CLI_ML_RELAY, "disconnects", "vhost-user connections lost" },
	{ CLI_ML_RELAY, "connections_refused", "vhost-user front-ends refused (one per relay)" },
	{ CLI_ML_RELAY, "connections_failed", "vhost-user connections closed on a broken message" },
	{ CLI_ML_RELAY, "messages_refused", "vhost-user requests refused (unsupported or unsafe)" },
	{ CLI_ML_RELAY, "guest_memory_faults",
	  "Guest memory regions the front-end truncated under vfrelay (read as zeros since)" },
	{ CLI_ML_RELAY, "mbufs_in_use", "Host packet buffers in use (leak check: 0 when idle)" },
	{ CLI_ML_RELAY, "vf_ipackets", "Frames the VF received (the VF's own counter)" },
	{ CLI_ML_RELAY, "vf_imissed", "Frames the VF dropped for want of room: the guest is slow" },
	{ CLI_ML_RELAY, "vf_ierrors", "Erroneous frames the VF received" },
	{ CLI_ML_RELAY, "vf_rx_nombuf", "VF receive buffer allocation failures" },
	{ CLI_ML_RELAY, "vf_opackets", "Frames the VF sent" },
	{ CLI_ML_RELAY, "vf_oerrors", "Frames the VF failed to send" },
	{ CLI_ML_RELAY, "wake", "How each queue pair waits when idle, in queue order" },
	{ CLI_ML_QUEUE, "mode", "RX path of the queue now: zero-copy or copy" },
	{ CLI_ML_QUEUE, "wake", "How the idle worker waits for the queue pair: event "
				"(interrupt, kicks), backoff (timer), poll (never sleeps)" },
	{ CLI_ML_QUEUE, "zc_state", "Zero-copy fallback reason in force (none: zero copy runs)" },
	{ CLI_ML_QUEUE, "lcore", "Worker lcore that polls the queue pair" },
	{ CLI_ML_QUEUE, "rx_enabled", "1 when the guest enabled the RX vring" },
	{ CLI_ML_QUEUE, "tx_enabled", "1 when the guest enabled the TX vring" },
	{ CLI_ML_QUEUE, "rx_packets", "Frames delivered to the guest (VF to guest)" },
	{ CLI_ML_QUEUE, "rx_bytes", "Bytes delivered to the guest, virtio-net header excluded" },
	{ CLI_ML_QUEUE, "rx_zc_packets", "Frames the VF wrote straight into guest buffers" },
	{ CLI_ML_QUEUE, "rx_zc_tail_packets",
	  "Zero-copy frames longer than a VF buffer, delivered in two guest buffers" },
	{ CLI_ML_QUEUE, "rx_copy_packets", "Frames vfrelay copied into guest buffers" },
	{ CLI_ML_QUEUE, "rx_copy_bytes", "Bytes vfrelay copied into guest buffers" },
	{ CLI_ML_QUEUE, "rx_drop_no_guest_buf", "Frames dropped: the guest had no free buffer" },
	{ CLI_ML_QUEUE, "rx_drop_guest_down", "Frames dropped: the guest ring went away" },
	{ CLI_ML_QUEUE, "rx_redirected", "Frames from a VF queue whose guest ring is disabled" },
	{ CLI_ML_QUEUE, "rx_drop_redirect", "Disabled-queue frames no enabled ring had room for" },
	{ CLI_ML_QUEUE, "rx_ring_stuck", "Copy path polls that found buffers but took none" },
	{ CLI_ML_QUEUE, "tx_bad_desc", "Guest TX descriptors consumed without making a frame" },
	{ CLI_ML_QUEUE, "tx_ring_stuck", "Polls with guest frames posted that took none" },
	{ CLI_ML_QUEUE, "rx_csum_good", "Frames delivered with the VF's checksum-verified mark" },
	{ CLI_ML_QUEUE, "tx_packets", "Frames from the guest sent by the VF (guest to VF)" },
	{ CLI_ML_QUEUE, "tx_bytes", "Bytes from the guest sent by the VF" },
	{ CLI_ML_QUEUE, "tx_drop_vf_full", "Guest frames dropped: the VF TX ring stayed full" },
	{ CLI_ML_QUEUE, "tx_drop_bad_offload", "Guest frames dropped: an offload nobody can do" },
	{ CLI_ML_QUEUE, "tx_sw_csum", "Checksums vfrelay computed in software for the guest" },
	{ CLI_ML_QUEUE, "guest_notifications", "Interrupts (eventfd writes) sent to the guest" },
	{ CLI_ML_QUEUE, "zc_shells_held", "Zero-copy buffers the VF holds now" },
	{ CLI_ML_QUEUE, "rx_bad_desc", "Guest RX descriptors refused as malformed" },
	{ CLI_ML_QUEUE, "rx_desc_too_small", "Guest RX descriptors refused as too short" },
	{ CLI_ML_QUEUE, "rx_bad_ring", "Guest RX rings found broken (avail index jumped)" },
	{ CLI_ML_LCORE, "busy_cycles", "TSC cycles of loop iterations that moved packets" },
	{ CLI_ML_LCORE, "idle_cycles", "TSC cycles of iterations that moved none, with sleeps" },
	{ CLI_ML_LCORE, "packets", "Packets the worker moved" },
	{ CLI_ML_LCORE, "iterations", "Poll loop iterations" },
	{ CLI_ML_LCORE, "sleeps", "Sleeps of the idle worker (back-off, or waiting for an event)" },
	{ CLI_ML_LCORE, "wakeups", "Wake-ups from waiting for an event (idle = event)" },
	{ CLI_ML_LCORE, "wake_vf", "Wake-ups a VF RX interrupt caused" },
	{ CLI_ML_LCORE, "wake_kick", "Wake-ups a guest kick caused (frames sent, buffers posted)" },
	{ CLI_ML_LCORE, "wake_ctl", "Wake-ups the control side caused (reconfiguration, stop)" },
	{ CLI_ML_LCORE, "wake_timer", "Wake-ups by the timer of a queue that cannot wake it" },
	{ CLI_ML_LCORE, "wake_empty", "Wake-ups by an interrupt or kick that found nothing to do" },
	{ CLI_ML_LCORE, "idle", "What the worker does when idle (idle = event, backoff, poll)" },
	{ CLI_ML_LCORE, "queues", "Queue pairs the worker polls" },
};

#define CLI_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A growing string. */
struct cli_mstr {
	char *s;
	size_t len, cap;
};

static void
cli_mstr_add(struct cli_mstr *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (b->s == NULL)
			cli_oom();
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
cli_mstr_adds(struct cli_mstr *b, const char *s)
{
	cli_mstr_add(b, s, strlen(s));
}

/* A name as OpenMetrics allows it, [a-zA-Z_][a-zA-Z0-9_]*: telemetry keys may hold '/'. */
static void
cli_mstr_add_name(struct cli_mstr *b, const char *s)
{
	if (*s >= '0' && *s <= '9')
		cli_mstr_adds(b, "_");
	for (; *s != '\0'; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_';

		cli_mstr_add(b, ok ? &c : "_", 1);
	}
}

/* Label values escape backslash, double quote and line feed (both formats). */
static void
cli_mstr_add_label(struct cli_mstr *b, const char *name, const char *value)
{
	if (b->len > 0)
		cli_mstr_adds(b, ",");
	cli_mstr_add_name(b, name);
	cli_mstr_adds(b, "=\"");
	for (; *value != '\0'; value++) {
		if (*value == '\\')
			cli_mstr_adds(b, "\\\\");
		else if (*value == '"')
			cli_mstr_adds(b, "\\\"");
		else if (*value == '\n')
			cli_mstr_adds(b, "\\n");
		else
			cli_mstr_add(b, value, 1);
	}
	cli_mstr_adds(b, "\"");
}

struct cli_msample {
	char *labels; /* name="value",... without braces */
	char *value;
};

struct cli_mfamily {
	char *name; /* family name: vfrelay_queue_rx_packets */
	char *help;
	enum cli_mtype type;
	bool bytes; /* unit bytes: the name ends in _bytes */
	struct cli_msample *s;
	size_t n, cap;
};

struct cli_metrics {
	struct cli_mfamily *f;
	size_t n, cap;
	json_t *index;	/* family name -> position in f */
	json_t *names;	/* every name a sample or a family line uses -> family name */
	json_t *warned; /* families already complained about */
};

static void __attribute__((format(printf, 3, 4)))
cli_metrics_warn(struct cli_metrics *m, const char *family, const char *fmt, ...)
{
	va_list ap;

	if (json_object_get(m->warned, family) != NULL)
		return;
	json_object_set_new(m->warned, family, json_true());
	fprintf(stderr, CLI_PROG ": metrics: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *
cli_metrics_help_of(enum cli_mlevel level, const char *key)
{
	for (size_t i = 0; i < CLI_ARRAY_SIZE(cli_metrics_help); i++)
		if (cli_metrics_help[i].level == level && strcmp(cli_metrics_help[i].key, key) == 0)
			return cli_metrics_help[i].help;
	return NULL;
}

#define CLI_FALLBACK_PREFIX "rx_zc_fallback_"

static char *
cli_metrics_help_text(enum cli_mlevel level, const char *key)
{
	const char *help = cli_metrics_help_of(level, key);

	if (help != NULL)
		return cli_xstrdup(help);
	/* One counter per qsync fallback reason, the list growing with qsync. */
	if (level == CLI_ML_QUEUE &&
	    strncmp(key, CLI_FALLBACK_PREFIX, strlen(CLI_FALLBACK_PREFIX)) == 0)
		return cli_xasprintf("Zero-copy fallbacks to the copy path for reason %s",
				     key + strlen(CLI_FALLBACK_PREFIX));
	return cli_xasprintf("%s of %s", key, cli_mlevel_source[level]);
}

static bool
cli_metrics_is_gauge(const char *key)
{
	for (size_t i = 0; i < CLI_ARRAY_SIZE(cli_metrics_gauges); i++)
		if (strcmp(cli_metrics_gauges[i], key) == 0)
			return true;
	return false;
}

static const char *const *
cli_metrics_states_of(enum cli_mlevel level, const char *key)
{
	for (size_t i = 0; i < CLI_ARRAY_SIZE(cli_metrics_statesets); i++)
		if (cli_metrics_statesets[i].level == level &&
		    strcmp(cli_metrics_statesets[i].key, key) == 0)
			return cli_metrics_statesets[i].states;
	return NULL;
}

/* The family whose name or sample name @p name is, or NULL. */
static const char *
cli_metrics_owner(const struct cli_metrics *m, const char *name)
{
	return json_string_value(json_object_get(m->names, name));
}

/*
 * The family for (@p level, @p key) of @p type, created on first use; NULL when its name
 * clashes with another family's (a daemon key named like one we derive), said once.
 */
static struct cli_mfamily *
cli_metrics_family(struct cli_metrics *m, enum cli_mlevel level, const char *key,
		   enum cli_mtype type)
{
	struct cli_mstr name = { 0 }, sample = { 0 };
	struct cli_mfamily *f = NULL;
	const char *owner, *clash;
	json_t *at;
	size_t klen = strlen(key);

	cli_mstr_adds(&name, cli_mlevel_prefix[level]);
	cli_mstr_adds(&name, "_");
	/* A counter the daemon already calls x_total is exposed as x_total, not x_total_total. */
	if (type == CLI_MT_COUNTER && klen > 6 && strcmp(key + klen - 6, "_total") == 0) {
		char *k = cli_xstrdup(key);

		k[klen - 6] = '\0';
		cli_mstr_add_name(&name, k);
		free(k);
	} else if (type != CLI_MT_INFO) {
		cli_mstr_add_name(&name, key);
	} else {
		name.len--; /* info families are the level itself: vfrelay_relay{_info} */
		name.s[name.len] = '\0';
	}

	at = json_object_get(m->index, name.s);
	if (at != NULL) {
		f = &m->f[json_integer_value(at)];
		if (f->type != type) {
			cli_metrics_warn(m, name.s, "'%s' is a %s here and a %s elsewhere; skipped",
					 key, cli_mtype_name[type], cli_mtype_name[f->type]);
			f = NULL;
		}
		goto out;
	}

	cli_mstr_adds(&sample, name.s);
	cli_mstr_adds(&sample, cli_mtype_suffix[type]);
	/* A new family whose names another one uses would make the exposition invalid. */
	clash = name.s;
	owner = cli_metrics_owner(m, name.s);
	if (owner == NULL) {
		clash = sample.s;
		owner = cli_metrics_owner(m, sample.s);
	}
	if (owner != NULL) {
		cli_metrics_warn(m, name.s, "'%s' would be named %s, which %s uses; skipped", key,
				 clash, owner);
		goto out;
	}
	json_object_set_new(m->names, name.s, json_string(name.s));
	json_object_set_new(m->names, sample.s, json_string(name.s));
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->f = realloc(m->f, m->cap * sizeof(*m->f));
		if (m->f == NULL)
			cli_oom();
	}
	f = &m->f[m->n];
	*f = (struct cli_mfamily){
		.name = cli_xstrdup(name.s),
		.help = cli_metrics_help_text(level, type == CLI_MT_INFO ? "info" : key),
		.type = type,
		/* Units only on numbers: OpenMetrics refuses them on info and state sets. */
		.bytes = (type == CLI_MT_COUNTER || type == CLI_MT_GAUGE) &&
			 strcmp(name.s + name.len - 6, "_bytes") == 0,
	};
	json_object_set_new(m->index, name.s, json_integer((json_int_t)m->n));
	m->n++;
out:
	free(name.s);
	free(sample.s);
	return f;
}

static void
cli_metrics_sample(struct cli_mfamily *f, const char *labels, char *value)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->s = realloc(f->s, f->cap * sizeof(*f->s));
		if (f->s == NULL)
			cli_oom();
	}
	f->s[f->n++] = (struct cli_msample){ .labels = cli_xstrdup(labels), .value = value };
}

/* A JSON number as exposition text; NULL for anything else (or a number no format has). */
static char *
cli_metrics_number(const json_t *v)
{
	if (json_is_integer(v))
		return cli_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (json_is_real(v) && isfinite(json_real_value(v)))
		return cli_xasprintf("%.17g", json_real_value(v));
	return NULL;
}

static void
cli_metrics_number_sample(struct cli_metrics *m, enum cli_mlevel level, const char *labels,
			  const char *key, const json_t *v)
{
	enum cli_mtype type = cli_metrics_is_gauge(key) ? CLI_MT_GAUGE : CLI_MT_COUNTER;
	struct cli_mfamily *f;
	char *value = cli_metrics_number(v);

	if (value == NULL)
		return;
	/* Counters never go below zero; a negative one is no counter, and would not parse. */
	if (type == CLI_MT_COUNTER && value[0] == '-') {
		cli_metrics_warn(m, key, "'%s' is negative, so no counter; skipped", key);
		free(value);
		return;
	}
	f = cli_metrics_family(m, level, key, type);
	if (f == NULL) {
		free(value);
		return;
	}
	cli_metrics_sample(f, labels, value);
}

static void
cli_metrics_stateset(struct cli_metrics *m, enum cli_mlevel level, const char *labels,
		     const char *key, const char *value, const char *const *states)
{
	struct cli_mfamily *f = cli_metrics_family(m, level, key, CLI_MT_STATESET);
	bool known = false;

	if (f == NULL)
		return;
	/* The state label is named like the family, as OpenMetrics wants. */
	for (size_t i = 0; states[i] != NULL; i++) {
		struct cli_mstr l = { 0 };

		cli_mstr_adds(&l, labels);
		cli_mstr_add_label(&l, f->name, states[i]);
		cli_metrics_sample(f, l.s, cli_xstrdup(strcmp(states[i], value) == 0 ? "1" : "0"));
		known |= strcmp(states[i], value) == 0;
		free(l.s);
	}
	/* A state this vfrelayctl does not know yet still shows as the one in force. */
	if (!known) {
		struct cli_mstr l = { 0 };

		cli_mstr_adds(&l, labels);
		cli_mstr_add_label(&l, f->name, value);
		cli_metrics_sample(f, l.s, cli_xstrdup("1"));
		free(l.s);
	}
}

/* Label names of the levels, which info labels must not reuse. */
static bool
cli_metrics_reserved_label(const char *key)
{
	static const char *const ids[] = { "instance_name", "relay", "queue", "lcore" };

	for (size_t i = 0; i < CLI_ARRAY_SIZE(ids); i++)
		if (strcmp(ids[i], key) == 0)
			return true;
	return strncmp(key, "__", 2) == 0;
}

/*
 * Every key of one object of @p level: numbers become samples, known state strings state
 * sets, other strings labels of the level's info metric. @p skip names keys shown otherwise.
 */
static void
cli_metrics_object(struct cli_metrics *m, enum cli_mlevel level, const char *labels,
		   const json_t *obj, const char *skip)
{
	struct cli_mstr info = { 0 };
	const char *const *states;
	const char *key;
	json_t *v;

	cli_mstr_adds(&info, labels);
	json_object_foreach((json_t *)obj, key, v) {
		/* An empty key names nothing; as a label it would not even parse. */
		if (key[0] == '\0' || (skip != NULL && strcmp(key, skip) == 0))
			continue;
		if (json_is_number(v)) {
			cli_metrics_number_sample(m, level, labels, key, v);
		} else if (json_is_string(v)) {
			states = cli_metrics_states_of(level, key);
			if (states != NULL)
				cli_metrics_stateset(m, level, labels, key, json_string_value(v),
						     states);
			else if (!cli_metrics_reserved_label(key))
				cli_mstr_add_label(&info, key, json_string_value(v));
		}
	}
	if (info.len > strlen(labels)) {
		struct cli_mfamily *f = cli_metrics_family(m, level, "info", CLI_MT_INFO);

		if (f != NULL)
			cli_metrics_sample(f, info.s, cli_xstrdup("1"));
	}
	free(info.s);
}

static char *
cli_metrics_labels(const char *instance, const char *relay, const char *queue,
		   const char *lcore)
{
	struct cli_mstr l = { 0 };

	cli_mstr_add_label(&l, "instance_name", instance);
	if (relay != NULL)
		cli_mstr_add_label(&l, "relay", relay);
	if (queue != NULL)
		cli_mstr_add_label(&l, "queue", queue);
	if (lcore != NULL)
		cli_mstr_add_label(&l, "lcore", lcore);
	return l.s;
}

static void
cli_metrics_up(struct cli_metrics *m, const char *instance, bool up)
{
	struct cli_mfamily *f = cli_metrics_family(m, CLI_ML_INSTANCE, "up", CLI_MT_GAUGE);
	char *labels = cli_metrics_labels(instance, NULL, NULL, NULL);

	if (f != NULL)
		cli_metrics_sample(f, labels, cli_xstrdup(up ? "1" : "0"));
	free(labels);
}

/* Queue keys are q0, q1, ...: the label is the queue's number, like node_exporter's cpu="0". */
static const char *
cli_metrics_queue_id(const char *key)
{
	if (key[0] == 'q' && key[1] != '\0' && strspn(key + 1, "0123456789") == strlen(key + 1))
		return key + 1;
	return key;
}

/*
 * One instance's replies: {"relays": <relays>, "stats": {RELAY: <stats>}, "lcores": <lcores
 * or absent>}, taken over @p t. Relays that vanish between the queries are left out.
 */
static int
cli_metrics_collect(struct cli_tel *t, json_t *relays, json_t **out)
{
	json_t *snap = cli_json_object(), *stats = cli_json_object(), *s, *lcores;
	const char *name;
	json_t *r;
	int ret = 0;

	json_object_set(snap, "relays", relays);
	json_object_set_new(snap, "stats", stats);
	json_object_foreach(relays, name, r) {
		ret = cli_query_stats(t, name, &s);
		if (ret < 0)
			goto err;
		if (json_is_object(s))
			json_object_set_new(stats, name, s);
		else
			json_decref(s);
	}
	ret = cli_tel_query(t, CLI_CMD_LCORES, &lcores);
	if (ret < 0)
		goto err;
	if (json_is_object(lcores))
		json_object_set_new(snap, "lcores", lcores);
	else
		json_decref(lcores);
	*out = snap;
	return 0;
err:
	json_decref(snap);
	return ret;
}

static void
cli_metrics_instance(struct cli_metrics *m, const struct cli_tel *t, const json_t *snap)
{
	const char *instance = t->name, *relay, *key;
	const json_t *hello = t->hello;
	char *labels, *pid;
	json_t *r, *v, *q;
	struct cli_mfamily *f;
	struct cli_mstr info = { 0 };

	cli_metrics_up(m, instance, true);
	labels = cli_metrics_labels(instance, NULL, NULL, NULL);
	cli_mstr_adds(&info, labels);
	if (json_is_string(json_object_get(hello, "version")))
		cli_mstr_add_label(&info, "dpdk_version",
				   json_string_value(json_object_get(hello, "version")));
	pid = cli_xasprintf("%ld", cli_tel_pid(t));
	cli_mstr_add_label(&info, "pid", pid);
	free(pid);
	f = cli_metrics_family(m, CLI_ML_INSTANCE, "info", CLI_MT_INFO);
	if (f != NULL)
		cli_metrics_sample(f, info.s, cli_xstrdup("1"));
	free(info.s);
	/* Instance-wide scalars of /vfrelay/lcores (tsc_hz); the dicts are the lcores. */
	json_object_foreach(json_object_get(snap, "lcores"), key, v) {
		if (json_is_number(v))
			cli_metrics_number_sample(m, CLI_ML_INSTANCE, labels, key, v);
	}
	free(labels);

	json_object_foreach(json_object_get(snap, "relays"), relay, r) {
		const char *state = json_string_value(json_object_get(r, "state"));

		if (!json_is_object(r))
			continue;
		labels = cli_metrics_labels(instance, relay, NULL, NULL);
		/* "state" is running or waiting: a gauge an alert can test, not a label. */
		f = state != NULL ? cli_metrics_family(m, CLI_ML_RELAY, "running", CLI_MT_GAUGE)
				  : NULL;
		if (f != NULL)
			cli_metrics_sample(f, labels,
					   cli_xstrdup(strcmp(state, "running") == 0 ? "1" : "0"));
		cli_metrics_object(m, CLI_ML_RELAY, labels, r, "state");
		free(labels);
	}

	json_object_foreach(json_object_get(snap, "stats"), relay, v) {
		json_object_foreach(v, key, q) {
			/* "total" is the sum of the queues: PromQL sums, and would count twice. */
			if (!json_is_object(q) || strcmp(key, "total") == 0)
				continue;
			labels = cli_metrics_labels(instance, relay, cli_metrics_queue_id(key),
						    NULL);
			cli_metrics_object(m, CLI_ML_QUEUE, labels, q, NULL);
			free(labels);
		}
	}

	json_object_foreach(json_object_get(snap, "lcores"), key, v) {
		if (!json_is_object(v))
			continue;
		labels = cli_metrics_labels(instance, NULL, NULL, key);
		cli_metrics_object(m, CLI_ML_LCORE, labels, v, NULL);
		free(labels);
	}
}

static void
cli_metrics_print(const struct cli_metrics *m, enum cli_metrics_format format)
{
	bool om = format == CLI_METRICS_OPENMETRICS;

	for (size_t i = 0; i < m->n; i++) {
		const struct cli_mfamily *f = &m->f[i];
		const char *suffix = cli_mtype_suffix[f->type];
		/* The old format has no info or state set type, and names families by sample. */
		const char *type = om || f->type == CLI_MT_COUNTER ? cli_mtype_name[f->type]
								    : "gauge";
		const char *fsuffix = om ? "" : suffix;

		printf("# HELP %s%s %s\n", f->name, fsuffix, f->help);
		printf("# TYPE %s%s %s\n", f->name, fsuffix, type);
		if (om && f->bytes)
			printf("# UNIT %s bytes\n", f->name);
		for (size_t j = 0; j < f->n; j++)
			printf("%s%s{%s} %s\n", f->name, suffix, f->s[j].labels, f->s[j].value);
	}
	if (om)
		puts("# EOF");
}

static void
cli_metrics_free(struct cli_metrics *m)
{
	for (size_t i = 0; i < m->n; i++) {
		for (size_t j = 0; j < m->f[i].n; j++) {
			free(m->f[i].s[j].labels);
			free(m->f[i].s[j].value);
		}
		free(m->f[i].s);
		free(m->f[i].name);
		free(m->f[i].help);
	}
	free(m->f);
	json_decref(m->index);
	json_decref(m->names);
	json_decref(m->warned);
}

void
cli_metrics_check(const struct cli_ctx *ctx, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (ctx->all && ctx->name != NULL)
		cli_usage_error("metrics: --all scrapes every instance; drop -n/-s, or --all");
	if (!ctx->all && ctx->name == NULL)
		cli_usage_error("which instance? give -n NAME (or -s SOCKET), or --all");
	if (ctx->json)
		cli_usage_error("metrics prints OpenMetrics text; --json does not apply");
}

/*
 * Every instance on the host. One that fails mid-scrape (a stuck telemetry thread, the
 * 10-client limit) must not hide the others: it is said on stderr and exposed as
 * vfrelay_instance_up 0, and the exposition stays complete.
 */
static int
cli_metrics_all(struct cli_metrics *m)
{
	struct cli_instance *in;
	struct cli_tel t;
	json_t *relays, *snap;
	size_t n;
	int ret;

	ret = cli_instances_scan(&in, &n);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		ret = cli_instance_probe(&t, &in[i], &relays);
		if (ret == -ENOENT)
			continue;
		if (ret < 0) {
			cli_metrics_up(m, in[i].name, false);
			continue;
		}
		ret = cli_metrics_collect(&t, relays, &snap);
		json_decref(relays);
		if (ret == 0) {
			cli_metrics_instance(m, &t, snap);
			json_decref(snap);
		} else if (ret != -EPIPE) {
			/* Gone meanwhile is the VM stopping, not a failure to report. */
			fprintf(stderr, CLI_PROG ": %s\n", t.err);
			cli_metrics_up(m, in[i].name, false);
		}
		cli_tel_close(&t);
	}
	free(in);
	return 0;
}

int
cli_metrics_run(struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_metrics m = {
		.index = cli_json_object(),
		.names = cli_json_object(),
		.warned = cli_json_object(),
	};
	json_t *relays, *snap;
	int ret;

	(void)argc;
	(void)argv;
	if (ctx->all) {
		ret = cli_metrics_all(&m);
	} else {
		ret = cli_tel_connect(&ctx->tel, ctx->name, ctx->path, false);
		if (ret == 0)
			ret = cli_tel_query_dict(&ctx->tel, CLI_CMD_RELAYS, &relays);
		if (ret == 0) {
			ret = cli_metrics_collect(&ctx->tel, relays, &snap);
			json_decref(relays);
		}
		if (ret == 0) {
			cli_metrics_instance(&m, &ctx->tel, snap);
			json_decref(snap);
		}
	}
	if (ret == 0)
		cli_metrics_print(&m, ctx->format);
	cli_metrics_free(&m);
	return ret;
}
