#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Hostile TX (guest to VF) from relay B's guest (vhostuser.py) while relay A's
stream must lose nothing (hotest.py). Relay B: vhost_mode = server, zero_copy =
auto (TX is librte_vhost's dequeue either way), VF net_af_packet (no checksum
offload: vfrelay finishes guest checksums in software).

Descriptors (K = 4 hostile entries ahead of 8 good frames):
  tx_addr_outside_memory, tx_head_out_of_range, tx_chain_loop,
  tx_indirect_table_outside, tx_indirect_len_zero, tx_len_zero (not even a
  header), tx_len_past_region_end, tx_avail_idx_jump
      refuse_or_stop: the hostile entries are used and nothing of them leaves
      the VF, the 8 good frames do (counted in tx_bad_desc: librte_vhost took a
      descriptor and made no frame of it); or relay B's TX stops on them
      (counted in tx_ring_stuck: librte_vhost refuses the entry and takes
      nothing after it until the guest resets the ring). tx_avail_idx_jump:
      librte_vhost trusts the index and re-reads entries the guest already
      had back (its own memory, nothing of the host's): only survive it.
  tx_len_near_2^32    64 descriptors of 0xfffffff0 bytes inside a 5 GiB region:
      no 4 GiB frame exists, and copying one must not cost the shared worker
      (relay A's stream) anything: refuse_or_stop as above.

Offload requests (VIRTIO_NET_F_CSUM negotiated, NEEDS_CSUM set):
  tx_csum_ipv6_ext_headers          IPv6, hop-by-hop and destination options, UDP
  tx_csum_ipv6_600_byte_ext_header  a 600-byte hop-by-hop header (over l3_len's 9 bits)
  tx_csum_offset_past_frame         csum_offset pointing past the end of the frame
  tx_csum_start_past_frame          csum_start past the end of the frame
      Each frame must leave the VF with a correct UDP checksum and every other
      byte as sent, or be dropped and counted in tx_drop_bad_offload (issue 9
      item 3: the software checksum read past the frame and came out wrong).
      tx_csum_start_past_frame may also leave exactly as sent: librte_vhost
      drops a request to checksum from past the end of the frame without a
      trace vfrelay could see (the same marks as a checksum it finished), so
      the guest's frame goes out as the guest built it.
"""

import socket
import struct
import time

import hotest as H
import vfrtest as V
import vhostuser as VU

K = 4
R3 = 0x1_0000_0000
FAR = 0x4000_0000_0000
TX_BAD = 'tx_bad_desc'
TX_STUCK = 'tx_ring_stuck'


def memory():
    return VU.GuestMemory([VU.Region(0, 32 << 20, name='ho-a'),
                           VU.Region(R3, 5 << 30, name='ho-d')])


def frames_from(env, n, base):
    return [V.udp_frame(H.B_MAC, env.port_b.mac, 0x50000000 + base + i, 200 + 37 * i)
            for i in range(n)]


def collect(env, want, timeout=2.0):
    """Frames of @want (seq -> frame) seen at port B: (seqs intact, seqs corrupted)."""
    got, bad = set(), set()
    sock = env.port_b.sock
    sock.settimeout(0.02)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(got) < len(want):
            try:
                data, addr = sock.recvfrom(65536)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            seq = V.frame_seq(data)
            if seq in want:
                (got if data == want[seq] else bad).add(seq)
    finally:
        sock.settimeout(None)
    return got, bad


# --------------------------------------------------------------------------
# Hostile descriptors


def post(drv, ring, d, addr, ln, flags=0, next_=0):
    ring.write_desc(d, addr, ln, flags, next_)
    ring.post_head(d, [d], ('raw', 'bad', []))


def t_outside(drv, mem, ring):
    for k in range(K):
        (d,) = ring.take_ids(1)
        post(drv, ring, d, FAR + k * 4096, 256)


def t_head_range(drv, mem, ring):
    for k in range(K):
        ring.post_head(ring.size + 3 + k, [], ('raw', 'bad', []))


def t_chain_loop(drv, mem, ring):
    for _ in range(K):
        a, b = ring.take_ids(2)
        ring.write_desc(a, mem.alloc(64), 64, VU.D_NEXT, b)
        ring.write_desc(b, mem.alloc(64), 64, VU.D_NEXT, a)
        ring.post_head(a, [a, b], ('raw', 'bad', []))


def t_ind_outside(drv, mem, ring):
    for _ in range(K):
        (d,) = ring.take_ids(1)
        post(drv, ring, d, FAR, 16, VU.D_INDIRECT)


def t_ind_len0(drv, mem, ring):
    for _ in range(K):
        (d,) = ring.take_ids(1)
        t = mem.alloc(16, 16)
        mem.pack('<QIHH', t, mem.alloc(256), 256, 0, 0)
        post(drv, ring, d, t, 0, VU.D_INDIRECT)


def t_len0(drv, mem, ring):
    for _ in range(K):
        (d,) = ring.take_ids(1)
        post(drv, ring, d, mem.alloc(64), 0)


def t_len_past_end(drv, mem, ring):
    for k in range(K):
        (d,) = ring.take_ids(1)
        post(drv, ring, d, (16 << 20) + k * 4096, 0xffffffff)


def t_len_near_4g(drv, mem, ring):
    for k in range(64):
        (d,) = ring.take_ids(1)
        post(drv, ring, d, R3 + k * 4096, 0xfffffff0)


def t_avail_jump(drv, mem, ring):
    ring.avail_idx = (ring.avail_idx + ring.size + 9) & 0xffff


DESC_CASES = [
    ('tx_addr_outside_memory', t_outside),
    ('tx_head_out_of_range', t_head_range),
    ('tx_chain_loop', t_chain_loop),
    ('tx_indirect_table_outside', t_ind_outside),
    ('tx_indirect_len_zero', t_ind_len0),
    ('tx_len_zero', t_len0),
    ('tx_len_past_region_end', t_len_past_end),
    ('tx_len_near_2^32', t_len_near_4g),
    ('tx_avail_idx_jump', t_avail_jump),
]


def run_desc(env, builder, seq_base):
    mem = memory()
    drv = env.b_driver(mem=mem, want=VU.DEFAULT_FEATURES | VU.bit(VU.F_INDIRECT_DESC))
    try:
        env.port_b.drain()
        before = env.b_stats()
        a0 = env.stream.back
        t0 = time.monotonic()
        ring = drv.rings[VU.TX]
        builder(drv, mem, ring)
        ring.publish()
        if builder is t_avail_jump:
            # The ring is broken for both sides now: no room is left to post good frames.
            # librte_vhost re-reads entries the guest had back (its own memory); vfrelay
            # must only survive it (the checks after the case).
            time.sleep(0.5)
            return
        good = frames_from(env, 8, seq_base)
        for f in good:
            if not drv.tx_send(f, kick=False):
                raise V.Fail('the guest TX ring is full')
        got, bad = collect(env, {V.frame_seq(f): f for f in good})
        time.sleep(0.2)
        drv.tx_reclaim()
        after = env.b_stats()
        dt = time.monotonic() - t0
        hostile_left = sum(1 for tok, _ids in ring.owner.values()
                           if isinstance(tok, tuple))
        V.log(f'  {len(got)}/8 good frames out intact, {len(bad)} corrupted; {hostile_left} '
              f'hostile entries not used; relay A +{env.stream.back - a0} frames back in '
              f'{dt:.1f} s; tx_packets +{after["tx_packets"] - before["tx_packets"]}')
        if bad:
            raise V.Fail(f'{len(bad)} of the good frames left the VF corrupted')
        if got and len(got) != 8:
            raise V.Fail(f'relay B\'s TX neither kept working nor stopped: {len(got)}/8 out')
        if not got:
            V.log('  relay B\'s TX stopped on the hostile entries (allowed)')
            H.expect_counted(before, after, TX_STUCK)
        elif builder is not t_avail_jump:
            V.check(hostile_left == 0, 'the hostile entries were used (and nothing of them sent)')
            H.expect_counted(before, after, TX_BAD)
    finally:
        drv.close()
        mem.close()


# --------------------------------------------------------------------------
# Checksum requests


def csum16(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


SRC6 = bytes.fromhex('fd000000000000000000000000000001')
DST6 = bytes.fromhex('fd000000000000000000000000000002')


def padn(n):
    """Hop-by-hop/destination options filling exactly @n bytes (PadN, PadN...)."""
    out = b''
    while n > 0:
        if n == 1:
            out += b'\0'
            break
        k = min(n - 2, 255)
        out += bytes([1, k]) + bytes(k)
        n -= k + 2
    return out


def ipv6_udp(dst_mac, src_mac, seq, ext_len=(8, 8), data_len=120):
    """IPv6 with a hop-by-hop (and destination options) header of @ext_len bytes each,
    then UDP; the UDP checksum field holds the pseudo-header sum, as a guest leaves it
    with NEEDS_CSUM. Returns (frame, csum_start)."""
    payload = struct.pack('!4sI', b'VFRT', seq) + bytes((seq + i) & 0xff
                                                        for i in range(data_len - 8))
    udp_len = 8 + len(payload)
    exts = b''
    lens = [n for n in ext_len if n]
    for k, n in enumerate(lens):
        nxt = 60 if k + 1 < len(lens) else 17
        exts += bytes([nxt, n // 8 - 1]) + padn(n - 2)
    first = 0 if lens else 17
    ip = struct.pack('!IHBB16s16s', 6 << 28, len(exts) + udp_len, first, 64, SRC6, DST6)
    pseudo = csum16(SRC6 + DST6 + struct.pack('!IxxxB', udp_len, 17))
    udp = struct.pack('!HHHH', 40001, 50001, udp_len, pseudo)
    frame = dst_mac + src_mac + b'\x86\xdd' + ip + exts + udp + payload
    return frame, 14 + 40 + len(exts)


def udp6_csum_ok(frame, l4):
    udp = frame[l4:]
    pseudo = SRC6 + DST6 + struct.pack('!IxxxB', len(udp), 17)
    return csum16(pseudo + udp) == 0xffff


def run_csum(env, seq, ext_len, start_delta=0, offset=6, as_sent_ok=False):
    drv = env.b_driver(want=VU.DEFAULT_FEATURES | VU.bit(VU.F_CSUM))
    try:
        if not drv.features & VU.bit(VU.F_CSUM):
            raise V.Fail('relay B does not offer VIRTIO_NET_F_CSUM')
        env.port_b.drain()
        before = env.b_stats()
        frame, l4 = ipv6_udp(env.port_b.mac, H.B_MAC, seq, ext_len)
        start = l4 + start_delta
        hdr = VU.NET_HDR.pack(VU.NET_HDR_F_NEEDS_CSUM, 0, 0, 0, start, offset, 0)
        drv.tx_send(frame, hdr=hdr)
        marker = struct.pack('!4sI', b'VFRT', seq)
        out = None
        sock = env.port_b.sock
        sock.settimeout(0.05)
        deadline = time.monotonic() + 1.5
        try:
            while out is None and time.monotonic() < deadline:
                try:
                    data, addr = sock.recvfrom(65536)
                except socket.timeout:
                    continue
                if addr[2] != socket.PACKET_OUTGOING and marker in data:
                    out = data
        finally:
            sock.settimeout(None)
        time.sleep(0.2)
        after = env.b_stats()
        dropped = after['tx_drop_bad_offload'] - before['tx_drop_bad_offload']
        if out is None:
            V.check(dropped >= 1, f'the frame was dropped and counted (tx_drop_bad_offload '
                    f'+{dropped})')
            return
        if as_sent_ok and out == frame:
            V.log('  the frame left exactly as the guest built it (request ignored)')
            return
        V.check(len(out) == len(frame), f'frame length {len(out)} as sent ({len(frame)})')
        same = out[:l4 + 6] == frame[:l4 + 6] and out[l4 + 8:] == frame[l4 + 8:]
        V.check(same, 'every byte but the UDP checksum as sent')
        V.check(udp6_csum_ok(out, l4), f'the UDP checksum is correct (0x'
                f'{struct.unpack("!H", out[l4 + 6:l4 + 8])[0]:04x})')
    finally:
        drv.close()


CSUM_CASES = [
    ('tx_csum_ipv6_ext_headers', dict(ext_len=(8, 8))),
    ('tx_csum_ipv6_600_byte_ext_header', dict(ext_len=(600,))),
    ('tx_csum_offset_past_frame', dict(ext_len=(8,), offset=2000)),
    ('tx_csum_start_past_frame', dict(ext_len=(8,), start_delta=4000, as_sent_ok=True)),
]


def scenario():
    with H.HoEnv('hotx', b_mode='server', b_zero_copy='auto') as env:
        env.start()
        cases = H.Cases(env, 'hostile_tx')
        for k, (name, builder) in enumerate(DESC_CASES):
            cases.run(name, lambda b=builder, s=k * 16: run_desc(env, b, s))
        for k, (name, kw) in enumerate(CSUM_CASES):
            cases.run(name, lambda kw=kw, s=0x60000000 + k: run_csum(env, s, **kw))
        cases.finish()


if __name__ == '__main__':
    V.main(scenario)
