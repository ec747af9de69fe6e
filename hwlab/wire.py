# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Frames for the lab, and the two ways they reach the VF.

Frames are vfr-guest's (tests/guest/README.md): ethertype 0x88b5, magic, seq per
flow, flow, length, payload byte i = (seq*31 + i*7 + flow) & 0xff. vfr-guest checks
every byte; with `--mode echo` it sends each frame back with the MACs swapped and
the sender checks the echo byte for byte.

- PfPort (inside L1): AF_PACKET on the igb PF's netdev; the 82576's internal switch
  delivers frames addressed to the VF's MAC to the VF (and the VF's echoes back);
- HostWire (on the host): the other end of QEMU's `-netdev dgram` unix socket, one
  datagram per frame on the igb "wire".

`python3 wire.py send ...` runs a Stream in its own process (inside L1: the sender
must not share a GIL with the scenario) and prints one JSON line at the end.
"""

import argparse
import json
import os
import select
import signal
import socket
import struct
import sys
import time

ETH_P_VFR = 0x88b5
MAGIC = 0x56465231
HDR_LEN = 14 + 16
PACKET_OUTGOING = 4
# Payload byte i = (seq*31 + flow + 7i) & 0xff = 7 * (i + 183 * base) mod 256
# (7 * 183 = 1281 = 1 mod 256): every payload is one window of this table.
_PATTERN = bytes((i * 7) & 0xff for i in range(256 + 9100))


def mac_bytes(mac):
    return bytes.fromhex(mac.replace(':', ''))


def vfr_frame(dst, src, seq, flow, size):
    hdr = struct.pack('!IIHHI', MAGIC, seq, flow, 0, size)
    off = (183 * ((seq * 31 + flow) & 0xff)) & 0xff
    return dst + src + struct.pack('!H', ETH_P_VFR) + hdr + _PATTERN[off:off + size - HDR_LEN]


def mixed_sizes(lo, hi):
    """A deterministic cycle over lo..hi, each size once, both ends first."""
    span = hi - lo + 1
    sizes = [lo + (i * 7919) % span for i in range(span)]
    if lo not in sizes[:2]:
        sizes.remove(lo)
        sizes.insert(0, lo)
    if hi not in sizes[:2]:
        sizes.remove(hi)
        sizes.insert(1, hi)
    return sizes


def frame_flow_seq(frame):
    if len(frame) < HDR_LEN or frame[12:14] != b'\x88\xb5':
        return None
    magic, seq, flow = struct.unpack('!IIH', frame[14:24])
    return (flow, seq) if magic == MAGIC else None


class PfPort:
    """Raw AF_PACKET socket on an interface (the PF inside L1)."""

    def __init__(self, ifname):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_VFR))
        self.sock.bind((ifname, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)  # SO_SNDBUFFORCE
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
        self.mac = self.sock.getsockname()[4]

    def send(self, frame):
        self.sock.send(frame)

    def recv(self, timeout):
        # The socket stays blocking (a full send buffer waits); select bounds the wait.
        while select.select([self.sock], [], [], timeout)[0]:
            data, addr = self.sock.recvfrom(65536)
            if addr[2] != PACKET_OUTGOING:
                return data
            timeout = 0
        return None

    def close(self):
        self.sock.close()


class HostWire:
    """The host's end of QEMU's `-netdev dgram` (unix): we bind @ours, QEMU binds @theirs."""

    MAC = mac_bytes('52:54:00:77:ff:01')

    def __init__(self, ours, theirs):
        self.theirs = theirs
        self.mac = self.MAC
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(ours)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)

    def send(self, frame):
        try:
            self.sock.sendto(frame, self.theirs)
        except (FileNotFoundError, ConnectionRefusedError):
            pass  # QEMU has not bound its end yet (or is gone): a frame lost on the wire

    def recv(self, timeout):
        if select.select([self.sock], [], [], timeout)[0]:
            return self.sock.recv(65536)
        return None

    def close(self):
        self.sock.close()


class Stream:
    """@count frames of flow @flow to @dst at @rate pps, sizes cycling through @sizes.
    echo=True: at most @window frames not yet echoed, and every echo is checked."""

    def __init__(self, port, dst, flow, count, rate, sizes, echo=False, window=64):
        self.port, self.dst, self.flow = port, dst, flow
        self.count, self.rate, self.sizes = count, rate, sizes
        self.echo, self.window = echo, window
        self.sent = 0
        self.bytes = 0
        self.tail_bytes = 0      # bytes past the first KiB of each frame (igb's unit)
        self.over_unit = 0       # frames longer than 1024 bytes
        self.echoed = 0
        self.echo_bad = 0
        self.echo_dup = 0
        self.lost = 0            # echoes given up on (window reopened)
        self._lost_below = 0     # ... all of them for seqs below this
        self.problems = []
        self.stop_req = False
        self._seen = bytearray(count)

    def _expect(self, seq):
        f = vfr_frame(self.dst, self.port.mac, seq, self.flow,
                      self.sizes[seq % len(self.sizes)])
        return f[6:12] + f[0:6] + f[12:]

    def _take_echo(self, data):
        fs = frame_flow_seq(data)
        if fs is None or fs[0] != self.flow or fs[1] >= self.count:
            return
        seq = fs[1]
        if self._seen[seq]:
            self.echo_dup += 1
            return
        self._seen[seq] = 1
        self.echoed += 1
        if seq < self._lost_below and self.lost > 0:
            self.lost -= 1  # late, not lost: it counts against the window again
        if data != self._expect(seq):
            self.echo_bad += 1
            if len(self.problems) < 5:
                self.problems.append(f'flow {self.flow} seq {seq}: echo differs '
                                     f'(len {len(data)})')

    def run(self, linger=3.0):
        t0 = time.monotonic()
        last_echo = t0
        while not self.stop_req:
            now = time.monotonic()
            due = min(self.count, int((now - t0) * self.rate) + 1)
            while self.sent < due and (not self.echo or
                                       self._outstanding() < self.window):
                size = self.sizes[self.sent % len(self.sizes)]
                self.port.send(vfr_frame(self.dst, self.port.mac, self.sent, self.flow, size))
                self.sent += 1
                self.bytes += size
                if size > 1024:
                    self.over_unit += 1
                    self.tail_bytes += size - 1024
            if self.echo:
                data = self.port.recv(0.002)
                if data is not None:
                    self._take_echo(data)
                    last_echo = time.monotonic()
                elif self._outstanding() >= self.window and \
                        time.monotonic() - last_echo > 0.2:
                    # No echo for 200 ms with the window full: those frames are lost (a
                    # drop in the NIC, a guest being killed). Counted; sending goes on.
                    self.lost += self._outstanding()
                    self._lost_below = self.sent
                    last_echo = time.monotonic()
            else:
                time.sleep(max(0.0, min(0.002, (self.sent + 1) / self.rate - (now - t0))))
            if self.sent >= self.count:
                break
        end = time.monotonic() + (linger if self.echo else 0)
        while self.echo and self.echoed < self.sent and time.monotonic() < end:
            data = self.port.recv(0.05)
            if data is not None:
                self._take_echo(data)
        self.elapsed = time.monotonic() - t0
        return self.result()

    def _outstanding(self):
        return self.sent - self.echoed - self.lost

    def result(self):
        return {'flow': self.flow, 'sent': self.sent, 'bytes': self.bytes,
                'over_unit': self.over_unit, 'tail_bytes': self.tail_bytes,
                'echoed': self.echoed, 'echo_lost': self.lost, 'echo_bad': self.echo_bad,
                'echo_dup': self.echo_dup,
                'problems': self.problems, 'elapsed_s': round(getattr(self, 'elapsed', 0), 2)}


_STOP = []


def main():
    # First thing: a SIGTERM that comes while the stream is still being set up must not
    # kill the process without a report.
    signal.signal(signal.SIGTERM, lambda *_: _STOP.append(1))
    ap = argparse.ArgumentParser(description='send vfr-guest frames on an interface')
    ap.add_argument('cmd', choices=['send'])
    ap.add_argument('--iface', required=True)
    ap.add_argument('--dst', required=True)
    ap.add_argument('--flow', type=int, default=1)
    ap.add_argument('--count', type=int, required=True)
    ap.add_argument('--rate', type=float, default=2000)
    ap.add_argument('--sizes', default='60-1514', help='LO-HI (mixed) or a,b,c')
    ap.add_argument('--echo', action='store_true')
    ap.add_argument('--out', help='also write the JSON result there')
    a = ap.parse_args()
    if '-' in a.sizes:
        lo, hi = (int(x) for x in a.sizes.split('-'))
        sizes = mixed_sizes(lo, hi)
    else:
        sizes = [int(x) for x in a.sizes.split(',')]
    port = PfPort(a.iface)
    st = Stream(port, mac_bytes(a.dst), a.flow, a.count, a.rate, sizes, echo=a.echo)

    def stop(*_):
        st.stop_req = True  # SIGTERM: stop sending, collect the last echoes, report
    signal.signal(signal.SIGTERM, stop)
    st.stop_req = bool(_STOP)
    if a.out:
        open(a.out + '.started', 'w').close()  # the scenario waits for this
    res = st.run()
    line = json.dumps(res)
    if a.out:
        tmp = a.out + '.tmp'
        with open(tmp, 'w') as f:
            f.write(line + '\n')
        os.rename(tmp, a.out)
    print(line, flush=True)


if __name__ == '__main__':
    sys.exit(main())
