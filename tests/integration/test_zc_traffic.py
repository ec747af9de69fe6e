#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Zero copy end to end: net_af_packet writes frames straight into the guest's
posted RX buffers (zero_copy = auto), the guest (testpmd macswap) sends them
back, and every byte of every frame of mixed sizes comes back intact. The
counters prove which path carried them: rx_zc_packets == N and no copied
byte. VLAN-tagged frames (af_packet re-inserts the tag, moving the data) come
back intact too, through the in-place fix-up (counted as copies). Then the same frames with zero_copy = off: rx_zc_packets 0 and every
received byte copied."""

import signal

import vfrtest as V
import zctest as Z

N = 2000
NV = 300


def vlan_frames(env, port, zero_copy):
    """802.1Q frames: the kernel hands af_packet the tag apart and the PMD puts it
    back in front of the frame, moving it 4 bytes before where the VF "DMA" put it
    (into the virtio-net header room): qsync moves it in place (a copy, counted)."""
    env.warm_up(port)
    frames = [Z.vlan_tag(V.udp_frame(port.mac, Z.GUEST_MAC, i, size), vid=100 + i % 7)
              for i, size in enumerate(V.mixed_sizes(NV, hi=1510))]
    total = sum(map(len, frames))
    V.log(f'==> {NV} VLAN-tagged frames ({min(map(len, frames))}..{max(map(len, frames))} '
          f'bytes)')
    got, problems = Z.exchange_tagged(port, frames)
    V.log(f'  received {len(got)}/{NV}, {len(problems)} bad')
    if problems:
        raise V.Fail(f'{len(problems)} tagged frames differ, first: {problems[:5]}')
    V.check_eq(len(got), NV, 'tagged frames back, tag and every byte intact')
    env.wait_stats({'rx_packets': NV, 'rx_bytes': total, 'rx_zc_packets': 0,
                    'rx_copy_packets': NV, 'rx_copy_bytes': total,
                    'rx_drop_no_guest_buf': 0})
    if zero_copy != 'off':
        V.check_eq(Z.qstats(env)['mode'], 'zero-copy', 'q0.mode after the fix-ups (no fallback)')


def run(tag, zero_copy):
    with V.Env(tag) as env:
        env.bring_up(guest_kw={'fwd': 'macswap'}, zero_copy=zero_copy)
        want_mode = 'zero-copy' if zero_copy != 'off' else 'copy'
        if zero_copy != 'off':
            Z.wait_mode(env, 'zero-copy', state='none')
        port = env.port()
        env.warm_up(port)
        frames = [V.udp_frame(port.mac, Z.GUEST_MAC, i, size)
                  for i, size in enumerate(V.mixed_sizes(N))]
        total = V.check_roundtrip(port, frames, what='UDP frames')
        V.log(f'==> counters of relay net0, zero_copy = {zero_copy} ({N} frames, {total} '
              f'bytes each way)')
        zc = N if zero_copy != 'off' else 0
        st = env.wait_stats({'rx_packets': N, 'tx_packets': N, 'rx_bytes': total,
                             'tx_bytes': total, 'rx_zc_packets': zc,
                             'rx_copy_packets': N - zc, 'rx_copy_bytes': 0 if zc else total,
                             'rx_drop_no_guest_buf': 0, 'rx_drop_guest_down': 0,
                             'tx_drop_vf_full': 0})
        q0 = st['q0']
        V.check_eq(q0['mode'], want_mode, 'q0.mode')
        if zero_copy != 'off':
            V.check_eq(q0['zc_state'], 'none', 'q0.zc_state')
            for k in ('rx_bad_desc', 'rx_desc_too_small', 'rx_bad_ring'):
                V.check_eq(q0[k], 0, f'q0.{k} since warm-up')
            fb = {k: v for k, v in env.stats()['q0'].items()
                  if k.startswith('rx_zc_fallback_') and v}
            V.check_eq(fb, {}, 'fallback counters (all zero)')
            held = Z.qstats(env)['zc_shells_held']
            V.check(held <= 64, f'zc_shells_held {held} is small with no traffic in flight')
        vlan_frames(env, port, zero_copy)
        Z.check_relay_log_clean(env.relay_proc)
        V.log('==> stopping vfrelay with SIGTERM')
        rc = env.kill_relay(signal.SIGTERM)
        V.check_eq(rc, 0, 'vfrelay exit code after SIGTERM')
        Z.check_relay_log_clean(env.relay_proc)


def scenario():
    V.log('### zero_copy = auto')
    run('zctrf', 'auto')
    V.log('### zero_copy = off (same frames, copy path)')
    run('zctro', 'off')


if __name__ == '__main__':
    V.main(scenario)
