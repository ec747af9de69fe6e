# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""libvirt attaches guests (suite `libvirt`): a real libvirtd, vfrelay-hook installed the
way an operator installs it, `virsh start` and nothing else.

    [netns vfrl-a] vfrla1 10.99.0.1 <-veth-> vfrla0 <- net_af_packet -- vfrelay vfrl_vmN
    [netns vfrl-b] vfrlb1 10.99.0.1 <-veth-> vfrlb0 <- net_af_packet -- vfrelay vfrl_vmM
                                              vhost-user (QEMU listens, vfrelay connects)
                                   libvirtd -> QEMU (TCG, memfd) -> Linux guest eth0 10.99.0.2

The two veths are the host's vf_pool. The project is built into a scratch prefix and
installed there (`meson install`, a test prefix: everything lands inside it), and the
hook from that prefix is copied to /etc/libvirt/hooks/qemu.d/vfrelay before the test
starts virtlogd and libvirtd itself (no systemd here). Then:

1. vfrl-vm1 (VF from the pool) and vfrl-vm2 (VF named in its metadata) start at once:
   each gets its own instance on its own VF, and each guest answers pings sent through
   its VF; the relay counters over telemetry show the traffic.
2. vfrl-vm3 with the pool empty: `virsh start` fails with the hook's message, and what
   vm1 and vm2 hold is untouched.
3. libvirtd restarts under the running domains while `vfrelay-reconcile --watch` runs:
   one reconcile pass changes nothing (same instance pids), the watcher reconnects, and
   when vm2's vfrelay is killed the watcher starts it again and the guest answers again.
4. `virsh destroy vfrl-vm1`: its instance exits and its VF is released; vfrl-vm3 now
   starts on that VF and answers pings.

Everything (domains, daemons, hook, namespaces, runtime dirs) is removed on any exit.
Needs root, libvirtd, QEMU; the guest image is qemu-tests' (qemutest.guest_image()).
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get('VFR_SOURCE_ROOT', os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(SRC, 'tests', 'integration'))
sys.path.insert(0, os.path.join(SRC, 'qemu-tests'))
import vfrtest as V  # noqa: E402
import qemutest as Q  # noqa: E402
from vfrtest import Fail, check, check_eq, log, wait_until  # noqa: E402

BUILD = os.environ.get('VFR_BUILD_DIR', os.path.join(SRC, 'build'))
SCRATCH = os.path.join(BUILD, 'lv-e2e')          # build + prefix, kept between runs
PREFIX = os.path.join(SCRATCH, 'prefix')
RUN_DIR = '/run/vfrelay-e2e'                     # the scratch build's run_dir
LOG_DIR = RUN_DIR + '/log'                       # and log_dir
HOOK_DST = '/etc/libvirt/hooks/qemu.d/vfrelay'
MARK = '/run/vfrelay-e2e.hook-installed'         # our copy of the hook, not an operator's
URI = 'qemu:///system'
NS_A, NS_B = 'vfrl-a', 'vfrl-b'
VF_A, VF_B = 'net_af_packet0,iface=vfrla0', 'net_af_packet0,iface=vfrlb0'
HOST_IP, GUEST_IP = '10.99.0.1', '10.99.0.2'
START_TIMEOUT = 20  # host.conf start_timeout: a bound for READY=1 on a busy CI machine


def sh(cmd, timeout=60, check_rc=True):
    return V.run(cmd, check_rc=check_rc, timeout=timeout)


def virsh(*args, timeout=120, check_rc=True):
    return sh(['virsh', '-q', '-c', URI] + list(args), timeout=timeout, check_rc=check_rc)


# --------------------------------------------------------------------------
# The install


def build_and_install():
    """The project built and installed into a test prefix, as a packager would."""
    t0 = time.monotonic()
    b = os.path.join(SCRATCH, 'build')
    if not os.path.exists(os.path.join(b, 'build.ninja')):
        shutil.rmtree(b, ignore_errors=True)
        sh(['meson', 'setup', '--prefix', PREFIX, f'-Drun_dir={RUN_DIR}',
            f'-Dlog_dir={LOG_DIR}', '-Dtests=disabled', b, SRC], timeout=300)
    sh(['nice', '-n', '10', 'ninja', '-C', b], timeout=900)
    shutil.rmtree(PREFIX, ignore_errors=True)
    sh(['meson', 'install', '-C', b, '--no-rebuild', '--quiet'], timeout=300)
    files = sorted(os.path.relpath(os.path.join(d, f), PREFIX)
                   for d, _, fs in os.walk(PREFIX) for f in fs)
    want = ['bin/vfrelay', 'bin/vfrelay-reconcile', 'bin/vfrelayctl',
            'etc/libvirt/hooks/qemu.d/vfrelay', 'etc/vfrelay/host.conf.sample',
            'etc/vfrelay/instance.ini.sample', 'lib/systemd/system/vfrelay@.service',
            'lib/systemd/system/vfrelay-reconcile.service']
    missing = [w for w in want if w not in files]
    if missing:
        raise Fail(f'meson install into {PREFIX}: missing {missing}; got {files}')
    check(True, f'built and installed into the test prefix {PREFIX} '
          f'({len(files)} files, {time.monotonic() - t0:.1f}s)')


# --------------------------------------------------------------------------
# The world: network, daemons, domains


class FanoutSafeVeth(V.Veth):
    """A veth whose VF end gets a chosen ifindex.

    DPDK 22.11's af_packet PMD joins PACKET_FANOUT group (getpid() ^ ifindex) & 0xffff,
    and fanout groups are global to the network namespace: two vfrelay instances started
    together (consecutive pids) on veths with nearby ifindexes can compute the same group,
    and the second probe fails with EINVAL. Ifindexes that differ in bit 15 make that
    need pids 32768 apart.
    """

    def __init__(self, ns, outer, inner, index):
        super().__init__(ns, outer, inner)
        self.index = index

    def create(self):
        self.destroy()
        sh(['ip', 'netns', 'add', self.ns])
        r = sh(['ip', 'link', 'add', self.outer, 'index', str(self.index), 'type', 'veth',
                'peer', 'name', self.inner, 'netns', self.ns], check_rc=False)
        if r.returncode != 0:  # the index is taken: any will do, with a small risk
            sh(['ip', 'link', 'add', self.outer, 'type', 'veth', 'peer', 'name', self.inner,
                'netns', self.ns])
        with open(f'/proc/sys/net/ipv6/conf/{self.outer}/disable_ipv6', 'w') as f:
            f.write('1')
        sh(['ip', 'netns', 'exec', self.ns, 'sysctl', '-qw',
            f'net.ipv6.conf.{self.inner}.disable_ipv6=1'])
        sh(['ip', 'link', 'set', self.outer, 'up'])
        sh(['ip', '-n', self.ns, 'link', 'set', 'lo', 'up'])
        sh(['ip', '-n', self.ns, 'link', 'set', self.inner, 'up'])
        log(f'==> veth {self.outer} (ifindex {open(f"/sys/class/net/{self.outer}/ifindex").read().strip()})'
            f' <-> {self.ns}/{self.inner}')


class World:
    def __init__(self):
        self.tmp = None
        self.veths = [FanoutSafeVeth(NS_A, 'vfrla0', 'vfrla1', 0x4e21),
                      FanoutSafeVeth(NS_B, 'vfrlb0', 'vfrlb1', 0x4e21 ^ 0x8000)]
        self.daemons = {}
        self.domains = []
        self.watch = None

    def __enter__(self):
        signal.signal(signal.SIGTERM, _sigterm)
        self.tmp = tempfile.mkdtemp(prefix='vfrl-e2e-')
        os.chmod(self.tmp, 0o755)  # QEMU runs as libvirt-qemu: kernel, initrd, sockets
        self.vhost = os.path.join(self.tmp, 'vhost')
        os.makedirs(self.vhost)
        qemu_user = _qemu_user()
        if qemu_user:
            shutil.chown(self.vhost, *qemu_user)
        else:
            os.chmod(self.vhost, 0o777)
        self._clean_run_dir()
        for v in self.veths:
            v.create()
            sh(['ip', '-n', v.ns, 'addr', 'add', f'{HOST_IP}/24', 'dev', v.inner])
            sh(['ip', 'netns', 'exec', v.ns, 'ethtool', '-K', v.inner, 'tx', 'off'],
               check_rc=False)
        return self

    def __exit__(self, etype, exc, tb):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if etype is not None:
            self.dump()
        if self.watch:
            self.watch.stop()
        if 'libvirtd' in self.daemons and self.daemons['libvirtd'].alive():
            for d in self.domains:
                virsh('destroy', d.name, check_rc=False, timeout=60)
                virsh('undefine', d.name, check_rc=False, timeout=60)
        for name in ('libvirtd', 'virtlogd'):
            if name in self.daemons:
                self.daemons[name].stop()
        # Instances a hook could not stop (libvirtd gone first): their pidfiles say which.
        for pidf in _glob(RUN_DIR, '.pid'):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(open(pidf).read()), signal.SIGKILL)
        if os.path.exists(MARK):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(HOOK_DST)
            os.unlink(MARK)
        for v in self.veths:
            v.destroy()
        for d in self.domains:
            shutil.rmtree(os.path.join(V.DPDK_RUN_DIR, d.instance), ignore_errors=True)
        self._clean_run_dir()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(PREFIX, 'etc', 'vfrelay', 'host.conf'))
        if os.environ.get('VFRTEST_KEEP') != '1':
            shutil.rmtree(self.tmp, ignore_errors=True)
        signal.signal(signal.SIGTERM, _sigterm)
        return False

    def _clean_run_dir(self):
        shutil.rmtree(RUN_DIR, ignore_errors=True)

    def dump(self):
        for name, p in self.daemons.items():
            print(f'----- {name} ({p.log_path}) -----\n{p.tail(30)}', flush=True)
        for f in _glob(LOG_DIR, '.log'):
            print(f'----- {f} -----\n' + _tail(f, 30), flush=True)
        for d in self.domains:
            if 'libvirtd' in self.daemons and self.daemons['libvirtd'].alive():
                r = virsh('domstate', '--reason', d.name, check_rc=False, timeout=10)
                print(f'----- {d.name}: {(r.stdout + r.stderr).strip()}', flush=True)
            for f in (f'/var/log/libvirt/qemu/{d.name}.log', d.console):
                print(f'----- {f} -----\n' + _tail(f, 20), flush=True)
        if self.watch:
            print(f'----- vfrelay-reconcile --watch -----\n{self.watch.tail(40)}', flush=True)

    # -- setup ---------------------------------------------------------------

    def host_conf(self):
        path = os.path.join(PREFIX, 'etc', 'vfrelay', 'host.conf')
        with open(path, 'w') as f:
            f.write(f'[host]\nsocket_dir = {self.vhost}\nvf_pool = {VF_A} {VF_B}\n'
                    f'lcores = {V.RELAY_LCORES}\neal = --no-huge -m 256\nlauncher = direct\n'
                    f'start_timeout = {START_TIMEOUT}\nzero_copy = off\n')
        r = sh([os.path.join(PREFIX, 'etc', 'libvirt', 'hooks', 'qemu.d', 'vfrelay'),
                '--check'])
        check(True, r.stdout.strip())

    def install_hook(self):
        if os.path.exists(HOOK_DST) and not os.path.exists(MARK):
            log(f'SKIP: {HOOK_DST} exists and is not this test\'s: not replacing it')
            sys.exit(V.SKIP)
        os.makedirs(os.path.dirname(HOOK_DST), exist_ok=True)
        open(MARK, 'w').close()
        shutil.copy2(os.path.join(PREFIX, 'etc', 'libvirt', 'hooks', 'qemu.d', 'vfrelay'),
                     HOOK_DST)
        check(os.access(HOOK_DST, os.X_OK), f'hook installed as {HOOK_DST}')

    def start_libvirt(self):
        if 'virtlogd' not in self.daemons:
            self.daemons['virtlogd'] = V.Proc('virtlogd', ['virtlogd'], self.tmp)
        self.daemons['libvirtd'] = V.Proc('libvirtd', ['libvirtd'], self.tmp)
        wait_until(lambda: virsh('version', check_rc=False, timeout=10).returncode == 0 or
                   self._libvirtd_died(), 30, 'libvirtd to answer')
        check(True, f'libvirtd runs (pid {self.daemons["libvirtd"].pid})')

    def _libvirtd_died(self):
        if not self.daemons['libvirtd'].alive():
            raise Fail(f'libvirtd exited: {self.daemons["libvirtd"].tail(10)}')
        return False

    def restart_libvirtd(self):
        log('==> restarting libvirtd under the running domains')
        rc = self.daemons['libvirtd'].stop()
        check(True, f'libvirtd stopped (rc {rc})')
        self.start_libvirt()


class Domain:
    def __init__(self, world, n, vf=None):
        self.world, self.n = world, n
        self.name = f'vfrl-vm{n}'
        self.instance = self.name.replace('-', '_')
        self.uuid = str(uuid.uuid4())
        self.mac = f'52:54:00:00:0{n}:02'
        self.sock = os.path.join(world.vhost, f'vm{n}.sock')
        self.console = os.path.join(world.tmp, f'vm{n}.console.log')
        self.agent_path = os.path.join(world.tmp, f'vm{n}.agent.sock')
        self.vf = vf
        self.agent = None

    def xml(self, kernel, initrd):
        meta = ''
        if self.vf:
            meta = (f'<metadata><vfrelay:relay xmlns:vfrelay="https://vfrelay.dev/xmlns/libvirt/1"'
                    f' mac="{self.mac}" vf="{self.vf}"/></metadata>')
        return f'''<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{self.name}</name>
  <uuid>{self.uuid}</uuid>
  {meta}
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 panic=-1 loglevel=5</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <interface type='vhostuser'>
      <mac address='{self.mac}'/>
      <source type='unix' path='{self.sock}' mode='server'/>
      <model type='virtio'/>
      <driver rx_queue_size='1024' tx_queue_size='1024'><host mrg_rxbuf='on'/></driver>
      <alias name='ua-net0'/>
    </interface>
    <serial type='file'><source path='{self.console}'/><target port='0'/></serial>
    <serial type='unix'><source mode='bind' path='{self.agent_path}'/><target port='1'/></serial>
  </devices>
  <qemu:override>
    <qemu:device alias='ua-net0'>
      <qemu:frontend><qemu:property name='vectors' type='unsigned' value='0'/></qemu:frontend>
    </qemu:device>
  </qemu:override>
</domain>
'''

    def define(self, kernel, initrd):
        path = os.path.join(self.world.tmp, f'{self.name}.xml')
        with open(path, 'w') as f:
            f.write(self.xml(kernel, initrd))
        # Left by a run that was killed before its cleanup.
        virsh('destroy', self.name, check_rc=False)
        virsh('undefine', self.name, check_rc=False)
        virsh('define', path)
        self.world.domains.append(self)

    def start(self):
        return virsh('start', self.name, check_rc=False, timeout=120)

    # -- what the tests look at ----------------------------------------------

    def qemu_pid(self):
        try:
            return int(open(f'/run/libvirt/qemu/{self.name}.pid').read())
        except (OSError, ValueError):
            return None

    def alive(self):
        pid = self.qemu_pid()
        return pid is not None and _alive(pid)

    def relay_pid(self):
        try:
            pid = int(open(os.path.join(RUN_DIR, f'{self.instance}.pid')).read())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def claim(self):
        try:
            lines = open(os.path.join(RUN_DIR, 'claims', self.uuid)).read().splitlines()
        except OSError:
            return None
        return [ln.split(' ', 1)[1] for ln in lines if ln.startswith('vf ')]

    def connect(self):
        """Connect to the agent at once: what the guest says while nobody listens on its
        serial port is lost, @@READY included."""
        wait_until(lambda: os.path.exists(self.agent_path), 20, f'{self.name} agent socket')
        self.agent = Q.Agent(self.agent_path, _AgentGuest(self))

    def boot(self, ns):
        """Wait for the guest (connect() first), give eth0 its address."""
        self.agent.wait_ready(180)
        rc, out = self.agent.run(f'ip link set eth0 up && ip addr add {GUEST_IP}/24 dev eth0')
        if rc != 0:
            raise Fail(f'{self.name}: eth0 setup: {out}')
        check(True, f'{self.name} booted, eth0 {GUEST_IP} (mac {self.mac})')
        self.ns = ns
        # Every guest here is GUEST_IP: the namespace may still resolve it to the MAC of
        # the guest that had this VF before (vm1's, for vm3), which this guest drops;
        # Linux takes up to ~50 s to find out by itself.
        sh(['ip', '-n', ns, 'neigh', 'flush', 'all'], check_rc=False)

    def ping(self, what):
        def pred():
            r = sh(['ip', 'netns', 'exec', self.ns, 'ping', '-c', '3', '-i', '0.2', '-W', '1',
                    GUEST_IP], check_rc=False, timeout=20)
            return r if r.returncode == 0 else None
        r = wait_until(pred, 40, f'{self.name} to answer pings from {self.ns}', interval=0.5)
        m = re.search(r'(\d+) received', r.stdout)
        check(True, f'{what}: {self.name} answers pings through its VF ({m.group(0)})')

    def relay_counters(self):
        st = V.telemetry(self.instance, '/vfrelay/stats,net0')['total']
        return st.get('rx_packets', 0), st.get('tx_packets', 0)


class _AgentGuest:
    """What qemutest.Agent asks of its guest: a name, alive(), an exit status."""

    def __init__(self, d):
        self.name = d.name
        self.alive = d.alive
        self.proc = types.SimpleNamespace(
            p=types.SimpleNamespace(returncode=f'? (see /var/log/libvirt/qemu/{d.name}.log)'))


class Watcher:
    """vfrelay-reconcile --watch in the background, its output in a file."""

    def __init__(self, world):
        env = dict(os.environ)
        self.log_path = os.path.join(world.tmp, 'reconcile-watch.log')
        self.logf = open(self.log_path, 'w')
        self.p = subprocess.Popen([os.path.join(PREFIX, 'bin', 'vfrelay-reconcile'), '--watch',
                                   '--interval', '2'], stdout=self.logf,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

    def text(self):
        return open(self.log_path).read()

    def tail(self, n):
        return '\n'.join(self.text().splitlines()[-n:])

    def wait_for(self, pattern, timeout, what, after=0):
        def pred():
            if self.p.poll() is not None:
                raise Fail(f'vfrelay-reconcile --watch exited with {self.p.returncode}')
            return re.search(pattern, self.text()[after:])
        wait_until(pred, timeout, what, interval=0.2)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()
        return self.p.returncode


# --------------------------------------------------------------------------
# The scenario


def scenario():
    t0 = time.monotonic()
    build_and_install()
    kernel0, base0 = Q.guest_image()
    with World() as w:
        # QEMU's user reads the kernel and initrd: not from root's home.
        kernel, initrd = os.path.join(w.tmp, 'vmlinuz'), os.path.join(w.tmp, 'initrd.cpio')
        shutil.copy(kernel0, kernel)
        shutil.copy(base0, initrd)
        w.host_conf()
        w.install_hook()
        w.start_libvirt()
        vm1, vm2, vm3 = Domain(w, 1), Domain(w, 2, vf=VF_B), Domain(w, 3)
        for d in (vm1, vm2, vm3):
            d.define(kernel, initrd)

        log('==> 1. vfrl-vm1 (VF from the pool) and vfrl-vm2 (VF in its metadata) at once')
        results = {}
        threads = [threading.Thread(target=lambda d=d: results.__setitem__(d.name, d.start()))
                   for d in (vm1, vm2)]
        ts = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for d in (vm1, vm2):
            r = results[d.name]
            check(r.returncode == 0, f'virsh start {d.name} '
                  f'({(r.stdout + r.stderr).strip() or "ok"})')
        log(f'  (both started in {time.monotonic() - ts:.1f}s)')
        check_eq((vm1.claim(), vm2.claim()), ([VF_A], [VF_B]), 'claims: different VFs')
        vm1.connect()
        vm2.connect()
        pids = {d.name: d.relay_pid() for d in (vm1, vm2)}
        check(all(pids.values()), f'an instance runs per domain: {pids}')
        vm1.boot(NS_A)
        vm2.boot(NS_B)
        for d in (vm1, vm2):
            d.ping('through the hook\'s instance')
            rx, tx = d.relay_counters()
            check(rx > 0 and tx > 0, f'{d.instance} counters over telemetry: '
                  f'rx_packets {rx}, tx_packets {tx}')

        log('==> 2. vfrl-vm3 with the pool empty')
        r = vm3.start()
        msg = (r.stdout + r.stderr).strip()
        log('  virsh: ' + msg.replace('\n', ' | '))
        check(r.returncode != 0 and f'vfrelay-hook: domain {vm3.name}: interface 0 ({vm3.sock}): '
              'no free VF in vf_pool' in msg, 'virsh start fails with the hook\'s message')
        check(not vm3.alive() and vm3.claim() is None, 'vm3 not running, holds nothing')
        check_eq({d.name: d.relay_pid() for d in (vm1, vm2)}, pids, 'vm1 and vm2 instances')
        check_eq((vm1.claim(), vm2.claim()), ([VF_A], [VF_B]), 'vm1 and vm2 claims')

        log('==> 3. libvirtd restarted under running domains; vfrelay-reconcile')
        w.watch = Watcher(w)
        w.watch.wait_for(r'2 domain\(s\) served', 30, 'the watcher\'s first pass')
        mark = len(w.watch.text())
        w.restart_libvirtd()
        states = virsh('list', '--name').stdout.split()
        check(vm1.name in states and vm2.name in states, f'libvirt reconnected to {states}')
        r = sh([os.path.join(PREFIX, 'bin', 'vfrelay-reconcile')], timeout=60)
        log('  ' + r.stdout.strip().replace('\n', '\n  '))
        check('2 domain(s) served, 0 instance(s) started, 0 orphan instance(s) stopped, '
              '0 claim(s) released, 0 failure(s)' in r.stdout, 'a reconcile pass changes nothing')
        check_eq({d.name: d.relay_pid() for d in (vm1, vm2)}, pids, 'same instances')
        w.watch.wait_for('closed; reconnecting', 30, 'the watcher to see libvirtd go', mark)
        w.watch.wait_for(r'connected to qemu:///system, watching', 30,
                         'the watcher to reconnect', mark)
        vm1.ping('after the libvirtd restart')
        log(f'  killing {vm2.instance} (pid {pids[vm2.name]})')
        os.kill(pids[vm2.name], signal.SIGKILL)
        new = wait_until(lambda: vm2.relay_pid() not in (None, pids[vm2.name]) and
                         vm2.relay_pid(), 30, 'the watcher to start vm2\'s instance again')
        w.watch.wait_for(f'domain {vm2.name} runs but its instance is not running', 5,
                         'the watcher to say why')
        check_eq(vm2.claim(), [VF_B], f'{vm2.instance} again (pid {new}), on the same VF')
        vm2.ping('after its vfrelay was killed and restarted by the watcher')
        check_eq(w.watch.stop(), 0, 'vfrelay-reconcile --watch exits 0 on SIGTERM')
        w.watch = None

        log('==> 4. virsh destroy vfrl-vm1: instance gone, VF free for vfrl-vm3')
        vm1.agent.close()
        virsh('destroy', vm1.name)
        wait_until(lambda: not _alive(pids[vm1.name]), 20, f'{vm1.instance} to exit')
        check(vm1.relay_pid() is None and vm1.claim() is None,
              f'{vm1.instance} exited, its VF released')
        check(not os.path.exists(os.path.join(RUN_DIR, f'{vm1.instance}.ini')),
              'its instance config removed')
        r = vm3.start()
        check(r.returncode == 0, f'virsh start {vm3.name} {(r.stdout + r.stderr).strip()}')
        vm3.connect()
        check_eq(vm3.claim(), [VF_A], f'{vm3.name} got the VF vm1 had')
        vm3.boot(NS_A)
        vm3.ping('on the VF vm1 gave back')
        check_eq(vm2.relay_pid(), new, 'vm2 untouched by all of it')
    log(f'  (scenario {time.monotonic() - t0:.1f}s)')


# --------------------------------------------------------------------------
# helpers


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except (OSError, IndexError):
        return False


def _glob(d, suffix):
    try:
        return [os.path.join(d, f) for f in os.listdir(d) if f.endswith(suffix)]
    except OSError:
        return []


def _tail(path, n):
    try:
        return '\n'.join(open(path, errors='replace').read().splitlines()[-n:])
    except OSError as e:
        return f'({e})'


def _qemu_user():
    """(user, group) QEMU runs as under this libvirt, if it exists (Debian: libvirt-qemu)."""
    import grp
    import pwd
    try:
        pw = pwd.getpwnam('libvirt-qemu')
        return pw.pw_name, grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        return None


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _libvirtd_running():
    """A live libvirtd (not a zombie) this test did not start: never replace an operator's."""
    for pid in filter(str.isdigit, os.listdir('/proc')):
        with contextlib.suppress(OSError):
            if open(f'/proc/{pid}/comm').read().strip() == 'libvirtd' and _alive(int(pid)):
                return True
    return False


def main():
    name = os.path.basename(sys.argv[0])
    log(f'=== {name}')
    if os.geteuid() != 0:
        log('SKIP: needs root (libvirtd, namespaces)')
        sys.exit(V.SKIP)
    for tool in ('libvirtd', 'virtlogd', 'virsh', Q.QEMU, 'meson', 'ninja'):
        if shutil.which(tool) is None:
            log(f'SKIP: {tool} not found (scripts/install-deps installs libvirt-daemon-system)')
            sys.exit(V.SKIP)
    if _libvirtd_running():
        log('SKIP: a libvirtd is running that this test did not start; it must load the '
            'hook at its start, and an operator\'s libvirtd is not restarted')
        sys.exit(V.SKIP)
    t0 = time.monotonic()
    try:
        scenario()
    except Fail as e:
        log(f'FAIL: {e}')
        sys.exit(1)
    log(f'PASS: {name} ({time.monotonic() - t0:.1f}s)')


main()
