#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario c: the guest goes away (killed) and a new one comes up on the same
socket. vfrelay must show "waiting" with one disconnect, reconnect on its own
(client mode), and carry traffic again."""

import vfrtest as V

N = 500


def frames_for(port, base):
    return [V.udp_frame(port.mac, b'\x02\x00\x00\x00\x00\x01', i, size)
            for i, size in enumerate(V.mixed_sizes(N))]


def scenario():
    with V.Env('grc') as env:
        env.bring_up(guest_kw={'fwd': 'macswap'})
        port = env.port()
        env.warm_up(port)
        V.log('==> traffic with the first guest')
        V.check_roundtrip(port, frames_for(port, 0))

        env.stop_guest()
        env.wait_relay_state('waiting')
        if not V.STANDIN:
            info = env.relay_info()
            V.check_eq(info['disconnects'], 1, 'relays.net0.disconnects')
            V.check_eq(info['vid'], -1, 'relays.net0.vid while waiting')
        env.start_guest(fwd='macswap')
        env.wait_relay_state('running', min_connects=2)
        env.wait_guest_forwarding()
        if not V.STANDIN:
            info = env.relay_info()
            V.check_eq(info['connects'], 2, 'relays.net0.connects')
            V.check_eq(info['disconnects'], 1, 'relays.net0.disconnects')
        env.warm_up(port)
        V.log('==> traffic with the second guest')
        V.check_roundtrip(port, frames_for(port, N))
        env.wait_stats({'rx_packets': N, 'tx_packets': N, 'rx_drop_no_guest_buf': 0})


if __name__ == '__main__':
    V.main(scenario)
