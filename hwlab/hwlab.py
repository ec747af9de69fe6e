# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""The hardware lab (suite `hwlab`): vfrelay on a real DMA engine, inside a VM.

    host                              L1 (QEMU 10, TCG, q35 [+ intel-iommu])
    ----                              ---------------------------------------
    wire sender --unix dgram------->  igb PF (kernel igb) --SR-IOV--> VF 8086:10ca
                                        |  AF_PACKET sender (PF side)   | vfio-pci (IOVA as VA)
                                        |                               | or uio_pci_generic (PA)
                                      vfrelay (build dir, net_e1000_igb_vf) <-- telemetry
                                        | vhost-user
                                      vfr-guest (net_virtio_user, checks every byte)

The emulated 82576 really DMAs into whatever addresses vfrelay posts, through the
emulated IOMMU, which reports a write to an address that is not mapped as a DMAR
fault in L1's kernel log.

L1 runs the host's own userland: `/` is shared read-only over 9p, so the build's
vfrelay, vfr-guest and dpdk-testpmd, python3 and the repository run unchanged;
tmpfs covers /tmp /run /var/tmp /var/log /root, and a scratch directory of the host
is shared read-write at the same path in L1, so logs and reports written in L1 are
files on the host, readable even after L1 died.

Downloads, cached under CACHE (~/.cache/vfrelay/hwlab, HWLAB_CACHE to move it):
- QEMU 10 from bookworm-backports, fetched with a private apt configuration (its own
  sources list and package lists; the system's apt state and QEMU 7.2 stay as they
  are) and unpacked with dpkg-deb -x;
- the kernel package linux-image-amd64 depends on, and busybox-static, for a small
  initramfs (busybox, the modules below, /init) written by qemutest's cpio writer.

This file is the host side: images, QEMU, the agent, the wire, logs and the
scenario runner (`main`). The scenarios themselves run inside L1 (l1lab.py),
started through the agent one at a time, so they use vfrtest's telemetry client,
process handling and checks directly.

Environment:
    HWLAB_CACHE      download/image cache (default ~/.cache/vfrelay/hwlab)
    HWLAB_KEEP=1     keep the run directory (L1 console, every log, reports)
    HWLAB_SCENARIOS  comma-separated scenarios to run instead of the run's list
                     (variants too: guest_kill@1000:64)
    HWLAB_EXPECT     NAME=pass|fail or MODE:NAME=pass|fail,... overrides meson's
                     known failures for one run
    VFRELAY, VFR_GUEST, HWLAB_PMDPROBE, VFR_BUILD_DIR, VFR_SOURCE_ROOT (meson sets them)
"""

import argparse
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'qemu-tests'))
sys.path.insert(0, HERE)
import qemutest as Q  # noqa: E402  (path set just above)
import vfrtest as V  # noqa: E402  (qemutest put tests/integration on the path)
import wire as W  # noqa: E402

GUEST = os.environ.get('VFR_GUEST', os.path.join(V.BUILD_DIR, 'tests', 'guest', 'vfr-guest'))
PMDPROBE = os.environ.get('HWLAB_PMDPROBE', os.path.join(V.BUILD_DIR, 'hwlab', 'hwlab-pmdprobe'))

# Host directories L1 gets empty (tmpfs) instead of the host's.
L1_TMPFS = ('/tmp', '/run', '/var/tmp', '/var/log', '/root')
CACHE = os.environ.get('HWLAB_CACHE', os.path.expanduser('~/.cache/vfrelay/hwlab'))
QEMU_PACKAGES = ['qemu-system-x86', 'qemu-system-data', 'qemu-system-common', 'seabios']
BACKPORTS = 'deb http://deb.debian.org/debian bookworm-backports main\n'

# What the initramfs loads, dependencies first. igbvf is left out on purpose: the VF
# must stay free for vfio-pci / uio_pci_generic (sriov_drivers_autoprobe is 0 too).
MODULES = ['dca', 'i2c-algo-bit', 'igb', 'vfio', 'vfio_virqfd', 'irqbypass', 'vfio-pci-core',
           'vfio-pci', 'vfio_iommu_type1', 'uio', 'uio_pci_generic', '9pnet', 'netfs',
           'fscache', '9p', 'virtio_ring', 'virtio', '9pnet_virtio', 'virtio_pci_modern_dev',
           'virtio_pci_legacy_dev', 'virtio_pci']

L1_MEM = '3G'
L1_SMP = 2
HUGEPAGES = 640          # 2 MB pages reserved at boot: vfrelay and the PA-mode guest
PF_MAC = '52:54:00:77:00:01'

# busybox /init: load the modules, mount the host's / and the scratch share, move
# into them and serve the agent (the host's dash) on ttyS1.
INIT = r'''#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in MODULES; do modprobe $m || echo "init: modprobe $m failed"; done
scratch=$(sed -n 's/.*hwlab.scratch=\([^ ]*\).*/\1/p' /proc/cmdline)
mkdir -p /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /newroot \
	|| { echo "init: cannot mount the host's /"; poweroff -f; }
for d in L1_TMPFS; do mount -t tmpfs -o mode=0755 tmp /newroot/$d; done
chmod 1777 /newroot/tmp /newroot/var/tmp
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mkdir -p /newroot/dev/pts /newroot/dev/shm /newroot/dev/hugepages /newroot/run/lock
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
mount -t hugetlbfs nodev /newroot/dev/hugepages
mkdir -p /newroot$scratch
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 scratch /newroot$scratch \
	|| echo "init: cannot mount the scratch share at $scratch"
echo "init: $(uname -r), $(nproc) cpu(s), switching to the host's userland"
exec switch_root /newroot /bin/sh -c "$(cat /agent.sh)"
'''.replace('MODULES', ' '.join(MODULES)).replace('L1_TMPFS', ' '.join(d[1:] for d in L1_TMPFS))

# The agent, run by the host's /bin/sh as PID 1 in the new root: one request per line,
# "<id> <command>", the output streamed back, then "@@END <id> <rc>" (qemutest.Agent).
AGENT = r'''export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip link set lo up
stty -F /dev/ttyS1 raw -echo 115200
exec 3<>/dev/ttyS1
echo "@@READY" >&3
while IFS= read -r line <&3; do
	id=${line%% *}
	cmd=${line#* }
	( eval "$cmd" ) </dev/null >&3 2>&3
	echo "@@END $id $?" >&3
done
echo "agent: input closed"
poweroff -f
'''


def log(msg):
    print(msg, flush=True)


class Fail(Exception):
    pass


# --------------------------------------------------------------------------
# Downloads


@contextlib.contextmanager
def _cache_lock():
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, '.lock'), 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _apt_private():
    """apt options for a private bookworm-backports configuration under CACHE/apt."""
    d = os.path.join(CACHE, 'apt')
    for sub in ('lists/partial', 'cache/archives/partial'):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    src = os.path.join(d, 'sources.list')
    if not os.path.exists(src) or open(src).read() != BACKPORTS:
        with open(src, 'w') as f:
            f.write(BACKPORTS)
    return ['-o', f'Dir::Etc::sourcelist={src}', '-o', 'Dir::Etc::sourceparts=/nonexistent',
            '-o', f'Dir::State::Lists={d}/lists', '-o', f'Dir::Cache={d}/cache',
            '-o', 'APT::Get::List-Cleanup=0']


def _candidate(opts, pkg):
    res = V.run(['apt-cache'] + opts + ['policy', pkg], check_rc=False)
    m = re.search(r'Candidate:\s*(\S+)', res.stdout)
    return m.group(1) if m and m.group(1) != '(none)' else None


def _download(opts, pkgs, work):
    os.chmod(work, 0o755)  # _apt must be able to write there, or apt warns
    V.run(['apt-get', '-q'] + opts + ['download'] + pkgs, cwd=work, timeout=600)
    return {n.split('_')[0]: os.path.join(work, n) for n in os.listdir(work)
            if n.endswith('.deb')}


def qemu10():
    """(qemu-system-x86_64 path, -L arguments) of QEMU from bookworm-backports."""
    with _cache_lock():
        opts = _apt_private()
        ver = _candidate(opts, 'qemu-system-x86')
        if ver is None or not ver.split(':')[-1].startswith('10.'):
            V.run(['apt-get', '-q'] + opts + ['update'], timeout=300)
            ver = _candidate(opts, 'qemu-system-x86')
        if ver is None:
            raise Fail('bookworm-backports has no qemu-system-x86 (apt-get update with '
                       f'{BACKPORTS.strip()!r} failed?)')
        d = os.path.join(CACHE, 'qemu-' + re.sub(r'[^A-Za-z0-9.+-]', '_', ver))
        binary = os.path.join(d, 'usr', 'bin', 'qemu-system-x86_64')
        if not os.access(binary, os.X_OK):
            t0 = time.monotonic()
            log(f'==> fetching QEMU {ver} from bookworm-backports into {d}')
            work = tempfile.mkdtemp(prefix='hwlab-qemu-')
            try:
                debs = _download(opts, QEMU_PACKAGES, work)
                tmpd = d + '.tmp'
                shutil.rmtree(tmpd, ignore_errors=True)
                for pkg in QEMU_PACKAGES:
                    V.run(['dpkg-deb', '-x', debs[pkg], tmpd], timeout=120)
                shutil.rmtree(d, ignore_errors=True)
                os.rename(tmpd, d)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            log(f'  ok: QEMU unpacked in {time.monotonic() - t0:.1f}s')
        res = V.run(['ldd', binary], check_rc=False)
        missing = [ln.split()[0] for ln in res.stdout.splitlines() if 'not found' in ln]
        if missing:
            raise Fail(f'{binary} needs libraries this host lacks: {missing} '
                       '(scripts/install-deps installs them)')
    share = os.path.join(d, 'usr', 'share')
    return binary, ['-L', os.path.join(share, 'qemu'), '-L', os.path.join(share, 'seabios'),
                    '-L', '/usr/lib/ipxe/qemu']


def _generic_kernel_package():
    """The ABI package linux-image-amd64 depends on (linux-image-6.1.0-NN-amd64)."""
    for attempt in range(2):
        res = V.run(['apt-cache', 'depends', 'linux-image-amd64'], check_rc=False)
        m = re.search(r'Depends:\s*(linux-image-\S+-amd64)\b', res.stdout)
        if m:
            return m.group(1)
        if attempt == 0:
            V.run(['apt-get', 'update', '-q'], check_rc=False, timeout=300)
    raise Fail(f'cannot resolve linux-image-amd64 with apt-cache depends (rc '
               f'{res.returncode}: {res.stderr.strip()}); run apt-get update?')


def _module_files(root, kver):
    out = {}
    for dp, _, fns in os.walk(os.path.join(root, 'lib', 'modules', kver)):
        for fn in fns:
            if '.ko' in fn:
                out[fn.split('.ko')[0].replace('-', '_')] = os.path.join(dp, fn)
    return out


def _module_data(path):
    data = open(path, 'rb').read()
    if path.endswith('.xz'):
        data = subprocess.run(['xz', '-dc', path], check=True, capture_output=True).stdout
    elif path.endswith('.zst'):
        data = subprocess.run(['zstd', '-dc', path], check=True, capture_output=True).stdout
    return data


def _module_depends(data):
    """The `depends=` entry of a module's .modinfo section (no kmod needed)."""
    i = data.find(b'\0depends=')
    if i < 0:
        return []
    j = data.index(b'\0', i + 1)
    return [d for d in data[i + 9:j].decode().split(',') if d]


def l1_image():
    """(vmlinuz, base initramfs) from the generic kernel, built once and cached."""
    kpkg = _generic_kernel_package()
    key = hashlib.sha256((kpkg + INIT + AGENT + ' '.join(MODULES)).encode()).hexdigest()[:12]
    d = os.path.join(CACHE, f'{kpkg}-{key}')
    kernel, base = os.path.join(d, 'vmlinuz'), os.path.join(d, 'base.cpio')
    with _cache_lock():
        if os.path.exists(base) and os.path.exists(kernel):
            return kernel, base
        t0 = time.monotonic()
        log(f'==> building the L1 image from {kpkg} and busybox-static into {d}')
        work = tempfile.mkdtemp(prefix='hwlab-image-')
        try:
            debs = _download([], [kpkg, 'busybox-static'], work)
            root = os.path.join(work, 'x')
            for pkg in (kpkg, 'busybox-static'):
                V.run(['dpkg-deb', '-x', debs[pkg], root], timeout=300)
            kver = os.listdir(os.path.join(root, 'lib', 'modules'))[0]
            files = _module_files(root, kver)
            mdir = f'lib/modules/{kver}'
            ird = os.path.join(work, 'ird')
            for mod in MODULES:
                name = mod.replace('-', '_')
                if name not in files:
                    raise Fail(f'module {mod} is not in {kpkg}')
                data = _module_data(files[name])
                for dep in _module_depends(data):
                    if dep.replace('-', '_') not in [m.replace('-', '_') for m in MODULES]:
                        raise Fail(f'module {mod} needs {dep}: add it to MODULES')
                rel = os.path.relpath(files[name], os.path.join(root, mdir))
                rel = re.sub(r'\.ko\.(xz|zst)$', '.ko', rel)
                os.makedirs(os.path.dirname(os.path.join(ird, mdir, rel)), exist_ok=True)
                with open(os.path.join(ird, mdir, rel), 'wb') as f:
                    f.write(data)
            V.run([os.path.join(root, 'bin', 'busybox'), 'depmod', '-b', ird, kver])
            cp = Q.Cpio()
            for name in ('bin', 'dev', 'proc', 'sys', 'lib', 'lib/modules', mdir):
                cp.dir(name)
            cp.chardev('dev/console', 5, 1)
            cp.file('init', INIT.encode(), 0o755)
            cp.file('agent.sh', AGENT.encode(), 0o644)
            with open(os.path.join(root, 'bin', 'busybox'), 'rb') as f:
                cp.file('bin/busybox', f.read(), 0o755)
            cp.symlink('bin/sh', 'busybox')
            Q.cpio_add_tree(cp, ird, mdir)
            Q.publish_image(d, os.path.join(root, 'boot', f'vmlinuz-{kver}'), cp.finish())
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log(f'  ok: L1 image ({kver}, {os.path.getsize(base) >> 10} KiB initramfs) built '
            f'in {time.monotonic() - t0:.1f}s')
        return kernel, base


# --------------------------------------------------------------------------
# L1


class L1:
    """One QEMU 10 machine. iommu=True: intel-iommu, the VF on vfio-pci (IOVA as VA);
    False: no IOMMU, the VF on uio_pci_generic (IOVA as PA). Files in @rundir."""

    def __init__(self, rundir, iommu, name='l1'):
        self.rundir, self.iommu, self.name = rundir, iommu, name
        base = os.path.join(rundir, name)
        self.console_path = base + '.console.log'
        self.agent_path = base + '.agent.sock'
        self.qmp_path = base + '.qmp.sock'
        self.wire_l1 = base + '.wire-l1.sock'      # QEMU's end of the igb wire
        self.wire_host = base + '.wire-host.sock'  # ours
        self.scratch = os.path.join(rundir, 'scratch')
        self.proc = None
        self.agent = None
        self.boot_s = None

    def cmdline(self, timeout_s):
        qemu, ldirs = qemu10()
        kernel, initrd = l1_image()
        append = [f'console=ttyS0 panic=-1 loglevel=4 hugepagesz=2M hugepages={HUGEPAGES}',
                  f'hwlab.scratch={self.scratch}']
        if self.iommu:
            append.append('intel_iommu=on')
        cmd = ['timeout', '-s', 'KILL', str(timeout_s), qemu] + ldirs + [
            '-machine', 'q35', '-accel', 'tcg,thread=multi', '-cpu', 'max',
            '-smp', str(L1_SMP), '-m', L1_MEM,
            '-nodefaults', '-no-reboot', '-display', 'none', '-vga', 'none',
            # igb VF quirk: a 64-bit SR-IOV BAR above 4 GiB reaches nothing (the VF reads
            # "PF still in reset"): keep every BAR below 4 GiB, so the 9p devices must be
            # legacy virtio (no 64-bit BAR).
            '-global', 'q35-pcihost.pci-hole64-size=0',
            '-global', 'virtio-9p-pci.disable-modern=on',
            '-global', 'virtio-9p-pci.disable-legacy=off']
        if self.iommu:
            cmd += ['-device', 'intel-iommu,intremap=on']
        cmd += [
            '-kernel', kernel, '-initrd', initrd, '-append', ' '.join(append),
            '-serial', f'file:{self.console_path}',
            '-chardev', f'socket,id=agent,path={self.agent_path},server=on,wait=off',
            '-serial', 'chardev:agent',
            '-qmp', f'unix:{self.qmp_path},server=on,wait=off',
            '-fsdev', 'local,id=hostroot,path=/,security_model=none,readonly=on,'
                      'multidevs=remap',
            '-device', 'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
            '-fsdev', f'local,id=scratch,path={self.scratch},security_model=none,'
                      'multidevs=remap',
            '-device', 'virtio-9p-pci,fsdev=scratch,mount_tag=scratch',
            '-netdev', f'dgram,id=wire,local.type=unix,local.path={self.wire_l1},'
                       f'remote.type=unix,remote.path={self.wire_host}',
            '-device', f'igb,netdev=wire,mac={PF_MAC},bus=pcie.0,addr=0x3']
        return cmd

    def start(self, timeout_s=3600):
        os.makedirs(self.scratch, exist_ok=True)
        for p in (self.agent_path, self.qmp_path, self.wire_l1, self.wire_host):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        self.wire = W.HostWire(self.wire_host, self.wire_l1)
        cmd = self.cmdline(timeout_s)
        log(f'==> starting L1 ({"q35 + intel-iommu" if self.iommu else "q35, no IOMMU"}, '
            f'{L1_SMP} vCPU TCG, {L1_MEM})')
        self.t_start = time.monotonic()
        self.proc = V.Proc(f'qemu-{self.name}', cmd, self.rundir)
        V.wait_until(lambda: os.path.exists(self.agent_path) or not self.proc.alive(), 30,
                     'QEMU to create its sockets')
        if not self.proc.alive():
            raise Fail(f'QEMU exited with {self.proc.p.returncode}: {self.proc.tail(10)}')

        def connect():
            # The socket file exists from bind(); QEMU listens a moment later.
            try:
                return Q.Agent(self.agent_path, self)
            except ConnectionRefusedError:
                if not self.proc.alive():
                    raise Fail(f'QEMU exited with {self.proc.p.returncode}: '
                               f'{self.proc.tail(10)}') from None
                return None
        self.agent = V.wait_until(connect, 30, 'QEMU to accept on the agent socket')
        return self

    def wait_ready(self, timeout=240):
        self.agent.wait_ready(timeout)
        self.boot_s = time.monotonic() - self.t_start
        log(f'  ok: L1 booted, agent ready after {self.boot_s:.1f}s')

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def sh(self, cmd, timeout=60, ok=True):
        rc, out = self.agent.run(cmd, timeout)
        if ok and rc != 0:
            raise Fail(f'L1: `{cmd}` -> rc {rc}: {out.strip()[-800:]}')
        return out

    def console_text(self, start=0):
        try:
            with open(self.console_path, 'rb') as f:
                f.seek(start)
                return f.read().decode(errors='replace')
        except OSError as e:
            return f'(no console log: {e})'

    def console_size(self):
        try:
            return os.path.getsize(self.console_path)
        except OSError:
            return 0

    def stop(self):
        if self.agent and self.alive():
            with contextlib.suppress(Exception):
                self.agent.submit('poweroff -f')
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.p.wait(10)
        if self.agent:
            self.agent.close()
        if self.proc:
            self.proc.stop()
        if getattr(self, 'wire', None):
            self.wire.close()


# --------------------------------------------------------------------------
# Development: an L1 that outlives the command (boot once, then run commands)


def _dev_agent(rundir):
    agent = Q.Agent(os.path.join(rundir, 'l1.agent.sock'), _DevL1())
    agent.next_id = int.from_bytes(os.urandom(3), 'big') + 1000
    return agent


class _DevL1:
    name = 'l1'
    proc = None

    def alive(self):
        return True


def dev_main(argv):
    ap = argparse.ArgumentParser(prog='hwlab.py dev')
    sub = ap.add_subparsers(dest='cmd', required=True)
    b = sub.add_parser('boot', help='boot L1 and leave it running')
    b.add_argument('--dir', required=True)
    b.add_argument('--pa', action='store_true', help='no IOMMU (uio_pci_generic, PA)')
    s = sub.add_parser('sh', help='run one shell line in a running L1')
    s.add_argument('--dir', required=True)
    s.add_argument('--timeout', type=float, default=120)
    s.add_argument('line')
    k = sub.add_parser('stop')
    k.add_argument('--dir', required=True)
    a = ap.parse_args(argv)
    if a.cmd == 'boot':
        os.makedirs(a.dir, exist_ok=True)
        l1 = L1(a.dir, iommu=not a.pa)
        l1.start()
        l1.wait_ready()
        with open(os.path.join(a.dir, 'qemu.pid'), 'w') as f:
            f.write(str(l1.proc.pid))
        l1.agent.close()
        return 0
    if a.cmd == 'sh':
        agent = _dev_agent(a.dir)
        rc, out = agent.run(a.line, a.timeout)
        sys.stdout.write(out)
        return rc
    if a.cmd == 'stop':
        with open(os.path.join(a.dir, 'qemu.pid')) as f:
            pid = int(f.read())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        return 0
    return 2


# --------------------------------------------------------------------------
# The run: one boot, several scenarios


def _wire_thread(l1, req, results):
    """Send what a scenario asked for over the igb wire (host -> PF's wire -> VF) and
    check every echo vfr-guest sends back the same way; write the result for L1."""
    def run():
        # Echoes a stream of an earlier scenario left in the socket would count as this
        # one's duplicates (same flow, same seqs): drop them first.
        while l1.wire.recv(0) is not None:
            pass
        lo, hi = (int(x) for x in req['sizes'].split('-'))
        st = W.Stream(l1.wire, W.mac_bytes(req['dst']), req['flow'], req['count'],
                      req['rate'], W.mixed_sizes(lo, hi), echo=True)
        try:
            res = st.run()
        except OSError as e:
            res = st.result()
            res['error'] = repr(e)
        results.append(res)
        tmp = req['out'] + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(res, f)
        os.rename(tmp, req['out'])
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def run_scenario(l1, name, mode, timeout=600):
    """Run one l1lab scenario through the agent, serving its wire requests; returns
    (rc, result dict or None, seconds)."""
    d = os.path.join(l1.scratch, name)
    shutil.rmtree(d, ignore_errors=True)
    env = ' '.join(f'{k}={v}' for k, v in (('VFRELAY', V.VFRELAY), ('VFR_GUEST', GUEST),
                                           ('VFR_BUILD_DIR', V.BUILD_DIR),
                                           ('HWLAB_PMDPROBE', PMDPROBE)))
    cmd = f'{env} /usr/bin/python3 {HERE}/l1lab.py {name} --mode {mode} --dir {d}'
    t0 = time.monotonic()
    cid = l1.agent.submit(cmd)
    marker = re.compile(rb'@@END %d (\d+)\n' % cid)
    deadline = t0 + timeout
    threads, wres = [], []
    rc = None
    while rc is None:
        m = marker.search(l1.agent.buf)
        chunk = l1.agent.buf[:m.start()] if m else l1.agent.buf
        lines = chunk.split(b'\n')
        keep = b'' if m else lines.pop()
        for ln in lines:
            text = ln.decode(errors='replace')
            print('  L1| ' + text, flush=True)
            if text.startswith('@@WIRE '):
                threads.append(_wire_thread(l1, json.loads(text[7:]), wres))
        if m:
            rc = int(m.group(1))
            l1.agent.buf = l1.agent.buf[m.end():]
            break
        l1.agent.buf = keep
        try:
            l1.agent._fill(deadline)
        except socket.timeout:
            raise Fail(f'scenario {name} did not finish within {timeout}s') from None
    for t in threads:
        t.join(30)
    res = None
    with contextlib.suppress(OSError, ValueError):
        res = json.load(open(os.path.join(d, 'result.json')))
    return rc, res, time.monotonic() - t0


def dump_failure(l1, name, con0):
    d = os.path.join(l1.scratch, name)
    print(f'----- L1 console during {name} ({l1.console_path}) -----')
    print('\n'.join(l1.console_text(con0).splitlines()[-80:]), flush=True)
    for path in sorted(glob.glob(os.path.join(d, 'vfrelay*.log'))):
        lines = [ln for ln in open(path, errors='replace').read().splitlines()
                 if 'VHOST_CONFIG' not in ln]
        print(f'----- {path} (without VHOST_CONFIG lines), last 60 -----')
        print('\n'.join(lines[-60:]), flush=True)
    for path in sorted(glob.glob(os.path.join(d, 'guest*.log'))):
        print(f'----- {path}, last 15 -----')
        print('\n'.join(open(path, errors='replace').read().splitlines()[-15:]), flush=True)
    for path in sorted(glob.glob(os.path.join(d, 'guest*.json'))):
        print(f'----- {path} -----')
        print(open(path, errors='replace').read(), flush=True)


def _expectations(names, mode, known_failures):
    """'fail' for a scenario listed as NAME (both modes) or MODE:NAME, else 'pass';
    HWLAB_EXPECT=NAME=pass|fail,MODE:NAME=... overrides."""
    kf = set(known_failures)

    def listed(n):
        base = n.split('@', 1)[0]  # a variant (NAME@MTU:RING) expects what NAME does
        return bool({n, base, f'{mode}:{n}', f'{mode}:{base}'} & kf)
    exp = {n: ('fail' if listed(n) else 'pass') for n in names}
    for item in filter(None, os.environ.get('HWLAB_EXPECT', '').split(',')):
        k, _, v = item.partition('=')
        k = k.split(':', 1)[1] if k.startswith(mode + ':') else k
        if k in exp and v in ('pass', 'fail'):
            exp[k] = v
    return exp


def main(argv):
    ap = argparse.ArgumentParser(description='boot L1 once and run lab scenarios in it')
    ap.add_argument('--mode', choices=['iommu', 'pa'], required=True)
    ap.add_argument('--known-failures', default='',
                    help='comma-separated scenarios expected to fail today')
    ap.add_argument('scenarios', nargs='+')
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        log('SKIP: the lab needs root')
        return V.SKIP
    for exe in (V.VFRELAY, GUEST, PMDPROBE, V.SOURCE_ROOT):
        if not os.access(exe, os.X_OK):
            log(f'FAIL: {exe} not found (build first)')
            return 1
        # L1 sees the host's / but mounts fresh tmpfs over these (see INIT).
        real = os.path.realpath(exe)
        hidden = [d for d in L1_TMPFS if real == d or real.startswith(d + '/')]
        if hidden:
            log(f'FAIL: {real} lies under {hidden[0]}, which L1 does not share: build elsewhere')
            return 1
    names = a.scenarios
    if os.environ.get('HWLAB_SCENARIOS'):
        # Any scenario or variant (guest_kill@1000:64), in the order given.
        names = [n for n in os.environ['HWLAB_SCENARIOS'].split(',') if n]
    exp = _expectations(names, a.mode, a.known_failures.split(','))
    rundir = tempfile.mkdtemp(prefix=f'hwlab-{a.mode}-')
    os.chmod(rundir, 0o755)
    log(f'=== hwlab {a.mode}: {", ".join(names)} (files in {rundir})')
    t0 = time.monotonic()
    l1 = L1(rundir, iommu=a.mode == 'iommu')
    rows, bad = [], []
    old = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(143)))
    try:
        l1.start()
        l1.wait_ready()
        for name in names:
            if not l1.alive():
                rows.append((name, exp[name], 'not run (L1 died)', 0, ''))
                bad.append(name)
                continue
            log(f'==> scenario {name} (expected to {exp[name]})')
            con0 = l1.console_size()
            try:
                rc, res, secs = run_scenario(l1, name, a.mode)
            except (Fail, V.Fail) as e:
                rc, res, secs = -1, None, 0
                log(f'  {e}')
            got = 'pass' if rc == 0 else 'fail'
            failed = [c['check'] for c in (res or {}).get('failed', [])]
            dmar = (res or {}).get('dmar_count')
            note = f'{len(failed)} check(s) failed' if failed else ''
            if dmar:
                note += f', {dmar} DMAR line(s)'
            rows.append((name, exp[name], got, secs, note))
            if got != exp[name]:
                bad.append(name)
                if got == 'fail':
                    dump_failure(l1, name, con0)
                else:
                    log(f'  {name} passed but is listed as a known failure: take it off the '
                        'list (hwlab/meson.build)')
            elif got == 'fail':
                log(f'  (known failure) failed checks: {failed[:8]}')
    except (Fail, V.Fail, OSError) as e:
        log(f'FAIL: {e}')
        print('----- L1 console, last 60 lines -----')
        print('\n'.join(l1.console_text().splitlines()[-60:]), flush=True)
        bad.append('boot')
    finally:
        signal.signal(signal.SIGTERM, old)
        l1.stop()
        log(f'--- hwlab {a.mode}: boot {l1.boot_s or 0:.1f}s, total '
            f'{time.monotonic() - t0:.0f}s')
        for name, want, got, secs, note in rows:
            log(f'  {name:<14} expected {want:<4} got {got:<4} {secs:6.1f}s  {note}')
        if os.environ.get('HWLAB_KEEP') == '1' or bad:
            log(f'  files kept in {rundir}')
        else:
            shutil.rmtree(rundir, ignore_errors=True)
    if bad:
        log(f'FAIL: not as expected: {", ".join(bad)}')
        return 1
    log('PASS: every scenario as expected')
    return 0


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'dev':
        sys.exit(dev_main(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
