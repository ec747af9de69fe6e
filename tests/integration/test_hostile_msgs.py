#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Hostile vhost-user messages on relay B (vfrelay vhost_mode = server, zero_copy =
auto) while relay A carries a stream that must lose nothing (hotest.py).

Legal, at odd times (random_sequence_*): a seeded random walk over ring enable
toggles, memory tables re-sent (a region added, removed, or the same table),
GET_VRING_BASE on a running ring followed by a ring restart, RESET_OWNER and a
new handshake, new kick/call fds, the same features or ring addresses again, and
queries; after every step relay B must carry 8 frames in and 4 out, intact, and
after every stop (GET_VRING_BASE answered) no buffer the guest owns may have been
written. Run with zero copy, then again with relay B switched to
zero_copy = off (/vfrelay/zero_copy). HOSTILE_STEPS sets the walk's length
(default 40), HOSTILE_SEED its seed.

One vring stopped (GET_VRING_BASE) and restarted alone, as a per-queue reset does
(one_vring_stopped_and_restarted): the other direction must keep working.

Refused, with REPLY_ACK (the connection stays up):
  refused_msg_keeps_zero_copy    a refused SET_FEATURES (LOG_ALL plus a bit never
                                 offered) must not leave zero copy off: it is bound
                                 again within 2 s without any further message
                                 (issue 9 item 4), and with zero_copy = on RX is
                                 not left parked
  ring_size_invalid_running      SET_VRING_NUM 0, 3 or 65536 on a running ring

Out of the protocol (each must be refused, vfrelay unharmed, counted):
  inflight_fd_not_negotiated     GET_INFLIGHT_FD without INFLIGHT_SHMFD: no memory
                                 may be allocated for it (librte_vhost memsets
                                 num_queues x queue_size-sized memfds: 64 x 32768
                                 costs vfrelay 32 MiB, 256 x 32768 128 MiB)
  inflight_fd_short_mapping      SET_INFLIGHT_FD mapping 4 KiB for 256 queues of
                                 4096: librte_vhost writes past the mapping
  log_base_with_offset           SET_LOG_BASE with mmap_offset 4096 then dirty
                                 logging: librte_vhost maps `size` bytes at the
                                 offset but adds the offset again to the base
  region_beyond_file             a memory region larger than its memfd, buffers in
                                 the part past the end of the file (SIGBUS)
  file_shrunk_after_table        the memfd truncated after SET_MEM_TABLE: vfrelay
                                 survives the SIGBUS (the region turns to zero pages)
                                 and counts it in guest_memory_faults
  malformed_*                    wrong sizes, stray or too many fds, unknown
                                 requests, nregions > 8 or != fds, vring index 255

With the argument `client`, relay B is vhost_mode = client (vfrelay connects to the
front-end's socket) and a subset runs: the random walk, the refused message, the
invalid ring sizes and three malformed messages.

Counters: a refused message is expected in `messages_refused` of
/vfrelay/relays; connections are in connects/disconnects.
"""

import contextlib
import os
import random
import struct
import sys
import time

import hotest as H
import vfrtest as V
import vhostuser as VU
import zctest as Z

STEPS = int(os.environ.get('HOSTILE_STEPS', '40'))
SEED = int(os.environ.get('HOSTILE_SEED', '9'))
REFUSED = 'messages_refused'


def counted_refusal(env, before):
    H.expect_relay_counted(env, before, REFUSED)


# --------------------------------------------------------------------------
# Random legal sequences


class Walk:
    """One well-behaved device on relay B taken through random legal steps."""

    def __init__(self, env, rng):
        self.env, self.rng = env, rng
        self.mem = VU.GuestMemory.simple(32 << 20)
        self.extra = None
        self.drv = env.b_driver(mem=self.mem)
        self.steps = []

    def check(self, what):
        env, drv = self.env, self.drv
        env.b_rx(drv, env.b_frames(8), timeout=3.0)
        env.b_tx(drv, 4)
        if drv.stale_writes:
            raise V.Fail(f'{what}: stale writes {drv.stale_writes[:3]}')

    def stopped_check(self, what):
        """After GET_VRING_BASE: harvest, then nothing posted may be written."""
        drv = self.drv
        drv.rx_poll(repost=False)
        time.sleep(0.05)
        n = drv.check_posted_poison() + drv.check_all_poison()
        if n:
            raise V.Fail(f'{what}: {n} buffers written after GET_VRING_BASE was answered: '
                         f'{drv.stale_writes[:3]}')

    # -- steps --------------------------------------------------------------

    def rx_toggle(self):
        self.drv.fe.set_vring_enable(VU.RX, False)
        self.drv.fe.set_vring_enable(VU.RX, True)

    def tx_toggle(self):
        self.drv.fe.set_vring_enable(VU.TX, False)
        self.drv.fe.set_vring_enable(VU.TX, True)

    def both_toggle(self):
        for i in (VU.RX, VU.TX):
            self.drv.fe.set_vring_enable(i, False)
        for i in (VU.RX, VU.TX):
            self.drv.fe.set_vring_enable(i, True)

    def memtable_add(self):
        if self.extra is None:
            self.extra = VU.Region(0x1000_0000 + self.rng.randrange(16) * (4 << 20), 4 << 20,
                                   name='ho-hotplug')
            self.mem.regions.append(self.extra)
        else:
            self.mem.regions.remove(self.extra)
            self.extra.close()
            self.extra = None
        self.drv.fe.set_mem_table(self.mem)

    def memtable_same(self):
        self.drv.fe.set_mem_table(self.mem)

    def get_base(self, i):
        drv = self.drv
        base = drv.fe.get_vring_base(i)
        if i == VU.RX:
            self.stopped_check('GET_VRING_BASE rx')
            r = drv.rings[VU.RX]
            if r.last_used != base:
                raise V.Fail(f'GET_VRING_BASE rx answered {base}, but the used index is '
                             f'{r.last_used}: buffers in flight were not handed back')
        else:
            drv.tx_reclaim()
        drv.restart_ring(i, base=base)

    def get_base_rx(self):
        self.get_base(VU.RX)

    def get_base_tx(self):
        self.get_base(VU.TX)

    def new_fds(self):
        drv = self.drv
        i = self.rng.choice((VU.RX, VU.TX))
        fds = drv.kick if self.rng.random() < 0.5 else drv.callfd
        old = fds[i]
        fds[i] = VU.eventfd()
        (drv.fe.set_vring_kick if fds is drv.kick else drv.fe.set_vring_call)(i, fds[i])
        os.close(old)

    def same_features(self):
        self.drv.fe.set_features(self.drv.features)

    def same_addr(self):
        r = self.drv.rings[self.rng.choice((VU.RX, VU.TX))]
        self.drv.fe.set_vring_addr(r.index, *r.addrs())

    def queries(self):
        fe = self.drv.fe
        fe.get_features()
        fe.get_protocol_features()
        fe.get_queue_num()

    def reset_owner(self):
        drv = self.drv
        drv.fe.reset_owner()
        drv.rx_reclaim_all()
        drv.tx_reclaim()
        drv.tx_free = list(range(drv.qsize))
        self.stopped_check('RESET_OWNER')
        drv.start()

    def all_steps(self):
        return [self.rx_toggle, self.tx_toggle, self.both_toggle, self.memtable_add,
                self.memtable_same, self.get_base_rx, self.get_base_tx, self.new_fds,
                self.same_features, self.same_addr, self.queries, self.reset_owner]

    def run(self, n):
        steps = self.all_steps()
        self.check('before the walk')
        for k in range(n):
            step = self.rng.choice(steps)
            self.steps.append(step.__name__)
            try:
                step()
                if self.rng.random() < 0.3:
                    continue   # two steps back to back, no traffic in between
                self.check(f'step {k} ({step.__name__})')
            except (V.Fail, VU.VhostError) as e:
                raise V.Fail(f'after steps {self.steps[-6:]}: {e}') from None
        self.check('after the walk')
        V.log(f'  ok: {n} random legal steps ({", ".join(sorted(set(self.steps)))}), traffic '
              f'intact after each')

    def close(self):
        self.drv.close()
        self.mem.close()


def case_random(env, seed, n=STEPS):
    w = Walk(env, random.Random(seed))
    try:
        w.run(n)
        w.drv.stop()
        w.stopped_check('the final stop')
    finally:
        w.close()


def case_one_ring_stopped(env):
    """GET_VRING_BASE on one vring and a restart of that vring only (what a per-queue
    reset does): the other direction must keep working."""
    for i, name in ((VU.TX, 'tx'), (VU.RX, 'rx')):
        drv = env.b_driver()
        try:
            env.b_prove(drv, 8, 'before')
            base = drv.fe.get_vring_base(i)
            if i == VU.RX:
                drv.rx_poll(repost=False)
            else:
                drv.tx_reclaim()
            drv.restart_ring(i, base=base)
            env.wait_relay_state('running', relay='net1')
            time.sleep(0.2)
            q = env.b_stats()
            V.check(q['rx_enabled'] == 1 and q['tx_enabled'] == 1,
                    f'after the {name} vring alone was stopped and restarted, both directions '
                    f'are enabled (rx_enabled {q["rx_enabled"]}, tx_enabled {q["tx_enabled"]})')
            env.b_prove(drv, 8, f'after the {name} vring alone was restarted')
        finally:
            drv.close()
        env.wait_b_down()


# --------------------------------------------------------------------------
# Refused messages


def case_refused_keeps_zc(env, mode):
    if env.zc_mode_b() != mode:
        V.telemetry(env.name, f'/vfrelay/zero_copy,net1,{mode}')
    drv = env.b_driver()
    try:
        env.b_prove(drv, 8, 'before the refused message')
        bogus = drv.features | VU.bit(VU.F_LOG_ALL) | VU.bit(63)
        st = drv.fe.set_features(bogus, ack=True, check=False)
        V.check(st != 0, f'SET_FEATURES with a bit never offered is refused (ack {st})')
        V.check(env.b_info()['state'] == 'running', 'relay B still running')
        Z.wait_mode(env, 'zero-copy', relay='net1', timeout=2)
        env.b_prove(drv, 8, 'after the refused message')
    finally:
        drv.close()
        if mode != 'auto':
            V.telemetry(env.name, '/vfrelay/zero_copy,net1,auto')


def case_ring_size_running(env):
    for num in (0, 3, 65536):
        drv = env.b_driver()
        try:
            st = drv.fe.set_vring_num(VU.RX, num, ack=True, check=False)
            V.check(st != 0, f'SET_VRING_NUM {num} on a running ring is refused (ack {st})')
            # Refused: the ring must be as it was.
            env.b_prove(drv, 8, f'after SET_VRING_NUM {num} was refused')
        except VU.Closed:
            V.log(f'  connection closed on SET_VRING_NUM {num} (allowed)')
        finally:
            drv.close()
        env.wait_b_down()


# --------------------------------------------------------------------------
# Out of the protocol


def inflight_fds(env):
    return [t for t in env.fd_targets() if 'inflight' in t]


def case_inflight_get(env):
    before = env.b_info()
    drv = env.b_driver()
    try:
        n0 = len(inflight_fds(env))
        try:
            body = drv.fe.get_inflight_fd(64, 32768)
            mmap_size = struct.unpack('<Q', body[:8])[0] if len(body) >= 8 else 0
            for fd in drv.fe.last_fds:
                os.close(fd)
        except VU.Closed:
            mmap_size = 0
        n1 = len(inflight_fds(env))
        V.check(n1 == n0 and mmap_size == 0,
                f'GET_INFLIGHT_FD without INFLIGHT_SHMFD negotiated allocates nothing '
                f'(vfrelay now holds {n1 - n0} inflight memfd(s), reply says {mmap_size} '
                f'bytes)')
    finally:
        drv.close()
    counted_refusal(env, before)


def case_inflight_set(env):
    before = env.b_info()
    drv = env.b_driver()
    fd = os.memfd_create('ho-inflight')
    try:
        os.ftruncate(fd, 4096)
        try:
            st = drv.fe.set_inflight_fd(fd, 4096, 0, 256, 4096, ack=True, check=False)
            V.check(st != 0, f'SET_INFLIGHT_FD (not negotiated, 4 KiB for 256 queues) refused '
                    f'(ack {st})')
        except VU.Closed:
            V.log('  connection closed on SET_INFLIGHT_FD')
    finally:
        os.close(fd)
        drv.close()
    counted_refusal(env, before)


def case_log_base_offset(env):
    before = env.b_info()
    # As QEMU does for a migration: LOG_ALL comes later, with the log base.
    drv = env.b_driver(protocol=VU.DEFAULT_PROTOCOL | VU.bit(VU.PF_LOG_SHMFD))
    fd = os.memfd_create('ho-log')
    try:
        os.ftruncate(fd, 2 * 4096)
        refused = False
        try:
            drv.fe.set_log_base(fd, 4096, 4096)
            st = drv.fe.set_features(drv.features | VU.bit(VU.F_LOG_ALL), ack=True, check=False)
            refused = st != 0
        except VU.Closed:
            refused = True
        if not refused:
            # Dirty logging on: every write into guest memory sets a bit in the log.
            env.b_rx(drv, env.b_frames(16), timeout=2.0, expect_all=False, problems=[])
            time.sleep(0.3)
    finally:
        os.close(fd)
        drv.close()
    if env.died():
        raise V.Fail(f'vfrelay died ({env.died()}) logging dirty pages through a log base '
                     f'with mmap_offset 4096')
    if refused:
        counted_refusal(env, before)


def case_region_beyond_file(env):
    before = env.b_info()
    mem = VU.GuestMemory([VU.Region(0, 8 << 20, file_size=4 << 20, name='ho-short')])
    fe = env.b_frontend()
    drv = VU.VirtioNet(fe, mem=mem, n_rx_bufs=300)   # rings and buffers in the first 4 MiB
    try:
        try:
            drv.start(post=False)
        except VU.VhostError as e:
            V.log(f'  refused during set-up: {e}')
            drv = None
        if drv is not None:
            ring = drv.rings[VU.RX]
            for k in range(8):
                (d,) = ring.take_ids(1)
                gpa = (6 << 20) + k * 4096          # past the end of the file
                ring.write_desc(d, gpa, 2048, VU.D_WRITE)
                drv.post_raw(d, [d], [(gpa, 2048)])
            ring.publish()
            for f in env.b_frames(8):
                env.port_b.sock.send(f)
            time.sleep(0.5)
    finally:
        if drv is not None:
            drv.close()
        else:
            fe.close()
        mem.close()
    if env.died():
        raise V.Fail(f'vfrelay died ({env.died()}) writing a guest region past the end of '
                     f'its file')
    counted_refusal(env, before)


def case_file_shrunk(env):
    before = env.b_info()
    mem = VU.GuestMemory([VU.Region(0, 8 << 20, name='ho-shrink')])
    fe = env.b_frontend()
    drv = VU.VirtioNet(fe, mem=mem, n_rx_bufs=300)
    try:
        drv.start(post=False)
        env.wait_relay_state('running', relay='net1')
        ring = drv.rings[VU.RX]
        gpas = []
        for k in range(8):
            (d,) = ring.take_ids(1)
            gpa = (6 << 20) + k * 4096
            ring.write_desc(d, gpa, 2048, VU.D_WRITE)
            drv.post_raw(d, [d], [(gpa, 2048)])
            gpas.append(gpa)
        ring.publish()
        # The guest owns its memory file: it can take the pages away at any time.
        os.ftruncate(mem.regions[0].fd, 4 << 20)
        for f in env.b_frames(8):
            env.port_b.sock.send(f)
        time.sleep(0.5)
    finally:
        drv.close()
        with contextlib.suppress(BufferError, ValueError, OSError):
            mem.close()
    if env.died():
        raise V.Fail(f'vfrelay died ({env.died()}) writing guest memory whose file the guest '
                     f'truncated')
    H.expect_relay_counted(env, before, 'guest_memory_faults')


# -- malformed messages -----------------------------------------------------


def malformed(env, what, send):
    """@send(fe) puts something broken on a fresh connection; vfrelay must close it or
    refuse it and stay unharmed."""
    before = env.b_info()
    fe = env.b_frontend()
    try:
        send(fe)
        # Whatever vfrelay decided, it must still answer (or have closed us).
        with contextlib.suppress(VU.VhostError):
            fe.sock.settimeout(2.0)
            fe.get_features()
    finally:
        fe.close()
    time.sleep(0.2)
    if env.died():
        raise V.Fail(f'vfrelay died ({env.died()}) on {what}')
    # librte_vhost refuses some (a size or header it cannot read) before vfrelay's hooks
    # see them: the connection then closes before its device ever ran, and that counts.
    now = env.b_info()
    refused = now.get(REFUSED, 0) - before.get(REFUSED, 0)
    failed = now.get('connections_failed', 0) - before.get('connections_failed', 0)
    V.check(refused >= 1 or failed >= 1,
            f'{what} counted: messages_refused +{refused}, connections_failed +{failed}')


def m_oversize(fe):
    fe.send(VU.Req.SET_FEATURES, struct.pack('<Q', 0), size=0x10000)


def m_truncated_header(fe):
    fe.sock.sendall(b'\x01\x00\x00\x00\x01\x00')
    fe.sock.shutdown(1)


def m_unknown_request(fe):
    fe.send(99, b'\0' * 8)


def m_stray_fds(fe):
    a, b = VU.eventfd(), VU.eventfd()
    try:
        fe.send(VU.Req.GET_FEATURES, b'', fds=[a, b])
    finally:
        os.close(a)
        os.close(b)


def m_too_many_fds(fe):
    mem = VU.GuestMemory([VU.Region(k << 24, 1 << 20) for k in range(10)])
    try:
        body = struct.pack('<II', 10, 0) + b''.join(r.wire() for r in mem.regions)
        fe.send(VU.Req.SET_MEM_TABLE, body, fds=[r.fd for r in mem.regions])
    finally:
        mem.close()


def m_nregions_mismatch(fe):
    mem = VU.GuestMemory([VU.Region(0, 1 << 20), VU.Region(1 << 24, 1 << 20)])
    try:
        body = struct.pack('<II', 2, 0) + b''.join(r.wire() for r in mem.regions)
        fe.send(VU.Req.SET_MEM_TABLE, body, fds=[mem.regions[0].fd])
    finally:
        mem.close()


def m_vring_index_255(fe):
    fe.get_features()
    for req in (VU.Req.SET_VRING_NUM, VU.Req.SET_VRING_BASE, VU.Req.SET_VRING_ENABLE):
        fe.send(req, struct.pack('<II', 255, 256))
    fe.send(VU.Req.SET_VRING_CALL, struct.pack('<Q', 255 | VU.VRING_NOFD))


MALFORMED = [
    ('malformed_size_field_too_big', m_oversize),
    ('malformed_truncated_header', m_truncated_header),
    ('malformed_unknown_request', m_unknown_request),
    ('malformed_fds_on_get_features', m_stray_fds),
    ('malformed_ten_regions', m_too_many_fds),
    ('malformed_nregions_not_fds', m_nregions_mismatch),
    ('malformed_vring_index_255', m_vring_index_255),
]


def scenario_client():
    """Relay B in vhost_mode = client: vfrelay connects to vhostuser.py's Listener and
    connects again (librte_vhost retries every second) after each departure."""
    with H.HoEnv('homsgc', b_mode='client', b_zero_copy='auto') as env:
        env.start()
        cases = H.Cases(env, 'hostile_msgs_client')
        cases.run('random_sequence_zc', lambda: case_random(env, SEED + 2))
        cases.run('refused_msg_keeps_zero_copy', lambda: case_refused_keeps_zc(env, 'auto'))
        cases.run('ring_size_invalid_running', lambda: case_ring_size_running(env))
        for name, fn in MALFORMED[:3]:
            cases.run(name, lambda f=fn, n=name: malformed(env, n, f))
        cases.finish()


def scenario():
    if len(sys.argv) > 1 and sys.argv[1] == 'client':
        scenario_client()
        return
    with H.HoEnv('homsg', b_mode='server', b_zero_copy='auto') as env:
        env.start()
        cases = H.Cases(env, 'hostile_msgs')
        cases.run('random_sequence_zc', lambda: case_random(env, SEED))
        cases.run('one_vring_stopped_and_restarted', lambda: case_one_ring_stopped(env))
        cases.run('refused_msg_keeps_zero_copy', lambda: case_refused_keeps_zc(env, 'auto'))
        cases.run('refused_msg_zero_copy_on_rx_not_parked',
                  lambda: case_refused_keeps_zc(env, 'on'))
        cases.run('ring_size_invalid_running', lambda: case_ring_size_running(env))
        cases.run('inflight_fd_not_negotiated', lambda: case_inflight_get(env))
        cases.run('inflight_fd_short_mapping', lambda: case_inflight_set(env))
        cases.run('log_base_with_offset', lambda: case_log_base_offset(env))
        cases.run('region_beyond_file', lambda: case_region_beyond_file(env))
        cases.run('file_shrunk_after_table', lambda: case_file_shrunk(env))
        for name, fn in MALFORMED:
            cases.run(name, lambda f=fn, n=name: malformed(env, n, f))
        V.telemetry(env.name, '/vfrelay/zero_copy,net1,off')
        env.b_zero_copy = 'off'
        cases.run('random_sequence_copy', lambda: case_random(env, SEED + 1))
        cases.finish()


if __name__ == '__main__':
    V.main(scenario)
