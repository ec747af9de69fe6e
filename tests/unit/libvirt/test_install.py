# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""`meson install --destdir` lays out what an operator needs, where this build says:
binaries, the hook where libvirt looks, the systemd units, the samples, the man pages;
the units pass `systemd-analyze verify`, the samples pass the programs' own checks and
the man pages render without a groff warning.

    test_install.py BUILD_DIR   (MESON, VFRELAY_HOOK_EXE, VFRELAY_EXE from meson)
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

BUILD = sys.argv[1]
MESON = os.environ.get('MESON', 'meson')
failures = []


def check(cond, msg):
    print(('  ok: ' if cond else 'FAIL: ') + msg, flush=True)
    if not cond:
        failures.append(msg)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def options():
    r = run([MESON, 'introspect', '--buildoptions', BUILD])
    return {o['name']: o['value'] for o in json.loads(r.stdout)}


def two_cpus():
    cpus = sorted(os.sched_getaffinity(0))
    return f'{cpus[0]},{cpus[1]}'


def main():
    o = options()
    prefix = o['prefix']
    j = lambda d: d if d.startswith('/') else os.path.join(prefix, d)  # noqa: E731
    bindir, sysconfdir, mandir = j(o['bindir']), j(o['sysconfdir']), j(o['mandir'])
    hooks = o['libvirt_hooks_dir'] or ('/etc/libvirt/hooks' if prefix in ('/usr', '/usr/local')
                                       else os.path.join(sysconfdir, 'libvirt', 'hooks'))
    units = o['systemd_unit_dir'] or os.path.join(prefix, 'lib', 'systemd', 'system')
    want = [f'{bindir}/vfrelay', f'{bindir}/vfrelayctl', f'{bindir}/vfrelay-reconcile',
            f'{hooks}/qemu.d/vfrelay', f'{units}/vfrelay@.service',
            f'{units}/vfrelay-reconcile.service', f'{sysconfdir}/vfrelay/host.conf.sample',
            f'{sysconfdir}/vfrelay/instance.ini.sample', f'{mandir}/man8/vfrelay.8',
            f'{mandir}/man8/vfrelay-hook.8', f'{mandir}/man8/vfrelay-reconcile.8',
            f'{mandir}/man5/vfrelay.ini.5', f'{mandir}/man8/vfrelayctl.8',
            f'{j(o["datadir"])}/doc/vfrelay/operations.md']

    dest = tempfile.mkdtemp(prefix='vfrh-install-')
    try:
        r = run([MESON, 'install', '-C', BUILD, '--destdir', dest, '--no-rebuild', '--quiet'])
        check(r.returncode == 0, f'meson install --destdir {dest} ({r.stderr.strip()[-300:]})')
        got = sorted('/' + os.path.relpath(os.path.join(dp, f), dest)
                     for dp, _, fs in os.walk(dest) for f in fs)
        print('  installed:\n    ' + '\n    '.join(got))
        for w in want:
            check(w in got, f'installed: {w}')
        if prefix not in ('/usr', '/usr/local'):
            outside = [g for g in got if not g.startswith(prefix + '/')]
            check(not outside, f'everything inside the prefix {prefix}: {outside}')
        hook = dest + f'{hooks}/qemu.d/vfrelay'
        check(os.access(hook, os.X_OK) and run([hook, '--version']).returncode == 0,
              'the installed hook runs')

        unit = open(dest + f'{units}/vfrelay@.service').read()
        run_dir = o['run_dir']
        for line in (f'ExecStartPre={bindir}/vfrelay --config {run_dir}/%i.ini --check',
                     f'ExecStart={bindir}/vfrelay --config {run_dir}/%i.ini',
                     'Type=notify', 'RestartPreventExitStatus=2', 'LimitMEMLOCK=infinity',
                     'DeviceAllow=/dev/vfio/vfio rw', 'DeviceAllow=char-vfio rw'):
            check(f'\n{line}\n' in unit, f'vfrelay@.service: {line}')
        if shutil.which('systemd-analyze'):
            r = run(['systemd-analyze', 'verify', '--man=no',
                     dest + f'{units}/vfrelay@.service',
                     dest + f'{units}/vfrelay-reconcile.service'], cwd=dest)
            # The binaries are in the destdir, not at their final path; nothing else.
            other = [ln for ln in (r.stdout + r.stderr).splitlines()
                     if ln and 'is not executable: No such file or directory' not in ln]
            check(not other, f'systemd-analyze verify: {other or "clean"}')

        work = tempfile.mkdtemp(prefix='vfrh-samples-', dir=dest)
        host = open(dest + f'{sysconfdir}/vfrelay/host.conf.sample').read()
        host = re.sub(r'(?m)^socket_dir = .*$', f'socket_dir = {work}', host)
        host = re.sub(r'(?m)^lcores = .*$', f'lcores = {two_cpus()}', host)
        with open(os.path.join(work, 'host.conf'), 'w') as f:
            f.write(host)
        r = run([os.environ['VFRELAY_HOOK_EXE'], '--check'],
                env=dict(os.environ, VFRELAY_HOST_CONF=os.path.join(work, 'host.conf')))
        check(r.returncode == 0, f'host.conf.sample passes vfrelay-hook --check '
              f'({(r.stdout + r.stderr).strip()})')
        inst = open(dest + f'{sysconfdir}/vfrelay/instance.ini.sample').read()
        inst = re.sub(r'(?m)^vhost = \S+', f'vhost = {work}/vm1-net0.sock', inst)
        inst = re.sub(r'(?m)^lcores = \S+', f'lcores = {two_cpus()}', inst)
        with open(os.path.join(work, 'vm1.ini'), 'w') as f:
            f.write(inst)
        r = run([os.environ['VFRELAY_EXE'], '--config', os.path.join(work, 'vm1.ini'),
                 '--check'])
        check(r.returncode == 0, f'instance.ini.sample passes vfrelay --check '
              f'({(r.stdout + r.stderr).strip()})')

        if shutil.which('groff'):
            for m in [w for w in want if '/man/man' in w]:
                r = run(['groff', '-man', '-ww', '-Tutf8', '-z', dest + m])
                check(r.returncode == 0 and not r.stderr.strip(),
                      f'{os.path.basename(m)} renders cleanly {r.stderr.strip()[:300]}')
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    if failures:
        print(f'FAIL: {len(failures)} check(s)')
        sys.exit(1)
    print('PASS: test_install.py')


main()
