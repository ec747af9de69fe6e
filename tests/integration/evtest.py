# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Helpers for the idle = event scenarios (issue 11): a tap VF (RX interrupts),
the worker's sleep and wake-up counters, the process's CPU time and the fds
its workers wait on."""

import os
import time

import vfrtest as V
import zctest as Z


def bring_up_tap(env, tap, zero_copy='off', guest_kw=None, **relay_kw):
    """Guest (testpmd macswap unless @guest_kw says otherwise), then vfrelay with
    net_tap as the VF (persist: the link stays up while zero copy stops the port).
    Returns a raw socket on the tap interface."""
    env.bring_up(guest_kw=guest_kw or {'fwd': 'macswap'},
                 vf=f'net_tap0,iface={tap},persist', zero_copy=zero_copy, **relay_kw)
    return tap_port(env, tap)


def tap_port(env, tap):
    return Z.tap_port(env, tap)


def worker(env, lcore='1'):
    """/vfrelay/lcores of the worker lcore."""
    return V.telemetry(env.name, '/vfrelay/lcores')[lcore]


def delta(a, b):
    return {k: b[k] - a[k] for k in b if isinstance(b[k], int) and k in a}


def cpu_seconds(pid):
    """CPU time of every thread of @pid so far (schedstat: nanoseconds on the CPU)."""
    total = 0
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/schedstat') as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just exited
    return total / 1e9


def wait_asleep(env, timeout=10):
    """Wait until the worker's loop stops turning (it sleeps); returns its counters."""
    prev = worker(env)

    def pred():
        nonlocal prev
        time.sleep(0.3)
        cur = worker(env)
        still = cur['iterations'] == prev['iterations'] and cur['sleeps'] > 0
        prev = cur
        return cur if still else None
    got = V.wait_until(pred, timeout, 'the worker to fall asleep', interval=0)
    V.check(True, f'the worker sleeps (sleeps {got["sleeps"]}, iterations stopped at '
            f'{got["iterations"]})')
    return got


def waited_fds(pid):
    """How many fds the process's epoll sets wait on (fdinfo 'tfd:' lines)."""
    n = 0
    for fd in os.listdir(f'/proc/{pid}/fd'):
        try:
            if os.readlink(f'/proc/{pid}/fd/{fd}') != 'anon_inode:[eventpoll]':
                continue
            with open(f'/proc/{pid}/fdinfo/{fd}') as f:
                n += sum(1 for ln in f if ln.startswith('tfd:'))
        except OSError:
            pass
    return n


def roundtrips_one_by_one(port, n, gap, size=200, seq0=0):
    """@n frames, one at a time, each @gap seconds after the previous came back (so the
    worker is asleep when it arrives); each must come back byte-exact. Returns the
    round-trip times in seconds."""
    rtts = []
    port.sock.settimeout(5.0)
    try:
        for i in range(n):
            time.sleep(gap)
            frame = V.udp_frame(port.mac, Z.GUEST_MAC, seq0 + i, size)
            t0 = time.monotonic()
            port.sock.send(frame)
            while True:
                try:
                    data, addr = port.sock.recvfrom(65536)
                except TimeoutError as e:
                    raise V.Fail(f'frame {i} did not come back within 5 s: a worker that '
                                 f'slept through it') from e
                if addr[2] == 4 or V.frame_seq(data) != seq0 + i:  # PACKET_OUTGOING
                    continue
                rtts.append(time.monotonic() - t0)
                if data != V.macswap(frame):
                    raise V.Fail(f'frame {i}: {V.describe_diff(V.macswap(frame), data)}')
                break
    finally:
        port.sock.settimeout(None)
    return rtts
