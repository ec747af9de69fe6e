#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""One front-end per relay (review of #9, reproduced): vfrelay serves its socket
(vhost_mode = server) and a guest (testpmd on net_virtio_user, client) is
attached and forwarding. A second front-end connects to the same socket. It must
be refused and counted (connections_refused), and the attached guest must lose
nothing: every frame comes back, the relay keeps its vid and counts no new
connect. Before the fix the second front-end took the relay over (the first
froze, the second got the traffic; with zero copy its SET_MEM_TABLE unbound the
first). Once the first guest is gone, a new one attaches normally. Run with the
copy path and with zero copy. The socket is created with the configured mode
(socket_mode = 0640) and nobody else's."""

import contextlib
import os
import stat
import time

import vfrtest as V
import zctest as Z

N = 600


def start_client_guest(env, name, prefix):
    """testpmd on net_virtio_user as a vhost-user client of vfrelay's socket."""
    vdev = f'net_virtio_user0,path={env.sock},queues=1'
    cmd = [V.TESTPMD, '--no-huge', '-m', '256', '--no-pci', f'--lcores={V.GUEST_LCORES}',
           f'--file-prefix={prefix}', '--vdev', vdev, '--', '--no-mlockall',
           '--stats-period', '1', '--forward-mode=macswap', '--rxq=1', '--txq=1',
           '--total-num-mbufs=4096']
    V.log(f'==> starting {name}: testpmd macswap, virtio_user client of {env.sock}')
    proc = V.Proc(name, cmd, env.tmp)
    env.procs.append(proc)
    return proc


def frames_for(port):
    return [V.udp_frame(port.mac, Z.GUEST_MAC, i, size)
            for i, size in enumerate(V.mixed_sizes(N))]


def run(tag, zero_copy):
    with V.Env(tag) as env:
        intruder_prefix = f'{env.guest_prefix}-x'
        try:
            env.start_relay([env.relay_config(vhost_mode='server', zero_copy=zero_copy,
                                              socket_mode='0640')])
            V.wait_until(lambda: os.path.exists(env.sock) or not env.relay_proc.alive(), 20,
                         'vfrelay to create its socket')
            st = os.stat(env.sock)
            V.check(stat.S_ISSOCK(st.st_mode), 'vfrelay serves a socket')
            V.check_eq(oct(st.st_mode & 0o777), oct(0o640), 'socket mode (socket_mode = 0640)')

            first = start_client_guest(env, 'guest1', env.guest_prefix)
            env.guest_proc = first
            info = env.wait_relay_state('running')
            env.wait_guest_forwarding(first)
            if zero_copy != 'off':
                Z.wait_mode(env, 'zero-copy', state='none')
            port = env.port()
            env.warm_up(port)
            V.log('==> traffic with the attached guest')
            total = V.check_roundtrip(port, frames_for(port), what='frames before the intruder')

            intruder = start_client_guest(env, 'intruder', intruder_prefix)
            V.wait_until(lambda: env.relay_info().get('connections_refused', 0) >= 1
                         or not env.relay_proc.alive(), 20, 'the second connection to be refused')
            time.sleep(1.0)  # whatever it would have done, give it the time to do it
            now = env.relay_info()
            V.check_eq(now['connections_refused'], 1, 'relays.net0.connections_refused')
            V.check_eq(now['vid'], info['vid'], 'relays.net0.vid (the attached guest keeps it)')
            V.check_eq(now['connects'], 1, 'relays.net0.connects')
            V.check_eq(now['disconnects'], 0, 'relays.net0.disconnects')
            V.check('forwards packets on' not in intruder.log_text(),
                    'the intruder never got a working port')

            V.log('==> traffic with the attached guest while the intruder tries')
            total += V.check_roundtrip(port, frames_for(port), what='frames after the intruder')
            env.wait_stats({'rx_packets': 2 * N, 'tx_packets': 2 * N, 'rx_bytes': total,
                            'rx_drop_no_guest_buf': 0, 'rx_drop_guest_down': 0})
            if zero_copy != 'off':
                q0 = Z.qstats(env)
                V.check_eq(q0['mode'], 'zero-copy', 'q0.mode (the intruder unbound nothing)')
                V.check_eq(q0['rx_zc_fallback_bind_failed'], 0, 'q0.rx_zc_fallback_bind_failed')
            intruder.stop()

            V.log('==> the attached guest leaves; a new one attaches')
            first.stop()
            env.wait_relay_state('waiting')
            second = start_client_guest(env, 'guest2', env.guest_prefix)
            env.guest_proc = second
            env.wait_relay_state('running', min_connects=2)
            env.wait_guest_forwarding(second)
            if zero_copy != 'off':
                Z.wait_mode(env, 'zero-copy', state='none')
            env.warm_up(port)
            V.check_roundtrip(port, frames_for(port), what='frames with the new guest')
            Z.check_relay_log_clean(env.relay_proc)
        finally:
            with contextlib.suppress(OSError):
                V.shutil.rmtree(os.path.join(V.DPDK_RUN_DIR, intruder_prefix),
                                ignore_errors=True)


def scenario():
    V.log('### copy path')
    run('tkov', 'off')
    V.log('### zero copy')
    run('tkovz', 'auto')


if __name__ == '__main__':
    V.main(scenario)
