#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario 6: vfrelay dies with SIGKILL while the guest runs zero copy and pings
the namespace; a new vfrelay connects to QEMU's socket and, with no guest reboot
and nothing done in the guest, the pings resume, zero copy comes back and a full
echo run passes with every byte and counter checked."""

import re
import signal
import time

import qemutest as Q
from qemutest import V

MTU = 1400
SIZES = [64] * 500 + [1400] * 500 + V.mixed_sizes(1000, 60, MTU + 14)


def replies(g):
    return len(re.findall(r'bytes from', g.sh('cat /tmp/ping.log')))


def scenario():
    with Q.QemuEnv('qrs', mtu=MTU) as env:
        relay = env.relay_config(zc=True)
        g = env.boot(relay=relay)
        g.net_up(mtu=MTU)
        env.wait_zero_copy()
        port = env.port()
        Q.echo_roundtrip(env, g, port, SIZES)
        boot_id = g.sh('cat /proc/sys/kernel/random/boot_id').strip()

        V.log('==> guest pings the namespace every 50 ms; vfrelay killed with SIGKILL')
        g.sh(f'ping -i 0.05 {Q.HOST_IP} > /tmp/ping.log 2>&1 &')
        V.wait_until(lambda: replies(g) >= 10, 20, '10 ping replies before the kill')
        first = env.relay_proc
        env.kill_relay(signal.SIGKILL)
        time.sleep(1)
        before = replies(g)
        time.sleep(1)
        V.check(replies(g) - before <= 1, 'no ping replies while vfrelay is dead')
        V.check(g.alive(), 'QEMU survives vfrelay being killed')

        V.log('==> vfrelay restarted')
        t0 = time.monotonic()
        env.start_relay([relay])
        env.wait_relay_state('running')
        env.wait_zero_copy()
        n0 = replies(g)
        V.wait_until(lambda: replies(g) >= n0 + 10, 30, 'ping replies to resume')
        V.check(True, f'ping replies resumed {time.monotonic() - t0:.1f}s after the restart')
        g.sh('kill %1 2>/dev/null; killall ping; true')
        V.check_eq(g.sh('cat /proc/sys/kernel/random/boot_id').strip(), boot_id,
                   'guest boot_id (no reboot)')

        V.log(f'==> {len(SIZES)} frames through the new vfrelay')
        total, result = Q.echo_roundtrip(env, g, port, SIZES)
        # A frame the test did not send (the namespace's ARP probe left over from the
        # pings, answered by the guest) is counted by the guest as foreign; it crossed
        # zero copy like the others, of a size nobody knows.
        foreign = int(re.search(r'foreign=(\d+)', result).group(1))
        want = {'rx_zc_packets': len(SIZES) + foreign, 'rx_copy_bytes': 0,
                'tx_packets': len(SIZES) + foreign}
        if foreign == 0:
            want['rx_bytes'] = total
        env.wait_stats(want, key='q0')
        env.check_relay_log_clean(first)
        env.check_relay_log_clean()


if __name__ == '__main__':
    Q.main(scenario)
