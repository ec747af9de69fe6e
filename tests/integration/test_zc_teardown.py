#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Zero copy survives everything that takes guest memory or the ring away, under
continuous traffic (net_null copy=1 never stops "DMA"ing into guest buffers):

  a  the guest is killed (SIGKILL) and restarted, three times: the relay goes
     waiting -> running, zero copy comes back, the daemon never crashes and
     never reports shells still held by the VF at a quiesce;
  b  the guest stops its port (testpmd -i `port stop 0`: virtio_user tells the
     backend nothing, the guest just stops posting), changes an offload and
     starts it again, which makes virtio reset the device (ring disable,
     GET_VRING_BASE, then features, memory table and rings again): quiesce,
     re-bind, three times, traffic each time;
  c  zero copy switched at run time: /vfrelay/zero_copy,net0,off -> mode copy
     and rx_copy_bytes grows; auto -> zero-copy again and rx_zc_packets grows;
  d  SIGTERM to vfrelay under traffic: exit 0 within a few seconds.
A memory table re-sent on a running device is test_zc_memtable.py (it needs
hugepages in the guest, which that test reserves).
"""

import signal
import time

import vfrtest as V
import zctest as Z

SIZE = 1000
CYCLES = 3


def vf():
    return Z.null_vf(SIZE, copy=1)


def zc_flows(env, what, seconds=1.0):
    """Zero copy is bound and carrying traffic right now."""
    Z.wait_mode(env, 'zero-copy', state='none')
    a, b = Z.rates(env, seconds)
    grew = b['rx_zc_packets'] - a['rx_zc_packets']
    V.check(grew > 0, f'{what}: rx_zc_packets grows (+{grew} in {seconds:.0f} s)')
    V.check_eq(b['rx_copy_bytes'] - a['rx_copy_bytes'], 0, f'{what}: rx_copy_bytes delta')
    return b


def check_alive_and_clean(env):
    V.check(env.relay_proc.alive(), f'{env.relay_proc.name} still running')
    Z.check_relay_log_clean(env.relay_proc)


def case_guest_kill():
    V.log('### a: guest killed and restarted under traffic')
    with V.Env('zcta', net=False) as env:
        Z.start_guest(env, fwd='rxonly')
        env.start_relay([env.relay_config(vf=vf(), zero_copy='auto')])
        env.wait_relay_state('running')
        env.wait_guest_forwarding()
        zc_flows(env, 'first guest')
        for i in range(CYCLES):
            env.stop_guest(signal.SIGKILL)
            env.wait_relay_state('waiting', timeout=15)
            st = Z.qstats(env)
            V.check_eq(st['zc_shells_held'], 0, 'zc_shells_held with no guest')
            V.check_eq(st['mode'], 'copy', 'q0.mode with no guest')
            guest = Z.start_guest(env, fwd='rxonly')
            env.wait_relay_state('running', min_connects=i + 2, timeout=30)
            env.wait_guest_forwarding()
            zc_flows(env, f'guest #{i + 2}')
            Z.wait_guest_rx_grows(guest)
            V.check(True, f'guest #{i + 2} counts received packets')
        info = env.relay_info()
        V.check_eq((info['connects'], info['disconnects']), (CYCLES + 1, CYCLES),
                   'relays.net0 (connects, disconnects)')
        check_alive_and_clean(env)


def case_port_stop_start():
    V.log('### b: guest port stop / reconfigure / port start under traffic (testpmd -i)')
    with V.Env('zctb', net=False) as env:
        guest = Z.start_guest(env, fwd='rxonly', interactive=True)
        env.start_relay([env.relay_config(vf=vf(), zero_copy='auto')])
        env.wait_relay_state('running')
        V.wait_until(lambda: 'testpmd>' in guest.log_text() or not guest.alive(), 30,
                     'the testpmd prompt')
        zc_flows(env, 'before port stop')
        for i in range(CYCLES):
            offs = 'on' if i % 2 == 0 else 'off'
            quiesces = env.relay_proc.log_text().count('zero copy off')
            # virtio_user's dev_stop tells the backend nothing: the guest just stops
            # taking buffers. The ring fills and the relay stops asking the VF.
            guest.send('stop')
            guest.send('port stop 0')
            V.wait_until(lambda: 'Stopping ports...' in guest.log_text(), 10, 'port stop')
            time.sleep(0.5)
            a, b = Z.rates(env, 0.5)
            V.check_eq(b['rx_packets'] - a['rx_packets'], 0,
                       'rx_packets still while the guest port is stopped (ring full)')
            V.check_eq(b['rx_drop_no_guest_buf'], 0, 'rx_drop_no_guest_buf')
            V.check_eq(b['mode'], 'zero-copy', 'q0.mode with the port stopped')
            # A feature change makes virtio re-initialise the device at port start:
            # reset (ring disable, GET_VRING_BASE), features, memory table, rings.
            guest.send(f'port config 0 rx_offload udp_cksum {offs}')
            guest.send('port start 0')
            guest.send('start')
            env.wait_relay_state('running', min_connects=i + 2, timeout=15)
            V.wait_until(lambda: env.relay_proc.log_text().count('zero copy off') > quiesces,
                         10, 'the relay to log the quiesce')
            V.check(True, 'zero copy quiesced for the device reset')
            zc_flows(env, f'after port start #{i + 1} (udp_cksum {offs})')
            # Port statistics restart from 0 with the re-initialised queues.
            g1 = guest.port_rx_packets()
            time.sleep(0.5)
            g2 = guest.port_rx_packets()
            V.check(g2 > g1, f'guest RX-packets grows after restart #{i + 1} ({g1} -> {g2})')
        info = env.relay_info()
        V.check_eq((info['connects'], info['disconnects']), (CYCLES + 1, CYCLES),
                   'relays.net0 (connects, disconnects)')
        check_alive_and_clean(env)


def case_runtime_switch_and_sigterm():
    V.log('### c: zero copy off and on again at run time, under traffic')
    with V.Env('zctc', net=False) as env:
        Z.start_guest(env, fwd='rxonly')
        env.start_relay([env.relay_config(vf=vf(), zero_copy='auto')])
        env.wait_relay_state('running')
        env.wait_guest_forwarding()
        zc_flows(env, 'auto')
        for i in range(2):
            reply = V.telemetry(env.name, '/vfrelay/zero_copy,net0,off')
            V.check_eq(reply.get('zero_copy'), 'off', 'reply to zero_copy,net0,off')
            Z.wait_mode(env, 'copy', state='none')
            V.check_eq(env.relay_info()['zero_copy'], 'off', 'relays.net0.zero_copy')
            a, b = Z.rates(env, 1.0)
            V.check(b['rx_copy_bytes'] > a['rx_copy_bytes'],
                    f'off: rx_copy_bytes grows (+{b["rx_copy_bytes"] - a["rx_copy_bytes"]})')
            V.check_eq(b['rx_zc_packets'] - a['rx_zc_packets'], 0, 'off: rx_zc_packets delta')
            V.check_eq(b['zc_shells_held'], 0, 'off: zc_shells_held')
            reply = V.telemetry(env.name, '/vfrelay/zero_copy,net0,auto')
            V.check_eq(reply.get('zero_copy'), 'auto', 'reply to zero_copy,net0,auto')
            zc_flows(env, f'auto again #{i + 1}')
        V.log('==> bad zero_copy commands are refused')
        for bad in ('/vfrelay/zero_copy,net0,maybe', '/vfrelay/zero_copy,nosuch,off',
                    '/vfrelay/zero_copy,net0'):
            reply = V.telemetry(env.name, bad)
            V.check(reply is None or reply == {} or 'zero_copy' not in reply,
                    f'{bad} refused (reply {reply!r})')
        V.check_eq(env.relay_info()['zero_copy'], 'auto', 'relays.net0.zero_copy unchanged')
        check_alive_and_clean(env)

        V.log('### d: SIGTERM to vfrelay under zero-copy traffic')
        zc_flows(env, 'before SIGTERM')
        t0 = time.monotonic()
        rc = env.kill_relay(signal.SIGTERM)
        dt = time.monotonic() - t0
        V.check_eq(rc, 0, 'vfrelay exit code')
        V.check(dt < 5.0, f'vfrelay exited within 5 s ({dt:.2f} s)')
        Z.check_relay_log_clean(env.relay_proc)
        V.check(env.guest_proc.alive(), 'the guest outlives the relay')


def scenario():
    case_guest_kill()
    case_port_stop_start()
    case_runtime_switch_and_sigterm()


if __name__ == '__main__':
    V.main(scenario)
