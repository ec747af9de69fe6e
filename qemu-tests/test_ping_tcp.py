#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Scenario 2, both directions through a real guest: ping each way, then a TCP
stream each way (busybox nc in the guest, a Python socket in the namespace),
1 MiB checked by MD5, on the copy path. The relay's counters must show the
traffic in both directions."""

import hashlib
import socket
import threading

import qemutest as Q
from qemutest import V

SIZE = 1 << 20


def recv_all(conn, n):
    h = hashlib.md5()
    got = 0
    while got < n:
        data = conn.recv(65536)
        if not data:
            break
        h.update(data)
        got += len(data)
    return got, h.hexdigest()


def scenario():
    with Q.QemuEnv('qpt') as env:
        g = env.boot()
        g.net_up()
        Q.ping(env, what='ping namespace -> guest')
        out = g.sh(f'ping -c 3 -W 2 {Q.HOST_IP}', timeout=30)
        V.check('3 packets received' in out, 'ping guest -> namespace: 3 received')

        V.log('==> TCP guest -> namespace, 1 MiB')
        g.sh(f'head -c {SIZE} /dev/urandom > /tmp/blob')
        want = g.sh('md5sum /tmp/blob').split()[0]
        with V.in_netns(env.veth.ns):
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((Q.HOST_IP, 5002))
        srv.listen(1)
        srv.settimeout(30)
        result = {}

        def server():
            try:
                conn, _ = srv.accept()
                conn.settimeout(30)
                result['r'] = recv_all(conn, SIZE)
                conn.close()
            except OSError as e:
                result['e'] = e
        t = threading.Thread(target=server)
        t.start()
        g.sh(f'nc {Q.HOST_IP} 5002 < /tmp/blob', timeout=60)
        t.join(40)
        srv.close()
        if 'e' in result:
            raise V.Fail(f'namespace TCP server: {result["e"]}')
        V.check_eq(result.get('r'), (SIZE, want), 'bytes and MD5 received in the namespace')

        V.log('==> TCP namespace -> guest, 1 MiB')
        data = bytes((i * 7 + (i >> 8)) & 0xff for i in range(SIZE))
        # nc's stdin must not end (the agent gives /dev/null): at EOF busybox nc
        # stops; it should stop when the namespace side closes.
        g.sh('sleep 600 | nc -l -p 5001 > /tmp/rx 2>/dev/null &')
        with V.in_netns(env.veth.ns):
            cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cli.settimeout(30)
        V.wait_until(lambda: cli.connect_ex((Q.GUEST_IP, 5001)) == 0, 10,
                     'the guest nc to listen')
        cli.sendall(data)
        cli.close()
        md5 = hashlib.md5(data).hexdigest()
        V.wait_until(lambda: g.sh('md5sum /tmp/rx').split()[0] == md5, 30,
                     'the guest to have received every byte')
        V.check(True, 'the guest received 1 MiB with the right MD5')

        st = env.stats()['total']
        V.log('  relay totals: ' + ', '.join(f'{k}={v}' for k, v in st.items() if v))
        V.check(st['rx_packets'] > 700 and st['tx_packets'] > 700,
                'rx_packets and tx_packets both count the streams')
        V.check_eq(st['rx_zc_packets'], 0, 'total.rx_zc_packets (zero_copy = off)')
        V.check_eq(st['rx_copy_packets'], st['rx_packets'], 'total.rx_copy_packets')
        env.check_relay_log_clean()


if __name__ == '__main__':
    Q.main(scenario)
