/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Unit tests for libvirt/lv_vf.c on a fake sysfs tree laid out as the kernel does it
 * (bus/pci/devices/<vf>/physfn -> ../<pf>, <pf>/virtfn<N> -> ../<vf>, <pf>/net/<if>/mtu),
 * and the rtnetlink message `ip link set <pf> vf <n> mac <mac>` sends, decoded back with
 * libmnl. Sending it needs a real PF; the message is what we own.
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
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "lv_priv.h"

static char sysfs[64];

static void
mk(const char *fmt, ...)
{
	char path[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	assert_int_equal(lv_mkdirs(path, 0755), 0);
}

static void
ln(const char *target, const char *fmt, ...)
{
	char path[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	assert_int_equal(symlink(target, path), 0);
}

static int
setup(void **state)
{
	const char *dev = "bus/pci/devices";
	char path[512];
	FILE *f;

	(void)state;
	strcpy(sysfs, "/tmp/vfrh-sysfs-XXXXXX");
	if (mkdtemp(sysfs) == NULL)
		return -1;
	/* PF 0000:3b:00.0 (ens1f0, MTU 1500) with VFs 0000:3b:02.0 (vf 0) and 02.1 (vf 1). */
	mk("%s/%s/0000:3b:00.0/net/ens1f0", sysfs, dev);
	mk("%s/%s/0000:3b:02.0", sysfs, dev);
	mk("%s/%s/0000:3b:02.1", sysfs, dev);
	ln("../0000:3b:02.0", "%s/%s/0000:3b:00.0/virtfn0", sysfs, dev);
	ln("../0000:3b:02.1", "%s/%s/0000:3b:00.0/virtfn1", sysfs, dev);
	ln("../0000:3b:00.0", "%s/%s/0000:3b:02.0/physfn", sysfs, dev);
	ln("../0000:3b:00.0", "%s/%s/0000:3b:02.1/physfn", sysfs, dev);
	snprintf(path, sizeof(path), "%s/%s/0000:3b:00.0/net/ens1f0/mtu", sysfs, dev);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs("1500\n", f);
	fclose(f);
	/* A device that is no VF (a PF passed whole), and a VF whose PF has no netdev. */
	mk("%s/%s/0000:5e:00.0", sysfs, dev);
	mk("%s/%s/0000:af:00.0", sysfs, dev);
	mk("%s/%s/0000:af:02.0", sysfs, dev);
	ln("../0000:af:02.0", "%s/%s/0000:af:00.0/virtfn0", sysfs, dev);
	ln("../0000:af:00.0", "%s/%s/0000:af:02.0/physfn", sysfs, dev);
	/* A VF whose PF lists it nowhere. */
	mk("%s/%s/0000:d8:02.0", sysfs, dev);
	ln("../0000:3b:00.0", "%s/%s/0000:d8:02.0/physfn", sysfs, dev);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", sysfs);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_is_pci(void **state)
{
	(void)state;
	assert_true(lv_vf_is_pci("0000:3b:02.1"));
	assert_true(lv_vf_is_pci("3b:02.1"));
	assert_true(lv_vf_is_pci("0000:3B:02.1,txq_inline=0"));
	assert_true(lv_vf_is_pci("pci:0000:3b:02.1"));
	assert_false(lv_vf_is_pci("net_null0"));
	assert_false(lv_vf_is_pci("net_af_packet0,iface=eth1"));
	assert_false(lv_vf_is_pci("net_tap0,iface=x.1"));
}

static void
test_resolve(void **state)
{
	struct lv_vf_pf pf;
	char err[LV_ERR_MAX] = "";
	unsigned int mtu = 0;

	(void)state;
	assert_int_equal(lv_vf_resolve(sysfs, "0000:3b:02.1", &pf, err, sizeof(err)), 0);
	assert_string_equal(pf.pf_pci, "0000:3b:00.0");
	assert_string_equal(pf.pf_ifname, "ens1f0");
	assert_int_equal(pf.vf_index, 1);
	assert_int_equal(lv_vf_pf_mtu(sysfs, &pf, &mtu), 0);
	assert_int_equal(mtu, 1500);

	/* Short and upper-case forms, devargs after a comma: the same VF. */
	assert_int_equal(lv_vf_resolve(sysfs, "3B:02.0,txq_inline=0", &pf, err, sizeof(err)), 0);
	assert_int_equal(pf.vf_index, 0);
	assert_string_equal(pf.pf_ifname, "ens1f0");
}

static void
test_resolve_refusals(void **state)
{
	struct lv_vf_pf pf;
	char err[LV_ERR_MAX] = "";

	(void)state;
	/* No physfn: not a VF, nothing to set (and no message). */
	assert_int_equal(lv_vf_resolve(sysfs, "0000:5e:00.0", &pf, err, sizeof(err)), -ENODEV);
	assert_int_equal(lv_vf_resolve(sysfs, "0000:99:00.0", &pf, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "VF 0000:99:00.0: no such PCI device"));
	assert_int_equal(lv_vf_resolve(sysfs, "0000:af:02.0", &pf, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "VF 0000:af:02.0: PF 0000:af:00.0 has no network interface "
				 "(bound to which driver?): cannot set the VF's MAC");
	assert_int_equal(lv_vf_resolve(sysfs, "0000:d8:02.0", &pf, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "VF 0000:d8:02.0: no virtfn link of PF 0000:3b:00.0 points at it");
}

struct decoded {
	int vfinfo_list;
	int vf_info;
	const struct ifla_vf_mac *mac;
};

static int
vf_info_attr(const struct nlattr *a, void *data)
{
	struct decoded *d = data;

	if (mnl_attr_get_type(a) == IFLA_VF_MAC) {
		assert_int_equal(mnl_attr_get_payload_len(a), sizeof(struct ifla_vf_mac));
		d->mac = mnl_attr_get_payload(a);
	}
	return MNL_CB_OK;
}

static int
list_attr(const struct nlattr *a, void *data)
{
	struct decoded *d = data;

	if (mnl_attr_get_type(a) == IFLA_VF_INFO) {
		d->vf_info++;
		mnl_attr_parse_nested(a, vf_info_attr, d);
	}
	return MNL_CB_OK;
}

static int
top_attr(const struct nlattr *a, void *data)
{
	struct decoded *d = data;

	if (mnl_attr_get_type(a) == IFLA_VFINFO_LIST) {
		d->vfinfo_list++;
		mnl_attr_parse_nested(a, list_attr, d);
	}
	return MNL_CB_OK;
}

static void
test_set_mac_message(void **state)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct decoded d = {0};
	const struct nlmsghdr *nlh = (const void *)buf;
	const struct ifinfomsg *ifm;
	size_t len;

	(void)state;
	len = lv_vf_msg_set_mac(buf, sizeof(buf), 42, 7, mac, 1234);
	assert_true(len > sizeof(*nlh));
	assert_int_equal(nlh->nlmsg_len, len);
	assert_int_equal(nlh->nlmsg_type, RTM_SETLINK);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	assert_int_equal(nlh->nlmsg_seq, 1234);
	ifm = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(ifm->ifi_index, 42);
	assert_int_equal(ifm->ifi_family, AF_UNSPEC);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(*ifm), top_attr, &d), MNL_CB_OK);
	assert_int_equal(d.vfinfo_list, 1);
	assert_int_equal(d.vf_info, 1);
	assert_non_null(d.mac);
	assert_int_equal(d.mac->vf, 7);
	assert_memory_equal(d.mac->mac, mac, 6);
	/* Too small a buffer builds nothing. */
	assert_int_equal(lv_vf_msg_set_mac(buf, 64, 42, 7, mac, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_pci),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_resolve_refusals),
		cmocka_unit_test(test_set_mac_message),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
