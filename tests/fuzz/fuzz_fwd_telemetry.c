/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Telemetry commands (forwarder/fwd_telemetry.c) with any parameters, on a fake instance.
 *
 * Anyone who can reach the telemetry socket sends "<command>,<params>"; DPDK's telemetry library
 * splits at the first comma and calls our handler with params NULL or a non-empty string. This
 * harness includes fwd_telemetry.c itself, so it calls the very callbacks DPDK would (their
 * lock included), with no EAL and no seam in the file. The instance is built from the input:
 * 0-16 relays with names, devices and sockets as the config parser allows them, 1-16 queues each,
 * copy or zero-copy, any counters, 0-64 workers; or no instance at all (before setup, after
 * teardown). Then a few commands, each with NULL, a raw string or a well-formed one.
 *
 * librte_telemetry's data calls are wrapped (-Wl,--wrap) to keep a shadow of every reply, so
 * the checks see what a client would read:
 * - every handler returns 0 or -EINVAL (or -ENOMEM when the harness makes an allocation fail);
 * - a command succeeds exactly when its parameters name what exists (a relay, a mode, a log
 *   level), and /vfrelay/zero_copy changes exactly that relay's mode and asks each of its queues
 *   to rebind, nothing else;
 * - no entry of a reply is refused or truncated by the library (an operator would silently miss
 *   it), and each value is the instance's: names, devices, states, every counter and the totals;
 * - every container a handler allocates is attached to the reply or freed (the harness frees
 *   replies as the library does after sending them, and LeakSanitizer sees the rest).
 */

#include <fnmatch.h>

#include "../../forwarder/fwd_telemetry.c"

#include "fuzz_input.h"

VFR_LOG_REGISTER();

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rte_tel_data *__real_rte_tel_data_alloc(void);
void __real_rte_tel_data_free(struct rte_tel_data *d);
int __real_rte_tel_data_start_dict(struct rte_tel_data *d);
int __real_rte_tel_data_add_dict_string(struct rte_tel_data *d, const char *name, const char *val);
int __real_rte_tel_data_add_dict_int(struct rte_tel_data *d, const char *name, int val);
int __real_rte_tel_data_add_dict_u64(struct rte_tel_data *d, const char *name, uint64_t val);
int __real_rte_tel_data_add_dict_container(struct rte_tel_data *d, const char *name,
					   struct rte_tel_data *val, int keep);
struct rte_tel_data *__wrap_rte_tel_data_alloc(void);
void __wrap_rte_tel_data_free(struct rte_tel_data *d);
int __wrap_rte_tel_data_start_dict(struct rte_tel_data *d);
int __wrap_rte_tel_data_add_dict_string(struct rte_tel_data *d, const char *name, const char *val);
int __wrap_rte_tel_data_add_dict_int(struct rte_tel_data *d, const char *name, int val);
int __wrap_rte_tel_data_add_dict_u64(struct rte_tel_data *d, const char *name, uint64_t val);
int __wrap_rte_tel_data_add_dict_container(struct rte_tel_data *d, const char *name,
					   struct rte_tel_data *val, int keep);

/* ---- the shadow of the replies ---- */

enum shadow_type { SH_STRING, SH_INT, SH_U64, SH_CONTAINER };

struct shadow_entry {
	char name[RTE_TEL_MAX_STRING_LEN];
	enum shadow_type type;
	int64_t i;
	uint64_t u;
	char s[FWD_DEVARGS_MAX + 1];
	struct rte_tel_data *child;
};

struct shadow_node {
	struct rte_tel_data *d;
	bool dict;
	bool attached; /* to a parent, freed with it (keep == 0) */
	unsigned int n;
	struct shadow_entry e[RTE_TEL_MAX_DICT_ENTRIES];
};

#define MAX_NODES 128
static struct shadow_node nodes[MAX_NODES];
static unsigned int n_nodes;
static int alloc_fail_at = -1; /* make the n-th allocation of a command fail */
static int allocs;

static struct shadow_node *
node_of(const struct rte_tel_data *d)
{
	for (unsigned int i = 0; i < n_nodes; i++)
		if (nodes[i].d == d)
			return &nodes[i];
	FUZZ_CHECK(false, "reply data %p was not allocated by rte_tel_data_alloc", (void *)d);
	return NULL;
}

static struct shadow_entry *
entry_add(struct rte_tel_data *d, const char *name, enum shadow_type type, int rc)
{
	struct shadow_node *n = node_of(d);

	/* Truncated or refused, the operator never sees it: every entry must get through. */
	FUZZ_CHECK(rc == 0, "telemetry refused or cut entry '%s' (%d)", name, rc);
	FUZZ_CHECK(n->dict, "entry '%s' added to data never started as a dict", name);
	FUZZ_CHECK(n->n < RTE_TEL_MAX_DICT_ENTRIES, "dict full");
	for (unsigned int i = 0; i < n->n; i++)
		FUZZ_CHECK(strcmp(n->e[i].name, name) != 0, "key '%s' twice in one reply", name);
	n->e[n->n].type = type;
	snprintf(n->e[n->n].name, sizeof(n->e[n->n].name), "%s", name);
	return &n->e[n->n++];
}

struct rte_tel_data *
__wrap_rte_tel_data_alloc(void)
{
	struct rte_tel_data *d;

	if (allocs++ == alloc_fail_at)
		return NULL;
	d = __real_rte_tel_data_alloc();
	FUZZ_CHECK(d != NULL && n_nodes < MAX_NODES, "shadow full");
	memset(&nodes[n_nodes], 0, sizeof(nodes[0]));
	nodes[n_nodes++].d = d;
	return d;
}

void
__wrap_rte_tel_data_free(struct rte_tel_data *d)
{
	struct shadow_node *n = node_of(d);

	FUZZ_CHECK(!n->attached, "container freed while attached to a reply");
	*n = nodes[--n_nodes];
	__real_rte_tel_data_free(d);
}

int
__wrap_rte_tel_data_start_dict(struct rte_tel_data *d)
{
	struct shadow_node *n = node_of(d);

	n->dict = true;
	n->n = 0;
	return __real_rte_tel_data_start_dict(d);
}

int
__wrap_rte_tel_data_add_dict_string(struct rte_tel_data *d, const char *name, const char *val)
{
	int rc = __real_rte_tel_data_add_dict_string(d, name, val);
	struct shadow_entry *e = entry_add(d, name, SH_STRING, rc);

	snprintf(e->s, sizeof(e->s), "%s", val);
	return rc;
}

int
__wrap_rte_tel_data_add_dict_int(struct rte_tel_data *d, const char *name, int val)
{
	int rc = __real_rte_tel_data_add_dict_int(d, name, val);

	entry_add(d, name, SH_INT, rc)->i = val;
	return rc;
}

int
__wrap_rte_tel_data_add_dict_u64(struct rte_tel_data *d, const char *name, uint64_t val)
{
	int rc = __real_rte_tel_data_add_dict_u64(d, name, val);

	entry_add(d, name, SH_U64, rc)->u = val;
	return rc;
}

int
__wrap_rte_tel_data_add_dict_container(struct rte_tel_data *d, const char *name,
				       struct rte_tel_data *val, int keep)
{
	int rc = __real_rte_tel_data_add_dict_container(d, name, val, keep);

	FUZZ_CHECK(keep == 0, "container '%s' kept: nobody frees it", name);
	entry_add(d, name, SH_CONTAINER, rc)->child = val;
	node_of(val)->attached = true;
	return rc;
}

/* What the library does once a reply is sent: free it with the containers it holds. */
static void
reply_free(struct rte_tel_data *d)
{
	struct shadow_node *n = node_of(d);
	struct rte_tel_data *children[RTE_TEL_MAX_DICT_ENTRIES];
	unsigned int nc = 0;

	for (unsigned int i = 0; i < n->n; i++)
		if (n->e[i].type == SH_CONTAINER)
			children[nc++] = n->e[i].child;
	n->attached = false;
	__wrap_rte_tel_data_free(d);
	for (unsigned int i = 0; i < nc; i++) {
		node_of(children[i])->attached = false;
		reply_free(children[i]);
	}
}

static const struct shadow_entry *
get(const struct rte_tel_data *d, const char *name, enum shadow_type type)
{
	const struct shadow_node *n = node_of(d);

	for (unsigned int i = 0; i < n->n; i++) {
		if (strcmp(n->e[i].name, name) == 0) {
			FUZZ_CHECK(n->e[i].type == type, "'%s' has type %d, want %d", name,
				   n->e[i].type, type);
			return &n->e[i];
		}
	}
	FUZZ_CHECK(false, "reply has no '%s'", name);
	return NULL;
}

static void
want_str(const struct rte_tel_data *d, const char *name, const char *val)
{
	const struct shadow_entry *e = get(d, name, SH_STRING);

	FUZZ_CHECK(strcmp(e->s, val) == 0, "'%s' is '%s', want '%s'", name, e->s, val);
}

static void
want_int(const struct rte_tel_data *d, const char *name, int64_t val)
{
	const struct shadow_entry *e = get(d, name, SH_INT);

	FUZZ_CHECK(e->i == val, "'%s' is %ld, want %ld", name, e->i, val);
}

static void
want_u64(const struct rte_tel_data *d, const char *name, uint64_t val)
{
	const struct shadow_entry *e = get(d, name, SH_U64);

	FUZZ_CHECK(e->u == val, "'%s' is %lu, want %lu", name, e->u, val);
}

static unsigned int
entries(const struct rte_tel_data *d)
{
	return node_of(d)->n;
}

/* ---- a fake instance ---- */

/* The zero-copy queue state telemetry reads through qsync_queue_counters(). */
struct qsync_queue {
	struct qsync_queue_counters c;
};

void
qsync_queue_counters(const struct qsync_queue *qq, struct qsync_queue_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (qq != NULL)
		*out = qq->c;
}

static struct fwd_instance inst;
static struct fwd_config cfg;
static struct qsync_queue zcq[FWD_MAX_RELAYS][FWD_MAX_QUEUES];

/* Each relay's mbuf pool, as far as telemetry sees it: how many mbufs are out. The pointers
 * are only compared, never dereferenced. */
static char fake_pool[FWD_MAX_RELAYS];
static unsigned int fake_in_use[FWD_MAX_RELAYS];

unsigned int __wrap_rte_mempool_in_use_count(const struct rte_mempool *mp);

unsigned int
__wrap_rte_mempool_in_use_count(const struct rte_mempool *mp)
{
	const char *p = (const char *)mp;

	FUZZ_CHECK(p >= fake_pool && p < fake_pool + FWD_MAX_RELAYS,
		   "in-use count of a pool no relay has");
	return fake_in_use[p - fake_pool];
}

/* vhost_guard.c is not linked: the regions each relay's front-end truncated, made up. */
uint64_t
vhost_guard_faults(unsigned int relay)
{
	return relay < FWD_MAX_RELAYS ? 3u * relay + (fake_in_use[relay] & 7) : 0;
}

static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";

/* 1..max-1 characters of @chars, unique among the first @i relays' names if @unique. */
static void
fuzz_word(struct fuzz_input *in, char *out, size_t max, const char *chars, size_t nchars)
{
	size_t len = 1 + fuzz_below(in, (uint32_t)max - 1);

	for (size_t k = 0; k < len; k++)
		out[k] = chars[fuzz_u8(in) % nchars];
	out[len] = '\0';
}

static void
instance_build(struct fuzz_input *in)
{
	static char printable[95];

	for (int c = 0; c < 94; c++)
		printable[c] = (char)('!' + c); /* no blanks: the parser refuses them in vf */
	memset(&inst, 0, sizeof(inst));
	memset(&cfg, 0, sizeof(cfg));
	memset(zcq, 0, sizeof(zcq));
	inst.cfg = &cfg;
	inst.n_relays = fuzz_below(in, FWD_MAX_RELAYS + 1);
	for (unsigned int i = 0; i < inst.n_relays; i++) {
		struct fwd_relay_config *rc = &cfg.relays[i];
		struct fwd_relay *r = &inst.relays[i];
		bool dup;

		/* Names as the config parser allows them: 1..31 of [A-Za-z0-9_], unique. */
		do {
			fuzz_word(in, rc->name, FWD_NAME_MAX, name_chars, sizeof(name_chars) - 1);
			dup = false;
			for (unsigned int j = 0; j < i; j++)
				dup |= strcmp(cfg.relays[j].name, rc->name) == 0;
			if (dup)
				snprintf(rc->name, sizeof(rc->name), "relay%u", i);
		} while (false);
		if (fuzz_u8(in) & 1)
			fuzz_word(in, rc->vf, FWD_DEVARGS_MAX, printable, 94);
		else
			snprintf(rc->vf, sizeof(rc->vf), "net_null%u", i);
		rc->vhost[0] = '/';
		fuzz_word(in, rc->vhost + 1, FWD_SOCKET_PATH_MAX - 1, printable, 94);
		rc->vhost_mode = fuzz_u8(in) & 1 ? FWD_VHOST_SERVER : FWD_VHOST_CLIENT;
		rc->zero_copy = fuzz_below(in, 3);
		rc->mtu = FWD_MTU_MIN + fuzz_below(in, FWD_MTU_MAX - FWD_MTU_MIN + 1);
		rc->queues = 1 + fuzz_below(in, FWD_MAX_QUEUES);

		r->cfg = rc;
		r->index = i;
		pthread_mutex_init(&r->zc_lock, NULL);
		atomic_init(&r->zc_mode, rc->zero_copy);
		atomic_init(&r->vid, fuzz_u8(in) & 1 ? (int)fuzz_u8(in) : -1);
		atomic_init(&r->conn_vid, atomic_load(&r->vid));
		atomic_init(&r->features, fuzz_u64(in));
		atomic_init(&r->connects, fuzz_u64(in));
		atomic_init(&r->disconnects, fuzz_u64(in));
		atomic_init(&r->connections_refused, fuzz_u64(in));
		atomic_init(&r->messages_refused, fuzz_u64(in));
		atomic_init(&r->connections_failed, fuzz_u64(in));
		r->pool = (struct rte_mempool *)&fake_pool[i];
		fake_in_use[i] = fuzz_u32(in);
		r->port.port_id = fuzz_u16(in); /* no EAL, no port: stats_get fails */
		snprintf(r->port.driver, sizeof(r->port.driver), "%s",
			 fuzz_u8(in) & 1 ? "net_iavf" : "net_null");
		r->n_queues = rc->queues;
		for (uint16_t q = 0; q < r->n_queues; q++) {
			struct fwd_queue *fq = &r->queues[q];
			uint64_t *st = (uint64_t *)&fq->stats;

			fq->relay = r;
			fq->qid = q;
			fq->lcore = fuzz_u8(in);
			atomic_init(&fq->rx_mode, fuzz_u8(in) & 1);
			atomic_init(&fq->rx_enabled, fuzz_u8(in) & 1);
			atomic_init(&fq->tx_enabled, fuzz_u8(in) & 1);
			for (size_t k = 0; k < FWD_QUEUE_N_COUNTERS; k++)
				st[k] = fuzz_u8(in) & 1 ? fuzz_u64(in) : fuzz_u8(in);
			/* zero copy where the config allows it (off: no pools, no zc) */
			if (rc->zero_copy != FWD_ZC_OFF) {
				fq->zc = &zcq[i][q];
				zcq[i][q].c.bad_desc = fuzz_u64(in);
				zcq[i][q].c.desc_too_small = fuzz_u32(in);
				zcq[i][q].c.shells_held = fuzz_u16(in);
				atomic_init(&fq->zc_reason, fuzz_below(in, QSYNC_FB_N));
				for (unsigned int f = 0; f < QSYNC_FB_N; f++)
					fq->zc_fallbacks[f] = fuzz_u8(in);
			}
		}
	}
	inst.n_workers = fuzz_below(in, FWD_MAX_LCORES + 1);
	for (unsigned int w = 0; w < inst.n_workers; w++) {
		struct fwd_worker *wk = &inst.workers[w];

		wk->lcore = w + 1 + (fuzz_u8(in) & 1) * 64; /* unique, as the config keeps them */
		wk->n_queues = fuzz_u8(in);
		wk->stats.busy_cycles = fuzz_u64(in);
		wk->stats.idle_cycles = fuzz_u64(in);
		wk->stats.packets = fuzz_u32(in);
		wk->stats.iterations = fuzz_u32(in);
		wk->stats.sleeps = fuzz_u16(in);
	}
}

/* ---- commands and what each must answer ---- */

static void
check_relays(struct rte_tel_data *d, bool have)
{
	if (!have) {
		FUZZ_CHECK(entries(d) == 0, "relays without an instance: %u entries", entries(d));
		return;
	}
	FUZZ_CHECK(entries(d) == inst.n_relays, "relays: %u entries, %u relays", entries(d),
		   inst.n_relays);
	for (unsigned int i = 0; i < inst.n_relays; i++) {
		const struct fwd_relay *r = &inst.relays[i];
		const struct rte_tel_data *rd = get(d, r->cfg->name, SH_CONTAINER)->child;
		char feat[24];

		want_str(rd, "vf", r->cfg->vf);
		want_str(rd, "driver", r->port.driver);
		want_int(rd, "port_id", r->port.port_id);
		want_str(rd, "vhost", r->cfg->vhost);
		want_str(rd, "vhost_mode", fwd_vhost_mode_str(r->cfg->vhost_mode));
		want_str(rd, "state", atomic_load(&r->vid) >= 0 ? "running" : "waiting");
		want_int(rd, "vid", atomic_load(&r->vid));
		snprintf(feat, sizeof(feat), "0x%lx", (uint64_t)atomic_load(&r->features));
		want_str(rd, "features", feat);
		want_int(rd, "mtu", r->cfg->mtu);
		want_int(rd, "queues", r->n_queues);
		{
			char wake[FWD_MAX_QUEUES * 8] = "";
			size_t off = 0;

			for (uint16_t q = 0; q < r->n_queues; q++) {
				int m = atomic_load(&r->queues[q].wake_mode);

				off += (size_t)snprintf(wake + off, sizeof(wake) - off, "%s%s",
							q ? "," : "", fwd_idle_mode_str(m));
			}
			want_str(rd, "wake", wake);
		}
		want_str(rd, "zero_copy", fwd_zero_copy_str(atomic_load(&r->zc_mode)));
		want_u64(rd, "connects", atomic_load(&r->connects));
		want_u64(rd, "disconnects", atomic_load(&r->disconnects));
		want_u64(rd, "connections_refused", atomic_load(&r->connections_refused));
		want_u64(rd, "messages_refused", atomic_load(&r->messages_refused));
		want_u64(rd, "connections_failed", atomic_load(&r->connections_failed));
		want_u64(rd, "guest_memory_faults", vhost_guard_faults(r->index));
		want_u64(rd, "mbufs_in_use", fake_in_use[i]);
	}
}

static void
want_zc(const struct rte_tel_data *d, const struct qsync_queue_counters *c,
	const uint64_t *fallbacks)
{
	char key[64];

	want_u64(d, "rx_bad_desc", c->bad_desc);
	want_u64(d, "rx_desc_too_small", c->desc_too_small);
	for (unsigned int f = 1; f < QSYNC_FB_N; f++) {
		snprintf(key, sizeof(key), "rx_zc_fallback_%s", qsync_fallback_name(f));
		want_u64(d, key, fallbacks[f]);
	}
}

static void
check_stats(struct rte_tel_data *d, const struct fwd_relay *r)
{
	uint64_t total[FWD_QUEUE_N_COUNTERS] = {0};
	struct qsync_queue_counters zt = {0};
	uint64_t fbt[QSYNC_FB_N] = {0};
	const struct rte_tel_data *td;
	bool any_zc = false;
	char key[8];

	want_str(d, "relay", r->cfg->name);
	FUZZ_CHECK(entries(d) == 2u + r->n_queues, "stats: %u entries for %u queues", entries(d),
		   r->n_queues);
	for (uint16_t q = 0; q < r->n_queues; q++) {
		const struct fwd_queue *fq = &r->queues[q];
		const uint64_t *st = (const uint64_t *)&fq->stats;
		const struct rte_tel_data *qd;

		snprintf(key, sizeof(key), "q%u", q);
		qd = get(d, key, SH_CONTAINER)->child;
		want_int(qd, "lcore", fq->lcore);
		want_str(qd, "mode",
			 atomic_load(&fq->rx_mode) == FWD_RX_MODE_ZERO_COPY ? "zero-copy" : "copy");
		want_str(qd, "wake", fwd_idle_mode_str(atomic_load(&fq->wake_mode)));
		want_int(qd, "rx_enabled", atomic_load(&fq->rx_enabled));
		want_int(qd, "tx_enabled", atomic_load(&fq->tx_enabled));
		for (size_t k = 0; k < FWD_QUEUE_N_COUNTERS; k++) {
			want_u64(qd, fwd_queue_counter_names[k], st[k]);
			total[k] += st[k];
		}
		if (fq->zc != NULL) {
			want_str(qd, "zc_state", qsync_fallback_name(atomic_load(&fq->zc_reason)));
			want_u64(qd, "zc_shells_held", fq->zc->c.shells_held);
			want_zc(qd, &fq->zc->c, fq->zc_fallbacks);
			zt.bad_desc += fq->zc->c.bad_desc;
			zt.desc_too_small += fq->zc->c.desc_too_small;
			for (unsigned int f = 0; f < QSYNC_FB_N; f++)
				fbt[f] += fq->zc_fallbacks[f];
			any_zc = true;
		}
		FUZZ_CHECK(entries(qd) == 5 + FWD_QUEUE_N_COUNTERS + (fq->zc ? QSYNC_FB_N + 3 : 0),
			   "q%u: %u entries", q, entries(qd));
	}
	td = get(d, "total", SH_CONTAINER)->child;
	for (size_t k = 0; k < FWD_QUEUE_N_COUNTERS; k++)
		want_u64(td, fwd_queue_counter_names[k], total[k]);
	if (any_zc)
		want_zc(td, &zt, fbt);
	FUZZ_CHECK(entries(td) == FWD_QUEUE_N_COUNTERS + (any_zc ? QSYNC_FB_N + 1 : 0),
		   "total: %u entries", entries(td));
}

static void
check_lcores(struct rte_tel_data *d, bool have)
{
	want_u64(d, "tsc_hz", rte_get_tsc_hz());
	FUZZ_CHECK(entries(d) == 1 + (have ? inst.n_workers : 0), "lcores: %u entries", entries(d));
	for (unsigned int w = 0; have && w < inst.n_workers; w++) {
		const struct fwd_worker *wk = &inst.workers[w];
		const struct rte_tel_data *wd;
		char key[12];

		snprintf(key, sizeof(key), "%u", wk->lcore);
		wd = get(d, key, SH_CONTAINER)->child;
		want_u64(wd, "busy_cycles", wk->stats.busy_cycles);
		want_u64(wd, "idle_cycles", wk->stats.idle_cycles);
		want_u64(wd, "packets", wk->stats.packets);
		want_u64(wd, "iterations", wk->stats.iterations);
		want_u64(wd, "sleeps", wk->stats.sleeps);
		want_u64(wd, "wakeups", wk->stats.wakeups);
		want_u64(wd, "wake_vf", wk->stats.wake_vf);
		want_u64(wd, "wake_kick", wk->stats.wake_kick);
		want_u64(wd, "wake_ctl", wk->stats.wake_ctl);
		want_u64(wd, "wake_timer", wk->stats.wake_timer);
		want_u64(wd, "wake_empty", wk->stats.wake_empty);
		want_str(wd, "idle", fwd_idle_mode_str(wk->idle));
		want_int(wd, "queues", wk->n_queues);
	}
}

/* The relay @p params names exactly, or NULL. */
static struct fwd_relay *
relay_named(const char *name, size_t len)
{
	for (unsigned int i = 0; i < inst.n_relays; i++)
		if (strlen(inst.relays[i].cfg->name) == len &&
		    strncmp(inst.relays[i].cfg->name, name, len) == 0)
			return &inst.relays[i];
	return NULL;
}

struct relay_state {
	int zc_mode;
	uint32_t zc_reason[FWD_MAX_QUEUES];
	bool zc_rebind[FWD_MAX_QUEUES];
};

static void
snapshot(struct relay_state *s)
{
	memset(s, 0, sizeof(*s) * FWD_MAX_RELAYS);
	for (unsigned int i = 0; i < inst.n_relays; i++) {
		s[i].zc_mode = atomic_load(&inst.relays[i].zc_mode);
		for (uint16_t q = 0; q < inst.relays[i].n_queues; q++) {
			s[i].zc_reason[q] = atomic_load(&inst.relays[i].queues[q].zc_reason);
			s[i].zc_rebind[q] = atomic_load(&inst.relays[i].queues[q].zc_rebind);
		}
	}
}

static void
check_zero_copy(struct rte_tel_data *d, int rc, const char *params, bool have,
		const struct relay_state *before)
{
	struct relay_state after[FWD_MAX_RELAYS];
	const struct fwd_relay *r = NULL;
	const char *comma = params ? strchr(params, ',') : NULL;
	int mode = -1;

	/* "<relay>,<auto|on|off>": a relay that has zero-copy pools, and a mode. */
	if (have && comma != NULL && strlen(params) < 96) {
		r = relay_named(params, (size_t)(comma - params));
		if (r != NULL && r->queues[0].zc == NULL)
			r = NULL;
		for (int m = FWD_ZC_AUTO; m <= FWD_ZC_OFF; m++)
			if (strcmp(comma + 1, fwd_zero_copy_str(m)) == 0)
				mode = m;
	}
	snapshot(after);
	if (r == NULL || mode < 0) {
		FUZZ_CHECK(rc == -EINVAL, "zero_copy '%s': %d, want -EINVAL", params, rc);
		FUZZ_CHECK(memcmp(before, after, sizeof(after[0]) * inst.n_relays) == 0,
			   "a refused zero_copy command changed state");
		return;
	}
	FUZZ_CHECK(rc == 0, "zero_copy '%s': %d", params, rc);
	want_str(d, "relay", r->cfg->name);
	want_str(d, "zero_copy", fwd_zero_copy_str(mode));
	for (unsigned int i = 0; i < inst.n_relays; i++) {
		if (&inst.relays[i] != r) {
			FUZZ_CHECK(memcmp(&before[i], &after[i], sizeof(after[i])) == 0,
				   "zero_copy for %s changed relay %s", r->cfg->name,
				   inst.relays[i].cfg->name);
			continue;
		}
		FUZZ_CHECK(after[i].zc_mode == mode, "zc_mode %d, want %d", after[i].zc_mode, mode);
		for (uint16_t q = 0; q < r->n_queues; q++)
			FUZZ_CHECK(after[i].zc_rebind[q] && after[i].zc_reason[q] == QSYNC_FB_NONE,
				   "queue %u not asked to rebind", q);
	}
}

static void
check_log_level(struct rte_tel_data *d, int rc, const char *params)
{
	const char *comma = params ? strchr(params, ',') : NULL;

	if (params == NULL) {
		FUZZ_CHECK(rc == 0, "log_level without parameters: %d", rc);
		want_str(d, "global", vfr_log_level_name(rte_log_get_global_level()));
		return;
	}
	if (comma == NULL || comma == params || strlen(params) >= 128 ||
	    vfr_log_level_parse(comma + 1) < 0) {
		FUZZ_CHECK(rc == -EINVAL, "log_level '%s': %d, want -EINVAL", params, rc);
		return;
	}
	FUZZ_CHECK(rc == 0, "log_level '%s': %d", params, rc);
	{
		char glob[128];
		int type = rte_log_register("vfrelay.fwd");

		snprintf(glob, sizeof(glob), "%.*s", (int)(comma - params), params);
		want_str(d, "pattern", glob);
		want_str(d, "level", comma + 1);
		if (fnmatch(glob, "vfrelay.fwd", 0) == 0)
			FUZZ_CHECK(rte_log_get_level((uint32_t)type) ==
					   vfr_log_level_parse(comma + 1),
				   "'%s' matches vfrelay.fwd, whose level did not change", glob);
	}
}

/* A parameter string: a valid one built from the instance, or raw bytes (no NUL, non-empty:
 * what DPDK's telemetry passes; NULL when the command had no comma). */
static const char *
pick_params(struct fuzz_input *in, char *buf, size_t size)
{
	static const char *const modes[] = {"auto", "on", "off", "", "On", "off,", "auto "};
	static const char *const levels[] = {"debug",	"info", "notice", "err",
					     "warning", "8",	"",	  "emerg"};
	static const char *const globs[] = {"vfrelay.*",   "*", "lib.vhost.*",
					    "vfrelay.fwd", "[", "vfrelay.qsync"};
	const char *name = "x";
	size_t len;

	if (inst.n_relays > 0)
		name = inst.relays[fuzz_below(in, inst.n_relays)].cfg->name;
	switch (fuzz_u8(in) % 6) {
	case 0:
		return NULL;
	case 1:
		snprintf(buf, size, "%s", name);
		return buf;
	case 2:
		snprintf(buf, size, "%s,%s", name, modes[fuzz_u8(in) % 7]);
		return buf;
	case 3:
		snprintf(buf, size, "%s,%s", globs[fuzz_u8(in) % 6], levels[fuzz_u8(in) % 8]);
		return buf;
	default:
		len = 1 + fuzz_below(in, (uint32_t)size - 1);
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)(1 + fuzz_u8(in) % 255);
		buf[len] = '\0';
		return buf;
	}
}

/* FUZZ_VERBOSE=1: each command, its parameters and result, to check what a seed does. */
static bool verbose;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	/* The audit lines of commands that change behaviour: expected, and noise here. */
	rte_openlog_stream(fopen("/dev/null", "w"));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		const char *name;
		telemetry_cb fn;
	} cmds[] = {
		{"relays", fwd_telemetry_relays},	{"stats", fwd_telemetry_stats},
		{"zero_copy", fwd_telemetry_zero_copy}, {"lcores", fwd_telemetry_lcores},
		{"log_level", fwd_telemetry_log_level},
	};
	struct fuzz_input in;
	bool have;

	fuzz_input_init(&in, data, size);
	instance_build(&in);
	have = fuzz_u8(&in) % 8 != 0;
	if (have)
		fwd_telemetry_attach(&inst);
	else
		fwd_telemetry_detach();

	for (int k = 0; k < 8 && !fuzz_done(&in); k++) {
		unsigned int c = fuzz_u8(&in) % RTE_DIM(cmds);
		struct relay_state before[FWD_MAX_RELAYS];
		char buf[1024];
		const char *params = pick_params(&in, buf, sizeof(buf));
		struct rte_tel_data *d;
		int rc;

		n_nodes = 0;
		alloc_fail_at = -1;
		d = __wrap_rte_tel_data_alloc(); /* the reply, as the library has it */
		/* Now and then the handler's n-th allocation fails. */
		allocs = 0;
		alloc_fail_at = fuzz_u8(&in) % 16 == 0 ? (int)(fuzz_u8(&in) % 8) : -1;
		snapshot(before);
		rc = cmds[c].fn(cmds[c].name, params, d);
		if (verbose)
			fprintf(stderr,
				"telemetry: %u relays %u workers%s: /vfrelay/%s%s%s -> %d\n",
				inst.n_relays, inst.n_workers, have ? "" : " (detached)",
				cmds[c].name, params ? "," : "", params ? params : "", rc);
		FUZZ_CHECK(rc == 0 || rc == -EINVAL || (rc == -ENOMEM && alloc_fail_at >= 0),
			   "%s: %d", cmds[c].name, rc);
		if (rc == 0) {
			switch (c) {
			case 0:
				check_relays(d, have);
				break;
			case 1: {
				const struct fwd_relay *r =
					have && params ? relay_named(params, strlen(params)) : NULL;

				FUZZ_CHECK(r != NULL, "stats '%s' answered for no relay", params);
				check_stats(d, r);
				break;
			}
			case 3:
				check_lcores(d, have);
				break;
			default:
				break;
			}
		}
		if (c == 1 && rc != 0 && alloc_fail_at < 0)
			FUZZ_CHECK(!have || params == NULL ||
					   relay_named(params, strlen(params)) == NULL,
				   "stats '%s' refused for a relay that exists", params);
		if (c == 2 && alloc_fail_at < 0)
			check_zero_copy(d, rc, params, have, before);
		if (c == 4 && alloc_fail_at < 0)
			check_log_level(d, rc, params);

		/* Whatever the outcome, the reply and what it holds are the library's to free;
		 * anything else a handler allocated must already be gone. */
		reply_free(d);
		FUZZ_CHECK(n_nodes == 0, "%s: %u containers neither attached nor freed",
			   cmds[c].name, n_nodes);
	}
	fwd_telemetry_detach();
	for (unsigned int i = 0; i < inst.n_relays; i++)
		pthread_mutex_destroy(&inst.relays[i].zc_lock);
	return 0;
}
