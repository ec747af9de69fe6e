#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Readiness for a service manager (systemd Type=notify, or vfrelay-hook): with
NOTIFY_SOCKET set, vfrelay sends READY=1 (with its pid) once every relay's socket
is served, and STOPPING=1 on SIGTERM; a bad config sends nothing and exits 2."""

import os
import signal
import socket

import vfrtest as V


def recv_all(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(4096).decode()
    except socket.timeout:
        return ''


def scenario():
    with V.Env('ntfy') as env:
        path = os.path.join(env.tmp, 'notify.sock')
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        os.environ['NOTIFY_SOCKET'] = path
        try:
            env.start_guest()
            proc = env.start_relay([env.relay_config()])
            msg = recv_all(sock, 20)
            fields = dict(ln.split('=', 1) for ln in msg.splitlines() if '=' in ln)
            V.check_eq(fields.get('READY'), '1', 'READY=1 received')
            V.check_eq(fields.get('MAINPID'), str(proc.pid), 'MAINPID is vfrelay')
            V.check(os.path.exists(V.telemetry_path(env.name)),
                    'telemetry is up when READY=1 arrives')
            env.wait_relay_state('running')
            V.check_eq(env.kill_relay(signal.SIGTERM), 0, 'exit code after SIGTERM')
            V.check_eq(recv_all(sock, 10).strip(), 'STOPPING=1', 'STOPPING=1 received')

            bad = os.path.join(env.tmp, 'bad.ini')
            with open(bad, 'w') as f:
                f.write(V.config_text(env.name, [dict(env.relay_config(), queues=0)]))
            res = V.run([V.VFRELAY, '--config', bad], check_rc=False)
            V.check_eq(res.returncode, 2, 'a bad config exits 2')
            V.check_eq(recv_all(sock, 1), '', 'and notifies nothing')
        finally:
            del os.environ['NOTIFY_SOCKET']
            sock.close()


if __name__ == '__main__':
    V.main(scenario)
