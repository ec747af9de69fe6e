/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Operator counters over the DPDK telemetry socket
 * (/var/run/dpdk/<name>/dpdk_telemetry.v2). Handlers run on telemetry
 * threads (one per client) under one lock that setup publishes the instance
 * behind and teardown takes before freeing anything, so no handler reads a
 * queue being built or freed. Counters are single-writer uint64 values: a
 * read may be a few packets old but is never torn.
 *
 * Two commands change behaviour (zero_copy, log_level); each change leaves
 * an audit line in the log. Who may use them is who may connect to the
 * telemetry socket (its directory is the process's runtime dir, root 0700
 * by default): see docs/security.md.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include <vfrelay/vhost_backend.h>

#include "fwd_priv.h"

static pthread_mutex_t fwd_telemetry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fwd_instance *fwd_telemetry_inst; /* under fwd_telemetry_lock */

void
fwd_telemetry_attach(struct fwd_instance *inst)
{
	pthread_mutex_lock(&fwd_telemetry_lock);
	fwd_telemetry_inst = inst;
	pthread_mutex_unlock(&fwd_telemetry_lock);
}

void
fwd_telemetry_detach(void)
{
	pthread_mutex_lock(&fwd_telemetry_lock);
	fwd_telemetry_inst = NULL;
	pthread_mutex_unlock(&fwd_telemetry_lock);
}

typedef int (*fwd_telemetry_fn)(struct fwd_instance *inst, const char *params,
				struct rte_tel_data *d);

/* Run a handler on the published instance (NULL before setup and after teardown). */
static int
fwd_telemetry_call(fwd_telemetry_fn fn, const char *params, struct rte_tel_data *d)
{
	int ret;

	pthread_mutex_lock(&fwd_telemetry_lock);
	ret = fn(fwd_telemetry_inst, params, d);
	pthread_mutex_unlock(&fwd_telemetry_lock);
	return ret;
}

/* The callback DPDK calls, for a handler fwd_telemetry_<name>_locked(). */
#define FWD_TELEMETRY_HANDLER(name)                                                                \
	static int fwd_telemetry_##name(const char *cmd, const char *params,                      \
					struct rte_tel_data *d)                                    \
	{                                                                                          \
		RTE_SET_USED(cmd);                                                                 \
		return fwd_telemetry_call(fwd_telemetry_##name##_locked, params, d);               \
	}

struct fwd_relay *
fwd_instance_relay_by_name(struct fwd_instance *inst, const char *name)
{
	for (unsigned int i = 0; i < inst->n_relays; i++)
		if (strcmp(inst->relays[i].cfg->name, name) == 0)
			return &inst->relays[i];
	return NULL;
}

static const char *
fwd_telemetry_rx_mode(const struct fwd_queue *q)
{
	return atomic_load_explicit(&q->rx_mode, memory_order_relaxed) == FWD_RX_MODE_ZERO_COPY
		       ? "zero-copy"
		       : "copy";
}

static const char *
fwd_telemetry_wake_mode(const struct fwd_queue *q)
{
	return fwd_idle_mode_str(atomic_load_explicit(&q->wake_mode, memory_order_relaxed));
}

/* How each queue pair waits when idle, in queue order: "event", "event,backoff". */
static const char *
fwd_telemetry_wake_modes(const struct fwd_relay *r, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (uint16_t i = 0; i < r->n_queues && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "",
					fwd_telemetry_wake_mode(&r->queues[i]));
	return buf;
}

static void
fwd_telemetry_add_counters(struct rte_tel_data *d, const struct fwd_queue_stats *s)
{
	for (size_t i = 0; i < FWD_QUEUE_N_COUNTERS; i++)
		rte_tel_data_add_dict_u64(d, fwd_queue_counter_names[i], fwd_queue_stats_get(s, i));
}

static int
fwd_telemetry_relays_locked(struct fwd_instance *inst, const char *params, struct rte_tel_data *d)
{
	RTE_SET_USED(params);
	rte_tel_data_start_dict(d);
	if (inst == NULL)
		return 0;
	for (unsigned int i = 0; i < inst->n_relays; i++) {
		const struct fwd_relay *r = &inst->relays[i];
		struct rte_tel_data *rd = rte_tel_data_alloc();
		int vid = atomic_load_explicit(&r->vid, memory_order_acquire);
		struct rte_eth_stats es;
		char wake[FWD_MAX_QUEUES * 8];
		char feat[24];
		int ret;

		if (rd == NULL)
			return -ENOMEM;
		snprintf(feat, sizeof(feat), "0x%" PRIx64,
			 atomic_load_explicit(&r->features, memory_order_relaxed));
		rte_tel_data_start_dict(rd);
		rte_tel_data_add_dict_string(rd, "vf", r->cfg->vf);
		rte_tel_data_add_dict_string(rd, "driver", r->port.driver);
		rte_tel_data_add_dict_int(rd, "port_id", r->port.port_id);
		rte_tel_data_add_dict_string(rd, "vhost", r->cfg->vhost);
		rte_tel_data_add_dict_string(rd, "vhost_mode",
					     fwd_vhost_mode_str(r->cfg->vhost_mode));
		rte_tel_data_add_dict_string(rd, "state", vid >= 0 ? "running" : "waiting");
		rte_tel_data_add_dict_int(rd, "vid", vid);
		rte_tel_data_add_dict_string(rd, "features", feat);
		rte_tel_data_add_dict_int(rd, "mtu", r->cfg->mtu);
		rte_tel_data_add_dict_int(rd, "queues", r->n_queues);
		rte_tel_data_add_dict_string(rd, "wake", fwd_telemetry_wake_modes(r, wake,
										   sizeof(wake)));
		rte_tel_data_add_dict_string(
			rd, "zero_copy",
			fwd_zero_copy_str(atomic_load_explicit(&r->zc_mode, memory_order_relaxed)));
		rte_tel_data_add_dict_u64(rd, "connects",
					  atomic_load_explicit(&r->connects, memory_order_relaxed));
		rte_tel_data_add_dict_u64(
			rd, "disconnects",
			atomic_load_explicit(&r->disconnects, memory_order_relaxed));
		rte_tel_data_add_dict_u64(
			rd, "connections_refused",
			atomic_load_explicit(&r->connections_refused, memory_order_relaxed));
		rte_tel_data_add_dict_u64(
			rd, "messages_refused",
			atomic_load_explicit(&r->messages_refused, memory_order_relaxed));
		rte_tel_data_add_dict_u64(
			rd, "connections_failed",
			atomic_load_explicit(&r->connections_failed, memory_order_relaxed));
		rte_tel_data_add_dict_u64(rd, "guest_memory_faults", vhost_guard_faults(r->index));
		/* Host mbufs of the relay out of its pool now: what a leak would grow. */
		rte_tel_data_add_dict_u64(rd, "mbufs_in_use", rte_mempool_in_use_count(r->pool));
		/*
		 * The VF's own view: frames vfrelay left in the NIC because the guest
		 * had no room (or its ring was down) are dropped and counted there.
		 */
		/* The port may be stopped and restarted by a quiesce: not concurrently. */
		pthread_mutex_lock(&((struct fwd_relay *)r)->zc_lock);
		ret = rte_eth_stats_get(r->port.port_id, &es);
		pthread_mutex_unlock(&((struct fwd_relay *)r)->zc_lock);
		if (ret == 0) {
			rte_tel_data_add_dict_u64(rd, "vf_ipackets", es.ipackets);
			rte_tel_data_add_dict_u64(rd, "vf_imissed", es.imissed);
			rte_tel_data_add_dict_u64(rd, "vf_ierrors", es.ierrors);
			rte_tel_data_add_dict_u64(rd, "vf_rx_nombuf", es.rx_nombuf);
			rte_tel_data_add_dict_u64(rd, "vf_opackets", es.opackets);
			rte_tel_data_add_dict_u64(rd, "vf_oerrors", es.oerrors);
		}
		if (rte_tel_data_add_dict_container(d, r->cfg->name, rd, 0) != 0)
			rte_tel_data_free(rd);
	}
	return 0;
}
FWD_TELEMETRY_HANDLER(relays)

/* Zero-copy counters beyond the common ones (all queues of a zero-copy capable relay). */
struct fwd_telemetry_zc {
	uint64_t bad_desc;
	uint64_t desc_too_small;
	uint64_t fallbacks[QSYNC_FB_N];
};

static void
fwd_telemetry_add_zc(struct rte_tel_data *d, const struct fwd_telemetry_zc *z)
{
	char key[64];

	rte_tel_data_add_dict_u64(d, "rx_bad_desc", z->bad_desc);
	rte_tel_data_add_dict_u64(d, "rx_desc_too_small", z->desc_too_small);
	for (unsigned int f = 1; f < QSYNC_FB_N; f++) {
		snprintf(key, sizeof(key), "rx_zc_fallback_%s", qsync_fallback_name(f));
		rte_tel_data_add_dict_u64(d, key, z->fallbacks[f]);
	}
}

static int
fwd_telemetry_stats_locked(struct fwd_instance *inst, const char *params, struct rte_tel_data *d)
{
	struct fwd_queue_stats total = {0};
	struct fwd_telemetry_zc zc_total = {0};
	bool any_zc = false;
	struct fwd_relay *r;
	struct rte_tel_data *td;

	if (inst == NULL || params == NULL || *params == '\0')
		return -EINVAL;
	r = fwd_instance_relay_by_name(inst, params);
	if (r == NULL)
		return -EINVAL;

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "relay", r->cfg->name);
	for (uint16_t i = 0; i < r->n_queues; i++) {
		const struct fwd_queue *q = &r->queues[i];
		struct rte_tel_data *qd = rte_tel_data_alloc();
		struct fwd_queue_stats snap = q->stats;
		char key[8];

		if (qd == NULL)
			return -ENOMEM;
		rte_tel_data_start_dict(qd);
		rte_tel_data_add_dict_int(qd, "lcore", (int)q->lcore);
		rte_tel_data_add_dict_string(qd, "mode", fwd_telemetry_rx_mode(q));
		rte_tel_data_add_dict_string(qd, "wake", fwd_telemetry_wake_mode(q));
		rte_tel_data_add_dict_int(
			qd, "rx_enabled",
			atomic_load_explicit(&q->rx_enabled, memory_order_relaxed));
		rte_tel_data_add_dict_int(
			qd, "tx_enabled",
			atomic_load_explicit(&q->tx_enabled, memory_order_relaxed));
		fwd_telemetry_add_counters(qd, &snap);
		fwd_queue_stats_add(&total, &snap);
		if (q->zc != NULL) {
			struct qsync_queue_counters c;
			struct fwd_telemetry_zc z = {0};

			qsync_queue_counters(q->zc, &c);
			z.bad_desc = c.bad_desc;
			z.desc_too_small = c.desc_too_small;
			for (unsigned int f = 0; f < QSYNC_FB_N; f++)
				z.fallbacks[f] = q->zc_fallbacks[f];
			rte_tel_data_add_dict_string(qd, "zc_state",
						     qsync_fallback_name(atomic_load_explicit(
							     &q->zc_reason, memory_order_relaxed)));
			rte_tel_data_add_dict_u64(qd, "zc_shells_held", c.shells_held);
			fwd_telemetry_add_zc(qd, &z);
			zc_total.bad_desc += z.bad_desc;
			zc_total.desc_too_small += z.desc_too_small;
			for (unsigned int f = 0; f < QSYNC_FB_N; f++)
				zc_total.fallbacks[f] += z.fallbacks[f];
			any_zc = true;
		}
		snprintf(key, sizeof(key), "q%u", i);
		if (rte_tel_data_add_dict_container(d, key, qd, 0) != 0)
			rte_tel_data_free(qd);
	}
	td = rte_tel_data_alloc();
	if (td == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(td);
	fwd_telemetry_add_counters(td, &total);
	if (any_zc)
		fwd_telemetry_add_zc(td, &zc_total);
	if (rte_tel_data_add_dict_container(d, "total", td, 0) != 0)
		rte_tel_data_free(td);
	return 0;
}
FWD_TELEMETRY_HANDLER(stats)

static int
fwd_telemetry_lcores_locked(struct fwd_instance *inst, const char *params, struct rte_tel_data *d)
{
	RTE_SET_USED(params);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "tsc_hz", rte_get_tsc_hz());
	if (inst == NULL)
		return 0;
	for (unsigned int i = 0; i < inst->n_workers; i++) {
		const struct fwd_worker *w = &inst->workers[i];
		struct fwd_lcore_stats s = w->stats;
		struct rte_tel_data *wd = rte_tel_data_alloc();
		char key[12];

		if (wd == NULL)
			return -ENOMEM;
		rte_tel_data_start_dict(wd);
		rte_tel_data_add_dict_u64(wd, "busy_cycles", s.busy_cycles);
		rte_tel_data_add_dict_u64(wd, "idle_cycles", s.idle_cycles);
		rte_tel_data_add_dict_u64(wd, "packets", s.packets);
		rte_tel_data_add_dict_u64(wd, "iterations", s.iterations);
		rte_tel_data_add_dict_u64(wd, "sleeps", s.sleeps);
		rte_tel_data_add_dict_u64(wd, "wakeups", s.wakeups);
		rte_tel_data_add_dict_u64(wd, "wake_vf", s.wake_vf);
		rte_tel_data_add_dict_u64(wd, "wake_kick", s.wake_kick);
		rte_tel_data_add_dict_u64(wd, "wake_ctl", s.wake_ctl);
		rte_tel_data_add_dict_u64(wd, "wake_timer", s.wake_timer);
		rte_tel_data_add_dict_u64(wd, "wake_empty", s.wake_empty);
		rte_tel_data_add_dict_string(wd, "idle", fwd_idle_mode_str(w->idle));
		rte_tel_data_add_dict_int(wd, "queues", (int)w->n_queues);
		snprintf(key, sizeof(key), "%u", w->lcore);
		if (rte_tel_data_add_dict_container(d, key, wd, 0) != 0)
			rte_tel_data_free(wd);
	}
	return 0;
}
FWD_TELEMETRY_HANDLER(lcores)

/*
 * "/vfrelay/zero_copy,<relay>,<auto|on|off>": change a relay's zero-copy
 * mode at runtime; the control thread moves its queues within a tick.
 * Only relays started with auto or on have the zero-copy pools to switch to.
 */
static int
fwd_telemetry_zero_copy_locked(struct fwd_instance *inst, const char *params,
			       struct rte_tel_data *d)
{
	char buf[96];
	char *mode;
	struct fwd_relay *r;
	int zc;
	int old;

	if (inst == NULL || params == NULL || strlen(params) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", params);
	mode = strchr(buf, ',');
	if (mode == NULL)
		return -EINVAL;
	*mode++ = '\0';
	r = fwd_instance_relay_by_name(inst, buf);
	if (r == NULL || r->queues[0].zc == NULL)
		return -EINVAL;
	if (strcmp(mode, "auto") == 0)
		zc = FWD_ZC_AUTO;
	else if (strcmp(mode, "on") == 0)
		zc = FWD_ZC_ON;
	else if (strcmp(mode, "off") == 0)
		zc = FWD_ZC_OFF;
	else
		return -EINVAL;
	old = atomic_exchange_explicit(&r->zc_mode, zc, memory_order_relaxed);
	VFR_LOG(NOTICE, "audit: %s: zero_copy %s -> %s (telemetry /vfrelay/zero_copy)",
		r->cfg->name, fwd_zero_copy_str(old), fwd_zero_copy_str(zc));
	for (uint16_t i = 0; i < r->n_queues; i++) {
		/* The next bind attempt applies the mode (off: it quiesces). */
		atomic_store_explicit(&r->queues[i].zc_reason, QSYNC_FB_NONE, memory_order_relaxed);
		atomic_store_explicit(&r->queues[i].zc_rebind, true, memory_order_release);
	}
	fwd_waker_wake(&inst->ctl_waker);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "relay", r->cfg->name);
	rte_tel_data_add_dict_string(d, "zero_copy", fwd_zero_copy_str(zc));
	return 0;
}
FWD_TELEMETRY_HANDLER(zero_copy)

/* Logtypes reported by /vfrelay/log_level without parameters. */
static const char *const fwd_telemetry_logtypes[] = {
	"vfrelay.fwd", "vfrelay.vhost", "vfrelay.qsync", "vfrelay.hw",
	"lib.vhost.config", "lib.vhost.data", "lib.ethdev", "lib.eal",
};

/*
 * "/vfrelay/log_level": {"global": level, logtype: level, ...}, each logtype
 * with '/' for '.' (telemetry dict keys allow only [A-Za-z0-9_/]: "lib/eal");
 * "/vfrelay/log_level,<glob>,<level>": set every logtype matching the glob.
 * Works before setup and after teardown too: logging is the process's.
 */
static int
fwd_telemetry_log_level_locked(struct fwd_instance *inst, const char *params,
			       struct rte_tel_data *d)
{
	char buf[128];
	char *level_s;
	int level;

	RTE_SET_USED(inst);
	rte_tel_data_start_dict(d);
	if (params == NULL || *params == '\0') {
		rte_tel_data_add_dict_string(d, "global",
					     vfr_log_level_name(rte_log_get_global_level()));
		for (size_t i = 0; i < RTE_DIM(fwd_telemetry_logtypes); i++) {
			int type = rte_log_register(fwd_telemetry_logtypes[i]);
			int l = type < 0 ? -1 : rte_log_get_level((uint32_t)type);
			const char *name = l < 0 ? NULL : vfr_log_level_name((uint32_t)l);

			char key[RTE_TEL_MAX_STRING_LEN];

			snprintf(key, sizeof(key), "%s", fwd_telemetry_logtypes[i]);
			for (char *c = key; *c != '\0'; c++)
				if (*c == '.')
					*c = '/';
			if (name != NULL)
				rte_tel_data_add_dict_string(d, key, name);
		}
		return 0;
	}
	if (strlen(params) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", params);
	level_s = strchr(buf, ',');
	if (level_s == NULL || level_s == buf)
		return -EINVAL;
	*level_s++ = '\0';
	level = vfr_log_level_parse(level_s);
	if (level < 0)
		return -EINVAL;
	if (rte_log_set_level_pattern(buf, (uint32_t)level) != 0)
		return -EINVAL;
	VFR_LOG(NOTICE, "audit: log level of '%s' set to %s (telemetry /vfrelay/log_level)", buf,
		level_s);
	rte_tel_data_add_dict_string(d, "pattern", buf);
	rte_tel_data_add_dict_string(d, "level", level_s);
	return 0;
}
FWD_TELEMETRY_HANDLER(log_level)

int
fwd_telemetry_register(void)
{
	int ret = 0;

	ret |= rte_telemetry_register_cmd("/vfrelay/relays", fwd_telemetry_relays,
					  "Relays of this instance: VF, socket, state, features. "
					  "No parameters");
	ret |= rte_telemetry_register_cmd("/vfrelay/stats", fwd_telemetry_stats,
					  "Per-queue counters of a relay. Parameter: relay name");
	ret |= rte_telemetry_register_cmd(
		"/vfrelay/zero_copy", fwd_telemetry_zero_copy,
		"Set a relay's zero-copy mode. Parameters: relay,auto|on|off");
	ret |= rte_telemetry_register_cmd("/vfrelay/lcores", fwd_telemetry_lcores,
					  "Per-worker cycles, packets, sleeps and wake-ups. "
					  "No parameters");
	ret |= rte_telemetry_register_cmd(
		"/vfrelay/log_level", fwd_telemetry_log_level,
		"Log levels. No parameters: list them; glob,level: set them");
	return ret == 0 ? 0 : -EINVAL;
}
