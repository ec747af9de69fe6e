#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Zero copy with net_null as the VF, the guest testpmd in rxonly:
  copy=1,size=1000  net_null memcpys 1000 bytes into every buffer it allocates
                    (an emulated NIC DMA, here straight into guest memory);
  copy=0,size=1000  it writes nothing (a DMA-free NIC: the cost of the relay alone).
For each: the queue runs zero copy, rx_zc_packets grows, not one byte is
copied, every packet is 1000 bytes, the shells the VF holds stay few (net_null
gives every buffer back within the burst), nothing is dropped for want of a
guest buffer (the relay asks the VF only for what the guest posted), and the
guest's own RX-packets (testpmd --stats-period) tracks rx_packets."""

import os
import signal
import time

import vfrtest as V
import zctest as Z

SIZE = 1000
RING = 1024  # rx_ring_size default


def frozen(env, guest):
    """Stop the guest, return the relay's settled q0 counters, resume the guest."""
    os.kill(guest.pid, signal.SIGSTOP)
    try:
        prev = Z.qstats(env)
        for _ in range(30):
            time.sleep(0.1)
            cur = Z.qstats(env)
            if cur == prev:
                return cur
            prev = cur
        raise V.Fail('relay counters still moving 3 s after the guest was stopped')
    finally:
        os.kill(guest.pid, signal.SIGCONT)


def one(tag, copy):
    with V.Env(tag, net=False) as env:
        guest = Z.start_guest(env, fwd='rxonly')
        env.start_relay([env.relay_config(vf=Z.null_vf(SIZE, copy), zero_copy='auto')])
        env.wait_relay_state('running')
        env.wait_guest_forwarding()
        Z.wait_mode(env, 'zero-copy', state='none')
        time.sleep(1.0)
        # Counters are read while the worker updates them (rx_packets per packet,
        # rx_zc_packets and rx_bytes per burst). Freezing the guest (SIGSTOP) stops it
        # posting buffers, so the relay stops asking the VF and the counters settle:
        # the deltas between two frozen moments are exact.
        a = frozen(env, guest)
        t0 = time.monotonic()
        time.sleep(2.0)
        b = frozen(env, guest)
        dt = time.monotonic() - t0
        d = {k: b[k] - a[k] for k in b if isinstance(b[k], int) and k != 'lcore'}
        V.log(f'  {d["rx_packets"] / dt / 1e6:.2f} Mpps over {dt:.1f}s: rx_zc_packets '
              f'+{d["rx_zc_packets"]}, rx_packets +{d["rx_packets"]}, rx_copy_bytes '
              f'+{d["rx_copy_bytes"]}')
        V.check(d['rx_zc_packets'] > 0, f'rx_zc_packets grows (+{d["rx_zc_packets"]} in 2 s)')
        V.check_eq(b['mode'], 'zero-copy', 'q0.mode')
        V.check_eq(b['zc_state'], 'none', 'q0.zc_state')
        # Before the control thread binds, the copy path serves: count from here.
        V.check_eq(d['rx_copy_bytes'], 0, 'q0.rx_copy_bytes delta')
        V.check_eq(d['rx_copy_packets'], 0, 'q0.rx_copy_packets delta')
        V.check_eq(d['rx_zc_packets'], d['rx_packets'], 'every packet of the interval zero copy')
        V.check_eq(d['rx_bytes'], SIZE * d['rx_packets'], f'rx_bytes == {SIZE} * rx_packets')
        V.check_eq(b['rx_drop_no_guest_buf'], 0, 'q0.rx_drop_no_guest_buf')
        V.check_eq(b['zc_shells_held'], 0, 'zc_shells_held with the guest frozen')
        for k in ('rx_bad_desc', 'rx_desc_too_small', 'rx_bad_ring'):
            V.check_eq(b[k], 0, f'q0.{k}')
        held = [Z.qstats(env)['zc_shells_held'] for _ in range(5)]
        V.check(max(held) < RING, f'zc_shells_held stays below the ring ({held})')

        # The guest prints RX-packets once a second: compare with the relay at that moment.
        V.log('==> the guest counts what the relay delivered')
        prev = Z.guest_rx_packets(guest)
        V.wait_until(lambda: Z.guest_rx_packets(guest) != prev, 5, 'a new guest stats line')
        g = Z.guest_rx_packets(guest)
        r = Z.qstats(env)['rx_packets']
        rate = d['rx_packets'] / dt
        V.log(f'  guest RX-packets {g}, relay rx_packets {r} (relay rate {rate:.0f}/s)')
        # The guest's line is up to ~1 s older than our read; it can never be ahead by
        # more than what is in flight in the ring.
        V.check(g <= r + 256, f'guest RX-packets {g} <= relay rx_packets {r} + ring')
        V.check(r - g <= 1.5 * rate + 4096,
                f'guest RX-packets {g} within 1.5 s of traffic of relay rx_packets {r}')
        V.check(g > 0.5 * r, f'guest RX-packets {g} is most of relay rx_packets {r}')
        Z.check_relay_log_clean(env.relay_proc)
        rc = env.kill_relay(signal.SIGTERM)
        V.check_eq(rc, 0, 'vfrelay exit code after SIGTERM under traffic')
        Z.check_relay_log_clean(env.relay_proc)


def scenario():
    V.log('### net_null copy=1 (emulated DMA into guest memory)')
    one('zcnl1', 1)
    V.log('### net_null copy=0 (DMA-free VF)')
    one('zcnl0', 0)


if __name__ == '__main__':
    V.main(scenario)
