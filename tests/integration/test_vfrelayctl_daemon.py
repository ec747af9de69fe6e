#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario: vfrelayctl metrics and list against a real daemon carrying traffic.

After frames cross VF -> guest -> VF, `vfrelayctl metrics` must parse as OpenMetrics and
carry every per-queue counter with the value /vfrelay/stats reports; `list` and
`metrics --all` must find this instance with the daemon's pid and leave out the guest
(a DPDK process with a telemetry socket but no /vfrelay commands); log-level must change the
daemon's levels, which it audits in its log."""

import json
import os
import subprocess
import sys

import vfrtest as V

N = 300


def parser():
    try:
        import prometheus_client.openmetrics.parser as om
    except ImportError:
        # A python3 other than Debian's (pyenv, venv) does not see dist-packages.
        sys.path.append('/usr/lib/python3/dist-packages')
        try:
            import prometheus_client.openmetrics.parser as om
        except ImportError as e:
            raise V.Fail(f'{e}: install python3-prometheus-client (scripts/install-deps)')
    return om


def ctl(*args):
    p = subprocess.run([V.VFRELAYCTL, *args], capture_output=True, text=True, timeout=30)
    V.check(p.returncode == 0, f'vfrelayctl {" ".join(args)} exit 0 (got {p.returncode}: '
            f'{p.stderr.strip()})')
    return p.stdout


def samples(om, text, what):
    try:
        fams = list(om.text_string_to_metric_families(text))
    except ValueError as e:
        raise V.Fail(f'{what} is no valid OpenMetrics: {e}')
    return {(s.name, frozenset(s.labels.items())): s.value for f in fams for s in f.samples}


def scenario():
    om = parser()
    with V.Env('ctlm') as env:
        env.bring_up(guest_kw={'fwd': 'macswap'})
        port = env.port()
        env.warm_up(port)
        frames = [V.udp_frame(port.mac, b'\x02\x00\x00\x00\x00\x01', i, size)
                  for i, size in enumerate(V.mixed_sizes(N))]
        V.check_roundtrip(port, frames, what='UDP frames')
        if V.STANDIN:
            V.log('  skipped (stand-in): no /vfrelay commands to export')
            return
        env.wait_stats({'rx_packets': N, 'tx_packets': N})

        V.log('==> vfrelayctl metrics against the settled counters')
        before = env._settled_stats('net0')
        got = samples(om, ctl('-n', env.name, 'metrics'), 'metrics')
        after = env.stats('net0')
        V.check(before == after, 'counters did not move while metrics ran')
        inst = ('instance_name', env.name)
        n, bad = 0, []
        for q, vals in after.items():
            if not isinstance(vals, dict) or q == 'total':
                continue
            for k, v in vals.items():
                if isinstance(v, str):
                    continue
                gauge = k in ('lcore', 'rx_enabled', 'tx_enabled', 'zc_shells_held')
                name = f'vfrelay_queue_{k}' + ('' if gauge else '_total')
                labels = frozenset([inst, ('relay', 'net0'), ('queue', q[1:])])
                if got.get((name, labels)) != v:
                    bad.append(f'{name}{{queue="{q[1:]}"}}: {got.get((name, labels))} != {v}')
                n += 1
        V.check(n >= 14 and not bad, f'{n} queue counters equal /vfrelay/stats,net0 {bad}')
        V.check_eq(got.get(('vfrelay_queue_mode', frozenset(
            [inst, ('relay', 'net0'), ('queue', '0'), ('vfrelay_queue_mode', 'copy')]))), 1,
            'queue 0 mode copy')
        relay = frozenset([inst, ('relay', 'net0')])
        V.check_eq(got.get(('vfrelay_relay_running', relay)), 1, 'vfrelay_relay_running')
        V.check(got.get(('vfrelay_relay_vf_ipackets_total', relay), 0) >= N,
                'vfrelay_relay_vf_ipackets_total counts the frames sent')
        V.check(got.get(('vfrelay_lcore_busy_cycles_total',
                         frozenset([inst, ('lcore', '1')])), 0) > 0,
                'worker lcore 1 has busy cycles')
        V.check(got.get(('vfrelay_instance_tsc_hz', frozenset([inst])), 0) > 0, 'tsc_hz')

        V.log('==> vfrelayctl list and metrics --all find the daemon, not the guest')
        V.check(os.path.exists(V.telemetry_path(env.guest_prefix)),
                f'the guest {env.guest_prefix} has a telemetry socket to leave out')
        found = json.loads(ctl('list', '--json'))
        V.check(env.name in found, f'list finds {env.name}: {sorted(found)}')
        V.check_eq(found[env.name]['pid'], env.relay_proc.pid, 'list pid')
        V.check_eq(found[env.name]['relays']['net0']['state'], 'running', 'list state')
        V.check(env.guest_prefix not in found, f'list leaves out the guest {env.guest_prefix}')
        everyone = ctl('metrics', '--all')
        samples(om, everyone, 'metrics --all')
        V.check(f'vfrelay_instance_up{{instance_name="{env.name}"}} 1\n' in everyone,
                'metrics --all scrapes the daemon')
        V.check(f'"{env.guest_prefix}"' not in everyone, 'metrics --all leaves out the guest')
        V.log(f'  ok: list and metrics --all see {env.name} (pid {env.relay_proc.pid})')

        V.log('==> vfrelayctl log-level: the daemon changes its levels and audits it')
        levels = ('emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug')
        before = json.loads(ctl('-n', env.name, '--json', 'log-level'))
        V.check(before.get('global') in levels, f'levels: {before}')
        V.check_eq(before.get('vfrelay.qsync'), 'info', 'vfrelay.qsync level before')
        V.check_eq(ctl('-n', env.name, 'log-level', 'vfrelay.*', 'debug'),
                   'vfrelay.*: log level = debug\n', 'log-level set')
        V.wait_until(lambda: "log level of 'vfrelay.*' set to debug" in
                     env.relay_proc.log_text(), 5, 'the audit line in the daemon log')
        after = json.loads(ctl('-n', env.name, '--json', 'log-level'))
        for lt in ('vfrelay.qsync', 'vfrelay.fwd', 'vfrelay.vhost', 'vfrelay.hw'):
            V.check_eq(after.get(lt), 'debug', f'{lt} level after')


if __name__ == '__main__':
    V.main(scenario)
