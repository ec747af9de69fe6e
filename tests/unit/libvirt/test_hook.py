# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""vfrelay-hook as libvirt runs it (argv, XML on stdin), against a fake vfrelay.

The lifecycle libvirt drives, and what an operator sees: exit codes, the one stderr line,
claims, instance configs the real vfrelay accepts, and that a refused start (the pool
empty, a VF taken, the daemon refusing its config) holds nothing afterwards, while its
stopped/release calls leave other domains' instances and VFs alone.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lvtest import (NS, VFRELAY, Fail, Workspace, alive, check, check_eq,  # noqa: E402
                    domain_xml, main)

U1 = '00000000-0000-0000-0000-000000000001'
U2 = '00000000-0000-0000-0000-000000000002'
U3 = '00000000-0000-0000-0000-000000000003'
U4 = '00000000-0000-0000-0000-000000000004'
U5 = '00000000-0000-0000-0000-000000000005'


def no_vhost_user():
    print('==> a domain without vhost-user needs no host.conf and gets nothing')
    with Workspace(['net_null0']) as w:
        os.unlink(w.conf)
        xml = ("<domain><name>plain</name><uuid>" + U1 + "</uuid><devices>"
               "<interface type='network'><source network='default'/></interface>"
               "</devices></domain>")
        for op, sub in (('prepare', 'begin'), ('start', 'begin'), ('stopped', 'end'),
                        ('release', 'end')):
            check_eq(w.hook('plain', op, sub, xml)[0], 0, f'{op} {sub} exit code')
        check(not os.path.exists(os.path.join(w.run_dir, 'claims')), 'no claim written')
        rc, _, err = w.hook('vm1', 'prepare', 'begin',
                            domain_xml('vm1', U1, [w.sockpath('vm1.sock')]))
        check_eq(rc, 2, 'vhost-user domain without host.conf: exit code')
        check_eq(err, f'vfrelay-hook: {w.conf}: cannot open: No such file or directory',
                 'message')


def lifecycle():
    print('==> prepare, refusals, stopped/release of a refused start, release, reuse')
    with Workspace(['net_null0', 'net_null1']) as w:
        x1 = domain_xml('vm-1', U1, [w.sockpath('vm1a.sock'), w.sockpath('vm1b.sock')])
        rc, _, err = w.hook('vm-1', 'prepare', 'begin', x1)
        check_eq(rc, 0, 'vm-1 prepare: exit code')
        check_eq(w.claims(), {U1: {'instance': 'vm_1', 'domain': 'vm-1',
                                   'vfs': ['net_null0', 'net_null1']}}, 'claims')
        pid1 = w.running().get('vm_1')
        check(pid1 is not None, f'instance vm_1 runs (pid {pid1})')
        # The config it got is one the real daemon accepts.
        r = subprocess.run([VFRELAY, '--config', w.ini('vm_1'), '--check'],
                           capture_output=True, text=True, timeout=30)
        check_eq(r.returncode, 0, f'vfrelay --check {w.ini("vm_1")} ({r.stdout.strip()})')
        ini = open(w.ini('vm_1')).read()
        check('[relay net0]\n' in ini and '[relay net1]\n' in ini and
              'vhost_mode = client\n' in ini, 'two relays in XML order, client mode')

        for op in (('start', 'begin'), ('started', 'begin'), ('reconnect', 'begin'),
                   ('migrate', 'begin'), ('restore', 'begin'), ('attach', 'begin')):
            check_eq(w.hook('vm-1', *op, x1)[0], 0, f'{" ".join(op)}: nothing to do, exit 0')
        check_eq(w.running().get('vm_1'), pid1, 'vm_1 untouched by those')

        # Metadata naming a VF vm-1 holds; then its stopped/release.
        x2 = domain_xml('vm-2', U2, [w.sockpath('vm2.sock')],
                        meta=f'<v:relay xmlns:v="{NS}" vf="net_null1"/>')
        rc, _, err = w.hook('vm-2', 'prepare', 'begin', x2)
        check_eq((rc, err), (1, "vfrelay-hook: domain vm-2: metadata <vfrelay:relay> of "
                             "interface 0: vf 'net_null1' is held by domain vm-1"),
                 'vm-2 (VF taken)')
        x3 = domain_xml('vm-3', U3, [w.sockpath('vm3.sock')])
        rc, _, err = w.hook('vm-3', 'prepare', 'begin', x3)
        check_eq((rc, err), (1, f"vfrelay-hook: domain vm-3: interface 0 ({w.sockpath('vm3.sock')}"
                             f"): no free VF in vf_pool of {w.conf} (all 2 held by running "
                             "domains)"), 'vm-3 (pool empty)')
        for x, n in ((x2, 'vm-2'), (x3, 'vm-3')):
            check_eq(w.hook(n, 'stopped', 'end', x)[0], 0, f'{n} stopped end')
            check_eq(w.hook(n, 'release', 'end', x)[0], 0, f'{n} release end')
        check_eq(w.running().get('vm_1'), pid1, 'vm_1 still runs after the refused starts')
        check_eq(list(w.claims()), [U1], 'and still holds its VFs')

        # "vm_1" is the instance name of vm-1 too.
        rc, _, err = w.hook('vm_1', 'prepare', 'begin',
                            domain_xml('vm_1', U4, [w.sockpath('x.sock')]))
        check_eq((rc, err), (1, "vfrelay-hook: domain vm_1: instance name 'vm_1' is held by "
                             f"domain vm-1 ({U1}): rename one of them"),
                 'vm_1 while vm-1 runs')

        check_eq(w.hook('vm-1', 'stopped', 'end', x1)[0], 0, 'vm-1 stopped end')
        check(not alive(pid1), 'vm_1 exited at stopped end')
        check_eq(list(w.claims()), [U1], 'its VFs stay claimed until release')
        check_eq(w.hook('vm-1', 'release', 'end', x1)[0], 0, 'vm-1 release end')
        check_eq(w.claims(), {}, 'VFs free after release')
        check(not os.path.exists(w.ini('vm_1')), 'instance config removed')

        # The same instance name, another domain: fine once vm-1 is gone.
        x4 = domain_xml('vm_1', U4, [w.sockpath('x.sock')])
        check_eq(w.hook('vm_1', 'prepare', 'begin', x4)[0], 0, 'vm_1 (other uuid) now starts')
        check_eq(w.hook('vm_1', 'release', 'end', x4)[0], 0, 'and is released')


def daemon_refuses():
    print('==> the daemon refuses its config: its line, nothing held')
    with Workspace(['net_null0']) as w:
        w.mode('vm5', 'fail')
        x = domain_xml('vm5', U5, [w.sockpath('vm5.sock')])
        rc, _, err = w.hook('vm5', 'prepare', 'begin', x)
        check_eq((rc, err), (1, 'vfrelay-hook: domain vm5: instance vm5: vfrelay exited with '
                             f'status 2: vfrelay: '
                             f'{w.ini("vm5")}: [relay net0] vf: no such device'),
                 'prepare: the daemon\'s message')
        check_eq(w.claims(), {}, 'no claim left')
        check_eq(w.running(), {}, 'nothing running')
        w.mode('vm5', 'ready')
        check_eq(w.hook('vm5', 'prepare', 'begin', x)[0], 0, 'the VF is free for the next start')
        # A prepare for a domain whose old instance still runs (libvirtd lost track).
        old = w.running()['vm5']
        check_eq(w.hook('vm5', 'prepare', 'begin', x)[0], 0, 'prepare again')
        check(not alive(old) and w.running()['vm5'] != old, 'the stale instance was replaced')
        # release with an XML that cannot be parsed: found by the instance name.
        check_eq(w.hook('vm5', 'release', 'end', '<domain')[0], 0, 'release, broken XML')
        check_eq((w.claims(), w.running()), ({}, {}), 'released by name')


def bad_input():
    print('==> bad XML and bad host.conf: exit 2, one line')
    with Workspace(['net_null0']) as w:
        rc, _, err = w.hook('vm1', 'prepare', 'begin', '<domain><name>vm1</name>')
        check(rc == 2 and err.startswith('vfrelay-hook: domain ?: XML line 1: '),
              'not well-formed')
        x = domain_xml('vm1', U1, [w.sockpath('vm1.sock')],
                       meta=f'<v:relay xmlns:v="{NS}" zero_copy="always"/>')
        rc, _, err = w.hook('vm1', 'prepare', 'begin', x)
        check_eq((rc, err), (2, "vfrelay-hook: domain vm1: metadata <vfrelay:relay>: zero_copy: "
                             "must be auto, on or off, got 'always'"), 'bad metadata')
        with open(w.conf, 'a') as f:
            f.write('mtu = 99999\n')
        rc, _, err = w.hook('vm1', 'prepare', 'begin', domain_xml('vm1', U1,
                                                                  [w.sockpath('a.sock')]))
        check_eq((rc, err), (2, f"vfrelay-hook: {w.conf}: [host] mtu: must be an integer in "
                             "68..9000, got '99999'"), 'bad host.conf')
        r = subprocess.run([os.environ['VFRELAY_HOOK_EXE'], '--check'],
                           capture_output=True, text=True, env=w.env, timeout=10)
        check_eq((r.returncode, r.stderr.strip()), (2, err), '--check says the same')
        check_eq(w.claims(), {}, 'nothing claimed')


def check_ok():
    print('==> --check on a good host.conf')
    with Workspace(['net_null0', 'net_null1']) as w:
        r = subprocess.run([os.environ['VFRELAY_HOOK_EXE'], '--check'], capture_output=True,
                           text=True, env=w.env, timeout=10)
        check_eq(r.returncode, 0, '--check exit code')
        check_eq(r.stdout.strip(), f'vfrelay-hook: {w.conf}: OK (socket_dir {w.sock}, 2 VFs in '
                 'vf_pool, lcores 0,1, launcher direct)', '--check output')


def run():
    t0 = time.monotonic()
    no_vhost_user()
    lifecycle()
    daemon_refuses()
    bad_input()
    check_ok()
    print(f'  ({time.monotonic() - t0:.1f}s)')


if __name__ == '__main__':
    main(run)
