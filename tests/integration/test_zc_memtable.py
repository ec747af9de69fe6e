#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""A memory table re-sent while zero-copy traffic flows.

The guest is vfr-guest on hugepages with dynamic memory (no --no-huge, no
--legacy-mem), so its DPDK heap can grow. `--grow-mem MB@SEC` makes it allocate
MB MiB at SEC s: the heap maps new hugepages, and virtio_user's memory event
callback (virtio_user_mem_event_cb, DPDK 22.11) disables the queue pair
(SET_VRING_ENABLE 0 on both vrings), re-sends SET_MEM_TABLE with the grown
region and enables the pair again, all while the host keeps running. librte_vhost
then unmaps the old regions and maps the new ones at new host addresses, so a
VF still writing through the old mapping would write into nothing (or into
whatever got mapped there) and a stale ring snapshot would lose ring state.

vfrelay's VF is net_af_packet on a veth; the namespace side streams frames in
vfr-guest's format (one flow, sizes 60..1514) and the guest echoes them back.
Two growths (64 MiB, then 32 MiB) happen under that stream. Checked:

  * the guest's heap really grew and a memory event fired (else nothing here
    tests anything: FAIL, not pass);
  * vfrelay quiesced zero copy for each re-send ("zero copy off (guest ring
    change)"), the new table was mapped while it was off (librte_vhost's
    "read message VHOST_USER_SET_MEM_TABLE" / "guest memory region" lines in the
    same log), and it bound again afterwards ("zero copy on"): mode back to
    zero-copy, rx_zc_packets growing and no copy-path bytes after each rebind;
  * traffic continues after each growth: the guest's rx_ok and the echoes grow;
  * the guest found no corruption: rx_bad == rx_oob == stale_writes == 0, no
    duplicate or reordered frame (a lost or rewound used index shows up as
    one), every pool buffer back at the exit scan; no CRIT (shells still held
    by the VF at a quiesce), stuck worker or crash in vfrelay's log.

What this does not cover: virtio_user brackets the re-send with ring disable /
enable, so the quiesce here comes from SET_VRING_ENABLE 0 (pre-handler and
vring_state_changed) and the SET_MEM_TABLE pre-handler finds zero copy already
off. QEMU's memory hotplug re-sends the table with the rings running; there the
SET_MEM_TABLE pre-handler itself must quiesce (a QEMU pc-dimm hotplug under
traffic, the qemu suite's territory).

Hugepages: the test reserves what the guest needs (2 MB pages, through
/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages, only as many as are
missing) and puts the previous value back at the end. The guest uses
--in-memory (hugepage memfds: no hugetlbfs mount needed, nothing left behind
in /dev/hugepages) and --single-file-segments (one fd per memseg list, so the
table stays within vhost-user's 8 regions and grows by region size). If the
pages cannot be reserved, the test prints why and exits 77 (meson: SKIP).
vfrelay itself stays on --no-huge.

Usage: test_zc_memtable.py [PATH-OF-vfr-guest]  (meson passes it)
"""

import json
import os
import re
import signal
import struct
import sys
import threading
import time

import vfrtest as V
import zctest as Z

GUEST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    'VFR_GUEST', os.path.join(V.BUILD_DIR, 'tests', 'guest', 'vfr-guest'))

HUGE_SYSFS = '/sys/kernel/mm/hugepages/hugepages-2048kB'
GROWS = [(64, 8.0), (32, 12.0)]     # (MiB, seconds into the guest's run; startup takes ~2)
GUEST_BASE_MB = 96                  # what vfr-guest maps before growing (measured ~40)
PAGES = (GUEST_BASE_MB + sum(mb for mb, _ in GROWS)) // 2 + 16
RATE_PPS = 3000                     # cap of the stream; the echo window paces it too
ETH_P_VFR = 0x88b5
ETH_P_PROBE = 0x88b6
MAGIC = 0x56465231
HDR_LEN = 14 + 16
FLOW = 5
QUIESCE = 'zero copy off (guest ring change)'
BIND = 'zero copy on'
MEM_TABLE = 'read message VHOST_USER_SET_MEM_TABLE'
REGION = 'guest memory region size'


# --------------------------------------------------------------------------
# Hugepages


def _read_int(path):
    with open(path) as f:
        return int(f.read().split()[0])


class Hugepages:
    """Make @need free 2 MB pages available; restore nr_hugepages afterwards (only if
    nobody changed it meanwhile). `skip` says why it could not, or is None."""

    def __init__(self, need):
        self.need = need
        self.prev = None
        self.set_to = None
        self.skip = None

    def __enter__(self):
        nr_path = os.path.join(HUGE_SYSFS, 'nr_hugepages')
        try:
            total = _read_int(nr_path)
            free = _read_int(os.path.join(HUGE_SYSFS, 'free_hugepages'))
        except OSError as e:
            self.skip = f'no 2 MB hugepage support here ({e})'
            return self
        if free >= self.need:
            V.log(f'==> hugepages: {free} free 2 MB pages already, {self.need} needed')
            return self
        want = total + (self.need - free)
        try:
            with open(nr_path, 'w') as f:
                f.write(str(want))
        except OSError as e:
            self.skip = (f'cannot reserve {self.need} 2 MB hugepages: writing {want} to '
                         f'{nr_path}: {e}')
            return self
        got_total = _read_int(nr_path)
        self.prev, self.set_to = total, got_total
        free = _read_int(os.path.join(HUGE_SYSFS, 'free_hugepages'))
        V.log(f'==> hugepages: nr_hugepages {total} -> {got_total} (asked {want}), '
              f'{free} free, {self.need} needed')
        if free < self.need:
            self.skip = (f'the kernel gave only {free} free 2 MB hugepages of the {self.need} '
                         f'needed (nr_hugepages {got_total} of {want} asked: memory too '
                         f'fragmented or limited)')
        return self

    def __exit__(self, *exc):
        if self.prev is None:
            return False
        nr_path = os.path.join(HUGE_SYSFS, 'nr_hugepages')
        try:
            cur = _read_int(nr_path)
            if cur == self.set_to:
                with open(nr_path, 'w') as f:
                    f.write(str(self.prev))
                V.log(f'==> hugepages: nr_hugepages back to {self.prev}')
            else:
                V.log(f'==> hugepages: nr_hugepages is {cur}, not the {self.set_to} set '
                      f'here: someone else changed it, left alone')
        except OSError as e:
            V.log(f'==> hugepages: cannot restore nr_hugepages {self.prev}: {e}')
        return False


# --------------------------------------------------------------------------
# The stream


_PATTERN = bytes((i * 7) & 0xff for i in range(256 + 2048))


def vfr_frame(dst, src, seq, flow, size):
    """vfr-guest's format (tests/guest/README.md): payload byte i is
    (seq*31 + i*7 + flow) & 0xff = 7 * (i + 183*base) mod 256, a window of one table."""
    hdr = struct.pack('!IIHHI', MAGIC, seq, flow, 0, size)
    off = (183 * ((seq * 31 + flow) & 0xff)) & 0xff
    return dst + src + struct.pack('!H', ETH_P_VFR) + hdr + _PATTERN[off:off + size - HDR_LEN]


class Stream(threading.Thread):
    """Frames seq 0, 1, ... on one flow, at most @window not yet echoed and at most
    RATE_PPS; counts the echoes. A lost echo (50 ms without one) resets the window."""

    def __init__(self, port, dst, window=32):
        super().__init__(daemon=True)
        self.port, self.dst, self.window = port, dst, window
        self.sent = 0
        self.echoed = 0
        self.stop_req = threading.Event()
        self.error = None
        span = 1514 - 60 + 1
        self.sizes = [60 + (i * 7919) % span for i in range(span)]

    def run(self):
        sock = self.port.sock
        sock.settimeout(0.05)
        back = 0
        t0 = time.monotonic()
        try:
            while not self.stop_req.is_set():
                while self.sent - back < self.window and \
                        self.sent < (time.monotonic() - t0) * RATE_PPS:
                    size = self.sizes[self.sent % len(self.sizes)]
                    sock.send(vfr_frame(self.dst, self.port.mac, self.sent, FLOW, size))
                    self.sent += 1
                try:
                    data, addr = sock.recvfrom(65536)
                except OSError:
                    back = self.sent
                    continue
                if addr[2] != 4 and data[12:14] == b'\x88\xb5':  # 4: PACKET_OUTGOING
                    self.echoed += 1
                    back += 1
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = e
        finally:
            sock.settimeout(None)


def warm_up(port, timeout=20):
    """Probes (another ethertype) until the guest echoes one: the whole path is up."""
    probe = b'\xff' * 6 + port.mac + struct.pack('!H', ETH_P_PROBE) + b'\0' * 46
    deadline = time.monotonic() + timeout
    port.sock.settimeout(0.2)
    try:
        while True:
            if time.monotonic() > deadline:
                raise V.Fail(f'no probe came back through vfrelay and the guest in {timeout}s')
            port.sock.send(probe)
            try:
                data, addr = port.sock.recvfrom(65536)
            except OSError:
                continue
            if addr[2] != 4 and data[12:14] == probe[12:14]:
                break
    finally:
        port.sock.settimeout(None)
    time.sleep(0.2)
    port.drain()
    V.log('  ok: the guest echoes probes: the path is up')


# --------------------------------------------------------------------------


def relay_lines(env):
    return env.relay_proc.log_text().splitlines()


def wait_grow(guest, n, timeout):
    """The guest's n-th (1-based) 'grow-mem' line."""
    def pred():
        if not guest.alive():
            raise V.Fail(f'vfr-guest exited with {guest.p.returncode}: {guest.tail(5)}')
        lines = [ln for ln in guest.log_text().splitlines() if 'vfr-guest: grow-mem' in ln]
        return lines[n - 1] if len(lines) >= n else None
    return V.wait_until(pred, timeout, f'vfr-guest grow-mem #{n}', interval=0.2)


def check_table_applied_while_off(env, i, nm):
    """librte_vhost's log (same file, INFO) shows the re-sent table: the last zero-copy
    transition before it mapped the new regions must be a quiesce, and a bind follows.
    (virtio_user disables the rings first, so the quiesce comes from the ring disable;
    a QEMU hotplug keeps them enabled and the SET_MEM_TABLE pre-handler does it.)"""
    def pred():
        lines = relay_lines(env)
        mt = [k for k, ln in enumerate(lines) if MEM_TABLE in ln]
        if len(mt) <= nm:
            return None
        m = mt[nm]
        region = next((k for k in range(m, len(lines)) if REGION in lines[k]), None)
        if region is None:
            return None
        before = [lines[k] for k in range(region) if QUIESCE in lines[k] or BIND in lines[k]]
        after = [k for k in range(region, len(lines)) if BIND in lines[k]]
        return (m, region, before[-1] if before else '', after)
    m, region, last, after = V.wait_until(pred, 10, f'growth #{i}: SET_MEM_TABLE in the log')
    V.check(QUIESCE in last, f'growth #{i}: zero copy was off when SET_MEM_TABLE was applied '
            f'(last transition before it: "{last.strip()}")')
    V.check(bool(after), f'growth #{i}: zero copy bound again after the new table '
            f'({len(after)} "{BIND}" line(s) after it)')


def zc_after(env, stream, what):
    """Zero copy rebound and carrying the stream; the guest's echoes keep coming."""
    st = Z.wait_mode(env, 'zero-copy', state='none', timeout=15)
    e0 = stream.echoed
    a, b = Z.rates(env, 1.5)
    V.check(b['rx_zc_packets'] > a['rx_zc_packets'],
            f'{what}: rx_zc_packets grows (+{b["rx_zc_packets"] - a["rx_zc_packets"]} in 1.5 s)')
    V.check_eq(b['rx_copy_bytes'] - a['rx_copy_bytes'], 0, f'{what}: rx_copy_bytes delta')
    V.check(stream.echoed > e0, f'{what}: the guest keeps echoing (+{stream.echoed - e0})')
    return st


def scenario():
    # From here on, as in V.Env: SIGTERM (meson's timeout) unwinds, so nr_hugepages
    # is put back even if it comes before the Env exists.
    signal.signal(signal.SIGTERM, V._sigterm)
    if not os.access(GUEST, os.X_OK):
        V.log(f'SKIP: {GUEST} not found or not executable')
        sys.exit(V.SKIP)
    with Hugepages(PAGES) as huge:
        if huge.skip:
            V.log(f'SKIP: {huge.skip}')
            sys.exit(V.SKIP)
        run(huge)


def run(huge):
    with V.Env('zcmt') as env:
        report = os.path.join(env.tmp, 'guest.json')
        grow_args = []
        for mb, sec in GROWS:
            grow_args += ['--grow-mem', f'{mb}@{sec:g}']
        cmd = [GUEST, '--lcores=0@0', '--in-memory', '--single-file-segments', '--no-pci',
               f'--file-prefix={env.guest_prefix}',
               f'--vdev=net_virtio_user0,path={env.sock},server=1,queues=1,mrg_rxbuf=1', '--',
               '--mode', 'rx,echo', '--report', report, '--duration', '60'] + grow_args
        V.log(f'==> vfr-guest (hugepages, in-memory) {" ".join(cmd[cmd.index("--") + 1:])}')
        guest = V.Proc('vfr-guest', cmd, env.tmp)
        env.procs.append(guest)
        env.guest_proc = guest
        V.wait_until(lambda: os.path.exists(env.sock) or not guest.alive(), 20,
                     'vfr-guest to create its vhost-user socket')
        env.start_relay([env.relay_config(zero_copy='auto')])
        env.wait_relay_state('running')
        V.wait_until(lambda: 'ready:' in guest.log_text() or not guest.alive(), 30,
                     'vfr-guest to start its port')
        if not guest.alive():
            raise V.Fail(f'vfr-guest exited during start: {guest.tail(5)}')
        t_ready = time.monotonic()
        Z.wait_mode(env, 'zero-copy', state='none')
        port = env.port()
        warm_up(port)
        stream = Stream(port, Z.GUEST_MAC)
        stream.start()
        try:
            zc_after(env, stream, 'before any growth')
            lead = GROWS[0][1] - (time.monotonic() - t_ready)
            V.check(lead > 0.5, f'the stream runs before the first growth ({lead:.1f} s left)')
            for i, (mb, sec) in enumerate(GROWS, 1):
                nq = sum(QUIESCE in ln for ln in relay_lines(env))
                nb = sum(BIND in ln for ln in relay_lines(env))
                nm = sum(MEM_TABLE in ln for ln in relay_lines(env))
                line = wait_grow(guest, i, sec + 20)
                V.log(f'  guest: {line.strip()}')
                V.check('allocated' in line, f'growth #{i}: {mb} MiB allocated')
                m = re.search(r'(\d+) memory event\(s\) mapping (\d+) MiB', line)
                V.check(m and int(m.group(1)) >= 1,
                        f'growth #{i}: the heap mapped new hugepages (memory event)')

                def quiesced_then_bound():
                    lines = relay_lines(env)
                    q = [k for k, ln in enumerate(lines) if QUIESCE in ln]
                    b = [k for k, ln in enumerate(lines) if BIND in ln]
                    return len(q) > nq and len(b) > nb and b[-1] > q[nq]
                V.wait_until(quiesced_then_bound, 10,
                             f'growth #{i}: vfrelay to log "{QUIESCE}" then "{BIND}"')
                check_table_applied_while_off(env, i, nm)
                zc_after(env, stream, f'after growth #{i}')
        finally:
            stream.stop_req.set()
            stream.join(5)
        if stream.error:
            raise V.Fail(f'the stream failed: {stream.error!r}')
        V.log(f'  stream: {stream.sent} frames sent, {stream.echoed} echoed')
        time.sleep(0.5)

        V.log('==> vfr-guest stops (SIGTERM), closes its port and scans its pool')
        guest.stop(timeout=30)
        rc = guest.p.returncode
        with open(report) as f:
            rep = json.load(f)
        V.log(f'  report: {json.dumps(rep)}')
        V.check_eq(rc, 0, 'vfr-guest exit code')
        for k in ('rx_bad', 'rx_oob', 'stale_writes', 'rx_dup', 'rx_reorder',
                  'bufs_not_returned'):
            V.check_eq(rep[k], 0, f'vfr-guest {k}')
        V.check_eq(len(rep['grows']), len(GROWS), 'vfr-guest growths done')
        for i, g in enumerate(rep['grows'], 1):
            V.check(g['ok'] and g['mem_events'] >= 1 and g['heap_after'] > g['heap_before'],
                    f'growth #{i}: {g["mb"]} MiB, {g["mem_events"]} memory event(s), heap '
                    f'{g["heap_before"] >> 20} -> {g["heap_after"] >> 20} MiB, '
                    f'{g["took_ms"]:.1f} ms')
        last = rep['grows'][-1]['rx_ok_before']
        V.check(rep['rx_ok'] > last + 1000,
                f'rx_ok grows after the last growth ({last} -> {rep["rx_ok"]})')
        V.check(rep['rx_ok'] + rep['rx_gap'] <= stream.sent,
                f'rx_ok {rep["rx_ok"]} + rx_gap {rep["rx_gap"]} <= sent {stream.sent}')
        st = Z.qstats(env)
        V.log('  relay q0: ' + ', '.join(f'{k}={v}' for k, v in st.items()
                                          if k.startswith(('rx_', 'zc_', 'mode'))
                                          and v not in (0, 'none')))
        V.check_eq(st['zc_shells_held'], 0, 'zc_shells_held after the guest left')
        V.check(env.relay_proc.alive(), 'vfrelay still running')
        Z.check_relay_log_clean(env.relay_proc)


if __name__ == '__main__':
    V.main(scenario)
