#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""VF RX checksum marks reach the guest, and a corrupted checksum is never
marked good. net_tap is the one software VF that checks RX checksums (it
reports GOOD/BAD per frame), so it plays the VF: frames written into its
kernel interface with valid UDP checksums must be counted rx_csum_good
(delivered to the guest as verified), frames with a corrupted checksum must
not. The guest (testpmd asking for UDP/TCP RX checksum offload, so it negotiates GUEST_CSUM)
receives them all."""

import os
import struct
import time

import vfrtest as V

N_GOOD = 200
N_BAD = 50


def udp_csum(frame):
    udp_len = struct.unpack('!H', frame[38:40])[0]
    pseudo = frame[26:34] + struct.pack('!BBH', 0, 17, udp_len)
    data = frame[34:40] + b'\0\0' + frame[42:34 + udp_len]
    buf = pseudo + data + (b'\0' if len(data) % 2 else b'')
    s = sum(struct.unpack(f'!{len(buf) // 2}H', buf))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff or 0xffff


def with_csum(frame, corrupt=False):
    c = udp_csum(frame) ^ (0x5a5a if corrupt else 0)
    return frame[:40] + struct.pack('!H', c) + frame[42:]


def scenario():
    with V.Env('rxck', net=False) as env:
        tap = V.name('rxck') + '0'
        env.start_guest(fwd='rxonly', extra=['--rx-offloads=0xc'])
        # zero_copy off: tap keeps its RX ring, zero copy would fall back anyway
        env.start_relay([env.relay_config(vf=f'net_tap0,iface={tap}')])
        env.wait_relay_state('running')
        env.wait_guest_forwarding()
        V.wait_until(lambda: os.path.exists(f'/sys/class/net/{tap}'), 10, f'{tap} to exist')
        V.run(['ip', 'link', 'set', tap, 'up'])
        with open(f'/proc/sys/net/ipv6/conf/{tap}/disable_ipv6', 'w') as f:
            f.write('1')  # no neighbour discovery frames in the counts

        port = V.RootPort(tap)
        sock = port.sock
        try:
            time.sleep(0.5)
            base = env.stats()['total']
            frames = []
            for i in range(N_GOOD + N_BAD):
                f = V.udp_frame(sock.getsockname()[4], b'\x02\x00\x00\x00\x00\x01', i,
                                64 + (i * 37) % 1400)
                frames.append(with_csum(f, corrupt=i >= N_GOOD))
            for f in frames:
                sock.send(f)
                time.sleep(0.0005)
        finally:
            sock.close()

        def settled():
            cur = env.stats()['total']
            return cur if cur['rx_packets'] - base['rx_packets'] >= N_GOOD + N_BAD else None
        cur = V.wait_until(settled, 10, 'every frame to reach the guest')
        V.check_eq(cur['rx_packets'] - base['rx_packets'], N_GOOD + N_BAD, 'rx_packets')
        V.check_eq(cur['rx_csum_good'] - base['rx_csum_good'], N_GOOD,
                   'rx_csum_good (corrupted checksums never marked good)')
        V.check_eq(cur['rx_drop_no_guest_buf'] - base['rx_drop_no_guest_buf'], 0,
                   'rx_drop_no_guest_buf')


if __name__ == '__main__':
    V.main(scenario)
