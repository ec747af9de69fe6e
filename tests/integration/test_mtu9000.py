#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario e: jumbo frames. veth MTU 9000, relay mtu = 9000, af_packet ring
frames big enough (framesz must hold 9014 bytes plus the tpacket header and
be <= blocksz, a multiple of the page size), guest testpmd with a 9018-byte
max packet length and mbufs that hold it. 8000-byte frames (and the edges,
up to the 9014-byte maximum) cross both ways intact."""

import vfrtest as V

MTU = 9000
N_BIG = 200


def scenario():
    with V.Env('mtu', mtu=MTU) as env:
        vf = f'net_af_packet0,iface={env.veth.outer},framesz=16384,blocksz=16384,framecnt=256'
        env.bring_up(guest_kw={'fwd': 'macswap', 'mtu': MTU}, vf=vf, mtu=MTU)
        if not V.STANDIN:
            V.check_eq(env.relay_info()['mtu'], MTU, 'relays.net0.mtu')
        # af_packet reports a 1518-byte limit; vfrelay must leave the interface's MTU
        # alone (it once set the clamped 1500, and the peer's sends failed with ENOBUFS).
        with open(f'/sys/class/net/{env.veth.outer}/mtu') as f:
            V.check_eq(int(f.read()), MTU, f'{env.veth.outer} interface mtu')
        port = env.port()
        env.warm_up(port)
        sizes = [8000] * N_BIG + [60, 1514, 1515, 4096, 8999, MTU + 14]
        frames = [V.udp_frame(port.mac, b'\x02\x00\x00\x00\x00\x01', i, size)
                  for i, size in enumerate(sizes)]
        total = V.check_roundtrip(port, frames, window=16, what='jumbo frames')
        env.wait_stats({'rx_packets': len(frames), 'tx_packets': len(frames),
                        'rx_bytes': total, 'tx_bytes': total, 'rx_drop_no_guest_buf': 0,
                        'tx_drop_vf_full': 0})


if __name__ == '__main__':
    V.main(scenario)
