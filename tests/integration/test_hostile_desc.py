#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Hostile RX descriptors: relay B's guest (vhostuser.py) posts descriptors no
honest driver would, ahead of good buffers, while relay A carries a stream that
must lose nothing (hotest.py).

Guest memory for these cases (gpa: size, backing):

    0x0000_0000: 32 MiB  memfd A   rings and good buffers
    0x0200_0000:  4 MiB  memfd B   adjacent in guest-physical space, not in host VA
    (gap 0x0240_0000..0x0400_0000)
    0x0400_0000:  4 MiB  memfd C
    0x1_0000_0000: 5 GiB memfd D   sparse, for lengths near 2^32

Each case posts K = 4 hostile entries, then good 2048-byte buffers, then sends 8
frames from port B. What is required (argument `zc`: relay B zero_copy = auto and
bound before the case; `copy`: zero_copy = off, librte_vhost's copy path):

  refuse:C           the hostile entries come back with length 0, the 8 frames
                     arrive intact in the good buffers, counter C grows by >= 1
  refuse_or_stop:C   as refuse, or relay B receives nothing more (it stopped on
                     the entry); either way C grows, and a clean reconnect works
  deliver            the entry is legal in this mode: all 8 frames arrive intact
  refuse_or_deliver:C  as refuse, or the entries are used for frames, all intact
  survive            the virtio spec leaves the device's behaviour open: only the
                     checks after the case apply

After every case (hotest.Cases): vfrelay alive, log without crash/CRIT/sanitizer
line, relay A's stream intact, a clean reconnect to relay B carries traffic both
ways with no stale write.

Counters: rx_bad_desc and rx_desc_too_small count what qsync refuses on a
zero-copy queue. On the copy path librte_vhost validates descriptors itself
and stops at one it refuses without consuming it (nothing it could count):
vfrelay counts such a ring in rx_ring_stuck. rx_bad_ring counts an avail
index moved more than a ring ahead on both paths (the copy path then feeds the
ring nothing: librte_vhost would reuse heads the guest never re-posted).

Two copy-path cases only have to survive: librte_vhost 22.11 makes a
zero-length descriptor the first buffer of a mergeable frame, and writes into
a device-readable descriptor (it does not check VRING_DESC_F_WRITE on split
rings). Both stay inside the guest's own memory table: memory-safe for the
host, the misbehaving guest sees its own garbage.

Usage: test_hostile_desc.py zc|copy
"""

import contextlib
import sys
import time

import hotest as H
import vfrtest as V
import vhostuser as VU

MODE = sys.argv[1] if len(sys.argv) > 1 else 'zc'
K = 4
N_FRAMES = 8
BUF = 2048
R1, R2, R3 = 0x0200_0000, 0x0400_0000, 0x1_0000_0000
FAR = 0x4000_0000_0000


def memory():
    return VU.GuestMemory([
        VU.Region(0, 32 << 20, name='ho-a'),
        VU.Region(R1, 4 << 20, name='ho-b'),
        VU.Region(R2, 4 << 20, name='ho-c'),
        VU.Region(R3, 5 << 30, name='ho-d'),
    ])


# --------------------------------------------------------------------------
# Builders: post K hostile entries on drv's RX ring (not published).


def single(drv, addrs, length, flags=VU.D_WRITE):
    """One hostile descriptor per address in @addrs (each its own memory: a host that
    accepts them must not make them overwrite each other)."""
    ring = drv.rings[VU.RX]
    for addr in addrs:
        (d,) = ring.take_ids(1)
        ring.write_desc(d, addr, length, flags)
        drv.post_raw(d, [d], [(addr, length & 0xffffffff)])


def b_outside(drv, mem):
    single(drv, [FAR + k * 4096 for k in range(K)], BUF)


def b_gap(drv, mem):
    single(drv, [R1 + (4 << 20) + k * 4096 for k in range(K)], BUF)


def b_cross(drv, mem):
    # 1024 bytes at the end of region A, 1024 at the start of B: contiguous guest-physical
    # memory, two host mappings. One such place: one entry.
    single(drv, [R1 - 1024], BUF)


def b_len0(drv, mem):
    single(drv, [mem.alloc(BUF) for _ in range(K)], 0)


def b_len64(drv, mem):
    gpas = [mem.alloc(64) for _ in range(K)]
    ring = drv.rings[VU.RX]
    for g in gpas:
        (d,) = ring.take_ids(1)
        ring.write_desc(d, g, 64, VU.D_WRITE)
        drv.post_raw(d, [d], [(g, 64)])


def b_len_past_end(drv, mem):
    single(drv, [(16 << 20) + k * 4096 for k in range(K)], 0xffffffff)


def b_len_near_4g(drv, mem):
    ring = drv.rings[VU.RX]
    for k, ln in enumerate((0xffffffff, 0xfffffff0, 0xffffff8c, 0x80000000)):
        (d,) = ring.take_ids(1)
        g = R3 + k * 4096
        ring.write_desc(d, g, ln, VU.D_WRITE)
        drv.post_raw(d, [d], [(g, 4096)])


def b_readonly(drv, mem):
    single(drv, [mem.alloc(BUF) for _ in range(K)], BUF, flags=0)


def b_head_range(drv, mem):
    ring = drv.rings[VU.RX]
    for k in range(K):
        ring.post_head(ring.size + 5 + k, [], ('raw', 'bad', []))



def b_chain2(drv, mem):
    ring = drv.rings[VU.RX]
    for _ in range(K):
        a, b = ring.take_ids(2)
        ga, gb = mem.alloc(1024), mem.alloc(1024)
        ring.write_desc(a, ga, 1024, VU.D_WRITE | VU.D_NEXT, b)
        ring.write_desc(b, gb, 1024, VU.D_WRITE)
        drv.post_raw(a, [a, b], [(ga, 1024), (gb, 1024)])


def b_chain_loop(drv, mem):
    ring = drv.rings[VU.RX]
    for _ in range(K):
        a, b = ring.take_ids(2)
        ga, gb = mem.alloc(64), mem.alloc(64)
        ring.write_desc(a, ga, 64, VU.D_WRITE | VU.D_NEXT, b)
        ring.write_desc(b, gb, 64, VU.D_WRITE | VU.D_NEXT, a)
        drv.post_raw(a, [a, b], [(ga, 64), (gb, 64)])


def b_chain_next_range(drv, mem):
    ring = drv.rings[VU.RX]
    for _ in range(K):
        (a,) = ring.take_ids(1)
        g = mem.alloc(1024)
        ring.write_desc(a, g, 1024, VU.D_WRITE | VU.D_NEXT, 0xfff0)
        drv.post_raw(a, [a], [(g, 1024)])


def indirect(drv, mem, entries, table_len=None, table_gpa=None, tag='raw'):
    """K indirect heads, each a table of @entries [(addr, len, flags, next)]."""
    ring = drv.rings[VU.RX]
    for _ in range(K):
        (d,) = ring.take_ids(1)
        ents = entries(mem) if callable(entries) else entries
        tg = table_gpa if table_gpa is not None else mem.alloc(16 * max(len(ents), 1), 16)
        segs = []
        for i, (addr, ln, fl, nx) in enumerate(ents):
            if table_gpa is None or mem.region_of(tg + 16 * i, 16):
                mem.pack('<QIHH', tg + 16 * i, addr, ln, fl, nx)
            segs.append((addr, ln))
        tl = table_len if table_len is not None else 16 * len(segs)
        ring.write_desc(d, tg, tl, VU.D_INDIRECT)
        drv.post_raw(d, [d], segs, tag)


def b_ind_valid(drv, mem):
    indirect(drv, mem, lambda m: [(m.alloc(BUF), BUF, VU.D_WRITE, 0)])


def b_ind_outside(drv, mem):
    indirect(drv, mem, [], table_len=16, table_gpa=FAR)


def b_ind_len0(drv, mem):
    indirect(drv, mem, lambda m: [(m.alloc(BUF), BUF, VU.D_WRITE, 0)], table_len=0)


def b_ind_huge(drv, mem):
    indirect(drv, mem, lambda m: [(m.alloc(BUF), BUF, VU.D_WRITE, 0)], table_len=0xfffffff0)


def b_ind_nested(drv, mem):
    indirect(drv, mem, lambda m: [(m.alloc(64, 16), 16, VU.D_INDIRECT, 0)])


def b_ind_loop(drv, mem):
    indirect(drv, mem, lambda m: [(m.alloc(64), 64, VU.D_WRITE | VU.D_NEXT, 1),
                                  (m.alloc(64), 64, VU.D_WRITE | VU.D_NEXT, 0)])


def b_ind_cross(drv, mem):
    # One table of two entries straddling regions A and B (A's last 16 bytes, B's first
    # 16): legal, but not contiguous for the host. One head: K would share its buffers.
    ring = drv.rings[VU.RX]
    (d,) = ring.take_ids(1)
    tg = R1 - 16
    ents = [(mem.alloc(1024), 1024, VU.D_WRITE | VU.D_NEXT, 1),
            (mem.alloc(1024), 1024, VU.D_WRITE, 0)]
    for i, (addr, ln, fl, nx) in enumerate(ents):
        mem.pack('<QIHH', tg + 16 * i, addr, ln, fl, nx)
    ring.write_desc(d, tg, 32, VU.D_INDIRECT)
    drv.post_raw(d, [d], [(a, ln) for a, ln, _, _ in ents])


def b_avail_jump(drv, mem):
    ring = drv.rings[VU.RX]
    ring.avail_idx = (ring.avail_idx + ring.size + 7) & 0xffff


def b_avail_back(drv, mem):
    ring = drv.rings[VU.RX]
    ring.avail_idx = (ring.avail_idx - 3) & 0xffff


# name, builder, expectation with zero copy, expectation on the copy path
CASES = [
    ('addr_outside_memory', b_outside, 'refuse:rx_bad_desc', 'refuse_or_stop:rx_ring_stuck'),
    ('addr_in_region_gap', b_gap, 'refuse:rx_bad_desc', 'refuse_or_stop:rx_ring_stuck'),
    ('crosses_region_boundary', b_cross, 'refuse:rx_bad_desc', 'deliver'),
    ('len_zero', b_len0, 'refuse:rx_desc_too_small', 'survive'),
    ('len_64', b_len64, 'refuse:rx_desc_too_small', 'deliver'),
    # Only its first bytes are inside memory: using just those is memory-safe too.
    ('len_past_region_end', b_len_past_end, 'refuse_or_deliver:rx_bad_desc',
     'refuse_or_stop:rx_ring_stuck'),
    ('len_near_2^32_in_5g_region', b_len_near_4g, 'deliver', 'deliver'),
    ('device_readable_only', b_readonly, 'refuse:rx_bad_desc', 'survive'),
    ('head_out_of_range', b_head_range, 'refuse:rx_bad_desc', 'refuse_or_stop:rx_ring_stuck'),
    ('chain_of_two', b_chain2, 'refuse:rx_bad_desc', 'deliver'),
    ('chain_loop', b_chain_loop, 'refuse:rx_bad_desc', 'refuse_or_stop:rx_ring_stuck'),
    ('chain_next_out_of_range', b_chain_next_range, 'refuse:rx_bad_desc',
     'refuse_or_stop:rx_ring_stuck'),
    ('indirect_valid', b_ind_valid, 'refuse:rx_bad_desc', 'deliver'),
    ('indirect_table_outside', b_ind_outside, 'refuse:rx_bad_desc', 'refuse_or_stop:rx_ring_stuck'),
    ('indirect_len_zero', b_ind_len0, 'refuse:rx_bad_desc', 'refuse_or_stop:rx_ring_stuck'),
    ('indirect_len_near_2^32', b_ind_huge, 'refuse:rx_bad_desc', 'refuse_or_stop:rx_ring_stuck'),
    # Nested indirect tables are forbidden to drivers; what a device does is not specified.
    ('indirect_nested', b_ind_nested, 'refuse:rx_bad_desc', 'survive'),
    ('indirect_chain_loop', b_ind_loop, 'refuse:rx_bad_desc', 'refuse_or_stop:rx_ring_stuck'),
    ('indirect_table_crosses_regions', b_ind_cross, 'refuse:rx_bad_desc', 'deliver'),
    ('avail_idx_jump', b_avail_jump, 'refuse_or_stop:rx_bad_ring',
     'refuse_or_stop:rx_bad_ring'),
    ('avail_idx_backwards', b_avail_back, 'refuse_or_stop:rx_bad_ring',
     'refuse_or_stop:rx_bad_ring'),
]


def run_case(env, builder, expect):
    kind, _, counter = expect.partition(':')
    # A guest that lies about its avail index makes the host read entries it never wrote:
    # whatever the host does with them (used entries for heads never posted, writes into
    # buffers the guest still owns) is that guest's own doing.
    ring_lies = builder in (b_avail_jump, b_avail_back)
    mem = memory()
    drv = env.b_driver(mem=mem, post=False, want=VU.DEFAULT_FEATURES | VU.bit(VU.F_INDIRECT_DESC))
    try:
        env.port_b.drain()
        before = env.b_stats()
        builder(drv, mem)
        n_hostile = sum(1 for tok, _ids in drv.rings[VU.RX].owner.values()
                        if isinstance(tok, tuple))
        if ring_lies:
            drv.rings[VU.RX].publish()
        else:
            drv.rx_post(32)      # publishes the hostile entries and 32 good buffers
        problems = []
        got = env.b_rx(drv, env.b_frames(N_FRAMES), timeout=2.0, expect_all=False,
                       problems=problems)
        time.sleep(0.3)
        with contextlib.suppress(VU.VhostError):
            drv.rx_poll()
        after = env.b_stats()
        back = [n for _tag, n in drv.raw_used]
        if ring_lies:
            problems = []
        elif drv.stale_writes or drv.rings[VU.RX].unexpected or drv.bad_rx:
            raise V.Fail(f'relay B: stale writes {drv.stale_writes[:2]}, used ids never posted '
                         f'{drv.rings[VU.RX].unexpected[:2]}, protocol {drv.bad_rx[:2]}')
        if not problems and len(got) == N_FRAMES:
            outcome = 'kept working'
        elif not problems and not got:
            outcome = 'stopped'
        else:
            outcome = 'garbled'
        V.log(f'  relay B {outcome}: guest got {len(got)}/{N_FRAMES} frames intact, '
              f'{len(problems)} bad {problems[:2]}; {len(back)}/{n_hostile} hostile entries '
              f'back (lengths {sorted(set(back))}); mode {after["mode"]}')
        if kind == 'survive':
            return
        if kind == 'deliver':
            V.check(outcome == 'kept working', f'all {N_FRAMES} frames delivered intact')
            return
        if kind == 'refuse_or_deliver':
            V.check(outcome == 'kept working', f'all {N_FRAMES} frames delivered intact')
            if back and all(n > 0 for n in back):
                V.log('  the hostile entries were used (only their part inside memory)')
                return
            kind = 'refuse'
        if outcome == 'garbled':
            raise V.Fail(f'relay B neither kept working nor stopped: {len(got)}/{N_FRAMES} '
                         f'intact, {problems[:2]}')
        if kind == 'refuse' or outcome == 'kept working':
            V.check(outcome == 'kept working', f'the {N_FRAMES} frames after the hostile '
                    f'entries arrived intact (got {len(got)})')
            if not ring_lies:
                if any(n > 0 for n in back):
                    raise V.Fail(f'relay B wrote frames into the hostile entries (used lengths '
                                 f'{back})')
                V.check(len(back) == n_hostile, f'all {n_hostile} hostile entries came back '
                        f'unwritten (got {len(back)})')
        else:
            V.log('  relay B stopped on the hostile entry (allowed; the clean reconnect follows)')
        H.expect_counted(before, after, counter)
    finally:
        drv.close()


def scenario():
    zc = MODE == 'zc'
    with H.HoEnv('hodz' if zc else 'hodc', b_mode='server',
                 b_zero_copy='auto' if zc else 'off') as env:
        env.start()
        cases = H.Cases(env, f'hostile_desc_{MODE}')
        for name, builder, exp_zc, exp_copy in CASES:
            expect = exp_zc if zc else exp_copy
            cases.run(f'{name} [{expect}]', lambda b=builder, e=expect: run_case(env, b, e))
        cases.finish()


if __name__ == '__main__':
    V.main(scenario)
