#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""A second front-end on a server-mode socket while one is attached (issue 9 item 1,
reproduced there with two virtio_user guests: the first froze, the second took the
relay's traffic and, with zero copy, unbound the first).

Relay B is vhost_mode = server; FE1 (vhostuser.py, well-behaved) is attached and
carries traffic both ways; relay A carries its stream meanwhile (hotest.py).

  second_frontend_full_handshake   FE2 connects and does a complete, valid handshake
  second_frontend_mid_handshake    FE2 connects while FE1 has only asked for features
  second_frontend_idle             FE2 connects and sends nothing, holding the socket
  connection_flood                 16 connections at once, some sending GET_FEATURES

Required each time: FE2 gets nothing (its connection is closed, or no message of
its is served), relay B stays FE1's (same vid, connects +0), FE1's traffic goes on
intact with zero copy still bound, `connections_refused` of /vfrelay/relays
counts every refused connection, and once FE1 has left a new front-end is
accepted (the refusal is not sticky). Run with zero copy, then with relay B
switched to zero_copy = off.
"""

import contextlib
import time

import hotest as H
import vfrtest as V
import vhostuser as VU
import zctest as Z

REFUSED = 'connections_refused'


def refused_count(env):
    return env.b_info().get(REFUSED)


def attempt_handshake(fe):
    """A complete valid handshake on @fe; returns a description of what it got."""
    drv = VU.VirtioNet(fe)
    try:
        drv.start()
        return drv, 'the handshake completed'
    except VU.VhostError as e:
        drv.close()
        return None, f'refused ({e})'


def fe1_ok(env, drv, zc, what):
    info = env.b_info()
    V.check(info['state'] == 'running', f'{what}: relay B still running')
    env.b_prove(drv, 16, f'FE1 {what}')
    if zc:
        a = env.b_stats()
        env.b_rx(drv, env.b_frames(8))
        b = env.b_stats()
        V.check(b['mode'] == 'zero-copy' and b['rx_zc_packets'] > a['rx_zc_packets'],
                f'{what}: FE1 still zero copy (mode {b["mode"]}, rx_zc_packets '
                f'+{b["rx_zc_packets"] - a["rx_zc_packets"]})')


def takeover(env, zc, variant):
    before = env.b_info()
    n_ref = before.get(REFUSED)
    if variant == 'mid_handshake':
        fe1 = env.b_frontend('fe1')
        fe1.get_features()          # FE1 is attached but not yet a device
        drv1 = None
    else:
        drv1 = env.b_driver()
        fe1 = drv1.fe
        fe1_ok(env, drv1, zc, 'before FE2')
    vid = env.b_info()['vid']
    connects = env.b_info()['connects']
    extra = []
    notes = []
    try:
        if variant in ('full_handshake', 'mid_handshake'):
            fe2 = env.b_frontend('fe2')
            extra.append(fe2)
            drv2, got = attempt_handshake(fe2)
            if drv2 is not None:
                extra.append(drv2)
            V.log(f'  FE2: {got}')
            if drv2 is not None:
                # Go on: what FE1 suffers is the point of the regression test.
                notes.append('FE2\'s handshake completed: it took relay B over')
        elif variant == 'idle':
            fe2 = env.b_frontend('fe2')
            extra.append(fe2)
            time.sleep(0.3)
        else:   # flood
            for k in range(16):
                f = env.b_frontend(f'flood{k}')
                extra.append(f)
                if k % 2:
                    with contextlib.suppress(VU.VhostError):
                        f.sock.settimeout(0.5)
                        f.get_features()
        if variant == 'mid_handshake':
            drv1 = VU.VirtioNet(fe1)
            drv1.start()
            env.wait_relay_state('running', relay='net1')
            if zc:
                Z.wait_mode(env, 'zero-copy', relay='net1')
            vid = env.b_info()['vid']
            connects = env.b_info()['connects']
        info = env.b_info()
        if info['vid'] != vid or info['connects'] != connects:
            notes.append(f'relay B is no longer FE1\'s (vid {info["vid"]}, was {vid}; '
                         f'connects {info["connects"]}, was {connects})')
        try:
            fe1_ok(env, drv1, zc, f'while FE2 ({variant}) is connected')
        except V.Fail as e:
            notes.append(f'FE1 while FE2 is connected: {e}')
    finally:
        for x in extra:
            x.close()
    time.sleep(0.2)
    try:
        fe1_ok(env, drv1, zc, 'after FE2 left')
    except V.Fail as e:
        notes.append(f'FE1 after FE2 left: {e}')
    if notes:
        drv1.close()
        raise V.Fail('; '.join(notes))
    after = refused_count(env)
    if after is None:
        raise V.Fail(f'uncounted: /vfrelay/relays has no "{REFUSED}" for relay B')
    want = 16 if variant == 'flood' else 1
    V.check(after - (n_ref or 0) >= want, f'{REFUSED} counts the refused connection(s): '
            f'+{after - (n_ref or 0)}, expected +{want}')
    drv1.stop()
    drv1.close()
    env.wait_b_down()
    # Not sticky: the next front-end is accepted (Cases' clean cycle does it again).
    drv3 = env.b_driver()
    try:
        env.b_prove(drv3, 8, 'a new front-end after FE1 left')
    finally:
        drv3.close()


def scenario():
    with H.HoEnv('hotake', b_mode='server', b_zero_copy='auto') as env:
        env.start()
        cases = H.Cases(env, 'hostile_takeover')
        for mode in ('zc', 'copy'):
            if mode == 'copy':
                V.telemetry(env.name, '/vfrelay/zero_copy,net1,off')
                env.b_zero_copy = 'off'
            for variant in ('full_handshake', 'mid_handshake', 'idle', 'flood'):
                cases.run(f'second_frontend_{variant}_{mode}' if variant != 'flood'
                          else f'connection_flood_{mode}',
                          lambda v=variant, z=mode == 'zc': takeover(env, z, v))
        cases.finish()


if __name__ == '__main__':
    V.main(scenario)
