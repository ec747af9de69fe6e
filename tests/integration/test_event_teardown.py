#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Reconfiguration and teardown wake a sleeping worker (issue 11), idle = event on
net_tap, zero_copy = auto (the RX queue zero copy, its binds stopping and starting
tap, which gives the queue new interrupt state).

  a  the guest disconnects while the worker sleeps: the worker wakes (wake_ctl) and
     lets go of the dead device's kick fds (its epoll set shrinks by exactly two);
  b  the guest comes back: its fds are waited on again, frames one at a time each
     wake the worker and come back byte-exact;
  c  zero copy switched off and on at run time while the worker sleeps: each time
     frames one at a time come back (the worker waits on the VF queue as it is now);
  d  SIGTERM while the worker sleeps: vfrelay exits 0 at once, not after the 10 s
     a worker nobody woke would sleep.
"""

import signal
import time

import evtest as E
import vfrtest as V
import zctest as Z

TAP = V.name('evtd') + '0'


def roundtrips(env, port, what, seq0):
    # The first frame after a tap zero-copy bind can be lost (it was so before idle =
    # event, with polling workers too: see zc_tap); probe until the path carries.
    env.warm_up(port)
    E.wait_asleep(env)
    w0 = E.worker(env)
    rtts = E.roundtrips_one_by_one(port, 10, gap=0.05, seq0=seq0)
    d = E.delta(w0, E.worker(env))
    V.check(d['wake_vf'] >= 10, f'{what}: 10 frames back byte-exact, each waking the worker '
            f'(wake_vf +{d["wake_vf"]}, slowest {1e3 * max(rtts):.1f} ms)')


def scenario():
    with V.Env('evtd', net=False) as env:
        port = E.bring_up_tap(env, TAP, zero_copy='auto')
        pid = env.relay_proc.pid
        Z.wait_mode(env, 'zero-copy')
        roundtrips(env, port, 'start', 0)

        V.log('### a: the guest disconnects while the worker sleeps')
        w0 = E.wait_asleep(env)
        fds = E.waited_fds(pid)
        env.stop_guest()
        env.wait_relay_state('waiting')
        V.wait_until(lambda: E.waited_fds(pid) == fds - 2, 5,
                     f'the worker to drop the two kick fds it waited on ({fds} waited on)')
        d = E.delta(w0, E.worker(env))
        V.check(d['wake_ctl'] >= 1, f'the control side woke the worker (wake_ctl '
                f'+{d["wake_ctl"]}); it waits on {fds - 2} fds, two fewer')
        E.wait_asleep(env)

        V.log('### b: the guest comes back')
        env.start_guest(fwd='macswap')
        env.wait_relay_state('running', min_connects=2)
        env.wait_guest_forwarding()
        Z.wait_mode(env, 'zero-copy')
        port.drain()
        roundtrips(env, port, 'after the reconnect', 100)
        V.check_eq(E.waited_fds(pid), fds, 'fds waited on, the new device\'s kick fds in')

        V.log('### c: zero copy off and on while the worker sleeps')
        E.wait_asleep(env)
        V.telemetry(env.name, '/vfrelay/zero_copy,net0,off')
        Z.wait_mode(env, 'copy')
        roundtrips(env, port, 'zero copy off', 200)
        E.wait_asleep(env)
        V.telemetry(env.name, '/vfrelay/zero_copy,net0,auto')
        Z.wait_mode(env, 'zero-copy')
        roundtrips(env, port, 'zero copy on again', 300)
        Z.check_relay_log_clean(env.relay_proc)

        V.log('### d: SIGTERM while the worker sleeps')
        E.wait_asleep(env)
        t0 = time.monotonic()
        rc = env.kill_relay(signal.SIGTERM)
        took = time.monotonic() - t0
        V.check_eq(rc, 0, 'exit code after SIGTERM')
        V.check(took < 3.0, f'vfrelay exited {took:.2f} s after SIGTERM (a worker left '
                'asleep would hold it 10 s)')


if __name__ == '__main__':
    V.main(scenario)
