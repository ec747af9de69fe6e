/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Unit tests for libvirt/lv_launch.c with real processes: fake_vfrelay.py plays the
 * daemon (READY=1 on NOTIFY_SOCKET, a config error and exit 2, silence), and
 * fake_systemctl.py plays systemctl. What is checked is what libvirt and the operator
 * see: start returns once the daemon is ready or with the daemon's own error line, a
 * spawned daemon holds none of the hook's descriptors (a "hook" whose stdout and stderr
 * are a pipe must let that pipe reach EOF while the daemon runs on), it has its own
 * session, /dev/null, its log, the memlock limit, and stop leaves nothing running.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lv_priv.h"

static char tmpdir[64];
static const char *fake_vfrelay, *fake_systemctl;
static struct lv_paths paths;
static struct lv_host host;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char *
slurp(const char *path)
{
	static char buf[65536];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static const char *
fmt_log(const char *inst)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s.log", paths.log_dir, inst);
	return path;
}

/* <run_dir>/<inst>.ini with a "; fake: MODE" line for fake_vfrelay.py. */
static void
write_ini(const char *inst, const char *mode)
{
	char path[PATH_MAX], text[256], err[LV_ERR_MAX];

	assert_int_equal(lv_path_instance(&paths, inst, ".ini", path, sizeof(path)), 0);
	snprintf(text, sizeof(text), "; fake: %s\n[vfrelay]\nname = %s\n", mode, inst);
	assert_int_equal(lv_write_atomic(path, text, 0644, err, sizeof(err)), 0);
}

static bool
alive(pid_t pid)
{
	char path[64], *s;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	s = slurp(path);
	s = s != NULL ? strrchr(s, ')') : NULL;
	return s != NULL && s[2] != 'Z';
}

static void
wait_gone(pid_t pid)
{
	uint64_t deadline = now_ms() + 3000;

	/* It was our child only while the start ran; a zombie counts as gone. */
	while (alive(pid) && now_ms() < deadline) {
		waitpid(pid, NULL, WNOHANG);
		usleep(20000);
	}
	assert_false(alive(pid));
}

static int
setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/vfrh-launch-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	memset(&paths, 0, sizeof(paths));
	snprintf(paths.run_dir, sizeof(paths.run_dir), "%s/run", tmpdir);
	snprintf(paths.log_dir, sizeof(paths.log_dir), "%s/log", tmpdir);
	snprintf(paths.vfrelay, sizeof(paths.vfrelay), "%s", fake_vfrelay);
	if (lv_mkdirs(paths.run_dir, 0755) < 0)
		return -1;
	memset(&host, 0, sizeof(host));
	host.launcher = LV_LAUNCH_DIRECT;
	host.start_timeout_ms = 5000;
	return 0;
}

static int
teardown(void **state)
{
	char names[32][FWD_NAME_MAX], err[LV_ERR_MAX], cmd[128];
	unsigned int n = 0;

	(void)state;
	/* A failed test leaves its daemon running: none may outlive the run. */
	host.launcher = LV_LAUNCH_DIRECT;
	if (lv_launch_list(&paths, &host, names, 32, &n) == 0) {
		for (unsigned int i = 0; i < n; i++)
			lv_launch_stop(&paths, &host, names[i], err, sizeof(err));
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_ready_then_stop(void **state)
{
	char err[LV_ERR_MAX] = "", pidf[PATH_MAX], notify[PATH_MAX], *log;
	uint64_t t0;
	pid_t pid;

	(void)state;
	write_ini("vm_ready", "ready");
	t0 = now_ms();
	assert_int_equal(lv_launch_start(&paths, &host, "vm_ready", err, sizeof(err)), 0);
	/* READY=1 ends the wait, not the timeout. */
	assert_true(now_ms() - t0 < 3000);
	pid = lv_launch_pid(&paths, &host, "vm_ready");
	assert_true(pid > 0);
	lv_path_instance(&paths, "vm_ready", ".pid", pidf, sizeof(pidf));
	assert_int_equal(atoi(slurp(pidf)), pid);
	lv_path_instance(&paths, "vm_ready", ".notify", notify, sizeof(notify));
	assert_int_not_equal(access(notify, F_OK), 0);
	log = slurp(fmt_log("vm_ready"));
	assert_non_null(log);
	assert_non_null(strstr(log, ": starting "));
	assert_non_null(strstr(log, "fake vfrelay: "));

	assert_int_equal(lv_launch_stop(&paths, &host, "vm_ready", err, sizeof(err)), 0);
	wait_gone(pid);
	assert_int_not_equal(access(pidf, F_OK), 0);
	assert_int_equal(lv_launch_pid(&paths, &host, "vm_ready"), 0);
	/* Stopping what is not running is no error. */
	assert_int_equal(lv_launch_stop(&paths, &host, "vm_ready", err, sizeof(err)), 0);
}

static void
test_daemon_error_line(void **state)
{
	char err[LV_ERR_MAX] = "", want[LV_ERR_MAX], ini[PATH_MAX], pidf[PATH_MAX];

	(void)state;
	write_ini("vm_fail", "fail");
	assert_int_equal(lv_launch_start(&paths, &host, "vm_fail", err, sizeof(err)), -EIO);
	lv_path_instance(&paths, "vm_fail", ".ini", ini, sizeof(ini));
	/* vfrelay's line, not the EAL chatter around it. */
	snprintf(want, sizeof(want),
		 "vfrelay exited with status 2: vfrelay: %s: [relay net0] vf: no such device", ini);
	assert_string_equal(err, want);
	lv_path_instance(&paths, "vm_fail", ".pid", pidf, sizeof(pidf));
	assert_int_not_equal(access(pidf, F_OK), 0);
	assert_int_equal(lv_launch_pid(&paths, &host, "vm_fail"), 0);
}

static void
test_late_ready(void **state)
{
	char err[LV_ERR_MAX] = "";
	uint64_t t0 = now_ms();

	(void)state;
	write_ini("vm_late", "late");
	assert_int_equal(lv_launch_start(&paths, &host, "vm_late", err, sizeof(err)), 0);
	assert_true(now_ms() - t0 >= 400);
	assert_true(now_ms() - t0 < 3000);
	assert_int_equal(lv_launch_stop(&paths, &host, "vm_late", err, sizeof(err)), 0);
}

/* Running but silent past start_timeout: stuck. Stopped, and the start fails. */
static void
test_silent_daemon(void **state)
{
	char err[LV_ERR_MAX] = "", ini[PATH_MAX], pidf[PATH_MAX], want[LV_ERR_MAX];
	uint64_t t0 = now_ms();
	const char *s;
	pid_t pid;

	(void)state;
	host.start_timeout_ms = 800;
	write_ini("vm_silent", "silent");
	assert_int_equal(lv_launch_start(&paths, &host, "vm_silent", err, sizeof(err)), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 800);
	host.start_timeout_ms = 5000;
	lv_path_instance(&paths, "vm_silent", ".ini", ini, sizeof(ini));
	/* "vfrelay (pid N) sent no READY=1 within 800 ms, stopped it; its last line: ..." */
	assert_int_equal(sscanf(err, "vfrelay (pid %d) ", &pid), 1);
	s = strchr(err, ')');
	assert_non_null(s);
	snprintf(want, sizeof(want),
		 ") sent no READY=1 within 800 ms, stopped it; its last line: fake vfrelay: %s: "
		 "mode silent",
		 ini);
	assert_string_equal(s, want);
	wait_gone(pid);
	lv_path_instance(&paths, "vm_silent", ".pid", pidf, sizeof(pidf));
	assert_int_not_equal(access(pidf, F_OK), 0);
}

/*
 * The hook as libvirt runs it: stdout and stderr are pipes libvirt reads until EOF. The
 * "hook" here is a child with both on one pipe and a stray inheritable descriptor; the
 * pipe must reach EOF as soon as it exits, while the daemon it started runs on.
 */
static void
test_detached(void **state)
{
	char err[LV_ERR_MAX] = "", ini[PATH_MAX], rec[PATH_MAX + 16], log[PATH_MAX];
	int pfd[2], status;
	uint64_t t0;
	pid_t hook, pid;
	char *r;

	(void)state;
	write_ini("vm_rec", "record");
	assert_int_equal(pipe(pfd), 0);
	hook = fork();
	assert_true(hook >= 0);
	if (hook == 0) {
		int stray = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, as a careless parent */

		(void)stray;
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		_exit(lv_launch_start(&paths, &host, "vm_rec", err, sizeof(err)) == 0 ? 0 : 1);
	}
	close(pfd[1]);
	t0 = now_ms();
	for (;;) {
		struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
		char buf[256];

		assert_true(now_ms() - t0 < 8000); /* an inherited pipe would hang here */
		if (poll(&pf, 1, 100) > 0 && read(pfd[0], buf, sizeof(buf)) <= 0)
			break;
	}
	close(pfd[0]);
	assert_int_equal(waitpid(hook, &status, 0), hook);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	pid = lv_launch_pid(&paths, &host, "vm_rec");
	assert_true(pid > 0); /* the daemon outlived its hook */

	lv_path_instance(&paths, "vm_rec", ".ini", ini, sizeof(ini));
	snprintf(rec, sizeof(rec), "%s.record", ini);
	r = slurp(rec);
	assert_non_null(r);
	{
		char want[256];

		/* Its own session and process group. */
		snprintf(want, sizeof(want), "\"pid\": %ld, \"sid\": %ld, \"pgid\": %ld", (long)pid,
			 (long)pid, (long)pid);
		assert_non_null(strstr(r, want));
		/* Exactly stdin /dev/null and its log: no pipe, no stray descriptor. */
		snprintf(log, sizeof(log), "%s/vm_rec.log", paths.log_dir);
		snprintf(want, sizeof(want),
			 "\"fds\": {\"0\": \"/dev/null\", \"1\": \"%s\", \"2\": \"%s\"}", log, log);
		assert_non_null(strstr(r, want));
		/* Our own NOTIFY_SOCKET and nothing of the hook's environment. */
		snprintf(want, sizeof(want), "\"NOTIFY_SOCKET\": \"%s/vm_rec.notify\"",
			 paths.run_dir);
		assert_non_null(strstr(r, want));
		assert_null(strstr(r, "\"HOME\""));
	}
	assert_non_null(strstr(r, "\"cwd\": \"/\""));
	{
		/* Unlimited (RLIM_INFINITY, -1) where we may raise it, else the hard limit. */
		struct rlimit hard;
		char want[128];

		assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &hard), 0);
		if (setrlimit(RLIMIT_MEMLOCK, &(struct rlimit){RLIM_INFINITY, RLIM_INFINITY}) == 0)
			snprintf(want, sizeof(want), "\"memlock\": -1, \"memlock_max\": -1");
		else
			snprintf(want, sizeof(want), "\"memlock\": %lld, \"memlock_max\": %lld",
				 (long long)hard.rlim_max, (long long)hard.rlim_max);
		setrlimit(RLIMIT_MEMLOCK, &hard);
		assert_non_null(strstr(r, want));
	}
	assert_non_null(strstr(r, "\"sigmask\": []"));
	assert_int_equal(lv_launch_stop(&paths, &host, "vm_rec", err, sizeof(err)), 0);
	wait_gone(pid);
}

static void
test_restart_replaces_old(void **state)
{
	char err[LV_ERR_MAX] = "";
	pid_t first, second;

	(void)state;
	write_ini("vm_twice", "ready");
	assert_int_equal(lv_launch_start(&paths, &host, "vm_twice", err, sizeof(err)), 0);
	first = lv_launch_pid(&paths, &host, "vm_twice");
	assert_true(first > 0);
	/* The same file prefix cannot run twice: the old process goes first. */
	assert_int_equal(lv_launch_start(&paths, &host, "vm_twice", err, sizeof(err)), 0);
	second = lv_launch_pid(&paths, &host, "vm_twice");
	assert_true(second > 0);
	assert_int_not_equal(first, second);
	assert_false(alive(first));
	assert_int_equal(lv_launch_stop(&paths, &host, "vm_twice", err, sizeof(err)), 0);
}

static void
test_stale_pidfile(void **state)
{
	char err[LV_ERR_MAX] = "", pidf[PATH_MAX], text[32];

	(void)state;
	/* A recycled pid (here: our own) that is no vfrelay of this config is never signalled. */
	write_ini("vm_stale", "ready");
	lv_path_instance(&paths, "vm_stale", ".pid", pidf, sizeof(pidf));
	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	assert_int_equal(lv_write_atomic(pidf, text, 0644, err, sizeof(err)), 0);
	assert_int_equal(lv_launch_pid(&paths, &host, "vm_stale"), 0);
	assert_int_equal(lv_launch_stop(&paths, &host, "vm_stale", err, sizeof(err)), 0);
	assert_int_not_equal(access(pidf, F_OK), 0);
}

static void
test_list(void **state)
{
	char err[LV_ERR_MAX] = "";
	char names[8][FWD_NAME_MAX];
	unsigned int n = 0;

	(void)state;
	write_ini("vm_l1", "ready");
	write_ini("vm_l2", "ready");
	assert_int_equal(lv_launch_start(&paths, &host, "vm_l1", err, sizeof(err)), 0);
	assert_int_equal(lv_launch_start(&paths, &host, "vm_l2", err, sizeof(err)), 0);
	assert_int_equal(lv_launch_stop(&paths, &host, "vm_l2", err, sizeof(err)), 0);
	assert_int_equal(lv_launch_list(&paths, &host, names, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "vm_l1");
	assert_int_equal(lv_launch_stop(&paths, &host, "vm_l1", err, sizeof(err)), 0);
}

static void
test_systemd(void **state)
{
	char err[LV_ERR_MAX] = "", bindir[128], path[4096], calls[256], flag[256];
	char names[4][FWD_NAME_MAX];
	unsigned int n = 0;
	const char *old_path = getenv("PATH");

	(void)state;
	/* `systemctl` on PATH is fake_systemctl.py; it keeps its state in tmpdir. */
	snprintf(bindir, sizeof(bindir), "%s/bin", tmpdir);
	assert_int_equal(lv_mkdirs(bindir, 0755), 0);
	snprintf(path, sizeof(path), "%s/systemctl", bindir);
	assert_int_equal(symlink(fake_systemctl, path), 0);
	snprintf(path, sizeof(path), "%s:%s", bindir, old_path != NULL ? old_path : "/usr/bin");
	setenv("PATH", path, 1);
	setenv("FAKE_SYSTEMCTL_DIR", tmpdir, 1);
	snprintf(calls, sizeof(calls), "%s/calls", tmpdir);
	host.launcher = LV_LAUNCH_SYSTEMD;

	assert_int_equal(lv_launch_start(&paths, &host, "vm_sd", err, sizeof(err)), 0);
	assert_string_equal(slurp(calls), "show --property=MainPID --value vfrelay@vm_sd.service\n"
					  "start vfrelay@vm_sd.service\n");
	assert_int_equal(lv_launch_pid(&paths, &host, "vm_sd"), getpid());
	assert_int_equal(lv_launch_list(&paths, &host, names, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "vm_sd");
	/* Active already: stopped first, so a new config is not silently ignored. */
	unlink(calls);
	assert_int_equal(lv_launch_start(&paths, &host, "vm_sd", err, sizeof(err)), 0);
	assert_string_equal(slurp(calls), "show --property=MainPID --value vfrelay@vm_sd.service\n"
					  "stop vfrelay@vm_sd.service\n"
					  "start vfrelay@vm_sd.service\n");
	assert_int_equal(lv_launch_stop(&paths, &host, "vm_sd", err, sizeof(err)), 0);
	assert_int_equal(lv_launch_pid(&paths, &host, "vm_sd"), 0);

	snprintf(flag, sizeof(flag), "%s/fail", tmpdir);
	close(open(flag, O_CREAT | O_WRONLY, 0644));
	assert_int_equal(lv_launch_start(&paths, &host, "vm_sd", err, sizeof(err)), -EIO);
	assert_string_equal(err, "systemctl start vfrelay@vm_sd.service failed (exit 1): Job for "
				 "vfrelay@vm_sd.service failed because the control process exited "
				 "with error code. (see journalctl -u vfrelay@vm_sd.service)");
	unlink(flag);
	host.launcher = LV_LAUNCH_DIRECT;
	setenv("PATH", old_path != NULL ? old_path : "/usr/bin:/bin", 1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_then_stop), cmocka_unit_test(test_daemon_error_line),
		cmocka_unit_test(test_late_ready),	cmocka_unit_test(test_silent_daemon),
		cmocka_unit_test(test_detached),	cmocka_unit_test(test_restart_replaces_old),
		cmocka_unit_test(test_stale_pidfile),	cmocka_unit_test(test_list),
		cmocka_unit_test(test_systemd),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s FAKE_VFRELAY FAKE_SYSTEMCTL\n", argv[0]);
		return 2;
	}
	fake_vfrelay = argv[1];
	fake_systemctl = argv[2];
	return cmocka_run_group_tests(tests, setup, teardown);
}
