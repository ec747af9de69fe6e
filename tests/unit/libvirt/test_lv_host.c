/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Unit tests for libvirt/lv_host.c: host.conf in every accepted form, and every mistake
 * refused with the one line an operator reads (file, [host], key). The instance defaults
 * are checked by vfrelay's own parser; these tests pin that its message comes back
 * addressed to host.conf's [host] section and key, not to a probe config.
 *
 * "@D" in a config is a fresh temp directory (the socket_dir).
 */

#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lv_priv.h"

static char tmpdir[64];
static struct lv_host host;

/* @text with every "@D" replaced by tmpdir. */
static char *
expand(const char *text)
{
	static char out[16384];
	size_t o = 0;

	for (const char *s = text; *s != '\0' && o < sizeof(out) - 80; s++) {
		if (s[0] == '@' && s[1] == 'D') {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", tmpdir);
			s++;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

static void
expect_ok(const char *text)
{
	char err[LV_ERR_MAX] = "";
	int rc = lv_host_parse_string(expand(text), "host.conf", &host, err, sizeof(err));

	if (rc != 0)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
}

static void
expect_err(const char *text, const char *want)
{
	char err[LV_ERR_MAX] = "", w[LV_ERR_MAX];
	int rc = lv_host_parse_string(expand(text), "host.conf", &host, err, sizeof(err));

	snprintf(w, sizeof(w), "%s", expand(want));
	if (rc != -EINVAL || strcmp(err, w) != 0)
		print_error("config:\n%s\n  got:  %s (rc %d)\n  want: %s\n", expand(text), err, rc,
			    w);
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(err, w);
}

static int
setup(void **state)
{
	char path[128];
	FILE *f;

	(void)state;
	strcpy(tmpdir, "/tmp/vfrh-host-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fclose(f);
	return 0;
}

static int
teardown(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

static void
test_minimal(void **state)
{
	char lcores[64];
	cpu_set_t set;
	int first = -1;

	(void)state;
	expect_ok("[host]\nsocket_dir = @D/\nvf_pool = 0000:3b:02.0   net_null0,copy=1\n");
	assert_string_equal(host.socket_dir, tmpdir); /* trailing '/' dropped */
	assert_int_equal(host.n_pool, 2);
	assert_string_equal(host.pool[0], "0000:3b:02.0");
	assert_string_equal(host.pool[1], "net_null0,copy=1");
	assert_int_equal(host.launcher, LV_LAUNCH_AUTO);
	assert_int_equal(host.start_timeout_ms, 10000);
	assert_string_equal(host.path, "host.conf");
	for (int d = 0; d < LV_DEF_COUNT; d++)
		assert_string_equal(host.defaults[d], "");
	assert_int_equal(lv_host_pool_index(&host, "net_null0,copy=1"), 1);
	assert_int_equal(lv_host_pool_index(&host, "net_null0"), -1);

	/* No lcores: the first two CPUs this process may run on. */
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
		first = CPU_ISSET(c, &set) ? c : -1;
	assert_int_equal(lv_host_lcores(&host, lcores, sizeof(lcores)), 0);
	assert_int_equal(atoi(lcores), first);
	assert_non_null(strchr(lcores, ','));
}

static void
test_full(void **state)
{
	(void)state;
	expect_ok("; a comment\n"
		  "[host]   # another\n"
		  "socket_dir = @D\n"
		  "vf_pool = a b c\n"
		  "eal = --no-huge -m 256\n"
		  "launcher = direct\n"
		  "start_timeout = 12\n"
		  "idle = backoff\n"
		  "idle_sleep_max_us = 200\n"
		  "burst = 16\n"
		  "tx_retries = 0\n"
		  "zero_copy = on\n"
		  "mtu = 9000\n"
		  "rx_ring_size = 2048\n"
		  "tx_ring_size = 512\n");
	assert_int_equal(host.n_pool, 3);
	assert_string_equal(host.eal, "--no-huge -m 256");
	assert_int_equal(host.launcher, LV_LAUNCH_DIRECT);
	assert_int_equal(host.start_timeout_ms, 12000);
	assert_string_equal(host.defaults[LV_DEF_IDLE], "backoff");
	assert_string_equal(host.defaults[LV_DEF_IDLE_BACKOFF], "");
	assert_string_equal(host.defaults[LV_DEF_IDLE_SLEEP_MAX_US], "200");
	assert_string_equal(host.defaults[LV_DEF_BURST], "16");
	assert_string_equal(host.defaults[LV_DEF_TX_RETRIES], "0");
	assert_string_equal(host.defaults[LV_DEF_ZERO_COPY], "on");
	assert_string_equal(host.defaults[LV_DEF_MTU], "9000");
	assert_string_equal(host.defaults[LV_DEF_RX_RING_SIZE], "2048");
	assert_string_equal(host.defaults[LV_DEF_TX_RING_SIZE], "512");
	assert_string_equal(lv_default_key(LV_DEF_RX_RING_SIZE), "rx_ring_size");
}

static void
test_structure_errors(void **state)
{
	(void)state;
	expect_err("", "host.conf: [host]: required section is missing");
	expect_err("[hots]\n", "host.conf: [hots]: unknown section, expected [host]");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\n[host]\n",
		   "host.conf: [host]: duplicate section");
	expect_err("socket_dir = @D\n[host]\n",
		   "host.conf: socket_dir: key outside any section, expected [host] first");
	expect_err("[host]\nsocket_dir = @D\n",
		   "host.conf: [host] vf_pool: required key is missing");
	expect_err("[host]\nvf_pool = a\n",
		   "host.conf: [host] socket_dir: required key is missing");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nvf_poll = b\n",
		   "host.conf: [host] vf_poll: unknown key, got 'b'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nvf_pool = b\n",
		   "host.conf: [host] vf_pool: duplicate key, got 'b'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\neal =\n",
		   "host.conf: [host] eal: value is empty");
	expect_err("[host]\nsocket_dir = @D\nvf_pool\n", "host.conf:3: syntax error");
	expect_err("[host] socket_dir = @D\n",
		   "host.conf:1: syntax error: text after section header");
	/* An indented line is a line of its own, not the continuation of vf_pool. */
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\n   b\n", "host.conf:4: syntax error");
}

static void
test_value_errors(void **state)
{
	char text[8192];

	(void)state;
	expect_err("[host]\nsocket_dir = run/x\nvf_pool = a\n",
		   "host.conf: [host] socket_dir: must be an absolute path, got 'run/x'");
	expect_err("[host]\nsocket_dir = @D/nope\nvf_pool = a\n",
		   "host.conf: [host] socket_dir: No such file or directory, got '@D/nope'");
	expect_err("[host]\nsocket_dir = @D/file\nvf_pool = a\n",
		   "host.conf: [host] socket_dir: not a directory, got '@D/file'");
	/* 100 characters: no room left for "/<name>.sock" in sun_path. */
	expect_err(
		"[host]\nsocket_dir = /0123456789012345678901234567890123456789012345678901234"
		"567890123456789012345678901234567890123456789\nvf_pool = a\n",
		"host.conf: [host] socket_dir: too long: socket paths below it must fit 107 "
		"characters, got '/01234567890123456789012345678901234567890123456789012345678901"
		"23456789012345678901234567890123456789'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a b a\n",
		   "host.conf: [host] vf_pool: 'a' is listed twice");
	snprintf(text, sizeof(text), "[host]\nsocket_dir = @D\nvf_pool = %0300d\n", 7);
	expect_err(text, "host.conf: [host] vf_pool: device string '0000000000000000000000000000"
			 "000000000000...' is longer than 127 characters");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nlauncher = init\n",
		   "host.conf: [host] launcher: must be auto, systemd or direct, got 'init'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nstart_timeout = 0\n",
		   "host.conf: [host] start_timeout: must be an integer in 1..120, got '0'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nstart_timeout = 5s\n",
		   "host.conf: [host] start_timeout: must be an integer in 1..120, got '5s'");
}

/* The instance defaults: vfrelay's rules and words, addressed to [host]. */
static void
test_instance_defaults(void **state)
{
	(void)state;
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nmtu = 10\n",
		   "host.conf: [host] mtu: must be an integer in 68..9000, got '10'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nzero_copy = maybe\n",
		   "host.conf: [host] zero_copy: must be auto, on or off, got 'maybe'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nburst = 65\n",
		   "host.conf: [host] burst: must be an integer in 1..64, got '65'");
	expect_err(
		"[host]\nsocket_dir = @D\nvf_pool = a\nrx_ring_size = 1000\n",
		"host.conf: [host] rx_ring_size: must be a power of two in 64..4096, got '1000'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nidle = sometimes\n",
		   "host.conf: [host] idle: must be event, backoff or poll, got 'sometimes'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nidle_backoff = sometimes\n",
		   "host.conf: [host] idle_backoff: must be on, off, yes, no, true, false, 1 or 0, "
		   "got 'sometimes'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\neal = --no-huge --file-prefix=x\n",
		   "host.conf: [host] eal: '--file-prefix=x' is managed by vfrelay and must not be "
		   "set here, got '--no-huge --file-prefix=x'");
	expect_err("[host]\nsocket_dir = @D\nvf_pool = a\nlcores = 3-1\n",
		   "host.conf: [host] lcores: range 3-1 runs backwards, got '3-1'");
}

static void
test_load(void **state)
{
	char err[LV_ERR_MAX], path[128];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/nope.conf", tmpdir);
	assert_int_equal(lv_host_load(path, &host, err, sizeof(err)), -ENOENT);
	assert_string_equal(strstr(err, ": cannot open"),
			    ": cannot open: No such file or directory");
	snprintf(path, sizeof(path), "%s/host.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[host]\nsocket_dir = %s\nvf_pool = net_null0\n", tmpdir);
	fclose(f);
	assert_int_equal(lv_host_load(path, &host, err, sizeof(err)), 0);
	assert_string_equal(host.path, path);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),		  cmocka_unit_test(test_full),
		cmocka_unit_test(test_structure_errors),  cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_instance_defaults), cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
