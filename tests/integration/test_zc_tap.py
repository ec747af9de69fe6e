#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Zero copy on net_tap, the software VF that keeps buffers: tap fills its RX
ring at queue setup, reads every frame into the ring's first buffer, and
releases the ring only when the queue is set up again. vfrelay sets the ring
up from host buffers, so tap holds at most one guest buffer (the newest) while
zero copy runs; after a quiesce it sets the port's RX queues up again before
polling them, so tap never writes into a buffer the guest took back.

  a  frames written into the tap interface cross VF -> guest -> VF byte-exact
     with mode zero-copy, rx_zc_packets == N and rx_copy_bytes == 0;
  b  the guest is killed under traffic and restarted: vfrelay reclaims tap's
     buffers, zero copy resumes, the next N frames are exact and zero-copied;
  c  zero copy switched off and on at run time: copy then zero copy again,
     frames exact both times; no CRIT or stuck worker in vfrelay's log.
"""

import vfrtest as V
import zctest as Z

N = 600
TAP = V.name('zctp') + '0'


def zero_copy_round(env, port, what):
    """Warm up (the first frame after a bind may land in a host buffer), then
    N frames: every one back intact, every one zero-copied."""
    Z.wait_mode(env, 'zero-copy')
    env.warm_up(port)
    frames = [V.udp_frame(port.mac, Z.GUEST_MAC, i, size)
              for i, size in enumerate(V.mixed_sizes(N))]
    total = V.check_roundtrip(port, frames, what=what)
    st = env.wait_stats({'rx_packets': N, 'tx_packets': N, 'rx_bytes': total,
                         'rx_zc_packets': N, 'rx_copy_bytes': 0, 'rx_drop_no_guest_buf': 0})
    V.check_eq(st['q0']['mode'], 'zero-copy', 'q0.mode')


def scenario():
    with V.Env('zctp', net=False) as env:
        # persist: tap keeps its link up while vfrelay stops the port to reclaim buffers
        env.bring_up(guest_kw={'fwd': 'macswap'}, vf=f'net_tap0,iface={TAP},persist',
                     zero_copy='auto')
        port = Z.tap_port(env, TAP)

        V.log('### a: zero copy through tap')
        zero_copy_round(env, port, 'UDP frames through tap, zero copy')

        V.log('### b: guest killed and restarted: tap buffers reclaimed, zero copy again')
        env.stop_guest()
        env.wait_relay_state('waiting')
        V.wait_until(lambda: Z.qstats(env)['zc_shells_held'] == 0, 5,
                     'tap to give its guest buffer back (zc_shells_held 0)')
        V.check('RX queues set up again to release guest buffers' in env.relay_proc.log_text(),
                'vfrelay set tap\'s RX queue up again to get its buffer back')
        env.start_guest(fwd='macswap')
        env.wait_relay_state('running', min_connects=2)
        env.wait_guest_forwarding()
        port.drain()
        zero_copy_round(env, port, 'UDP frames after the guest came back')

        V.log('### c: zero copy off and on at run time')
        V.telemetry(env.name, '/vfrelay/zero_copy,net0,off')
        Z.wait_mode(env, 'copy')
        env.warm_up(port)
        frames = [V.udp_frame(port.mac, Z.GUEST_MAC, i, size)
                  for i, size in enumerate(V.mixed_sizes(N))]
        total = V.check_roundtrip(port, frames, what='UDP frames, copy path')
        env.wait_stats({'rx_packets': N, 'rx_copy_bytes': total, 'rx_zc_packets': 0})
        V.telemetry(env.name, '/vfrelay/zero_copy,net0,auto')
        zero_copy_round(env, port, 'UDP frames, zero copy again')
        Z.check_relay_log_clean(env.relay_proc)


if __name__ == '__main__':
    V.main(scenario)
