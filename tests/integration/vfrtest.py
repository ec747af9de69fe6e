# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Shared harness for vfrelay's integration tests (python3 stdlib only).

Each scenario builds this topology and drives it from the namespace side:

    [netns vfrt-X]                [root netns]
    vfrt-X1 (raw socket) <-veth-> vfrt-X0 <- net_af_packet -- vfrelay
                                                               | vhost-user (vfrelay = client)
                                           guest dpdk-testpmd (net_virtio_user, server=1)

Everything a test creates (namespace, veth, processes, temp dir, DPDK runtime
dirs) is registered in an Env and removed when the `with Env(...)` block exits,
whether the test passed, failed or was interrupted (SIGTERM from meson's
timeout included). On failure the tail of every process log is printed.

Environment:
    VFRELAY          path of the vfrelay binary (meson sets it)
    VFRELAYCTL       path of vfrelayctl (meson sets it)
    VFR_SOURCE_ROOT  repository root (default: two levels up from this file)
    VFR_BUILD_DIR    build directory (default: $VFR_SOURCE_ROOT/build)
    VFRTEST_TESTPMD  dpdk-testpmd binary (default: dpdk-testpmd from PATH)
    VFRTEST_STANDIN  1: run dpdk-testpmd (af_packet <-> net_vhost client, io
                     forwarding) in place of vfrelay; the vfrelay-specific
                     telemetry checks are skipped. Used to prove the harness
                     while the daemon was being written.
    VFRTEST_SALT     up to 2 characters put into every name a scenario makes
                     (namespaces, interfaces, DPDK prefixes), so two people
                     can run the same scenario on one machine at once.
"""

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77  # meson's exit code for a skipped test

SALT = os.environ.get('VFRTEST_SALT', '')[:2]


def name(tag):
    """What a scenario calls its namespace, interfaces and DPDK prefixes: vfrt<salt>-<tag>."""
    return f'vfrt{SALT}-{tag}'

SOURCE_ROOT = os.environ.get(
    'VFR_SOURCE_ROOT',
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD_DIR = os.environ.get('VFR_BUILD_DIR', os.path.join(SOURCE_ROOT, 'build'))
VFRELAY = os.environ.get('VFRELAY', os.path.join(BUILD_DIR, 'forwarder', 'vfrelay'))
VFRELAYCTL = os.environ.get('VFRELAYCTL', os.path.join(BUILD_DIR, 'cli', 'vfrelayctl'))
TESTPMD = os.environ.get('VFRTEST_TESTPMD', 'dpdk-testpmd')
STANDIN = os.environ.get('VFRTEST_STANDIN', '') == '1'
DPDK_RUN_DIR = '/var/run/dpdk'

# Pinning on a 2-CPU machine: vfrelay takes lcores 0 (control) and 1 (worker);
# the guest's main and forwarding lcores both run on CPU 0.
RELAY_LCORES = '0,1'
GUEST_LCORES = '0@0,1@0'


class Fail(Exception):
    """A check did not hold; the message says what was expected and seen."""


def log(msg):
    print(msg, flush=True)


def check(cond, msg):
    """Print what is being checked; raise Fail if it does not hold."""
    if not cond:
        raise Fail(msg)
    log('  ok: ' + msg)


def check_eq(got, want, what):
    if got != want:
        raise Fail(f'{what}: expected {want!r}, got {got!r}')
    log(f'  ok: {what} == {want!r}')


def wait_until(pred, timeout, what, interval=0.1):
    """Poll pred() until it returns a truthy value (returned) or time runs out (Fail)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            val = pred()
            if val:
                return val
            last_exc = None
        except (OSError, ValueError, KeyError) as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            extra = f' (last error: {last_exc})' if last_exc else ''
            raise Fail(f'timed out after {timeout}s waiting for {what}{extra}')
        time.sleep(interval)


def run(cmd, check_rc=True, **kw):
    """Run a short command, return CompletedProcess (text output captured)."""
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=kw.pop('timeout', 30), **kw)
    if check_rc and res.returncode != 0:
        raise Fail(f'{" ".join(cmd)} -> {res.returncode}: {res.stderr.strip()}')
    return res


def require_root():
    if os.geteuid() != 0:
        log('SKIP: integration tests need root (network namespaces, AF_PACKET)')
        sys.exit(SKIP)
    for tool in ('ip', TESTPMD):
        if shutil.which(tool) is None:
            log(f'SKIP: {tool} not found')
            sys.exit(SKIP)


# --------------------------------------------------------------------------
# Network namespaces


_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


def _setns(fd):
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f'setns: {os.strerror(err)}')


@contextlib.contextmanager
def in_netns(name):
    """Run the block with this thread in netns @name; sockets opened there stay there."""
    cur = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
    tgt = os.open(f'/run/netns/{name}', os.O_RDONLY)
    try:
        _setns(tgt)
        try:
            yield
        finally:
            _setns(cur)
    finally:
        os.close(cur)
        os.close(tgt)


class Veth:
    """Namespace @ns holding @inner; @outer stays in the root namespace for the VF."""

    def __init__(self, ns, outer, inner, mtu=1500):
        self.ns, self.outer, self.inner, self.mtu = ns, outer, inner, mtu

    def create(self):
        self.destroy()  # leftovers of an earlier, killed run
        run(['ip', 'netns', 'add', self.ns])
        run(['ip', 'link', 'add', self.outer, 'type', 'veth', 'peer', 'name', self.inner,
             'netns', self.ns])
        # No IPv6 (router solicitations, MLD) and no addresses: the only frames on
        # this wire are the ones the test sends, so counters can be checked exactly.
        with open(f'/proc/sys/net/ipv6/conf/{self.outer}/disable_ipv6', 'w') as f:
            f.write('1')
        run(['ip', 'netns', 'exec', self.ns, 'sysctl', '-qw',
             f'net.ipv6.conf.{self.inner}.disable_ipv6=1'])
        run(['ip', 'link', 'set', self.outer, 'mtu', str(self.mtu), 'up'])
        run(['ip', '-n', self.ns, 'link', 'set', 'lo', 'up'])
        run(['ip', '-n', self.ns, 'link', 'set', self.inner, 'mtu', str(self.mtu), 'up'])
        log(f'==> veth {self.outer} <-> {self.ns}/{self.inner} mtu {self.mtu}')

    def destroy(self):
        run(['ip', 'netns', 'del', self.ns], check_rc=False)
        run(['ip', 'link', 'del', self.outer], check_rc=False)
        # netns del is asynchronous for the veth; make sure the name is free.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and os.path.exists(f'/sys/class/net/{self.outer}'):
            time.sleep(0.05)


# --------------------------------------------------------------------------
# Frames


MAGIC = b'VFRT'
ETH_P_ALL = 0x0003
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32


def _ip_csum(hdr):
    s = sum(struct.unpack(f'!{len(hdr) // 2}H', hdr))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def udp_frame(src_mac, dst_mac, seq, size, sport=40000, dport=50000):
    """An Ethernet/IPv4/UDP frame of exactly @size bytes (no FCS) carrying
    MAGIC, @seq and a pattern derived from @seq in every remaining byte."""
    if size < 60:
        raise ValueError('frame size < 60')
    ip_len = size - 14
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, ip_len, seq & 0xffff, 0, 64, 17, 0,
                     bytes([10, 99, 1, 1]), bytes([10, 99, 1, 2]))
    ip = ip[:10] + struct.pack('!H', _ip_csum(ip)) + ip[12:]
    head = MAGIC + struct.pack('!IH', seq, size)
    pat_len = ip_len - 20 - 8 - len(head)
    start = (seq * 31) & 0xff
    pattern = bytes((start + i) & 0xff for i in range(256)) * (pat_len // 256 + 1)
    udp = struct.pack('!HHHH', sport, dport, ip_len - 20, 0)
    return dst_mac + src_mac + b'\x08\x00' + ip + udp + head + pattern[:pat_len]


def frame_seq(frame):
    """Sequence number of a test frame, or None for any other frame."""
    if len(frame) < 52 or frame[12:14] != b'\x08\x00' or frame[42:46] != MAGIC:
        return None
    return struct.unpack('!I', frame[46:50])[0]


def macswap(frame):
    return frame[6:12] + frame[0:6] + frame[12:]


def mixed_sizes(n, lo=60, hi=1514):
    """n deterministic sizes covering lo..hi, both ends included."""
    span = hi - lo + 1
    sizes = [lo + (i * 7919) % span for i in range(n)]
    if n >= 2:
        sizes[0], sizes[1] = lo, hi
    return sizes


class NsPort:
    """A raw AF_PACKET socket on an interface inside a namespace."""

    def __init__(self, ns, ifname):
        with in_netns(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind((ifname, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 16 << 20)
        self.mac = self.sock.getsockname()[4]
        self.ifname = ifname

    def close(self):
        self.sock.close()

    def drain(self):
        self.sock.setblocking(False)
        n = 0
        with contextlib.suppress(BlockingIOError):
            while n < 100000:
                self.sock.recv(65536)
                n += 1
        self.sock.setblocking(True)
        return n

    def exchange(self, frames, expect, window=32, timeout=30.0, idle_timeout=3.0):
        """Send @frames (list, frame i has seq i), keeping at most @window in
        flight, and collect the frames coming back. @expect(frame) gives the
        frame that should return for a sent one. Returns (received dict seq ->
        frame, list of problems, foreign frame count)."""
        n = len(frames)
        got = {}
        problems = []
        foreign = 0
        sent = 0
        start = time.monotonic()
        last_rx = start
        self.sock.settimeout(0.05)
        while len(got) < n:
            now = time.monotonic()
            if now - start > timeout or now - last_rx > idle_timeout:
                break
            while sent < n and sent - len(got) < window:
                self.sock.send(frames[sent])
                sent += 1
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            seq = frame_seq(data)
            if seq is None or seq >= n:
                foreign += 1
                continue
            last_rx = time.monotonic()
            if seq in got:
                problems.append(f'seq {seq}: duplicate')
                continue
            got[seq] = data
            want = expect(frames[seq])
            if data != want:
                problems.append(f'seq {seq}: {describe_diff(want, data)}')
        self.sock.settimeout(None)
        return got, problems, foreign


class RootPort(NsPort):
    """A raw AF_PACKET socket on an interface of the root namespace (a tap vfrelay creates)."""

    def __init__(self, ifname):  # pylint: disable=super-init-not-called
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 16 << 20)
        self.mac = self.sock.getsockname()[4]
        self.ifname = ifname


def describe_diff(want, got):
    if len(want) != len(got):
        return f'length {len(got)}, expected {len(want)}'
    for i, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return f'byte {i} is 0x{b:02x}, expected 0x{a:02x}'
    return 'identical'


def check_roundtrip(port, frames, expect=macswap, window=32, what='frames'):
    """Send @frames, check that every one came back exactly once, byte for byte."""
    n = len(frames)
    log(f'  sending {n} {what} ({min(map(len, frames))}..{max(map(len, frames))} bytes, '
        f'window {window})')
    t0 = time.monotonic()
    got, problems, foreign = port.exchange(frames, expect, window=window)
    dt = time.monotonic() - t0
    log(f'  received {len(got)}/{n} in {dt:.2f}s, {len(problems)} bad, {foreign} foreign')
    if problems:
        raise Fail(f'{len(problems)} returned frames differ, first: {problems[:5]}')
    missing = [s for s in range(n) if s not in got]
    if missing:
        raise Fail(f'{len(missing)} of {n} frames did not come back, first seqs {missing[:10]}')
    check(True, f'all {n} {what} came back with every byte intact')
    return sum(len(f) for f in frames)


# --------------------------------------------------------------------------
# Processes


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with_parent():
    """preexec_fn: the child is SIGKILLed when the test dies. meson's timeout kills the
    test's process group, which a child in its own session escapes: a busy-polling vfrelay
    or testpmd left behind would slow every later test on two cores."""
    parent = os.getppid()
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


class Proc:
    """A background process whose stdout+stderr go to a log file."""

    def __init__(self, name, cmd, logdir):
        self.name = name
        self.cmd = cmd
        self.log_path = os.path.join(logdir, f'{name}.log')
        self._logf = open(self.log_path, 'ab')
        self._logf.write(('$ ' + ' '.join(cmd) + '\n').encode())
        self._logf.flush()
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._logf,
                                  stderr=subprocess.STDOUT, start_new_session=True,
                                  preexec_fn=die_with_parent)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def log_text(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def tail(self, n=40):
        lines = [ln for ln in self.log_text().splitlines()
                 if ln.strip() and not ln.startswith(('  ', '\x1b'))]
        return '\n'.join(lines[-n:])

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the process group (it is our own session) and reap; SIGKILL if needed."""
        if self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(10)
        # A child that outlived its leader (none expected) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if not self._logf.closed:
            self._logf.close()
        return self.p.returncode


# A sanitizer's report in a process log (ASan, LSan, UBSan: scripts/test runs the suite on a
# sanitized build): the daemon is wrong even when the scenario's own checks passed.
_SANITIZER_REPORT = re.compile(r'^(==\d+==ERROR: \w+Sanitizer|\S+:\d+:\d+: runtime error: )',
                               re.MULTILINE)


def sanitizer_report(text, limit=60):
    """The first sanitizer report in @text (at most @limit lines), or None."""
    m = _SANITIZER_REPORT.search(text)
    if m is None:
        return None
    return '\n'.join(text[m.start():].splitlines()[:limit])


# --------------------------------------------------------------------------
# Telemetry


def telemetry_path(prefix):
    return os.path.join(DPDK_RUN_DIR, prefix, 'dpdk_telemetry.v2')


class Telemetry:
    """DPDK telemetry v2 client: SOCK_SEQPACKET, info JSON on connect, one reply per command."""

    def __init__(self, prefix, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(telemetry_path(prefix))
            info = json.loads(self.sock.recv(65536))
        except Exception:
            self.sock.close()
            raise
        self.bufsize = max(65536, int(info.get('max_output_len', 16384)) + 1024)

    def cmd(self, command):
        self.sock.send(command.encode())
        reply = json.loads(self.sock.recv(self.bufsize))
        key = command.split(',', 1)[0]
        return reply.get(key, reply)

    def close(self):
        self.sock.close()


def telemetry(prefix, command):
    t = Telemetry(prefix)
    try:
        return t.cmd(command)
    finally:
        t.close()


# --------------------------------------------------------------------------
# Configuration


def config_text(name, relays, **opts):
    """INI text: [vfrelay] with @name and @opts, then one [relay NAME] per dict in @relays."""
    g = {'name': name, 'lcores': RELAY_LCORES, 'eal': '--no-huge -m 256'}
    g.update(opts)
    out = ['[vfrelay]'] + [f'{k} = {v}' for k, v in g.items() if v is not None]
    for r in relays:
        r = dict(r)
        out += ['', f'[relay {r.pop("name")}]']
        out += [f'{k} = {v}' for k, v in r.items() if v is not None]
    return '\n'.join(out) + '\n'


# --------------------------------------------------------------------------
# The test environment


class Env:
    """One scenario's world. Use as `with Env('trf') as env:`; tag is <= 6 chars."""

    def __init__(self, tag, mtu=1500, net=True):
        if len(tag) > 6:
            raise ValueError('tag too long for an interface name')
        self.tag = tag
        self.name = name(tag)                # vfrelay instance name = its file prefix
        self.guest_prefix = f'{self.name}-guest'
        self.veth = Veth(self.name, f'{self.name}0', f'{self.name}1', mtu) if net else None
        self.tmp = None
        self.sock = None
        self.procs = []
        self.ports = []
        self.relay_proc = None
        self.guest_proc = None
        self._n_guests = 0
        self._n_relays = 0
        self.base = {}

    # -- lifecycle --------------------------------------------------------

    def __enter__(self):
        signal.signal(signal.SIGTERM, _sigterm)
        self._clean_runtime_dirs()
        self.tmp = tempfile.mkdtemp(prefix=f'vfrtest-{self.tag}-')
        self.sock = os.path.join(self.tmp, 'net0.sock')
        if self.veth:
            self.veth.create()
        return self

    def __exit__(self, etype, exc, tb):
        # A second SIGTERM (meson's timeout, a user's ^C) must not cut the cleanup short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if etype is not None:
            self.dump_logs()
        for port in self.ports:
            port.close()
        for p in reversed(self.procs):
            p.stop()
        reports = [(p, r) for p in self.procs if (r := sanitizer_report(p.log_text()))]
        for p, r in reports:
            print(f'----- sanitizer report in {p.name} ({p.log_path}) -----\n{r}', flush=True)
        if self.veth:
            self.veth.destroy()
        self._clean_runtime_dirs()
        if self.tmp and os.environ.get('VFRTEST_KEEP') != '1':
            shutil.rmtree(self.tmp, ignore_errors=True)
        signal.signal(signal.SIGTERM, _sigterm)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if reports and etype is None:
            raise Fail('sanitizer report in ' + ', '.join(p.name for p, _ in reports))
        return False

    def _clean_runtime_dirs(self):
        for prefix in (self.name, self.guest_prefix):
            shutil.rmtree(os.path.join(DPDK_RUN_DIR, prefix), ignore_errors=True)

    def dump_logs(self, n=40):
        for p in self.procs:
            print(f'----- last lines of {p.name} ({p.log_path}) -----', flush=True)
            try:
                print(p.tail(n), flush=True)
            except OSError as e:
                print(f'(cannot read: {e})')
        sys.stdout.flush()

    # -- the namespace side -----------------------------------------------

    def port(self):
        p = NsPort(self.veth.ns, self.veth.inner)
        self.ports.append(p)
        return p

    # -- the guest ------------------------------------------------------------

    def start_guest(self, fwd='macswap', queues=1, mtu=None, extra=()):
        """dpdk-testpmd on net_virtio_user in server mode: it owns the socket and
        blocks in probe until a vhost-user client (vfrelay) connects."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock)  # virtio_user does not unlink a stale socket
        self._n_guests += 1
        vdev = f'net_virtio_user0,path={self.sock},server=1,queues={queues}'
        cmd = [TESTPMD, '--no-huge', '-m', '256', '--no-pci', f'--lcores={GUEST_LCORES}',
               f'--file-prefix={self.guest_prefix}', '--vdev', vdev, '--',
               '--no-mlockall', '--stats-period', '1', f'--forward-mode={fwd}',
               f'--rxq={queues}', f'--txq={queues}', '--total-num-mbufs=4096']
        if mtu and mtu > 1500:
            cmd += [f'--max-pkt-len={mtu + 18}', f'--mbuf-size={mtu + 18 + 128 + 256}']
        cmd += list(extra)
        log(f'==> starting guest #{self._n_guests}: testpmd {fwd}, {queues} queue pair(s)')
        self.guest_proc = Proc(f'guest{self._n_guests}', cmd, self.tmp)
        self.procs.append(self.guest_proc)
        wait_until(lambda: os.path.exists(self.sock) or not self.guest_proc.alive(), 20,
                   'the guest to create its vhost-user socket')
        if not self.guest_proc.alive():
            raise Fail('guest testpmd exited during start')
        return self.guest_proc

    def wait_guest_forwarding(self, proc=None, timeout=30):
        proc = proc or self.guest_proc
        wait_until(lambda: _proc_said(proc, 'forwards packets on'), timeout,
                   f'{proc.name} to start forwarding')

    def stop_guest(self, sig=signal.SIGKILL):
        log(f'==> killing {self.guest_proc.name} with {signal.Signals(sig).name}')
        self.guest_proc.stop(sig)

    # -- the relay (vfrelay, or testpmd standing in) --------------------------------

    def relay_config(self, queues=1, mtu=None, vf=None, **relay_opts):
        vf = vf or f'net_af_packet0,iface={self.veth.outer}'
        # The copy-path scenarios pin the copy path; zero-copy ones pass zero_copy='auto'.
        r = {'name': 'net0', 'vf': vf, 'vhost': self.sock, 'vhost_mode': 'client',
             'queues': queues, 'zero_copy': 'off'}
        if mtu:
            r['mtu'] = mtu
        r.update(relay_opts)
        return r

    def start_relay(self, relays, **opts):
        """Start vfrelay (or the stand-in) for @relays (list of relay dicts)."""
        self._n_relays += 1
        pname = f'vfrelay{self._n_relays}'
        if STANDIN:
            cmd = self._standin_cmd(relays[0])
            log(f'==> starting relay #{self._n_relays} (STAND-IN: testpmd io)')
        else:
            cfg = os.path.join(self.tmp, f'{pname}.ini')
            with open(cfg, 'w') as f:
                f.write(config_text(self.name, relays, **opts))
            cmd = [VFRELAY, '--config', cfg]
            log(f'==> starting {pname}: {VFRELAY} --config {cfg}')
        self.relay_proc = Proc(pname, cmd, self.tmp)
        self.procs.append(self.relay_proc)
        return self.relay_proc

    def _standin_cmd(self, r):
        q = int(r.get('queues', 1))
        cmd = [TESTPMD, '--no-huge', '-m', '512', '--no-pci', '-l', RELAY_LCORES,
               f'--file-prefix={self.name}', '--vdev', r['vf'],
               '--vdev', f'net_vhost0,iface={r["vhost"]},client=1,queues={q}', '--',
               '--no-mlockall', '--stats-period', '1', '--forward-mode=io',
               f'--rxq={q}', f'--txq={q}', '--total-num-mbufs=16384']
        mtu = int(r.get('mtu', 1500))
        if mtu > 1500:
            cmd += [f'--mbuf-size={mtu + 18 + 128 + 256}']
        return cmd

    def kill_relay(self, sig=signal.SIGKILL):
        log(f'==> killing {self.relay_proc.name} with {signal.Signals(sig).name}')
        return self.relay_proc.stop(sig)

    # -- relay state over telemetry -----------------------------------------------

    def relays(self):
        return telemetry(self.name, '/vfrelay/relays')

    def relay_info(self, relay='net0'):
        return self.relays()[relay]

    def stats(self, relay='net0'):
        return telemetry(self.name, f'/vfrelay/stats,{relay}')

    def wait_relay_state(self, state, relay='net0', timeout=30, min_connects=None):
        """Wait until /vfrelay/relays shows @state for @relay (and connects >= min_connects)."""
        if STANDIN:
            want = min_connects or 1
            if state == 'running':
                wait_until(lambda: self._standin_ready_count() >= want, timeout,
                           f'stand-in relay to see {want} guest(s) ready')
            log(f'  ok (stand-in): relay {relay} {state}')
            return None

        def pred():
            if not self.relay_proc.alive():
                raise Fail(f'{self.relay_proc.name} exited with {self.relay_proc.p.returncode}')
            info = self.relay_info(relay)
            if info.get('state') != state:
                return None
            if min_connects is not None and info.get('connects', 0) < min_connects:
                return None
            return info
        info = wait_until(pred, timeout, f'relay {relay} state "{state}"', interval=0.2)
        log(f'  ok: relay {relay} state "{state}" (vid {info.get("vid")}, connects '
            f'{info.get("connects")}, disconnects {info.get("disconnects")})')
        return info

    def _standin_ready_count(self):
        return self.relay_proc.log_text().count('virtio is now ready for processing')

    def bring_up(self, guest_kw=None, relays=None, **relay_kw):
        """Guest first (it serves the socket), then the relay; wait until traffic can flow."""
        self.start_guest(**(guest_kw or {}))
        relays = relays or [self.relay_config(**relay_kw)]
        self.start_relay(relays)
        self.wait_relay_state('running')
        self.wait_guest_forwarding()

    def warm_up(self, port, relay='net0', timeout=20):
        """Wait until the path carries traffic: send one probe frame at a time until
        one comes back. Then remember the relay's counters, so later checks
        assert the exact effect of the test's own frames (wait_stats deltas)."""
        probe_seq = 0xfffff000
        deadline = time.monotonic() + timeout
        tries = 0
        port.sock.settimeout(0.2)
        try:
            while True:
                if time.monotonic() > deadline:
                    raise Fail(f'no probe frame came back within {timeout}s ({tries} sent)')
                frame = udp_frame(port.mac, b'\x02\x00\x00\x00\x00\x01', probe_seq + tries, 128)
                port.sock.send(frame)
                tries += 1
                back = False
                with contextlib.suppress(socket.timeout):
                    for _ in range(16):
                        data, addr = port.sock.recvfrom(65536)
                        if addr[2] != socket.PACKET_OUTGOING and frame_seq(data) is not None \
                                and frame_seq(data) >= probe_seq:
                            back = True
                            break
                if back:
                    break
        finally:
            port.sock.settimeout(None)
        time.sleep(0.3)  # stragglers of earlier probes
        port.drain()
        log(f'  ok: the path carries traffic (probe came back after {tries} tries)')
        self.base[relay] = None if STANDIN else self._settled_stats(relay)

    def _settled_stats(self, relay):
        """Counters once they stop moving (no test traffic is in flight)."""
        prev = self.stats(relay)
        for _ in range(20):
            time.sleep(0.1)
            cur = self.stats(relay)
            if cur == prev:
                return cur
            prev = cur
        return prev

    def stats_delta(self, relay='net0'):
        """/vfrelay/stats,<relay> minus the counters remembered by warm_up()."""
        cur = self.stats(relay)
        base = self.base.get(relay) or {}
        out = {}
        for q, vals in cur.items():
            if not isinstance(vals, dict):
                out[q] = vals
                continue
            b = base.get(q, {}) if isinstance(base.get(q), dict) else {}
            out[q] = {k: (v - b.get(k, 0) if isinstance(v, int) and not isinstance(v, bool)
                          and k != 'lcore' else v) for k, v in vals.items()}
        return out

    def wait_stats(self, want, relay='net0', key='total', timeout=10):
        """Wait until every counter in @want, counted since warm_up(), equals its value
        in stats[key], then check them one by one (counters may trail the datapath
        by a few packets). Returns the deltas of every queue and the total."""
        if STANDIN:
            log(f'  skipped (stand-in): /vfrelay/stats,{relay} {key} == {want}')
            return None
        last = {}

        def pred():
            nonlocal last
            last = self.stats_delta(relay)
            return all(last.get(key, {}).get(k) == v for k, v in want.items())
        with contextlib.suppress(Fail):
            wait_until(pred, timeout, 'counters to settle', interval=0.2)
        got = last.get(key, {})
        log(f'  /vfrelay/stats,{relay} {key} since warm-up: ' +
            ', '.join(f'{k}={v}' for k, v in got.items() if v))
        for k, v in want.items():
            check_eq(got.get(k), v, f'{key}.{k}')
        return last


def _proc_said(proc, text):
    if not proc.alive():
        raise Fail(f'{proc.name} exited with {proc.p.returncode}')
    return text in proc.log_text()


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main(fn):
    """Run one scenario: root check, PASS/FAIL line, exit code for meson."""
    require_root()
    name = os.path.basename(sys.argv[0])
    mode = ' (STAND-IN relay: testpmd)' if STANDIN else ''
    log(f'=== {name}{mode}')
    if not STANDIN and not os.access(VFRELAY, os.X_OK):
        log(f'FAIL: {VFRELAY} not found or not executable')
        sys.exit(1)
    try:
        fn()
    except Fail as e:
        log(f'FAIL: {e}')
        sys.exit(1)
    log(f'PASS: {name}')
    sys.exit(0)
