#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario 1, zero-copy RX proven with a real guest: the namespace sends N UDP
frames (64 bytes, 1400 bytes, then a mix up to the MTU) through the VF; vfrq in the
guest receives them on AF_PACKET, checks every byte and echoes each one back, and
the namespace checks every echoed byte. vfrelay's counters must show that the VF
wrote every frame straight into guest memory (rx_zc_packets == N, nothing
copied). Then vfrelay is restarted with zero_copy = off under the same guest: the
guest reports the same result and the counters show the copy path."""

import signal

import qemutest as Q
from qemutest import V

MTU = 1400
SIZES = [64] * 1000 + [1400] * 1000 + V.mixed_sizes(2000, 60, MTU + 14)
N = len(SIZES)


def scenario():
    with Q.QemuEnv('qzc', mtu=MTU) as env:
        g = env.boot(relay=env.relay_config(zc=True))
        g.net_up(mtu=MTU)
        env.wait_zero_copy()
        port = env.port()
        V.log(f'==> zero_copy = auto: {N} frames through the guest')
        total, zc_result = Q.echo_roundtrip(env, g, port, SIZES)
        st = env.wait_stats({'rx_packets': N, 'rx_zc_packets': N, 'rx_copy_packets': 0,
                             'rx_copy_bytes': 0, 'rx_bytes': total, 'tx_packets': N,
                             'rx_drop_no_guest_buf': 0}, key='q0')
        q0 = env.stats()['q0']
        V.check_eq(q0.get('mode'), 'zero-copy', 'q0.mode')
        V.check_eq(q0.get('zc_state'), 'none', 'q0.zc_state (no fallback)')
        fbs = {k: v for k, v in q0.items() if k.startswith('rx_zc_fallback_') and v}
        V.check_eq(fbs, {}, 'q0 fallback counters')
        for k in ('rx_bad_desc', 'rx_desc_too_small', 'rx_bad_ring'):
            V.check_eq(st['q0'].get(k), 0, f'q0.{k}')
        env.check_relay_log_clean()

        V.log('==> vfrelay restarted with zero_copy = off, same guest')
        first = env.relay_proc
        env.kill_relay(signal.SIGTERM)
        env.start_relay([env.relay_config(zc=True, zero_copy='off')])
        env.wait_relay_state('running')
        env.check_relay_log_clean(first)
        V.log(f'==> zero_copy = off: {N} frames through the guest')
        _, copy_result = Q.echo_roundtrip(env, g, port, SIZES)
        env.wait_stats({'rx_packets': N, 'rx_zc_packets': 0, 'rx_copy_packets': N,
                        'rx_copy_bytes': total, 'rx_bytes': total, 'tx_packets': N},
                       key='q0')
        V.check_eq(env.stats()['q0'].get('mode'), 'copy', 'q0.mode')
        V.check_eq(copy_result, zc_result, 'guest result with copy == with zero copy')
        env.check_relay_log_clean()


if __name__ == '__main__':
    Q.main(scenario)
