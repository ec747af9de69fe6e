# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Pieces shared by bench/run and bench/callgrind (python3 stdlib only).

The topology of every measurement, on a 2-CPU machine:

    CPU 1: forwarder worker (vfrelay worker lcore, or the anchor testpmd's forwarding lcore)
    CPU 0: forwarder control thread (idle), guest dpdk-testpmd (main + forwarding lcore)

    net_null (the "VF") <-> forwarder <-vhost-user (forwarder = client)-> guest testpmd
                                                                           net_virtio_user, server=1

Everything runs with --no-huge; each process gets its own --file-prefix and the
sockets live in a private temporary directory, so the benchmark can run beside
other users of DPDK on the machine.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(BENCH_DIR)
DPDK_RUN_DIR = '/var/run/dpdk'
TESTPMD = os.environ.get('VFRBENCH_TESTPMD', 'dpdk-testpmd')

# File prefixes (DPDK runtime dirs); the vfrelay instance name is its prefix.
RELAY_PREFIX = 'vfrb-relay'
GUEST_PREFIX = 'vfrb-guest'
ANCHOR_PREFIX = 'vfrb-anchor'

# Pinning: vfrelay control thread CPU 0, worker CPU 1; the anchor testpmd likewise
# (main lcore on CPU 0, forwarding lcore on CPU 1); the guest entirely on CPU 0.
RELAY_LCORES = '0,1'
ANCHOR_LCORES = '0@0,1@1'
GUEST_LCORES = '0@0,1@0'


class BenchError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def wait_until(pred, timeout, what, interval=0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise BenchError(f'timed out after {timeout:.0f} s waiting for {what}')
        time.sleep(interval)


# --------------------------------------------------------------------------
# Build


def ensure_build(build_dir, rev=None, quiet=True):
    """Configure (once) and build vfrelay; return the binary's path.

    Without @rev: the working tree, in @build_dir. With @rev (a commit): a clean export of
    that commit (git archive, nothing in the repository changes) in /tmp, built in
    @build_dir-<sha>, so uncommitted edits in the working tree do not leak into a
    published measurement.
    """
    out = subprocess.DEVNULL if quiet else None
    src = SOURCE_ROOT
    if rev:
        sha = subprocess.run(['git', '-C', SOURCE_ROOT, 'rev-parse', '--short', rev],
                             capture_output=True, text=True, check=True).stdout.strip()
        src = f'/tmp/vfrbench-src-{sha}'
        build_dir = f'{build_dir}-{sha}'
        if not os.path.exists(os.path.join(src, 'meson.build')):
            os.makedirs(src, exist_ok=True)
            arch = subprocess.Popen(['git', '-C', SOURCE_ROOT, 'archive', sha],
                                    stdout=subprocess.PIPE)
            subprocess.run(['tar', '-x', '-C', src], stdin=arch.stdout, check=True)
            arch.wait()
    if not os.path.exists(os.path.join(build_dir, 'build.ninja')):
        log(f'==> meson setup {build_dir} ({src})')
        subprocess.run(['meson', 'setup', build_dir, src, '-Dtests=disabled',
                        '--buildtype=debugoptimized'], check=True, stdout=out)
    subprocess.run(['ninja', '-C', build_dir, 'forwarder/vfrelay'], check=True, stdout=out)
    return os.path.join(build_dir, 'forwarder', 'vfrelay')


def git_describe(rev=None):
    if rev:
        return subprocess.run(['git', '-C', SOURCE_ROOT, 'rev-parse', '--short', rev],
                              capture_output=True, text=True).stdout.strip() or rev
    try:
        rev = subprocess.run(['git', '-C', SOURCE_ROOT, 'rev-parse', '--short', 'HEAD'],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', SOURCE_ROOT, 'status', '--porcelain',
                                '--untracked-files=no', '--', 'qsync', 'vhost', 'forwarder',
                                'hw', 'include'],
                               capture_output=True, text=True).stdout.strip()
        return rev + ('-dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def import_matplotlib():
    """matplotlib.pyplot with the Agg backend; Debian's python3-matplotlib is installed
    with apt-get when it is missing."""
    try:
        import matplotlib
    except ImportError:
        log('installing python3-matplotlib (apt-get)')
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        subprocess.run(['apt-get', 'install', '-y', '-q', 'python3-matplotlib'], check=True,
                       env=env, stdout=subprocess.DEVNULL)
        import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def cpu_model():
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    return 'unknown'


# --------------------------------------------------------------------------
# Processes


class Proc:
    """A background process in its own session; stdout+stderr go to a log file."""

    def __init__(self, name, cmd, logdir, wrapper=()):
        self.name = name
        self.cmd = list(wrapper) + list(cmd)
        self.log_path = os.path.join(logdir, f'{name}.log')
        self._logf = open(self.log_path, 'ab')
        self._logf.write(('$ ' + ' '.join(self.cmd) + '\n').encode())
        self._logf.flush()
        self.p = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._logf,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def log_text(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def tail(self, n=15):
        lines = [ln for ln in self.log_text().splitlines()
                 if ln.strip() and not ln.startswith(('  ', '\x1b', 'VHOST_CONFIG'))]
        return '\n'.join(lines[-n:])

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal our own process group, reap, SIGKILL after @timeout."""
        if self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if not self._logf.closed:
            self._logf.close()
        return self.p.returncode


def clean_runtime_dirs():
    for prefix in (RELAY_PREFIX, GUEST_PREFIX, ANCHOR_PREFIX):
        shutil.rmtree(os.path.join(DPDK_RUN_DIR, prefix), ignore_errors=True)


def cpu_jiffies(pids):
    """(busy jiffies of the whole machine, jiffies used by @pids and their threads)."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = sum(v) - v[3] - v[4]  # everything but idle and iowait
    ours = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            with open(f'/proc/{pid}/stat') as f:
                st = f.read().rsplit(')', 1)[1].split()
            ours += int(st[11]) + int(st[12])  # utime, stime
    return busy, ours


def other_cpu_pct(j0, j1, seconds):
    """CPU used by everything else on the machine between two cpu_jiffies(), in % of one CPU."""
    hz = os.sysconf('SC_CLK_TCK')
    other = (j1[0] - j0[0]) - (j1[1] - j0[1])
    return max(0.0, 100.0 * other / hz / seconds)


# --------------------------------------------------------------------------
# Telemetry


class Telemetry:
    """DPDK telemetry v2 client: SOCK_SEQPACKET, info JSON on connect, one reply per command."""

    def __init__(self, prefix, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(os.path.join(DPDK_RUN_DIR, prefix, 'dpdk_telemetry.v2'))
            info = json.loads(self.sock.recv(65536))
        except Exception:
            self.sock.close()
            raise
        self.bufsize = max(65536, int(info.get('max_output_len', 16384)) + 1024)

    def cmd(self, command):
        self.sock.send(command.encode())
        reply = json.loads(self.sock.recv(self.bufsize))
        return reply.get(command.split(',', 1)[0], reply)

    def close(self):
        self.sock.close()


def connect_telemetry(prefix, proc, timeout=20.0):
    """Wait for @proc's telemetry socket and connect; fail early if @proc died."""
    def attempt():
        if not proc.alive():
            raise BenchError(f'{proc.name} exited during start:\n{proc.tail()}')
        try:
            return Telemetry(prefix)
        except OSError:
            return None
    return wait_until(attempt, timeout, f'the telemetry socket of {proc.name}')


# --------------------------------------------------------------------------
# Commands


def null_devargs(size, dma, no_rx=False, name='net_null0'):
    s = f'{name},copy={dma},size={size}'
    return s + (',no-rx=1' if no_rx else '')


def guest_cmd(sock, mode, size, queues=1, ring=256, in_order=True):
    """dpdk-testpmd as the guest: net_virtio_user in server mode on @sock.

    @in_order False: the guest does not offer VIRTIO_F_IN_ORDER (virtio_user's default
    offers it; vfrelay withholds it anyway when zero copy is possible).
    """
    vdev = f'net_virtio_user0,path={sock},server=1,queues={queues},queue_size={ring}'
    if not in_order:
        vdev += ',in_order=0'
    cmd = [TESTPMD, '--no-huge', '-m', '512', '--no-pci', f'--lcores={GUEST_LCORES}',
           f'--file-prefix={GUEST_PREFIX}', '--vdev', vdev, '--',
           '--no-mlockall', '--stats-period', '1', f'--forward-mode={mode}',
           f'--rxq={queues}', f'--txq={queues}', '--nb-cores=1',
           f'--rxd={ring}', f'--txd={ring}', '--total-num-mbufs=16384']
    if mode == 'txonly':
        cmd.append(f'--txpkts={size}')
    return cmd


def anchor_cmd(sock, null_args, queues=1):
    """The anchor: testpmd io forwarding between net_null (port 0) and net_vhost (port 1)."""
    return [TESTPMD, '--no-huge', '-m', '512', '--no-pci', f'--lcores={ANCHOR_LCORES}',
            f'--file-prefix={ANCHOR_PREFIX}', '--vdev', null_args,
            '--vdev', f'net_vhost0,iface={sock},client=1,queues={queues}', '--',
            '--no-mlockall', '--stats-period', '1', '--forward-mode=io', '--nb-cores=1',
            f'--rxq={queues}', f'--txq={queues}', '--total-num-mbufs=16384']


def relay_config(sock, null_args, zero_copy, queues=1, extra_eal='', idle='poll'):
    return '\n'.join([
        '[vfrelay]',
        f'name = {RELAY_PREFIX}',
        f'lcores = {RELAY_LCORES}',
        f'eal = --no-huge --no-pci -m 512 {extra_eal}'.rstrip(),
        f'idle = {idle}',
        '',
        '[relay net0]',
        f'vf = {null_args}',
        f'vhost = {sock}',
        'vhost_mode = client',
        f'queues = {queues}',
        f'zero_copy = {zero_copy}',
        '']) + '\n'


def zero_copy_on_accepted(vfrelay, tmpdir):
    """'on' if this build accepts `zero_copy = on`, else 'auto' (checked strictly at run time)."""
    cfg = os.path.join(tmpdir, 'probe.ini')
    sock = os.path.join(tmpdir, 'probe.sock')
    with open(cfg, 'w') as f:
        f.write(relay_config(sock, null_devargs(64, 0), 'on'))
    r = subprocess.run([vfrelay, '--config', cfg, '--check'], capture_output=True, text=True)
    os.unlink(cfg)
    return ('on', '') if r.returncode == 0 else ('auto', (r.stdout + r.stderr).strip())
