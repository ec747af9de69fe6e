#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""A stand-in for systemctl (installed as `systemctl` in a directory put first in PATH).

Appends its arguments to $FAKE_SYSTEMCTL_DIR/calls, one line per call. Units it has
started are active: `show --property=MainPID --value UNIT` prints a pid for them (its
own parent's, alive for the test) and 0 otherwise, `list-units` lists them. A file
$FAKE_SYSTEMCTL_DIR/fail makes `start` fail like systemd does, with exit 1.
"""

import os
import sys

d = os.environ['FAKE_SYSTEMCTL_DIR']
args = sys.argv[1:]
with open(os.path.join(d, 'calls'), 'a') as f:
    f.write(' '.join(args) + '\n')
active = os.path.join(d, 'active')
units = open(active).read().split() if os.path.exists(active) else []

if args[:1] == ['start']:
    if os.path.exists(os.path.join(d, 'fail')):
        print(f'Job for {args[1]} failed because the control process exited with error code.')
        print(f'See "systemctl status {args[1]}" and "journalctl -xeu {args[1]}" for details.')
        sys.exit(1)
    units.append(args[1])
elif args[:1] == ['stop']:
    units = [u for u in units if u != args[-1]]
elif args[:1] == ['show']:
    print(os.getppid() if args[-1] in units else 0)
elif args[:1] == ['list-units']:
    for u in units:
        print(f'{u} loaded active running vfrelay forwarder for {u}')
with open(active, 'w') as f:
    f.write('\n'.join(units))
