/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Real SR-IOV VFs: the VF is bound to vfio-pci and has no netdev, so its MAC is set the
 * way `ip link set <pf> vf <n> mac <mac>` does it, through the PF over rtnetlink
 * (libmnl). The PF and the VF's index come from sysfs: <vf>/physfn points at the PF and
 * one of the PF's virtfn<N> links points back at the VF. With spoofchk on (the default)
 * the VF may then send only from the guest's own MAC.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "lv_priv.h"

bool
lv_vf_is_pci(const char *vf)
{
	const char *p = vf;
	int colons = 0;

	/* vfrelay's rule (forwarder/main.c): such strings are probed with -a as PCI. */
	if (strncmp(vf, "pci:", 4) == 0)
		return true;
	for (; *p != '\0' && *p != ','; p++) {
		if (*p == ':')
			colons++;
		else if (*p != '.' &&
			 !((*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')))
			return false;
	}
	return colons >= 1 && strchr(vf, '.') != NULL;
}

/* "pci:3b:02.0,x=1" -> "0000:3b:02.0" (sysfs names carry the PCI domain). */
static int
pci_name(const char *vf, char *out, size_t len)
{
	const char *s = strncmp(vf, "pci:", 4) == 0 ? vf + 4 : vf;
	size_t n = strcspn(s, ",");
	int colons = 0;

	for (size_t i = 0; i < n; i++)
		colons += s[i] == ':';
	if (n == 0 || n + 6 > len)
		return -EINVAL;
	snprintf(out, len, "%s%.*s", colons == 1 ? "0000:" : "", (int)n, s);
	for (char *c = out; *c != '\0'; c++)
		*c = (char)(*c >= 'A' && *c <= 'F' ? *c + ('a' - 'A') : *c);
	return 0;
}

/* basename of the symlink @dir/@name, into @out. */
static int
link_base(const char *dir, const char *name, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base != NULL ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(out, base);
	return 0;
}

int
lv_vf_resolve(const char *sysfs, const char *vf_pci, struct lv_vf_pf *out, char *err, size_t errlen)
{
	char name[64], vfdir[PATH_MAX], pfdir[PATH_MAX + 64], netdir[PATH_MAX + 80];
	struct dirent *e;
	bool found = false;
	DIR *dh;
	int rc;

	memset(out, 0, sizeof(*out));
	if (pci_name(vf_pci, name, sizeof(name)) < 0)
		return lv_err(err, errlen, -EINVAL, "VF '%s': not a PCI address", vf_pci);
	snprintf(vfdir, sizeof(vfdir), "%s/bus/pci/devices/%s", sysfs, name);
	if (access(vfdir, F_OK) != 0)
		return lv_err(err, errlen, -ENOENT, "VF %s: no such PCI device (%s)", name, vfdir);
	rc = link_base(vfdir, "physfn", out->pf_pci, sizeof(out->pf_pci));
	if (rc == -ENOENT)
		return -ENODEV; /* a PF or a plain device: it has its own MAC */
	if (rc < 0)
		return lv_err(err, errlen, rc, "VF %s: cannot read %s/physfn: %s", name, vfdir,
			      strerror(-rc));
	snprintf(pfdir, sizeof(pfdir), "%s/bus/pci/devices/%s", sysfs, out->pf_pci);
	dh = opendir(pfdir);
	if (dh == NULL)
		return lv_err(err, errlen, -errno, "VF %s: PF %s: cannot read %s: %s", name,
			      out->pf_pci, pfdir, strerror(errno));
	while (!found && (e = readdir(dh)) != NULL) {
		char target[64];
		char *end;
		unsigned long idx;

		if (strncmp(e->d_name, "virtfn", 6) != 0)
			continue;
		idx = strtoul(e->d_name + 6, &end, 10);
		if (end == e->d_name + 6 || *end != '\0')
			continue;
		if (link_base(pfdir, e->d_name, target, sizeof(target)) == 0 &&
		    strcmp(target, name) == 0) {
			out->vf_index = (unsigned int)idx;
			found = true;
		}
	}
	closedir(dh);
	if (!found)
		return lv_err(err, errlen, -ENOENT, "VF %s: no virtfn link of PF %s points at it",
			      name, out->pf_pci);
	snprintf(netdir, sizeof(netdir), "%s/net", pfdir);
	dh = opendir(netdir);
	if (dh == NULL)
		return lv_err(err, errlen, -ENOENT,
			      "VF %s: PF %s has no network interface (bound to which driver?): "
			      "cannot set the VF's MAC",
			      name, out->pf_pci);
	while ((e = readdir(dh)) != NULL) {
		if (e->d_name[0] != '.' && strlen(e->d_name) < sizeof(out->pf_ifname)) {
			strcpy(out->pf_ifname, e->d_name);
			break;
		}
	}
	closedir(dh);
	if (out->pf_ifname[0] == '\0')
		return lv_err(err, errlen, -ENOENT, "VF %s: PF %s has no network interface", name,
			      out->pf_pci);
	return 0;
}

size_t
lv_vf_msg_set_mac(void *buf, size_t len, int pf_ifindex, unsigned int vf, const uint8_t mac[6],
		  uint32_t seq)
{
	struct ifla_vf_mac vm = {.vf = vf};
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	struct nlattr *list, *info;

	/* Header, ifinfomsg, two nests and the attribute: far below this. */
	if (len < 256)
		return 0;
	memset(buf, 0, 256);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_SETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = pf_ifindex;
	list = mnl_attr_nest_start(nlh, IFLA_VFINFO_LIST);
	info = mnl_attr_nest_start(nlh, IFLA_VF_INFO);
	memcpy(vm.mac, mac, 6);
	mnl_attr_put(nlh, IFLA_VF_MAC, sizeof(vm), &vm);
	mnl_attr_nest_end(nlh, info);
	mnl_attr_nest_end(nlh, list);
	return nlh->nlmsg_len;
}

int
lv_vf_set_mac(const struct lv_vf_pf *pf, const uint8_t mac[6], char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct timeval tv = {.tv_sec = 2};
	struct mnl_socket *nl;
	uint32_t seq = (uint32_t)time(NULL);
	unsigned int portid;
	unsigned int ifindex = if_nametoindex(pf->pf_ifname);
	size_t len;
	ssize_t n;
	int rc = 0;

	if (ifindex == 0)
		return lv_err(err, errlen, -errno, "PF %s (%s): no such interface: %s",
			      pf->pf_ifname, pf->pf_pci, strerror(errno));
	len = lv_vf_msg_set_mac(buf, sizeof(buf), (int)ifindex, pf->vf_index, mac, seq);
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (nl == NULL)
		return lv_err(err, errlen, -errno, "rtnetlink: %s", strerror(errno));
	/* Never wait on the kernel for long inside a libvirt hook. */
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 || mnl_socket_sendto(nl, buf, len) < 0) {
		rc = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	if (mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL) < 0)
		rc = errno != 0 ? -errno : -EIO;
out:
	mnl_socket_close(nl);
	if (rc < 0)
		return lv_err(err, errlen, rc,
			      "PF %s: setting the MAC of VF %u to "
			      "%02x:%02x:%02x:%02x:%02x:%02x failed: %s",
			      pf->pf_ifname, pf->vf_index, mac[0], mac[1], mac[2], mac[3], mac[4],
			      mac[5], strerror(-rc));
	return 0;
}

int
lv_vf_pf_mtu(const char *sysfs, const struct lv_vf_pf *pf, unsigned int *mtu)
{
	char path[PATH_MAX];
	char buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/net/%s/mtu", sysfs, pf->pf_pci,
		 pf->pf_ifname);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*mtu = (unsigned int)strtoul(buf, NULL, 10);
	return *mtu > 0 ? 0 : -EIO;
}
