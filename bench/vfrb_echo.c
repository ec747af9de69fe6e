/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfrb-echo: the guest of bench/density. A virtio_user port that answers ARP
 * requests and ICMP echo requests for one IPv4 address, and costs nothing
 * while idle: after --spin-us without a frame it enables its RX queue's
 * interrupt (the host's guest notification) and sleeps in epoll, like a
 * kernel driver's NAPI. So many idle guests can share a CPU, and a ping's
 * round trip measures the host side, not a guest busy-polling next to others.
 *
 *   vfrb-echo --no-huge -m 64 --no-pci --lcores=0@0 --file-prefix=g0 \
 *       --vdev=net_virtio_user0,path=SOCK,server=1,mac=02:00:00:00:ff:00 -- \
 *       --ip 10.77.0.2 [--spin-us 100]
 *
 * Prints "vfrb-echo: ready" on stderr once the port has started; on SIGTERM
 * or SIGINT a line with what it answered, then it exits.
 */

#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_interrupts.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#define VE_BURST 32
#define VE_RING 256

static atomic_bool ve_stop;

static void
ve_on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&ve_stop, true, memory_order_relaxed);
}

struct ve_counts {
	uint64_t arp, icmp, other, tx_fail, wakeups;
};

/* Turn an ARP request or ICMP echo request for @p ip into its reply in place. */
static bool
ve_answer(struct rte_mbuf *m, uint32_t ip, const struct rte_ether_addr *mac, struct ve_counts *c)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint32_t len = rte_pktmbuf_data_len(m);

	if (len >= sizeof(*eth) + sizeof(struct rte_arp_hdr) &&
	    eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
		struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);

		if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
		    arp->arp_data.arp_tip != ip)
			return false;
		arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
		arp->arp_data.arp_tha = arp->arp_data.arp_sha;
		arp->arp_data.arp_tip = arp->arp_data.arp_sip;
		arp->arp_data.arp_sha = *mac;
		arp->arp_data.arp_sip = ip;
		eth->dst_addr = eth->src_addr;
		eth->src_addr = *mac;
		c->arp++;
		return true;
	}
	if (len >= sizeof(*eth) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_icmp_hdr) &&
	    eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		struct rte_ipv4_hdr *iph = (struct rte_ipv4_hdr *)(eth + 1);
		uint32_t ihl = (uint32_t)(iph->version_ihl & 0xf) * 4;
		uint32_t ip_len = rte_be_to_cpu_16(iph->total_length);
		struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((uint8_t *)iph + ihl);
		uint32_t src = iph->src_addr;
		uint16_t sum;

		if (iph->next_proto_id != IPPROTO_ICMP || iph->dst_addr != ip || ihl < 20 ||
		    ip_len < ihl + sizeof(*icmp) || sizeof(*eth) + ip_len > len ||
		    icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST)
			return false;
		iph->src_addr = iph->dst_addr;
		iph->dst_addr = src;
		icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
		icmp->icmp_cksum = 0;
		sum = rte_raw_cksum(icmp, ip_len - ihl);
		icmp->icmp_cksum = sum == 0xffff ? sum : (uint16_t)~sum;
		eth->dst_addr = eth->src_addr;
		eth->src_addr = *mac;
		c->icmp++;
		return true;
	}
	return false;
}

static int
ve_port_init(uint16_t port, struct rte_mempool *mp)
{
	struct rte_eth_conf conf = {.intr_conf = {.rxq = 1}};
	int socket = rte_eth_dev_socket_id(port);
	int ret;

	ret = rte_eth_dev_configure(port, 1, 1, &conf);
	if (ret == 0)
		ret = rte_eth_rx_queue_setup(port, 0, VE_RING, socket, NULL, mp);
	if (ret == 0)
		ret = rte_eth_tx_queue_setup(port, 0, VE_RING, socket, NULL);
	if (ret == 0)
		ret = rte_eth_dev_start(port);
	if (ret == 0)
		ret = rte_eth_dev_rx_intr_ctl_q(port, 0, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_ADD,
						NULL);
	return ret;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"ip", required_argument, NULL, 'i'},
		{"spin-us", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	struct rte_mbuf *pkts[VE_BURST];
	struct ve_counts c = {0};
	struct rte_ether_addr mac;
	struct rte_mempool *mp;
	struct in_addr addr = {0};
	uint64_t spin_us = 100;
	uint64_t spin, last;
	uint16_t port = 0;
	int ret, opt;

	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "vfrb-echo: EAL init failed\n");
		return 2;
	}
	argc -= ret;
	argv += ret;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'i' && inet_pton(AF_INET, optarg, &addr) == 1)
			continue;
		if (opt == 's') {
			spin_us = strtoull(optarg, NULL, 10);
			continue;
		}
		fprintf(stderr, "usage: vfrb-echo EAL-ARGS -- --ip A.B.C.D [--spin-us N]\n");
		return 2;
	}
	if (addr.s_addr == 0 || rte_eth_dev_count_avail() == 0) {
		fprintf(stderr, "vfrb-echo: need --ip and one port\n");
		return 2;
	}
	signal(SIGTERM, ve_on_signal);
	signal(SIGINT, ve_on_signal);
	mp = rte_pktmbuf_pool_create("ve_pool", 2 * VE_RING + 4 * VE_BURST, 0, 0,
				     RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (mp == NULL || ve_port_init(port, mp) != 0) {
		fprintf(stderr, "vfrb-echo: cannot set up port %u with RX interrupts\n", port);
		return 2;
	}
	rte_eth_macaddr_get(port, &mac);
	fprintf(stderr, "vfrb-echo: ready: " RTE_ETHER_ADDR_PRT_FMT " answers %s\n",
		RTE_ETHER_ADDR_BYTES(&mac), inet_ntoa(addr));

	spin = rte_get_tsc_hz() / 1000000 * spin_us;
	last = rte_rdtsc();
	while (!atomic_load_explicit(&ve_stop, memory_order_relaxed)) {
		uint16_t n = rte_eth_rx_burst(port, 0, pkts, VE_BURST);
		uint16_t k = 0;

		if (n == 0) {
			struct rte_epoll_event ev;

			if (rte_rdtsc() - last < spin)
				continue;
			/* Arm, look once more, sleep until the host's interrupt. */
			rte_eth_dev_rx_intr_enable(port, 0);
			n = rte_eth_rx_burst(port, 0, pkts, VE_BURST);
			if (n == 0) {
				rte_epoll_wait_interruptible(RTE_EPOLL_PER_THREAD, &ev, 1, 1000);
				c.wakeups++;
			}
			rte_eth_dev_rx_intr_disable(port, 0);
			if (n == 0)
				continue;
		}
		last = rte_rdtsc();
		for (uint16_t i = 0; i < n; i++) {
			if (ve_answer(pkts[i], addr.s_addr, &mac, &c))
				pkts[k++] = pkts[i];
			else {
				c.other++;
				rte_pktmbuf_free(pkts[i]);
			}
		}
		if (k != 0) {
			uint16_t sent = rte_eth_tx_burst(port, 0, pkts, k);

			if (sent < k) {
				c.tx_fail += k - sent;
				rte_pktmbuf_free_bulk(&pkts[sent], k - sent);
			}
		}
	}
	fprintf(stderr,
		"vfrb-echo: done: arp %" PRIu64 " icmp %" PRIu64 " other %" PRIu64
		" tx_fail %" PRIu64 " wakeups %" PRIu64 "\n",
		c.arp, c.icmp, c.other, c.tx_fail, c.wakeups);
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	return 0;
}
