# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Helpers shared by the zero-copy scenarios (test_zc_*.py), on top of vfrtest.

Zero copy is bound by vfrelay's control thread a tick after the guest comes up
(or after a ring change), so a scenario first waits for the queue's `mode` to
say "zero-copy" (or for `zc_state` to name the fallback) before it takes the
counter baseline; otherwise the first frames would legitimately go through the
copy path and the exact counter checks would be wrong for a reason that is not
a bug.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

import vfrtest as V

# Relay NET_NULL_MAC: frames from net_null carry zero MACs; nothing checks them.
GUEST_MAC = b'\x02\x00\x00\x00\x00\x01'


def qstats(env, q='q0', relay='net0'):
    return env.stats(relay)[q]


def wait_mode(env, mode, q='q0', relay='net0', timeout=20, state=None, poke=None):
    """Wait until @q of @relay reports `mode` == @mode (and `zc_state` == @state if given).
    @poke (a port): send it a frame on every poll, for a fallback zero copy only decides
    when it meets the guest's buffers (a per-frame VF takes one per frame)."""
    last = {}

    def pred():
        nonlocal last
        if not env.relay_proc.alive():
            raise V.Fail(f'{env.relay_proc.name} exited with {env.relay_proc.p.returncode}')
        if poke is not None:
            poke.sock.send(V.udp_frame(poke.mac, GUEST_MAC, 0xfffff800, 200))
        last = qstats(env, q, relay)
        return last.get('mode') == mode and (state is None or last.get('zc_state') == state)
    try:
        V.wait_until(pred, timeout, f'{relay} {q} mode "{mode}"'
                     + (f' zc_state "{state}"' if state else ''), interval=0.2)
    except V.Fail as e:
        raise V.Fail(f'{e}; last seen mode {last.get("mode")!r} zc_state '
                     f'{last.get("zc_state")!r}') from None
    V.log(f'  ok: {relay} {q} mode "{mode}", zc_state "{last.get("zc_state")}"')
    return last


def relay_log_problems(proc):
    """Lines of a vfrelay log that must never appear."""
    bad = []
    for ln in proc.log_text().splitlines():
        if 'CRIT' in ln or 'shells still held' in ln or 'still inside an RX burst' in ln \
                or 'cannot restart the VF RX queue' in ln or 'EAL: Error' in ln \
                or 'Segmentation' in ln or 'PANIC' in ln:
            bad.append(ln.strip())
    return bad


def check_relay_log_clean(proc):
    bad = relay_log_problems(proc)
    if bad:
        raise V.Fail(f'{proc.name} log has {len(bad)} bad line(s), first: {bad[:3]}')
    V.log(f'  ok: {proc.name} log has no CRIT, "shells still held" or stuck-worker line')


_RX_RE = re.compile(r'RX-packets:\s*(\d+)')


def guest_rx_packets(proc):
    """Last RX-packets figure of a testpmd started with --stats-period (port 0)."""
    text = proc.log_text()
    vals = _RX_RE.findall(text)
    return int(vals[-1]) if vals else None


def wait_guest_rx_grows(proc, timeout=10):
    first = guest_rx_packets(proc)
    V.wait_until(lambda: (guest_rx_packets(proc) or 0) > (first or 0), timeout,
                 f'{proc.name} RX-packets to grow past {first}', interval=0.5)
    return guest_rx_packets(proc)


class InteractiveGuest(V.Proc):
    """dpdk-testpmd -i with a pipe on stdin, so a scenario can type commands."""

    def __init__(self, name, cmd, logdir):
        # Not V.Proc.__init__: it connects stdin to /dev/null.
        self.name = name
        self.cmd = cmd
        self.log_path = os.path.join(logdir, f'{name}.log')
        self._logf = open(self.log_path, 'ab')
        self._logf.write(('$ ' + ' '.join(cmd) + '\n').encode())
        self._logf.flush()
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self._logf,
                                  stderr=subprocess.STDOUT, start_new_session=True,
                                  preexec_fn=V.die_with_parent)
        self.pid = self.p.pid

    def send(self, line):
        V.log(f'  guest> {line}')
        self.p.stdin.write((line + '\n').encode())
        self.p.stdin.flush()

    def port_rx_packets(self, port=0, timeout=10):
        """`show port stats @port`; returns the RX-packets of that new block."""
        marker = f'NIC statistics for port {port}'
        n = self.log_text().count(marker)
        self.send(f'show port stats {port}')

        def pred():
            text = self.log_text()
            if text.count(marker) <= n:
                return None
            m = _RX_RE.search(text[text.rindex(marker):])
            return (int(m.group(1)),) if m else None
        return V.wait_until(pred, timeout, f'{self.name}: show port stats {port}')[0]

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        with contextlib.suppress(OSError, ValueError):
            if self.p.poll() is None and sig == signal.SIGTERM:
                self.p.stdin.write(b'quit\n')
                self.p.stdin.flush()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.p.wait(5)
        with contextlib.suppress(OSError, ValueError):
            self.p.stdin.close()
        return super().stop(sig, timeout)


def guest_cmd(env, fwd='rxonly', extra=(), interactive=False, stats_period=True):
    vdev = f'net_virtio_user0,path={env.sock},server=1,queues=1'
    cmd = [V.TESTPMD, '--no-huge', '-m', '256', '--no-pci', f'--lcores={V.GUEST_LCORES}',
           f'--file-prefix={env.guest_prefix}', '--vdev', vdev, '--', '--no-mlockall',
           f'--forward-mode={fwd}', '--rxq=1', '--txq=1', '--total-num-mbufs=4096']
    if stats_period and not interactive:
        cmd += ['--stats-period', '1']
    if interactive:
        cmd += ['-i', '--auto-start']
        # stdout is a log file: line-buffer it, or command output shows up late.
        if shutil.which('stdbuf'):
            cmd = ['stdbuf', '-oL'] + cmd
    return cmd + list(extra)


def start_guest(env, fwd='rxonly', extra=(), interactive=False):
    """Like Env.start_guest, with any forward mode, extra testpmd args and an optional
    interactive (stdin) console."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(env.sock)
    env._n_guests += 1
    cmd = guest_cmd(env, fwd, extra, interactive)
    name = f'guest{env._n_guests}'
    V.log(f'==> starting {name}: testpmd {fwd}{" -i" if interactive else ""} '
          f'{" ".join(extra)}')
    proc = InteractiveGuest(name, cmd, env.tmp) if interactive else V.Proc(name, cmd, env.tmp)
    env.guest_proc = proc
    env.procs.append(proc)
    V.wait_until(lambda: os.path.exists(env.sock) or not proc.alive(), 20,
                 'the guest to create its vhost-user socket')
    if not proc.alive():
        raise V.Fail(f'{name} exited during start')
    return proc


def null_vf(size=1000, copy=1, idx=0):
    return f'net_null{idx},copy={copy},size={size}'


def rates(env, seconds=2.0, q='q0'):
    """Counters of @q now and @seconds later."""
    a = qstats(env, q)
    time.sleep(seconds)
    b = qstats(env, q)
    return a, b


def vlan_tag(frame, vid=100, prio=0):
    """@frame with an 802.1Q tag inserted after the MAC addresses."""
    return frame[:12] + b'\x81\x00' + ((prio << 13) | vid).to_bytes(2, 'big') + frame[12:]


def untag(frame):
    return frame[:12] + frame[16:] if frame[12:14] == b'\x81\x00' else frame


SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4


def _recv_with_vlan(sock):
    """(frame with its 802.1Q tag put back where the kernel stripped it, addr)."""
    data, anc, _flags, addr = sock.recvmsg(65536, 64)
    for level, typ, cdata in anc:
        if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
            status, _len, _snap, _mac, _net, tci, tpid = struct.unpack('=IIIHHHH', cdata[:20])
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid or 0x8100
                data = data[:12] + struct.pack('!HH', tpid, tci) + data[12:]
    return data, addr


def exchange_tagged(port, frames, window=16, timeout=20.0, idle_timeout=3.0):
    """Send VLAN-tagged test frames and collect them back byte for byte (macswapped),
    tag included (PACKET_AUXDATA). Returns (got dict seq -> frame, problems)."""
    n = len(frames)
    got, problems = {}, []
    sent = 0
    start = last = time.monotonic()
    port.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    port.sock.settimeout(0.05)
    try:
        while len(got) < n:
            now = time.monotonic()
            if now - start > timeout or now - last > idle_timeout:
                break
            while sent < n and sent - len(got) < window:
                port.sock.send(frames[sent])
                sent += 1
            try:
                data, addr = _recv_with_vlan(port.sock)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            seq = V.frame_seq(untag(data))
            if seq is None or seq >= n:
                continue
            if seq in got:
                problems.append(f'seq {seq}: duplicate')
                continue
            last = time.monotonic()
            got[seq] = data
            want = V.macswap(frames[seq])
            if data != want:
                problems.append(f'seq {seq}: {V.describe_diff(want, data)}')
    finally:
        port.sock.settimeout(None)
        port.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 0)
    return got, problems


def tap_port(env, tap):
    """A raw socket on the tap interface vfrelay's net_tap VF created, once it exists,
    with the kernel's IPv6 off on it: only the test's frames on this wire."""
    V.wait_until(lambda: os.path.exists(f'/sys/class/net/{tap}'), 10, f'{tap} to exist')
    with open(f'/proc/sys/net/ipv6/conf/{tap}/disable_ipv6', 'w') as f:
        f.write('1')
    port = V.RootPort(tap)
    env.ports.append(port)
    time.sleep(0.3)
    return port
