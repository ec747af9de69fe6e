#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""A neighbour that stalls vfrelay's vhost-user control plane.

librte_vhost serves every vhost-user socket of the process from one event thread,
reading each message with blocking calls. Relay B's front-end (vhostuser.py)
holds that thread; relay A's guest must still be served:

  half_message          a message header announcing 8 payload bytes, then nothing
  replies_never_read    50000 GET_FEATURES sent without reading a reply, until
                        vfrelay's replies fill the socket
  sigterm_while_stalled vfrelay gets SIGTERM while relay B's front-end holds a half
                        message: it must exit 0 within 5 s

For the first two, while relay B's front-end holds the thread: relay A's datapath
keeps its stream (it does not need the thread), relay A's guest is restarted and
must come back and carry traffic within 10 s (that needs the thread), and the
case is counted in /vfrelay/relays: the half message's connection is closed after
vfrelay's 2 s socket timeout (`connections_failed`: it never ran a device); the
front-end that does not read its replies is cut off once its socket has no room for
one (`messages_refused`). Then the stalling front-end goes away and relay B works
again.
"""

import signal
import socket
import time

import hotest as H
import vfrtest as V
import vhostuser as VU



def restart_guest_a(env):
    """Relay A's guest goes and comes back; its relay must serve it again."""
    env.stream.finish()
    connects = env.relay_info()['connects']
    env.stop_guest(signal.SIGKILL)
    env.start_guest(fwd='macswap')
    try:
        env.wait_relay_state('running', min_connects=connects + 1, timeout=10)
        env.wait_guest_forwarding(timeout=10)
        env.warm_up(env.port_a, timeout=10)
        ok = None
    except V.Fail as e:
        ok = e
    return ok


def hold_half_message(env):
    fe = env.b_frontend('staller')
    fe.get_features()
    fe.send(VU.Req.SET_VRING_NUM, b'', size=8, header_only=True)
    return fe


def hold_unread_replies(env):
    fe = env.b_frontend('staller')
    fe.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    fe.sock.settimeout(0.2)
    msg = VU.HDR.pack(VU.Req.GET_FEATURES, VU.VERSION, 0)
    sent = 0
    try:
        for _ in range(50000):
            fe.sock.sendall(msg)
            sent += 1
    except (socket.timeout, BlockingIOError):
        pass   # vfrelay stopped reading: it is blocked sending us replies
    except (BrokenPipeError, ConnectionResetError):
        pass   # vfrelay cut us off already
    V.log(f'  {sent} GET_FEATURES sent, none of the replies read')
    return fe


def case_stall(env, hold, counter):
    before = env.b_info()
    fe = hold(env)
    err = True
    try:
        time.sleep(0.5)
        env.stream.check('relay A\'s datapath while relay B holds the control plane')
        err = restart_guest_a(env)
        if err:
            raise V.Fail(f'relay A\'s guest was restarted while relay B\'s front-end held '
                         f'the vhost-user thread and did not come back: {err}')
        V.log('  ok: relay A\'s guest came back while relay B stalled')
    finally:
        fe.close()
        if env.stream.stop_req.is_set():
            # Relay A's guest may come back only now that the thread is free.
            try:
                if err:
                    env.wait_relay_state('running', timeout=15)
                    env.wait_guest_forwarding(timeout=15)
                    env.warm_up(env.port_a, timeout=15)
            finally:
                env.stream = H.Stream(env.port_a)
                env.stream.start()
    H.expect_relay_counted(env, before, counter)


def case_sigterm(env):
    fe = hold_half_message(env)
    try:
        time.sleep(0.3)
        env.stream.finish()
        env.stream = None
        t0 = time.monotonic()
        env.relay_proc.p.send_signal(signal.SIGTERM)
        try:
            rc = env.relay_proc.p.wait(5)
        except Exception:   # noqa: BLE001 - subprocess.TimeoutExpired
            rc = None
        dt = time.monotonic() - t0
    finally:
        fe.close()
    if rc is None:
        try:
            env.relay_proc.p.wait(10)   # the close above lets it go on
        except Exception:   # noqa: BLE001 - still stuck: the harness kills it
            pass
    late = env.relay_proc.p.returncode
    env.restart()   # the next checks want a running vfrelay
    if rc is None:
        raise V.Fail(f'vfrelay did not exit within 5 s of SIGTERM while relay B\'s front-end '
                     f'held a half message (exit {late} once the front-end closed, '
                     f'{time.monotonic() - t0:.1f} s)')
    V.check(rc == 0, f'vfrelay exits 0 on SIGTERM in {dt:.2f} s with relay B stalled')


def scenario():
    with H.HoEnv('hostal', b_mode='server', b_zero_copy='auto') as env:
        env.start()
        cases = H.Cases(env, 'hostile_stall')
        cases.run('half_message', lambda: case_stall(env, hold_half_message,
                                                          'connections_failed'))
        cases.run('replies_never_read', lambda: case_stall(env, hold_unread_replies,
                                                                'messages_refused'))
        cases.run('sigterm_while_stalled', lambda: case_sigterm(env))
        cases.finish()


if __name__ == '__main__':
    V.main(scenario)
