#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario 8: guest memory hot-added under zero-copy traffic. The guest boots
with DIMM slots (-m 512,slots=2,maxmem=1G); while the namespace runs an echo
through vfrq in the guest, two memfd DIMMs are hot-added over QMP (object-add
memory-backend-memfd,share=on + device_add pc-dimm). For each, QEMU sends
SET_MEM_TABLE with the rings running: vfrelay must quiesce zero copy in the
SET_MEM_TABLE pre-handler, before librte_vhost unmaps the old table (the VF must
not be left writing into or through the old mappings), and rebind on the new
table afterwards. Checked: in vfrelay's log, after each hot-add, the message, then
"zero copy off (guest ring change)", then "zero copy on", in that order; the echo
under the hot-adds got every frame back intact; q0 is zero copy again; no CRIT,
shells still held or stuck worker in vfrelay, no Oops/BUG in the guest. Then a full
echo run with exact counters (every frame written by the VF straight into guest
memory, nothing copied)."""

import re
import threading
import time

import qemutest as Q
from qemutest import V

MTU = 1400
DIMMS = 2
DIMM_MIB = 128
# Echoed while the DIMMs are hot-added: long enough to span both (checked).
HOT_SIZES = V.mixed_sizes(50000, 60, MTU + 14)
SIZES = [64] * 1000 + [1400] * 1000 + V.mixed_sizes(2000, 60, MTU + 14)
N = len(SIZES)


def guest_mem(g):
    """(MemTotal in KiB, memory blocks online, memory blocks) in the guest."""
    out = g.sh('grep MemTotal /proc/meminfo; cat /sys/devices/system/memory/memory*/state')
    total = int(re.search(r'MemTotal:\s+(\d+)', out).group(1))
    states = re.findall(r'^(online|offline)\S*$', out, re.M)
    return total, states.count('online'), len(states)


def hot_add(env, g, k):
    """Hot-add DIMM @k; return the vfrelay log lines it caused once zero copy is back."""
    mark = len(env.relay_proc.log_text())
    t0 = time.monotonic()
    g.add_dimm(f'dimm{k}', DIMM_MIB)
    V.log(f'  hot-added dimm{k} ({DIMM_MIB} MiB), QMP returned after '
          f'{time.monotonic() - t0:.2f}s')

    def rebound():
        text = env.relay_proc.log_text()[mark:]
        return text if re.search(r'zero copy on', text) else None
    try:
        text = V.wait_until(rebound, 15, f'zero copy on again after dimm{k}', interval=0.1)
    except V.Fail:
        got = [ln for ln in env.relay_proc.log_text()[mark:].splitlines()
               if 'SET_MEM_TABLE' in ln or 'qsync' in ln]
        raise V.Fail(f'dimm{k}: no "zero copy on" within 15 s of the hot-add; vfrelay '
                     f'logged since: {got[:10]}') from None
    lines = text.splitlines()

    def first(pat, start=0):
        for i in range(start, len(lines)):
            if re.search(pat, lines[i]):
                return i
        raise V.Fail(f'dimm{k}: no "{pat}" in the vfrelay log after line {start} of the '
                     'hot-add: ' + ' | '.join(lines[:40]))
    i_msg = first(r'read message VHOST_USER_SET_MEM_TABLE')
    i_off = first(r'q0: zero copy off \(guest ring change\)', i_msg)
    i_on = first(r'q0: zero copy on', i_off)
    i_map = first(r'guest memory region', i_msg)
    V.check(i_off < i_map, f'dimm{k}: quiesced in the pre-handler, before the new table is '
            f'mapped (quiesce line {i_off}, first region line {i_map})')
    earlier_on = [ln for ln in lines[:i_off] if 'zero copy on' in ln]
    V.check(not earlier_on, f'dimm{k}: no rebind before the quiesce')
    regions = [ln for ln in lines[i_msg:i_on] if 'guest memory region' in ln]
    V.log(f'  dimm{k}: ' + ' -> '.join(lines[i].split(': ', 1)[-1].strip()[:70]
                                       for i in (i_msg, i_off, i_on)))
    V.check(True, f'dimm{k}: SET_MEM_TABLE (line {i_msg}), then quiesce (line {i_off}), then '
            f'rebind (line {i_on}); {len(regions)} region line(s) in between')
    return text


def scenario():
    with Q.QemuEnv('qmh', mtu=MTU) as env:
        g = env.boot(relay=env.relay_config(zc=True), slots=DIMMS, maxmem='1G')
        g.net_up(mtu=MTU)
        env.wait_zero_copy()
        port = env.port()
        mem_before = guest_mem(g)
        V.log(f'  guest memory before: MemTotal {mem_before[0]} KiB, '
              f'{mem_before[1]}/{mem_before[2]} blocks online')

        V.log(f'==> {DIMMS} DIMMs hot-added while {len(HOT_SIZES)} frames are echoed')
        res = {}

        def echo():
            try:
                res['ok'] = Q.echo_roundtrip(env, g, port, HOT_SIZES,
                                             what='frames under hot-add')
            except Exception as e:  # pylint: disable=broad-except
                res['err'] = e
        base_zc = env.stats()['q0']['rx_zc_packets']
        th = threading.Thread(target=echo, daemon=True)
        th.start()
        V.wait_until(lambda: not th.is_alive() or
                     env.stats()['q0']['rx_zc_packets'] > base_zc + 1000,
                     30, 'the echo to be under way', interval=0.1)
        for k in range(1, DIMMS + 1):
            hot_add(env, g, k)
            time.sleep(0.5)
        V.check(th.is_alive(), 'the echo was still running after the last rebind '
                '(traffic spanned every hot-add)')
        th.join(150)
        V.check(not th.is_alive(), 'the echo under the hot-adds finished')
        if 'err' in res:
            raise res['err']
        env.wait_zero_copy()
        q0 = env.stats()['q0']
        V.check_eq(q0.get('mode'), 'zero-copy', 'q0.mode after the hot-adds')
        for k in ('rx_bad_desc', 'rx_desc_too_small', 'rx_bad_ring'):
            V.check_eq(q0.get(k), 0, f'q0.{k}')

        # The kernel does not online hot-added blocks by itself: online them, so that
        # the RX buffers the guest posts from now on may come from the new DIMMs
        # (ZONE_NORMAL, above 4 GiB), written by the VF through the new table.
        g.sh('for f in /sys/devices/system/memory/memory*/state; do '
             'grep -q offline $f && echo online > $f; done; true')
        mem_after = guest_mem(g)
        V.log(f'  guest memory after onlining: MemTotal {mem_after[0]} KiB, '
              f'{mem_after[1]}/{mem_after[2]} blocks online')
        V.check(mem_after[2] > mem_before[2] and mem_after[1] == mem_after[2],
                'the guest sees the new memory blocks, all online')
        V.check_eq(mem_after[0] - mem_before[0], DIMMS * DIMM_MIB * 1024,
                   'MemTotal growth in KiB')

        V.log(f'==> {N} frames through the guest on the new memory table')
        total, _ = Q.echo_roundtrip(env, g, port, SIZES)
        env.wait_stats({'rx_packets': N, 'rx_zc_packets': N, 'rx_copy_packets': 0,
                        'rx_copy_bytes': 0, 'rx_bytes': total, 'tx_packets': N,
                        'rx_drop_no_guest_buf': 0}, key='q0')
        q0 = env.stats()['q0']
        V.check_eq(q0.get('mode'), 'zero-copy', 'q0.mode')
        V.check_eq(q0.get('zc_state'), 'none', 'q0.zc_state (no fallback)')
        fbs = {k: v for k, v in q0.items() if k.startswith('rx_zc_fallback_') and v}
        V.check_eq(fbs, {}, 'q0 fallback counters')

        oops = re.findall(r'.*(?:BUG|Oops|general protection|Call Trace|corrupt).*',
                          g.console_tail(100000))
        V.check_eq(oops, [], 'guest console lines with BUG/Oops/Call Trace/corrupt')
        env.check_relay_log_clean()
        stuck = [ln for ln in env.relay_proc.log_text().splitlines()
                 if 'still held' in ln or 'still inside a burst' in ln]
        V.check_eq(stuck, [], 'vfrelay log lines about shells still held or a stuck worker')


if __name__ == '__main__':
    Q.main(scenario)
