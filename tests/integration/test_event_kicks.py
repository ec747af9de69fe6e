#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Guest kicks wake a sleeping worker (issue 11), with a guest the test drives byte by
byte (vhostuser.py) on a tap VF, idle = event; both ways a driver asks for kicks
(VRING_USED_F_NO_NOTIFY, and EVENT_IDX's avail_event), the copy path and zero copy
(`zc`: the RX ring is served by qsync, which sets avail_event from its own index;
librte_vhost's would be stale).

Per notification style:
  a  the guest posts 8 RX buffers; 8 frames from the VF reach it; it has none left;
  b  copy path: 6 more frames wait in the VF, and the worker stays asleep: it does
     not wake for frames the guest has no room for;
  c  the guest posts 16 buffers; its kick wakes the worker (wake_kick), and on the
     copy path the 6 waiting frames arrive byte-exact;
  d  the guest transmits 8 frames, one every 50 ms: each reaches the VF, the worker
     woken by the guest's TX kicks;
  e  (no-notify flag) guest notifications are enabled only while the worker sleeps:
     the TX ring asks for kicks while it sleeps, not while it sends 200 frames the
     guest posted, and again once it sleeps again.

Usage: test_event_kicks.py [copy|zc]
"""

import os
import sys
import time

import evtest as E
import vfrtest as V
import vhostuser as VU
import zctest as Z

VARIANT = sys.argv[1] if len(sys.argv) > 1 else 'copy'
TAG = 'evkz' if VARIANT == 'zc' else 'evk'
TAP = V.name(TAG) + '0'
G_MAC = b'\x02\x00\x00\x00\x00\x07'


def rx_wait(drv, n, timeout=3.0):
    frames = []
    deadline = time.monotonic() + timeout
    while len(frames) < n and time.monotonic() < deadline:
        frames += drv.rx_poll(repost=False)
        time.sleep(0.002)
    if drv.stale_writes or drv.bad_rx:
        raise V.Fail(f'the host broke the RX ring: stale {drv.stale_writes[:3]}, '
                     f'{drv.bad_rx[:3]}')
    return frames


def send_frames(port, seqs, size=300):
    frames = [V.udp_frame(port.mac, G_MAC, s, size) for s in seqs]
    for f in frames:
        port.sock.send(f)
    return frames


def check_same(got, want, what):
    got = [g for g in got if V.frame_seq(g) is not None]  # the kernel's own frames aside
    if sorted(got) != sorted(want):
        for g in got:
            if g not in want:
                V.log(f'  unexpected frame: {g[:64].hex()} ({len(g)} bytes)')
        raise V.Fail(f'{what}: got {len(got)} frames, {sum(g in want for g in got)} of '
                     f'the {len(want)} sent')
    V.check(True, f'{what}: all {len(want)} byte-exact')


def one_style(env, port, event_idx):
    style = 'event idx' if event_idx else 'no-notify flag'
    V.log(f'### {style}')
    fe = VU.Frontend.connect(env.sock, timeout=10, name=f'fe-{int(event_idx)}')
    drv = VU.VirtioNet(fe, qsize=256, rx_buf=2048, event_idx=event_idx, quarantine=0)
    drv.start(post=False)
    try:
        env.wait_relay_state('running', timeout=15)
        drv.rx_post(8)
        if VARIANT == 'zc':
            Z.wait_mode(env, 'zero-copy', timeout=15)
        V.check_eq(bool(drv.features & VU.bit(VU.F_EVENT_IDX)), event_idx, 'EVENT_IDX negotiated')
        port.drain()
        # Frames the kernel sent on the tap before the test turned its IPv6 off wait in the
        # tap for guest buffers (CI: "got 7 frames, 7 of the 8 sent"): let them take theirs
        # now and post as many again, so the phases below count the test's frames only.
        stale = rx_wait(drv, 8, timeout=0.5)
        if stale:
            V.log(f'  {len(stale)} frame(s) from before the test took a buffer: re-posted')
            drv.rx_post(len(stale))

        if VARIANT == 'copy':
            V.log('  a: 8 buffers, 8 frames')
            sent = send_frames(port, range(8))
            check_same(rx_wait(drv, 8), sent, 'a: frames the guest got')
        else:
            # tap holds one guest buffer and drops a frame it has no next buffer for:
            # send more than posted, so every posted buffer is used or held.
            V.log('  a: 8 buffers, 12 frames (tap drops what it has no buffer for)')
            sent = send_frames(port, range(12))
            early = [g for g in rx_wait(drv, 8, timeout=2.0) if V.frame_seq(g) is not None]
            V.check(6 <= len(early) <= 8 and all(g in sent for g in early),
                    f'a: the guest got {len(early)} frames, each byte-exact')

        w0 = E.wait_asleep(env)
        if VARIANT == 'copy':
            V.log('  b: no buffers left; 6 more frames wait in the VF')
            waiting = send_frames(port, range(100, 106))
            time.sleep(0.5)
            V.check_eq(len(rx_wait(drv, 1, timeout=0.2)), 0, 'b: frames the guest got')
            d = E.delta(w0, E.worker(env))
            # The VF's fd is masked and tap's O_ASYNC signals go to the process again:
            # nothing wakes the worker (a stray look at most, never a VF wake-up).
            V.check(d['wake_vf'] == 0 and d['iterations'] <= 3,
                    f'b: the worker did not wake for frames it cannot deliver (wake_vf '
                    f'+{d["wake_vf"]}, iterations +{d["iterations"]})')

        V.log('  c: the guest posts 16 buffers; its kick wakes the worker')
        V.check(drv.rx_post(16) == 16, 'c: 16 buffers posted')
        if VARIANT == 'copy':
            check_same(rx_wait(drv, 6), waiting, 'c: the waiting frames')
        else:
            time.sleep(0.3)
        d = E.delta(w0, E.worker(env))
        V.check(d['wake_kick'] >= 1, f'c: the RX kick woke the worker (wake_kick +'
                f'{d["wake_kick"]}, wakeups +{d["wakeups"]})')
        if VARIANT == 'zc':
            new = send_frames(port, range(150, 154))
            got = [g for g in rx_wait(drv, 4 + 12 - len(early), timeout=2.0)
                   if V.frame_seq(g) is not None]
            # Frames tap still had queued from a come now; each must be one of a's.
            late = [g for g in got if V.frame_seq(g) < 12]
            V.check(all(g in sent and g not in early for g in late),
                    f'c: {len(late)} frames left from a arrived late, byte-exact')
            check_same([g for g in got if V.frame_seq(g) >= 150], new,
                       'c: frames after the repost')

        V.log('  d: the guest transmits, one frame every 50 ms')
        E.wait_asleep(env)
        w0 = E.worker(env)
        port.drain()
        port.sock.settimeout(2.0)
        try:
            for i in range(8):
                time.sleep(0.05)
                f = V.udp_frame(G_MAC, port.mac, 200 + i, 400)
                if not drv.tx_send(f):
                    raise V.Fail(f'd: the guest TX ring is full at frame {i}')
                while True:
                    try:
                        data, addr = port.sock.recvfrom(65536)
                    except TimeoutError as e:
                        raise V.Fail(f'd: guest frame {i} did not reach the VF within 2 s') \
                            from e
                    if addr[2] != 4 and V.frame_seq(data) == 200 + i:
                        if data != f:
                            raise V.Fail(f'd: guest frame {i} arrived corrupted')
                        break
                drv.tx_reclaim()
        finally:
            port.sock.settimeout(None)
        d = E.delta(w0, E.worker(env))
        V.check(d['wake_kick'] >= 8, f'd: each TX kick woke the worker (wake_kick +'
                f'{d["wake_kick"]})')

        if not event_idx:
            part_e(env, port, drv)
    finally:
        drv.close()
    env.wait_relay_state('waiting', timeout=15)


def part_e(env, port, drv):
    """The TX ring asks for kicks while the worker sleeps, and not while it works: 200
    frames posted without a kick, then one kick; while the worker sends them the guest
    samples the ring's flags."""
    V.log('  e: guest notifications only while the worker sleeps')
    r = drv.rings[VU.TX]
    E.wait_asleep(env)
    V.check(not r.used_flags() & VU.USED_F_NO_NOTIFY, 'e: asleep: the TX ring asks for kicks')
    port.drain()
    for i in range(200):
        if not drv.tx_send(V.udp_frame(G_MAC, port.mac, 1000 + i, 1400), kick=False):
            raise V.Fail(f'e: the guest TX ring is full at frame {i}')
    # Look from the other CPU: on the worker's, this loop and the worker would take turns.
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        os.eventfd_write(drv.kick[VU.TX], 1)
        samples = suppressed = 0
        deadline = time.monotonic() + 5
        while r.outstanding() and time.monotonic() < deadline:
            samples += 1
            suppressed += bool(r.used_flags() & VU.USED_F_NO_NOTIFY)
            drv.tx_reclaim()
    finally:
        os.sched_setaffinity(0, cpus)
    V.log(f'  while the worker sent the 200 frames: {suppressed} of {samples} looks at the '
          f'ring found kicks suppressed')
    V.check_eq(r.outstanding(), 0, 'e: guest frames not sent')
    V.check(suppressed > 0, 'e: awake, the worker suppressed kicks')
    E.wait_asleep(env)
    V.check(not r.used_flags() & VU.USED_F_NO_NOTIFY,
            'e: asleep again: the TX ring asks for kicks again')


def scenario():
    with V.Env(TAG, net=False) as env:
        env.start_relay([env.relay_config(vf=f'net_tap0,iface={TAP},persist',
                                          vhost_mode='server',
                                          zero_copy='auto' if VARIANT == 'zc' else 'off')])
        V.wait_until(lambda: os.path.exists(env.sock), 20, 'vfrelay to listen')
        port = E.tap_port(env, TAP)
        for event_idx in (False, True):
            one_style(env, port, event_idx)
        Z.check_relay_log_clean(env.relay_proc)


if __name__ == '__main__':
    V.main(scenario)
