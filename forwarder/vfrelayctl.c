/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfrelayctl: the operator's view of one running vfrelay instance.
 *
 * It speaks the DPDK telemetry v2 protocol itself instead of linking DPDK, so it starts in
 * milliseconds, needs no hugepages and can never disturb the daemon's EAL: one SOCK_SEQPACKET
 * connection, one JSON hello from the server, then exactly one JSON message per command.
 * Everything it shows comes from three daemon commands (see docs/vfrelayctl.md):
 * /vfrelay/relays, /vfrelay/stats,<relay> and /vfrelay/lcores.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define PROG "vfrelayctl"

#define EXIT_RUNTIME 1 /* instance missing or gone, unknown relay, bad reply */
#define EXIT_USAGE 2

#define TEL_SOCKET_NAME "dpdk_telemetry.v2"
/* DPDK 22.11 replies are at most 16 KiB; later releases grow, and the hello says by how much. */
#define TEL_RECV_MIN (64 * 1024)
/* The server reads each command into a 1024-byte buffer, NUL included. */
#define TEL_CMD_MAX 1023
/* A daemon whose telemetry thread is stuck must not hang a script forever. */
#define TEL_TIMEOUT_S 5

#define TOP_INTERVAL_MAX 3600.0

/* Telemetry commands the daemon serves (contract: docs/vfrelayctl.md). */
#define CMD_RELAYS "/vfrelay/relays"
#define CMD_STATS "/vfrelay/stats"
#define CMD_LCORES "/vfrelay/lcores"

struct ctl {
	const char *name;    /* instance name, for messages */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char name_buf[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* name taken from -s */
	bool json;
	double interval;     /* top only */
	unsigned long count; /* top only; 0 = until interrupted */
	int fd;
	char *buf;           /* receive buffer, buf_len + 1 bytes (room for a NUL) */
	size_t buf_len;
};

/*
 * Set by SIGINT/SIGTERM during `top`, read by its loop. Lock-free atomics are the C11 way to
 * share state with a signal handler (C11 7.14.1.1); atomic_bool is lock-free on every target.
 */
static atomic_bool top_stop;

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" PROG " --help' for more information.\n", stderr);
	exit(EXIT_USAGE);
}

static void
oom(void)
{
	fputs(PROG ": out of memory\n", stderr);
	exit(EXIT_RUNTIME);
}

static char * __attribute__((format(printf, 1, 2)))
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int ret;

	va_start(ap, fmt);
	ret = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (ret < 0)
		oom();
	return s;
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		oom();
	return d;
}

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------------------------ */
/* Telemetry connection */

/*
 * Same rule as DPDK's eal_create_runtime_dir(), so `-n NAME` finds the socket of a daemon
 * started with --file-prefix=NAME by the same user (systemd's RuntimeDirectory= included).
 */
static void
default_socket_path(struct ctl *c)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");
	int ret;

	if (dir == NULL) {
		if (getuid() == 0)
			dir = "/var/run";
		else
			dir = getenv("XDG_RUNTIME_DIR") ? : "/tmp";
	}
	ret = snprintf(c->path, sizeof(c->path), "%s/dpdk/%s/" TEL_SOCKET_NAME, dir, c->name);
	if (ret < 0 || (size_t)ret >= sizeof(c->path))
		usage_error("socket path '%s/dpdk/%s/" TEL_SOCKET_NAME "' is longer than %zu bytes",
			    dir, c->name, sizeof(c->path) - 1);
}

/*
 * With only -s, the instance is named after the socket's directory, which is the name by
 * construction (<runtime>/dpdk/<name>/dpdk_telemetry.v2), so messages read the same either way.
 */
static void
name_from_path(struct ctl *c)
{
	char *slash, *start;

	memcpy(c->name_buf, c->path, sizeof(c->name_buf));
	c->name = c->path;
	slash = strrchr(c->name_buf, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	start = strrchr(c->name_buf, '/');
	start = start != NULL ? start + 1 : c->name_buf;
	if (*start != '\0')
		c->name = start;
}

static void
tel_close(struct ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

static int
tel_gone(const struct ctl *c)
{
	fprintf(stderr, PROG ": instance '%s' went away (telemetry connection to %s closed)\n",
		c->name, c->path);
	return -EPIPE;
}

/*
 * Receive one message into c->buf and parse it. SEQPACKET keeps message boundaries, so one
 * recv() is one reply; MSG_TRUNC makes the kernel report the real length of a longer one.
 */
static int
tel_recv(struct ctl *c, const char *what, json_t **out)
{
	json_error_t err;
	ssize_t n;

	do {
		n = recv(c->fd, c->buf, c->buf_len, MSG_TRUNC);
	} while (n < 0 && errno == EINTR && !atomic_load(&top_stop));
	if (n < 0 && errno == EINTR)
		return -EINTR;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		fprintf(stderr, PROG ": instance '%s' did not answer '%s' within %d s on %s\n",
			c->name, what, TEL_TIMEOUT_S, c->path);
		return -ETIMEDOUT;
	}
	/* EOF or reset: the server closed; callers say what that means where they are. */
	if (n <= 0)
		return -EPIPE;
	if ((size_t)n > c->buf_len) {
		fprintf(stderr, PROG ": reply of instance '%s' to '%s' is %zd bytes, over %zu\n",
			c->name, what, n, c->buf_len);
		return -EMSGSIZE;
	}
	c->buf[n] = '\0';
	*out = json_loadb(c->buf, (size_t)n, 0, &err);
	if (*out == NULL) {
		fprintf(stderr, PROG ": malformed reply of instance '%s' to '%s': %s\n", c->name,
			what, err.text);
		return -EPROTO;
	}
	return 0;
}

static int
tel_connect(struct ctl *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = TEL_TIMEOUT_S };
	json_t *hello, *max;
	int ret;

	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
		return -errno;
	}
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		/* A dead daemon's stale socket file refuses: the same thing to an operator. */
		if (ret == -ENOENT || ret == -ECONNREFUSED || ret == -ENOTDIR)
			fprintf(stderr,
				PROG ": instance '%s' is not running (no telemetry socket at %s)\n",
				c->name, c->path);
		else
			fprintf(stderr, PROG ": cannot connect to %s: %s\n", c->path,
				strerror(-ret));
		return ret;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	c->buf_len = TEL_RECV_MIN;
	c->buf = malloc(c->buf_len + 1);
	if (c->buf == NULL)
		oom();
	ret = tel_recv(c, "hello", &hello);
	if (ret == -EPIPE)
		/* The server accepts and at once closes a connection beyond its client limit. */
		fprintf(stderr,
			PROG ": instance '%s' closed the telemetry connection at once (DPDK serves "
			"at most 10 clients at a time; too many open?)\n", c->name);
	if (ret < 0)
		return ret;
	max = json_object_get(hello, "max_output_len");
	if (json_is_integer(max) && json_integer_value(max) > (json_int_t)c->buf_len) {
		c->buf_len = (size_t)json_integer_value(max);
		free(c->buf);
		c->buf = malloc(c->buf_len + 1);
		if (c->buf == NULL)
			oom();
	}
	json_decref(hello);
	return 0;
}

/*
 * Send @p cmd ("/path" or "/path,param") and return the reply's data in *out (a new
 * reference; JSON null when the server does not know the command or the parameter).
 */
static int
tel_query(struct ctl *c, const char *cmd, json_t **out)
{
	size_t len = strlen(cmd);
	size_t key_len = strcspn(cmd, ",");
	const char *key;
	json_t *reply, *data;
	ssize_t n;
	int ret;

	if (len > TEL_CMD_MAX) {
		fprintf(stderr, PROG ": command '%.40s...' exceeds the %d bytes DPDK reads\n",
			cmd, TEL_CMD_MAX);
		return -E2BIG;
	}
	/* MSG_NOSIGNAL: a daemon that exits must give a message, not kill us with SIGPIPE. */
	n = send(c->fd, cmd, len, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EINTR)
			return -EINTR;
		return tel_gone(c);
	}
	ret = tel_recv(c, cmd, &reply);
	if (ret == -EPIPE)
		return tel_gone(c);
	if (ret < 0)
		return ret;

	/* The reply is {"<command without params>": data}. */
	data = NULL;
	json_object_foreach(reply, key, data) {
		if (strlen(key) == key_len && strncmp(key, cmd, key_len) == 0)
			break;
	}
	if (!json_is_object(reply) || data == NULL) {
		fprintf(stderr, PROG ": reply of instance '%s' to '%s' does not carry '%.*s'\n",
			c->name, cmd, (int)key_len, cmd);
		json_decref(reply);
		return -EPROTO;
	}
	*out = json_incref(data);
	json_decref(reply);
	return 0;
}

/* Like tel_query(), but a null answer means the daemon does not implement the command. */
static int
tel_query_required(struct ctl *c, const char *cmd, json_t **out)
{
	int ret = tel_query(c, cmd, out);

	if (ret < 0)
		return ret;
	if (!json_is_object(*out)) {
		fprintf(stderr,
			PROG ": instance '%s' does not serve %s (not a vfrelay daemon, or an "
			"incompatible version)\n", c->name, cmd);
		json_decref(*out);
		return -EPROTO;
	}
	return 0;
}

static int
query_stats(struct ctl *c, const char *relay, json_t **out)
{
	char *cmd = xasprintf(CMD_STATS ",%s", relay);
	int ret = tel_query(c, cmd, out);

	free(cmd);
	return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Output helpers */

static void
print_json(const json_t *v, size_t flags)
{
	char *s = json_dumps(v, flags | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	if (s == NULL)
		oom();
	puts(s);
	free(s);
}

/* One table cell from whatever JSON value the daemon sent; "-" when absent. */
static char *
fmt_value(const json_t *v)
{
	char *s;

	if (v == NULL)
		return xstrdup("-");
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return xasprintf("%.6g", json_real_value(v));
	case JSON_STRING:
		return xstrdup(json_string_value(v));
	case JSON_TRUE:
		return xstrdup("true");
	case JSON_FALSE:
		return xstrdup("false");
	case JSON_NULL:
		return xstrdup("-");
	default:
		s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s == NULL)
			oom();
		return s;
	}
}

static bool
get_u64(const json_t *obj, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* Terminal width when a human is looking, 0 (never wrap) when a script or grep is. */
static size_t
output_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
		return 0;
	return ws.ws_col;
}

/*
 * A text table: row 0 is the header, cells are pushed left to right. Values stay unformatted
 * (no thousands separators, no units in cells) so `grep` and `awk` see the daemon's numbers.
 */
struct table {
	size_t ncols;
	size_t n;        /* cells pushed */
	size_t cap;
	char **cells;    /* owned */
	uint64_t right;  /* bit c: right-align column c */
};

static void
table_init(struct table *t, size_t ncols, uint64_t right)
{
	*t = (struct table){ .ncols = ncols, .right = right };
}

static void
table_push(struct table *t, char *owned)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = realloc(t->cells, t->cap * sizeof(*t->cells));
		if (t->cells == NULL)
			oom();
	}
	t->cells[t->n++] = owned;
}

static void __attribute__((format(printf, 2, 3)))
table_pushf(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	table_push(t, s);
}

static void
table_cell(const struct table *t, size_t col, const char *s, size_t w, bool last)
{
	bool right = t->right & (UINT64_C(1) << col);

	if (right)
		printf("%*s", (int)w, s);
	else if (last)
		fputs(s, stdout);
	else
		printf("%-*s", (int)w, s);
}

/*
 * Print @p t. When too wide for @p max_width (0: unlimited), columns after the first are split
 * into several tables, each repeating the first column, so every line still names its row.
 */
static void
table_print(struct table *t, size_t max_width)
{
	size_t nrows = t->n / t->ncols;
	size_t *w = calloc(t->ncols, sizeof(*w));
	size_t c0, c1, r, c, width;

	if (w == NULL)
		oom();
	for (r = 0; r < nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			size_t len = strlen(t->cells[r * t->ncols + c]);

			if (len > w[c])
				w[c] = len;
		}
	for (c0 = 1; c0 < t->ncols || (c0 == 1 && t->ncols == 1); c0 = c1) {
		width = w[0];
		c1 = c0;
		while (c1 < t->ncols &&
		       (c1 == c0 || max_width == 0 || width + 2 + w[c1] <= max_width))
			width += 2 + w[c1++];
		if (c0 > 1)
			putchar('\n');
		for (r = 0; r < nrows; r++) {
			table_cell(t, 0, t->cells[r * t->ncols], w[0], c0 == c1);
			for (c = c0; c < c1; c++) {
				fputs("  ", stdout);
				table_cell(t, c, t->cells[r * t->ncols + c], w[c], c + 1 == c1);
			}
			putchar('\n');
		}
		if (c1 == c0)
			break;
	}
	free(w);
}

static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n = t->cap = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* relays */

static int
cmd_relays(struct ctl *c)
{
	/* Column header, then the key in each relay's dict. */
	static const char *const cols[][2] = {
		{ "STATE", "state" },   { "VF", "vf" },       { "VHOST", "vhost" },
		{ "MODE", "vhost_mode" }, { "QUEUES", "queues" }, { "MTU", "mtu" },
		{ "ZERO_COPY", "zero_copy" }, { "FEATURES", "features" },
	};
	const size_t ncols = sizeof(cols) / sizeof(cols[0]);
	const char *name;
	json_t *relays, *r;
	struct table t;
	size_t i;
	int ret;

	ret = tel_query_required(c, CMD_RELAYS, &relays);
	if (ret < 0)
		return ret;
	if (c->json) {
		print_json(relays, JSON_INDENT(2));
		json_decref(relays);
		return 0;
	}
	/* QUEUES and MTU right-aligned: they are the numbers. */
	table_init(&t, ncols + 1, (UINT64_C(1) << 5) | (UINT64_C(1) << 6));
	table_push(&t, xstrdup("NAME"));
	for (i = 0; i < ncols; i++)
		table_push(&t, xstrdup(cols[i][0]));
	json_object_foreach(relays, name, r) {
		table_push(&t, xstrdup(name));
		for (i = 0; i < ncols; i++)
			table_push(&t, fmt_value(json_object_get(r, cols[i][1])));
	}
	table_print(&t, output_width());
	table_free(&t);
	json_decref(relays);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* stats */

/*
 * Queue columns of a stats reply in the daemon's order, with "total" moved last so the sum
 * always sits at the right edge.
 */
static size_t
stats_columns(json_t *stats, const char **keys, size_t max)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	json_object_foreach(stats, key, v) {
		if (json_is_object(v) && strcmp(key, "total") != 0 && n < max - 1)
			keys[n++] = key;
	}
	if (json_is_object(json_object_get(stats, "total")))
		keys[n++] = "total";
	return n;
}

/*
 * Rows are counters, columns are queues: a queue count grows the table sideways by one short
 * column, a new counter adds one line, and `grep rx_drop` prints one line per counter with
 * every queue on it. Row names are the union of the queues' keys in first-seen order, so
 * counters the daemon adds later show up without a CLI change.
 */
static void
print_stats(const char *relay, json_t *stats)
{
	const char *cols[256];
	size_t ncols = stats_columns(stats, cols, sizeof(cols) / sizeof(cols[0]));
	json_t *rows = json_object(); /* used as an ordered set of row names */
	const char *key;
	struct table t;
	json_t *v;
	size_t i;

	if (rows == NULL)
		oom();
	for (i = 0; i < ncols; i++)
		json_object_foreach(json_object_get(stats, cols[i]), key, v)
			json_object_set_new(rows, key, json_true());

	table_init(&t, ncols + 1, ~UINT64_C(1));
	table_push(&t, xstrdup(relay));
	for (i = 0; i < ncols; i++)
		table_push(&t, xstrdup(cols[i]));
	json_object_foreach(rows, key, v) {
		table_push(&t, xstrdup(key));
		for (i = 0; i < ncols; i++)
			table_push(&t, fmt_value(json_object_get(json_object_get(stats, cols[i]),
								 key)));
	}
	table_print(&t, output_width());
	table_free(&t);
	json_decref(rows);
}

static int
no_relay(const struct ctl *c, const char *relay)
{
	fprintf(stderr, PROG ": no relay '%s' in instance '%s'\n", relay, c->name);
	return -ENOENT;
}

static int
cmd_stats(struct ctl *c, const char *relay)
{
	json_t *relays, *all, *stats, *r;
	const char *name;
	bool first = true;
	int ret;

	if (relay != NULL) {
		ret = query_stats(c, relay, &stats);
		if (ret < 0)
			return ret;
		if (!json_is_object(stats)) {
			json_decref(stats);
			return no_relay(c, relay);
		}
		if (c->json)
			print_json(stats, JSON_INDENT(2));
		else
			print_stats(relay, stats);
		json_decref(stats);
		return 0;
	}

	ret = tel_query_required(c, CMD_RELAYS, &relays);
	if (ret < 0)
		return ret;
	all = json_object();
	if (all == NULL)
		oom();
	json_object_foreach(relays, name, r) {
		ret = query_stats(c, name, &stats);
		if (ret < 0)
			goto out;
		/* A relay removed between the two queries is simply not shown. */
		if (!json_is_object(stats)) {
			json_decref(stats);
			continue;
		}
		json_object_set_new(all, name, stats);
	}
	if (c->json) {
		print_json(all, JSON_INDENT(2));
	} else {
		json_object_foreach(all, name, stats) {
			if (!first)
				putchar('\n');
			first = false;
			print_stats(name, stats);
		}
	}
out:
	json_decref(all);
	json_decref(relays);
	return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* zero-copy: change a relay's mode at runtime */

static int
cmd_zero_copy(struct ctl *c, const char *relay, const char *mode)
{
	char *cmd = xasprintf("/vfrelay/zero_copy,%s,%s", relay, mode);
	json_t *reply;
	int ret = tel_query(c, cmd, &reply);

	free(cmd);
	if (ret < 0)
		return ret;
	if (!json_is_object(reply)) {
		json_decref(reply);
		fprintf(stderr,
			PROG ": instance '%s' refused: no relay '%s', or it was started with "
			     "zero_copy = off (its queues have no zero-copy pools)\n",
			c->name, relay);
		return -ENOENT;
	}
	if (c->json)
		print_json(reply, JSON_INDENT(2));
	else
		printf("%s: zero_copy = %s\n", relay,
		       json_string_value(json_object_get(reply, "zero_copy")));
	json_decref(reply);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* lcores */

static char *
fmt_pct(uint64_t part, uint64_t whole)
{
	if (whole == 0)
		return xstrdup("-");
	return xasprintf("%.1f", 100.0 * (double)part / (double)whole);
}

static int
cmd_lcores(struct ctl *c)
{
	static const char *const counters[] = {
		"busy_cycles", "idle_cycles", "packets", "iterations", "sleeps",
	};
	const size_t nctr = sizeof(counters) / sizeof(counters[0]);
	const char *key;
	uint64_t busy, idle, pkts;
	json_t *lcores, *v;
	struct table t;
	size_t i;
	int ret;

	ret = tel_query_required(c, CMD_LCORES, &lcores);
	if (ret < 0)
		return ret;
	if (c->json) {
		print_json(lcores, JSON_INDENT(2));
		json_decref(lcores);
		return 0;
	}
	/* Scalars (tsc_hz) are instance-wide: one "key value" line each, before the table. */
	json_object_foreach(lcores, key, v) {
		if (!json_is_object(v)) {
			char *s = fmt_value(v);

			printf("%s %s\n", key, s);
			free(s);
		}
	}

	table_init(&t, nctr + 4, ~UINT64_C(0));
	table_push(&t, xstrdup("LCORE"));
	table_push(&t, xstrdup("QUEUES"));
	for (i = 0; i < nctr; i++) {
		char *h = xstrdup(counters[i]);

		for (char *p = h; *p != '\0'; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
		table_push(&t, h);
	}
	table_push(&t, xstrdup("BUSY%"));
	table_push(&t, xstrdup("CYCLES/PKT"));
	json_object_foreach(lcores, key, v) {
		if (!json_is_object(v))
			continue;
		table_push(&t, xstrdup(key));
		table_push(&t, fmt_value(json_object_get(v, "queues")));
		for (i = 0; i < nctr; i++)
			table_push(&t, fmt_value(json_object_get(v, counters[i])));
		if (get_u64(v, "busy_cycles", &busy) && get_u64(v, "idle_cycles", &idle))
			table_push(&t, fmt_pct(busy, busy + idle));
		else
			table_push(&t, xstrdup("-"));
		if (get_u64(v, "busy_cycles", &busy) && get_u64(v, "packets", &pkts) && pkts != 0)
			table_pushf(&t, "%" PRIu64, busy / pkts);
		else
			table_push(&t, xstrdup("-"));
	}
	/* Left-align the lcore id like the other tables' first column. */
	t.right &= ~UINT64_C(1);
	putchar('\n');
	table_print(&t, output_width());
	table_free(&t);
	json_decref(lcores);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* top */

/*
 * One sample: {"relays": {name: {"t": sec, "stats": {...}}}, "lcores": {"t": sec,
 * "data": {...}}}. Each relay carries its own timestamp, taken next to its own query, so a
 * slow reply for one relay does not skew the rates of the others.
 */
static int
top_sample(struct ctl *c, json_t **out)
{
	json_t *sample = json_object(), *srelays = json_object();
	json_t *relays = NULL, *stats, *lcores, *r;
	const char *name;
	double t;
	int ret;

	if (sample == NULL || srelays == NULL)
		oom();
	json_object_set_new(sample, "relays", srelays);
	ret = tel_query_required(c, CMD_RELAYS, &relays);
	if (ret < 0)
		goto err;
	json_object_foreach(relays, name, r) {
		t = now_mono();
		ret = query_stats(c, name, &stats);
		if (ret < 0)
			goto err;
		if (!json_is_object(stats)) {
			json_decref(stats);
			continue;
		}
		json_object_set_new(srelays, name,
				    json_pack("{s:f,s:o}", "t", t, "stats", stats));
	}
	t = now_mono();
	ret = tel_query(c, CMD_LCORES, &lcores);
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
delta(const json_t *prev, const json_t *cur, const char *key, uint64_t *d)
{
	uint64_t a, b;

	if (!get_u64(prev, key, &a) || !get_u64(cur, key, &b) || b < a)
		return false;
	*d = b - a;
	return true;
}

/* Every counter with "drop" in its name, so a new drop reason is counted without a change. */
static bool
drops_delta(const json_t *prev, const json_t *cur, uint64_t *d)
{
	const char *key;
	json_t *v;
	uint64_t x;

	*d = 0;
	json_object_foreach((json_t *)cur, key, v) {
		if (!json_is_integer(v) || strstr(key, "drop") == NULL)
			continue;
		if (!delta(prev, cur, key, &x))
			return false;
		*d += x;
	}
	return true;
}

static json_t *
rate(bool ok, uint64_t d, double scale, double dt)
{
	return ok && dt > 0 ? json_real((double)d * scale / dt) : json_null();
}

/* Rates of one queue (or the total) as {lcore, rx_pps, rx_mbps, tx_pps, tx_mbps, drops_ps}. */
static json_t *
queue_rates(const json_t *prev, const json_t *cur, double dt)
{
	json_t *q = json_object();
	uint64_t d = 0;
	bool ok;

	if (q == NULL)
		oom();
	if (json_object_get(cur, "lcore") != NULL)
		json_object_set(q, "lcore", json_object_get(cur, "lcore"));
	ok = prev != NULL && delta(prev, cur, "rx_packets", &d);
	json_object_set_new(q, "rx_pps", rate(ok, d, 1.0, dt));
	ok = prev != NULL && delta(prev, cur, "rx_bytes", &d);
	json_object_set_new(q, "rx_mbps", rate(ok, d, 8e-6, dt));
	ok = prev != NULL && delta(prev, cur, "tx_packets", &d);
	json_object_set_new(q, "tx_pps", rate(ok, d, 1.0, dt));
	ok = prev != NULL && delta(prev, cur, "tx_bytes", &d);
	json_object_set_new(q, "tx_mbps", rate(ok, d, 8e-6, dt));
	ok = prev != NULL && drops_delta(prev, cur, &d);
	json_object_set_new(q, "drops_ps", rate(ok, d, 1.0, dt));
	return q;
}

/* Rates between two samples: {"relays": {name: {queue: rates}}, "lcores": {id: {...}}}. */
static json_t *
top_rates(json_t *prev, json_t *cur)
{
	json_t *out = json_object(), *relays = json_object(), *lcores = json_object();
	json_t *cr, *pr, *pstats, *cstats, *qr, *pl, *cl, *lr;
	const char *name, *key;
	const char *cols[256];
	size_t ncols, i;
	double dt;
	uint64_t busy = 0, idle = 0, pkts = 0;

	if (out == NULL || relays == NULL || lcores == NULL)
		oom();
	json_object_set_new(out, "relays", relays);
	json_object_set_new(out, "lcores", lcores);

	json_object_foreach(json_object_get(cur, "relays"), name, cr) {
		pr = json_object_get(json_object_get(prev, "relays"), name);
		cstats = json_object_get(cr, "stats");
		pstats = json_object_get(pr, "stats");
		dt = pr != NULL ? json_real_value(json_object_get(cr, "t")) -
				  json_real_value(json_object_get(pr, "t")) : 0;
		qr = json_object();
		if (qr == NULL)
			oom();
		ncols = stats_columns(cstats, cols, sizeof(cols) / sizeof(cols[0]));
		for (i = 0; i < ncols; i++)
			json_object_set_new(qr, cols[i],
					    queue_rates(json_object_get(pstats, cols[i]),
							json_object_get(cstats, cols[i]), dt));
		json_object_set_new(relays, name, qr);
	}

	pl = json_object_get(prev, "lcores");
	cl = json_object_get(cur, "lcores");
	if (cl == NULL)
		return out;
	dt = pl != NULL ? json_real_value(json_object_get(cl, "t")) -
			  json_real_value(json_object_get(pl, "t")) : 0;
	json_object_foreach(json_object_get(cl, "data"), key, cr) {
		const json_t *p = json_object_get(json_object_get(pl, "data"), key);
		bool ok_b, ok_i;

		if (!json_is_object(cr))
			continue;
		lr = json_object();
		if (lr == NULL)
			oom();
		if (json_object_get(cr, "queues") != NULL)
			json_object_set(lr, "queues", json_object_get(cr, "queues"));
		ok_b = p != NULL && delta(p, cr, "busy_cycles", &busy);
		ok_i = p != NULL && delta(p, cr, "idle_cycles", &idle);
		if (ok_b && ok_i && busy + idle > 0)
			json_object_set_new(lr, "busy_pct",
					    json_real(100.0 * (double)busy /
						      (double)(busy + idle)));
		else
			json_object_set_new(lr, "busy_pct", json_null());
		ok_b = p != NULL && delta(p, cr, "packets", &pkts);
		json_object_set_new(lr, "pps", rate(ok_b, pkts, 1.0, dt));
		json_object_set_new(lcores, key, lr);
	}
	return out;
}

static void
table_push_real(struct table *t, const json_t *v, const char *fmt)
{
	if (json_is_real(v))
		table_pushf(t, fmt, json_real_value(v));
	else
		table_push(t, xstrdup("-"));
}

static void
top_render(const struct ctl *c, json_t *rates, bool tty)
{
	json_t *relays = json_object_get(rates, "relays");
	json_t *lcores = json_object_get(rates, "lcores");
	const char *name, *qname;
	json_t *qs, *q;
	char stamp[32];
	struct tm tm;
	struct table t;
	time_t now = time(NULL);

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("vfrelay '%s'  %s  every %g s%s\n\n", c->name, stamp, c->interval,
	       tty ? "  (Ctrl-C quits)" : "");

	if (json_object_size(relays) == 0) {
		puts("no relays");
	} else {
		/* Drops are summed over every *drop* counter; 'vfrelayctl stats' says which. */
		table_init(&t, 8, ~UINT64_C(3));
		table_push(&t, xstrdup("RELAY"));
		table_push(&t, xstrdup("QUEUE"));
		table_push(&t, xstrdup("LCORE"));
		table_push(&t, xstrdup("RX_PPS"));
		table_push(&t, xstrdup("RX_MBPS"));
		table_push(&t, xstrdup("TX_PPS"));
		table_push(&t, xstrdup("TX_MBPS"));
		table_push(&t, xstrdup("DROPS/S"));
		json_object_foreach(relays, name, qs) {
			json_object_foreach(qs, qname, q) {
				table_push(&t, xstrdup(name));
				table_push(&t, xstrdup(qname));
				table_push(&t, fmt_value(json_object_get(q, "lcore")));
				table_push_real(&t, json_object_get(q, "rx_pps"), "%.0f");
				table_push_real(&t, json_object_get(q, "rx_mbps"), "%.2f");
				table_push_real(&t, json_object_get(q, "tx_pps"), "%.0f");
				table_push_real(&t, json_object_get(q, "tx_mbps"), "%.2f");
				/* One decimal: a rare drop must not round away to 0. */
				table_push_real(&t, json_object_get(q, "drops_ps"), "%.1f");
			}
		}
		table_print(&t, 0);
		table_free(&t);
	}

	if (json_object_size(lcores) != 0) {
		putchar('\n');
		table_init(&t, 4, ~UINT64_C(1));
		table_push(&t, xstrdup("LCORE"));
		table_push(&t, xstrdup("QUEUES"));
		table_push(&t, xstrdup("BUSY%"));
		table_push(&t, xstrdup("PPS"));
		json_object_foreach(lcores, name, q) {
			table_push(&t, xstrdup(name));
			table_push(&t, fmt_value(json_object_get(q, "queues")));
			table_push_real(&t, json_object_get(q, "busy_pct"), "%.1f");
			table_push_real(&t, json_object_get(q, "pps"), "%.0f");
		}
		table_print(&t, 0);
		table_free(&t);
	}
	if (!tty)
		putchar('\n');
}

static void
top_on_signal(int sig)
{
	(void)sig;
	atomic_store(&top_stop, true);
}

/* Sleep until @p deadline (CLOCK_MONOTONIC seconds); false when told to stop meanwhile. */
static bool
top_sleep_until(double deadline)
{
	struct timespec ts = {
		.tv_sec = (time_t)deadline,
		.tv_nsec = (long)((deadline - (double)(time_t)deadline) * 1e9),
	};

	while (!atomic_load(&top_stop)) {
		int ret = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);

		if (ret == 0)
			return !atomic_load(&top_stop);
		if (ret != EINTR)
			return false;
	}
	return false;
}

static int
cmd_top(struct ctl *c)
{
	/* No SA_RESTART: Ctrl-C must also cut a sleep or a pending reply short. */
	struct sigaction sa = { .sa_handler = top_on_signal };
	bool tty = isatty(STDOUT_FILENO);
	json_t *prev = NULL, *cur, *rates;
	double start;
	unsigned long i;
	int ret;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Deadlines are start + k * interval, so slow replies do not make the period drift. */
	start = now_mono();
	ret = top_sample(c, &prev);
	for (i = 0; ret == 0 && (c->count == 0 || i < c->count); i++) {
		if (!top_sleep_until(start + (double)(i + 1) * c->interval))
			break;
		ret = top_sample(c, &cur);
		if (ret < 0)
			break;
		rates = top_rates(prev, cur);
		if (c->json) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			json_object_set_new(
				rates, "time",
				json_real((double)ts.tv_sec + (double)ts.tv_nsec / 1e9));
			/* 13 digits: epoch time to 10 ms, rates to more than they are worth. */
			print_json(rates, JSON_COMPACT | JSON_REAL_PRECISION(13));
		} else {
			top_render(c, rates, tty);
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

/* ------------------------------------------------------------------------------------------ */
/* main: parse and dispatch */

static void
usage(void)
{
	fputs("Usage: " PROG " [-n NAME | -s SOCKET] [--json] COMMAND [ARGS]\n"
	      "\n"
	      "Show the state of a running vfrelay instance, read over its DPDK telemetry socket.\n"
	      "\n"
	      "Commands:\n"
	      "  relays               one line per relay: state, VF, vhost socket, queues, MTU\n"
	      "  stats [RELAY]        per-queue counters of RELAY, or of every relay\n"
	      "  lcores               per-worker cycles since start: busy %, cycles per packet\n"
	      "  top [-i SEC] [-c N]  per-queue packet and bit rates, refreshed every SEC\n"
	      "  zero-copy RELAY MODE set RELAY's zero copy to auto, on or off at runtime\n"
	      "\n"
	      "Options:\n"
	      "  -n, --name NAME      instance name: [vfrelay] name in the config, the DPDK\n"
	      "                       --file-prefix; the socket is <runtime dir>/dpdk/NAME/"
	      TEL_SOCKET_NAME "\n"
	      "  -s, --socket PATH    telemetry socket path (instead of finding it from NAME)\n"
	      "  -j, --json           print the telemetry JSON (top: one object per refresh)\n"
	      "  -i, --interval SEC   top: seconds between refreshes, fractional ok (default 1)\n"
	      "  -c, --count N        top: stop after N refreshes (default: until Ctrl-C)\n"
	      "  -h, --help           print this help and exit\n"
	      "  -V, --version        print the version and exit\n"
	      "\n"
	      "Exit status: 0 success; 1 instance not running or gone, unknown relay, bad\n"
	      "reply; 2 bad usage. See docs/vfrelayctl.md.\n",
	      stdout);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .fd = -1, .interval = 1.0 };
	const char *socket_arg = NULL, *cmd, *relay = NULL, *mode = NULL;
	bool top_opts = false;
	char *end;
	int opt, ret;

	/* Options may come before or after the command (GNU permutation): `stats net0 --json`. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:s:ji:c:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			c.name = optarg;
			break;
		case 's':
			socket_arg = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'i':
			errno = 0;
			c.interval = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !isfinite(c.interval) ||
			    c.interval <= 0 || c.interval > TOP_INTERVAL_MAX)
				usage_error("--interval wants seconds in (0, %g], not '%s'",
					    TOP_INTERVAL_MAX, optarg);
			top_opts = true;
			break;
		case 'c':
			errno = 0;
			c.count = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' ||
			    c.count == 0)
				usage_error("--count wants a positive integer, not '%s'", optarg);
			top_opts = true;
			break;
		case 'h':
			usage();
			return 0;
		case 'V':
			puts(PROG " " VFRELAY_VERSION);
			return 0;
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
			break;
		default:
			if (optopt != 0)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}

	if (optind >= argc)
		usage_error("missing command (relays, stats, lcores, top or zero-copy)");
	cmd = argv[optind++];
	if (strcmp(cmd, "stats") == 0 && optind < argc)
		relay = argv[optind++];
	if (strcmp(cmd, "zero-copy") == 0) {
		if (argc - optind < 2)
			usage_error("zero-copy wants RELAY and MODE (auto, on or off)");
		relay = argv[optind++];
		mode = argv[optind++];
		if (strcmp(mode, "auto") != 0 && strcmp(mode, "on") != 0 &&
		    strcmp(mode, "off") != 0)
			usage_error("zero-copy MODE is auto, on or off, not '%s'", mode);
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' after '%s'", argv[optind], cmd);
	if (strcmp(cmd, "relays") != 0 && strcmp(cmd, "stats") != 0 &&
	    strcmp(cmd, "lcores") != 0 && strcmp(cmd, "top") != 0 &&
	    strcmp(cmd, "zero-copy") != 0)
		usage_error("unknown command '%s' (relays, stats, lcores, top or zero-copy)", cmd);
	if (top_opts && strcmp(cmd, "top") != 0)
		usage_error("--interval and --count only apply to 'top'");
	if (relay != NULL && (relay[0] == '\0' || strchr(relay, ',') != NULL))
		usage_error("'%s' is not a relay name", relay);

	if (socket_arg != NULL) {
		if (strlen(socket_arg) >= sizeof(c.path))
			usage_error("socket path '%s' is longer than %zu bytes", socket_arg,
				    sizeof(c.path) - 1);
		strcpy(c.path, socket_arg);
		if (c.name == NULL)
			name_from_path(&c);
	} else if (c.name == NULL) {
		usage_error("which instance? give -n NAME (or -s SOCKET)");
	} else {
		/* The name is a directory component; anything else would look elsewhere. */
		if (c.name[0] == '\0' || strchr(c.name, '/') != NULL || strcmp(c.name, ".") == 0 ||
		    strcmp(c.name, "..") == 0)
			usage_error("'%s' is not an instance name", c.name);
		default_socket_path(&c);
	}

	ret = tel_connect(&c);
	if (ret == 0) {
		if (strcmp(cmd, "relays") == 0)
			ret = cmd_relays(&c);
		else if (strcmp(cmd, "stats") == 0)
			ret = cmd_stats(&c, relay);
		else if (strcmp(cmd, "lcores") == 0)
			ret = cmd_lcores(&c);
		else if (strcmp(cmd, "zero-copy") == 0)
			ret = cmd_zero_copy(&c, relay, mode);
		else
			ret = cmd_top(&c);
	}
	tel_close(&c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": writing output: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	return ret < 0 ? EXIT_RUNTIME : 0;
}
