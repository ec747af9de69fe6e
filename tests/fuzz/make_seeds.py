#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Write the seed corpora in tests/fuzz/corpus/<harness>/ (checked in; run again after changing
how a harness reads its input, then commit what changed). --check says whether the checked-in
seeds are what it would write now: they follow lists in the headers (counters, fallback
reasons), and a stale seed silently stops reaching what it was written for.

Binary seeds are encoded here in the order each harness reads its bytes, so every seed is a
meaningful starting point: a valid ring and memory table with traffic, real frames, real
configs. Each function's docstring says what its seeds are.
"""

import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Where corpus/ and regress/ are written: here, or a temporary directory for --check.
OUT = HERE


def write(harness, name, data, where='corpus'):
    """corpus/: seeds. regress/: reproducers of findings, replayed by `meson test --suite fuzz`
    and used as seeds by scripts/fuzz."""
    d = os.path.join(OUT, where, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# --------------------------------------------------------------------------------------------
# fwd_config: plain INI text (docs/configuration.md, README, the integration harness)

CONFIG_DOC = """; /etc/vfrelay/vm1.ini
[vfrelay]
name = vm1                    ; also DPDK --file-prefix
lcores = 2,3-4                ; CPU 2: control thread, CPUs 3 and 4: workers
eal = --log-level=lib.eal:notice
idle_backoff = on
idle_sleep_max_us = 1000
burst = 32
tx_retries = 4

[relay net0]
vf = 0000:3b:02.0
vhost = /run/vfrelay/vm1/net0.sock
vhost_mode = client
queues = 2
zero_copy = auto
mtu = 1500
rx_ring_size = 1024
tx_ring_size = 1024

[relay net1]                  ; every key not given takes its default
vf = 0000:3b:02.1
vhost = /run/vfrelay/vm1/net1.sock
"""

# The same with CPUs and a directory every machine has, so it parses.
CONFIG_VALID = (CONFIG_DOC.replace('2,3-4', '0,1').replace('/run/vfrelay/vm1', '/tmp'))

CONFIG_MINIMAL = """[vfrelay]
name = test
lcores = 0,1
eal = --no-huge --no-pci -m 512

[relay net0]
vf = net_null0,copy=1
vhost = /tmp/vfrelay-test-net0.sock
vhost_mode = server
"""

CONFIG_SERVER_ACCESS = """[vfrelay]
name = vm2
lcores = 0,1

[relay net0]
vf = net_null0
vhost = /tmp/vm2-net0.sock
vhost_mode = server
socket_user = root
socket_group = 0
socket_mode = 0660
zero_copy = on
zero_copy_unknown_vf = port-stop
"""

# Every key with a value the other seeds do not use.
CONFIG_OTHER_VALUES = """[vfrelay]
name = vm-3
lcores = 1,0
eal = --no-huge -a 0000:00:00.0 --log-level=lib.eal:debug
idle_backoff = off
idle_sleep_max_us = 100000
burst = 64
tx_retries = 0

[relay n_3]
vf = 0000:00:00.0
vhost = /tmp/vm-3.sock
vhost_mode = server
queues = 16
zero_copy = off
zero_copy_unknown_vf = off
mtu = 9000
rx_ring_size = 4096
tx_ring_size = 64
socket_user = 0
socket_group = root
socket_mode = 0600
"""

CONFIG_INTEGRATION = """[vfrelay]
name = vfrt-trf
lcores = 0,1
eal = --no-huge -m 256

[relay net0]
vf = net_af_packet0,iface=vfrt-trf0,qpairs=1
vhost = /tmp/net0.sock
queues = 1
zero_copy = off
mtu = 9000
"""


def config_seeds():
    """Valid configs (docs, README, integration tests) and one of each documented mistake."""
    write('fwd_config', 'doc_example.ini', CONFIG_DOC)
    write('fwd_config', 'doc_example_local.ini', CONFIG_VALID)
    write('fwd_config', 'minimal.ini', CONFIG_MINIMAL)
    write('fwd_config', 'integration.ini', CONFIG_INTEGRATION)
    write('fwd_config', 'server_access.ini', CONFIG_SERVER_ACCESS)
    write('fwd_config', 'crlf_bom.ini', '\ufeff' + CONFIG_MINIMAL.replace('\n', '\r\n'))
    relays = ''.join(f'[relay n{i}]\nvf = net_null{i}\nvhost = /tmp/s{i}.sock\n'
                     for i in range(16))
    write('fwd_config', 'sixteen_relays.ini',
          '[vfrelay]\nname = many\nlcores = 0-1\n' + relays)
    write('fwd_config', 'err_seventeen_relays.ini', '[vfrelay]\nname = many\nlcores = 0-1\n' +
          relays + '[relay n16]\nvf = net_null16\nvhost = /tmp/s16.sock\n')
    write('fwd_config', 'every_key_other_value.ini', CONFIG_OTHER_VALUES)
    mistakes = {
        'bad_queues': CONFIG_MINIMAL + 'queues = 0\n',
        'eal_owned': CONFIG_MINIMAL.replace('-m 512', '-m 512 --file-prefix=x'),
        'text_after_header': '[vfrelay] name = vm1\n',
        'unknown_section': '[vfrelayd]\nname = x\n',
        'dup_key': CONFIG_MINIMAL + 'mtu = 1500\nmtu = 9000\n',
        'key_outside': 'name = x\n' + CONFIG_MINIMAL,
        'no_relay': '[vfrelay]\nname = x\nlcores = 0,1\n',
        'relay_dash': CONFIG_MINIMAL.replace('[relay net0]', '[relay net-0]'),
        'ring_not_pow2': CONFIG_MINIMAL + 'rx_ring_size = 1000\n',
        'lcores_range': CONFIG_MINIMAL.replace('lcores = 0,1', 'lcores = 3-1'),
        'long_line': '[vfrelay]\neal = ' + 'x' * 5000 + '\n',
        'socket_mode_world': CONFIG_SERVER_ACCESS.replace('0660', '0666'),
        'socket_user_unknown': CONFIG_SERVER_ACCESS.replace('= root', '= nosuchuser'),
        'vhost_dir_not_dir': CONFIG_MINIMAL.replace('/tmp/vfrelay-test-net0.sock',
                                                    '/etc/hostname/net0.sock'),
    }
    for name, text in mistakes.items():
        write('fwd_config', f'err_{name}.ini', text)
    # Finding: EAL reads "-vl0-1" as -v -l 0-1, overriding `lcores` (found by fuzzing).
    write('fwd_config', 'eal_short_option_cluster.ini',
          CONFIG_MINIMAL.replace('-m 512', '-m 512 -vl0-1'), where='regress')
    # Small error buffers (first byte below 0x08 picks one; see the harness).
    write('fwd_config', 'errbuf_2.bin', b'\x02' + mistakes['bad_queues'].encode())
    write('fwd_config', 'errbuf_40.bin', b'\x03' + mistakes['eal_owned'].encode())
    write('fwd_config', 'errbuf_null.bin', b'\x05' + mistakes['no_relay'].encode())


# --------------------------------------------------------------------------------------------
# hw_offload: a 20-byte control block, then a real frame


def csum16(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while s > 0xffff:
        s = (s & 0xffff) + (s >> 16)
    return s


def l4_header(proto, l4len, sport=40000, dport=5201):
    if proto == 'udp':
        return struct.pack('!HHHH', sport, dport, l4len, 0)
    # TCP, 20 bytes, ACK|PSH, window 502
    return struct.pack('!HHIIBBHHH', sport, dport, 1, 1, 5 << 4, 0x18, 502, 0, 0)


def frame(ipv, proto, payload=64, vlans=0, ext=(), ip_opts=0):
    """Ethernet (+ VLAN tags) + IPv4 (with option words) or IPv6 (+ extension headers of the
    given 8-byte units) + TCP/UDP + payload, lengths and IPv4 header checksum right, the L4
    checksum left for the device."""
    pnum = 6 if proto == 'tcp' else 17
    eth = bytes.fromhex('525400123402525400123401')
    for i in range(vlans):
        eth += struct.pack('!HH', 0x88a8 if (vlans == 2 and i == 0) else 0x8100, 100 + i)
    body = bytes((i * 7) & 0xff for i in range(payload))
    l4len = (8 if proto == 'udp' else 20) + payload
    l4 = l4_header(proto, l4len) + body
    if ipv == 4:
        ihl = 5 + ip_opts
        hdr = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, ihl * 4 + l4len, 0x1234, 0x4000, 64,
                          pnum, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
        hdr += b'\x01' * (4 * ip_opts)  # NOP options
        hdr = hdr[:10] + struct.pack('!H', 0xffff - csum16(hdr)) + hdr[12:]
        return eth + struct.pack('!H', 0x0800) + hdr + l4
    exts = b''
    nxt = pnum
    for kind, units in reversed(list(ext)):
        exts = bytes([nxt, units - 1]) + b'\x01\x04' + b'\0' * (units * 8 - 4) + exts
        nxt = kind
    src = bytes.fromhex('fd000000000000000000000000000001')
    dst = bytes.fromhex('fd000000000000000000000000000002')
    hdr = struct.pack('!IHBB', 6 << 28, len(exts) + l4len, nxt, 64) + src + dst
    return eth + struct.pack('!H', 0x86dd) + hdr + exts + l4


def ctrl(faithful=True, pseudo=True, fix_len=False, segs=1, rx=True, guest_csum_start=True,
         vf=0, vflags=1, gso_type=0, gso_size=0, split=0, rxmarks=0x8 | 0x2):
    """The harness's control block (see fuzz_hw_offload.c)."""
    c0 = (faithful * 1) | (pseudo * 2) | (fix_len * 4) | ((segs - 1) << 3) | (rx * 0x20) | \
        (guest_csum_start * 0x40)
    return struct.pack('<BBBBHHHHBBBB', c0, vf, vflags, gso_type, gso_size, 0, 0, split & 0xffff,
                       0, rxmarks, 0, 0) + b'\0' * 4


# VF offload bits of ctrl[1]: IPV4_CKSUM, TCP_CKSUM, UDP_CKSUM, SCTP_CKSUM, TCP_TSO, UDP_TSO
VF_NONE, VF_ALL, VF_TSO_ONLY = 0x00, 0x3f, 0x10


def offload_seeds():
    """IPv4/IPv6 TCP/UDP with and without VLAN tags, IPv4 options and IPv6 extension headers,
    NEEDS_CSUM on a VF without checksum offload (the software path), the same on a VF with
    every offload, GSO frames, a frame in three segments, and the VF's RX direction."""
    cases = {
        'v4_udp': frame(4, 'udp'),
        'v4_tcp': frame(4, 'tcp', payload=1448),
        'v4_tcp_opts': frame(4, 'tcp', ip_opts=2),
        'v4_udp_vlan': frame(4, 'udp', vlans=1),
        'v4_tcp_qinq': frame(4, 'tcp', vlans=2),
        'v6_udp': frame(6, 'udp'),
        'v6_tcp': frame(6, 'tcp', payload=1200),
        'v6_udp_vlan': frame(6, 'udp', vlans=1),
        'v6_udp_hopopts': frame(6, 'udp', ext=[(0, 1)]),
        'v6_tcp_dstopts': frame(6, 'tcp', ext=[(60, 2)]),
        'v6_udp_hop_dst_rt': frame(6, 'udp', ext=[(0, 1), (60, 1), (43, 3)]),
        'v6_tcp_vlan_ext': frame(6, 'tcp', vlans=1, ext=[(60, 1)]),
    }
    for name, f in cases.items():
        write('hw_offload', f'{name}_swcsum', ctrl(vf=VF_NONE) + f)
        write('hw_offload', f'{name}_hwcsum', ctrl(vf=VF_ALL) + f)
    write('hw_offload', 'v4_tcp_gso', ctrl(vf=VF_TSO_ONLY, gso_type=1, gso_size=1448) +
          frame(4, 'tcp', payload=4000))
    write('hw_offload', 'v6_tcp_gso', ctrl(vf=VF_ALL, gso_type=4, gso_size=1428) +
          frame(6, 'tcp', payload=4000))
    write('hw_offload', 'v4_udp_ufo_no_vf', ctrl(vf=VF_NONE, gso_type=3, gso_size=1472) +
          frame(4, 'udp', payload=3000))
    write('hw_offload', 'v4_tcp_3segs', ctrl(vf=VF_NONE, segs=3, split=30) + frame(4, 'tcp'))
    write('hw_offload', 'v6_udp_raw_marks', ctrl(faithful=False, vf=VF_NONE) +
          frame(6, 'udp', ext=[(0, 1)]))
    write('hw_offload', 'v4_udp_no_mark', ctrl(vflags=0, vf=VF_NONE) + frame(4, 'udp'))
    # Findings in the IPv6 software checksum (found by fuzzing; see docs/security.md):
    # it sums payload_len bytes from the L4 header, past the frame by the extension headers...
    write('hw_offload', 'v6_ext_sum_past_frame', ctrl(vf=VF_NONE) +
          frame(6, 'udp', ext=[(0, 1)]), where='regress')
    # ... and with the frame padded the read stays inside but the checksum is wrong ...
    write('hw_offload', 'v6_ext_wrong_csum', ctrl(vf=VF_NONE) +
          frame(6, 'tcp', ext=[(60, 1)]) + bytes(16), where='regress')
    # ... and extension headers over 511 bytes wrap the 9-bit l3_len: the checksum is
    # written into the extension header.
    write('hw_offload', 'v6_ext_l3_len_wraps', ctrl(vf=VF_NONE) +
          frame(6, 'udp', ext=[(0, 64)]), where='regress')


# --------------------------------------------------------------------------------------------
# qsync_vring: a guest (memory table, ring) and a sequence of operations, in the byte order
# fuzz_qsync_vring.c reads them


PAGE = 4096


class QsyncSeed:
    """Encodes one guest for fuzz_qsync_vring.c; method names follow the harness."""

    def __init__(self, pa=False):
        self.b = bytearray([1 if pa else 0])
        self.pa = pa

    def u8(self, v):
        self.b += struct.pack('<B', v & 0xff)

    def u16(self, v):
        self.b += struct.pack('<H', v & 0xffff)

    def u32(self, v):
        self.b += struct.pack('<I', v & 0xffffffff)

    def u64(self, v):
        self.b += struct.pack('<Q', v & 0xffffffffffffffff)

    def regions(self, regs):
        """regs: list of (size_pages 1..4, hva_page_offset, gpa_kind, gpa_arg); sizes in whole
        pages (pick_size kind 1) so the seed's page counts are known."""
        self.u8(len(regs) - 1)
        self.npages = []
        for pages, off, gkind, garg in regs:
            self.u8(1)
            self.u8(pages - 1)
            if off:
                self.u8(1)
                self.u16(off)
            else:
                self.u8(0)
            self.u8(gkind)
            if gkind in (0, 4):
                self.u16(garg)
            elif gkind == 2:
                self.u8(garg)
            elif gkind in (3, 5, 6):
                self.u64(garg)
            self.npages.append((off + pages * PAGE + PAGE - 1) // PAGE)

    def pagemap(self, kind=0, pfn=0x1000, holes=()):
        """Every region: consecutive PFNs from pfn (kind 0), or kind 2 with holes at the
        given page indexes."""
        for n in self.npages:
            self.u8(kind)
            self.u8(0)
            self.u32(pfn - 1)
            if kind == 2:
                for p in range(n):
                    if p in holes:
                        self.u8(0)
                        self.u8(1)  # not present
                    else:
                        self.u8(1)
            pfn += n + 16
        self.u8(0)  # the real pagemap, not the short one

    def ring(self, size_shift, event_idx=True, mrg=True, last_avail=0, buf=None):
        f = (2 if event_idx else 0) | (4 if mrg else 0) | 8
        self.u8(f)
        self.u8(1)
        self.u8(size_shift)
        if buf is None:
            self.u8(3)  # 1536
        else:
            self.u8(1)
            self.u8(buf - 1)
        self.u16(last_avail)
        self.u8(1)
        self.min_len = 12 + (1536 if buf is None else buf)

    def post(self, bufs):
        """bufs: (region, offset, len_kind, flags_kind); at most 16 per call."""
        self.u8(0)
        self.u8(len(bufs) - 1)
        for region, off, len_kind, flags_kind in bufs:
            self.u8(1)  # the next descriptor id
            self.u8(region)
            self.u8(len_kind)
            self.u8(region)
            self.u8(5)
            self.u64(off)
            self.u8(flags_kind)
            self.u16(0)

    def scribble(self, area, off, data):
        self.u8(2)
        self.u8(len(data) - 1)
        self.u8(area)
        self.u32(off)
        for x in data:
            self.u8(x)

    def control(self, kind, arg=0):
        self.u8(3)
        self.u8(kind)
        if kind in (0, 1):
            self.u16(arg)
        elif kind == 2:
            self.u8(0)
            self.u16(arg)

    def pop(self, n):
        self.u8(4)
        self.u8(1)
        self.u8(n - 1)

    def complete(self, picks):
        """picks: (index into the held list, used-length kind)."""
        self.u8(6)
        self.u8(1)
        self.u8(len(picks) - 1)
        for idx, kind in picks:
            self.u32(idx)
            self.u8(kind)
            if kind == 1:
                self.u8(7)  # claims 8 bytes more than the buffer holds
            elif kind == 3:
                self.u32(64)

    def complete_all(self, held):
        """Every held buffer (the harness reads a pick for each of them)."""
        self.u8(6)
        self.u8(0)
        for i in range(held):
            self.u32(held - 1 - i)
            self.u8(0)

    def flush(self):
        self.u8(8)

    def hand_back(self):
        self.u8(9)

    def lookup(self, region, off, length):
        self.u8(10)
        self.u8(1)
        self.u16(length)
        self.u8(region)
        self.u8(5)
        self.u64(off)
        self.u8(1)

    def avail_count(self):
        self.u8(11)


def traffic(q, region=0, n=8, stride=1600):
    q.post([(region, i * stride, 0, 4) for i in range(n)])
    q.avail_count()
    q.pop(n)
    q.complete([(n - 1 - i, 0) for i in range(n // 2)])  # out of order
    q.flush()
    q.complete_all(n - n // 2)
    q.flush()


def qsync_seeds():
    """VA and PA guests with traffic (posted, popped, completed out of order, flushed, handed
    back), wrapping indices, bad descriptors of every kind, notification settings, an avail
    index jump, and a memory table at the edges of the address space."""
    two = [(4, 0, 0, 0), (4, 100, 1, 0)]  # low memory, and an adjacent region
    q = QsyncSeed()
    q.regions(two)
    q.ring(8)
    for _ in range(3):
        traffic(q)
        traffic(q, region=1)
    q.post([(0, i * 1600, 0, 4) for i in range(6)])
    q.pop(6)
    q.complete([(2, 0), (0, 1)])
    q.hand_back()  # a held buffer after a completed one: zero-length completions
    q.post([(1, i * 1600, 0, 4) for i in range(4)])
    q.pop(4)
    q.hand_back()  # only held buffers: rewound
    q.pop(4)
    q.complete_all(4)
    q.flush()
    write('qsync_vring', 'va_two_regions_traffic', bytes(q.b))

    q = QsyncSeed(pa=True)
    q.regions(two)
    q.pagemap()
    q.ring(8)
    traffic(q)
    traffic(q, region=1)
    q.lookup(0, PAGE - 8, 64)
    write('qsync_vring', 'pa_contiguous_traffic', bytes(q.b))

    q = QsyncSeed(pa=True)
    q.regions([(4, 0, 0, 0)])
    q.pagemap(kind=2, holes=(2,))
    q.ring(4)
    q.post([(0, i * 1600, 0, 4) for i in range(8)])
    q.pop(8)  # the buffers touching page 2 are refused
    q.flush()
    q.hand_back()
    q.flush()
    write('qsync_vring', 'pa_hole', bytes(q.b))

    q = QsyncSeed()
    q.regions([(4, 0, 5, 0x100000000)])
    q.ring(4, event_idx=False, last_avail=0xfff0)
    for _ in range(6):
        traffic(q, n=8)
    q.control(1, 1)  # VRING_AVAIL_F_NO_INTERRUPT
    traffic(q, n=8)
    write('qsync_vring', 'va_index_wrap_no_event_idx', bytes(q.b))

    q = QsyncSeed()
    q.regions([(2, 0, 0, 0), (2, 0, 1, 0)])
    q.ring(6, mrg=False, buf=200)
    # chained, indirect, read-only, too small, crossing into the adjacent region, beyond it
    q.post([(0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 0, 2), (0, 0, 1, 4), (0, 2 * PAGE - 100, 0, 4),
            (1, 2 * PAGE - 1, 0, 4), (0, 512, 0, 4)])
    q.pop(7)
    q.flush()
    q.control(0, 0x9000)  # avail->idx jumps past the ring
    q.avail_count()
    q.pop(4)
    q.control(3)
    q.control(2, 3)
    traffic(q, n=8, stride=400)
    write('qsync_vring', 'va_bad_descriptors', bytes(q.b))

    q = QsyncSeed()
    # near 0, ending just below 2^64, at 4 GiB, and one ending at exactly 2^64 would be refused
    q.regions([(1, 0, 0, 0x10), (2, 33, 2, 1), (1, 0, 4, 0x1000), (1, 7, 1, 0)])
    q.ring(5)
    for r in range(4):
        q.lookup(r, 0, 256)
        q.lookup(r, 4000, 200)
        traffic(q, region=r, n=2, stride=1600)
    write('qsync_vring', 'va_edge_regions', bytes(q.b))


# --------------------------------------------------------------------------------------------
# fwd_telemetry: a fake instance, then commands, in the order fuzz_fwd_telemetry.c reads them

NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'
PRINTABLE = ''.join(chr(c) for c in range(ord('!'), ord('!') + 94))


def x_macro_count(header, macro):
    """Entries of an X-macro list in include/vfrelay/<header>, as the harness sees them."""
    path = os.path.join(HERE, '..', '..', 'include', 'vfrelay', header)
    text = open(path).read()
    body = text[text.index('#define ' + macro):]
    body = body[:body.index('\n\n')]
    return len(re.findall(r'^\s*X\(\w+\)', body, re.MULTILINE))


N_COUNTERS = x_macro_count('stats.h', 'FWD_QUEUE_COUNTERS(X)')
QSYNC_FB_N = 1 + x_macro_count('qsync.h', 'QSYNC_FALLBACK_REASONS(X)')  # "none" first
CMDS = ['relays', 'stats', 'zero_copy', 'lcores', 'log_level']
ZC = {'auto': 0, 'on': 1, 'off': 2}


class TelemetrySeed(QsyncSeed):
    def __init__(self):
        self.b = bytearray()
        self.names = []

    def word(self, text, chars):
        self.u8(len(text) - 1)
        for ch in text:
            self.u8(chars.index(ch))

    def relay(self, name, zero_copy='auto', queues=1, vf=None, vid=0, small=False):
        self.names.append(name)
        self.word(name, NAME_CHARS)
        if vf is None:
            self.u8(0)  # "net_null<i>"
        else:
            self.u8(1)
            self.u8(len(vf) - 1)
            for ch in vf:
                self.u8(PRINTABLE.index(ch))
        self.word(f'tmp/{name}.sock', PRINTABLE)
        self.u8(1)  # server
        self.u8(ZC[zero_copy])
        self.u32(1500 - 68)
        self.u8(queues - 1)
        self.u8(1)
        self.u8(vid)
        # features, connects, disconnects, connections and messages refused, failed
        for v in (0x130afffa7, 3, 2, 1, 5, 1):
            self.u64(v)
        self.u32(4096)  # mbufs in use
        self.u16(0)
        self.u8(1)  # net_iavf
        for q in range(queues):
            self.u8(q + 1)  # lcore
            self.u8(q & 1)  # zero-copy mode
            self.u8(1)
            self.u8(1)
            for k in range(N_COUNTERS):
                if small:
                    self.u8(2 * k)  # even: the next byte is the value
                    self.u8(q)
                else:
                    self.u8(1)
                    self.u64((k + 1) * 1000003 + q)
            if zero_copy != 'off':
                self.u64(5)
                self.u32(6)
                self.u16(512)
                self.u8(q % QSYNC_FB_N)
                for f in range(QSYNC_FB_N):
                    self.u8(f)

    def workers(self, n):
        self.u8(n)
        for w in range(n):
            self.u8(0)
            self.u8(2)
            self.u64(10 ** 12)
            self.u64(10 ** 11)
            self.u32(10 ** 9)
            self.u32(10 ** 8)
            self.u16(100)

    def attach(self, have=True):
        self.u8(1 if have else 0)

    def cmd(self, name, params=None):
        """params: None, ('name', i), ('zc', i, mode index), ('log', glob, level) or bytes."""
        self.u8(CMDS.index(name))
        if self.names:
            self.u8(params[1] if isinstance(params, tuple) and params[0] != 'log' else 0)
        if params is None:
            self.u8(0)
        elif isinstance(params, tuple) and params[0] == 'name':
            self.u8(1)
        elif isinstance(params, tuple) and params[0] == 'zc':
            self.u8(2)
            self.u8(params[2])
        elif isinstance(params, tuple) and params[0] == 'log':
            self.u8(3)
            self.u8(params[1])
            self.u8(params[2])
        else:
            self.u8(4)
            self.u32(len(params) - 1)
            for ch in params:
                self.u8(ch - 1)
        self.u8(1)  # no allocation failure


def telemetry_seeds():
    """Two relays (zero copy auto and off) and two workers with every command, including a
    mode change seen by the next /vfrelay/relays; no instance at all; the largest instance
    (16 relays of 16 queues, 64 workers); raw parameters."""
    t = TelemetrySeed()
    t.u8(2)
    t.relay('net0', 'auto', queues=2)
    t.relay('net_1', 'off', queues=2, vf='net_af_packet0,iface=vfrt-zc0,qpairs=2')
    t.workers(2)
    t.attach()
    t.cmd('relays')
    t.cmd('stats', ('name', 0))
    t.cmd('stats', ('name', 1))
    t.cmd('zero_copy', ('zc', 0, 2))  # net0,off
    t.cmd('relays')
    t.cmd('zero_copy', ('zc', 1, 0))  # net_1 has no zero copy: refused
    t.cmd('lcores')
    t.cmd('log_level')
    write('fwd_telemetry', 'two_relays_every_command', bytes(t.b))

    t = TelemetrySeed()
    t.u8(2)
    t.relay('a', 'on')
    t.relay('b', 'auto')
    t.workers(1)
    t.attach()
    t.cmd('log_level', ('log', 0, 0))  # vfrelay.*,debug
    t.cmd('log_level', ('log', 4, 6))  # [,  -> refused
    t.cmd('stats', b'a,b')
    t.cmd('zero_copy', b'b,on')
    write('fwd_telemetry', 'log_level_and_raw', bytes(t.b))

    t = TelemetrySeed()
    t.u8(0)
    t.workers(0)
    t.attach(False)
    for c in CMDS:
        t.cmd(c, b'net0' if c == 'stats' else None)
    write('fwd_telemetry', 'no_instance', bytes(t.b))

    t = TelemetrySeed()
    t.u8(16)
    for i in range(16):
        t.relay(f'r{i:02d}' + 'x' * 27, 'off', queues=16, small=True)
    t.workers(64)
    t.attach()
    t.cmd('relays')
    t.cmd('stats', ('name', 15))
    t.cmd('lcores')
    write('fwd_telemetry', 'largest_instance', bytes(t.b))

    # Findings (see docs/security.md): /vfrelay/log_level lists logtypes under keys like
    # "vfrelay.fwd", which librte_telemetry 22.11 refuses ('.' is not a key character) ...
    t = TelemetrySeed()
    t.u8(0)
    t.workers(0)
    t.attach()
    t.cmd('log_level')
    write('fwd_telemetry', 'log_level_list_keys', bytes(t.b), where='regress')
    # ... and /vfrelay/relays cuts a `vf` device string of 128 characters or more.
    t = TelemetrySeed()
    t.u8(1)
    t.relay('net0', 'off', vf='net_af_packet0,iface=' + 'v' * 100 + ',qpairs=1,blocksz=4096')
    t.workers(0)
    t.attach()
    t.cmd('relays')
    write('fwd_telemetry', 'relays_long_vf', bytes(t.b), where='regress')


def check():
    """--check: are the checked-in seeds what this script writes now? (0 yes, 1 no)"""
    global OUT
    import filecmp
    import tempfile
    with tempfile.TemporaryDirectory(prefix='vfr-seeds.') as tmp:
        OUT = tmp
        generate(set())
        stale = []
        for where in ('corpus', 'regress'):
            for root, _, files in os.walk(os.path.join(tmp, where)):
                for f in files:
                    new = os.path.join(root, f)
                    old = os.path.join(HERE, os.path.relpath(new, tmp))
                    if not os.path.exists(old) or not filecmp.cmp(new, old, shallow=False):
                        stale.append(os.path.relpath(old, HERE))
    for f in stale:
        print(f'stale seed: tests/fuzz/{f}', file=sys.stderr)
    if stale:
        print('run tests/fuzz/make_seeds.py and commit the seeds it writes', file=sys.stderr)
    return 1 if stale else 0


def generate(which):
    for name, fn in (('fwd_config', config_seeds), ('hw_offload', offload_seeds),
                     ('qsync_vring', qsync_seeds), ('fwd_telemetry', telemetry_seeds)):
        if not which or name in which:
            fn()


def main():
    args = sys.argv[1:]
    if args == ['--check']:
        sys.exit(check())
    generate(set(args))


if __name__ == '__main__':
    main()
