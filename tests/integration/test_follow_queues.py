#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Traffic follows the guest's queue pairs (#8): the relay has 2 queue pairs, the
guest (testpmd rxonly, virtio_user queues=1) uses 1, so guest RX ring 2 never
exists. net_null produces frames on every VF queue, like a NIC whose RSS spreads
flows over both, so VF queue 1 keeps receiving. Those frames must reach the
guest's one ring through queue 0 (copied, counted in q0's rx_redirected), not be
dropped. With the copy path and with zero copy on queue 0 (redirected frames are
copied into its zero-copy ring). The guest's own RX count must match what the
relay says it delivered."""

import os
import signal
import time

import vfrtest as V
import zctest as Z

SIZE = 200


def frozen(env, guest):
    """Stop the guest, return the relay's settled counters, resume the guest."""
    os.kill(guest.pid, signal.SIGSTOP)
    try:
        prev = env.stats()
        for _ in range(30):
            time.sleep(0.1)
            cur = env.stats()
            if cur == prev:
                return cur
            prev = cur
        raise V.Fail('relay counters still moving 3 s after the guest was stopped')
    finally:
        os.kill(guest.pid, signal.SIGCONT)


def run(tag, zero_copy):
    with V.Env(tag, net=False) as env:
        guest = Z.start_guest(env, fwd='rxonly')
        env.start_relay([env.relay_config(vf=Z.null_vf(SIZE, 1), queues=2,
                                          zero_copy=zero_copy)])
        env.wait_relay_state('running')
        env.wait_guest_forwarding()
        if zero_copy != 'off':
            Z.wait_mode(env, 'zero-copy', state='none')
        V.wait_until(lambda: 'guest RX rings enabled 0x1' in env.relay_proc.log_text(), 10,
                     'vfrelay to see which guest rings are in use')
        time.sleep(1.0)
        a = frozen(env, guest)
        t0 = time.monotonic()
        time.sleep(2.0)
        b = frozen(env, guest)
        dt = time.monotonic() - t0

        def delta(q, k):
            return b[q][k] - a[q][k]
        V.log(f'  q0: rx_packets +{delta("q0", "rx_packets")}, rx_redirected '
              f'+{delta("q0", "rx_redirected")}, rx_zc_packets +{delta("q0", "rx_zc_packets")};'
              f' q1: rx_packets +{delta("q1", "rx_packets")}, rx_drop_redirect '
              f'+{delta("q1", "rx_drop_redirect")}')
        V.check(delta('q0', 'rx_redirected') > 0,
                "queue 1's frames reach the guest's ring through queue 0")
        V.check_eq(delta('q1', 'rx_packets'), 0, 'q1 delivers nothing itself (it has no ring)')
        V.check_eq(delta('q0', 'rx_copy_packets') - (0 if zero_copy == 'off' else
                                                      delta('q0', 'rx_redirected')),
                   0 if zero_copy != 'off' else delta('q0', 'rx_packets'),
                   'copied frames: the redirected ones (zero copy), or all (copy path)')
        if zero_copy != 'off':
            V.check(delta('q0', 'rx_zc_packets') > 0, "q0's own frames still go zero copy")
        # The guest prints RX-packets once a second: compare with the relay at that moment.
        prev = Z.guest_rx_packets(guest)
        V.wait_until(lambda: Z.guest_rx_packets(guest) != prev, 5, 'a new guest stats line')
        g = Z.guest_rx_packets(guest)
        r = env.stats()['total']['rx_packets']
        rate = delta('q0', 'rx_packets') / dt
        V.log(f'  guest RX-packets {g}, relay rx_packets {r} (relay rate {rate:.0f}/s)')
        # The guest's line is up to ~1 s older than our read; it can never be ahead by
        # more than what is in flight in its ring.
        V.check(g <= r + 256, f'guest RX-packets {g} <= relay rx_packets {r} + ring')
        V.check(r - g <= 1.5 * rate + 4096,
                f'guest RX-packets {g} within 1.5 s of traffic of relay rx_packets {r}')
        Z.check_relay_log_clean(env.relay_proc)


def scenario():
    V.log('### copy path')
    run('fqc', 'off')
    V.log('### zero copy on queue 0')
    run('fqz', 'auto')


if __name__ == '__main__':
    V.main(scenario)
