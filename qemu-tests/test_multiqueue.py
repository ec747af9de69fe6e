#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario 3: two queue pairs. virtio-net-pci mq=on, netdev queues=2, relay
queues = 2 over af_packet qpairs=2 (fanout hash spreads flows over the two VF RX
queues). The guest has one vCPU (two are slow under TCG), where virtio_net
starts with one queue pair: vfrq sets two combined channels (ETHTOOL_SCHANNELS).
Frames in 64 UDP flows land with zero copy on both queues, every byte checked."""

import qemutest as Q
from qemutest import V

MTU = 1400
SIZES = [64] * 500 + [1400] * 500 + V.mixed_sizes(1000, 60, MTU + 14)
N = len(SIZES)


def scenario():
    with Q.QemuEnv('qmq', mtu=MTU) as env:
        g = env.boot(queues=2, relay=env.relay_config(queues=2, zc=True))
        out = g.sh('vfrq channels eth0 2')
        V.check('RESULT PASS combined=2' in out, 'the guest runs 2 combined channels')
        g.net_up(mtu=MTU)
        env.wait_zero_copy()
        port = env.port()
        total, _ = Q.echo_roundtrip(env, g, port, SIZES, flows=64,
                                    what='UDP frames in 64 flows')
        st = env.wait_stats({'rx_packets': N, 'rx_zc_packets': N, 'rx_copy_bytes': 0,
                             'rx_bytes': total, 'tx_packets': N})
        for q in ('q0', 'q1'):
            V.log(f'  {q}: rx_zc_packets {st[q]["rx_zc_packets"]}, '
                  f'tx_packets {st[q]["tx_packets"]}, mode {st[q]["mode"]}')
            V.check(st[q]['rx_zc_packets'] > N // 8, f'{q} received a share with zero copy')
            V.check_eq(st[q]['rx_copy_bytes'], 0, f'{q}.rx_copy_bytes')
        V.log('  guest eth0 queues: ' + ' '.join(g.sh('ls /sys/class/net/eth0/queues').split()))
        env.check_relay_log_clean()


if __name__ == '__main__':
    Q.main(scenario)
