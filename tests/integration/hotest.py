# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""Shared harness of the hostile-guest scenarios (test_hostile_*.py) and the churn
test, on top of vfrtest.

One vfrelay instance, two relays, one worker serving both:

    [netns vfrt-T]  port A <-veth-> net_af_packet0 -- relay net0 -- testpmd macswap
                                                        (vhost client; a normal guest)
    [netns vfrt-Tb] port B <-veth-> net_af_packet1 -- relay net1 -- vhostuser.py
                                                        (server or client; the attacker)

Relay A carries a continuous stream (Stream) for the whole scenario: every frame
must come back byte for byte, none lost, none twice. Relay B is driven by the
Python front-end. Each case runs through Cases.run(), which after the case checks
that vfrelay is alive with a clean log (no crash, CRIT, sanitizer report), that the
stream lost nothing meanwhile, and that a clean reconnect to relay B carries
traffic both ways. A case that kills vfrelay is recorded and the instance is
started again, so one crash does not hide the cases after it; the scenario fails
at the end listing every failed case, and prints `HOSTILE-SUMMARY` (cases tried,
failed, seconds) for docs/security.md.
"""

import contextlib
import json
import os
import signal
import socket
import struct
import threading
import time

import vfrtest as V
import vhostuser as VU
import zctest as Z

B_MAC = b'\x02\x00\x00\x00\x00\x0b'
A_MAC = Z.GUEST_MAC

# What must never appear in vfrelay's log: crashes, CRIT, sanitizer reports.
BAD_LOG = ('CRIT', 'shells still held', 'still inside an RX burst', 'PANIC', 'Segmentation',
           'AddressSanitizer', 'LeakSanitizer', 'runtime error:', 'Assertion', 'EAL: Error')

# Signals by number, for "vfrelay died with ..." messages.
SIGNAMES = {-s.value: s.name for s in signal.Signals}


# --------------------------------------------------------------------------
# Frames


def frame_size_of(frame):
    """Size field of a udp_frame (MAGIC, seq, size at 42..52), or None."""
    if V.frame_seq(frame) is None or len(frame) < 52:
        return None
    return struct.unpack('!H', frame[50:52])[0]


def frame_ok(frame, src, dst):
    """Is @frame exactly the udp_frame(src, dst, seq, size) its own header names?"""
    seq, size = V.frame_seq(frame), frame_size_of(frame)
    if seq is None or size != len(frame):
        return False
    return frame == V.udp_frame(src, dst, seq, size)


# --------------------------------------------------------------------------
# Relay A: a continuous stream that must lose nothing


class Stream(threading.Thread):
    """Frames of mixed sizes through relay A's guest (macswap) and back: at most
    @window in flight, at most @rate per second. A frame not back within @grace
    seconds is lost. check() raises Fail for anything lost, corrupted or duplicated
    since the last check."""

    def __init__(self, port, window=16, rate=1500, grace=2.5):
        super().__init__(daemon=True)
        self.port, self.window, self.rate, self.grace = port, window, rate, grace
        self.sizes = V.mixed_sizes(512)
        self.sent = 0
        self.back = 0
        self.outstanding = {}   # seq -> send time
        self.problems = []
        self.lock = threading.Lock()
        self.stop_req = threading.Event()
        self.error = None
        self.seen = set()

    def run(self):
        sock = self.port.sock
        sock.settimeout(0.02)
        t0 = time.monotonic()
        try:
            while not self.stop_req.is_set():
                now = time.monotonic()
                while (len(self.outstanding) < self.window and self.sent < (now - t0) * self.rate
                       and not self.stop_req.is_set()):
                    seq = self.sent
                    f = V.udp_frame(self.port.mac, A_MAC, seq, self.sizes[seq % len(self.sizes)])
                    with self.lock:
                        self.outstanding[seq] = time.monotonic()
                    sock.send(f)
                    self.sent += 1
                try:
                    data, addr = sock.recvfrom(65536)
                except socket.timeout:
                    continue
                if addr[2] == socket.PACKET_OUTGOING:
                    continue
                self._got(data)
        except Exception as e:  # noqa: BLE001 - the main thread reports it
            self.error = e

    def _got(self, data):
        seq = V.frame_seq(data)
        # Not ours: frames of other tests on this host, which an af_packet socket takes
        # from every interface in the moment between its creation and its bind
        # (DPDK's af_packet VF), echoed back to their own sender's MAC.
        if seq is None or data[0:6] != self.port.mac:
            return
        with self.lock:
            if seq in self.seen:
                self.problems.append(f'seq {seq} came back twice')
                return
            if seq not in self.outstanding:
                self.problems.append(f'seq {seq} came back but was never sent')
                return
            del self.outstanding[seq]
            self.seen.add(seq)
            self.back += 1
            if not frame_ok(V.macswap(data), self.port.mac, A_MAC):
                self.problems.append(f'seq {seq} came back corrupted ({len(data)} bytes)')

    def check(self, what='relay A'):
        """Raise Fail if anything went wrong since the last check."""
        if self.error:
            raise V.Fail(f'{what}: the stream failed: {self.error!r}')
        now = time.monotonic()
        with self.lock:
            lost = sorted(s for s, t in self.outstanding.items() if now - t > self.grace)
            for s in lost:
                del self.outstanding[s]
            probs, self.problems = self.problems, []
        if lost or probs:
            raise V.Fail(f'{what}: {len(lost)} frames lost (first seqs {lost[:8]}), '
                         f'{len(probs)} bad: {probs[:4]}')
        return self.back

    def finish(self):
        """Stop sending, wait for what is in flight, final check."""
        self.stop_req.set()
        self.join(5)
        deadline = time.monotonic() + self.grace
        self.port.sock.settimeout(0.05)
        while self.outstanding and time.monotonic() < deadline:
            with contextlib.suppress(socket.timeout):
                data, addr = self.port.sock.recvfrom(65536)
                if addr[2] != socket.PACKET_OUTGOING:
                    self._got(data)
        self.grace = 0
        self.check()
        V.log(f'  ok: relay A stream: {self.sent} frames sent, {self.back} back, none lost, '
              f'none corrupted or duplicated')
        return self.sent


# --------------------------------------------------------------------------
# The environment


class HoEnv(V.Env):
    """Two relays (see the module docstring). @b_mode is relay B's vhost_mode,
    @b_zero_copy its zero_copy; @b_opts more keys for relay B."""

    def __init__(self, tag, b_mode='server', b_zero_copy='auto', b_opts=None, relay_a=True):
        super().__init__(tag)
        self.veth_b = V.Veth(f'{self.name}b', f'{self.name}2', f'{self.name}3')
        self.b_mode = b_mode
        self.b_zero_copy = b_zero_copy
        self.b_opts = b_opts or {}
        self.relay_a = relay_a
        self.b_sock = None
        self.listener = None
        self.port_a = self.port_b = None
        self.stream = None
        self.b_seq = 0
        self.foreign_b = 0  # other tests' frames relay B's guest got (see b_rx)
        self.restarts = 0

    def __enter__(self):
        super().__enter__()
        self.b_sock = os.path.join(self.tmp, 'b.sock')
        self.veth_b.create()
        return self

    def __exit__(self, etype, exc, tb):
        if self.stream:
            self.stream.stop_req.set()
        if self.listener:
            self.listener.close()
        ret = super().__exit__(etype, exc, tb)
        self.veth_b.destroy()
        return ret

    def relays_cfg(self):
        out = []
        if self.relay_a:
            out.append(self.relay_config(zero_copy='auto'))
        b = {'name': 'net1', 'vf': f'net_af_packet1,iface={self.veth_b.outer}',
             'vhost': self.b_sock, 'vhost_mode': self.b_mode, 'queues': 1,
             'zero_copy': self.b_zero_copy}
        b.update(self.b_opts)
        out.append(b)
        return out

    def start(self):
        """Guest A, then vfrelay with both relays; A carries traffic; B waits."""
        if self.b_mode == 'client':
            self.listener = VU.Listener(self.b_sock)
        if self.relay_a:
            self.start_guest(fwd='macswap')
        self.start_relay_b_retrying()
        if self.relay_a:
            self.wait_relay_state('running')
            self.wait_guest_forwarding()
            if self.port_a is None:
                self.port_a = self.port()
            Z.wait_mode(self, 'zero-copy', state='none')
            self.warm_up(self.port_a)
        if self.port_b is None:
            self.port_b = V.NsPort(self.veth_b.ns, self.veth_b.inner)
            self.ports.append(self.port_b)
        if self.relay_a:
            self.stream = Stream(self.port_a)
            self.stream.start()

    def start_relay_b_retrying(self):
        """Start vfrelay. af_packet names its PACKET_FANOUT group (pid ^ ifindex) & 0xffff;
        another process's group of that id on another interface makes the probe fail
        (EINVAL): a new veth (new ifindex) gets past it."""
        for attempt in range(3):
            self.start_relay(self.relays_cfg())
            V.wait_until(lambda: (self.b_mode != 'server' or os.path.exists(self.b_sock))
                         and self.relay_info('net1') or not self.relay_proc.alive(), 20,
                         'vfrelay to set up relay B')
            if self.relay_proc.alive():
                return
            if 'PACKET_FANOUT' not in self.relay_proc.log_text() or attempt == 2:
                raise V.Fail(f'{self.relay_proc.name} exited with {self.relay_proc.p.returncode}')
            V.log('  af_packet fanout group id taken by another process: new veth, retrying')
            self.procs.remove(self.relay_proc)
            self._clean_runtime_dirs_relay()
            self.veth_b.create()
            if self.veth:
                self.veth.destroy()
                self.veth.create()
                if self.port_a is not None:
                    raise V.Fail('cannot recreate relay A\'s veth with its port open')

    def restart(self):
        """vfrelay died: start it again (guest A waits on its socket and reconnects)."""
        self.restarts += 1
        V.log(f'==> starting vfrelay again (restart #{self.restarts})')
        if self.stream:
            self.stream.stop_req.set()
            self.stream.join(5)
            self.stream = None
        if self.relay_proc.alive():
            self.relay_proc.stop(signal.SIGKILL)
        self._clean_runtime_dirs_relay()
        if self.b_mode == 'server':
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.b_sock)
        self.start_relay(self.relays_cfg())
        V.wait_until(lambda: (self.b_mode != 'server' or os.path.exists(self.b_sock))
                     and self.relay_info('net1') or not self.relay_proc.alive(), 20,
                     'vfrelay to set up relay B')
        if not self.relay_proc.alive():
            raise V.Fail(f'{self.relay_proc.name} exited with {self.relay_proc.p.returncode} '
                         f'when started again')
        if self.relay_a:
            self.wait_relay_state('running', timeout=30)
            self.warm_up(self.port_a)
            self.stream = Stream(self.port_a)
            self.stream.start()

    def _clean_runtime_dirs_relay(self):
        import shutil
        shutil.rmtree(os.path.join(V.DPDK_RUN_DIR, self.name), ignore_errors=True)

    # -- relay B ----------------------------------------------------------------

    def b_frontend(self, name='fe', timeout=10.0):
        """A new connection to relay B (we connect, or we accept vfrelay's)."""
        if self.b_mode == 'server':
            return VU.Frontend.connect(self.b_sock, timeout=timeout, name=name)
        return self.listener.accept(timeout=timeout, name=name)

    def b_driver(self, wait_zc=True, post=True, **kw):
        """A well-behaved device on relay B, up and (zero copy permitting) bound."""
        fe = self.b_frontend()
        drv = VU.VirtioNet(fe, **kw)
        drv.start(post=post)
        self.wait_relay_state('running', relay='net1', timeout=15)
        if wait_zc and self.b_zero_copy != 'off' and self.zc_mode_b() != 'off':
            Z.wait_mode(self, 'zero-copy', relay='net1', timeout=15)
        return drv

    def zc_mode_b(self):
        return self.relay_info('net1').get('zero_copy')

    def b_stats(self):
        return self.stats('net1')['q0']

    def b_info(self):
        return self.relay_info('net1')

    def b_frames(self, n, size=None):
        """@n fresh frames for relay B's guest (unique seqs for the whole scenario)."""
        sizes = V.mixed_sizes(max(n, 2), hi=1514)
        out = []
        for i in range(n):
            out.append(V.udp_frame(self.port_b.mac, B_MAC, self.b_seq, size or sizes[i]))
            self.b_seq += 1
        return out

    def b_rx(self, drv, frames, timeout=3.0, expect_all=True, problems=None):
        """Send @frames from port B; return the seqs @drv received intact. Frames the
        guest got that are not these (late ones of an earlier phase) must still be
        intact. Raises Fail on a corrupted or duplicated frame (unless @problems, a list,
        collects them), or (@expect_all) when one is missing."""
        want = {V.frame_seq(f) for f in frames}
        got = set()
        before = self.b_stats() if expect_all else None
        vf_before = self.b_info() if expect_all else None
        it_before = V.telemetry(self.name, '/vfrelay/lcores')['1']['iterations']

        def bad(msg):
            if problems is None:
                raise V.Fail(msg)
            problems.append(msg)
        for f in frames:
            self.port_b.sock.send(f)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not want <= got:
            for fr in drv.rx_poll():
                seq = V.frame_seq(fr)
                if seq is not None and fr[0:6] != B_MAC:
                    # Another test's frame, taken by the af_packet VF's socket before it
                    # was bound to its interface (see Stream._got): not relay B's.
                    self.foreign_b += 1
                    continue
                if seq is None:
                    bad(f'relay B: guest received {len(fr)} bytes that are no test frame')
                    continue
                if not frame_ok(fr, self.port_b.mac, B_MAC):
                    bad(f'relay B: guest received a corrupted frame (seq {seq}, {len(fr)} '
                        f'bytes)')
                    continue
                if seq in got:
                    bad(f'relay B: guest received seq {seq} twice')
                    continue
                if seq in want:
                    got.add(seq)
            time.sleep(0.001)
        if drv.stale_writes:
            raise V.Fail(f'relay B: {len(drv.stale_writes)} stale writes into buffers the guest '
                         f'owned, first (gpa, offset, byte): {drv.stale_writes[:3]}')
        if drv.bad_rx:
            raise V.Fail(f'relay B: host broke the RX protocol: {drv.bad_rx[:3]}')
        if drv.rings[VU.RX].unexpected and problems is None:
            raise V.Fail(f'relay B: used entries for ids the guest never posted: '
                         f'{drv.rings[VU.RX].unexpected[:3]}')
        if expect_all and got != want:
            st, info = self.b_stats(), self.b_info()
            seen = {k: st.get(k) - before.get(k, 0) if isinstance(st.get(k), int) else st.get(k)
                    for k in ('rx_packets', 'rx_drop_no_guest_buf', 'rx_drop_guest_down',
                              'rx_bad_desc', 'mode', 'zc_state', 'zc_shells_held', 'rx_enabled',
                              'tx_enabled', 'lcore')}
            seen.update({k: info.get(k) for k in ('state', 'vid')})
            seen.update({k: info[k] - vf_before.get(k, 0) for k in info
                         if k.startswith('vf_i') and isinstance(info[k], int)})
            seen['worker_iterations'] = (V.telemetry(self.name, '/vfrelay/lcores')['1']
                                         ['iterations'] - it_before)
            raise V.Fail(f'relay B: guest received {len(got)} of {len(want)} frames '
                         f'(buffers posted {drv.rings[VU.RX].outstanding()}, relay B q0 {seen})')
        return got

    def b_tx(self, drv, n=16, timeout=3.0):
        """@n frames from relay B's guest must reach port B intact."""
        frames = []
        for i, size in enumerate(V.mixed_sizes(n, hi=1514)):
            frames.append(V.udp_frame(B_MAC, self.port_b.mac, 0x40000000 + self.b_seq, size))
            self.b_seq += 1
        by_seq = {V.frame_seq(f): f for f in frames}
        want = set(by_seq)
        got = set()
        sock = self.port_b.sock
        sock.settimeout(0.02)
        deadline = time.monotonic() + timeout
        pending = list(frames)
        try:
            while time.monotonic() < deadline and got != want:
                while pending and drv.tx_send(pending[0]):
                    pending.pop(0)
                with contextlib.suppress(socket.timeout):
                    data, addr = sock.recvfrom(65536)
                    if addr[2] == socket.PACKET_OUTGOING:
                        continue
                    seq = V.frame_seq(data)
                    if seq in want:
                        if data != by_seq[seq]:
                            raise V.Fail(f'relay B: TX frame seq {seq} arrived corrupted')
                        got.add(seq)
                drv.tx_reclaim()
        finally:
            sock.settimeout(None)
        if got != want:
            q, info = self.b_stats(), self.b_info()
            raise V.Fail(f'relay B: {len(got)} of {n} frames the guest sent reached port B '
                         f'(guest ring: {drv.rings[VU.TX].outstanding()} not used; relay B '
                         f'tx_packets {q.get("tx_packets")}, tx_drop_vf_full '
                         f'{q.get("tx_drop_vf_full")}, tx_drop_bad_offload '
                         f'{q.get("tx_drop_bad_offload")}, vf_opackets {info.get("vf_opackets")}'
                         f', vf_oerrors {info.get("vf_oerrors")})')
        return n

    def b_prove(self, drv, n=16, what='relay B'):
        """Traffic flows both ways through relay B right now."""
        self.port_b.drain()
        self.b_rx(drv, self.b_frames(n))
        self.b_tx(drv, n)
        V.log(f'  ok: {what}: {n} frames each way, intact, no stale write')

    def b_clean_cycle(self, what='after the case'):
        """A fresh, well-behaved guest on relay B carries traffic; then it leaves."""
        drv = self.b_driver()
        try:
            self.b_prove(drv, what=f'relay B {what} (clean reconnect)')
            drv.stop()
            drv.check_all_poison()
            if drv.stale_writes:
                raise V.Fail(f'relay B: stale writes after GET_VRING_BASE: '
                             f'{drv.stale_writes[:3]}')
        finally:
            drv.close()
        self.wait_b_down()

    def wait_b_down(self, timeout=10):
        if self.b_info()['state'] != 'waiting':
            self.wait_relay_state('waiting', relay='net1', timeout=timeout)

    # -- process -------------------------------------------------------------

    def relay_pid(self):
        return self.relay_proc.pid

    def fd_count(self):
        return len(os.listdir(f'/proc/{self.relay_pid()}/fd'))

    def fd_targets(self):
        out = []
        d = f'/proc/{self.relay_pid()}/fd'
        for x in os.listdir(d):
            with contextlib.suppress(OSError):
                out.append(os.readlink(os.path.join(d, x)))
        return out

    def maps(self):
        with open(f'/proc/{self.relay_pid()}/maps') as f:
            return f.read().splitlines()

    def died(self):
        p = self.relay_proc.p
        if p.poll() is None:
            return None
        return SIGNAMES.get(p.returncode, f'exit code {p.returncode}')

    def log_problems(self, since=0):
        text = self.relay_proc.log_text()[since:]
        return [ln.strip() for ln in text.splitlines() if any(b in ln for b in BAD_LOG)]

    def log_len(self):
        return len(self.relay_proc.log_text())


def counter_delta(before, after, keys):
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys}


def expect_counted(before, after, name, at_least=1):
    """The case shows in the named counter (q0 of relay B)."""
    if name not in after:
        raise V.Fail(f'uncounted: relay B has no counter "{name}" (q0 keys: '
                     f'{sorted(k for k in after if k.startswith(("rx_", "tx_")))[:6]}...)')
    d = after[name] - before.get(name, 0)
    if d < at_least:
        moved = {k: after[k] - before.get(k, 0) for k in after
                 if isinstance(after[k], int) and after[k] != before.get(k, 0)
                 and k not in ('lcore',)}
        raise V.Fail(f'uncounted: {name} +{d}, expected >= +{at_least} (counters that moved: '
                     f'{moved})')
    V.log(f'  ok: counted: {name} +{d}')
    return d


def expect_relay_counted(env, before, name, at_least=1):
    """The case shows in relay B's per-relay counter @name (/vfrelay/relays)."""
    after = env.b_info()
    if name not in after:
        raise V.Fail(f'uncounted: /vfrelay/relays has no "{name}" for relay B')
    d = after[name] - before.get(name, 0)
    if d < at_least:
        raise V.Fail(f'uncounted: relays.net1.{name} +{d}, expected >= +{at_least}')
    V.log(f'  ok: counted: relays.net1.{name} +{d}')
    return d


# --------------------------------------------------------------------------
# Running cases


class Cases:
    """Runs named cases against a HoEnv; see the module docstring."""

    def __init__(self, env, scenario):
        self.env = env
        self.scenario = scenario
        self.results = []
        self.t0 = time.monotonic()

    def run(self, name, fn, clean_cycle=True):
        env = self.env
        only = os.environ.get('HOSTILE_CASES')
        if only and not any(w in name for w in only.split(',')):
            return
        V.log(f'### case {name}')
        t0 = time.monotonic()
        mark = env.log_len()
        err = None
        try:
            fn()
        except V.Fail as e:
            err = str(e)
        except Exception as e:  # noqa: BLE001 - a case's error is its failure, reported
            err = f'{type(e).__name__}: {e}'
        # Whatever happened: vfrelay alive, clean log, stream intact, B usable again.
        if err and not env.died():
            time.sleep(0.2)   # a crash may trail the error it caused a little
        if env.died():
            # The case's own error is then only the symptom (telemetry refused...).
            err = f'vfrelay died ({env.died()})' + (f' [{err}]' if err and 'vfrelay died'
                                                      not in err else '')
        try:
            dead = env.died()
            if dead:
                raise V.Fail(f'vfrelay died ({dead})') if not err else V.Fail(err)
            bad = env.log_problems(mark)
            if bad:
                raise V.Fail(f'vfrelay log: {bad[:3]}')
            if env.stream:
                env.stream.check('relay A during the case')
            if clean_cycle:
                env.wait_b_down()
                env.b_clean_cycle()
                if env.stream:
                    env.stream.check('relay A')
        except (V.Fail, VU.VhostError, OSError) as e:
            if str(e) != err:
                err = f'{err}; then {e}' if err else str(e)
        dt = time.monotonic() - t0
        self.results.append((name, err, dt))
        if err:
            V.log(f'  FAILED case {name} ({dt:.1f} s): {err}')
            time.sleep(0.3)   # a crash may trail the case a little
            if not env.died():
                # Leave relay B with nobody attached for the next case.
                with contextlib.suppress(Exception):
                    env.wait_b_down(timeout=5)
            if env.died() or not env.relay_proc.alive():
                env.dump_logs(15)
                env.restart()
        else:
            V.log(f'  case {name} passed ({dt:.1f} s)')

    def finish(self):
        env = self.env
        if env.stream:
            env.stream.finish()
        if env.relay_proc.alive():
            t0 = time.monotonic()
            rc = env.kill_relay(signal.SIGTERM)
            dt = time.monotonic() - t0
            if rc != 0 or dt > 5:
                self.results.append(('sigterm', f'vfrelay exit {rc} after {dt:.1f} s on SIGTERM '
                                     '(expected 0 within 5 s)', dt))
            else:
                V.log(f'  ok: vfrelay exits 0 on SIGTERM in {dt:.2f} s')
        failed = [(n, e) for n, e, _ in self.results if e]
        total = time.monotonic() - self.t0
        summary = {'scenario': self.scenario, 'cases': len(self.results),
                   'failed': [n for n, _ in failed], 'seconds': round(total, 1),
                   'restarts': env.restarts}
        V.log('HOSTILE-SUMMARY ' + json.dumps(summary))
        for n, e, dt in self.results:
            V.log(f'  {"FAIL" if e else "ok  "} {n:<34} {dt:5.1f} s' + (f'  {e}' if e else ''))
        if failed:
            raise V.Fail(f'{len(failed)} of {len(self.results)} cases failed: '
                         + '; '.join(f'{n}: {e}' for n, e in failed))
