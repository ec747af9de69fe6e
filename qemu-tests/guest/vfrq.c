/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfrq: the test program inside the QEMU guest (static, no DPDK, no vfrelay code:
 * it judges the daemon, so it shares none of its code).
 *
 *   vfrq echo IFACE N TIMEOUT_S   receive test frames on IFACE (AF_PACKET), check every
 *                                 byte, send each back with the MACs swapped; stop after
 *                                 N distinct sequence numbers or TIMEOUT_S seconds
 *   vfrq channels IFACE N         set N combined channels (ETHTOOL_SCHANNELS)
 *
 * Test frames are the ones tests/integration/vfrtest.py udp_frame() builds:
 * Ethernet/IPv4/UDP, then "VFRT", be32 sequence, be16 frame size, then byte i
 * (from frame offset 52) = ((seq * 31) & 0xff) + i, mod 256.
 *
 * The last line printed is "RESULT PASS ..." or "RESULT FAIL ...".
 */

#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HDR_END 52 /* end of Ethernet + IPv4 + UDP + magic + seq + size */
#define MAX_SEQ (1u << 20)

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
usage(void)
{
	fprintf(stderr, "usage: vfrq echo IFACE N TIMEOUT_S | vfrq channels IFACE N\n");
	return 2;
}

/* 0 if @f (@len bytes) is an intact test frame; else a short reason. */
static const char *
check_frame(const uint8_t *f, size_t len, uint32_t *seq_out)
{
	uint32_t seq;
	uint16_t size;
	uint8_t start;

	if (len < HDR_END || f[12] != 0x08 || f[13] != 0x00 || memcmp(f + 42, "VFRT", 4) != 0)
		return "foreign";
	memcpy(&seq, f + 46, 4);
	memcpy(&size, f + 50, 2);
	seq = ntohl(seq);
	size = ntohs(size);
	*seq_out = seq;
	if (size != len)
		return "length differs from the size field";
	if ((size_t)((f[16] << 8) | f[17]) != len - 14)
		return "IPv4 total length differs";
	start = (uint8_t)(seq * 31);
	for (size_t i = HDR_END; i < len; i++)
		if (f[i] != (uint8_t)(start + (i - HDR_END)))
			return "payload pattern differs";
	return NULL;
}

static int
cmd_echo(const char *ifname, unsigned long n, double timeout)
{
	static uint8_t seen[MAX_SEQ / 8];
	static uint8_t buf[65536];
	struct sockaddr_ll sll = {0};
	unsigned long got = 0, bad = 0, dup = 0, foreign = 0, echoed = 0, bytes = 0;
	unsigned long small = 0, large = 0;
	double deadline = now_s() + timeout;
	int fd;

	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		printf("RESULT FAIL socket: %s\n", strerror(errno));
		return 1;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		printf("RESULT FAIL bind %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	int rcvbuf = 8 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	printf("READY echo on %s, expecting %lu frames\n", ifname, n);
	fflush(stdout);

	while (got < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		double left = deadline - now_s();
		const char *why;
		uint32_t seq = 0;
		ssize_t len;

		if (left <= 0)
			break;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		len = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (len < 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		why = check_frame(buf, (size_t)len, &seq);
		if (why != NULL && strcmp(why, "foreign") == 0) {
			foreign++;
			continue;
		}
		if (why != NULL) {
			if (bad++ < 10)
				printf("BAD seq %u len %zd: %s\n", seq, len, why);
			continue;
		}
		if (seq < MAX_SEQ) {
			if (seen[seq / 8] & (1u << (seq % 8))) {
				dup++;
			} else {
				seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
				got++;
				bytes += (unsigned long)len;
				if (len <= 128)
					small++;
				else if (len >= 1024)
					large++;
			}
		}
		/* Echo: swap the MACs, send back through the same interface. */
		uint8_t mac[6];
		memcpy(mac, buf, 6);
		memcpy(buf, buf + 6, 6);
		memcpy(buf + 6, mac, 6);
		if (sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&sll, sizeof(sll)) == len)
			echoed++;
	}
	printf("RESULT %s rx=%lu bad=%lu dup=%lu foreign=%lu echoed=%lu bytes=%lu small=%lu "
	       "large=%lu\n",
	       got == n && bad == 0 && dup == 0 ? "PASS" : "FAIL", got, bad, dup, foreign, echoed,
	       bytes, small, large);
	return got == n && bad == 0 && dup == 0 ? 0 : 1;
}

static int
cmd_channels(const char *ifname, unsigned int n)
{
	struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	if (fd < 0 || ioctl(fd, SIOCETHTOOL, &ifr) != 0) {
		printf("RESULT FAIL ETHTOOL_GCHANNELS %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	printf("channels: combined %u of max %u\n", ch.combined_count, ch.max_combined);
	ch.cmd = ETHTOOL_SCHANNELS;
	ch.combined_count = n;
	if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) {
		printf("RESULT FAIL ETHTOOL_SCHANNELS %u: %s\n", n, strerror(errno));
		return 1;
	}
	ch.cmd = ETHTOOL_GCHANNELS;
	if (ioctl(fd, SIOCETHTOOL, &ifr) != 0 || ch.combined_count != n) {
		printf("RESULT FAIL combined is %u after setting %u\n", ch.combined_count, n);
		return 1;
	}
	printf("RESULT PASS combined=%u\n", n);
	return 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && strcmp(argv[1], "echo") == 0)
		return cmd_echo(argv[2], strtoul(argv[3], NULL, 10), atof(argv[4]));
	if (argc == 4 && strcmp(argv[1], "channels") == 0)
		return cmd_channels(argv[2], (unsigned int)strtoul(argv[3], NULL, 10));
	return usage();
}
