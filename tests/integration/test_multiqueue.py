#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario b: two queue pairs. Many UDP flows spread over both VF queues
(af_packet fanout hash); every frame returns intact and the per-queue
counters are both nonzero and add up to what was sent."""

import vfrtest as V

N = 2000
FLOWS = 64


def scenario():
    with V.Env('mq') as env:
        vf = f'net_af_packet0,iface={env.veth.outer},qpairs=2'
        env.bring_up(guest_kw={'fwd': 'macswap', 'queues': 2}, queues=2, vf=vf)
        port = env.port()
        env.warm_up(port)
        frames = [V.udp_frame(port.mac, b'\x02\x00\x00\x00\x00\x01', i, size,
                              sport=20000 + i % FLOWS, dport=30000 + (i * 7) % FLOWS)
                  for i, size in enumerate(V.mixed_sizes(N))]
        total = V.check_roundtrip(port, frames, what=f'UDP frames in {FLOWS} flows')
        V.log('==> checking per-queue counters of relay net0')
        st = env.wait_stats({'rx_packets': N, 'tx_packets': N, 'rx_bytes': total,
                             'tx_bytes': total})
        if st is None:
            return
        for q in ('q0', 'q1'):
            V.log(f'  {q}: lcore {st[q].get("lcore")}, rx_packets {st[q]["rx_packets"]}, '
                  f'tx_packets {st[q]["tx_packets"]}')
            V.check(st[q]['rx_packets'] > 0, f'{q}.rx_packets > 0')
            V.check(st[q]['tx_packets'] > 0, f'{q}.tx_packets > 0')
        for k in ('rx_packets', 'tx_packets', 'rx_bytes', 'tx_bytes'):
            V.check_eq(st['q0'][k] + st['q1'][k], st['total'][k], f'q0.{k} + q1.{k}')


if __name__ == '__main__':
    V.main(scenario)
