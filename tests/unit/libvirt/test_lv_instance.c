/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Unit tests for libvirt/lv_instance.c: the instance config a domain gets (relays net0,
 * net1... in XML order, queues, MTU, zero copy from metadata over host.conf's defaults,
 * client mode), exactly; that vfrelay's own parser accepts it; and that what vfrelay
 * would refuse is refused with vfrelay's message before anything starts.
 */

#include <errno.h>
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
static struct lv_domain dom;

static const char *
fmt(const char *f, ...)
{
	static char buf[LV_INSTANCE_TEXT_MAX];
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	return buf;
}

static void
load_host(const char *extra)
{
	char err[LV_ERR_MAX] = "";
	char text[4096];

	snprintf(text, sizeof(text),
		 "[host]\nsocket_dir = %s\nvf_pool = net_af_packet0,iface=vfr0 net_null1\n"
		 "lcores = 0,1\n%s",
		 tmpdir, extra);
	if (lv_host_parse_string(text, "/etc/vfrelay/host.conf", &host, err, sizeof(err)) != 0)
		fail_msg("host.conf: %s", err);
}

static void
load_domain(void)
{
	char err[LV_ERR_MAX] = "";
	const char *xml =
		fmt("<domain type='kvm'>\n"
		    "  <name>db-7</name>\n"
		    "  <uuid>0f0e0d0c-0b0a-0908-0706-050403020100</uuid>\n"
		    "  <metadata><v:relay xmlns:v='https://vfrelay.dev/xmlns/libvirt/1'"
		    "    mac='52:54:00:00:07:02' vf='net_null1' zero_copy='off'/></metadata>\n"
		    "  <devices>\n"
		    "    <interface type='vhostuser'><mac address='52:54:00:00:07:01'/>\n"
		    "      <source type='unix' path='%s/db7-a.sock' mode='server'/>\n"
		    "      <driver queues='4'/><mtu size='9000'/></interface>\n"
		    "    <interface type='vhostuser'><mac address='52:54:00:00:07:02'/>\n"
		    "      <source type='unix' path='%s/db7-b.sock' mode='server'/></interface>\n"
		    "  </devices>\n"
		    "</domain>\n",
		    tmpdir, tmpdir);

	if (lv_domain_parse(xml, strlen(xml), tmpdir, &dom, err, sizeof(err)) != 0)
		fail_msg("domain: %s", err);
}

static int
setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/vfrh-inst-XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

static void
test_render(void **state)
{
	struct lv_claims none = {0};
	char text[LV_INSTANCE_TEXT_MAX], err[LV_ERR_MAX] = "";

	(void)state;
	load_host("eal = --no-huge -m 256\nburst = 16\nzero_copy = auto\nrx_ring_size = 512\n");
	load_domain();
	assert_int_equal(lv_pool_assign(&host, &none, &dom, err, sizeof(err)), 0);
	assert_int_equal(lv_instance_render(&host, &dom, text, sizeof(text), err, sizeof(err)), 0);
	assert_string_equal(text, fmt("; vfrelay instance of libvirt domain db-7 "
				      "(0f0e0d0c-0b0a-0908-0706-050403020100).\n"
				      "; Written by vfrelay-hook at every start of the domain from "
				      "/etc/vfrelay/host.conf and the\n"
				      "; domain XML: change those, not this file.\n"
				      "[vfrelay]\n"
				      "name = db_7\n"
				      "lcores = 0,1\n"
				      "eal = --no-huge -m 256\n"
				      "burst = 16\n"
				      "\n"
				      "[relay net0]\n"
				      "; interface 0, mac 52:54:00:00:07:01\n"
				      "vf = net_af_packet0,iface=vfr0\n"
				      "vhost = %s/db7-a.sock\n"
				      "vhost_mode = client\n"
				      "queues = 4\n"
				      "zero_copy = auto\n"
				      "mtu = 9000\n"
				      "rx_ring_size = 512\n"
				      "\n"
				      "[relay net1]\n"
				      "; interface 1, mac 52:54:00:00:07:02\n"
				      "vf = net_null1\n"
				      "vhost = %s/db7-b.sock\n"
				      "vhost_mode = client\n"
				      "queues = 1\n"
				      "zero_copy = off\n"
				      "rx_ring_size = 512\n",
				      tmpdir, tmpdir));

	/* vfrelay's own parser takes it, and reads what the hook meant. */
	assert_int_equal(lv_instance_check(text, "/run/vfrelay/db_7.ini", err, sizeof(err)), 0);
	{
		static struct fwd_config cfg;

		assert_int_equal(fwd_config_parse_string(text, "x", &cfg, err, sizeof(err)), 0);
		assert_string_equal(cfg.name, "db_7");
		assert_int_equal(cfg.n_relays, 2);
		assert_string_equal(cfg.relays[0].name, "net0");
		assert_int_equal(cfg.relays[0].queues, 4);
		assert_int_equal(cfg.relays[0].mtu, 9000);
		assert_int_equal(cfg.relays[0].vhost_mode, FWD_VHOST_CLIENT);
		assert_int_equal(cfg.relays[0].rx_ring_size, 512);
		assert_int_equal(cfg.relays[0].tx_ring_size, 1024);
		assert_int_equal(cfg.relays[1].zero_copy, FWD_ZC_OFF);
		assert_int_equal(cfg.relays[1].mtu, 1500);
		assert_int_equal(cfg.burst, 16);
	}
}

static void
test_host_mtu_default(void **state)
{
	struct lv_claims none = {0};
	char text[LV_INSTANCE_TEXT_MAX], err[LV_ERR_MAX] = "";

	(void)state;
	load_host("mtu = 1400\n");
	load_domain();
	assert_int_equal(lv_pool_assign(&host, &none, &dom, err, sizeof(err)), 0);
	assert_int_equal(lv_instance_render(&host, &dom, text, sizeof(text), err, sizeof(err)), 0);
	/* The interface's <mtu> wins; the other takes host.conf's. */
	assert_non_null(strstr(text, "[relay net0]"));
	assert_non_null(strstr(strstr(text, "[relay net0]"), "mtu = 9000\n"));
	assert_non_null(strstr(strstr(text, "[relay net1]"), "mtu = 1400\n"));
	assert_null(strstr(text, "zero_copy = auto"));
}

/* What only vfrelay can know is still caught before a start: its message, its path. */
static void
test_refused_by_vfrelay(void **state)
{
	struct lv_claims none = {0};
	char text[LV_INSTANCE_TEXT_MAX], err[LV_ERR_MAX] = "";
	const char *xml = fmt("<domain><name>x</name>"
			      "<uuid>0f0e0d0c-0b0a-0908-0706-050403020100</uuid><devices>"
			      "<interface type='vhostuser'>"
			      "<source type='unix' path='%s/gone/x.sock' mode='server'/>"
			      "</interface></devices></domain>",
			      tmpdir);

	(void)state;
	load_host("");
	assert_int_equal(lv_domain_parse(xml, strlen(xml), tmpdir, &dom, err, sizeof(err)), 0);
	assert_int_equal(lv_pool_assign(&host, &none, &dom, err, sizeof(err)), 0);
	assert_int_equal(lv_instance_render(&host, &dom, text, sizeof(text), err, sizeof(err)), 0);
	assert_int_equal(lv_instance_check(text, "/run/vfrelay/x.ini", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, fmt("/run/vfrelay/x.ini: [relay net0] vhost: directory "
				     "'%s/gone' is not usable: No such file or directory, got "
				     "'%s/gone/x.sock'",
				     tmpdir, tmpdir));
}

static void
test_no_vf(void **state)
{
	char text[LV_INSTANCE_TEXT_MAX], err[LV_ERR_MAX] = "";

	(void)state;
	load_host("");
	load_domain();
	dom.ifaces[0].vf[0] = '\0';
	assert_int_equal(lv_instance_render(&host, &dom, text, sizeof(text), err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "domain db-7: interface 0: no VF assigned");
	assert_int_equal(lv_instance_render(&host, &dom, text, 64, err, sizeof(err)), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_host_mtu_default),
		cmocka_unit_test(test_refused_by_vfrelay),
		cmocka_unit_test(test_no_vf),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
