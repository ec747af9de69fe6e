/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Unit tests for forwarder/fwd_config.c: every accepted form lands in the right field,
 * and every rejected form returns -EINVAL with the exact one-line message an operator
 * would read.
 *
 * Configs are written with placeholders so they work on any host: @D is a fresh temp
 * directory (the vhost socket directory), @L two CPUs from this process's affinity set
 * and @A the first of them.
 */

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <vfrelay/config.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ORIGIN "t.ini"

static char tmpdir[64];      /* "@D" */
static char lcores[64];     /* "@L": two CPUs we may run on */
static char cpu_a[16];      /* "@A": the first of them */
static unsigned int cpus[2];
static bool have_two_cpus;
static bool have_cpu_range; /* cpus[1] == cpus[0] + 1, so "a-b" is a valid range */

/* -- fixtures -------------------------------------------------------------------------- */

static void
path_in_tmp(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", tmpdir, name);

	assert_true(n > 0 && (size_t)n < len);
}

static int
group_setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[PATH_MAX];
	cpu_set_t set;
	unsigned int n = 0;
	FILE *f;
	int fd;

	(void)state;
	strcpy(tmpdir, "/tmp/vfrelay-cfg-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;

	/* A plain file where a socket or a directory is expected. */
	path_in_tmp(path, sizeof(path), "file");
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fclose(f);

	/* A socket left by an earlier run: must be accepted. */
	path_in_tmp(sa.sun_path, sizeof(sa.sun_path), "old.sock");
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return -1;
	close(fd);

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	for (unsigned int c = 0; c < CPU_SETSIZE && n < 2; c++) {
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	}
	have_two_cpus = n == 2;
	have_cpu_range = have_two_cpus && cpus[1] == cpus[0] + 1;
	/* With one CPU the valid configs cannot pass; those tests skip, errors still run. */
	snprintf(lcores, sizeof(lcores), "%u,%u", cpus[0], have_two_cpus ? cpus[1] : cpus[0]);
	snprintf(cpu_a, sizeof(cpu_a), "%u", cpus[0]);
	return 0;
}

static int
group_teardown(void **state)
{
	static const char *const names[] = { "file", "old.sock", "cfg.ini" };
	char path[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		path_in_tmp(path, sizeof(path), names[i]);
		unlink(path);
	}
	return rmdir(tmpdir);
}

/* @tmpl with @D, @L and @A replaced; caller frees. */
static char *
subst(const char *tmpl)
{
	size_t cap = 1;
	char *out, *o;

	for (const char *s = tmpl; *s != '\0'; s++)
		cap += *s == '@' ? sizeof(tmpdir) : 1;
	out = malloc(cap);
	assert_non_null(out);
	o = out;
	for (const char *s = tmpl; *s != '\0'; s++) {
		const char *rep = NULL;

		if (s[0] == '@' && s[1] == 'D')
			rep = tmpdir;
		else if (s[0] == '@' && s[1] == 'L')
			rep = lcores;
		else if (s[0] == '@' && s[1] == 'A')
			rep = cpu_a;
		if (rep != NULL) {
			o = stpcpy(o, rep);
			s++;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

static char * __attribute__((format(printf, 1, 2)))
subst_fmt(const char *fmt, ...)
{
	char *tmpl, *out;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&tmpl, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	out = subst(tmpl);
	free(tmpl);
	return out;
}

static int
parse(const char *tmpl, struct fwd_config *cfg, char *err, size_t errlen)
{
	char *text = subst(tmpl);
	int rc = fwd_config_parse_string(text, ORIGIN, cfg, err, errlen);

	free(text);
	return rc;
}

/* Parses @text (already substituted) and checks rc and the whole error line. */
static void
expect_error(const char *text, int rc, const char *msg_tmpl)
{
	static struct fwd_config cfg;
	char *msg = subst(msg_tmpl);
	char err[1024];

	memset(err, 'x', sizeof(err));
	assert_int_equal(fwd_config_parse_string(text, ORIGIN, &cfg, err, sizeof(err)), rc);
	assert_string_equal(err, msg);
	assert_null(strchr(err, '\n'));
	/* A failed parse leaves nothing half-filled behind. */
	assert_int_equal(cfg.n_relays, 0);
	assert_int_equal(cfg.n_lcores, 0);
	free(msg);
}

static void
require_two_cpus(void)
{
	if (!have_two_cpus)
		skip();
}

#define VFRELAY "[vfrelay]\nname = vm1\nlcores = @L\n"
#define RELAY0 "[relay net0]\nvf = 0000:3b:02.0\nvhost = @D/net0.sock\n"
#define RELAY1 "[relay net1]\nvf = net_null0,copy=1\nvhost = @D/net1.sock\n"
#define VALID VFRELAY RELAY0

/* -- error table: one cmocka test per row ----------------------------------------------- */

struct err_case {
	const char *name;
	const char *text; /* template */
	int rc;
	const char *msg;  /* template of the exact error line */
};

#define KEY_ERR(sec, key, what, got) ORIGIN ": [" sec "] " key ": " what ", got '" got "'"
#define VF_ERR(key, what, got) KEY_ERR("vfrelay", key, what, got)
#define R0_ERR(key, what, got) KEY_ERR("relay net0", key, what, got)
#define EAL_OWNED(arg, val) \
	VF_ERR("eal", "'" arg "' is managed by vfrelay and must not be set here", val)
#define RANGE(lo, hi) "must be an integer in " #lo ".." #hi
#define RING_RULE "must be a power of two in 64..4096"
#define NAME_RULE "must be 1..31 characters of A-Z a-z 0-9 _ -"
#define RELAY_NAME_RULE "must be 1..31 characters of A-Z a-z 0-9 _"
#define LCORES_SYNTAX "must be a comma separated list of CPU ids and ranges, e.g. 0,2-5"
#define BOOL_RULE "must be on, off, yes, no, true, false, 1 or 0"

static struct err_case err_cases[] = {
	/* Lines and sections */
	{ "syntax_error_has_line", VFRELAY "not a key\n" RELAY0, -EINVAL,
	  ORIGIN ":4: syntax error" },
	{ "unterminated_section", "[vfrelay\nname = vm1\n", -EINVAL, ORIGIN ":1: syntax error" },
	{ "section_comment_before_bracket", "[relay net0 ; x]\n", -EINVAL,
	  ORIGIN ":1: syntax error" },
	{ "text_after_section_header", "[vfrelay] name = vm1\n", -EINVAL,
	  ORIGIN ":1: syntax error: text after section header" },
	{ "no_key_before_equals", VFRELAY "= 5\n" RELAY0, -EINVAL,
	  ORIGIN ":4: syntax error: no key before '='" },
	{ "key_outside_section", "name = vm1\n" VALID, -EINVAL,
	  ORIGIN ": name: key outside any section, put it under [vfrelay] or [relay NAME], "
	  "got 'vm1'" },
	{ "unknown_section", VALID "[vfrelai]\nname = x\n", -EINVAL,
	  ORIGIN ": [vfrelai]: unknown section, expected [vfrelay] or [relay NAME]" },
	{ "unknown_empty_section", VALID "[global]\n", -EINVAL,
	  ORIGIN ": [global]: unknown section, expected [vfrelay] or [relay NAME]" },
	{ "section_name_is_exact", "[ vfrelay ]\n", -EINVAL,
	  ORIGIN ": [ vfrelay ]: unknown section, expected [vfrelay] or [relay NAME]" },
	{ "relay_name_needs_one_space", "[relay\tnet0]\n", -EINVAL,
	  ORIGIN ": [relay\tnet0]: unknown section, expected [vfrelay] or [relay NAME]" },
	{ "duplicate_vfrelay_section", VALID "[vfrelay]\nburst = 8\n", -EINVAL,
	  ORIGIN ": [vfrelay]: duplicate section" },
	{ "duplicate_relay_section", VALID RELAY1 "[relay net0]\n", -EINVAL,
	  ORIGIN ": [relay net0]: duplicate section" },
	{ "duplicate_relay_section_back_to_back", VFRELAY "[relay net0]\nvf = a\n"
	  "[relay net0]\nvhost = @D/net0.sock\n", -EINVAL,
	  ORIGIN ": [relay net0]: duplicate section" },
	{ "relay_without_name", VFRELAY "[relay]\n", -EINVAL,
	  ORIGIN ": [relay]: relay section needs a name, e.g. [relay net0]" },
	{ "relay_name_charset", VFRELAY "[relay net.0]\n", -EINVAL,
	  ORIGIN ": [relay net.0]: relay name " RELAY_NAME_RULE ", got 'net.0'" },
	{ "relay_name_space", VFRELAY "[relay net 0]\n", -EINVAL,
	  ORIGIN ": [relay net 0]: relay name " RELAY_NAME_RULE ", got 'net 0'" },
	{ "relay_name_dash", VFRELAY "[relay net-0]\n", -EINVAL,
	  ORIGIN ": [relay net-0]: relay name " RELAY_NAME_RULE ", got 'net-0'" },
	{ "relay_name_too_long", VFRELAY "[relay abcdefghijklmnopqrstuvwxyz012345]\n", -EINVAL,
	  ORIGIN ": [relay abcdefghijklmnopqrstuvwxyz012345]: relay name " RELAY_NAME_RULE
	  ", got 'abcdefghijklmnopqrstuvwxyz012345'" },
	{ "no_relay_section", VFRELAY, -EINVAL,
	  ORIGIN ": no [relay NAME] section, at least one is required" },
	{ "empty_relay_section", VFRELAY "[relay net0]\n", -EINVAL,
	  ORIGIN ": [relay net0] vf: required key is missing" },
	{ "empty_text", "", -EINVAL, ORIGIN ": [vfrelay] name: required key is missing" },

	/* Keys */
	{ "duplicate_key", VFRELAY "burst = 8\nburst = 16\n" RELAY0, -EINVAL,
	  VF_ERR("burst", "duplicate key", "16") },
	{ "duplicate_key_relay", VALID "queues = 1\nqueues = 2\n", -EINVAL,
	  R0_ERR("queues", "duplicate key", "2") },
	{ "duplicate_key_checked_before_value", VFRELAY "burst = 8\nburst = 0\n" RELAY0, -EINVAL,
	  VF_ERR("burst", "duplicate key", "0") },
	{ "unknown_key", VFRELAY "bursts = 8\n" RELAY0, -EINVAL,
	  VF_ERR("bursts", "unknown key", "8") },
	{ "unknown_key_relay", VALID "burst = 8\n", -EINVAL,
	  R0_ERR("burst", "unknown key", "8") },
	{ "keys_are_case_sensitive", VFRELAY "Burst = 8\n" RELAY0, -EINVAL,
	  VF_ERR("Burst", "unknown key", "8") },
	{ "empty_value", VFRELAY "burst =\n" RELAY0, -EINVAL,
	  ORIGIN ": [vfrelay] burst: value is empty" },
	{ "empty_value_with_comment", VALID "mtu = ; later\n", -EINVAL,
	  ORIGIN ": [relay net0] mtu: value is empty" },
	{ "key_without_value", VFRELAY "burst\n" RELAY0, -EINVAL, ORIGIN ":4: syntax error" },

	/* First error wins */
	{ "first_key_error_wins", VFRELAY "burst = 0\n" RELAY0 "queues = 0\n", -EINVAL,
	  VF_ERR("burst", RANGE(1, 64), "0") },
	{ "key_error_before_syntax_error", VFRELAY "burst = 0\ngarbage\n" RELAY0, -EINVAL,
	  VF_ERR("burst", RANGE(1, 64), "0") },
	{ "syntax_error_before_key_error", VFRELAY "garbage\nburst = 0\n" RELAY0, -EINVAL,
	  ORIGIN ":4: syntax error" },
	{ "key_error_before_missing_key", "[vfrelay]\nburst = 99\n", -EINVAL,
	  VF_ERR("burst", RANGE(1, 64), "99") },

	/* [vfrelay] name */
	{ "name_missing", "[vfrelay]\nlcores = @L\n" RELAY0, -EINVAL,
	  ORIGIN ": [vfrelay] name: required key is missing" },
	{ "vfrelay_section_missing", RELAY0, -EINVAL,
	  ORIGIN ": [vfrelay] name: required key is missing" },
	{ "name_charset", "[vfrelay]\nname = vm/1\n", -EINVAL, VF_ERR("name", NAME_RULE, "vm/1") },
	{ "name_inner_space", "[vfrelay]\nname = vm 1\n", -EINVAL,
	  VF_ERR("name", NAME_RULE, "vm 1") },
	{ "name_too_long", "[vfrelay]\nname = abcdefghijklmnopqrstuvwxyz012345\n", -EINVAL,
	  VF_ERR("name", NAME_RULE, "abcdefghijklmnopqrstuvwxyz012345") },

	/* [vfrelay] lcores */
	{ "lcores_missing", "[vfrelay]\nname = vm1\n" RELAY0, -EINVAL,
	  ORIGIN ": [vfrelay] lcores: required key is missing" },
	{ "lcores_one_cpu", "[vfrelay]\nlcores = @A\n", -EINVAL,
	  VF_ERR("lcores", "needs at least 2 CPUs: a control thread and at least one worker",
		 "@A") },
	{ "lcores_listed_twice", "[vfrelay]\nlcores = 0,0\n", -EINVAL,
	  VF_ERR("lcores", "CPU 0 is listed twice", "0,0") },
	{ "lcores_range_overlap", "[vfrelay]\nlcores = 0-3,2\n", -EINVAL,
	  VF_ERR("lcores", "CPU 2 is listed twice", "0-3,2") },
	{ "lcores_not_in_affinity", "[vfrelay]\nlcores = @A,1023\n", -EINVAL,
	  VF_ERR("lcores", "CPU 1023 is not in this process's CPU affinity set "
		 "(see taskset and the cgroup cpuset)", "@A,1023") },
	{ "lcores_above_cpu_setsize", "[vfrelay]\nlcores = 0,1024\n", -EINVAL,
	  VF_ERR("lcores", "CPU ids must be 0..1023", "0,1024") },
	{ "lcores_overflow", "[vfrelay]\nlcores = 0,99999999999999999999999\n", -EINVAL,
	  VF_ERR("lcores", "CPU ids must be 0..1023", "0,99999999999999999999999") },
	{ "lcores_backwards_range", "[vfrelay]\nlcores = 3-1\n", -EINVAL,
	  VF_ERR("lcores", "range 3-1 runs backwards", "3-1") },
	{ "lcores_too_many", "[vfrelay]\nlcores = 0-64\n", -EINVAL,
	  VF_ERR("lcores", "at most 64 CPUs", "0-64") },
	{ "lcores_garbage", "[vfrelay]\nlcores = 0,x\n", -EINVAL,
	  VF_ERR("lcores", LCORES_SYNTAX, "0,x") },
	{ "lcores_trailing_garbage", "[vfrelay]\nlcores = 0,1abc\n", -EINVAL,
	  VF_ERR("lcores", LCORES_SYNTAX, "0,1abc") },
	{ "lcores_empty_item", "[vfrelay]\nlcores = 0,,1\n", -EINVAL,
	  VF_ERR("lcores", LCORES_SYNTAX, "0,,1") },
	{ "lcores_trailing_comma", "[vfrelay]\nlcores = 0,1,\n", -EINVAL,
	  VF_ERR("lcores", LCORES_SYNTAX, "0,1,") },
	{ "lcores_negative", "[vfrelay]\nlcores = -1,0\n", -EINVAL,
	  VF_ERR("lcores", LCORES_SYNTAX, "-1,0") },
	{ "lcores_space_separated", "[vfrelay]\nlcores = 0 1\n", -EINVAL,
	  VF_ERR("lcores", LCORES_SYNTAX, "0 1") },
	{ "lcores_open_range", "[vfrelay]\nlcores = 0-\n", -EINVAL,
	  VF_ERR("lcores", LCORES_SYNTAX, "0-") },

	/* [vfrelay] eal: options vfrelay sets itself */
	{ "eal_file_prefix", "[vfrelay]\neal = --no-huge --file-prefix=x\n", -EINVAL,
	  EAL_OWNED("--file-prefix=x", "--no-huge --file-prefix=x") },
	{ "eal_file_prefix_separate", "[vfrelay]\neal = --file-prefix x\n", -EINVAL,
	  EAL_OWNED("--file-prefix", "--file-prefix x") },
	{ "eal_file_prefix_abbreviated", "[vfrelay]\neal = --file-pre=x\n", -EINVAL,
	  EAL_OWNED("--file-pre=x", "--file-pre=x") },
	{ "eal_l", "[vfrelay]\neal = -m 512 -l 0-3\n", -EINVAL, EAL_OWNED("-l", "-m 512 -l 0-3") },
	{ "eal_l_attached", "[vfrelay]\neal = -l0-3\n", -EINVAL, EAL_OWNED("-l0-3", "-l0-3") },
	{ "eal_lcores", "[vfrelay]\neal = --lcores=0@0\n", -EINVAL,
	  EAL_OWNED("--lcores=0@0", "--lcores=0@0") },
	{ "eal_c", "[vfrelay]\neal = -c 0x3\n", -EINVAL, EAL_OWNED("-c", "-c 0x3") },
	/* getopt clusters: -v then -l 0-1 */
	{ "eal_l_clustered", "[vfrelay]\neal = -vl0-1\n", -EINVAL, EAL_OWNED("-vl0-1", "-vl0-1") },
	{ "eal_c_clustered", "[vfrelay]\neal = -hvc3\n", -EINVAL, EAL_OWNED("-hvc3", "-hvc3") },
	{ "eal_main_lcore", "[vfrelay]\neal = --main-lcore 1\n", -EINVAL,
	  EAL_OWNED("--main-lcore", "--main-lcore 1") },
	{ "eal_proc_type", "[vfrelay]\neal = --proc-type=secondary\n", -EINVAL,
	  EAL_OWNED("--proc-type=secondary", "--proc-type=secondary") },
	{ "eal_in_memory", "[vfrelay]\neal = --no-pci\t--in-memory\n", -EINVAL,
	  EAL_OWNED("--in-memory", "--no-pci\t--in-memory") },
	{ "eal_in_memory_abbreviated", "[vfrelay]\neal = --in-mem\n", -EINVAL,
	  EAL_OWNED("--in-mem", "--in-mem") },

	/* [vfrelay] idle and its old spelling idle_backoff */
	{ "idle_bad", "[vfrelay]\nidle = sleep\n", -EINVAL,
	  VF_ERR("idle", "must be event, backoff or poll", "sleep") },
	{ "idle_case_sensitive", "[vfrelay]\nidle = Event\n", -EINVAL,
	  VF_ERR("idle", "must be event, backoff or poll", "Event") },
	{ "idle_then_idle_backoff", "[vfrelay]\nidle = poll\nidle_backoff = off\n", -EINVAL,
	  VF_ERR("idle_backoff", "conflicts with idle, which replaces it: keep only idle",
		 "off") },
	{ "idle_backoff_then_idle", "[vfrelay]\nidle_backoff = on\nidle = event\n", -EINVAL,
	  VF_ERR("idle", "conflicts with idle_backoff, its old spelling: keep only idle",
		 "event") },

	/* [vfrelay] numbers and booleans */
	{ "idle_backoff_bad", "[vfrelay]\nidle_backoff = maybe\n", -EINVAL,
	  VF_ERR("idle_backoff", BOOL_RULE, "maybe") },
	{ "idle_backoff_case_sensitive", "[vfrelay]\nidle_backoff = ON\n", -EINVAL,
	  VF_ERR("idle_backoff", BOOL_RULE, "ON") },
	{ "idle_sleep_zero", "[vfrelay]\nidle_sleep_max_us = 0\n", -EINVAL,
	  VF_ERR("idle_sleep_max_us", RANGE(1, 100000), "0") },
	{ "idle_sleep_above_max", "[vfrelay]\nidle_sleep_max_us = 100001\n", -EINVAL,
	  VF_ERR("idle_sleep_max_us", RANGE(1, 100000), "100001") },
	{ "idle_sleep_trailing_garbage", "[vfrelay]\nidle_sleep_max_us = 12abc\n", -EINVAL,
	  VF_ERR("idle_sleep_max_us", RANGE(1, 100000), "12abc") },
	{ "idle_sleep_negative", "[vfrelay]\nidle_sleep_max_us = -1\n", -EINVAL,
	  VF_ERR("idle_sleep_max_us", RANGE(1, 100000), "-1") },
	{ "idle_sleep_plus_sign", "[vfrelay]\nidle_sleep_max_us = +5\n", -EINVAL,
	  VF_ERR("idle_sleep_max_us", RANGE(1, 100000), "+5") },
	{ "idle_sleep_hex", "[vfrelay]\nidle_sleep_max_us = 0x10\n", -EINVAL,
	  VF_ERR("idle_sleep_max_us", RANGE(1, 100000), "0x10") },
	{ "idle_sleep_inner_space", "[vfrelay]\nidle_sleep_max_us = 1 0\n", -EINVAL,
	  VF_ERR("idle_sleep_max_us", RANGE(1, 100000), "1 0") },
	{ "idle_sleep_overflow", "[vfrelay]\nidle_sleep_max_us = 18446744073709551617\n",
	  -EINVAL, VF_ERR("idle_sleep_max_us", RANGE(1, 100000), "18446744073709551617") },
	{ "idle_sleep_u32_wrap", "[vfrelay]\nidle_sleep_max_us = 4294967297\n", -EINVAL,
	  VF_ERR("idle_sleep_max_us", RANGE(1, 100000), "4294967297") },
	{ "burst_zero", "[vfrelay]\nburst = 0\n", -EINVAL, VF_ERR("burst", RANGE(1, 64), "0") },
	{ "burst_above_max", "[vfrelay]\nburst = 65\n", -EINVAL,
	  VF_ERR("burst", RANGE(1, 64), "65") },
	{ "burst_u16_wrap", "[vfrelay]\nburst = 65568\n", -EINVAL,
	  VF_ERR("burst", RANGE(1, 64), "65568") },
	{ "tx_retries_above_max", "[vfrelay]\ntx_retries = 65\n", -EINVAL,
	  VF_ERR("tx_retries", RANGE(0, 64), "65") },
	{ "tx_retries_negative", "[vfrelay]\ntx_retries = -0\n", -EINVAL,
	  VF_ERR("tx_retries", RANGE(0, 64), "-0") },

	/* [relay] vf and vhost */
	{ "vf_missing", VFRELAY "[relay net0]\nvhost = @D/net0.sock\n", -EINVAL,
	  ORIGIN ": [relay net0] vf: required key is missing" },
	{ "vhost_missing", VFRELAY "[relay net0]\nvf = 0000:3b:02.0\n", -EINVAL,
	  ORIGIN ": [relay net0] vhost: required key is missing" },
	{ "missing_key_in_second_relay", VALID "[relay net1]\nvf = net_null0\n", -EINVAL,
	  ORIGIN ": [relay net1] vhost: required key is missing" },
	{ "vf_whitespace", VFRELAY "[relay net0]\nvf = net_null0, copy=1\n", -EINVAL,
	  R0_ERR("vf", "must not contain whitespace", "net_null0, copy=1") },
	{ "vhost_relative", VFRELAY "[relay net0]\nvhost = run/net0.sock\n", -EINVAL,
	  R0_ERR("vhost", "must be an absolute path", "run/net0.sock") },
	{ "vhost_dir_missing", VFRELAY "[relay net0]\nvhost = @D/nodir/net0.sock\n", -EINVAL,
	  R0_ERR("vhost", "directory '@D/nodir' is not usable: No such file or directory",
		 "@D/nodir/net0.sock") },
	{ "vhost_dir_is_a_file", VFRELAY "[relay net0]\nvhost = @D/file/net0.sock\n", -EINVAL,
	  R0_ERR("vhost", "'@D/file' is not a directory", "@D/file/net0.sock") },
	{ "vhost_is_a_file", VFRELAY "[relay net0]\nvhost = @D/file\n", -EINVAL,
	  R0_ERR("vhost", "exists and is not a socket", "@D/file") },
	{ "vhost_is_a_directory", VFRELAY "[relay net0]\nvhost = @D\n", -EINVAL,
	  R0_ERR("vhost", "exists and is not a socket", "@D") },
	{ "vhost_duplicate", VALID "[relay net1]\nvf = net_null0\nvhost = @D/net0.sock\n",
	  -EINVAL, KEY_ERR("relay net1", "vhost", "already used by [relay net0]",
			   "@D/net0.sock") },
	{ "vf_duplicate", VALID RELAY1 "[relay net2]\nvhost = @D/net2.sock\n"
	  "vf = net_null0,copy=1\n", -EINVAL,
	  KEY_ERR("relay net2", "vf", "already used by [relay net1]", "net_null0,copy=1") },

	/* [relay] enums and numbers */
	{ "vhost_mode_bad", VFRELAY "[relay net0]\nvhost_mode = listen\n", -EINVAL,
	  R0_ERR("vhost_mode", "must be client or server", "listen") },
	{ "zero_copy_bad", VFRELAY "[relay net0]\nzero_copy = yes\n", -EINVAL,
	  R0_ERR("zero_copy", "must be auto, on or off", "yes") },
	{ "queues_zero", VFRELAY "[relay net0]\nqueues = 0\n", -EINVAL,
	  R0_ERR("queues", RANGE(1, 16), "0") },
	{ "queues_above_max", VFRELAY "[relay net0]\nqueues = 17\n", -EINVAL,
	  R0_ERR("queues", RANGE(1, 16), "17") },
	{ "mtu_below_min", VFRELAY "[relay net0]\nmtu = 67\n", -EINVAL,
	  R0_ERR("mtu", RANGE(68, 9000), "67") },
	{ "mtu_above_max", VFRELAY "[relay net0]\nmtu = 9001\n", -EINVAL,
	  R0_ERR("mtu", RANGE(68, 9000), "9001") },
	{ "rx_ring_below_min", VFRELAY "[relay net0]\nrx_ring_size = 32\n", -EINVAL,
	  R0_ERR("rx_ring_size", RING_RULE, "32") },
	{ "rx_ring_above_max", VFRELAY "[relay net0]\nrx_ring_size = 8192\n", -EINVAL,
	  R0_ERR("rx_ring_size", RING_RULE, "8192") },
	{ "rx_ring_not_power_of_two", VFRELAY "[relay net0]\nrx_ring_size = 1000\n", -EINVAL,
	  R0_ERR("rx_ring_size", RING_RULE, "1000") },
	{ "tx_ring_not_power_of_two", VFRELAY "[relay net0]\ntx_ring_size = 1025\n", -EINVAL,
	  R0_ERR("tx_ring_size", RING_RULE, "1025") },
	{ "tx_ring_garbage", VFRELAY "[relay net0]\ntx_ring_size = 1k\n", -EINVAL,
	  R0_ERR("tx_ring_size", RING_RULE, "1k") },
};

static void
test_err_case(void **state)
{
	const struct err_case *c = *state;
	char *text;

	/* Rows with @L reach their error only past a valid lcores line. */
	if (strstr(c->text, "@L") != NULL)
		require_two_cpus();
	text = subst(c->text);
	expect_error(text, c->rc, c->msg);
	free(text);
}

/* -- accepted configs ------------------------------------------------------------------ */

static void
test_valid_full(void **state)
{
	static struct fwd_config cfg;
	char err[256] = "";
	char path[PATH_MAX];

	(void)state;
	require_two_cpus();
	assert_int_equal(parse(
		"; vfrelay test config\n"
		"# hash comment\n"
		"[vfrelay]\n"
		"burst = 16          ; keys in any order\n"
		"name = vm-1_a       # hash inline comment\n"
		"lcores = @L\n"
		"eal = --no-huge -m 512 --log-level=lib.eal:debug\n"
		"  idle_backoff = off\n"
		"idle_sleep_max_us = 100000\n"
		"tx_retries = 0\n"
		"\n"
		"[relay net0]\n"
		"vhost_mode = server\n"
		"vf = 0000:3b:02.0   ; PCI address\n"
		"vhost = @D/old.sock ; an existing socket is fine\n"
		"queues = 16\n"
		"zero_copy = off\n"
		"mtu = 9000\n"
		"rx_ring_size = 64\n"
		"tx_ring_size = 4096\n"
		"[relay net_1]\n"
		"vf = net_af_packet0,iface=veth1\n"
		"vhost = @D/net1.sock\n"
		"zero_copy = auto\n"
		"mtu = 68\n",
		&cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");

	assert_string_equal(cfg.name, "vm-1_a");
	assert_int_equal(cfg.n_lcores, 2);
	assert_int_equal(cfg.lcores[0], cpus[0]);
	assert_int_equal(cfg.lcores[1], cpus[1]);
	assert_string_equal(cfg.eal, "--no-huge -m 512 --log-level=lib.eal:debug");
	assert_int_equal(cfg.idle, FWD_IDLE_POLL);
	assert_int_equal(cfg.idle_sleep_max_us, 100000);
	assert_int_equal(cfg.burst, 16);
	assert_int_equal(cfg.tx_retries, 0);
	assert_int_equal(cfg.n_relays, 2);

	path_in_tmp(path, sizeof(path), "old.sock");
	assert_string_equal(cfg.relays[0].name, "net0");
	assert_string_equal(cfg.relays[0].vf, "0000:3b:02.0");
	assert_string_equal(cfg.relays[0].vhost, path);
	assert_int_equal(cfg.relays[0].vhost_mode, FWD_VHOST_SERVER);
	assert_int_equal(cfg.relays[0].queues, 16);
	assert_int_equal(cfg.relays[0].zero_copy, FWD_ZC_OFF);
	assert_int_equal(cfg.relays[0].mtu, 9000);
	assert_int_equal(cfg.relays[0].rx_ring_size, 64);
	assert_int_equal(cfg.relays[0].tx_ring_size, 4096);

	path_in_tmp(path, sizeof(path), "net1.sock");
	assert_string_equal(cfg.relays[1].name, "net_1");
	assert_string_equal(cfg.relays[1].vf, "net_af_packet0,iface=veth1");
	assert_string_equal(cfg.relays[1].vhost, path);
	assert_int_equal(cfg.relays[1].vhost_mode, FWD_VHOST_CLIENT);
	assert_int_equal(cfg.relays[1].queues, 1);
	assert_int_equal(cfg.relays[1].zero_copy, FWD_ZC_AUTO);
	assert_int_equal(cfg.relays[1].mtu, 68);
	assert_int_equal(cfg.relays[1].rx_ring_size, 1024);
	assert_int_equal(cfg.relays[1].tx_ring_size, 1024);
}

static void
check_defaults(const struct fwd_config *cfg, unsigned int first_unset_relay)
{
	assert_string_equal(cfg->eal, "");
	assert_int_equal(cfg->idle, FWD_IDLE_EVENT);
	assert_int_equal(cfg->idle_sleep_max_us, 1000);
	assert_int_equal(cfg->burst, 32);
	assert_int_equal(cfg->tx_retries, 4);
	for (unsigned int i = first_unset_relay; i < FWD_MAX_RELAYS; i++) {
		const struct fwd_relay_config *r = &cfg->relays[i];

		assert_int_equal(r->vhost_mode, FWD_VHOST_CLIENT);
		assert_int_equal(r->zero_copy, FWD_ZC_AUTO);
		assert_int_equal(r->queues, 1);
		assert_int_equal(r->mtu, 1500);
		assert_int_equal(r->rx_ring_size, 1024);
		assert_int_equal(r->tx_ring_size, 1024);
	}
}

static void
test_defaults(void **state)
{
	static struct fwd_config cfg;
	char err[256] = "";

	(void)state;
	memset(&cfg, 0xa5, sizeof(cfg));
	fwd_config_defaults(&cfg);
	assert_string_equal(cfg.name, "");
	assert_int_equal(cfg.n_lcores, 0);
	assert_int_equal(cfg.n_relays, 0);
	check_defaults(&cfg, 0);

	require_two_cpus();
	memset(&cfg, 0xa5, sizeof(cfg));
	assert_int_equal(parse(VALID, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.name, "vm1");
	assert_int_equal(cfg.n_relays, 1);
	assert_string_equal(cfg.relays[0].name, "net0");
	assert_string_equal(cfg.relays[0].vf, "0000:3b:02.0");
	check_defaults(&cfg, 0);
}

/* Zero-copy receive is built: `zero_copy = on` ("zero copy or no RX") is a valid setting. */
static void
test_zero_copy_on(void **state)
{
	static struct fwd_config cfg;
	char err[256] = "";

	(void)state;
	require_two_cpus();
	memset(&cfg, 0xa5, sizeof(cfg));
	assert_int_equal(parse(VFRELAY RELAY0 "zero_copy = on\n" RELAY1 "zero_copy = off\n",
			       &cfg, err, sizeof(err)),
			 0);
	assert_string_equal(err, "");
	assert_int_equal(cfg.n_relays, 2);
	assert_int_equal(cfg.relays[0].zero_copy, FWD_ZC_ON);
	assert_int_equal(cfg.relays[1].zero_copy, FWD_ZC_OFF);
	assert_string_equal(fwd_zero_copy_str(cfg.relays[0].zero_copy), "on");
}

static void
test_relays_before_vfrelay(void **state)
{
	static struct fwd_config cfg;
	char err[256] = "";

	(void)state;
	require_two_cpus();
	assert_int_equal(parse(RELAY1 RELAY0 VFRELAY, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_relays, 2);
	/* Relays keep file order: the order operators see in stats. */
	assert_string_equal(cfg.relays[0].name, "net1");
	assert_string_equal(cfg.relays[1].name, "net0");
	assert_string_equal(cfg.name, "vm1");
}

static void
test_lcores_forms(void **state)
{
	static struct fwd_config cfg;
	char err[256] = "";
	char *text;

	(void)state;
	require_two_cpus();
	text = subst_fmt("[vfrelay]\nname = vm1\nlcores =  %u , %u \n" RELAY0, cpus[1], cpus[0]);
	assert_int_equal(fwd_config_parse_string(text, ORIGIN, &cfg, err, sizeof(err)), 0);
	free(text);
	/* The first listed CPU is the control thread, whatever its number. */
	assert_int_equal(cfg.n_lcores, 2);
	assert_int_equal(cfg.lcores[0], cpus[1]);
	assert_int_equal(cfg.lcores[1], cpus[0]);

	if (!have_cpu_range)
		skip();
	text = subst_fmt("[vfrelay]\nname = vm1\nlcores = %u-%u\n" RELAY0, cpus[0], cpus[1]);
	assert_int_equal(fwd_config_parse_string(text, ORIGIN, &cfg, err, sizeof(err)), 0);
	free(text);
	assert_int_equal(cfg.n_lcores, 2);
	assert_int_equal(cfg.lcores[0], cpus[0]);
	assert_int_equal(cfg.lcores[1], cpus[1]);
}

static void
test_lcores_affinity_probe(void **state)
{
	cpu_set_t set;

	(void)state;
	/* lcores_not_in_affinity relies on CPU 1023 being absent; say so if it is not. */
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	if (CPU_ISSET(1023, &set))
		skip();
}

static void
test_bool_words(void **state)
{
	static const struct {
		const char *word;
		enum fwd_idle_mode value;
	} words[] = {
		/* idle_backoff = on meant "sleep when idle": the default, event, does that now. */
		{ "on", FWD_IDLE_EVENT },  { "yes", FWD_IDLE_EVENT }, { "true", FWD_IDLE_EVENT },
		{ "1", FWD_IDLE_EVENT },   { "off", FWD_IDLE_POLL },  { "no", FWD_IDLE_POLL },
		{ "false", FWD_IDLE_POLL }, { "0", FWD_IDLE_POLL },
	};
	static const struct {
		const char *word;
		enum fwd_idle_mode value;
	} modes[] = {
		{ "event", FWD_IDLE_EVENT },
		{ "backoff", FWD_IDLE_BACKOFF },
		{ "poll", FWD_IDLE_POLL },
	};
	static struct fwd_config cfg;
	char err[256];

	(void)state;
	require_two_cpus();
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		char *text = subst_fmt("[vfrelay]\nidle_backoff = %s\nname = vm1\nlcores = @L\n"
				       RELAY0, words[i].word);

		assert_int_equal(fwd_config_parse_string(text, ORIGIN, &cfg, err, sizeof(err)), 0);
		assert_int_equal(cfg.idle, words[i].value);
		free(text);
	}
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		char *text = subst_fmt("[vfrelay]\nidle = %s\nname = vm1\nlcores = @L\n" RELAY0,
				       modes[i].word);

		assert_int_equal(fwd_config_parse_string(text, ORIGIN, &cfg, err, sizeof(err)), 0);
		assert_int_equal(cfg.idle, modes[i].value);
		assert_string_equal(fwd_idle_mode_str(cfg.idle), modes[i].word);
		free(text);
	}
}

static void
test_enum_strings(void **state)
{
	(void)state;
	assert_string_equal(fwd_vhost_mode_str(FWD_VHOST_CLIENT), "client");
	assert_string_equal(fwd_vhost_mode_str(FWD_VHOST_SERVER), "server");
	assert_string_equal(fwd_vhost_mode_str((enum fwd_vhost_mode)42), "unknown");
	assert_string_equal(fwd_zero_copy_str(FWD_ZC_AUTO), "auto");
	assert_string_equal(fwd_zero_copy_str(FWD_ZC_ON), "on");
	assert_string_equal(fwd_zero_copy_str(FWD_ZC_OFF), "off");
	assert_string_equal(fwd_zero_copy_str((enum fwd_zero_copy)42), "unknown");
}

static void
test_crlf_and_bom(void **state)
{
	static struct fwd_config cfg;
	char err[256] = "";

	(void)state;
	require_two_cpus();
	assert_int_equal(parse("\xEF\xBB\xBF[vfrelay]\r\nname = vm1\r\nlcores = @L\r\n"
			       "[relay net0]\r\nvf = net_null0\r\nvhost = @D/n.sock\r\n",
			       &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.name, "vm1");
	assert_string_equal(cfg.relays[0].vf, "net_null0");
}

/* -- limits: lengths that need more than inih's default 200-byte line ------------------- */

static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_long_values(void **state)
{
	static struct fwd_config cfg;
	char err[2048];
	char *v127 = repeat('v', 127), *v128 = repeat('v', 128);
	char *e511 = repeat('e', 511), *e512 = repeat('e', 512);
	char *text, *msg;

	(void)state;
	require_two_cpus();

	text = subst_fmt(VFRELAY "eal = %s\n[relay net0]\nvf = %s\nvhost = @D/a.sock\n",
			 e511, v127);
	assert_int_equal(fwd_config_parse_string(text, ORIGIN, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.eal, e511);
	assert_string_equal(cfg.relays[0].vf, v127);
	free(text);

	text = subst_fmt(VFRELAY "[relay net0]\nvf = %s\n", v128);
	msg = subst_fmt(R0_ERR("vf", "must be at most 127 characters", "%s"), v128);
	expect_error(text, -EINVAL, msg);
	free(text);
	free(msg);

	text = subst_fmt("[vfrelay]\neal = %s\n", e512);
	msg = subst_fmt(VF_ERR("eal", "must be at most 511 characters", "%s"), e512);
	expect_error(text, -EINVAL, msg);
	free(text);
	free(msg);

	free(v127);
	free(v128);
	free(e511);
	free(e512);
}

static void
test_vhost_path_length(void **state)
{
	static struct fwd_config cfg;
	char err[512];
	size_t fill = FWD_SOCKET_PATH_MAX - 1 - strlen(tmpdir) - 1; /* 107 chars in all */
	char *name = repeat('s', fill), *longer = repeat('s', fill + 1);
	char *text, *msg;

	(void)state;
	require_two_cpus();
	text = subst_fmt(VFRELAY "[relay net0]\nvf = a\nvhost = @D/%s\n", name);
	assert_int_equal(fwd_config_parse_string(text, ORIGIN, &cfg, err, sizeof(err)), 0);
	assert_int_equal(strlen(cfg.relays[0].vhost), FWD_SOCKET_PATH_MAX - 1);
	free(text);

	text = subst_fmt(VFRELAY "[relay net0]\nvf = a\nvhost = @D/%s\n", longer);
	msg = subst_fmt(R0_ERR("vhost", "must be at most 107 characters to fit sun_path",
			       "@D/%s"), longer);
	expect_error(text, -EINVAL, msg);
	free(text);
	free(msg);
	free(name);
	free(longer);
}

static void
test_line_too_long(void **state)
{
	char *comment = repeat('c', 5000);
	char *text = subst_fmt("[vfrelay]\n; %s\n", comment);

	(void)state;
	expect_error(text, -EINVAL, ORIGIN ":2: line too long, at most 4094 characters");
	free(text);
	free(comment);
}

static void
test_too_many_relays(void **state)
{
	static struct fwd_config cfg;
	char tmpl[8192] = VFRELAY;
	size_t len = strlen(tmpl);
	char err[256];
	char *text;

	(void)state;
	require_two_cpus();
	for (int i = 0; i <= FWD_MAX_RELAYS; i++)
		len += (size_t)snprintf(tmpl + len, sizeof(tmpl) - len,
					"[relay r%d]\nvf = net_null%d\nvhost = @D/r%d.sock\n",
					i, i, i);
	assert_true(len < sizeof(tmpl));
	text = subst(tmpl);
	expect_error(text, -EINVAL, ORIGIN ": [relay r16]: too many relays, at most 16");

	/* Exactly FWD_MAX_RELAYS is fine. */
	*strstr(text, "[relay r16]") = '\0';
	assert_int_equal(fwd_config_parse_string(text, ORIGIN, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_relays, FWD_MAX_RELAYS);
	free(text);
}

/* -- error buffer handling ------------------------------------------------------------- */

static void
test_small_error_buffer(void **state)
{
	static struct fwd_config cfg;
	char err[9];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(fwd_config_parse_string("[vfrelay]\nburst = 0\n", ORIGIN, &cfg, err, 8),
			 -EINVAL);
	assert_string_equal(err, "t.ini: ");
	assert_int_equal(err[8], 'x'); /* nothing written past errlen */

	assert_int_equal(fwd_config_parse_string("[vfrelay]\nburst = 0\n", ORIGIN, &cfg, NULL, 0),
			 -EINVAL);
}

/* -- fwd_config_load() ----------------------------------------------------------------- */

static void
test_load_file(void **state)
{
	static struct fwd_config cfg;
	char path[PATH_MAX], err[512] = "";
	char *text;
	FILE *f;

	(void)state;
	require_two_cpus();
	path_in_tmp(path, sizeof(path), "cfg.ini");
	text = subst(VALID RELAY1);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	free(text);

	assert_int_equal(fwd_config_load(path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.name, "vm1");
	assert_int_equal(cfg.n_relays, 2);
	assert_string_equal(cfg.relays[1].vf, "net_null0,copy=1");
}

static void
test_load_errors_name_the_path(void **state)
{
	static struct fwd_config cfg;
	char path[PATH_MAX], err[512], want[PATH_MAX + 128];
	FILE *f;

	(void)state;
	path_in_tmp(path, sizeof(path), "cfg.ini");
	f = fopen(path, "w");
	assert_non_null(f);
	/* No newline at the end of the last line: still one line, still line 3. */
	fputs("[vfrelay]\nname = vm1\nqueues = 2", f);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(fwd_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: [vfrelay] queues: unknown key, got '2'", path);
	assert_string_equal(err, want);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[vfrelay]\nname = vm1\nqueues\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(fwd_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: syntax error", path);
	assert_string_equal(err, want);
}

static void
test_load_missing_file(void **state)
{
	static struct fwd_config cfg;
	char path[PATH_MAX], err[512], want[PATH_MAX + 128];

	(void)state;
	path_in_tmp(path, sizeof(path), "missing.ini");
	assert_int_equal(fwd_config_load(path, &cfg, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
	assert_int_equal(cfg.n_relays, 0);
}

static void
test_load_directory(void **state)
{
	static struct fwd_config cfg;
	char path[PATH_MAX], err[512], want[PATH_MAX + 128];

	(void)state;
	path_in_tmp(path, sizeof(path), "dir.ini");
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(fwd_config_load(path, &cfg, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", path);
	assert_string_equal(err, want);
	assert_int_equal(rmdir(path), 0);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_valid_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_zero_copy_on),
		cmocka_unit_test(test_relays_before_vfrelay),
		cmocka_unit_test(test_lcores_forms),
		cmocka_unit_test(test_lcores_affinity_probe),
		cmocka_unit_test(test_bool_words),
		cmocka_unit_test(test_enum_strings),
		cmocka_unit_test(test_crlf_and_bom),
		cmocka_unit_test(test_long_values),
		cmocka_unit_test(test_vhost_path_length),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_too_many_relays),
		cmocka_unit_test(test_small_error_buffer),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_errors_name_the_path),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_directory),
	};
	struct CMUnitTest tests[ARRAY_SIZE(fixed) + ARRAY_SIZE(err_cases)];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		tests[n++] = fixed[i];
	/* One named test per error row, so a failure says which rule broke. */
	for (size_t i = 0; i < ARRAY_SIZE(err_cases); i++)
		tests[n++] = (struct CMUnitTest){
			.name = err_cases[i].name,
			.test_func = test_err_case,
			.initial_state = &err_cases[i],
		};
	return _cmocka_run_group_tests("fwd_config", tests, n, group_setup, group_teardown);
}
