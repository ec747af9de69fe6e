#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario f: bad configuration is refused the way an operator needs it:
exit code 2, one line on stderr naming the file, section and key, nothing
left running. Each case goes through `vfrelay --check`; an unusable VF
(which only a real start can find) goes through a normal start."""

import os
import socket
import subprocess

import vfrtest as V

GOOD_VFRELAY = {'name': V.name('cfg'), 'lcores': '0,1', 'eal': '--no-huge -m 256'}


def good_relay(tmp, name='net0', sock='net0.sock'):
    return {'name': name, 'vf': 'net_null0', 'vhost': os.path.join(tmp, sock),
            'vhost_mode': 'client', 'queues': 1}


def cases(tmp):
    """(description, config text, expected substring of the error line)."""
    def cfg(vfrelay=None, relay=None, relays=None):
        g = dict(GOOD_VFRELAY)
        g.update(vfrelay or {})
        r = good_relay(tmp)
        r.update(relay or {})
        name = g.pop('name')
        return V.config_text(name, relays if relays is not None else [r], **g)

    R = '[relay net0]'
    G = '[vfrelay]'
    return [
        ('queues 0', cfg(relay={'queues': 0}), f"{R} queues"),
        ('queues 17', cfg(relay={'queues': 17}), f"{R} queues"),
        ('queues not a number', cfg(relay={'queues': 'two'}), f"{R} queues"),
        ('vhost_mode unknown', cfg(relay={'vhost_mode': 'sideways'}), f"{R} vhost_mode"),
        ('zero_copy unknown', cfg(relay={'zero_copy': 'maybe'}), f"{R} zero_copy"),
        ('mtu below 68', cfg(relay={'mtu': 67}), f"{R} mtu"),
        ('mtu above 9000', cfg(relay={'mtu': 9001}), f"{R} mtu"),
        ('rx_ring_size 0', cfg(relay={'rx_ring_size': 0}), f"{R} rx_ring_size"),
        ('tx_ring_size huge', cfg(relay={'tx_ring_size': 1 << 20}), f"{R} tx_ring_size"),
        ('vhost directory missing', cfg(relay={'vhost': '/nonexistent-vfrt/net0.sock'}),
         f"{R} vhost"),
        ('vhost relative path', cfg(relay={'vhost': 'net0.sock'}), f"{R} vhost"),
        ('vf missing', cfg(relay={'vf': None}), f"{R} vf"),
        ('unknown relay key', cfg(relay={'colour': 'blue'}), f"{R} colour"),
        ('one lcore only', cfg(vfrelay={'lcores': '0'}), f"{G} lcores"),
        ('lcore not on this machine', cfg(vfrelay={'lcores': '0,4095'}), f"{G} lcores"),
        ('burst 0', cfg(vfrelay={'burst': 0}), f"{G} burst"),
        ('burst 65', cfg(vfrelay={'burst': 65}), f"{G} burst"),
        ('idle_backoff not a bool', cfg(vfrelay={'idle_backoff': 'sometimes'}),
         f"{G} idle_backoff"),
        ('bad instance name', cfg(vfrelay={'name': 'no/slash'}), f"{G} name"),
        ('unknown global key', cfg(vfrelay={'turbo': 'yes'}), f"{G} turbo"),
        ('two relays, one socket',
         cfg(relays=[good_relay(tmp), dict(good_relay(tmp, 'net1'), vf='net_null1')]),
         '[relay net1] vhost'),
        ('no relay section', cfg(relays=[]), 'relay'),
    ]


def run_vfrelay(args, timeout=60):
    return subprocess.run([V.VFRELAY] + args, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def error_lines(stderr):
    return [ln for ln in stderr.splitlines() if ln.startswith('vfrelay: ')]


def check_rejected(path, res, want, what):
    lines = error_lines(res.stderr)
    if res.returncode != 2 or len(lines) != 1 or want not in lines[0] \
            or os.path.basename(path) not in lines[0]:
        raise V.Fail(f'{what}: expected exit 2 and one "vfrelay: {os.path.basename(path)}: '
                     f'{want}..." line, got exit {res.returncode}, stderr:\n{res.stderr.strip()}')
    V.log(f'  ok: {what} -> exit 2: {lines[0]}')


def no_live_socket(path):
    if not os.path.exists(path):
        return True
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(path)
        return False
    except OSError:
        return True
    finally:
        s.close()


def scenario():
    with V.Env('cfg', net=False) as env:
        tmp = env.tmp
        good = os.path.join(tmp, 'good.ini')
        with open(good, 'w') as f:
            f.write(V.config_text(V.name('cfg'), [good_relay(tmp)],
                                  **{k: v for k, v in GOOD_VFRELAY.items() if k != 'name'}))
        V.log('==> the reference config passes --check (so each case below fails for its key)')
        res = run_vfrelay(['--config', good, '--check'])
        V.check(res.returncode == 0 and not res.stderr.strip(),
                f'--check on the reference config exits 0 quietly '
                f'(got {res.returncode}: {res.stderr.strip()!r})')

        V.log('==> zero_copy = on (zero copy or no RX) is accepted')
        on = os.path.join(tmp, 'zc_on.ini')
        with open(on, 'w') as f:
            f.write(V.config_text(V.name('cfg'), [dict(good_relay(tmp), zero_copy='on')],
                                  **{k: v for k, v in GOOD_VFRELAY.items() if k != 'name'}))
        res = run_vfrelay(['--config', on, '--check'])
        V.check(res.returncode == 0 and not res.stderr.strip(),
                f'--check with zero_copy = on exits 0 quietly '
                f'(got {res.returncode}: {res.stderr.strip()!r})')

        V.log('==> each bad config is refused by --check, naming its key')
        failures = []
        for i, (what, text, want) in enumerate(cases(tmp)):
            path = os.path.join(tmp, f'bad{i:02d}.ini')
            with open(path, 'w') as f:
                f.write(text)
            try:
                check_rejected(path, run_vfrelay(['--config', path, '--check']), want, what)
            except V.Fail as e:
                V.log(f'  NOT OK: {e}')
                failures.append(what)
        V.log('==> a file that does not exist')
        missing = os.path.join(tmp, 'missing.ini')
        res = run_vfrelay(['--config', missing, '--check'])
        if res.returncode != 2 or 'missing.ini' not in res.stderr:
            V.log(f'  NOT OK: missing file: exit {res.returncode}, {res.stderr.strip()!r}')
            failures.append('missing file')
        else:
            V.log(f'  ok: missing file -> exit 2: {res.stderr.strip()}')

        V.log('==> a VF that cannot be opened is refused at start, nothing left behind')
        sock = os.path.join(tmp, 'server.sock')
        path = os.path.join(tmp, 'badvf.ini')
        with open(path, 'w') as f:
            f.write(V.config_text(V.name('cfg'), [dict(
                good_relay(tmp), vf='net_af_packet0,iface=vfrtX-nonexist', vhost=sock,
                vhost_mode='server')],
                **{k: v for k, v in GOOD_VFRELAY.items() if k != 'name'}))
        try:
            res = run_vfrelay(['--config', path])
            check_rejected(path, res, '[relay net0] vf', 'unusable VF at start')
            V.check(not os.path.exists(sock), 'no vhost-user socket left at ' + sock)
            V.check(no_live_socket(V.telemetry_path(V.name('cfg'))), 'no live telemetry socket')
            left = subprocess.run(['pgrep', '-f', f'--config {path}'], capture_output=True,
                                  text=True).stdout.split()
            V.check(not left, 'no vfrelay process left for that config')
        except V.Fail as e:
            V.log(f'  NOT OK: {e}')
            failures.append('unusable VF')
        # af_packet ring geometry the PMD would mishandle silently (on lo, which exists).
        for what, vf, key in (
                ('af_packet blocksz not a multiple of framesz',
                 'net_af_packet0,iface=lo,framesz=1552', '[relay net0] vf'),
                ('af_packet slots too small for the MTU (frames would be cut)',
                 'net_af_packet0,iface=lo,framesz=1552,blocksz=397312', '[relay net0] mtu')):
            V.log(f'==> {what}')
            path = os.path.join(tmp, 'afp.ini')
            with open(path, 'w') as f:
                f.write(V.config_text(V.name('cfg'), [dict(good_relay(tmp), vf=vf, vhost=sock,
                                                        vhost_mode='server')],
                                      **{k: v for k, v in GOOD_VFRELAY.items() if k != 'name'}))
            try:
                check_rejected(path, run_vfrelay(['--config', path]), key, what)
                V.check(not os.path.exists(sock), 'no vhost-user socket left at ' + sock)
            except V.Fail as e:
                V.log(f'  NOT OK: {e}')
                failures.append(what)
        if failures:
            raise V.Fail(f'{len(failures)} case(s) not refused as expected: {failures}')


if __name__ == '__main__':
    V.main(scenario)
