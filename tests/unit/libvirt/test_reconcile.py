# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""vfrelay-reconcile against libvirt's test driver (a test:///<file> node, no daemon).

The node file holds what a host could look like after libvirtd was down: vm-a served,
vm-b running without an instance, vm-c shut off while its claim and instance remain,
vm-d with another backend's vhost-user interface, vm-e with an interface vfrelay cannot
serve. On top, an instance runs that no claim names. reconcile must start vm-b's (with
the VF its metadata names), release vm-c's only once its claim is older than --grace,
stop the unclaimed one, leave vm-d and vm-e alone, restart a crashed instance, and a
second pass must change nothing. --dry-run changes nothing at all.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lvtest import NS, Workspace, alive, check, check_eq, domain_xml, main  # noqa: E402

UA = 'aaaaaaaa-0000-0000-0000-00000000000a'
UB = 'aaaaaaaa-0000-0000-0000-00000000000b'
UC = 'aaaaaaaa-0000-0000-0000-00000000000c'
UD = 'aaaaaaaa-0000-0000-0000-00000000000d'
UE = 'aaaaaaaa-0000-0000-0000-00000000000e'
UG = 'aaaaaaaa-0000-0000-0000-0000000000ff'


def test_domain(name, uuid, body, state=''):
    # The test driver wants a <memory> and an <os>; runstate 5 is "shut off".
    rs = f'<test:runstate>{state}</test:runstate>' if state else ''
    return (f"<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
            f"<name>{name}</name><uuid>{uuid}</uuid>{body}<memory>262144</memory>"
            f"<os><type>hvm</type></os>{rs}</domain>\n")


def devices(xml):
    """The <metadata> and <devices> of a lvtest.domain_xml() document."""
    return xml.split('</uuid>', 1)[1].rsplit('</domain>', 1)[0]


def summary(out):
    return [ln for ln in out.splitlines() if ' domain(s) served' in ln][-1].split(': ', 1)[1]


def run():
    with Workspace([f'net_null{i}' for i in range(4)]) as w:
        xa = domain_xml('vm-a', UA, [w.sockpath('a.sock')])
        xb = domain_xml('vm-b', UB, [w.sockpath('b.sock')],
                        meta=f'<v:relay xmlns:v="{NS}" vf="net_null3"/>')
        xc = domain_xml('vm-c', UC, [w.sockpath('c.sock')])
        xd = domain_xml('vm-d', UD, [])
        xd = xd.replace('<devices>', "<devices><interface type='vhostuser'><source type='unix' "
                        "path='/var/run/openvswitch/vhu-d' mode='server'/><model type='virtio'/>"
                        "</interface>")
        xe = domain_xml('vm-e', UE, [w.sockpath('e.sock')]).replace("mode='server'",
                                                                     "mode='client'")
        node = os.path.join(w.dir, 'node.xml')
        with open(node, 'w') as f:
            f.write('<node>\n' + test_domain('vm-a', UA, devices(xa)) +
                    test_domain('vm-b', UB, devices(xb)) +
                    test_domain('vm-c', UC, devices(xc), state='5') +
                    test_domain('vm-d', UD, devices(xd)) +
                    test_domain('vm-e', UE, devices(xe)) + '</node>\n')
        uri = 'test://' + node

        print('==> the state libvirtd left: vm-a and vm-c served, an unclaimed instance')
        for n, x in (('vm-a', xa), ('vm-c', xc)):
            check_eq(w.hook(n, 'prepare', 'begin', x)[0], 0, f'{n} prepared by the hook')
        xg = domain_xml('ghost', UG, [w.sockpath('g.sock')])
        check_eq(w.hook('ghost', 'prepare', 'begin', xg)[0], 0, 'ghost prepared')
        os.unlink(os.path.join(w.run_dir, 'claims', UG))
        before = (w.claims(), w.running())
        check_eq(sorted(before[1]), ['ghost', 'vm_a', 'vm_c'], 'running instances')

        print('==> --dry-run: says what it would do, does nothing')
        rc, out, err = w.reconcile(uri, '--dry-run', '--grace', '0')
        check_eq(rc, 0, 'exit code')
        for line in ('domain vm-b runs but it holds no VF: would be starting instance vm_b',
                     f'domain vm-c ({UC}) is not running: would be stopping instance vm_c, '
                     'releasing net_null1',
                     'instance ghost runs for no domain: would be stopping it'):
            check(f'vfrelay-reconcile: {line}\n' in out, f'says "{line}"')
        check_eq((w.claims(), w.running()), before, 'claims and instances unchanged')

        print('==> a pass: vm-b started, ghost stopped, vm-c still in its grace time')
        rc, out, err = w.reconcile(uri)
        check_eq(rc, 0, 'exit code')
        check_eq(summary(out), '2 domain(s) served, 1 instance(s) started, 1 orphan instance(s) '
                 'stopped, 0 claim(s) released, 0 failure(s)', 'summary')
        check(f"domain vm-e: interface 0 ({w.sockpath('e.sock')}): <source mode>: must be "
              "'server'" in out and 'its state is left alone' in out, 'vm-e reported, left alone')
        check('domain vm-c: claim only ' in out and 'left to the hook' in out,
              'vm-c: young claim left to the hook')
        claims = w.claims()
        check_eq(claims.get(UB), {'instance': 'vm_b', 'domain': 'vm-b', 'vfs': ['net_null3']},
                 'vm-b claim: the VF its metadata names')
        check_eq(sorted(w.running()), ['vm_a', 'vm_b', 'vm_c'], 'running instances')
        check(not alive(before[1]['ghost']), 'the unclaimed instance exited')
        check_eq(w.running()['vm_a'], before[1]['vm_a'], 'vm-a instance untouched')

        print('==> --grace 0: vm-c released')
        rc, out, err = w.reconcile(uri, '--grace', '0')
        check_eq(summary(out), '2 domain(s) served, 0 instance(s) started, 0 orphan instance(s) '
                 'stopped, 1 claim(s) released, 0 failure(s)', 'summary')
        check(UC not in w.claims() and 'vm_c' not in w.running(), 'vm-c: claim and instance gone')
        check(not os.path.exists(w.ini('vm_c')), 'vm-c: instance config gone')

        print('==> nothing to do: nothing done')
        pids = w.running()
        rc, out, err = w.reconcile(uri, '--grace', '0')
        check_eq(summary(out), '2 domain(s) served, 0 instance(s) started, 0 orphan instance(s) '
                 'stopped, 0 claim(s) released, 0 failure(s)', 'summary')
        check_eq(w.running(), pids, 'same processes')

        print('==> a crashed instance is started again')
        os.kill(pids['vm_a'], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while alive(pids['vm_a']) and time.monotonic() < deadline:
            time.sleep(0.05)
        rc, out, err = w.reconcile(uri, '--grace', '0')
        check('domain vm-a runs but its instance is not running: starting instance vm_a' in out,
              'says why')
        check_eq(summary(out), '2 domain(s) served, 1 instance(s) started, 0 orphan instance(s) '
                 'stopped, 0 claim(s) released, 0 failure(s)', 'summary')
        new = w.running().get('vm_a')
        check(new is not None and new != pids['vm_a'], f'vm_a runs again (pid {new})')
        check_eq(w.claims()[UA]['vfs'], ['net_null0'], 'with the same VF')

        print('==> bad host.conf: exit 2, the key named')
        with open(w.conf, 'a') as f:
            f.write('burst = 0\n')
        rc, out, err = w.reconcile(uri)
        check_eq((rc, err.strip()), (2, f"vfrelay-reconcile: {w.conf}: [host] burst: must be an "
                                     "integer in 1..64, got '0'"), 'exit code and message')


if __name__ == '__main__':
    main(run)
