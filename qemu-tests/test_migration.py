#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario 7: live migration. The source QEMU runs on vfrelay instance A (zero
copy); the destination QEMU (-incoming) is attached to vfrelay instance B, both on
the same VF interface (the veth stands in for the two hosts' VFs). While the guest
pings the namespace, QMP migrates it over a unix socket. During migration A must
leave zero copy (the VF's writes into guest memory cannot be dirty-logged):
rx_zc_fallback_live_migration is counted. On the destination the guest keeps its
state (same boot id, a file written before), its pings continue, and B carries a
full echo run with zero copy, every byte checked."""

import re
import time

import qemutest as Q
from qemutest import V

MTU = 1400
SIZES = [64] * 300 + [1400] * 300 + V.mixed_sizes(400, 60, MTU + 14)


def replies(g):
    return len(re.findall(r'bytes from', g.sh('cat /tmp/ping.log')))


def scenario():
    with Q.QemuEnv('qlm', mtu=MTU) as env:
        relay_a = env.relay_config(zc=True)
        src = env.boot('src', relay=relay_a)
        src.net_up(mtu=MTU)
        env.wait_zero_copy()
        port = env.port()
        Q.echo_roundtrip(env, src, port, SIZES)
        boot_id = src.sh('cat /proc/sys/kernel/random/boot_id').strip()
        src.sh('echo "written before migration" > /tmp/state')

        V.log('==> destination: QEMU -incoming and vfrelay instance B')
        mig = f'{env.tmp}/migrate.sock'
        dst_sock = f'{env.tmp}/dst-net0.sock'
        dst = env.guest('dst', vhost_sock=dst_sock, incoming=f'unix:{mig}')
        dst.start()
        name_b = env.name + 'b'
        with env.instance(name_b):
            env.start_relay([dict(relay_a, vhost=dst_sock)])
            relay_b = env.relay_proc
            V.wait_until(lambda: env.relays()['net0'], 20, 'instance B telemetry')

        V.log('==> guest pings every 50 ms; migrate over QMP')
        src.sh(f'ping -i 0.05 {Q.HOST_IP} > /tmp/ping.log 2>&1 &')
        V.wait_until(lambda: replies(src) >= 10, 20, '10 ping replies on the source')
        before = replies(src)
        qmp = src.qmp()
        qmp.cmd('migrate-set-parameters', **{'max-bandwidth': 4 << 30, 'downtime-limit': 500})
        t0 = time.monotonic()
        qmp.cmd('migrate', uri=f'unix:{mig}')
        saw_active_zc = []

        def done():
            st = qmp.cmd('query-migrate')
            if st.get('status') == 'active':
                with V.contextlib.suppress(Exception):
                    saw_active_zc.append(env.stats()['q0'].get('mode'))
            if st.get('status') in ('failed', 'cancelled'):
                raise V.Fail(f'migration {st.get("status")}: {st}')
            return st if st.get('status') == 'completed' else None
        st = V.wait_until(done, 120, 'migration to complete', interval=0.2)
        ram = st.get('ram', {})
        V.check(True, f'migration completed in {time.monotonic() - t0:.1f}s (total-time '
                f'{st.get("total-time")} ms, downtime {st.get("downtime")} ms, '
                f'{ram.get("transferred", 0) >> 20} MiB sent, '
                f'{ram.get("dirty-sync-count")} dirty syncs)')
        qmp.close()
        V.log(f'  source relay q0 mode while migration was active: {sorted(set(saw_active_zc))}')
        a_q0 = env.stats()['q0']
        V.log('  source relay q0: ' + ', '.join(
            f'{k}={v}' for k, v in a_q0.items() if k.startswith('rx_zc_fallback_') and v) +
            f', zc_state {a_q0.get("zc_state")}, mode {a_q0.get("mode")}')
        V.check(a_q0.get('rx_zc_fallback_live_migration', 0) >= 1,
                'instance A counted rx_zc_fallback_live_migration')

        V.log('==> the guest on the destination')
        with env.instance(name_b):
            env.relay_proc = relay_b
            env.wait_relay_state('running')
            env.wait_zero_copy()
        V.check_eq(dst.sh('cat /tmp/state').strip(), 'written before migration',
                   'guest file written before migration')
        V.check_eq(dst.sh('cat /proc/sys/kernel/random/boot_id').strip(), boot_id,
                   'guest boot_id (same guest, no reboot)')
        n0 = replies(dst)
        V.check(n0 >= before, f'ping log carried over ({n0} replies so far)')
        V.wait_until(lambda: replies(dst) >= n0 + 10, 30, 'pings to continue on the destination')
        V.check(True, 'pings continue on the destination')
        dst.sh('killall ping; true')
        src_status = src.qmp().cmd('query-status')
        V.check_eq(src_status.get('status'), 'postmigrate', 'source QEMU status')

        V.log(f'==> {len(SIZES)} frames through instance B')
        with env.instance(name_b):
            env.relay_proc = relay_b
            total, _ = Q.echo_roundtrip(env, dst, port, SIZES)
            env.wait_stats({'rx_zc_packets': len(SIZES), 'rx_copy_bytes': 0,
                            'rx_bytes': total, 'tx_packets': len(SIZES)}, key='q0')
            env.check_relay_log_clean(relay_b)
        env.check_relay_log_clean()


if __name__ == '__main__':
    Q.main(scenario)
