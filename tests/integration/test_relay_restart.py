#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario d: vfrelay (vhost-user client) dies with SIGKILL while the guest
(server) keeps running; a new vfrelay connects to the same socket, the guest
accepts it, and traffic resumes."""

import vfrtest as V

N = 500


def scenario():
    with V.Env('rst') as env:
        env.bring_up(guest_kw={'fwd': 'macswap'})
        port = env.port()
        env.warm_up(port)
        frames = [V.udp_frame(port.mac, b'\x02\x00\x00\x00\x00\x01', i, size)
                  for i, size in enumerate(V.mixed_sizes(N))]
        V.log('==> traffic through the first vfrelay')
        V.check_roundtrip(port, frames)

        env.kill_relay()
        V.check(env.guest_proc.alive(), 'the guest survives the relay being killed')
        env.start_relay([env.relay_config()])
        env.wait_relay_state('running')
        V.check(env.guest_proc.alive(), 'the guest is still the first one')
        env.warm_up(port)
        V.log('==> traffic through the second vfrelay')
        V.check_roundtrip(port, frames)
        # A new process starts its counters at zero.
        env.wait_stats({'rx_packets': N, 'tx_packets': N})


if __name__ == '__main__':
    V.main(scenario)
