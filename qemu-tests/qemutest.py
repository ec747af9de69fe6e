# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Harness for the QEMU tests (suite `qemu`): real Linux guests attached to vfrelay.

    [netns vfrt-X]                [root netns]
    vfrt-X1 (10.99.0.1) <-veth-> vfrt-X0 <- net_af_packet -- vfrelay
                                                              | vhost-user (vfrelay = client)
                                  QEMU (server) virtio-net-pci -> Linux guest eth0 (10.99.0.2)

Everything the integration harness (tests/integration/vfrtest.py) does for the
namespace, veth, vfrelay, telemetry and raw frames is reused by importing it;
this file adds the guest:

- guest image: the Debian cloud kernel and busybox-static, fetched with
  `apt-get download` and cached (base initramfs: busybox, the virtio-net modules,
  /init); each run appends a second cpio archive with the test program vfrq
  (Linux concatenates cpio archives);
- QEMU (TCG unless KVM really works) with guest memory in a shared memfd, the
  vhost-user socket as server, the console on ttyS0 (a file) and a command
  agent on ttyS1 (a unix socket): the host sends shell lines, the guest runs
  them and streams the output back followed by `@@END <id> <rc>`;
- QMP for live migration and machine resets.

Environment (besides vfrtest's):
    VFRQ_GUEST_BIN   the static guest test program (meson sets it)
    VFRQ_CACHE       image cache directory (default ~/.cache/vfrelay/qemu-guest)
    VFRQ_ACCEL       tcg | kvm | auto (default auto: kvm only if vmx/svm is in
                     /proc/cpuinfo and a probe boot succeeds)
    VFRQ_QEMU        qemu-system-x86_64 binary
"""

import contextlib
import fcntl
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
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'tests', 'integration'))
import vfrtest as V  # noqa: E402  (path set just above)

from vfrtest import Fail, check, check_eq, log, wait_until  # noqa: E402,F401

QEMU = os.environ.get('VFRQ_QEMU', 'qemu-system-x86_64')
GUEST_BIN = os.environ.get('VFRQ_GUEST_BIN',
                           os.path.join(V.BUILD_DIR, 'qemu-tests', 'vfrq'))
CACHE = os.environ.get('VFRQ_CACHE', os.path.expanduser('~/.cache/vfrelay/qemu-guest'))

GUEST_MAC = '52:54:00:00:00:02'
GUEST_MAC_B = bytes.fromhex(GUEST_MAC.replace(':', ''))
HOST_IP = '10.99.0.1'
GUEST_IP = '10.99.0.2'

# Linux mergeable RX buffers are >= 1536 bytes; vfrelay needs a guest buffer of
# 12 + (framesz - 32) bytes for af_packet zero copy, so framesz 1552 (frames up to
# ~1486 bytes: zero-copy scenarios use MTU 1400 on the veth).
# DPDK 22.11's af_packet PMD addresses frame i at map + i * framesz, ignoring the
# kernel's per-block layout, so blocksz must be a multiple of framesz (else only
# the first blocksz/framesz frames of each ring work): 256 frames of 1552 bytes
# are 397312 bytes = 97 pages.
AF_PACKET_FRAMESZ = 1552
AF_PACKET_BLOCKSZ = 256 * AF_PACKET_FRAMESZ
# The kernel puts a frame's MAC header 66 bytes into its slot (tpacket2 header,
# sockaddr_ll, alignment): 1552-byte slots carry frames up to 1486 bytes, longer
# ones arrive truncated (the PMD passes tp_snaplen on). MTU 1400 keeps inside that.
ZC_MAX_MTU = 1400

MODULES = ['failover', 'net_failover', 'virtio_ring', 'virtio', 'virtio_pci_modern_dev',
           'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_net']

# The base image's /init: mount, load virtio-net, then serve commands on ttyS1.
INIT = r'''#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/test/bin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# Only the test's frames on the wire: no IPv6 (router solicitations, MLD, DAD).
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
for m in MODULES; do modprobe $m || echo "init: modprobe $m failed"; done
ip link set lo up
echo "init: $(uname -r) up in $(cut -d' ' -f1 /proc/uptime)s, $(nproc) cpu(s)"
# The agent: one shell line per request "<id> <command>", output streamed back,
# then "@@END <id> <rc>". Raw mode: no echo, no CR/LF translation.
stty -F /dev/ttyS1 raw -echo 115200
exec 3<>/dev/ttyS1
echo "@@READY" >&3
while IFS= read -r line <&3; do
	id=${line%% *}
	cmd=${line#* }
	( eval "$cmd" ) </dev/null >&3 2>&3
	echo "@@END $id $?" >&3
done
echo "init: agent input closed"
poweroff -f
'''.replace('MODULES', ' '.join(MODULES))


# --------------------------------------------------------------------------
# cpio (newc), enough for an initramfs: directories, files, symlinks, nodes


class Cpio:
    def __init__(self):
        self.out = bytearray()
        self.ino = 1000

    def _entry(self, name, mode, data=b'', rdev=(0, 0)):
        name_b = name.encode() + b'\0'
        self.ino += 1
        hdr = '070701' + ''.join(f'{v:08x}' for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
        self.out += hdr.encode() + name_b
        self.out += b'\0' * (-len(self.out) % 4)
        self.out += data
        self.out += b'\0' * (-len(self.out) % 4)

    def dir(self, name, mode=0o755):
        self._entry(name, 0o040000 | mode)

    def file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        self._entry(name, 0o120000 | 0o777, target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        self._entry(name, 0o020000 | mode, rdev=(major, minor))

    def finish(self):
        self._entry('TRAILER!!!', 0)
        self.out += b'\0' * (-len(self.out) % 512)
        return bytes(self.out)


# --------------------------------------------------------------------------
# The guest image


def cpio_add_tree(cp, root, sub):
    """Every directory and file under @root/@sub into @cp, named relative to @root,
    in sorted order (the archive, and so its cache key, is the same every time)."""
    for dp, dns, fns in os.walk(os.path.join(root, sub)):
        for dn in sorted(dns):
            cp.dir(os.path.relpath(os.path.join(dp, dn), root))
        for fn in sorted(fns):
            p = os.path.join(dp, fn)
            with open(p, 'rb') as f:
                cp.file(os.path.relpath(p, root), f.read())


def publish_image(d, vmlinuz, cpio):
    """@d/vmlinuz (a copy of @vmlinuz) and @d/base.cpio (@cpio's bytes), replacing @d
    whole: a run that dies half way leaves no image another run would take."""
    tmpd = d + '.tmp'
    shutil.rmtree(tmpd, ignore_errors=True)
    os.makedirs(tmpd)
    shutil.copy(vmlinuz, os.path.join(tmpd, 'vmlinuz'))
    with open(os.path.join(tmpd, 'base.cpio'), 'wb') as f:
        f.write(cpio)
    shutil.rmtree(d, ignore_errors=True)
    os.rename(tmpd, d)


def _kernel_package():
    """The kernel package linux-image-cloud-amd64 depends on (never a glob)."""
    res = V.run(['apt-cache', 'depends', 'linux-image-cloud-amd64'], check_rc=False)
    m = re.search(r'Depends:\s*(linux-image-\S+-cloud-amd64)\b', res.stdout)
    if not m:
        # A machine whose packages were all installed may never have fetched the lists.
        V.run(['apt-get', 'update', '-q'], check_rc=False, timeout=300)
        res = V.run(['apt-cache', 'depends', 'linux-image-cloud-amd64'], check_rc=False)
        m = re.search(r'Depends:\s*(linux-image-\S+-cloud-amd64)\b', res.stdout)
    if not m:
        raise Fail('cannot resolve linux-image-cloud-amd64 with apt-cache depends '
                   f'(rc {res.returncode}: {res.stderr.strip()}); run apt-get update?')
    return m.group(1)


def guest_image():
    """(vmlinuz path, base initramfs path), built once and cached under CACHE."""
    kpkg = _kernel_package()
    key = hashlib.sha256((kpkg + INIT).encode()).hexdigest()[:12]
    d = os.path.join(CACHE, f'{kpkg}-{key}')
    kernel, base = os.path.join(d, 'vmlinuz'), os.path.join(d, 'base.cpio')
    if os.path.exists(base) and os.path.exists(kernel):
        return kernel, base
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, '.lock'), 'w') as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if os.path.exists(base):
            return kernel, base
        t0 = time.monotonic()
        log(f'==> building the guest image from {kpkg} and busybox-static into {d}')
        work = tempfile.mkdtemp(prefix='vfrq-image-')
        try:
            # _apt cannot write into a root-only temp dir: let it, or apt warns.
            os.chmod(work, 0o755)
            V.run(['apt-get', 'download', kpkg, 'busybox-static'], cwd=work, timeout=300)
            debs = {n.split('_')[0]: os.path.join(work, n) for n in os.listdir(work)
                    if n.endswith('.deb')}
            root = os.path.join(work, 'x')
            for pkg in (kpkg, 'busybox-static'):
                V.run(['dpkg-deb', '-x', debs[pkg], root], timeout=120)
            kver = os.listdir(os.path.join(root, 'lib', 'modules'))[0]
            ird = os.path.join(work, 'ird')
            mdir = f'lib/modules/{kver}'
            os.makedirs(os.path.join(ird, mdir))
            cp = Cpio()
            for name in ('bin', 'dev', 'proc', 'sys', 'tmp', 'test', 'lib', 'lib/modules',
                         mdir):
                cp.dir(name)
            cp.chardev('dev/console', 5, 1)
            cp.file('init', INIT.encode(), 0o755)
            with open(os.path.join(root, 'bin', 'busybox'), 'rb') as f:
                cp.file('bin/busybox', f.read(), 0o755)
            cp.symlink('bin/sh', 'busybox')
            for mod in MODULES:
                found = [os.path.join(dp, fn) for dp, _, fns in
                         os.walk(os.path.join(root, mdir)) for fn in fns
                         if fn.split('.ko')[0] == mod and '.ko' in fn]
                if len(found) != 1:
                    raise Fail(f'module {mod}: found {found} in {kpkg}')
                src = found[0]
                rel = os.path.relpath(src, os.path.join(root, mdir))
                data = open(src, 'rb').read()
                if src.endswith('.xz') or src.endswith('.zst'):
                    tool = ['xz', '-dc'] if src.endswith('.xz') else ['zstd', '-dc']
                    data = subprocess.run(tool + [src], check=True, capture_output=True).stdout
                    rel = rel.rsplit('.', 1)[0]
                os.makedirs(os.path.dirname(os.path.join(ird, mdir, rel)), exist_ok=True)
                with open(os.path.join(ird, mdir, rel), 'wb') as f:
                    f.write(data)
            V.run([os.path.join(root, 'bin', 'busybox'), 'depmod', '-b', ird, kver])
            cpio_add_tree(cp, ird, mdir)
            publish_image(d, os.path.join(root, 'boot', f'vmlinuz-{kver}'), cp.finish())
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log(f'  ok: guest image ({kver}) built in {time.monotonic() - t0:.1f}s')
        return kernel, base


def test_archive():
    """The per-run cpio appended to the base: /test/bin/vfrq."""
    if not os.access(GUEST_BIN, os.X_OK):
        raise Fail(f'guest program {GUEST_BIN} not found (build qemu-tests/vfrq)')
    cp = Cpio()
    cp.dir('test')
    cp.dir('test/bin')
    with open(GUEST_BIN, 'rb') as f:
        cp.file('test/bin/vfrq', f.read(), 0o755)
    return cp.finish()


# --------------------------------------------------------------------------
# Accelerator


def _cpu_has_virt():
    with open('/proc/cpuinfo') as f:
        return re.search(r'\b(vmx|svm)\b', f.read()) is not None


_accel = None


def accel(env):
    """tcg, or kvm if asked (VFRQ_ACCEL=kvm) or if auto and a probe boot under KVM works."""
    global _accel
    if _accel:
        return _accel
    want = os.environ.get('VFRQ_ACCEL', 'auto')
    if want in ('tcg', 'kvm'):
        _accel = want
    elif not (_cpu_has_virt() and os.access('/dev/kvm', os.R_OK | os.W_OK)):
        _accel = 'tcg'
    else:
        log('==> probing KVM (vmx/svm present): booting a guest without a NIC')
        try:
            g = Guest(env, 'probe', accel_override='kvm', nic=False)
            g.start()
            g.wait_ready(timeout=30)
            _accel = 'kvm'
        except Fail as e:
            log(f'  KVM probe failed ({e}); using TCG')
            _accel = 'tcg'
        finally:
            with contextlib.suppress(Exception):
                g.stop()
    log(f'  accelerator: {_accel}')
    return _accel


# --------------------------------------------------------------------------
# QMP


class Qmp:
    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b''
        self._read()  # greeting
        self.cmd('qmp_capabilities')

    def _read(self):
        while b'\n' not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Fail('QMP connection closed')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            r = self._read()
            if 'return' in r:
                return r['return']
            if 'error' in r:
                raise Fail(f'QMP {name}: {r["error"]}')
            # events are skipped

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------
# A guest


class Guest:
    """One QEMU process. Its files live in env.tmp/<name>.*"""

    def __init__(self, env, name, queues=1, mq=False, smp=1, vhost_sock=None, incoming=None,
                 accel_override=None, nic=True, slots=0, maxmem=None):
        self.env, self.name, self.queues, self.mq, self.smp = env, name, queues, mq, smp
        # Memory hotplug (opt in): @slots DIMM slots, up to @maxmem (QEMU syntax, '1G').
        self.slots, self.maxmem = slots, maxmem
        self.vhost_sock = vhost_sock or env.sock
        self.incoming = incoming
        self.nic = nic
        self.accel = accel_override
        base = os.path.join(env.tmp, name)
        self.console_path = base + '.console.log'
        self.agent_path = base + '.agent.sock'
        self.qmp_path = base + '.qmp.sock'
        self.initrd = base + '.initrd'
        self.proc = None
        self.agent = None
        self.t_start = None

    def cmdline(self, kernel, timeout_s):
        acc = self.accel or accel(self.env)
        mem = '512'
        if self.slots:
            mem += f',slots={self.slots},maxmem={self.maxmem or "1G"}'
        cmd = ['timeout', '-s', 'KILL', str(timeout_s), QEMU, '-accel', acc,
               '-nodefaults', '-no-reboot', '-display', 'none', '-vga', 'none',
               '-m', mem, '-smp', str(self.smp),
               '-object', 'memory-backend-memfd,id=mem,size=512M,share=on',
               '-numa', 'node,memdev=mem',
               '-kernel', kernel, '-initrd', self.initrd,
               '-append', 'console=ttyS0 panic=-1 loglevel=5',
               '-serial', f'file:{self.console_path}',
               '-chardev', f'socket,id=agent,path={self.agent_path},server=on,wait=off',
               '-serial', 'chardev:agent',
               '-qmp', f'unix:{self.qmp_path},server=on,wait=off']
        if self.nic:
            q = self.queues
            dev = f'virtio-net-pci,netdev=n0,mac={GUEST_MAC},vectors=0,mrg_rxbuf=on'
            if q > 1:
                dev += ',mq=on'
            cmd += ['-chardev', f'socket,id=vu0,path={self.vhost_sock},server=on,wait=off',
                    '-netdev', f'vhost-user,id=n0,chardev=vu0,queues={q}',
                    '-device', dev]
        if self.incoming:
            cmd += ['-incoming', self.incoming]
        return cmd

    def start(self, timeout_s=600):
        kernel, base = guest_image()
        with open(base, 'rb') as f, open(self.initrd, 'wb') as out:
            out.write(f.read())
            out.write(test_archive())
        for p in (self.vhost_sock, self.agent_path, self.qmp_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        cmd = self.cmdline(kernel, timeout_s)
        log(f'==> starting QEMU guest {self.name} ({cmd[6]}, {self.smp} vCPU, '
            f'{self.queues} queue pair(s){", incoming" if self.incoming else ""})')
        self.t_start = time.monotonic()
        self.proc = V.Proc(f'qemu-{self.name}', cmd, self.env.tmp)
        self.env.procs.append(self.proc)
        self.env.guests.append(self)
        wait_until(lambda: os.path.exists(self.agent_path) or not self.proc.alive(), 20,
                   'QEMU to create its sockets')
        if not self.proc.alive():
            raise Fail(f'QEMU {self.name} exited with {self.proc.p.returncode}')
        self.agent = Agent(self.agent_path, self)
        return self

    def wait_ready(self, timeout=60):
        self.agent.wait_ready(timeout)
        log(f'  ok: guest {self.name} booted, agent ready after '
            f'{time.monotonic() - self.t_start:.1f}s')

    def sh(self, cmd, timeout=30, ok=True):
        """Run @cmd in the guest; return its output. ok=True: a nonzero rc is a Fail."""
        rc, out = self.agent.run(cmd, timeout)
        if ok and rc != 0:
            raise Fail(f'guest {self.name}: `{cmd}` -> rc {rc}: {out.strip()[-800:]}')
        return out

    def sh_rc(self, cmd, timeout=30):
        return self.agent.run(cmd, timeout)

    def qmp(self):
        return Qmp(self.qmp_path)

    def add_dimm(self, dimm_id, size_mib=128):
        """Hot-add a DIMM over QMP (needs slots): a shared memfd backend, then a
        pc-dimm on it. QEMU sends the backend a new SET_MEM_TABLE with the rings running
        before device_add returns; the guest gets an ACPI memory hotplug event."""
        q = self.qmp()
        try:
            q.cmd('object-add', **{'qom-type': 'memory-backend-memfd', 'id': f'{dimm_id}-mem',
                                   'size': size_mib << 20, 'share': True})
            q.cmd('device_add', driver='pc-dimm', id=dimm_id, memdev=f'{dimm_id}-mem')
        finally:
            q.close()

    def reset(self, timeout=60):
        """Reset the machine (QMP system_reset) and wait for the agent of the new boot:
        the same kernel and initramfs boot again, the virtio device is reset on the way
        (the backend sees the rings stop and the device go, then a new one). -no-reboot
        turns every reset request into a shutdown, and SeaBIOS resets the machine again
        itself when it finds a warm boot: the reboot action is `reset` (QMP set-action)
        until the agent is back, `shutdown` again afterwards."""
        q = self.qmp()
        try:
            q.cmd('set-action', reboot='reset')
            self.agent.buf = b''  # nothing of the old boot is awaited any more
            self.t_start = time.monotonic()
            q.cmd('system_reset')
            self.wait_ready(timeout)
            q.cmd('set-action', reboot='shutdown')
        finally:
            q.close()

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def console_tail(self, n=60):
        try:
            with open(self.console_path, 'rb') as f:
                lines = f.read().decode(errors='replace').splitlines()
        except OSError as e:
            return f'(no console log: {e})'
        return '\n'.join(lines[-n:])

    def stop(self):
        if self.agent:
            self.agent.close()
        if self.proc:
            self.proc.stop()

    # -- guest network setup --------------------------------------------------

    def net_up(self, ip=GUEST_IP, mtu=None):
        cmds = ['ip link set eth0 up']
        if mtu:
            cmds.insert(0, f'ip link set eth0 mtu {mtu}')
        cmds += [f'ip addr add {ip}/24 dev eth0']
        self.sh(' && '.join(cmds))


class Agent:
    """Host side of the ttyS1 command agent."""

    def __init__(self, path, guest):
        self.guest = guest
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b''
        self.next_id = 1

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout
        self.sock.settimeout(min(left, 1.0))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            if not self.guest.alive():
                raise Fail(f'QEMU {self.guest.name} exited with '
                           f'{self.guest.proc.p.returncode}') from None
            return
        if not data:
            raise Fail(f'guest {self.guest.name}: agent connection closed')
        self.buf += data

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        try:
            while b'@@READY\n' not in self.buf:
                self._fill(deadline)
        except socket.timeout:
            raise Fail(f'guest {self.guest.name} did not boot within {timeout}s') from None
        self.buf = self.buf.split(b'@@READY\n', 1)[1]

    def submit(self, cmd):
        """Send @cmd; returns its id (read the result with result())."""
        if '\n' in cmd:
            raise ValueError('one line per command')
        cid = self.next_id
        self.next_id += 1
        self.sock.sendall(f'{cid} {cmd}\n'.encode())
        return cid

    def wait_text(self, text, timeout):
        """Wait until @text appears in the output of the running command."""
        deadline = time.monotonic() + timeout
        try:
            while text.encode() not in self.buf:
                self._fill(deadline)
        except socket.timeout:
            raise Fail(f'guest {self.guest.name}: no "{text}" within {timeout}s; output: '
                       f'{self.buf.decode(errors="replace")[-800:]}') from None

    def result(self, cid, timeout):
        marker = re.compile(rb'@@END %d (\d+)\n' % cid)
        deadline = time.monotonic() + timeout
        try:
            while True:
                m = marker.search(self.buf)
                if m:
                    out = self.buf[:m.start()].decode(errors='replace')
                    self.buf = self.buf[m.end():]
                    return int(m.group(1)), out
                self._fill(deadline)
        except socket.timeout:
            raise Fail(f'guest {self.guest.name}: command {cid} did not finish within '
                       f'{timeout}s; output so far: '
                       f'{self.buf.decode(errors="replace")[-800:]}') from None

    def run(self, cmd, timeout=30):
        return self.result(self.submit(cmd), timeout)


# --------------------------------------------------------------------------
# The environment


class QemuEnv(V.Env):
    """vfrtest.Env with QEMU guests in place of testpmd."""

    def __init__(self, tag, mtu=1500, **kw):
        super().__init__(tag, mtu=mtu, **kw)
        self.guests = []
        self.extra_prefixes = set()
        self.t0 = time.monotonic()

    def __enter__(self):
        super().__enter__()
        # The host end of the wire gets an address: ping and TCP from the namespace.
        V.run(['ip', '-n', self.veth.ns, 'addr', 'add', f'{HOST_IP}/24', 'dev',
               self.veth.inner])
        # A wire carries finished frames: no partial checksums, no GSO super-frames.
        # (af_packet hands the VF what veth has, and it ignores TP_STATUS_CSUMNOTREADY.)
        off = ['-K', self.veth.inner, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']
        V.run(['ip', 'netns', 'exec', self.veth.ns, 'ethtool'] + off)
        V.run(['ethtool', '-K', self.veth.outer, 'tso', 'off', 'gso', 'off', 'gro', 'off'])
        return self

    def __exit__(self, etype, exc, tb):
        if etype is not None:
            self.dump_guests()
        for g in self.guests:
            g.agent and g.agent.close()
        log(f'  (scenario time {time.monotonic() - self.t0:.1f}s)')
        return super().__exit__(etype, exc, tb)

    @contextlib.contextmanager
    def instance(self, name):
        """Run the block against vfrelay instance @name (start_relay, stats...): a
        second vfrelay, e.g. the migration destination's."""
        saved, saved_proc = self.name, self.relay_proc
        self.name = name
        if name not in self.extra_prefixes:  # leftovers of an earlier, killed run
            self.extra_prefixes.add(name)
            shutil.rmtree(os.path.join(V.DPDK_RUN_DIR, name), ignore_errors=True)
        try:
            yield
        finally:
            self.name = saved
            self.relay_proc = saved_proc if saved_proc else self.relay_proc

    def _clean_runtime_dirs(self):
        super()._clean_runtime_dirs()
        for prefix in getattr(self, 'extra_prefixes', ()):
            shutil.rmtree(os.path.join(V.DPDK_RUN_DIR, prefix), ignore_errors=True)

    def dump_guests(self, n=60):
        for g in self.guests:
            print(f'----- guest {g.name} console ({g.console_path}), last {n} lines -----')
            print(g.console_tail(n), flush=True)

    def relay_config(self, queues=1, mtu=None, vf=None, zc=False, **relay_opts):
        """A relay on the veth. zc=False: the copy path with af_packet's default
        2048-byte frames. zc=True: zero_copy = auto with 1552-byte af_packet frames
        (see AF_PACKET_FRAMESZ), so the veth MTU must be at most 1400."""
        qp = f',qpairs={queues}' if queues > 1 else ''
        if zc:
            if self.veth.mtu > ZC_MAX_MTU:
                raise ValueError(f'zero copy over af_packet: veth MTU <= {ZC_MAX_MTU}')
            vf = vf or (f'net_af_packet0,iface={self.veth.outer},blocksz={AF_PACKET_BLOCKSZ},'
                        f'framesz={AF_PACKET_FRAMESZ},framecnt=512{qp}')
            relay_opts.setdefault('zero_copy', 'auto')
            # vfrelay refuses an MTU whose frames the af_packet slots would cut
            mtu = mtu or self.veth.mtu
        vf = vf or f'net_af_packet0,iface={self.veth.outer}{qp}'
        return super().relay_config(queues=queues, mtu=mtu, vf=vf, **relay_opts)

    def guest(self, name='vm', **kw):
        return Guest(self, name, **kw)

    def boot(self, name='vm', relay=None, **kw):
        """QEMU first (it serves the vhost-user socket), then vfrelay; wait for both."""
        g = self.guest(name, **kw)
        g.start()
        if relay is not False:
            self.start_relay([relay or self.relay_config(queues=g.queues)])
        g.wait_ready()
        if relay is not False:
            self.wait_relay_state('running')
        return g

    def ns(self, *cmd, timeout=30, check_rc=True):
        return V.run(['ip', 'netns', 'exec', self.veth.ns] + list(cmd), check_rc=check_rc,
                     timeout=timeout)

    def queue_modes(self, relay='net0'):
        st = self.stats(relay)
        return {q: v.get('mode') for q, v in st.items() if isinstance(v, dict) and q != 'total'}

    def wait_zero_copy(self, relay='net0', timeout=20):
        def pred():
            modes = self.queue_modes(relay)
            return modes if modes and all(m == 'zero-copy' for m in modes.values()) else None
        try:
            modes = wait_until(pred, timeout, 'every queue in zero-copy mode', interval=0.2)
        except Fail:
            st = self.stats(relay)
            raise Fail('queues not in zero-copy mode: ' + ', '.join(
                f'{q}: mode {v.get("mode")} zc_state {v.get("zc_state")}'
                for q, v in st.items() if isinstance(v, dict) and q != 'total')) from None
        log(f'  ok: zero copy on {", ".join(sorted(modes))}')

    def check_relay_log_clean(self, proc=None):
        """No CRIT/ALERT/EMERG/ERR-level lines and no crash in a vfrelay log."""
        proc = proc or self.relay_proc
        bad = [ln for ln in proc.log_text().splitlines()
               if re.search(r'\b(CRIT|ALERT|EMERG|PANIC|Segmentation|Aborted)\b', ln)]
        if bad:
            raise Fail(f'{proc.name} log has {len(bad)} critical line(s): {bad[:5]}')
        check(True, f'{proc.name} log has no CRIT/ALERT/EMERG/PANIC lines')


def ping(env, count=3, timeout=20, what='ping from the namespace to the guest'):
    """Ping the guest from the namespace until @count replies in a row arrive."""
    def pred():
        res = env.ns('ping', '-c', str(count), '-i', '0.2', '-W', '1', GUEST_IP,
                     check_rc=False, timeout=count + 5)
        return res if res.returncode == 0 else None
    res = wait_until(pred, timeout, what, interval=0.2)
    m = re.search(r'(\d+) received', res.stdout)
    check(True, f'{what}: {m.group(0) if m else "ok"}')


def echo_roundtrip(env, g, port, sizes, what='UDP frames', window=16, warm=True, flows=None):
    """vfrq echo in the guest; the namespace sends one test frame per size (seq 0,
    1...; @flows spreads them over that many UDP port pairs), checks every
    echoed byte; the guest checks every received byte. warm: vfrtest warm-up first
    (probe until the path works, then remember the counters for wait_stats).
    Returns (bytes sent, the guest's RESULT line without "RESULT PASS ")."""
    n = len(sizes)
    port.drain()  # frames other senders left on the socket (e.g. their outgoing copies)
    job = g.agent.submit(f'vfrq echo eth0 {n} 90')
    g.agent.wait_text('READY', 20)
    if warm:
        env.warm_up(port)
    frames = []
    for i, size in enumerate(sizes):
        kw = {}
        if flows:
            kw = {'sport': 20000 + i % flows, 'dport': 30000 + (i * 7) % flows}
        frames.append(V.udp_frame(port.mac, GUEST_MAC_B, i, size, **kw))
    total = V.check_roundtrip(port, frames, window=window, what=what)
    rc, out = g.agent.result(job, 120)
    result = [ln for ln in out.splitlines() if ln.startswith('RESULT')]
    log('  guest: ' + (result[-1] if result else out.strip()[-300:]))
    check(rc == 0 and bool(result) and result[-1].startswith('RESULT PASS'),
          f'the guest received all {n} frames intact')
    return total, result[-1].split(' ', 2)[2]


def main(fn):
    if os.geteuid() != 0:
        log('SKIP: qemu tests need root')
        sys.exit(V.SKIP)
    if shutil.which(QEMU) is None:
        log(f'SKIP: {QEMU} not found (scripts/install-deps installs qemu-system-x86)')
        sys.exit(V.SKIP)
    name = os.path.basename(sys.argv[0])
    log(f'=== {name}')
    if not os.access(V.VFRELAY, os.X_OK):
        log(f'FAIL: {V.VFRELAY} not found or not executable')
        sys.exit(1)
    t0 = time.monotonic()
    try:
        fn()
    except Fail as e:
        log(f'FAIL: {e}')
        sys.exit(1)
    log(f'PASS: {name} ({time.monotonic() - t0:.1f}s)')
    sys.exit(0)

