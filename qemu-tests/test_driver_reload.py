#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario 5: the guest unloads and reloads virtio_net three times while the
namespace keeps sending frames at the guest through the VF (zero copy). vfrelay
must quiesce zero copy before the guest frees its buffers (a late write would land
in memory the guest reuses: the guest console must stay free of Oops/BUG), come
back to zero copy on the new rings, and account for every frame it read: each
one delivered or counted as a drop. Then the same under a machine reset (QMP
system_reset, the guest boots again): the virtio device is reset under vfrelay
(GET_VRING_BASE, destroy_device, later a new device), the relay goes waiting and
running again, zero copy comes back on the new boot's rings. Afterwards an echo
run passes with every byte and counter checked, and vfrelay logged nothing
critical, no shells still held and no worker stuck in a burst."""

import re
import threading
import time

import qemutest as Q
from qemutest import V

MTU = 1400
SIZES = [64] * 500 + [1400] * 500 + V.mixed_sizes(1000, 60, MTU + 14)
RELOADS = 3


class Blaster(threading.Thread):
    """Send test frames at the guest's MAC at about @pps until stopped."""

    def __init__(self, port, pps=2000):
        super().__init__(daemon=True)
        self.port, self.gap, self.sent = port, 1.0 / pps, 0
        self.stop_ev = threading.Event()

    def run(self):
        frames = [V.udp_frame(self.port.mac, Q.GUEST_MAC_B, 0x00f00000 + i, s)
                  for i, s in enumerate(V.mixed_sizes(256, 60, MTU + 14))]
        nxt = time.monotonic()
        while not self.stop_ev.is_set():
            self.port.sock.send(frames[self.sent % len(frames)])
            self.sent += 1
            nxt += self.gap
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self):
        self.stop_ev.set()
        self.join(5)


def under_traffic(env, g, what, action):
    """Run @action while the namespace sends ~2000 frames/s at the guest; @action
    leaves eth0 up again. Then zero copy must be back and every frame vfrelay read
    during the phase delivered or counted as dropped."""
    before = env.stats()['q0']
    V.log(f'==> {what} under ~2000 frames/s')
    blaster = Blaster(env.port())
    blaster.start()
    t0 = time.monotonic()
    try:
        time.sleep(1)
        action()
        env.wait_relay_state('running')
        env.wait_zero_copy()
        time.sleep(1)
    finally:
        blaster.stop()
    V.log(f'  ({what}: {time.monotonic() - t0:.1f}s under traffic)')
    time.sleep(1)
    after = env.stats()['q0']
    d = {k: after[k] - before[k] for k in after
         if isinstance(after[k], int) and k != 'lcore'}
    V.log(f'  namespace sent {blaster.sent}; relay q0 during the phase: ' +
          ', '.join(f'{k}={v}' for k, v in d.items() if v))
    taken = d['rx_packets'] + d['rx_drop_no_guest_buf'] + d['rx_drop_guest_down']
    V.check(0 < taken <= blaster.sent,
            f'frames read from the VF ({taken}) = delivered + dropped, <= sent')
    V.check(d['rx_packets'] > 0, 'frames were delivered during and after the phase')
    fbs = {k: v for k, v in after.items() if k.startswith('rx_zc_fallback_') and v}
    V.log(f'  fallback counters: {fbs or "none"}; zc_state {after.get("zc_state")}')
    for k in ('rx_bad_desc', 'rx_desc_too_small', 'rx_bad_ring'):
        V.check_eq(after.get(k), 0, f'q0.{k}')


def scenario():
    with Q.QemuEnv('qdr', mtu=MTU) as env:
        g = env.boot(relay=env.relay_config(zc=True))
        g.net_up(mtu=MTU)
        env.wait_zero_copy()
        port = env.port()
        Q.echo_roundtrip(env, g, port, SIZES)

        def reload():
            out = g.sh(f'for i in $(seq {RELOADS}); do rmmod virtio_net && '
                       'modprobe virtio_net && sleep 1 || exit 1; done; ls /sys/class/net',
                       timeout=120)
            V.check('eth0' in out, f'the guest reloaded virtio_net {RELOADS} times, eth0 is back')
            g.net_up(mtu=MTU)
        under_traffic(env, g, f'{RELOADS}x rmmod virtio_net; modprobe virtio_net', reload)

        boot_id = g.sh('cat /proc/sys/kernel/random/boot_id').strip()
        info = env.relay_info()

        def reset():
            g.reset()
            V.check(g.sh('cat /proc/sys/kernel/random/boot_id').strip() != boot_id,
                    'the guest booted again (new boot_id)')
            g.net_up(mtu=MTU)
            env.wait_relay_state('running', min_connects=info['connects'] + 1)
        under_traffic(env, g, 'guest reset (QMP system_reset)', reset)
        now = env.relay_info()
        V.check(now['disconnects'] > info['disconnects'] and now['connects'] > info['connects'],
                f'the relay went waiting -> running across the reset (connects '
                f'{info["connects"]} -> {now["connects"]}, disconnects '
                f'{info["disconnects"]} -> {now["disconnects"]})')

        V.log(f'==> {len(SIZES)} frames through the reloaded driver and the rebooted guest')
        total, _ = Q.echo_roundtrip(env, g, port, SIZES)
        env.wait_stats({'rx_zc_packets': len(SIZES), 'rx_copy_bytes': 0,
                        'rx_bytes': total, 'tx_packets': len(SIZES)}, key='q0')
        oops = re.findall(r'.*(?:BUG|Oops|general protection|Call Trace|corrupt).*',
                          g.console_tail(100000))
        V.check_eq(oops, [], 'guest console lines with BUG/Oops/Call Trace/corrupt')
        V.check_eq(len(re.findall(r'^init: \S+ up in ', g.console_tail(100000), re.M)), 2,
                   'boots in the guest console')
        env.check_relay_log_clean()
        stuck = [ln for ln in env.relay_proc.log_text().splitlines()
                 if 'still held' in ln or 'still inside a burst' in ln]
        V.check_eq(stuck, [], 'vfrelay log lines about shells still held or a stuck worker')


if __name__ == '__main__':
    Q.main(scenario)
