#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario g: scripts/demo, the first command a newcomer runs, is green:
the ping is answered through vfrelay, the counter table is printed, and
nothing (namespace, veth, processes, DPDK runtime dirs) is left behind."""

import os
import subprocess

import vfrtest as V


def scenario():
    demo = os.path.join(V.SOURCE_ROOT, 'scripts', 'demo')
    env = dict(os.environ, VFR_BUILD_DIR=V.BUILD_DIR, VFR_SKIP_BUILD='1')
    V.log(f'==> running {demo} (build dir {V.BUILD_DIR})')
    try:
        res = subprocess.run([demo], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=180, env=env, cwd=V.SOURCE_ROOT)
    except subprocess.TimeoutExpired as e:
        raise V.Fail(f'demo did not finish in 180s; output so far:\n{e.stdout}')
    out = res.stdout + res.stderr
    print(out, flush=True)
    V.check_eq(res.returncode, 0, 'demo exit code')
    V.check('5 packets transmitted, 5 received' in out, 'all 5 pings were answered')
    V.check('rx_packets' in out and 'tx_packets' in out, 'the counter table was printed')
    V.check('==> demo OK' in out, 'the demo says OK')
    netns = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    V.check('vfr-demo' not in netns.split(), 'namespace vfr-demo removed')
    V.check(not os.path.exists('/sys/class/net/vfr-demo0'), 'veth vfr-demo0 removed')
    V.check(not os.path.exists('/var/run/dpdk/vfr-demo'), 'DPDK runtime dir removed')
    left = subprocess.run(['pgrep', '-f', 'file-prefix=vfr-demo-guest'], capture_output=True,
                          text=True).stdout.split()
    V.check(not left, 'no guest process left')


if __name__ == '__main__':
    V.main(scenario)
