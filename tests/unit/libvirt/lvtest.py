# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Shared bits of the black-box tests of vfrelay-hook and vfrelay-reconcile (python3 stdlib).

A Workspace is a temp directory holding a host.conf, the socket_dir, run_dir and log_dir,
pointed at with the VFRELAY_* variables the programs honour when run by hand; the daemon
is fake_vfrelay.py (its mode per instance set with Workspace.mode()). Everything it
started is stopped when the `with` block ends.

Environment (meson sets it): VFRELAY_HOOK_EXE, VFRELAY_RECONCILE_EXE, VFRELAY_EXE (the
real daemon, for --check), FAKE_VFRELAY.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HOOK = os.environ.get('VFRELAY_HOOK_EXE', 'vfrelay-hook')
RECONCILE = os.environ.get('VFRELAY_RECONCILE_EXE', 'vfrelay-reconcile')
VFRELAY = os.environ.get('VFRELAY_EXE', 'vfrelay')
FAKE = os.environ['FAKE_VFRELAY'] if 'FAKE_VFRELAY' in os.environ else None
NS = 'https://vfrelay.dev/xmlns/libvirt/1'


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)
    print('  ok: ' + msg, flush=True)


def check_eq(got, want, what):
    if got != want:
        raise Fail(f'{what}: expected {want!r}, got {got!r}')
    print(f'  ok: {what} == {want!r}', flush=True)


def domain_xml(name, uuid, sockets, meta='', extra_ifaces=''):
    """A domain with one vhostuser interface (server mode) per socket path."""
    ifs = ''.join(
        f"<interface type='vhostuser'><mac address='52:54:00:00:{i // 256:02x}:{i % 256:02x}'/>"
        f"<source type='unix' path='{s}' mode='server'/><model type='virtio'/></interface>\n"
        for i, s in enumerate(sockets))
    md = f'<metadata>{meta}</metadata>' if meta else ''
    return (f"<domain type='kvm'><name>{name}</name><uuid>{uuid}</uuid>{md}"
            f"<devices>{ifs}{extra_ifaces}</devices></domain>\n")


class Workspace:
    def __init__(self, pool, extra=''):
        self.pool = pool
        self.extra = extra

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix='vfrh-bb-')
        self.sock = os.path.join(self.dir, 'sock')
        self.run_dir = os.path.join(self.dir, 'run')
        self.log_dir = os.path.join(self.dir, 'log')
        self.conf = os.path.join(self.dir, 'host.conf')
        os.makedirs(self.sock)
        with open(self.conf, 'w') as f:
            f.write(f'[host]\nsocket_dir = {self.sock}\nvf_pool = {" ".join(self.pool)}\n'
                    f'lcores = 0,1\nlauncher = direct\nstart_timeout = 3\n{self.extra}')
        # The fake reads its mode next to itself: a private copy per workspace.
        self.fake = os.path.join(self.dir, 'fake_vfrelay.py')
        shutil.copy(FAKE, self.fake)
        self.env = dict(os.environ, VFRELAY_HOST_CONF=self.conf, VFRELAY_RUN_DIR=self.run_dir,
                        VFRELAY_LOG_DIR=self.log_dir, VFRELAY_BIN=self.fake)
        return self

    def __exit__(self, *exc):
        for pid in self.running().values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if exc[0] is not None:
            log = os.path.join(self.log_dir, 'hook.log')
            if os.path.exists(log):
                print('----- hook.log -----\n' + open(log).read(), flush=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def mode(self, instance, mode):
        with open(f'{self.fake}.{instance}.mode', 'w') as f:
            f.write(mode)

    def sockpath(self, name):
        return os.path.join(self.sock, name)

    def hook(self, domain, op, sub, xml):
        """Run the hook as libvirt does; returns (rc, stdout, stderr)."""
        t0 = time.monotonic()
        r = subprocess.run([HOOK, domain, op, sub, '-'], input=xml, capture_output=True,
                           text=True, env=self.env, timeout=30)
        dt = time.monotonic() - t0
        print(f'  $ vfrelay-hook {domain} {op} {sub} -> {r.returncode} ({dt:.2f}s)'
              f'{": " + r.stderr.strip() if r.stderr else ""}', flush=True)
        # What libvirt shows the user is stderr, and it is one line; stdout must stay empty
        # (libvirt takes it as a new XML for migrate and restore).
        if r.stdout:
            raise Fail(f'hook wrote to stdout: {r.stdout!r}')
        if r.stderr.count('\n') > 1 or (r.stderr and not r.stderr.endswith('\n')):
            raise Fail(f'hook stderr is not one line: {r.stderr!r}')
        if (r.returncode == 0) != (r.stderr == ''):
            raise Fail(f'rc {r.returncode} with stderr {r.stderr!r}')
        return r.returncode, r.stdout, r.stderr.strip()

    def reconcile(self, uri, *args):
        r = subprocess.run([RECONCILE, '--connect', uri] + list(args), capture_output=True,
                           text=True, env=self.env, timeout=60)
        print(f'  $ vfrelay-reconcile {" ".join(args)} -> {r.returncode}', flush=True)
        for line in (r.stdout + r.stderr).splitlines():
            print('    ' + line, flush=True)
        return r.returncode, r.stdout, r.stderr

    def claims(self):
        """uuid -> {'instance': ..., 'domain': ..., 'vfs': [...]}"""
        out = {}
        d = os.path.join(self.run_dir, 'claims')
        if not os.path.isdir(d):
            return out
        for u in os.listdir(d):
            c = {'vfs': []}
            for line in open(os.path.join(d, u)):
                k, _, v = line.rstrip('\n').partition(' ')
                if k == 'vf':
                    c['vfs'].append(v)
                elif k in ('instance', 'domain'):
                    c[k] = v
            out[u] = c
        return out

    def running(self):
        """instance -> pid of every live instance with a pidfile."""
        out = {}
        if not os.path.isdir(self.run_dir):
            return out
        for n in os.listdir(self.run_dir):
            if not n.endswith('.pid'):
                continue
            pid = int(open(os.path.join(self.run_dir, n)).read())
            if alive(pid):
                out[n[:-4]] = pid
        return out

    def ini(self, instance):
        return os.path.join(self.run_dir, instance + '.ini')


def alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except (OSError, IndexError):
        return False


def main(fn):
    name = os.path.basename(sys.argv[0])
    print(f'=== {name}', flush=True)
    if FAKE is None or not os.access(HOOK, os.X_OK):
        print('FAIL: run from meson (FAKE_VFRELAY, VFRELAY_HOOK_EXE)')
        sys.exit(1)
    try:
        fn()
    except Fail as e:
        print(f'FAIL: {e}', flush=True)
        sys.exit(1)
    print(f'PASS: {name}', flush=True)


__all__ = ['Fail', 'check', 'check_eq', 'domain_xml', 'Workspace', 'alive', 'main', 'json', 'NS',
           'VFRELAY']
