/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * hwlab-pmdprobe: what a PMD really does with the calls zero copy depends on, measured
 * on a device instead of read from its source (the lab's `pmd_facts` scenario runs it
 * on the igb VF). One port, one RX queue, mbufs with @room bytes of data room:
 *
 *   - the RX buffer size the device was programmed with: a frame longer than the
 *     programmed size arrives in several segments even if the mbuf had room;
 *   - where a continuation segment starts inside its buffer (data_off);
 *   - rte_eth_dev_rx_queue_stop() / start() return codes;
 *   - RX interrupts: rte_eth_dev_rx_intr_enable() and a wakeup through
 *     rte_eth_dev_rx_intr_ctl_q() + rte_epoll_wait() when a frame arrives;
 *   - whether rte_eth_dev_stop() gives the ring's mbufs back to the pool.
 *
 * Prints one JSON object on stdout. Usage:
 *   hwlab-pmdprobe EAL-ARGS -- ROOM MTU SECONDS
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_interrupts.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define PROBE_RXD 64
#define PROBE_MAX_FRAMES 16

static unsigned int
in_use(const struct rte_mempool *mp)
{
	return rte_mempool_in_use_count(mp);
}

int
main(int argc, char **argv)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	struct rte_eth_rxq_info qinfo;
	struct rte_mempool *mp;
	struct rte_mbuf *pkts[32];
	struct rte_epoll_event ev;
	unsigned int frames = 0, wakeups = 0;
	int ret, intr_en = -ENOTSUP, intr_ctl = -ENOTSUP, qstop, qstart;
	unsigned int used_started, used_stopped;
	uint16_t room, mtu;
	uint64_t end;
	double secs;

	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "pmdprobe: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	argc -= ret;
	argv += ret;
	if (argc != 4 || rte_eth_dev_count_avail() < 1) {
		fprintf(stderr, "usage: hwlab-pmdprobe EAL-ARGS -- ROOM MTU SECONDS (one port)\n");
		return 2;
	}
	room = (uint16_t)atoi(argv[1]);
	mtu = (uint16_t)atoi(argv[2]);
	secs = atof(argv[3]);

	rte_eth_dev_info_get(0, &info);
	mp = rte_pktmbuf_pool_create("probe", 1024, 0, 0, RTE_PKTMBUF_HEADROOM + room,
				     rte_socket_id());
	if (mp == NULL) {
		fprintf(stderr, "pmdprobe: pool: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	conf.rxmode.mtu = mtu;
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
	conf.intr_conf.rxq = 1;
	ret = rte_eth_dev_configure(0, 1, 1, &conf);
	if (ret < 0) {
		/* A PMD may refuse RX interrupts outright: note it, go on without. */
		printf("{\"configure_with_rxq_intr\": %d, ", ret);
		conf.intr_conf.rxq = 0;
		ret = rte_eth_dev_configure(0, 1, 1, &conf);
	} else {
		printf("{\"configure_with_rxq_intr\": 0, ");
	}
	if (ret < 0 || rte_eth_rx_queue_setup(0, 0, PROBE_RXD, rte_socket_id(), NULL, mp) < 0 ||
	    rte_eth_tx_queue_setup(0, 0, PROBE_RXD, rte_socket_id(), NULL) < 0 ||
	    rte_eth_dev_start(0) < 0) {
		printf("\"error\": \"setup failed\"}\n");
		return 2;
	}
	rte_eth_promiscuous_enable(0);
	used_started = in_use(mp);
	memset(&qinfo, 0, sizeof(qinfo));
	rte_eth_rx_queue_info_get(0, 0, &qinfo);
	qstop = rte_eth_dev_rx_queue_stop(0, 0);
	qstart = qstop == 0 ? rte_eth_dev_rx_queue_start(0, 0) : -ENOTSUP;
	if (conf.intr_conf.rxq) {
		intr_ctl = rte_eth_dev_rx_intr_ctl_q(0, 0, RTE_EPOLL_PER_THREAD,
						     RTE_INTR_EVENT_ADD, NULL);
		intr_en = rte_eth_dev_rx_intr_enable(0, 0);
	}
	printf("\"driver\": \"%s\", \"max_rx_queues\": %u, \"max_tx_queues\": %u, "
	       "\"min_rx_bufsize\": %u, \"max_rx_pktlen\": %u, "
	       "\"rx_offload_capa\": \"0x%" PRIx64 "\", \"flow_type_rss_offloads\": \"0x%" PRIx64
	       "\", \"mbuf_room\": %u, \"mtu\": %u, \"scattered_rx\": %u, \"nb_rxd\": %u, "
	       "\"mbufs_in_ring_after_start\": %u, \"rx_queue_stop\": %d, "
	       "\"rx_queue_start\": %d, \"rx_intr_ctl_q\": %d, \"rx_intr_enable\": %d, "
	       "\"frames\": [",
	       info.driver_name, info.max_rx_queues, info.max_tx_queues, info.min_rx_bufsize,
	       info.max_rx_pktlen, info.rx_offload_capa, info.flow_type_rss_offloads, room, mtu,
	       qinfo.scattered_rx, qinfo.nb_desc, used_started, qstop, qstart, intr_ctl,
	       intr_en);
	fflush(stdout);

	end = rte_get_timer_cycles() + (uint64_t)(secs * (double)rte_get_timer_hz());
	while (rte_get_timer_cycles() < end && frames < PROBE_MAX_FRAMES) {
		uint16_t n;

		if (intr_en == 0 && intr_ctl == 0) {
			/* Sleep in the kernel until the queue's interrupt fires (or 100 ms). */
			if (rte_epoll_wait(RTE_EPOLL_PER_THREAD, &ev, 1, 100) > 0)
				wakeups++;
			rte_eth_dev_rx_intr_disable(0, 0);
		}
		n = rte_eth_rx_burst(0, 0, pkts, RTE_DIM(pkts));
		for (uint16_t i = 0; i < n; i++) {
			const struct rte_mbuf *s = pkts[i];

			if (frames < PROBE_MAX_FRAMES) {
				printf("%s{\"pkt_len\": %u, \"nb_segs\": %u, \"segs\": [",
				       frames ? ", " : "", pkts[i]->pkt_len, pkts[i]->nb_segs);
				for (unsigned int k = 0; s != NULL; s = s->next, k++)
					printf("%s[%u, %u]", k ? ", " : "", s->data_off,
					       s->data_len);
				printf("]}");
				frames++;
			}
			rte_pktmbuf_free(pkts[i]);
		}
		if (intr_en == 0 && intr_ctl == 0)
			rte_eth_dev_rx_intr_enable(0, 0);
	}
	ret = rte_eth_dev_stop(0);
	used_stopped = in_use(mp);
	printf("], \"intr_wakeups\": %u, \"dev_stop\": %d, \"mbufs_in_ring_after_stop\": %u}\n",
	       wakeups, ret, used_stopped);
	rte_eth_dev_close(0);
	return 0;
}
