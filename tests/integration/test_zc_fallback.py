#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Zero copy falls back (auto) or refuses (on) when it cannot be done safely,
says why, and the traffic it does carry is intact:

  a  guest buffers too small (testpmd --mbuf-size=1200 posts 1084-byte buffers;
     net_af_packet memcpys up to framesz - 32 = 2016 bytes unchecked): auto ->
     zc_state "guest_buf_small", counted, frames of every size still cross
     byte-exact through the copy path (mergeable buffers for the large ones).
  (net_tap, which holds RX buffers, runs zero copy: test_zc_tap.py.)
  c  zero_copy = on with the small-buffer guest: the queue's RX side is parked,
     the guest receives nothing (not one frame copied), the counter says why;
     switching the relay to auto at run time lets traffic through (copy).
  d  zero_copy = on with a guest whose buffers fit: zero copy, traffic intact.
"""

import time

import vfrtest as V
import zctest as Z

N = 600


def frames_for(port, n=N, hi=1514):
    return [V.udp_frame(port.mac, Z.GUEST_MAC, i, size)
            for i, size in enumerate(V.mixed_sizes(n, hi=hi))]


# Large frames then arrive in several mergeable buffers (virtio needs scatter on).
SMALL_GUEST = ['--mbuf-size=1200', '--enable-scatter']


def case_small_buffers():
    V.log('### a: guest buffers too small for af_packet, zero_copy = auto')
    with V.Env('zcfa') as env:
        Z.start_guest(env, fwd='macswap', extra=SMALL_GUEST)
        env.start_relay([env.relay_config(zero_copy='auto')])
        env.wait_relay_state('running')
        env.wait_guest_forwarding()
        port = env.port()
        st = Z.wait_mode(env, 'copy', state='guest_buf_small', poke=port)
        V.check(st['rx_zc_fallback_guest_buf_small'] >= 1,
                f'rx_zc_fallback_guest_buf_small >= 1 ({st["rx_zc_fallback_guest_buf_small"]})')
        env.warm_up(port)
        frames = frames_for(port)
        total = V.check_roundtrip(port, frames, what='UDP frames through the copy path')
        st = env.wait_stats({'rx_packets': N, 'tx_packets': N, 'rx_bytes': total,
                             'rx_copy_bytes': total, 'rx_copy_packets': N,
                             'rx_zc_packets': 0, 'rx_drop_no_guest_buf': 0})
        V.check_eq(st['q0']['mode'], 'copy', 'q0.mode')
        V.check_eq(st['q0']['zc_state'], 'guest_buf_small', 'q0.zc_state')
        # The reason is counted once per fallback, not once per retry.
        V.check(st['q0']['rx_zc_fallback_guest_buf_small'] == 0,
                'no new guest_buf_small fallback counted while it stays the reason')
        Z.check_relay_log_clean(env.relay_proc)


def case_on_refused():
    V.log('### c: zero_copy = on, guest buffers too small: RX parked')
    with V.Env('zcfc') as env:
        guest = Z.start_guest(env, fwd='macswap', extra=SMALL_GUEST)
        env.start_relay([env.relay_config(zero_copy='on')])
        env.wait_relay_state('running')
        env.wait_guest_forwarding()
        port = env.port()
        st = Z.wait_mode(env, 'copy', state='guest_buf_small', poke=port)
        V.check(st['rx_zc_fallback_guest_buf_small'] >= 1,
                f'rx_zc_fallback_guest_buf_small >= 1 ({st["rx_zc_fallback_guest_buf_small"]})')
        V.check_eq(env.relay_info()['zero_copy'], 'on', 'relays.net0.zero_copy')
        time.sleep(0.5)
        port.drain()
        base = Z.qstats(env)
        g0 = Z.guest_rx_packets(guest) or 0
        frames = frames_for(port, 100)
        got, problems, foreign = port.exchange(frames, V.macswap, idle_timeout=2.0)
        V.log(f'  {len(got)} of 100 frames came back, {foreign} foreign')
        V.check_eq(len(got), 0, 'frames the guest received and sent back')
        time.sleep(1.2)  # one more guest stats line
        cur = Z.qstats(env)
        for k in ('rx_packets', 'rx_copy_packets', 'rx_copy_bytes', 'rx_zc_packets'):
            V.check_eq(cur[k] - base[k], 0, f'q0.{k} delta with RX parked')
        V.check_eq((Z.guest_rx_packets(guest) or 0) - g0, 0, 'guest RX-packets delta')
        V.check_eq(cur['mode'], 'copy', 'q0.mode')
        V.check_eq(cur['zc_state'], 'guest_buf_small', 'q0.zc_state')
        V.check('RX stopped (zero_copy = on): guest_buf_small' in env.relay_proc.log_text(),
                'vfrelay log says why RX is stopped')

        V.log('==> /vfrelay/zero_copy,net0,auto: the copy path takes over')
        V.check_eq(V.telemetry(env.name, '/vfrelay/zero_copy,net0,auto').get('zero_copy'),
                   'auto', 'zero_copy command reply')
        Z.wait_mode(env, 'copy', state='guest_buf_small')
        port.drain()
        env.warm_up(port)
        frames = frames_for(port)
        total = V.check_roundtrip(port, frames, what='UDP frames after switching to auto')
        env.wait_stats({'rx_packets': N, 'rx_copy_bytes': total, 'rx_zc_packets': 0})
        Z.check_relay_log_clean(env.relay_proc)


def case_on_ok():
    V.log('### d: zero_copy = on, guest buffers fit: zero copy')
    with V.Env('zcfd') as env:
        env.bring_up(guest_kw={'fwd': 'macswap'}, zero_copy='on')
        Z.wait_mode(env, 'zero-copy', state='none')
        port = env.port()
        env.warm_up(port)
        frames = frames_for(port)
        total = V.check_roundtrip(port, frames, what='UDP frames, zero copy')
        env.wait_stats({'rx_packets': N, 'tx_packets': N, 'rx_bytes': total,
                        'rx_zc_packets': N, 'rx_copy_bytes': 0})
        Z.check_relay_log_clean(env.relay_proc)


def scenario():
    case_small_buffers()
    case_on_refused()
    case_on_ok()


if __name__ == '__main__':
    V.main(scenario)
