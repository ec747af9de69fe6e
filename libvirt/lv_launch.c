/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Starting and stopping one instance: `systemctl start vfrelay@<instance>` where systemd
 * is PID 1 (the unit is Type=notify: systemctl returns once vfrelay said READY=1), else
 * the hook spawns vfrelay itself.
 *
 * A spawned vfrelay must not hold anything of the hook's: libvirt reads the hook's
 * stdout and stderr until they close, so an inherited descriptor would hang
 * `virsh start`. It gets its own session, /dev/null for stdin, its log file for
 * stdout/stderr, nothing else open, default signals, and the memlock limit VFIO needs.
 *
 * Readiness is systemd's protocol, spoken by the hook: vfrelay gets a NOTIFY_SOCKET of
 * ours and sends READY=1 once every relay's vhost socket is registered and started;
 * a bad config makes it exit 2 with one line on stderr, which becomes the hook's line.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lv_priv.h"

/*
 * vfrelay sends READY=1 (forwarder/fwd_notify.c): one that is still silent when
 * start_timeout ends is stuck, and the VM must not start without its network. (false
 * would take a running but silent instance as started, for a vfrelay that predates the
 * protocol.)
 */
#define LV_READY_REQUIRED true

#define LV_STOP_TERM_MS	     5000 /* SIGTERM to SIGKILL */
#define LV_STOP_KILL_MS	     2000
#define LV_SYSTEMCTL_STOP_MS 15000
#define LV_SPAWN_PATH	     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Alive and not a zombie (an instance reparented to a PID 1 that does not reap). */
static bool
pid_alive(pid_t pid)
{
	char path[64], buf[512];
	const char *rp;
	ssize_t n;
	int fd;

	if (pid <= 0 || kill(pid, 0) != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold anything, the state follows its last ')'. */
	rp = strrchr(buf, ')');
	return rp != NULL && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

/* Is @pid a vfrelay run with --config @ini? A pidfile may outlive its process. */
static bool
pid_runs_config(pid_t pid, const char *ini)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n;) {
		const char *arg = buf + i;
		size_t len = strlen(arg);

		if (strcmp(arg, "--config") == 0 && i + (ssize_t)len + 1 < n &&
		    strcmp(arg + len + 1, ini) == 0)
			return true;
		i += (ssize_t)len + 1;
	}
	return false;
}

static pid_t
read_pidfile(const char *path)
{
	char buf[32];
	ssize_t n;
	long v;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	v = strtol(buf, NULL, 10);
	return v > 1 ? (pid_t)v : 0;
}

/*
 * Run a short command, its stdout and stderr into @out (so nothing of it reaches
 * libvirt), killed after @timeout_ms. Returns its exit status, or -errno/-ETIMEDOUT.
 */
static int
run_cmd(const char *const argv[], unsigned int timeout_ms, char *out, size_t outlen)
{
	uint64_t deadline = now_ms() + timeout_ms;
	size_t used = 0;
	int pfd[2];
	int status;
	pid_t pid;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
		uint64_t now = now_ms();
		char sink[512];
		ssize_t n;

		if (now >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(pfd[0]);
			return -ETIMEDOUT;
		}
		if (poll(&pf, 1, (int)(deadline - now)) <= 0)
			continue;
		if (out != NULL && used + 1 < outlen)
			n = read(pfd[0], out + used, outlen - used - 1);
		else
			n = read(pfd[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out != NULL && used + 1 < outlen) {
			used += (size_t)n;
			out[used] = '\0';
		}
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
unit_name(const char *instance, char *buf, size_t len)
{
	snprintf(buf, len, "vfrelay@%s.service", instance);
}

/* The last "vfrelay: ..." line vfrelay wrote to its log after @off (else its last line). */
static void
daemon_error_line(const char *log, off_t off, char *line, size_t len)
{
	char buf[8192];
	char *best = NULL, *last = NULL;
	ssize_t n;
	int fd = open(log, O_RDONLY | O_CLOEXEC);

	line[0] = '\0';
	if (fd < 0)
		return;
	/* The error is the end of what it wrote; the EAL's chatter before it does not matter. */
	{
		off_t end = lseek(fd, 0, SEEK_END);

		if (end - off > (off_t)sizeof(buf) - 1)
			off = end - (off_t)sizeof(buf) + 1;
	}
	n = pread(fd, buf, sizeof(buf) - 1, off);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *s = strtok(buf, "\n"); s != NULL; s = strtok(NULL, "\n")) {
		if (s[0] == '\0')
			continue;
		last = s;
		if (strncmp(s, "vfrelay: ", 9) == 0)
			best = s;
	}
	if (best == NULL)
		best = last;
	if (best != NULL)
		snprintf(line, len, "%s", best);
}

/* -- systemd ---------------------------------------------------------------------------- */

static int systemd_stop(const char *instance, char *err, size_t errlen);
static pid_t systemd_pid(const char *instance);

static int
systemd_start(const struct lv_host *h, const char *instance, char *err, size_t errlen)
{
	char unit[FWD_NAME_MAX + 32], out[1024];
	const char *start[] = {"systemctl", "start", unit, NULL};
	const char *stop[] = {"systemctl", "stop", "--no-block", unit, NULL};
	int rc;

	unit_name(instance, unit, sizeof(unit));
	/* `start` of an active unit does nothing: an old one would keep its old config. */
	if (systemd_pid(instance) > 0) {
		rc = systemd_stop(instance, err, errlen);
		if (rc < 0)
			return rc;
	}
	rc = run_cmd(start, h->start_timeout_ms, out, sizeof(out));
	if (rc == 0)
		return 0;
	if (rc == -ETIMEDOUT) {
		run_cmd(stop, 5000, NULL, 0);
		return lv_err(err, errlen, -ETIMEDOUT,
			      "systemctl start %s: not ready within %u s (see journalctl -u %s)",
			      unit, h->start_timeout_ms / 1000, unit);
	}
	if (rc < 0)
		return lv_err(err, errlen, rc, "systemctl: %s", strerror(-rc));
	out[strcspn(out, "\n")] = '\0';
	return lv_err(err, errlen, -EIO,
		      "systemctl start %s failed (exit %d): %s (see journalctl -u %s)", unit, rc,
		      out, unit);
}

static int
systemd_stop(const char *instance, char *err, size_t errlen)
{
	char unit[FWD_NAME_MAX + 32], out[1024];
	const char *stop[] = {"systemctl", "stop", unit, NULL};
	int rc;

	unit_name(instance, unit, sizeof(unit));
	rc = run_cmd(stop, LV_SYSTEMCTL_STOP_MS, out, sizeof(out));
	if (rc == 0)
		return 0;
	out[strcspn(out, "\n")] = '\0';
	return lv_err(err, errlen, rc < 0 ? rc : -EIO, "systemctl stop %s failed (%d): %s", unit,
		      rc, out);
}

static pid_t
systemd_pid(const char *instance)
{
	char unit[FWD_NAME_MAX + 32], out[64];
	const char *show[] = {"systemctl", "show", "--property=MainPID", "--value", unit, NULL};

	unit_name(instance, unit, sizeof(unit));
	if (run_cmd(show, 5000, out, sizeof(out)) != 0)
		return 0;
	return (pid_t)strtol(out, NULL, 10);
}

/* -- spawned ---------------------------------------------------------------------------- */

/* In the child, between fork() and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
spawn_child(const char *vfrelay, const char *ini, const char *notify, int null_fd, int log_fd)
{
	char notify_env[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
	char *const argv[] = {(char *)"vfrelay", (char *)"--config", (char *)ini, NULL};
	char *envp[] = {(char *)LV_SPAWN_PATH, notify_env, (char *)"LC_ALL=C", NULL};
	struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	size_t n = strlen(notify);

	memcpy(notify_env, "NOTIFY_SOCKET=", 14);
	memcpy(notify_env + 14, notify, n + 1);
	setsid();
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(127);
	closefrom(3);
	/*
	 * VFIO pins guest memory: the systemd unit's LimitMEMLOCK=infinity. Without
	 * CAP_SYS_RESOURCE (a container) the hard limit is as far as it goes.
	 */
	if (setrlimit(RLIMIT_MEMLOCK, &unlimited) != 0 &&
	    getrlimit(RLIMIT_MEMLOCK, &unlimited) == 0) {
		unlimited.rlim_cur = unlimited.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &unlimited);
	}
	umask(022);
	if (chdir("/") != 0)
		_exit(127);
	execve(vfrelay, argv, envp);
	{
		static const char msg[] = "vfrelay: cannot execute the vfrelay binary\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);

		(void)w;
	}
	_exit(127);
}

static int
notify_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return lv_err(err, errlen, -ENAMETOOLONG,
			      "%s: longer than a unix socket path may be (shorten run_dir)", path);
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return lv_err(err, errlen, -errno, "notify socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int rc = -errno;

		close(fd);
		return lv_err(err, errlen, rc, "%s: cannot bind: %s", path, strerror(-rc));
	}
	return fd;
}

/* A notify datagram: newline-separated VAR=value; true if it says READY=1. */
static bool
says_ready(char *msg, char *status, size_t statuslen)
{
	bool ready = false;

	for (char *s = strtok(msg, "\n"); s != NULL; s = strtok(NULL, "\n")) {
		if (strcmp(s, "READY=1") == 0)
			ready = true;
		else if (strncmp(s, "STATUS=", 7) == 0)
			snprintf(status, statuslen, "%s", s + 7);
	}
	return ready;
}

enum wait_result { WAIT_READY, WAIT_EXITED, WAIT_TIMEOUT };

static enum wait_result
wait_ready(int sock, pid_t pid, unsigned int timeout_ms, int *status, char *st, size_t stlen)
{
	uint64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		struct pollfd pf = {.fd = sock, .events = POLLIN};
		uint64_t now = now_ms();
		char msg[4096];
		ssize_t n;

		/* Its datagrams first: READY=1 sent just before an exit still counts. */
		while ((n = recv(sock, msg, sizeof(msg) - 1, 0)) > 0) {
			msg[n] = '\0';
			if (says_ready(msg, st, stlen))
				return WAIT_READY;
		}
		if (waitpid(pid, status, WNOHANG) == pid)
			return WAIT_EXITED;
		if (now >= deadline)
			return WAIT_TIMEOUT;
		/* The exit is not on the socket: look again at least every 50 ms. */
		poll(&pf, 1, (int)(deadline - now < 50 ? deadline - now : 50));
	}
}

static int
kill_and_wait(pid_t pid, int sig, unsigned int ms)
{
	uint64_t deadline = now_ms() + ms;

	if (kill(pid, sig) != 0 && errno != ESRCH)
		return -errno;
	while (pid_alive(pid)) {
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		/* Our own child (still the hook's during a failed start) must be reaped. */
		waitpid(pid, NULL, WNOHANG);
		sleep_ms(20);
	}
	return 0;
}

static int
direct_stop(const struct lv_paths *p, const struct lv_host *h, const char *instance, char *err,
	    size_t errlen)
{
	char pidf[PATH_MAX];
	pid_t pid;
	int rc;

	lv_path_instance(p, instance, ".pid", pidf, sizeof(pidf));
	pid = lv_launch_pid(p, h, instance);
	if (pid > 0) {
		rc = kill_and_wait(pid, SIGTERM, LV_STOP_TERM_MS);
		if (rc == -ETIMEDOUT) {
			lv_log(p, "instance %s: pid %ld ignored SIGTERM for %d ms: SIGKILL",
			       instance, (long)pid, LV_STOP_TERM_MS);
			rc = kill_and_wait(pid, SIGKILL, LV_STOP_KILL_MS);
		}
		if (rc < 0)
			return lv_err(err, errlen, rc, "instance %s: pid %ld does not exit: %s",
				      instance, (long)pid, strerror(-rc));
	}
	unlink(pidf);
	return 0;
}

static int
direct_start(const struct lv_paths *p, const struct lv_host *h, const char *instance, char *err,
	     size_t errlen)
{
	char ini[PATH_MAX], pidf[PATH_MAX], notify[PATH_MAX], log[PATH_MAX + 64];
	char pidtext[32], line[512], status[256] = "";
	enum wait_result wr;
	int sock, logfd, nullfd;
	int wstatus = 0;
	off_t off;
	pid_t pid;
	int rc;

	if (lv_path_instance(p, instance, ".ini", ini, sizeof(ini)) < 0 ||
	    lv_path_instance(p, instance, ".pid", pidf, sizeof(pidf)) < 0 ||
	    lv_path_instance(p, instance, ".notify", notify, sizeof(notify)) < 0)
		return lv_err(err, errlen, -ENAMETOOLONG, "%s: path too long", p->run_dir);
	snprintf(log, sizeof(log), "%s/%s.log", p->log_dir, instance);
	/* Its file prefix is the instance name: an old process of it must go first. */
	rc = direct_stop(p, h, instance, err, errlen);
	if (rc < 0)
		return rc;
	rc = lv_mkdirs(p->log_dir, 0750);
	if (rc < 0)
		return lv_err(err, errlen, rc, "%s: cannot create: %s", p->log_dir, strerror(-rc));
	sock = notify_socket(notify, err, errlen);
	if (sock < 0)
		return sock;
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (logfd < 0 || nullfd < 0) {
		rc = lv_err(err, errlen, -errno, "%s: cannot open: %s",
			    logfd < 0 ? log : "/dev/null", strerror(errno));
		goto out;
	}
	{
		char stamp[32];
		struct tm tm;
		time_t t = time(NULL);

		localtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S%z", &tm);
		dprintf(logfd, "--- %s %s: starting %s --config %s\n", stamp, lv_prog, p->vfrelay,
			ini);
	}
	off = lseek(logfd, 0, SEEK_END);
	pid = fork();
	if (pid < 0) {
		rc = lv_err(err, errlen, -errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		spawn_child(p->vfrelay, ini, notify, nullfd, logfd);
	snprintf(pidtext, sizeof(pidtext), "%ld\n", (long)pid);
	rc = lv_write_atomic(pidf, pidtext, 0644, err, errlen);
	if (rc < 0) {
		kill_and_wait(pid, SIGKILL, LV_STOP_KILL_MS);
		goto out;
	}
	wr = wait_ready(sock, pid, h->start_timeout_ms, &wstatus, status, sizeof(status));
	switch (wr) {
	case WAIT_READY:
		lv_log(p, "instance %s: vfrelay pid %ld ready%s%s", instance, (long)pid,
		       status[0] ? ": " : "", status);
		rc = 0;
		break;
	case WAIT_EXITED:
		unlink(pidf);
		daemon_error_line(log, off, line, sizeof(line));
		if (WIFEXITED(wstatus))
			rc = lv_err(err, errlen, -EIO, "vfrelay exited with status %d: %s",
				    WEXITSTATUS(wstatus), line[0] ? line : "(no message, see log)");
		else
			rc = lv_err(err, errlen, -EIO, "vfrelay was killed by signal %d: %s",
				    WTERMSIG(wstatus), line[0] ? line : "(no message)");
		break;
	case WAIT_TIMEOUT:
		if (!LV_READY_REQUIRED) {
			lv_log(p,
			       "instance %s: vfrelay pid %ld sent no READY=1 within %u ms and "
			       "runs: taken as started",
			       instance, (long)pid, h->start_timeout_ms);
			rc = 0;
			break;
		}
		direct_stop(p, h, instance, NULL, 0);
		daemon_error_line(log, off, line, sizeof(line));
		rc = lv_err(err, errlen, -ETIMEDOUT,
			    "vfrelay (pid %ld) sent no READY=1 within %u ms, stopped it; its last "
			    "line: %s",
			    (long)pid, h->start_timeout_ms, line[0] ? line : "(none)");
		break;
	}
out:
	close(sock);
	unlink(notify);
	if (logfd >= 0)
		close(logfd);
	if (nullfd >= 0)
		close(nullfd);
	return rc;
}

/* -- entry points ----------------------------------------------------------------------- */

pid_t
lv_launch_pid(const struct lv_paths *p, const struct lv_host *h, const char *instance)
{
	char pidf[PATH_MAX], ini[PATH_MAX];
	pid_t pid;

	if (lv_launcher_resolve(h->launcher) == LV_LAUNCH_SYSTEMD)
		return systemd_pid(instance);
	if (lv_path_instance(p, instance, ".pid", pidf, sizeof(pidf)) < 0 ||
	    lv_path_instance(p, instance, ".ini", ini, sizeof(ini)) < 0)
		return 0;
	pid = read_pidfile(pidf);
	return pid > 0 && pid_alive(pid) && pid_runs_config(pid, ini) ? pid : 0;
}

int
lv_launch_start(const struct lv_paths *p, const struct lv_host *h, const char *instance, char *err,
		size_t errlen)
{
	if (lv_launcher_resolve(h->launcher) == LV_LAUNCH_SYSTEMD)
		return systemd_start(h, instance, err, errlen);
	return direct_start(p, h, instance, err, errlen);
}

int
lv_launch_stop(const struct lv_paths *p, const struct lv_host *h, const char *instance, char *err,
	       size_t errlen)
{
	if (lv_launcher_resolve(h->launcher) == LV_LAUNCH_SYSTEMD)
		return systemd_stop(instance, err, errlen);
	return direct_stop(p, h, instance, err, errlen);
}

static bool
instance_chars(const char *s, size_t n)
{
	if (n == 0 || n >= FWD_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return true;
}

int
lv_launch_list(const struct lv_paths *p, const struct lv_host *h, char (*names)[FWD_NAME_MAX],
	       unsigned int max, unsigned int *n)
{
	*n = 0;
	if (lv_launcher_resolve(h->launcher) == LV_LAUNCH_SYSTEMD) {
		const char *list[] = {"systemctl",	"list-units",	     "--type=service",
				      "--state=active", "--plain",	     "--no-legend",
				      "--no-pager",	"vfrelay@*.service", NULL};
		char *out = malloc(65536);
		int rc;

		if (out == NULL)
			return -ENOMEM;
		rc = run_cmd(list, 10000, out, 65536);
		if (rc != 0) {
			free(out);
			return rc < 0 ? rc : -EIO;
		}
		/* "vfrelay@vm1.service loaded active running vfrelay forwarder for vm1" */
		for (char *s = strtok(out, "\n"); s != NULL && *n < max; s = strtok(NULL, "\n")) {
			size_t len;

			while (*s == ' ')
				s++;
			if (strncmp(s, "vfrelay@", 8) != 0)
				continue;
			s += 8;
			len = strcspn(s, ".");
			if (strncmp(s + len, ".service", 8) == 0 && instance_chars(s, len)) {
				memcpy(names[*n], s, len);
				names[(*n)++][len] = '\0';
			}
		}
		free(out);
		return 0;
	}
	{
		struct dirent *e;
		DIR *dh = opendir(p->run_dir);

		if (dh == NULL)
			return errno == ENOENT ? 0 : -errno;
		while ((e = readdir(dh)) != NULL && *n < max) {
			size_t len = strlen(e->d_name);

			if (len <= 4 || strcmp(e->d_name + len - 4, ".pid") != 0 ||
			    !instance_chars(e->d_name, len - 4))
				continue;
			memcpy(names[*n], e->d_name, len - 4);
			names[*n][len - 4] = '\0';
			if (lv_launch_pid(p, h, names[*n]) > 0)
				(*n)++;
		}
		closedir(dh);
	}
	return 0;
}
