#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""The checking guest (tests/guest/vfr-guest) catches what it claims to catch.

The host is dpdk-testpmd forwarding (io) between an af_packet veth and net_vhost, a
copy path that corrupts nothing, so every problem below is one the test put there:

  good   N frames of mixed sizes into 1 KB guest buffers (mergeable buffers, frames
         over several segments): rx_ok == N, nothing else, exit 0.
  bad    the same, one frame carrying one wrong payload byte in its second segment:
         rx_bad == 1 and the byte named on stderr, exit 1.
  stale  N good frames, and the guest itself writes into one buffer after freeing it
         (--inject-stale-write, what a late DMA would do): stale_writes == 1, exit 1.

Usage: test_guest_checker.py [PATH-OF-vfr-guest]  (meson passes it)
"""

import json
import os
import struct
import sys
import time

import vfrtest as V

N = 300
ETH_P_VFR = 0x88b5
ETH_P_PROBE = 0x88b6   # not the test ethertype: the guest counts it as rx_other
MAGIC = 0x56465231
HDR_LEN = 14 + 16
GUEST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    'VFR_GUEST', os.path.join(V.BUILD_DIR, 'tests', 'guest', 'vfr-guest'))


def vfr_frame(dst, src, seq, flow, size):
    """A frame in vfr-guest's format (tests/guest/README.md)."""
    hdr = struct.pack('!IIHHI', MAGIC, seq, flow, 0, size)
    base = seq * 31 + flow
    payload = bytes((base + i * 7) & 0xff for i in range(size - HDR_LEN))
    return dst + src + struct.pack('!H', ETH_P_VFR) + hdr + payload


def start_guest(env, run, extra):
    report = os.path.join(env.tmp, f'{run}.json')
    if os.path.exists(env.sock):
        os.unlink(env.sock)
    cmd = [GUEST, '--lcores=0@0', '--no-huge', '-m', '256', '--no-pci',
           f'--file-prefix={env.guest_prefix}',
           f'--vdev=net_virtio_user0,path={env.sock},server=1,queues=1,mrg_rxbuf=1', '--',
           '--mode', 'rx,echo', '--report', report, '--duration', '60'] + extra
    V.log(f'==> {run}: vfr-guest {" ".join(cmd[cmd.index("--") + 1:])}')
    proc = V.Proc(f'guest-{run}', cmd, env.tmp)
    env.procs.append(proc)
    V.wait_until(lambda: os.path.exists(env.sock) or not proc.alive(), 20,
                 'vfr-guest to create its vhost-user socket')
    return proc, report


def start_host(env, run):
    cmd = [V.TESTPMD, '--no-huge', '-m', '256', '--no-pci', '-l', V.RELAY_LCORES,
           f'--file-prefix={env.name}', '--vdev', f'net_af_packet0,iface={env.veth.outer}',
           '--vdev', f'net_vhost0,iface={env.sock},client=1,queues=1', '--',
           '--no-mlockall', '--stats-period', '1', '--forward-mode=io', '--rxq=1', '--txq=1',
           '--total-num-mbufs=8192']
    proc = V.Proc(f'host-{run}', cmd, env.tmp)
    env.procs.append(proc)
    return proc


def warm_up(port, timeout=20):
    """Send probes (another ethertype) until the guest echoes one: the path is up."""
    probe = b'\xff' * 6 + port.mac + struct.pack('!H', ETH_P_PROBE) + b'\0' * 46
    deadline = time.monotonic() + timeout
    port.sock.settimeout(0.2)
    try:
        while time.monotonic() < deadline:
            port.sock.send(probe)
            try:
                data, addr = port.sock.recvfrom(65536)
            except OSError:
                continue
            if addr[2] != 4 and data[12:14] == probe[12:14]:   # 4: PACKET_OUTGOING
                break
        else:
            raise V.Fail(f'no probe came back through host and guest within {timeout}s')
    finally:
        port.sock.settimeout(None)
    time.sleep(0.2)
    port.drain()
    V.log('  ok: the guest echoes probes: the path is up')


def send(port, frames, window=32):
    """Send @frames keeping at most @window unechoed, so no ring on the way overflows."""
    sent = back = 0
    port.sock.settimeout(0.05)
    deadline = time.monotonic() + 30
    try:
        while sent < len(frames) and time.monotonic() < deadline:
            while sent < len(frames) and sent - back < window:
                port.sock.send(frames[sent])
                sent += 1
            try:
                data, addr = port.sock.recvfrom(65536)
            except OSError:
                back = sent   # a lost echo must not stall the sender
                continue
            if addr[2] != 4 and data[12:14] == struct.pack('!H', ETH_P_VFR):
                back += 1
    finally:
        port.sock.settimeout(None)
    if sent != len(frames):
        raise V.Fail(f'sent only {sent} of {len(frames)} frames')


def run_case(env, run, frames, guest_args, want_rc, want):
    guest, report = start_guest(env, run, guest_args)
    host = start_host(env, run)
    V.wait_until(lambda: 'ready:' in guest.log_text() or not guest.alive(), 30,
                 'vfr-guest to start its port')
    if not guest.alive():
        raise V.Fail(f'vfr-guest exited during start: {guest.tail(5)}')
    port = env.port()
    warm_up(port)
    send(port, frames)
    V.wait_until(lambda: not guest.alive(), 30, 'vfr-guest to reach --expect and exit')
    rc = guest.p.returncode
    with open(report) as f:
        rep = json.load(f)
    V.log(f'  report: {json.dumps(rep)}')
    host.stop()
    port.close()
    env.ports.remove(port)
    V.check_eq(rc, want_rc, f'{run}: vfr-guest exit code')
    for k, v in want.items():
        V.check_eq(rep[k], v, f'{run}: {k}')
    V.check(rep['rx_other'] >= 1, f'{run}: probes counted as rx_other')
    V.check(rep['link_up'] is True, f'{run}: link_up')
    V.check(rep['bufs_checked'] >= 4096, f'{run}: every pool buffer checked at least once')
    return guest, rep


def scenario():
    if not os.access(GUEST, os.X_OK):
        raise V.Fail(f'{GUEST} not found or not executable')
    with V.Env('gck') as env:
        dst = b'\x02\x00\x00\x00\x00\x01'
        src = b'\x02\x00\x00\x00\x00\x02'
        sizes = V.mixed_sizes(N, lo=60, hi=1514)
        good = [vfr_frame(dst, src, i, 7, sizes[i]) for i in range(N)]
        clean = {'rx_bad': 0, 'rx_oob': 0, 'rx_gap': 0, 'rx_dup': 0, 'rx_reorder': 0,
                 'bufs_not_returned': 0}

        # 1 KB data room: 896 bytes per buffer, so every frame over ~880 bytes arrives
        # in two segments and the check has to follow the chain.
        small = ['--mbuf-size', '1024']
        two_segs = sum(1 for s in sizes if s > 1024 - 128)
        run_case(env, 'good', good, small + ['--expect', str(N)], 0,
                 dict(clean, rx_ok=N, rx_bytes=sum(sizes), rx_multiseg=two_segs,
                      stale_writes=0))

        bad = list(good)
        k = N // 2
        bad[k] = vfr_frame(dst, src, k, 7, 1400)
        off = 1200   # frame offset, beyond the first 896-byte segment
        bad[k] = bad[k][:off] + bytes([bad[k][off] ^ 0x5a]) + bad[k][off + 1:]
        guest, _ = run_case(env, 'bad', bad, small + ['--expect', str(N - 1)], 1,
                            dict(clean, rx_ok=N - 1, rx_bad=1, stale_writes=0))
        want_line = (f'flow 7 seq {k} pkt_len 1400 segs 2: payload byte at frame offset '
                     f'{off} (payload offset {off - HDR_LEN}): expected '
                     f'0x{bad[k][off] ^ 0x5a:02x} got 0x{bad[k][off]:02x}')
        V.check(want_line in guest.log_text(), f'bad: stderr names the byte: "{want_line}"')

        run_case(env, 'stale', good, ['--expect', str(N), '--inject-stale-write'], 1,
                 dict(clean, rx_ok=N, stale_writes=1))


def main():
    V.require_root()
    V.log(f'=== {os.path.basename(sys.argv[0])}')
    try:
        scenario()
    except V.Fail as e:
        V.log(f'FAIL: {e}')
        sys.exit(1)
    V.log('PASS: test_guest_checker.py')
    sys.exit(0)


if __name__ == '__main__':
    main()
