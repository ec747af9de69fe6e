#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario 4: MTU 9000 in the guest, on the VF and on the wire, with zero_copy =
auto. A jumbo frame does not fit one guest RX buffer (Linux posts mergeable
buffers of 1536 bytes and up), so the queue must fall back to the copy path,
say why (rx_zc_fallback_guest_buf_small or _mtu_exceeds_buf, zc_state) and
deliver every frame intact, jumbo and small alike, merged over several guest
buffers."""

import qemutest as Q
from qemutest import V

MTU = 9000
SIZES = [8000] * 300 + [60, 1514, 1515, 4096, 8999, MTU + 14] + V.mixed_sizes(300, 60, MTU + 14)
N = len(SIZES)
REASONS = ('rx_zc_fallback_guest_buf_small', 'rx_zc_fallback_mtu_exceeds_buf')


def scenario():
    with Q.QemuEnv('qjb', mtu=MTU) as env:
        # af_packet slots that hold a 9014-byte frame plus the tpacket header.
        vf = f'net_af_packet0,iface={env.veth.outer},framesz=16384,blocksz=16384,framecnt=256'
        g = env.boot(relay=env.relay_config(vf=vf, mtu=MTU, zero_copy='auto'))
        g.net_up(mtu=MTU)
        port = env.port()
        total, _ = Q.echo_roundtrip(env, g, port, SIZES, what='jumbo and small frames')
        env.wait_stats({'rx_packets': N, 'rx_zc_packets': 0, 'rx_copy_packets': N,
                             'rx_copy_bytes': total, 'tx_packets': N, 'tx_bytes': total,
                             'rx_drop_no_guest_buf': 0}, key='q0')
        q0 = env.stats()['q0']
        V.log(f'  q0: mode {q0.get("mode")}, zc_state {q0.get("zc_state")}, ' +
              ', '.join(f'{k}={q0[k]}' for k in REASONS if k in q0))
        V.check_eq(q0.get('mode'), 'copy', 'q0.mode')
        V.check(q0.get('zc_state') in ('guest_buf_small', 'mtu_exceeds_buf'),
                f'q0.zc_state names the reason ({q0.get("zc_state")})')
        V.check(sum(q0.get(k, 0) for k in REASONS) >= 1, 'the fallback is counted')
        env.check_relay_log_clean()


if __name__ == '__main__':
    Q.main(scenario)
