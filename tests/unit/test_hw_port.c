/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * VF port setup against a fake ethdev (-Wl,--wrap): which offloads, queue
 * counts and MTU reach the device, and which config key an error names.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <vfrelay/hw.h>

static struct rte_eth_dev_info fake_info;
static struct rte_eth_conf last_conf;
static int configure_calls;
static int set_mtu_ret;
static int set_mtu_calls;
static int rxq_setup_ret;
static uint16_t rxq_setups;
static uint16_t txq_setups;

int __wrap_rte_dev_probe(const char *devargs);
int __wrap_rte_eth_dev_info_get(uint16_t port_id, struct rte_eth_dev_info *info);
int __wrap_rte_eth_dev_configure(uint16_t port_id, uint16_t nb_rx_q, uint16_t nb_tx_q,
				 const struct rte_eth_conf *conf);
int __wrap_rte_eth_dev_set_mtu(uint16_t port_id, uint16_t mtu);
int __wrap_rte_eth_rx_queue_setup(uint16_t port_id, uint16_t q, uint16_t nb_desc,
				  unsigned int socket_id, const struct rte_eth_rxconf *conf,
				  struct rte_mempool *mp);
int __wrap_rte_eth_tx_queue_setup(uint16_t port_id, uint16_t q, uint16_t nb_desc,
				  unsigned int socket_id, const struct rte_eth_txconf *conf);
int __wrap_rte_eth_dev_adjust_nb_rx_tx_desc(uint16_t port_id, uint16_t *nb_rx, uint16_t *nb_tx);
int __wrap_rte_eth_dev_socket_id(uint16_t port_id);

int
__wrap_rte_dev_probe(const char *devargs)
{
	(void)devargs;
	return -ENODEV;
}

int
__wrap_rte_eth_dev_info_get(uint16_t port_id, struct rte_eth_dev_info *info)
{
	(void)port_id;
	*info = fake_info;
	return 0;
}

int
__wrap_rte_eth_dev_configure(uint16_t port_id, uint16_t nb_rx_q, uint16_t nb_tx_q,
			     const struct rte_eth_conf *conf)
{
	(void)port_id;
	assert_int_equal(nb_rx_q, nb_tx_q);
	last_conf = *conf;
	configure_calls++;
	return 0;
}

int
__wrap_rte_eth_dev_set_mtu(uint16_t port_id, uint16_t mtu)
{
	(void)port_id;
	(void)mtu;
	set_mtu_calls++;
	return set_mtu_ret;
}

int
__wrap_rte_eth_rx_queue_setup(uint16_t port_id, uint16_t q, uint16_t nb_desc,
			      unsigned int socket_id, const struct rte_eth_rxconf *conf,
			      struct rte_mempool *mp)
{
	(void)port_id;
	(void)q;
	(void)nb_desc;
	(void)socket_id;
	(void)mp;
	assert_int_equal(conf->offloads, last_conf.rxmode.offloads);
	rxq_setups++;
	return rxq_setup_ret;
}

int
__wrap_rte_eth_tx_queue_setup(uint16_t port_id, uint16_t q, uint16_t nb_desc,
			      unsigned int socket_id, const struct rte_eth_txconf *conf)
{
	(void)port_id;
	(void)q;
	(void)nb_desc;
	(void)socket_id;
	assert_int_equal(conf->offloads, last_conf.txmode.offloads);
	txq_setups++;
	return 0;
}

int
__wrap_rte_eth_dev_adjust_nb_rx_tx_desc(uint16_t port_id, uint16_t *nb_rx, uint16_t *nb_tx)
{
	(void)port_id;
	(void)nb_rx;
	(void)nb_tx;
	return 0;
}

int
__wrap_rte_eth_dev_socket_id(uint16_t port_id)
{
	(void)port_id;
	return 0;
}

/* A mempool header followed by its pktmbuf private area, as rte_mempool_get_priv() expects. */
static struct {
	struct rte_mempool mp;
	struct rte_pktmbuf_pool_private priv;
} fake_pool;

static struct hw_port port;
static char err[256];

static int
reset(void **state)
{
	(void)state;
	memset(&fake_info, 0, sizeof(fake_info));
	fake_info.driver_name = "net_fake";
	fake_info.max_rx_queues = 4;
	fake_info.max_tx_queues = 4;
	fake_info.min_mtu = 68;
	fake_info.max_mtu = 9000;
	fake_info.max_rx_pktlen = 9018;
	memset(&last_conf, 0, sizeof(last_conf));
	configure_calls = 0;
	set_mtu_ret = 0;
	set_mtu_calls = 0;
	rxq_setup_ret = 0;
	rxq_setups = txq_setups = 0;
	memset(&fake_pool, 0, sizeof(fake_pool));
	fake_pool.priv.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE;
	memset(&port, 0, sizeof(port));
	snprintf(port.name, sizeof(port.name), "fake0");
	port.ops = hw_ops_for_driver("net_fake");
	err[0] = '\0';
	return 0;
}

static struct hw_port_params
params(uint16_t nq, uint16_t mtu)
{
	return (struct hw_port_params){
		.n_queues = nq,
		.mtu = mtu,
		.rx_ring_size = 512,
		.tx_ring_size = 512,
		.rx_pool = &fake_pool.mp,
	};
}

static void
test_offloads_are_intersection_of_wanted_and_capable(void **state)
{
	struct hw_port_params p = params(1, 1500);

	(void)state;
	fake_info.rx_offload_capa = RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_VLAN_STRIP;
	fake_info.tx_offload_capa = RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_VLAN_INSERT |
				    RTE_ETH_TX_OFFLOAD_TCP_TSO;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), 0);
	assert_int_equal(last_conf.rxmode.offloads, RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
	assert_int_equal(last_conf.txmode.offloads,
			 RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_TSO);
	assert_int_equal(port.tx_offloads, last_conf.txmode.offloads);
	assert_int_equal(last_conf.rxmode.mtu, 1500);
	assert_int_equal(last_conf.rxmode.mq_mode, RTE_ETH_MQ_RX_NONE);
	assert_int_equal(set_mtu_calls, 1);
	assert_int_equal(rxq_setups, 1);
	assert_int_equal(txq_setups, 1);
}

static void
test_too_many_queues_names_queues(void **state)
{
	struct hw_port_params p = params(8, 1500);

	(void)state;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "queues: "));
	assert_non_null(strstr(err, "at most 4"));
	assert_int_equal(configure_calls, 0);
}

static void
test_mtu_out_of_range_names_mtu(void **state)
{
	struct hw_port_params p = params(1, 9000);

	(void)state;
	fake_info.max_mtu = 1500;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "mtu: ", 5) == 0);
	assert_int_equal(configure_calls, 0);
}

static void
test_software_port_mtu_clamped_to_device(void **state)
{
	struct hw_port_params p = params(1, 9000);

	(void)state;
	/* af_packet says 1518-byte frames whatever its interface carries: the interface decides */
	fake_info.max_mtu = UINT16_MAX;
	fake_info.max_rx_pktlen = 1518;
	port.ops = hw_ops_for_driver("net_af_packet");
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), 0);
	assert_int_equal(last_conf.rxmode.mtu, 1500);
	/* the clamped MTU never reaches the PMD: af_packet would set it on the interface */
	assert_int_equal(set_mtu_calls, 0);
	/* and it ignores the data room, so no scatter is asked for */
	assert_false(last_conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER);
}

static void
test_mtu_beyond_what_the_pmd_delivers_whole_is_refused(void **state)
{
	struct hw_port_params p = params(1, 1500);

	(void)state;
	/* af_packet with 1552-byte slots delivers at most 1486-byte frames */
	port.ops = hw_ops_for_driver("net_af_packet");
	port.rx_frame_max = 1486;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "mtu: ", 5) == 0);
	assert_non_null(strstr(err, "at most 1486 bytes"));
	assert_int_equal(configure_calls, 0);
	p.mtu = 1472;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), 0);
}

static void
test_per_queue_pool_room_counts(void **state)
{
	struct hw_port_params p = params(2, 1500);
	static struct {
		struct rte_mempool mp;
		struct rte_pktmbuf_pool_private priv;
	} small;

	(void)state;
	/* a zero-copy queue's pool advertises less room than the default pool */
	memset(&small, 0, sizeof(small));
	small.priv.mbuf_data_room_size = RTE_PKTMBUF_HEADROOM + 1408;
	p.rx_pools[1] = &small.mp;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1408-byte buffers"));
	fake_info.rx_offload_capa = RTE_ETH_RX_OFFLOAD_SCATTER;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), 0);
	assert_true(last_conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER);
}

static void
test_jumbo_needs_scatter_or_big_buffers(void **state)
{
	struct hw_port_params p = params(1, 9000);

	(void)state;
	/* 2 KiB buffers and no scatter: refuse, naming mtu */
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cannot scatter"));

	/* scatter available: used */
	reset(NULL);
	fake_info.rx_offload_capa = RTE_ETH_RX_OFFLOAD_SCATTER;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), 0);
	assert_true(last_conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER);

	/* buffers big enough: no scatter needed */
	reset(NULL);
	fake_pool.priv.mbuf_data_room_size = 9216 + RTE_PKTMBUF_HEADROOM;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), 0);
	assert_false(last_conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER);
}

static void
test_rss_for_multiqueue(void **state)
{
	struct hw_port_params p = params(2, 1500);

	(void)state;
	fake_info.flow_type_rss_offloads =
		RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_L2_PAYLOAD;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), 0);
	assert_int_equal(last_conf.rxmode.mq_mode, RTE_ETH_MQ_RX_RSS);
	assert_int_equal(last_conf.rx_adv_conf.rss_conf.rss_hf, RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
	assert_int_equal(rxq_setups, 2);
}

static void
test_mtu_not_settable_is_tolerated_but_refusal_is_not(void **state)
{
	struct hw_port_params p = params(1, 1500);

	(void)state;
	set_mtu_ret = -ENOTSUP;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), 0);
	set_mtu_ret = -EINVAL;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "mtu: ", 5) == 0);
}

static void
test_queue_setup_failure_names_ring_size(void **state)
{
	struct hw_port_params p = params(1, 1500);

	(void)state;
	rxq_setup_ret = -ENOMEM;
	assert_int_equal(hw_port_setup(&port, &p, err, sizeof(err)), -ENOMEM);
	assert_true(strncmp(err, "rx_ring_size: ", 14) == 0);
}

static void
test_probe_failure_names_vf(void **state)
{
	struct hw_port p2;

	(void)state;
	assert_int_equal(hw_port_open(&p2, "net_bogus0", err, sizeof(err)), -ENODEV);
	assert_true(strncmp(err, "vf: cannot probe device", 23) == 0);
	assert_non_null(strstr(err, "got 'net_bogus0'"));
}

static void
test_ops_by_driver(void **state)
{
	(void)state;
	assert_string_equal(hw_ops_for_driver("net_iavf")->name, "iavf");
	assert_int_equal(hw_ops_for_driver("net_iavf")->rx_buf_align, 128);
	assert_string_equal(hw_ops_for_driver("mlx5_pci")->name, "mlx5");
	assert_true(hw_ops_for_driver("net_af_packet")->software);
	assert_true(hw_ops_for_driver("net_null")->software);
	assert_int_equal(hw_ops_for_driver("net_null")->rx_release, HW_RX_RELEASE_NONE);
	/* tap keeps its ring across a stop; setting the queue up again releases it */
	assert_int_equal(hw_ops_for_driver("net_tap")->rx_release, HW_RX_RELEASE_PORT);
	assert_true(hw_ops_for_driver("net_tap")->rx_setup_releases);
	assert_int_equal(hw_ops_for_driver("net_iavf")->rx_release, HW_RX_RELEASE_QUEUE);
	/* the lab's VF: no per-queue stop, 1 KiB units */
	assert_int_equal(hw_ops_for_driver("net_e1000_igb_vf")->rx_release, HW_RX_RELEASE_PORT);
	assert_int_equal(hw_ops_for_driver("net_e1000_igb_vf")->rx_buf_align, 1024);
	/* virtio_user's ring stays with its back-end until close */
	assert_int_equal(hw_ops_for_driver("net_virtio_user")->rx_release, HW_RX_RELEASE_NEVER);
	/* a PMD we know nothing of: assumed to DMA until its port stops, and not trusted */
	assert_false(hw_ops_for_driver("net_foo")->known);
	assert_int_equal(hw_ops_for_driver("net_foo")->rx_release, HW_RX_RELEASE_PORT);
	assert_false(hw_ops_for_driver("net_ixgbe")->software);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_offloads_are_intersection_of_wanted_and_capable, reset),
		cmocka_unit_test_setup(test_too_many_queues_names_queues, reset),
		cmocka_unit_test_setup(test_mtu_out_of_range_names_mtu, reset),
		cmocka_unit_test_setup(test_jumbo_needs_scatter_or_big_buffers, reset),
		cmocka_unit_test_setup(test_software_port_mtu_clamped_to_device, reset),
		cmocka_unit_test_setup(test_per_queue_pool_room_counts, reset),
		cmocka_unit_test_setup(test_mtu_beyond_what_the_pmd_delivers_whole_is_refused,
				       reset),
		cmocka_unit_test_setup(test_rss_for_multiqueue, reset),
		cmocka_unit_test_setup(test_mtu_not_settable_is_tolerated_but_refusal_is_not,
				       reset),
		cmocka_unit_test_setup(test_queue_setup_failure_names_ring_size, reset),
		cmocka_unit_test_setup(test_probe_failure_names_vf, reset),
		cmocka_unit_test(test_ops_by_driver),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
