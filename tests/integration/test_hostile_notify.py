#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Notification storms from relay B's guest (vhostuser.py) while relay A's stream
must lose nothing. Both relays share vfrelay's one worker (lcores 0,1), so
anything that makes the worker wait on relay B stops relay A too.

  kick_storm              100000 kicks on each of B's kick eventfds (vfrelay polls
                          and never reads them: nothing may change, nothing to count)
  interrupt_flags_storm   avail->flags set to random values before every poll while
                          frames arrive
  used_event_storm        the same with event idx: used_event random
  rx_enable_storm         300 SET_VRING_ENABLE 0/1 pairs on B's RX ring with frames
                          arriving meanwhile: zero copy quiesces and binds 300 times;
                          no stale write, every later frame intact
  message_storm           5000 GET_FEATURES + SET_VRING_ENABLE(tx, 1) back to back
  call_eventfd_saturated  B's call eventfds are blocking and hold 2^64 - 2: the next
                          eventfd_write(1) blocks. vfrelay must not let relay B's
                          interrupts stop the worker (relay A keeps its stream, the
                          worker's iterations keep growing). vfrelay makes every
                          call and kick fd non-blocking when the ring is set up (the
                          flag is on the file description, so this test's copy turns
                          non-blocking too): an interrupt B's fd cannot take is lost
                          to B alone. librte_vhost's eventfd_write() reports nothing,
                          so there is no counter to check
  call_fd_full_pipe       the same with a full pipe as B's call fd (8192 interrupts
                          fill it)

Run with relay B zero_copy = auto (bound before each case), then off.
"""

import os
import random
import threading
import time

import hotest as H
import vfrtest as V
import vhostuser as VU

def worker_iterations(env):
    return V.telemetry(env.name, '/vfrelay/lcores')['1']['iterations']


class Sender(threading.Thread):
    """Frames from port B into relay B for as long as it runs (rate-capped)."""

    def __init__(self, env, rate=3000):
        super().__init__(daemon=True)
        self.env, self.rate = env, rate
        self.stop_req = threading.Event()
        self.sent = 0

    def run(self):
        frames = self.env.b_frames(64, size=200)
        t0 = time.monotonic()
        while not self.stop_req.is_set():
            if self.sent < (time.monotonic() - t0) * self.rate:
                self.env.port_b.sock.send(frames[self.sent % len(frames)])
                self.sent += 1
            else:
                time.sleep(0.001)


def drain_b(drv, seconds):
    """Keep B's guest taking frames (content is checked by the next b_rx) for @seconds."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        drv.rx_poll()
        time.sleep(0.001)


def case_kick_storm(env):
    drv = env.b_driver()
    try:
        it0 = worker_iterations(env)
        for _ in range(100000):
            os.eventfd_write(drv.kick[VU.RX], 1)
            os.eventfd_write(drv.kick[VU.TX], 1)
        V.check(worker_iterations(env) > it0, 'the worker kept running')
        env.b_prove(drv, 16, 'after 200000 kicks')
    finally:
        drv.close()


def case_flags_storm(env, event_idx):
    drv = env.b_driver(event_idx=event_idx)
    rng = random.Random(3)
    try:
        sender = Sender(env)
        sender.start()
        try:
            r = drv.rings[VU.RX]
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                r.set_avail_flags(rng.choice((0, VU.AVAIL_F_NO_INTERRUPT, 0xffff)))
                if r.event_idx:
                    r.set_used_event(rng.randrange(65536))
                drv.rx_poll()
        finally:
            sender.stop_req.set()
            sender.join(5)
        drain_b(drv, 0.3)
        drv.rings[VU.RX].set_avail_flags(0)
        env.b_prove(drv, 16, 'after the interrupt flags storm')
    finally:
        drv.close()


def case_enable_storm(env):
    drv = env.b_driver()
    try:
        sender = Sender(env)
        sender.start()
        try:
            for _ in range(300):
                drv.fe.set_vring_enable(VU.RX, False)
                drv.rx_poll()
                drv.fe.set_vring_enable(VU.RX, True)
                drv.rx_poll()
        finally:
            sender.stop_req.set()
            sender.join(5)
        drain_b(drv, 0.3)
        V.check(not drv.stale_writes, f'no stale write during 300 ring toggles under traffic '
                f'({len(drv.stale_writes)}: {drv.stale_writes[:2]})')
        env.b_prove(drv, 16, 'after 300 RX ring toggles under traffic')
    finally:
        drv.close()


def case_message_storm(env):
    drv = env.b_driver()
    try:
        t0 = time.monotonic()
        for _ in range(5000):
            drv.fe.get_features()
            drv.fe.set_vring_enable(VU.TX, True)
        dt = time.monotonic() - t0
        V.log(f'  10000 messages in {dt:.2f} s')
        env.b_prove(drv, 16, 'after 10000 messages')
    finally:
        drv.close()


def blocking_call_eventfd():
    fd = os.eventfd(0, os.EFD_CLOEXEC)
    os.eventfd_write(fd, 0xfffffffffffffffe)
    return fd


def full_pipe():
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b'\0' * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    return r, w


def case_call_blocked(env, kind):
    """B's call fds make any write block; the worker must not."""
    fe = env.b_frontend()
    drv = VU.VirtioNet(fe)
    release = []
    if kind == 'eventfd':
        for i in (VU.RX, VU.TX):
            os.close(drv.callfd[i])
            drv.callfd[i] = blocking_call_eventfd()
            release.append(lambda fd=drv.callfd[i]: os.eventfd_read(fd))
    else:
        for i in (VU.RX, VU.TX):
            os.close(drv.callfd[i])
            r, w = full_pipe()
            drv.callfd[i] = w
            release.append(lambda fd=r: os.set_blocking(fd, False) or os.read(fd, 1 << 20))
    try:
        drv.start()
        env.wait_relay_state('running', relay='net1')
        time.sleep(0.2)
        before = env.b_stats()
        it0 = worker_iterations(env)
        a0 = env.stream.back
        rx0 = drv.rx_frames
        # Frames for B and frames from B: both directions want an interrupt.
        for f in env.b_frames(16, size=300):
            env.port_b.sock.send(f)
        for f in env.b_frames(4, size=300):
            drv.tx_send(f)
        drain_b(drv, 1.5)
        it1 = worker_iterations(env)
        a1 = env.stream.back
        V.log(f'  while B\'s interrupts cannot be delivered (1.5 s): worker iterations '
              f'+{it1 - it0}, relay A frames back +{a1 - a0}, B received '
              f'{drv.rx_frames - rx0} frames')
        # Relay A streams about 1500 frames a second when the worker runs.
        stalled = it1 - it0 < 100 or a1 - a0 < 300
        after = env.b_stats()
    finally:
        # Drain what vfrelay wrote; the fds are non-blocking now (see above).
        for _ in range(2):
            for f in release:
                try:
                    f()
                except BlockingIOError:
                    pass
            time.sleep(0.2)
        drv.close()
    if stalled:
        raise V.Fail(f'the worker stopped while writing relay B\'s call fd ({kind}): in '
                     f'1.5 s {it1 - it0} iterations, {a1 - a0} frames of relay A back')
    if drv.rx_frames - rx0 == 0 and after.get('rx_packets', 0) == before.get('rx_packets', 0):
        raise V.Fail('relay B delivered nothing while its interrupts were blocked: '
                     'the frames must still reach its ring (only the interrupt is lost)')


def scenario():
    with H.HoEnv('hontf', b_mode='server', b_zero_copy='auto') as env:
        env.start()
        cases = H.Cases(env, 'hostile_notify')
        for mode in ('zc', 'copy'):
            if mode == 'copy':
                V.telemetry(env.name, '/vfrelay/zero_copy,net1,off')
                env.b_zero_copy = 'off'
            cases.run(f'kick_storm_{mode}', lambda: case_kick_storm(env))
            cases.run(f'interrupt_flags_storm_{mode}', lambda: case_flags_storm(env, False))
            cases.run(f'used_event_storm_{mode}', lambda: case_flags_storm(env, True))
            cases.run(f'rx_enable_storm_{mode}', lambda: case_enable_storm(env))
            cases.run(f'message_storm_{mode}', lambda: case_message_storm(env))
            cases.run(f'call_eventfd_saturated_{mode}',
                      lambda: case_call_blocked(env, 'eventfd'))
            cases.run(f'call_fd_full_pipe_{mode}', lambda: case_call_blocked(env, 'pipe'))
        cases.finish()


if __name__ == '__main__':
    V.main(scenario)
