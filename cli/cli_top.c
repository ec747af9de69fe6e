/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* vfrelayctl top: per-queue packet and bit rates, per-lcore load, refreshed every interval. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_stats.h"
#include "cli_table.h"

/*
 * One sample: {"relays": {name: {"t": sec, "stats": {...}}}, "lcores": {"t": sec,
 * "data": {...}}}. Each relay carries its own timestamp, taken next to its own query, so a
 * slow reply for one relay does not skew the rates of the others.
 */
static int
cli_top_sample(struct cli_tel *tel, json_t **out)
{
	json_t *sample = cli_json_object(), *srelays = cli_json_object();
	json_t *relays = NULL, *stats, *lcores, *r;
	const char *name;
	double t;
	int ret;

	json_object_set_new(sample, "relays", srelays);
	ret = cli_tel_query_dict(tel, CLI_CMD_RELAYS, &relays);
	if (ret < 0)
		goto err;
	json_object_foreach(relays, name, r) {
		t = cli_now_mono();
		ret = cli_query_stats(tel, name, &stats);
		if (ret < 0)
			goto err;
		if (!json_is_object(stats)) {
			json_decref(stats);
			continue;
		}
		json_object_set_new(srelays, name, json_pack("{s:f,s:o}", "t", t, "stats", stats));
	}
	t = cli_now_mono();
	ret = cli_tel_query(tel, CLI_CMD_LCORES, &lcores);
	if (ret < 0)
		goto err;
	/* Without the lcores command top still shows the queues. */
	if (json_is_object(lcores))
		json_object_set_new(sample, "lcores",
				    json_pack("{s:f,s:o}", "t", t, "data", lcores));
	else
		json_decref(lcores);
	json_decref(relays);
	*out = sample;
	return 0;
err:
	json_decref(relays);
	json_decref(sample);
	return ret;
}

/*
 * Counter growth between two samples, false when it cannot be known: counter missing on
 * either side, or smaller now (the queue was re-created and its counters restarted).
 */
static bool
cli_top_delta(const json_t *prev, const json_t *cur, const char *key, uint64_t *d)
{
	uint64_t a, b;

	if (!cli_get_u64(prev, key, &a) || !cli_get_u64(cur, key, &b) || b < a)
		return false;
	*d = b - a;
	return true;
}

/* Every counter with "drop" in its name, so a new drop reason is counted without a change. */
static bool
cli_top_drops_delta(const json_t *prev, const json_t *cur, uint64_t *d)
{
	const char *key;
	json_t *v;
	uint64_t x;

	*d = 0;
	json_object_foreach((json_t *)cur, key, v) {
		if (!json_is_integer(v) || strstr(key, "drop") == NULL)
			continue;
		if (!cli_top_delta(prev, cur, key, &x))
			return false;
		*d += x;
	}
	return true;
}

static json_t *
cli_top_rate(bool ok, uint64_t d, double scale, double dt)
{
	return ok && dt > 0 ? json_real((double)d * scale / dt) : json_null();
}

/* Rates of one queue (or the total) as {lcore, rx_pps, rx_mbps, tx_pps, tx_mbps, drops_ps}. */
static json_t *
cli_top_queue_rates(const json_t *prev, const json_t *cur, double dt)
{
	json_t *q = cli_json_object();
	uint64_t d = 0;
	bool ok;

	if (json_object_get(cur, "lcore") != NULL)
		json_object_set(q, "lcore", json_object_get(cur, "lcore"));
	ok = prev != NULL && cli_top_delta(prev, cur, "rx_packets", &d);
	json_object_set_new(q, "rx_pps", cli_top_rate(ok, d, 1.0, dt));
	ok = prev != NULL && cli_top_delta(prev, cur, "rx_bytes", &d);
	json_object_set_new(q, "rx_mbps", cli_top_rate(ok, d, 8e-6, dt));
	ok = prev != NULL && cli_top_delta(prev, cur, "tx_packets", &d);
	json_object_set_new(q, "tx_pps", cli_top_rate(ok, d, 1.0, dt));
	ok = prev != NULL && cli_top_delta(prev, cur, "tx_bytes", &d);
	json_object_set_new(q, "tx_mbps", cli_top_rate(ok, d, 8e-6, dt));
	ok = prev != NULL && cli_top_drops_delta(prev, cur, &d);
	json_object_set_new(q, "drops_ps", cli_top_rate(ok, d, 1.0, dt));
	return q;
}

/* Rates between two samples: {"relays": {name: {queue: rates}}, "lcores": {id: {...}}}. */
static json_t *
cli_top_rates(const json_t *prev, const json_t *cur)
{
	json_t *out = cli_json_object(), *relays = cli_json_object(), *lcores = cli_json_object();
	const json_t *pr, *pstats, *cstats, *pl, *cl;
	json_t *cr, *qr, *lr, *q;
	const char *name, *key;
	const char *cols[CLI_STATS_MAX_COLUMNS];
	size_t ncols, i;
	double dt;
	uint64_t busy = 0, idle = 0, pkts = 0;

	json_object_set_new(out, "relays", relays);
	json_object_set_new(out, "lcores", lcores);

	json_object_foreach(json_object_get(cur, "relays"), name, cr) {
		pr = json_object_get(json_object_get(prev, "relays"), name);
		cstats = json_object_get(cr, "stats");
		pstats = json_object_get(pr, "stats");
		dt = pr != NULL ? json_real_value(json_object_get(cr, "t")) -
					  json_real_value(json_object_get(pr, "t"))
				: 0;
		qr = cli_json_object();
		ncols = cli_stats_columns(cstats, cols, CLI_STATS_MAX_COLUMNS);
		for (i = 0; i < ncols; i++) {
			q = cli_top_queue_rates(json_object_get(pstats, cols[i]),
						json_object_get(cstats, cols[i]), dt);
			json_object_set_new(qr, cols[i], q);
		}
		json_object_set_new(relays, name, qr);
	}

	pl = json_object_get(prev, "lcores");
	cl = json_object_get(cur, "lcores");
	if (cl == NULL)
		return out;
	dt = pl != NULL ? json_real_value(json_object_get(cl, "t")) -
				  json_real_value(json_object_get(pl, "t"))
			: 0;
	json_object_foreach(json_object_get(cl, "data"), key, cr) {
		const json_t *p = json_object_get(json_object_get(pl, "data"), key);
		bool ok_b, ok_i;

		if (!json_is_object(cr))
			continue;
		lr = cli_json_object();
		if (json_object_get(cr, "queues") != NULL)
			json_object_set(lr, "queues", json_object_get(cr, "queues"));
		ok_b = p != NULL && cli_top_delta(p, cr, "busy_cycles", &busy);
		ok_i = p != NULL && cli_top_delta(p, cr, "idle_cycles", &idle);
		if (ok_b && ok_i && busy + idle > 0)
			json_object_set_new(
				lr, "busy_pct",
				json_real(100.0 * (double)busy / (double)(busy + idle)));
		else
			json_object_set_new(lr, "busy_pct", json_null());
		ok_b = p != NULL && cli_top_delta(p, cr, "packets", &pkts);
		json_object_set_new(lr, "pps", cli_top_rate(ok_b, pkts, 1.0, dt));
		json_object_set_new(lcores, key, lr);
	}
	return out;
}

static void
cli_top_render(const struct cli_ctx *ctx, const json_t *rates, bool tty)
{
	const json_t *relays = json_object_get(rates, "relays");
	const json_t *lcores = json_object_get(rates, "lcores");
	const char *name, *qname;
	json_t *qs, *q;
	char stamp[32];
	struct tm tm;
	struct cli_table t;
	time_t now = time(NULL);

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("vfrelay '%s'  %s  every %g s%s\n\n", ctx->tel.name, stamp, ctx->interval,
	       tty ? "  (Ctrl-C quits)" : "");

	if (json_object_size(relays) == 0) {
		puts("no relays");
	} else {
		/* Drops are summed over every *drop* counter; 'vfrelayctl stats' says which. */
		static const char *const head[] = {
			"RELAY",   "QUEUE",  "LCORE",   "RX_PPS",
			"RX_MBPS", "TX_PPS", "TX_MBPS", "DROPS/S",
		};

		cli_table_init(&t, 8, ~UINT64_C(3));
		for (size_t i = 0; i < 8; i++)
			cli_table_pushs(&t, head[i]);
		json_object_foreach((json_t *)relays, name, qs) {
			json_object_foreach(qs, qname, q) {
				cli_table_pushs(&t, name);
				cli_table_pushs(&t, qname);
				cli_table_push(&t, cli_fmt_value(json_object_get(q, "lcore")));
				cli_table_push_real(&t, json_object_get(q, "rx_pps"), "%.0f");
				cli_table_push_real(&t, json_object_get(q, "rx_mbps"), "%.2f");
				cli_table_push_real(&t, json_object_get(q, "tx_pps"), "%.0f");
				cli_table_push_real(&t, json_object_get(q, "tx_mbps"), "%.2f");
				/* One decimal: a rare drop must not round away to 0. */
				cli_table_push_real(&t, json_object_get(q, "drops_ps"), "%.1f");
			}
		}
		cli_table_print(&t, 0);
		cli_table_free(&t);
	}

	if (json_object_size(lcores) != 0) {
		putchar('\n');
		cli_table_init(&t, 4, ~UINT64_C(1));
		cli_table_pushs(&t, "LCORE");
		cli_table_pushs(&t, "QUEUES");
		cli_table_pushs(&t, "BUSY%");
		cli_table_pushs(&t, "PPS");
		json_object_foreach((json_t *)lcores, name, q) {
			cli_table_pushs(&t, name);
			cli_table_push(&t, cli_fmt_value(json_object_get(q, "queues")));
			cli_table_push_real(&t, json_object_get(q, "busy_pct"), "%.1f");
			cli_table_push_real(&t, json_object_get(q, "pps"), "%.0f");
		}
		cli_table_print(&t, 0);
		cli_table_free(&t);
	}
	if (!tty)
		putchar('\n');
}

static void
cli_top_on_signal(int sig)
{
	(void)sig;
	atomic_store(&cli_tel_interrupted, true);
}

/* Sleep until @p deadline (CLOCK_MONOTONIC seconds); false when told to stop meanwhile. */
static bool
cli_top_sleep_until(double deadline)
{
	struct timespec ts = {
		.tv_sec = (time_t)deadline,
		.tv_nsec = (long)((deadline - (double)(time_t)deadline) * 1e9),
	};

	while (!atomic_load(&cli_tel_interrupted)) {
		int ret = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);

		if (ret == 0)
			return !atomic_load(&cli_tel_interrupted);
		if (ret != EINTR)
			return false;
	}
	return false;
}

int
cli_top_run(struct cli_ctx *ctx, int argc, char **argv)
{
	/* No SA_RESTART: Ctrl-C must also cut a sleep or a pending reply short. */
	struct sigaction sa = { .sa_handler = cli_top_on_signal };
	bool tty = isatty(STDOUT_FILENO);
	json_t *prev = NULL, *cur, *rates;
	double start;
	unsigned long i;
	int ret;

	(void)argc;
	(void)argv;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Deadlines are start + k * interval, so slow replies do not make the period drift. */
	start = cli_now_mono();
	ret = cli_top_sample(&ctx->tel, &prev);
	for (i = 0; ret == 0 && (ctx->count == 0 || i < ctx->count); i++) {
		if (!cli_top_sleep_until(start + (double)(i + 1) * ctx->interval))
			break;
		ret = cli_top_sample(&ctx->tel, &cur);
		if (ret < 0)
			break;
		rates = cli_top_rates(prev, cur);
		if (ctx->json) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			json_object_set_new(
				rates, "time",
				json_real((double)ts.tv_sec + (double)ts.tv_nsec / 1e9));
			/* 13 digits: epoch time to 10 ms, rates to more than they are worth. */
			cli_print_json(rates, JSON_COMPACT | JSON_REAL_PRECISION(13));
		} else {
			cli_top_render(ctx, rates, tty);
		}
		fflush(stdout);
		json_decref(rates);
		json_decref(prev);
		prev = cur;
	}
	json_decref(prev);
	/* Interrupted mid-query is the operator quitting, not an error. */
	return ret == -EINTR ? 0 : ret;
}
