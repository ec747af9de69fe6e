/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * VF port lifecycle (control thread only): probe a device string, configure
 * queues/MTU/offloads, start, stop. Errors are returned as text that starts
 * with the config key they concern, so the caller can prefix the section and
 * the operator can fix the file from the message alone.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>

#include <vfrelay/hw.h>
#include <vfrelay/log.h>

VFR_LOG_REGISTER();

/* Offloads we use when present; the rest is done in software or withheld. */
#define HW_RX_OFFLOADS_WANTED                                                                      \
	(RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM |                            \
	 RTE_ETH_RX_OFFLOAD_TCP_CKSUM)
#define HW_TX_OFFLOADS_WANTED                                                                      \
	(RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM |                            \
	 RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_TSO |                               \
	 RTE_ETH_TX_OFFLOAD_MULTI_SEGS)

/* Ethernet + two VLAN tags + FCS: the largest frame an MTU allows on the wire. */
#define HW_FRAME_OVERHEAD (RTE_ETHER_HDR_LEN + 2 * 4 + RTE_ETHER_CRC_LEN)

/* Value of ",key=" in a device string, or @p dflt. */
static uint32_t
hw_devarg_u32(const char *devargs, const char *key, uint32_t dflt)
{
	size_t klen = strlen(key);

	for (const char *p = strchr(devargs, ','); p != NULL; p = strchr(p + 1, ',')) {
		if (strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '=')
			return (uint32_t)strtoul(p + 2 + klen, NULL, 0);
	}
	return dflt;
}

/*
 * Software PMDs that write a fixed amount whatever buffer they are given:
 * af_packet copies the kernel's frame unchecked (it insists at queue setup
 * that its frame size less 32 bytes fits the pool's data room; the kernel
 * writes at most frame size less 66 for Ethernet) and null writes its
 * packet size. Zero copy must never give them a guest
 * buffer shorter than that.
 */
static uint32_t
hw_rx_max_write(const char *driver, const char *devargs)
{
	if (strcmp(driver, "net_af_packet") == 0)
		return hw_devarg_u32(devargs, "framesz", 2048) - 32;
	if (strcmp(driver, "net_null") == 0)
		return hw_devarg_u32(devargs, "size", 64);
	return 0;
}

int
hw_port_open(struct hw_port *port, const char *devargs, char *err, size_t errlen)
{
	struct rte_dev_iterator it;
	struct rte_eth_dev_info info;
	uint16_t pid;
	bool found = false;
	int ret;

	memset(port, 0, sizeof(*port));
	port->port_id = RTE_MAX_ETHPORTS;

	ret = rte_dev_probe(devargs);
	if (ret < 0 && ret != -EEXIST) {
		snprintf(err, errlen, "vf: cannot probe device: %s, got '%s'", rte_strerror(-ret),
			 devargs);
		return ret;
	}
	port->probed_by_us = ret == 0;

	RTE_ETH_FOREACH_MATCHING_DEV(pid, devargs, &it) {
		if (!found) {
			port->port_id = pid;
			found = true;
		}
	}
	if (!found) {
		snprintf(err, errlen, "vf: device probed but it is not an Ethernet port, got '%s'",
			 devargs);
		return -ENODEV;
	}

	ret = rte_eth_dev_info_get(port->port_id, &info);
	if (ret < 0) {
		snprintf(err, errlen, "vf: cannot read device info: %s, got '%s'",
			 rte_strerror(-ret), devargs);
		return ret;
	}
	rte_eth_dev_get_name_by_port(port->port_id, port->name);
	snprintf(port->driver, sizeof(port->driver), "%s", info.driver_name);
	port->ops = hw_ops_for_driver(info.driver_name);
	port->rx_max_write = hw_rx_max_write(info.driver_name, devargs);
	if (strcmp(info.driver_name, "net_af_packet") == 0) {
		uint32_t framesz = hw_devarg_u32(devargs, "framesz", 2048);
		uint32_t blocksz = hw_devarg_u32(devargs, "blocksz", 4096);

		/*
		 * DPDK 22.11's af_packet addresses ring slot i at i * framesz, the
		 * kernel per block: unless blocks hold whole slots, only the first
		 * block's frames ever arrive, silently.
		 */
		if (framesz == 0 || blocksz % framesz != 0) {
			snprintf(err, errlen,
				 "vf: af_packet blocksz (%u) must be a multiple of framesz (%u), "
				 "got '%s'",
				 blocksz, framesz, devargs);
			return -EINVAL;
		}
		/* The kernel puts the MAC header 66 bytes into a slot; longer frames are cut. */
		port->rx_frame_max = framesz > 66 ? framesz - 66 : 0;
	}
	rte_eth_macaddr_get(port->port_id, &port->mac);
	VFR_LOG(INFO, "port %u '%s' driver %s (%s quirks)", port->port_id, port->name,
	       port->driver, port->ops->name);
	return 0;
}

/* Configure the device, its MTU and every queue from what hw_port_setup() chose. */
static int
hw_port_configure(struct hw_port *port, char *err, size_t errlen)
{
	uint16_t pid = port->port_id;
	int socket = rte_eth_dev_socket_id(pid);
	int ret;

	ret = rte_eth_dev_configure(pid, port->n_queues, port->n_queues, &port->conf);
	if (ret < 0) {
		snprintf(err, errlen, "vf: cannot configure %u queue pairs on '%s': %s",
			 port->n_queues, port->name, rte_strerror(-ret));
		return ret;
	}
	ret = port->mtu_set != 0 ? rte_eth_dev_set_mtu(pid, port->mtu_set) : 0;
	if (ret < 0 && ret != -ENOTSUP) {
		snprintf(err, errlen, "mtu: VF '%s' refused it: %s, got '%u'", port->name,
			 rte_strerror(-ret), port->mtu_set);
		return ret;
	}
	for (uint16_t q = 0; q < port->n_queues; q++) {
		ret = rte_eth_rx_queue_setup(pid, q, port->nb_rxd, socket, &port->rxconf,
					     port->rx_pools[q]);
		if (ret < 0) {
			snprintf(err, errlen, "rx_ring_size: VF '%s' RX queue %u setup failed: %s",
				 port->name, q, rte_strerror(-ret));
			return ret;
		}
		ret = rte_eth_tx_queue_setup(pid, q, port->nb_txd, socket, &port->txconf);
		if (ret < 0) {
			snprintf(err, errlen, "tx_ring_size: VF '%s' TX queue %u setup failed: %s",
				 port->name, q, rte_strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int
hw_port_setup(struct hw_port *port, const struct hw_port_params *prm, char *err, size_t errlen)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	uint16_t nb_rxd = prm->rx_ring_size;
	uint16_t nb_txd = prm->tx_ring_size;
	uint32_t frame = (uint32_t)prm->mtu + HW_FRAME_OVERHEAD;
	uint32_t room = UINT32_MAX;
	uint16_t pid = port->port_id;
	uint16_t mtu = prm->mtu;
	bool software = port->ops != NULL && port->ops->software;
	bool clamped = false;
	int ret;

	ret = rte_eth_dev_info_get(pid, &info);
	if (ret < 0) {
		snprintf(err, errlen, "vf: cannot read device info: %s", rte_strerror(-ret));
		return ret;
	}
	if (prm->n_queues > info.max_rx_queues || prm->n_queues > info.max_tx_queues) {
		snprintf(err, errlen, "queues: VF '%s' supports at most %u queue pairs, got '%u'",
			 port->name, RTE_MIN(info.max_rx_queues, info.max_tx_queues),
			 prm->n_queues);
		return -EINVAL;
	}
	/* ethdev also bounds the MTU by max_rx_pktlen less Ethernet header and FCS. */
	if (info.max_mtu == UINT16_MAX || info.max_rx_pktlen <= info.max_mtu)
		info.max_mtu = (uint16_t)RTE_MIN((uint32_t)info.max_mtu, info.max_rx_pktlen -
										 RTE_ETHER_HDR_LEN -
										 RTE_ETHER_CRC_LEN);
	if (mtu > info.max_mtu && software) {
		/*
		 * af_packet and tap report a 1518-byte frame limit whatever their
		 * kernel interface carries; the interface's MTU is what counts.
		 */
		VFR_LOG(NOTICE,
		       "port %u: reports max MTU %u; software port, the interface MTU "
		       "limits frames",
		       pid, info.max_mtu);
		mtu = info.max_mtu;
		clamped = true;
	}
	if (port->rx_frame_max != 0 &&
	    (uint32_t)prm->mtu + RTE_ETHER_HDR_LEN > port->rx_frame_max) {
		snprintf(err, errlen,
			 "mtu: VF '%s' delivers frames of at most %u bytes (af_packet framesz); "
			 "longer ones would arrive cut, got '%u'",
			 port->name, port->rx_frame_max, prm->mtu);
		return -EINVAL;
	}
	if (mtu > info.max_mtu || mtu < info.min_mtu) {
		snprintf(err, errlen, "mtu: VF '%s' supports %u..%u, got '%u'", port->name,
			 info.min_mtu, info.max_mtu, prm->mtu);
		return -EINVAL;
	}

	for (uint16_t q = 0; q < prm->n_queues; q++) {
		struct rte_mempool *mp = prm->rx_pools[q] ? prm->rx_pools[q] : prm->rx_pool;

		room = RTE_MIN(room,
			       (uint32_t)rte_pktmbuf_data_room_size(mp) - RTE_PKTMBUF_HEADROOM);
	}
	conf.rxmode.mtu = mtu;
	conf.rxmode.offloads = info.rx_offload_capa & HW_RX_OFFLOADS_WANTED;
	/* Software PMDs ignore the data room (they write what they received). */
	if (frame > room && !software) {
		if (!(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)) {
			snprintf(
				err, errlen,
				"mtu: VF '%s' cannot scatter frames over %u-byte buffers, got '%u'",
				port->name, room, prm->mtu);
			return -EINVAL;
		}
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
	}
	conf.txmode.offloads = info.tx_offload_capa & HW_TX_OFFLOADS_WANTED;
	if (prm->n_queues > 1 && info.flow_type_rss_offloads != 0) {
		/* Spread flows so the guest sees them on several queues too. */
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			info.flow_type_rss_offloads &
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
		port->rss = true;
		port->reta_size = info.reta_size;
	}

	if (prm->rx_intr && port->ops != NULL && port->ops->rx_intr)
		conf.intr_conf.rxq = 1;
	port->n_queues = prm->n_queues;
	port->conf = conf;
	/*
	 * configure() records the MTU; set_mtu() is what reaches the device. Not
	 * with a clamped MTU: af_packet/tap apply it to the kernel interface
	 * (SIOCSIFMTU), which would shrink it below the MTU asked for.
	 */
	port->mtu_set = clamped ? 0 : mtu;
	port->nb_txd = nb_txd;
	port->rxconf = info.default_rxconf;
	port->rxconf.offloads = conf.rxmode.offloads;
	port->txconf = info.default_txconf;
	port->txconf.offloads = conf.txmode.offloads;
	for (uint16_t q = 0; q < prm->n_queues; q++)
		port->rx_pools[q] = prm->rx_pools[q] ? prm->rx_pools[q] : prm->rx_pool;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nb_rxd, &port->nb_txd);
	if (ret < 0) {
		snprintf(err, errlen, "rx_ring_size: VF '%s' rejects the ring sizes: %s",
			 port->name, rte_strerror(-ret));
		return ret;
	}
	port->nb_rxd = nb_rxd;
	ret = hw_port_configure(port, err, errlen);
	if (ret < 0 && port->conf.intr_conf.rxq) {
		/* Interrupts are an optimisation: a port that works without them is served. */
		VFR_LOG(NOTICE, "port %u: cannot be configured with RX interrupts (%s); its "
			"queues are polled on a timer when idle", pid, err);
		port->conf.intr_conf.rxq = 0;
		ret = hw_port_configure(port, err, errlen);
	}
	if (ret < 0)
		return ret;
	for (uint16_t q = 0; q < prm->n_queues; q++)
		port->rxq_size[q] = nb_rxd;
	port->rx_desc_lim = info.rx_desc_lim;
	port->runtime_rx_setup = (info.dev_capa & RTE_ETH_DEV_CAPA_RUNTIME_RX_QUEUE_SETUP) != 0;
	port->mtu = prm->mtu;
	port->rx_offloads = conf.rxmode.offloads;
	port->tx_offloads = conf.txmode.offloads;
	VFR_LOG(INFO,
	       "port %u: %u queue pairs, %u/%u descriptors, mtu %u, rx offloads 0x%" PRIx64
	       ", tx offloads 0x%" PRIx64 "%s",
	       pid, prm->n_queues, nb_rxd, port->nb_txd, prm->mtu, port->rx_offloads,
	       port->tx_offloads, port->conf.intr_conf.rxq ? ", rx interrupts" : "");
	return 0;
}

/* Does every RX queue have its interrupt fd? (The port is started.) */
static bool
hw_port_rx_intr_usable(const struct hw_port *port)
{
	if (!port->conf.intr_conf.rxq)
		return false;
	for (uint16_t q = 0; q < port->n_queues; q++)
		if (rte_eth_dev_rx_intr_ctl_q_get_fd(port->port_id, q) < 0)
			return false;
	return true;
}

int
hw_port_start(struct hw_port *port, char *err, size_t errlen)
{
	int ret = rte_eth_dev_start(port->port_id);

	if (ret < 0 && port->conf.intr_conf.rxq) {
		VFR_LOG(NOTICE, "port %u: does not start with RX interrupts (%s); configured "
			"again without, its queues are polled on a timer when idle",
			port->port_id, rte_strerror(-ret));
		port->conf.intr_conf.rxq = 0;
		ret = hw_port_configure(port, err, errlen);
		if (ret < 0)
			return ret;
		ret = rte_eth_dev_start(port->port_id);
	}
	if (ret < 0) {
		snprintf(err, errlen, "vf: cannot start '%s': %s", port->name, rte_strerror(-ret));
		return ret;
	}
	port->started = true;
	atomic_fetch_add_explicit(&port->epoch, 1, memory_order_release);
	port->rx_intr = hw_port_rx_intr_usable(port);
	if (port->conf.intr_conf.rxq && !port->rx_intr)
		VFR_LOG(NOTICE, "port %u: RX interrupts configured but a queue has no interrupt "
			"fd; its queues are polled on a timer when idle", port->port_id);
	/*
	 * The VF is dedicated to one guest whose MAC we do not learn over
	 * vhost-user: accept everything it is given. A real VF may refuse
	 * (untrusted); then its MAC filter must be the guest's, set by the host.
	 */
	if (rte_eth_promiscuous_enable(port->port_id) < 0)
		VFR_LOG(NOTICE, "port %u: promiscuous mode refused; VF MAC filter applies",
		       port->port_id);
	rte_eth_allmulticast_enable(port->port_id);
	return 0;
}

int
hw_port_stop(struct hw_port *port)
{
	int ret = rte_eth_dev_stop(port->port_id);

	if (ret < 0) {
		VFR_LOG(ERR, "port %u: cannot stop: %s", port->port_id, rte_strerror(-ret));
		return ret;
	}
	port->started = false;
	atomic_fetch_add_explicit(&port->epoch, 1, memory_order_release);
	return 0;
}

int
hw_port_restart(struct hw_port *port)
{
	int ret = rte_eth_dev_start(port->port_id);

	if (ret < 0) {
		VFR_LOG(ERR, "port %u: cannot start again: %s", port->port_id, rte_strerror(-ret));
		return ret;
	}
	port->started = true;
	atomic_fetch_add_explicit(&port->epoch, 1, memory_order_release);
	/* A stop may reset the filters of some PMDs: set them again. */
	rte_eth_promiscuous_enable(port->port_id);
	rte_eth_allmulticast_enable(port->port_id);
	return 0;
}

int
hw_port_rx_queue_stop(struct hw_port *port, uint16_t qid)
{
	int ret = rte_eth_dev_rx_queue_stop(port->port_id, qid);

	atomic_fetch_add_explicit(&port->epoch, 1, memory_order_release);
	if (ret < 0)
		VFR_LOG(ERR, "port %u: cannot stop RX queue %u: %s", port->port_id, qid,
			rte_strerror(-ret));
	return ret;
}

int
hw_port_rx_queue_start(struct hw_port *port, uint16_t qid)
{
	int ret = rte_eth_dev_rx_queue_start(port->port_id, qid);

	atomic_fetch_add_explicit(&port->epoch, 1, memory_order_release);
	if (ret < 0)
		VFR_LOG(ERR, "port %u: cannot start RX queue %u: %s", port->port_id, qid,
			rte_strerror(-ret));
	return ret;
}

int
hw_port_rx_queue_setup(struct hw_port *port, uint16_t qid, uint16_t nb_rxd)
{
	uint16_t pid = port->port_id;
	uint16_t n = nb_rxd != 0 ? nb_rxd : port->nb_rxd;
	int ret;

	ret = rte_eth_rx_queue_setup(pid, qid, n, rte_eth_dev_socket_id(pid), &port->rxconf,
				     port->rx_pools[qid]);
	atomic_fetch_add_explicit(&port->epoch, 1, memory_order_release);
	if (ret < 0) {
		VFR_LOG(ERR, "port %u: RX queue %u setup with %u descriptors failed: %s", pid, qid,
			n, rte_strerror(-ret));
		return ret;
	}
	port->rxq_size[qid] = n;
	return 0;
}

int
hw_port_rss_spread(struct hw_port *port, uint32_t queues)
{
	struct rte_eth_rss_reta_entry64 reta[RTE_ETH_RSS_RETA_SIZE_512 / RTE_ETH_RETA_GROUP_SIZE];
	uint16_t list[FWD_MAX_QUEUES];
	uint16_t n = 0;
	int ret;

	for (uint16_t q = 0; q < port->n_queues; q++)
		if (queues & (1u << q))
			list[n++] = q;
	if (!port->rss || n == 0 || port->reta_size == 0 ||
	    port->reta_size > RTE_ETH_RSS_RETA_SIZE_512)
		return -ENOTSUP;
	memset(reta, 0, sizeof(reta));
	for (uint16_t i = 0; i < port->reta_size; i++) {
		reta[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
		reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] = list[i % n];
	}
	ret = rte_eth_dev_rss_reta_update(port->port_id, reta, port->reta_size);
	if (ret < 0 && ret != -ENOTSUP)
		VFR_LOG(ERR, "port %u: cannot update the RSS redirection table: %s", port->port_id,
			rte_strerror(-ret));
	return ret;
}

uint16_t
hw_port_rx_ring_fit(const struct hw_port *port, uint16_t want)
{
	const struct rte_eth_desc_lim *lim = &port->rx_desc_lim;
	uint16_t align = lim->nb_align != 0 ? lim->nb_align : 1;
	uint16_t n = RTE_MIN(want, lim->nb_max != 0 ? lim->nb_max : UINT16_MAX);

	n = (uint16_t)(n / align * align);
	return n >= lim->nb_min && n != 0 ? n : 0;
}

void
hw_port_close(struct hw_port *port)
{
	struct rte_eth_dev_info info;
	struct rte_device *dev = NULL;

	if (port->ops == NULL || port->port_id >= RTE_MAX_ETHPORTS)
		return;
	if (rte_eth_dev_info_get(port->port_id, &info) == 0)
		dev = info.device;
	if (port->started)
		rte_eth_dev_stop(port->port_id);
	port->started = false;
	rte_eth_dev_close(port->port_id);
	if (port->probed_by_us && dev != NULL)
		rte_dev_remove(dev);
	port->ops = NULL;
	port->port_id = RTE_MAX_ETHPORTS;
}
