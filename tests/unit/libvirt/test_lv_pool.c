/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Unit tests for libvirt/lv_pool.c: who gets which VF, the messages when none can be
 * had, the claim files, and processes racing on the lock: twelve "hooks" released at
 * the same instant onto a pool of five must end with five claims on five different VFs
 * and seven clean refusals, round after round.
 */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lv_priv.h"

#define RACERS 12
#define ROUNDS 5

static struct lv_paths paths;
static struct lv_host host;
static char tmpdir[64];

static void
set_pool(unsigned int n)
{
	memset(&host, 0, sizeof(host));
	snprintf(host.path, sizeof(host.path), "/etc/vfrelay/host.conf");
	host.n_pool = n;
	for (unsigned int i = 0; i < n; i++)
		snprintf(host.pool[i], sizeof(host.pool[i]), "net_null%u", i);
}

/* A domain "vm<id>" with @n interfaces, VFs from the pool unless set afterwards. */
static void
make_domain(struct lv_domain *d, unsigned int id, unsigned int n)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "vm-%u", id);
	snprintf(d->instance, sizeof(d->instance), "vm_%u", id);
	snprintf(d->uuid, sizeof(d->uuid), "00000000-0000-0000-0000-%012u", id);
	d->n_ifaces = n;
	d->n_vhostuser = n;
	for (unsigned int i = 0; i < n; i++) {
		d->ifaces[i].xml_index = i;
		d->ifaces[i].queues = 1;
		snprintf(d->ifaces[i].socket, sizeof(d->ifaces[i].socket), "/s/vm%u-%u.sock", id,
			 i);
	}
}

static void
add_claim(struct lv_claims *c, unsigned int id, const char *vf)
{
	struct lv_claim *cl;

	c->v = realloc(c->v, (c->n + 1) * sizeof(*c->v));
	assert_non_null(c->v);
	cl = &c->v[c->n++];
	memset(cl, 0, sizeof(*cl));
	snprintf(cl->uuid, sizeof(cl->uuid), "00000000-0000-0000-0000-%012u", id);
	snprintf(cl->instance, sizeof(cl->instance), "vm_%u", id);
	snprintf(cl->domain, sizeof(cl->domain), "vm-%u", id);
	cl->n_vfs = 1;
	snprintf(cl->vfs[0], sizeof(cl->vfs[0]), "%s", vf);
}

static int
setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/vfrh-pool-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	memset(&paths, 0, sizeof(paths));
	snprintf(paths.run_dir, sizeof(paths.run_dir), "%s/run", tmpdir);
	snprintf(paths.log_dir, sizeof(paths.log_dir), "%s/log", tmpdir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
clear_claims(void)
{
	struct lv_claims c;
	char err[LV_ERR_MAX];

	assert_int_equal(lv_claims_read(&paths, &c, err, sizeof(err)), 0);
	for (unsigned int i = 0; i < c.n; i++)
		assert_int_equal(lv_claim_remove(&paths, c.v[i].uuid), 0);
	lv_claims_free(&c);
}

static void
test_assign_from_pool(void **state)
{
	static struct lv_domain d;
	struct lv_claims c = {0};
	char err[LV_ERR_MAX] = "";

	(void)state;
	set_pool(4);
	add_claim(&c, 9, "net_null0");
	make_domain(&d, 1, 2);
	assert_int_equal(lv_pool_assign(&host, &c, &d, err, sizeof(err)), 0);
	assert_string_equal(d.ifaces[0].vf, "net_null1");
	assert_string_equal(d.ifaces[1].vf, "net_null2");

	/* A VF the metadata names is skipped by the pool, even for an earlier interface. */
	make_domain(&d, 1, 2);
	snprintf(d.ifaces[1].vf, sizeof(d.ifaces[1].vf), "net_null1");
	d.ifaces[1].vf_from_metadata = true;
	assert_int_equal(lv_pool_assign(&host, &c, &d, err, sizeof(err)), 0);
	assert_string_equal(d.ifaces[0].vf, "net_null2");
	assert_string_equal(d.ifaces[1].vf, "net_null1");

	/* The domain's own old claim (a crash) holds nothing against it. */
	make_domain(&d, 9, 1);
	assert_int_equal(lv_pool_assign(&host, &c, &d, err, sizeof(err)), 0);
	assert_string_equal(d.ifaces[0].vf, "net_null0");
	lv_claims_free(&c);
}

static void
test_assign_refusals(void **state)
{
	static struct lv_domain d;
	struct lv_claims c = {0};
	char err[LV_ERR_MAX] = "";

	(void)state;
	set_pool(2);
	add_claim(&c, 7, "net_null0");

	make_domain(&d, 1, 2);
	assert_int_equal(lv_pool_assign(&host, &c, &d, err, sizeof(err)), -EBUSY);
	assert_string_equal(err, "domain vm-1: interface 1 (/s/vm1-1.sock): no free VF in vf_pool "
				 "of /etc/vfrelay/host.conf (all 2 held by running domains)");

	make_domain(&d, 1, 1);
	snprintf(d.ifaces[0].vf, sizeof(d.ifaces[0].vf), "net_null0");
	d.ifaces[0].vf_from_metadata = true;
	assert_int_equal(lv_pool_assign(&host, &c, &d, err, sizeof(err)), -EBUSY);
	assert_string_equal(err, "domain vm-1: metadata <vfrelay:relay> of interface 0: vf "
				 "'net_null0' is held by domain vm-7");

	snprintf(d.ifaces[0].vf, sizeof(d.ifaces[0].vf), "0000:3b:02.0");
	assert_int_equal(lv_pool_assign(&host, &c, &d, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "domain vm-1: metadata <vfrelay:relay> of interface 0: vf "
				 "'0000:3b:02.0' is not in vf_pool of /etc/vfrelay/host.conf");

	make_domain(&d, 1, 2);
	for (int i = 0; i < 2; i++) {
		snprintf(d.ifaces[i].vf, sizeof(d.ifaces[i].vf), "net_null1");
		d.ifaces[i].vf_from_metadata = true;
	}
	assert_int_equal(lv_pool_assign(&host, &c, &d, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "domain vm-1: metadata <vfrelay:relay> of interface 0: vf "
				 "'net_null1' is named for two interfaces");

	/* "vm-7" and "vm_7" make the same instance name: the second one is refused. */
	make_domain(&d, 1, 1);
	snprintf(d.name, sizeof(d.name), "vm_7");
	snprintf(d.instance, sizeof(d.instance), "vm_7");
	assert_int_equal(lv_pool_assign(&host, &c, &d, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "domain vm_7: instance name 'vm_7' is held by domain vm-7 "
				 "(00000000-0000-0000-0000-000000000007): rename one of them");
	lv_claims_free(&c);
}

static void
test_claim_files(void **state)
{
	static struct lv_domain d;
	struct lv_claims c;
	char err[LV_ERR_MAX] = "", path[PATH_MAX + 64];
	FILE *f;

	(void)state;
	set_pool(3);
	make_domain(&d, 3, 2);
	snprintf(d.name, sizeof(d.name), "vm 3 (with spaces)");
	assert_int_equal(lv_pool_claim(&paths, &host, &d, err, sizeof(err)), 0);

	/* Not claims: a temporary file of a write in progress, a stray file. */
	snprintf(path, sizeof(path), "%s/claims/%s.tmp.123", paths.run_dir, d.uuid);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("garbage\n", f);
	fclose(f);

	assert_int_equal(lv_claims_read(&paths, &c, err, sizeof(err)), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0].uuid, d.uuid);
	assert_string_equal(c.v[0].instance, "vm_3");
	assert_string_equal(c.v[0].domain, "vm 3 (with spaces)");
	assert_int_equal(c.v[0].n_vfs, 2);
	assert_string_equal(c.v[0].vfs[0], "net_null0");
	assert_string_equal(c.v[0].vfs[1], "net_null1");
	assert_true(time(NULL) - c.v[0].since < 60);
	assert_non_null(lv_claims_find(&c, d.uuid));
	lv_claims_free(&c);
	unlink(path);

	/* A claim that cannot be read stops allocation: its VFs might be handed out twice. */
	snprintf(path, sizeof(path), "%s/claims/00000000-0000-0000-0000-00000000dead",
		 paths.run_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("instance x\nvfs net_null2\n", f);
	fclose(f);
	make_domain(&d, 4, 1);
	assert_int_equal(lv_pool_claim(&paths, &host, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "00000000dead:2: not a claim line: remove the file if its "
				    "domain is gone"));
	unlink(path);
	clear_claims();
}

static void
test_lock_timeout(void **state)
{
	char err[LV_ERR_MAX] = "";
	int fd, status;
	pid_t pid;

	(void)state;
	fd = lv_pool_lock(&paths, 1000, err, sizeof(err));
	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char e[LV_ERR_MAX];
		int rc = lv_pool_lock(&paths, 200, e, sizeof(e));

		_exit(rc == -ETIMEDOUT && strstr(e, "still locked") != NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	lv_pool_unlock(fd);
	/* Free again once the holder is gone. */
	fd = lv_pool_lock(&paths, 0, err, sizeof(err));
	assert_true(fd >= 0);
	lv_pool_unlock(fd);
}

/* Child: wait for the start signal, claim one VF; exit 0 (got one), 1 (EBUSY), 2. */
static void __attribute__((noreturn)) racer(int start_fd, unsigned int id)
{
	static struct lv_domain d;
	char err[LV_ERR_MAX], c;
	int rc;

	make_domain(&d, id, 1);
	if (read(start_fd, &c, 1) != 0)
		_exit(3);
	rc = lv_pool_claim(&paths, &host, &d, err, sizeof(err));
	if (rc == 0)
		_exit(0);
	_exit(rc == -EBUSY && strstr(err, "no free VF in vf_pool") != NULL ? 1 : 2);
}

static void
test_race(void **state)
{
	(void)state;
	set_pool(5);
	for (int round = 0; round < ROUNDS; round++) {
		int pfd[2], got = 0, busy = 0, other = 0;
		bool seen[5] = {false};
		pid_t pids[RACERS];
		struct lv_claims c;
		char err[LV_ERR_MAX];

		clear_claims();
		assert_int_equal(pipe(pfd), 0);
		for (unsigned int i = 0; i < RACERS; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0) {
				close(pfd[1]);
				racer(pfd[0], 100 + i);
			}
		}
		close(pfd[0]);
		close(pfd[1]); /* EOF: every racer goes at once */
		for (unsigned int i = 0; i < RACERS; i++) {
			int status;

			assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
			assert_true(WIFEXITED(status));
			got += WEXITSTATUS(status) == 0;
			busy += WEXITSTATUS(status) == 1;
			other += WEXITSTATUS(status) > 1;
		}
		assert_int_equal(other, 0);
		assert_int_equal(got, 5);
		assert_int_equal(busy, RACERS - 5);

		assert_int_equal(lv_claims_read(&paths, &c, err, sizeof(err)), 0);
		assert_int_equal(c.n, 5);
		for (unsigned int i = 0; i < c.n; i++) {
			int v = lv_host_pool_index(&host, c.v[i].vfs[0]);

			assert_int_equal(c.v[i].n_vfs, 1);
			assert_true(v >= 0);
			assert_false(seen[v]); /* never two domains on one VF */
			seen[v] = true;
		}
		lv_claims_free(&c);
	}
	clear_claims();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assign_from_pool),
		cmocka_unit_test(test_assign_refusals),
		cmocka_unit_test(test_claim_files),
		cmocka_unit_test(test_lock_timeout),
		cmocka_unit_test(test_race),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
