#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors

"""vfrelayctl against fake_telemetry.py: what an operator or a script would read.

Usage: test_vfrelayctl.py PATH_TO_VFRELAYCTL
Checks the numbers that reach the output, --json round trips, top's rates, and the exit codes
and messages for a missing instance, an unknown relay and bad usage; log-level against the
daemon's protocol.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_telemetry  # noqa: E402  (canned data, compared against --json output)

CTL = os.path.abspath(sys.argv[1])
PASSED = []
FAILED = []


def check(name, cond, detail=""):
    (PASSED if cond else FAILED).append(name)
    if not cond:
        print("FAIL %s %s" % (name, detail))


def run(*args, env=None, timeout=20):
    p = subprocess.run([CTL, *args], capture_output=True, text=True, env=env, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Server:
    """fake_telemetry.py in the background, at a given socket path."""

    def __init__(self, path, *opts):
        self.path = path
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_telemetry.py"),
                                      path, *opts], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)


def line_fields(out, first):
    """Fields of the first output line whose first field is @first."""
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == first:
            return f
    return None


def test_usage():
    rc, out, err = run("--version")
    check("version", rc == 0 and out.startswith("vfrelayctl ") and len(out.split()) == 2,
          repr(out))
    rc, out, _ = run("--help")
    check("help", rc == 0 and "Usage:" in out and all(
        "\n  %s " % c in out for c in ("relays", "stats", "lcores", "top", "zero-copy",
                                       "log-level")), repr(out))
    check("help width", all(len(ln) <= 80 for ln in out.splitlines()), repr(out))
    for args in ([], ["-n", "vm1"], ["-n", "vm1", "frobnicate"], ["relays"],
                 ["-n", "vm1", "relays", "extra"], ["-n", "vm1", "stats", "a", "b"],
                 ["-n", "vm1", "--bogus", "relays"], ["-n", "vm1", "-x", "relays"],
                 ["-n", "vm1", "top", "--interval", "0"], ["-n", "vm1", "top", "-i", "abc"],
                 ["-n", "vm1", "top", "--count", "-1"], ["-n", "vm1", "stats", "--count", "2"],
                 ["-n", "vm1", "top", "--interval"], ["-n", "a/b", "relays"],
                 ["-n", "vm1", "zero-copy", "net0"], ["-n", "vm1", "zero-copy", "net0", "maybe"],
                 ["-n", "vm1", "zero-copy", "net0", "on", "extra"],
                 ["-n", "vm1", "log-level", "vfrelay.*"], ["-n", "vm1", "log-level", "x", "loud"],
                 ["-n", "vm1", "log-level", "a,b", "debug"], ["log-level"],
                 ["-n", "vm1", "log-level", "x", "debug", "extra"]):
        rc, out, err = run(*args)
        lines = err.splitlines()
        check("usage %s" % " ".join(args), rc == 2 and len(lines) == 2 and
              lines[0].startswith("vfrelayctl: ") and "--help" in lines[1] and out == "",
              "rc=%d err=%r" % (rc, err))


def test_not_running(tmp):
    path = os.path.join(tmp, "dpdk", "vm9", "dpdk_telemetry.v2")
    rc, out, err = run("-s", path, "relays")
    check("missing socket", rc == 1 and err ==
          "vfrelayctl: instance 'vm9' is not running (no telemetry socket at %s)\n" % path,
          "rc=%d err=%r" % (rc, err))
    # -n finds the socket the way DPDK's EAL places it (RUNTIME_DIRECTORY first).
    env = dict(os.environ, RUNTIME_DIRECTORY=tmp)
    rc, out, err = run("-n", "vm9", "stats", env=env)
    check("missing instance by name", rc == 1 and err ==
          "vfrelayctl: instance 'vm9' is not running (no telemetry socket at %s)\n" % path,
          "rc=%d err=%r" % (rc, err))
    # A stale socket file left by a dead daemon is the same thing to an operator.
    srv = Server(os.path.join(tmp, "dpdk", "stale", "dpdk_telemetry.v2"))
    srv.proc.kill()
    srv.proc.wait()
    rc, out, err = run("-s", srv.path, "lcores")
    check("stale socket", rc == 1 and "instance 'stale' is not running" in err,
          "rc=%d err=%r" % (rc, err))


def test_static(tmp):
    env = dict(os.environ, RUNTIME_DIRECTORY=tmp)
    srv = Server(os.path.join(tmp, "dpdk", "vm1", "dpdk_telemetry.v2"))
    try:
        rc, out, err = run("-n", "vm1", "relays", env=env)
        f = line_fields(out, "net0")
        check("relays", rc == 0 and f == ["net0", "running", "0000:3b:02.0",
                                          "/run/vfrelay/vm1-net0.sock", "client", "2", "1500",
                                          "auto", "0x000000017020a783"], repr(out))
        f = line_fields(out, "net1")
        check("relays waiting", f is not None and f[1] == "waiting" and f[5] == "1", repr(out))

        rc, out, err = run("-n", "vm1", "--json", "relays", env=env)
        check("relays --json", rc == 0 and json.loads(out) == fake_telemetry.RELAYS, out)

        # Rows are counters, columns q0 q1 total; every counter, in the daemon's order.
        want = fake_telemetry.stats("net0", False, 0)
        rc, out, err = run("-n", "vm1", "stats", "net0", env=env)
        check("stats rc", rc == 0, err)
        check("stats header", line_fields(out, "net0") == ["net0", "q0", "q1", "total"],
              repr(out))
        for name in fake_telemetry.COUNTERS + ["future_counter"]:
            f = line_fields(out, name)
            check("stats %s" % name, f == [name, str(want["q0"][name]), str(want["q1"][name]),
                                           str(want["total"][name])], repr(f))
        order = [ln.split()[0] for ln in out.splitlines()[1:]]
        check("stats order", order == ["lcore", "mode", "rx_enabled", "tx_enabled"] +
              fake_telemetry.COUNTERS + ["future_counter"], repr(order))
        check("stats mode", line_fields(out, "mode") == ["mode", "zero-copy", "copy", "-"],
              repr(out))

        rc, out, err = run("-n", "vm1", "stats", "net0", "--json", env=env)
        got = json.loads(out) if rc == 0 else None
        check("stats --json", got == want, out)
        check("stats --json order", got is not None and
              list(got["q0"]) == list(want["q0"]), out)

        rc, out, err = run("-n", "vm1", "stats", env=env)
        check("stats all", rc == 0 and line_fields(out, "net0") is not None and
              line_fields(out, "net1") == ["net1", "q0", "total"] and
              "10001" in out and "\n\nnet1" in out, repr(out))
        rc, out, err = run("-n", "vm1", "--json", "stats", env=env)
        check("stats all --json", rc == 0 and json.loads(out) == {
            "net0": want, "net1": fake_telemetry.stats("net1", False, 0)}, out)

        rc, out, err = run("-n", "vm1", "stats", "nosuch", env=env)
        check("unknown relay", rc == 1 and out == "" and
              err == "vfrelayctl: no relay 'nosuch' in instance 'vm1'\n",
              "rc=%d err=%r" % (rc, err))

        rc, out, err = run("-n", "vm1", "lcores", env=env)
        check("lcores tsc", rc == 0 and "tsc_hz 2400000000" in out, repr(out))
        # busy 300 / (300 + 700) = 30.0 %, 300 cycles / 100 packets = 3.
        check("lcores 1", line_fields(out, "1") == ["1", "2", "300", "700", "100", "50", "5",
                                                    "30.0", "3"], repr(out))
        check("lcores 2", line_fields(out, "2") == ["2", "1", "0", "1000", "0", "20", "20",
                                                    "0.0", "-"], repr(out))
        rc, out, err = run("-n", "vm1", "zero-copy", "net0", "off", env=env)
        check("zero-copy", rc == 0 and out == "net0: zero_copy = off\n", repr(out))
        rc, out, err = run("-n", "vm1", "zero-copy", "net1", "on", env=env)
        check("zero-copy refused", rc == 1 and out == "" and "refused" in err and
              "zero_copy = off" in err, "rc=%d err=%r" % (rc, err))

        rc, out, err = run("-n", "vm1", "lcores", "-j", env=env)
        check("lcores --json", rc == 0 and json.loads(out) == fake_telemetry.LCORES, out)
        log_level_checks(env)
    finally:
        srv.stop()


def log_level_checks(env):
    """log-level against /vfrelay/log_level of the fake (vm1, levels as served at start)."""
    levels = fake_telemetry.LOG_LEVELS
    rc, out, err = run("-n", "vm1", "log-level", env=env)
    rows = [ln.split() for ln in out.splitlines()]
    check("log-level", rc == 0 and rows == [["LOGTYPE", "LEVEL"]] +
          [[k, v] for k, v in levels.items()], repr(out))
    rc, out, err = run("-n", "vm1", "log-level", "--json", env=env)
    check("log-level --json", rc == 0 and json.loads(out) == levels, out)

    rc, out, err = run("-n", "vm1", "log-level", "vfrelay.*", "debug", env=env)
    check("log-level set", rc == 0 and out == "vfrelay.*: log level = debug\n" and err == "",
          "rc=%d out=%r err=%r" % (rc, out, err))
    rc, out, err = run("-n", "vm1", "log-level", "--json", env=env)
    got = json.loads(out) if rc == 0 else {}
    check("log-level applied", got == {k: "debug" if k.startswith("vfrelay.") else v
                                       for k, v in levels.items()}, out)
    rc, out, err = run("-n", "vm1", "-j", "log-level", "lib.eal", "err", env=env)
    check("log-level set --json", rc == 0 and
          json.loads(out) == {"pattern": "lib.eal", "level": "err"}, out)
    rc, out, err = run("-n", "vm1", "log-level", "nosuch.*", "info", env=env)
    check("log-level refused", rc == 1 and out == "" and err ==
          "vfrelayctl: instance 'vm1' refused log level 'info' for 'nosuch.*'\n",
          "rc=%d err=%r" % (rc, err))


def near(text, want, tol=0.15):
    try:
        return abs(float(text) - want) <= want * tol
    except (TypeError, ValueError):
        return False


def test_top(tmp):
    path = os.path.join(tmp, "tick", "dpdk_telemetry.v2")
    srv = Server(path, "--ticking")
    try:
        t = time.monotonic()
        rc, out, err = run("-s", path, "top", "--count", "2", "--interval", "0.4")
        el = time.monotonic() - t
        check("top rc", rc == 0 and err == "", "rc=%d err=%r" % (rc, err))
        check("top duration", 0.7 < el < 5, "%.2f s" % el)
        blocks = [b for b in out.split("\n\n") if b.startswith("RELAY")]
        check("top blocks", len(blocks) == 2 and out.count("vfrelay 'tick'") == 2, repr(out))
        rows = [ln.split() for ln in out.splitlines()
                if ln.startswith("net0") and ln.split()[1] == "q0"]
        # Fake: 1000 rx pps of 1500 B = 12 Mbps, 500 tx pps of 1000 B = 4 Mbps, 100 drops/s.
        check("top rows", len(rows) == 2, repr(out))
        for r in rows:
            check("top rates", len(r) == 8 and r[2] == "1" and near(r[3], 1000) and
                  near(r[4], 12.0) and near(r[5], 500) and near(r[6], 4.0) and
                  near(r[7], 100), repr(r))
        tot = [ln.split() for ln in out.splitlines() if ln.split()[:2] == ["net0", "total"]]
        check("top total", len(tot) == 2 and near(tot[0][3], 2000), repr(tot))
        lc = [ln.split() for ln in out.splitlines() if ln.split()[:2] == ["1", "2"]]
        check("top lcore", len(lc) == 2 and near(lc[0][2], 25.0) and near(lc[0][3], 1500),
              repr(lc))

        rc, out, err = run("-s", path, "--json", "top", "-c", "2", "-i", "0.3")
        lines = out.splitlines()
        check("top --json lines", rc == 0 and len(lines) == 2, repr(out))
        for ln in lines:
            obj = json.loads(ln)
            q0 = obj["relays"]["net0"]["q0"]
            check("top --json rates", near(q0["rx_pps"], 1000) and near(q0["tx_mbps"], 4.0) and
                  near(q0["drops_ps"], 100) and q0["lcore"] == 1 and
                  near(obj["lcores"]["1"]["busy_pct"], 25.0), repr(obj))

        # Ctrl-C is how an operator leaves top: clean exit, no error.
        p = subprocess.Popen([CTL, "-s", path, "top", "-i", "0.2"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(0.7)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=5)
        check("top SIGINT", p.returncode == 0 and err == "" and "RX_PPS" in out,
              "rc=%d err=%r" % (p.returncode, err))
    finally:
        srv.stop()

    # The daemon exits while top runs: say so and fail, do not hang or die of SIGPIPE.
    path = os.path.join(tmp, "dying", "dpdk_telemetry.v2")
    srv = Server(path, "--ticking", "--exit-after", "9")
    try:
        rc, out, err = run("-s", path, "top", "-c", "20", "-i", "0.1")
        check("top instance gone", rc == 1 and out.count("RX_PPS") >= 1 and
              "vfrelayctl: instance 'dying' went away" in err, "rc=%d err=%r" % (rc, err))
    finally:
        srv.stop()


def test_old_daemon(tmp):
    """A daemon from before /vfrelay/log_level: say so, do not call it a refusal."""
    path = os.path.join(tmp, "old", "dpdk_telemetry.v2")
    srv = Server(path, "--old")
    try:
        for args in ([], ["vfrelay.*", "debug"]):
            rc, out, err = run("-s", path, "log-level", *args)
            check("log-level old daemon %s" % args, rc == 1 and out == "" and
                  "instance 'old' does not serve /vfrelay/log_level" in err,
                  "rc=%d err=%r" % (rc, err))
    finally:
        srv.stop()


def main():
    with tempfile.TemporaryDirectory(prefix="vfrelayctl-test-") as tmp:
        test_usage()
        test_not_running(tmp)
        test_static(tmp)
        test_old_daemon(tmp)
        test_top(tmp)
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
