/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Unit tests for libvirt/lv_domain.c over the fixture files in xml/: which interfaces
 * vfrelay serves and with what, and for every bad-*.xml the exact one-line message its
 * "<!-- expect: ... -->" comment names (or its start, "expect-prefix:").
 */

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lv_priv.h"

#define SOCK_DIR "/srv/vfrelay-test/sock"

static const char *fixtures;

static char *
slurp(const char *name, size_t *len)
{
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", fixtures, name);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
parse_file(const char *name, const char *socket_dir, struct lv_domain *d, char *err, size_t elen)
{
	size_t len;
	char *xml = slurp(name, &len);
	int rc = lv_domain_parse(xml, len, socket_dir, d, err, elen);

	free(xml);
	return rc;
}

static void
test_several(void **state)
{
	static struct lv_domain d;
	char err[LV_ERR_MAX] = "";

	(void)state;
	assert_int_equal(parse_file("several.xml", SOCK_DIR, &d, err, sizeof(err)), 0);
	assert_string_equal(d.name, "web-01.prod");
	assert_string_equal(d.uuid, "3e7a1c52-9b1d-4e5f-8a2b-0c1d2e3f4a5b"); /* lower case */
	assert_string_equal(d.instance, "web_01_prod");
	assert_int_equal(d.n_vhostuser, 3);
	assert_int_equal(d.n_ifaces, 2);

	/* net0: XML interface 1, defaults, VF from the pool later. */
	assert_int_equal(d.ifaces[0].xml_index, 1);
	assert_string_equal(d.ifaces[0].mac, "52:54:00:aa:00:01");
	assert_string_equal(d.ifaces[0].socket, SOCK_DIR "/web-01-net0.sock");
	assert_int_equal(d.ifaces[0].queues, 1);
	assert_int_equal(d.ifaces[0].mtu, 0);
	assert_false(d.ifaces[0].vf_from_metadata);
	assert_string_equal(d.ifaces[0].vf, "");
	assert_string_equal(d.ifaces[0].zero_copy, "");

	/* net1: XML interface 3 (OVS's interface 2 is skipped), multiqueue, MTU, metadata
	 * matched by a MAC written in upper case. */
	assert_int_equal(d.ifaces[1].xml_index, 3);
	assert_string_equal(d.ifaces[1].mac, "52:54:00:aa:00:02");
	assert_string_equal(d.ifaces[1].socket, SOCK_DIR "/vm/web-01-net1.sock");
	assert_int_equal(d.ifaces[1].queues, 4);
	assert_int_equal(d.ifaces[1].mtu, 9000);
	assert_true(d.ifaces[1].vf_from_metadata);
	assert_string_equal(d.ifaces[1].vf, "0000:3b:02.1");
	assert_string_equal(d.ifaces[1].zero_copy, "on");
}

static void
test_without_socket_dir(void **state)
{
	static struct lv_domain d;
	char err[LV_ERR_MAX] = "";

	(void)state;
	/* Only what tells the hook whether host.conf is needed at all. */
	assert_int_equal(parse_file("several.xml", NULL, &d, err, sizeof(err)), 0);
	assert_string_equal(d.name, "web-01.prod");
	assert_int_equal(d.n_vhostuser, 3);
	assert_int_equal(d.n_ifaces, 0);

	assert_int_equal(parse_file("none.xml", NULL, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n_vhostuser, 0);
	assert_string_equal(d.uuid, "01234567-89ab-cdef-0123-456789abcdef");
}

static void
test_single_metadata_without_mac(void **state)
{
	static struct lv_domain d;
	char err[LV_ERR_MAX] = "";

	(void)state;
	assert_int_equal(parse_file("single.xml", SOCK_DIR, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n_ifaces, 1);
	assert_int_equal(d.ifaces[0].queues, 2);
	assert_string_equal(d.ifaces[0].zero_copy, "off");
	assert_false(d.ifaces[0].vf_from_metadata);
	assert_string_equal(d.instance, "vm1");
}

static void
test_unmanaged(void **state)
{
	static struct lv_domain d;
	char err[LV_ERR_MAX] = "";

	(void)state;
	/* Other backends' sockets, ".." and a look-alike directory; no instance name needed. */
	assert_int_equal(parse_file("unmanaged.xml", SOCK_DIR, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n_vhostuser, 4);
	assert_int_equal(d.n_ifaces, 0);
	/* The same socket_dir written with a trailing component is another directory. */
	assert_int_equal(parse_file("several.xml", SOCK_DIR "/vm", &d, err, sizeof(err)), 0);
	assert_int_equal(d.n_ifaces, 1);
	assert_int_equal(d.ifaces[0].xml_index, 3);
}

static void
test_bad_fixtures(void **state)
{
	static struct lv_domain d;
	struct dirent *e;
	int checked = 0, failed = 0;
	DIR *dh = opendir(fixtures);

	(void)state;
	assert_non_null(dh);
	while ((e = readdir(dh)) != NULL) {
		char err[LV_ERR_MAX] = "", want[LV_ERR_MAX] = "";
		const char *s, *end;
		bool prefix;
		size_t len;
		char *xml;
		int rc;

		if (strncmp(e->d_name, "bad-", 4) != 0)
			continue;
		xml = slurp(e->d_name, &len);
		s = strstr(xml, "<!-- expect");
		assert_non_null(s);
		prefix = strncmp(s, "<!-- expect-prefix: ", 20) == 0;
		s += prefix ? 20 : 13;
		end = strstr(s, " -->");
		assert_non_null(end);
		snprintf(want, sizeof(want), "%.*s", (int)(end - s), s);
		rc = lv_domain_parse(xml, len, SOCK_DIR, &d, err, sizeof(err));
		if (rc != -EINVAL ||
		    (prefix ? strncmp(err, want, strlen(want)) != 0 : strcmp(err, want) != 0)) {
			print_error("%s: rc %d\n  got:  %s\n  want: %s%s\n", e->d_name, rc, err,
				    want, prefix ? "..." : "");
			failed++;
		}
		/* One line: it is all libvirt shows of the hook. */
		if (strchr(err, '\n') != NULL) {
			print_error("%s: message has a newline\n", e->d_name);
			failed++;
		}
		free(xml);
		checked++;
	}
	closedir(dh);
	assert_int_equal(failed, 0);
	/* A glob gone wrong must not pass for a clean run. */
	assert_true(checked >= 25);
}

static void
test_instance_name(void **state)
{
	char out[FWD_NAME_MAX];

	(void)state;
	assert_int_equal(lv_instance_name("web-01.prod", out, sizeof(out)), 0);
	assert_string_equal(out, "web_01_prod");
	assert_int_equal(lv_instance_name("instance-0000a1b2", out, sizeof(out)), 0);
	assert_string_equal(out, "instance_0000a1b2");
	assert_int_equal(lv_instance_name("v\xc3\xa4m 1", out, sizeof(out)), 0);
	assert_string_equal(out, "v__m_1"); /* every byte of a UTF-8 character */
	assert_int_equal(lv_instance_name("", out, sizeof(out)), -EINVAL);
	assert_int_equal(lv_instance_name("0123456789012345678901234567890", out, sizeof(out)), 0);
	assert_int_equal(lv_instance_name("01234567890123456789012345678901", out, sizeof(out)),
			 -ENAMETOOLONG);
}

static void
test_mac_and_uuid(void **state)
{
	uint8_t m[6];

	(void)state;
	assert_int_equal(lv_mac_parse("52:54:00:AB:cd:0f", m), 0);
	assert_int_equal(m[3], 0xab);
	assert_int_equal(m[5], 0x0f);
	assert_int_equal(lv_mac_parse("52:54:00:ab:cd", m), -EINVAL);
	assert_int_equal(lv_mac_parse("52-54-00-ab-cd-0f", m), -EINVAL);
	assert_int_equal(lv_mac_parse("52:54:00:ab:cd:0g", m), -EINVAL);
	assert_true(lv_uuid_valid("3E7A1C52-9b1d-4e5f-8a2b-0c1d2e3f4a5b"));
	assert_false(lv_uuid_valid("3e7a1c529b1d4e5f8a2b0c1d2e3f4a5b"));
	assert_false(lv_uuid_valid("../../../../etc/passwd/xxxxxxxxxxxxx"));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_several),
		cmocka_unit_test(test_without_socket_dir),
		cmocka_unit_test(test_single_metadata_without_mac),
		cmocka_unit_test(test_unmanaged),
		cmocka_unit_test(test_bad_fixtures),
		cmocka_unit_test(test_instance_name),
		cmocka_unit_test(test_mac_and_uuid),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
		return 2;
	}
	fixtures = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
