#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Zero copy checked from inside the guest: vfr-guest (tests/guest) verifies every
byte of every frame, that nothing was written before the descriptor (a shell's
buf_addr arithmetic), and poisons every buffer it frees so a write after the
host gave a buffer back (a late "DMA") is caught. net_af_packet (or, with
`tap`, net_tap, which keeps guest buffers between bursts and has them
reclaimed by setting its RX queue up again) is the VF, zero_copy = auto;
frames of mixed sizes cross in three phases: zero copy, copy (switched off at
run time), zero copy again; then the guest closes its port (GET_VRING_BASE:
the relay quiesces) and scans its whole pool.

Usage: test_zc_checker.py [PATH-OF-vfr-guest [af_packet|tap]]  (meson passes them)
"""

import json
import os
import sys
import time

import vfrtest as V
import zctest as Z
import test_guest_checker as G

N = 500
GUEST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    'VFR_GUEST', os.path.join(V.BUILD_DIR, 'tests', 'guest', 'vfr-guest'))
VF_KIND = sys.argv[2] if len(sys.argv) > 2 else 'af_packet'
TAP = V.name('zcck') + '0'


def settled(env):
    return env._settled_stats('net0')['q0']


def phase(env, port, what, frames, mode):
    Z.wait_mode(env, mode)
    # After a bind the first frame may land in a host buffer the VF already held.
    G.warm_up(port)
    a = settled(env)
    G.send(port, frames)
    time.sleep(0.3)
    b = settled(env)
    d = {k: b[k] - a[k] for k in ('rx_packets', 'rx_zc_packets', 'rx_copy_packets',
                                  'rx_bytes', 'rx_copy_bytes', 'rx_drop_no_guest_buf')}
    V.log(f'  {what}: ' + ', '.join(f'{k} +{v}' for k, v in d.items()))
    total = sum(map(len, frames))
    V.check_eq(d['rx_packets'], len(frames), f'{what}: rx_packets delta')
    V.check_eq(d['rx_bytes'], total, f'{what}: rx_bytes delta')
    zc = len(frames) if mode == 'zero-copy' else 0
    V.check_eq(d['rx_zc_packets'], zc, f'{what}: rx_zc_packets delta')
    V.check_eq(d['rx_copy_bytes'], 0 if zc else total, f'{what}: rx_copy_bytes delta')
    V.check_eq(d['rx_drop_no_guest_buf'], 0, f'{what}: rx_drop_no_guest_buf delta')


def scenario():
    if not os.access(GUEST, os.X_OK):
        V.log(f'SKIP: {GUEST} not found or not executable')
        sys.exit(V.SKIP)
    tap = VF_KIND == 'tap'
    with V.Env('zcckt' if tap else 'zcck', net=not tap) as env:
        report = os.path.join(env.tmp, 'guest.json')
        cmd = [GUEST, '--lcores=0@0', '--no-huge', '-m', '256', '--no-pci',
               f'--file-prefix={env.guest_prefix}',
               f'--vdev=net_virtio_user0,path={env.sock},server=1,queues=1,mrg_rxbuf=1', '--',
               '--mode', 'rx,echo', '--report', report, '--duration', '90',
               '--expect', str(3 * N), '--repost-delay-us', '50']
        V.log(f'==> vfr-guest {" ".join(cmd[cmd.index("--") + 1:])}')
        guest = V.Proc('vfr-guest', cmd, env.tmp)
        env.procs.append(guest)
        env.guest_proc = guest
        V.wait_until(lambda: os.path.exists(env.sock) or not guest.alive(), 20,
                     'vfr-guest to create its vhost-user socket')
        if tap:
            # persist: tap keeps its link up while vfrelay stops the port to reclaim buffers
            env.start_relay([env.relay_config(zero_copy='auto',
                                              vf=f'net_tap0,iface={TAP},persist')])
        else:
            env.start_relay([env.relay_config(zero_copy='auto')])
        env.wait_relay_state('running')
        V.wait_until(lambda: 'ready:' in guest.log_text() or not guest.alive(), 30,
                     'vfr-guest to start its port')
        Z.wait_mode(env, 'zero-copy', state='none')
        if tap:
            with open(f'/proc/sys/net/ipv6/conf/{TAP}/disable_ipv6', 'w') as f:
                f.write('1')
            port = V.RootPort(TAP)
            env.ports.append(port)
        else:
            port = env.port()
        G.warm_up(port)

        dst, src = Z.GUEST_MAC, port.mac
        sizes = V.mixed_sizes(3 * N, lo=60, hi=1514)
        frames = [G.vfr_frame(dst, src, i, 3, sizes[i]) for i in range(3 * N)]
        phase(env, port, 'zero copy', frames[:N], 'zero-copy')
        V.check_eq(V.telemetry(env.name, '/vfrelay/zero_copy,net0,off').get('zero_copy'), 'off',
                   'switch to off')
        phase(env, port, 'copy (off at run time)', frames[N:2 * N], 'copy')
        V.check_eq(V.telemetry(env.name, '/vfrelay/zero_copy,net0,auto').get('zero_copy'),
                   'auto', 'switch to auto')
        phase(env, port, 'zero copy again', frames[2 * N:], 'zero-copy')

        V.log('==> vfr-guest reaches --expect, closes its port and scans its pool')
        V.wait_until(lambda: not guest.alive(), 30, 'vfr-guest to exit')
        rc = guest.p.returncode
        with open(report) as f:
            rep = json.load(f)
        V.log(f'  report: {json.dumps(rep)}')
        V.check_eq(rc, 0, 'vfr-guest exit code')
        want = {'rx_ok': 3 * N, 'rx_bad': 0, 'rx_oob': 0, 'stale_writes': 0, 'rx_gap': 0,
                'rx_dup': 0, 'rx_reorder': 0, 'bufs_not_returned': 0,
                'rx_bytes': sum(sizes)}
        for k, v in want.items():
            V.check_eq(rep[k], v, f'vfr-guest {k}')
        env.wait_relay_state('waiting', timeout=15)
        V.check_eq(Z.qstats(env)['zc_shells_held'], 0, 'zc_shells_held after the guest left')
        Z.check_relay_log_clean(env.relay_proc)


if __name__ == '__main__':
    V.main(scenario)
