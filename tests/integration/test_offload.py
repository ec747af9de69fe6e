#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Guest TX checksum offload over a VF without it: the guest (testpmd csum
engine with UDP checksum set to hw) hands vfrelay frames carrying only the
pseudo-header sum and NEEDS_CSUM; the af_packet VF has no checksum offload,
so vfrelay must finish every checksum in software. The namespace checks each
returned UDP checksum is valid and the rest of the frame is intact, and the
counters say every frame took the software fallback."""

import os
import socket
import struct
import time

import vfrtest as V

N = 500


def udp_csum_ok(frame):
    """True if the IPv4/UDP checksum of @frame verifies (and is not 'none')."""
    ip = frame[14:34]
    udp_len = struct.unpack('!H', frame[38:40])[0]
    if struct.unpack('!H', frame[40:42])[0] == 0:
        return False
    data = frame[34:34 + udp_len]
    pseudo = ip[12:20] + struct.pack('!BBH', 0, 17, udp_len)
    buf = pseudo + data + (b'\0' if len(data) % 2 else b'')
    s = sum(struct.unpack(f'!{len(buf) // 2}H', buf))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s == 0xffff


def with_udp_csum(frame):
    """@frame with a valid UDP checksum (testpmd leaves a zero one alone)."""
    udp_len = struct.unpack('!H', frame[38:40])[0]
    pseudo = frame[26:34] + struct.pack('!BBH', 0, 17, udp_len)
    data = frame[34:40] + b'\0\0' + frame[42:34 + udp_len]
    buf = pseudo + data + (b'\0' if len(data) % 2 else b'')
    s = sum(struct.unpack(f'!{len(buf) // 2}H', buf))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    c = (~s) & 0xffff or 0xffff
    return frame[:40] + struct.pack('!H', c) + frame[42:]


def scenario():
    with V.Env('ofl') as env:
        cmds = os.path.join(env.tmp, 'guest-cmds')
        with open(cmds, 'w') as f:
            # csum set needs the port stopped; restarting it re-runs the vhost-user setup
            f.write('port stop 0\ncsum set udp hw 0\nport start 0\n')
        env.bring_up(guest_kw={'fwd': 'csum', 'extra': ['--cmdline-file', cmds]})
        port = env.port()
        env.warm_up(port)

        # The guest replaces each checksum with the pseudo-header sum and asks for
        # offload: a frame that comes back valid was finished by vfrelay.
        frames = [with_udp_csum(V.udp_frame(port.mac, b'\x02\x00\x00\x00\x00\x01', i, size))
                  for i, size in enumerate(V.mixed_sizes(N, lo=64))]
        V.check(all(udp_csum_ok(f) for f in frames), 'sent frames carry valid UDP checksums')
        got, bad = {}, []
        sent = 0
        deadline = time.monotonic() + 30
        port.sock.settimeout(0.05)
        while len(got) < N and time.monotonic() < deadline:
            while sent < N and sent - len(got) < 16:
                port.sock.send(frames[sent])
                sent += 1
            try:
                data, addr = port.sock.recvfrom(65536)
            except socket.timeout:
                continue
            seq = V.frame_seq(data)
            if addr[2] == socket.PACKET_OUTGOING or seq is None or seq >= N or seq in got:
                continue
            got[seq] = data
            want = frames[seq]
            # the csum engine rewrites the MACs; everything but the UDP checksum stays
            if data[12:40] != want[12:40] or data[42:] != want[42:]:
                bad.append(f'seq {seq}: {V.describe_diff(want[12:], data[12:])}')
            elif not udp_csum_ok(data):
                bad.append(f'seq {seq}: UDP checksum 0x{data[40]:02x}{data[41]:02x} invalid')
        V.log(f'  received {len(got)}/{N}, {len(bad)} bad')
        if bad:
            V.log(f'  counters since warm-up: {env.stats_delta()["total"]}')
            raise V.Fail(f'{len(bad)} frames wrong, first: {bad[:5]}')
        V.check(len(got) == N, f'all {N} frames came back with a valid UDP checksum')
        env.wait_stats({'tx_packets': N, 'tx_sw_csum': N, 'tx_drop_bad_offload': 0,
                        'rx_packets': N})


if __name__ == '__main__':
    V.main(scenario)
