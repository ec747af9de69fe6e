#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Churn under traffic with zero copy on (issue 9).

Relay B (zero_copy = on, vhost_mode = server, VF net_af_packet on a veth) gets a
continuous stream of frames from port B, 2000 a second, for the whole test; its
guest is vhostuser.py, which checks every frame byte for byte and, like vfr-guest,
poisons every buffer it takes back and checks the poison before posting it again.
Relay A in the same instance carries its own stream through a testpmd guest and
must lose nothing (hotest.py).

One cycle: connect and hand-shake, wait for zero copy to bind, take frames, disable
and enable the RX ring, re-send the memory table with a hot-plugged region added
(and, every other cycle, removed again), take frames again, send a few frames out
(every tenth cycle), and go: graceful (rings disabled, GET_VRING_BASE) on even
cycles, socket closed on odd ones. Every third cycle closes the socket right after
the memory table instead, while zero copy's rebind is likely still pending (the window of
issue 9 item 2). After each departure, once vfrelay reports relay B
waiting (or GET_VRING_BASE has been answered), every buffer is poisoned and checked
again a moment later: the host must not write into memory it has given back.

Checked at the end (and every 50 cycles): no crash or bad log line; 0 stale writes,
0 corrupted frames; vfrelay's open fds and its mappings of guest memory back to the
baseline taken before the first cycle; the mempool list and sizes unchanged,
zc_shells_held 0; the mbuf pools' in-use counts back to the baseline (22.11's
/mempool/info has no such count: the test reads `mbufs_in_use` from /vfrelay/relays
and fails while vfrelay does not publish it); zero copy carried frames in at least
90 % of the cycles; relay A lost nothing.

CHURN_CYCLES sets the number of cycles (default 400, about 30 s here; the documented
longer run is CHURN_CYCLES=1000). Prints `CHURN-SUMMARY` with cycles,
seconds and cycles per second.
"""

import json
import os
import threading
import time

import hotest as H
import vfrtest as V
import vhostuser as VU

CYCLES = int(os.environ.get('CHURN_CYCLES', '400'))
RATE = 2000
CHECK_EVERY = 50


class Sender(threading.Thread):
    """Frames from port B at RATE per second until stopped; seqs from 0x20000000 on."""

    def __init__(self, env):
        super().__init__(daemon=True)
        self.env = env
        self.stop_req = threading.Event()
        self.sent = 0
        self.error = None
        sizes = V.mixed_sizes(97, hi=1514)
        self.frames = [V.udp_frame(env.port_b.mac, H.B_MAC, 0x20000000 + i, sizes[i])
                       for i in range(97)]

    def run(self):
        t0 = time.monotonic()
        try:
            while not self.stop_req.is_set():
                if self.sent < (time.monotonic() - t0) * RATE:
                    self.env.port_b.sock.send(self.frames[self.sent % len(self.frames)])
                    self.sent += 1
                else:
                    time.sleep(0.0005)
        except Exception as e:  # noqa: BLE001 - the main thread reports it
            self.error = e


def poll_until(pred, timeout, what, interval=0.005):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise V.Fail(f'timed out after {timeout} s waiting for {what}')
        time.sleep(interval)


class Churn:
    def __init__(self, env):
        self.env = env
        self.frames = 0
        self.bad = 0
        self.stale = 0
        self.zc_cycles = 0
        self.zc_frames = 0
        self.immediate = 0

    def reset(self):
        self.__init__(self.env)

    def b_state(self):
        return self.env.b_info()['state']

    def take(self, drv, n, timeout=2.0):
        """At least @n frames from the stream, each checked byte for byte."""
        got = 0
        deadline = time.monotonic() + timeout
        while got < n and time.monotonic() < deadline:
            for fr in drv.rx_poll():
                if not H.frame_ok(fr, self.env.port_b.mac, H.B_MAC):
                    self.bad += 1
                    raise V.Fail(f'corrupted frame ({len(fr)} bytes, seq {V.frame_seq(fr)})')
                got += 1
            time.sleep(0.001)
        self.frames += got
        if got < n:
            raise V.Fail(f'{got} of {n} frames within {timeout} s')
        return got

    def check_given_back(self, drv, what):
        """Everything is the guest's again: poison it all, look again a moment later."""
        drv.rx_reclaim_all()
        for i, gpa in enumerate(drv.rx_bufs):
            drv.mem.fill(gpa, drv.rx_buf)
        time.sleep(0.01)
        n = drv.check_all_poison()
        if n or drv.stale_writes:
            self.stale += len(drv.stale_writes)
            raise V.Fail(f'{what}: {len(drv.stale_writes)} stale writes, first (gpa, offset, '
                         f'byte) {drv.stale_writes[:3]}')

    def cycle(self, k):
        env = self.env
        mem = VU.GuestMemory.simple(16 << 20)
        drv = VU.VirtioNet(env.b_frontend(), mem=mem)
        hot = None
        try:
            z0 = env.b_stats()['rx_zc_packets']
            drv.start()
            poll_until(lambda: self.b_state() == 'running', 5, 'relay B running')
            try:
                poll_until(lambda: env.b_stats()['mode'] == 'zero-copy', 2, 'zero copy bound')
            except V.Fail:
                pass   # counted below: zero copy must carry most cycles
            self.take(drv, 4)
            z1 = env.b_stats()['rx_zc_packets']
            if z1 > z0:
                self.zc_cycles += 1
                self.zc_frames += z1 - z0
            # Ring and memory changes: each quiesces zero copy and asks for a rebind.
            drv.fe.set_vring_enable(VU.RX, False)
            drv.rx_poll()
            drv.fe.set_vring_enable(VU.RX, True)
            hot = VU.Region(0x4000_0000 + (k % 8) * (2 << 20), 2 << 20, name='ho-hotplug')
            mem.regions.append(hot)
            drv.fe.set_mem_table(mem)
            if k % 2:
                mem.regions.remove(hot)
                drv.fe.set_mem_table(mem)
            if k % 3 == 2:
                # Gone while the rebind is pending (issue 9 item 2's window).
                self.immediate += 1
            else:
                self.take(drv, 4)
                if k % 10 == 0:
                    env.b_tx(drv, 4)
                if k % 2 == 0:
                    drv.stop()
                    n = drv.check_posted_poison()
                    if n:
                        raise V.Fail(f'{n} posted buffers written after GET_VRING_BASE was '
                                     f'answered: {drv.stale_writes[:3]}')
            drv.fe.close()
            poll_until(lambda: self.b_state() == 'waiting', 5, 'relay B waiting')
            self.check_given_back(drv, f'cycle {k}')
        finally:
            drv.close()
            mem.close()
            if hot is not None:
                hot.close()


def resources(env):
    """What must come back to its baseline after each departure."""
    # Each telemetry client is a socket in vfrelay until its thread sees the close:
    # count fds once the last one (b_state's poll) has gone.
    time.sleep(0.1)
    fds = env.fd_count()
    pools = V.telemetry(env.name, '/mempool/list') or []
    info = {p: V.telemetry(env.name, f'/mempool/info,{p}') for p in pools}
    return {
        'fds': fds,
        'guest_maps': sum(1 for ln in env.maps() if '/memfd:ho-' in ln),
        'pools': {p: (i.get('size'), i.get('populated_size')) for p, i in info.items()},
        'shells_held': env.b_stats()['zc_shells_held'],
    }


def mbufs_in_use(env):
    return {r: i.get('mbufs_in_use') for r, i in env.relays().items()}


def check_resources(env, base, what):
    cur = resources(env)
    for k in ('fds', 'guest_maps', 'shells_held'):
        if cur[k] != base[k]:
            raise V.Fail(f'{what}: {k} {cur[k]}, baseline {base[k]}'
                         + (f' (fds now: {sorted(env.fd_targets())[-8:]})' if k == 'fds'
                            else ''))
    if cur['pools'] != base['pools']:
        raise V.Fail(f'{what}: mempools {cur["pools"]}, baseline {base["pools"]}')
    V.log(f'  ok: {what}: {cur["fds"]} fds, {cur["guest_maps"]} guest memory mappings, '
          f'{len(cur["pools"])} mempools unchanged, 0 shells held')


def scenario():
    with H.HoEnv('hochrn', b_mode='server', b_zero_copy='on') as env:
        env.start()
        sender = Sender(env)
        # One departure before the baseline: librte_vhost allocates some lasting state
        # on the first connection.
        churn = Churn(env)
        sender.start()
        try:
            churn.cycle(0)
            churn.reset()
            base = resources(env)
            base_mbufs = mbufs_in_use(env)
            V.log(f'==> baseline: {json.dumps(base)}')
            t0 = time.monotonic()
            done = 0
            for k in range(1, CYCLES + 1):
                try:
                    churn.cycle(k)
                except (V.Fail, VU.VhostError, OSError) as e:
                    if env.died():
                        raise V.Fail(f'cycle {k}: vfrelay died ({env.died()})') from None
                    raise V.Fail(f'cycle {k}: {e}') from None
                done = k
                if sender.error:
                    raise V.Fail(f'the sender failed: {sender.error!r}')
                if k % CHECK_EVERY == 0:
                    env.stream.check(f'relay A after {k} cycles')
                    check_resources(env, base, f'after {k} cycles')
                    bad = env.log_problems()
                    if bad:
                        raise V.Fail(f'vfrelay log: {bad[:3]}')
            dt = time.monotonic() - t0
        finally:
            sender.stop_req.set()
            sender.join(5)
        time.sleep(0.5)
        check_resources(env, base, f'after {done} cycles, traffic stopped')
        V.check(churn.zc_cycles >= 0.9 * done, f'zero copy carried frames in '
                f'{churn.zc_cycles} of {done} cycles ({churn.zc_frames} frames)')
        V.check(churn.stale == 0 and churn.bad == 0,
                f'{churn.frames} frames checked: 0 corrupted, 0 stale writes')
        bad = env.log_problems()
        V.check(not bad, f'vfrelay log clean ({bad[:2]})')
        env.stream.finish()
        V.log('CHURN-SUMMARY ' + json.dumps({
            'cycles': done, 'seconds': round(dt, 1), 'cycles_per_s': round(done / dt, 2),
            'frames_checked': churn.frames, 'zc_cycles': churn.zc_cycles,
            'closed_with_rebind_pending': churn.immediate,
            'stale_writes': churn.stale, 'relay_a_frames': env.stream.sent}))
        info = env.b_info()
        V.log(f'  relay B: connects {info["connects"]}, disconnects {info["disconnects"]}')
        cur_mbufs = mbufs_in_use(env)
        if any(v is None for v in cur_mbufs.values()):
            raise V.Fail('not checked: mbuf pools\' in-use counts (DPDK 22.11\'s /mempool/info '
                         'has none; /vfrelay/relays has no "mbufs_in_use")')
        V.check(cur_mbufs == base_mbufs, f'mbufs in use back to the baseline {base_mbufs} '
                f'(now {cur_mbufs})')


if __name__ == '__main__':
    V.main(scenario)
