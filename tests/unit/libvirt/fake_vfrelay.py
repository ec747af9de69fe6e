#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""A stand-in for vfrelay, run as `fake_vfrelay.py --config INI` by the hook's launcher.

Behaviour, from the first of: a "; fake: MODE" line in INI, the file
<this file>.<instance>.mode, the file <this file>.mode, else "ready":

  ready     send STATUS=serving and READY=1 to $NOTIFY_SOCKET, then run until killed
  late      READY=1 after 0.5 s
  silent    never say anything, run until killed (a stuck vfrelay)
  fail      print EAL noise and vfrelay's one-line error, exit 2
  record    like ready, after writing what it inherited to INI.record (JSON)
"""

import json
import os
import resource
import signal
import socket
import sys
import time


def mode_of(ini):
    try:
        with open(ini) as f:
            for line in f:
                if line.startswith('; fake:'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    inst = os.path.basename(ini).rsplit('.', 1)[0]
    for name in (f'{sys.argv[0]}.{inst}.mode', f'{sys.argv[0]}.mode'):
        try:
            with open(name) as f:
                return f.read().strip()
        except OSError:
            pass
    return 'ready'


def notify(msg):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(msg, os.environ['NOTIFY_SOCKET'])
    s.close()


def record(ini):
    fds = {}
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            continue  # the listing's own descriptor, already closed
        if not target.startswith('/proc/'):
            fds[fd] = target
    out = {
        'pid': os.getpid(),
        'sid': os.getsid(0),
        'pgid': os.getpgid(0),
        'fds': dict(sorted(fds.items(), key=lambda kv: int(kv[0]))),
        'env': dict(os.environ),
        'cwd': os.getcwd(),
        'memlock': resource.getrlimit(resource.RLIMIT_MEMLOCK)[0],
        'memlock_max': resource.getrlimit(resource.RLIMIT_MEMLOCK)[1],
        'sigmask': sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        'argv': sys.argv,
    }
    with open(ini + '.record', 'w') as f:
        json.dump(out, f)


def main():
    if len(sys.argv) != 3 or sys.argv[1] != '--config':
        print('usage: fake_vfrelay.py --config INI', file=sys.stderr)
        sys.exit(2)
    ini = sys.argv[2]
    mode = mode_of(ini)
    print(f'fake vfrelay: {ini}: mode {mode}', flush=True)
    if mode == 'fail':
        print('EAL: Detected CPU lcores: 2', flush=True)
        print(f'vfrelay: {ini}: [relay net0] vf: no such device', file=sys.stderr, flush=True)
        print('EAL: cleanup', flush=True)
        sys.exit(2)
    if mode == 'record':
        record(ini)
    if mode in ('ready', 'record'):
        notify(b'STATUS=serving\nREADY=1')
    elif mode == 'late':
        time.sleep(0.5)
        notify(b'READY=1')
    while True:
        time.sleep(1)


main()
