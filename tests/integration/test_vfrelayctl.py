#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors

"""vfrelayctl against fake_telemetry.py: what an operator or a script would read.

Usage: test_vfrelayctl.py PATH_TO_VFRELAYCTL
Checks the numbers that reach the output, --json round trips, top's rates, and the exit codes
and messages for a missing instance, an unknown relay and bad usage; log-level against the
daemon's protocol; metrics through the OpenMetrics and Prometheus text parsers of
python3-prometheus-client, value by value against what the fake served; list and
metrics --all over a runtime directory holding two instances, another DPDK program, a stale
socket and a stuck instance.
"""

import json
import os
import signal
import socket
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
                                       "log-level", "metrics", "list")), repr(out))
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
                 ["-n", "vm1", "log-level", "x", "debug", "extra"],
                 ["metrics"], ["-n", "vm1", "metrics", "--all"], ["-n", "vm1", "metrics", "x"],
                 ["-n", "vm1", "metrics", "--format", "json"], ["-n", "vm1", "metrics", "-j"],
                 ["-n", "vm1", "stats", "--all"], ["-n", "vm1", "relays", "--format", "prometheus"],
                 ["-n", "vm1", "list"], ["-s", "/x/y", "list"], ["list", "extra"]):
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
                                          "auto", "event,event", "0x000000017020a783"],
              repr(out))
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
        check("stats order", order == list(want["q0"]) and
              order[:4] == ["lcore", "mode", "rx_enabled", "tx_enabled"], repr(order))
        check("stats mode", line_fields(out, "mode") == ["mode", "zero-copy", "copy", "-"],
              repr(out))
        check("stats zc_state", line_fields(out, "zc_state") ==
              ["zc_state", "none", "guest_buf_small", "-"], repr(out))

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
    check("log-level no match", rc == 0 and out == "nosuch.*: log level = info\n",
          "rc=%d out=%r err=%r" % (rc, out, err))
    long = "x" * 130
    rc, out, err = run("-n", "vm1", "log-level", long, "info", env=env)
    check("log-level refused", rc == 1 and out == "" and err ==
          "vfrelayctl: instance 'vm1' refused log level 'info' for '%s'\n" % long,
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


def import_parsers():
    """prometheus_client's two text parsers (Debian: python3-prometheus-client)."""
    try:
        import prometheus_client.openmetrics.parser as om  # noqa: F401
    except ImportError:
        # A python3 other than Debian's (pyenv, venv) does not see dist-packages.
        sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import prometheus_client.openmetrics.parser as om
        import prometheus_client.parser as prom
    except ImportError as e:
        check("prometheus_client importable", False,
              "%s: install python3-prometheus-client (scripts/install-deps)" % e)
        return None, None
    return om, prom


# Mirrors of the CLI's two tables; the test fails if either drifts from docs/vfrelayctl.md.
GAUGES = {"lcore", "rx_enabled", "tx_enabled", "zc_shells_held", "queues", "mtu", "port_id",
          "vid", "tsc_hz"}
STATESETS = {("relay", "zero_copy"), ("queue", "mode"), ("queue", "zc_state")}


def expected_samples(instance, pid):
    """{(sample name, frozenset(labels)): value} the fake's data must become, and types."""
    want, types = {}, {}

    def add(level, key, labels, value, typ=None):
        typ = typ or ("gauge" if key in GAUGES else "counter")
        fam = "vfrelay_%s_%s" % (level, key)
        types[fam] = typ
        want[(fam + ("_total" if typ == "counter" else ""), frozenset(labels.items()))] = value

    def add_info(level, labels):
        fam = "vfrelay_%s" % level
        types[fam] = "info"
        want[(fam + "_info", frozenset(labels.items()))] = 1

    def add_object(level, base, obj, skip=()):
        info = dict(base)
        for key, v in obj.items():
            if key in skip:
                continue
            if isinstance(v, str):
                if (level, key) in STATESETS:
                    fam = "vfrelay_%s_%s" % (level, key)
                    types[fam] = "stateset"
                    want[(fam, frozenset(dict(base, **{fam: v}).items()))] = 1
                else:
                    info[key] = v
            else:
                add(level, key, base, v)
        if len(info) > len(base):
            add_info(level, info)

    inst = {"instance_name": instance}
    add("instance", "up", inst, 1, "gauge")
    add_info("instance", dict(inst, dpdk_version="DPDK 22.11.11", pid=str(pid)))
    add("instance", "tsc_hz", inst, fake_telemetry.LCORES["tsc_hz"])
    for relay, r in fake_telemetry.RELAYS.items():
        base = dict(inst, relay=relay)
        add("relay", "running", base, 1 if r["state"] == "running" else 0, "gauge")
        add_object("relay", base, r, skip=("state",))
        for q, qd in fake_telemetry.stats(relay, False, 0).items():
            if q in ("relay", "total"):
                continue
            add_object("queue", dict(base, queue=q[1:]), qd)
    for lc, ld in fake_telemetry.LCORES.items():
        if isinstance(ld, dict):
            add_object("lcore", dict(inst, lcore=lc), ld)
    return want, types


def samples_of(families, keep_zero_states=False):
    """{(sample name, frozenset(labels)): value}; state set zeros left out unless asked."""
    got = {}
    for fam in families:
        for smp in fam.samples:
            if fam.type == "stateset" and smp.value == 0 and not keep_zero_states:
                continue
            got[(smp.name, frozenset(smp.labels.items()))] = smp.value
    return got


def check_openmetrics(om, text, want, types, what):
    try:
        families = list(om.text_string_to_metric_families(text))
    except ValueError as e:
        check("%s parses" % what, False, "%s\n%s" % (e, text))
        return None
    check("%s parses" % what, True)
    got = samples_of(families)
    missing = {k: v for k, v in want.items() if got.get(k) != v}
    extra = {k: v for k, v in got.items() if k not in want}
    check("%s every value" % what, not missing, "missing or wrong: %r" % sorted(missing.items()))
    check("%s nothing else" % what, not extra, "unexpected: %r" % sorted(extra.items()))
    bytype = {f.name: f.type for f in families}
    check("%s types" % what, all(bytype.get(k) == v for k, v in types.items()),
          repr({k: (bytype.get(k), v) for k, v in types.items() if bytype.get(k) != v}))
    check("%s help" % what, all(f.documentation for f in families),
          repr([f.name for f in families if not f.documentation]))
    return families


def test_metrics(tmp):
    om, prom = import_parsers()
    if om is None:
        return
    env = dict(os.environ, RUNTIME_DIRECTORY=tmp)
    srv = Server(os.path.join(tmp, "dpdk", "vm1", "dpdk_telemetry.v2"))
    try:
        rc, out, err = run("-n", "vm1", "metrics", env=env)
        check("metrics rc", rc == 0 and err == "", "rc=%d err=%r" % (rc, err))
        check("metrics # EOF", out.endswith("\n# EOF\n"), repr(out[-40:]))
        want, types = expected_samples("vm1", srv.proc.pid)
        families = check_openmetrics(om, out, want, types, "metrics")
        if families:
            fam = {f.name: f for f in families}
            rxb = fam.get("vfrelay_queue_rx_bytes")
            check("metrics unit", rxb is not None and rxb.unit == "bytes" and
                  "# UNIT vfrelay_queue_rx_bytes bytes" in out, repr(rxb))
            # Every state of a state set is shown, the one in force at 1.
            zs = fam.get("vfrelay_queue_zc_state")
            states = {s.labels["vfrelay_queue_zc_state"]: s.value for s in zs.samples
                      if s.labels["relay"] == "net0" and s.labels["queue"] == "1"} if zs else {}
            check("metrics stateset", states.get("guest_buf_small") == 1 and
                  states.get("none") == 0 and "bad_ring" in states and
                  sum(states.values()) == 1, repr(states))
            zc = fam.get("vfrelay_relay_zero_copy")
            check("metrics zero_copy", zc is not None and sorted(
                (s.labels["relay"], s.labels["vfrelay_relay_zero_copy"], s.value)
                for s in zc.samples) == [("net0", "auto", 1), ("net0", "off", 0),
                                         ("net0", "on", 0), ("net1", "auto", 0),
                                         ("net1", "off", 1), ("net1", "on", 0)], repr(zc))
            check("metrics no total", 'queue="total"' not in out, "")
            check("metrics counter names", 'vfrelay_queue_rx_packets_total{instance_name="vm1",'
                  'relay="net0",queue="0"} 1\n' in out, "")

        # The old text format, for node_exporter's textfile collector.
        rc, out, err = run("-n", "vm1", "metrics", "--format", "prometheus", env=env)
        check("metrics prometheus rc", rc == 0 and err == "", "rc=%d err=%r" % (rc, err))
        check("metrics prometheus format", "# EOF" not in out and "# UNIT" not in out and
              all(ln.split()[3] in ("counter", "gauge") for ln in out.splitlines()
                  if ln.startswith("# TYPE ")), repr(out[:400]))
        try:
            families = list(prom.text_string_to_metric_families(out))
        except ValueError as e:
            families = []
            check("metrics prometheus parses", False, "%s\n%s" % (e, out))
        got = {}
        for f in families:
            for smp in f.samples:
                got[(smp.name, frozenset(smp.labels.items()))] = smp.value
        bad = {k: v for k, v in want.items() if got.get(k) != v}
        check("metrics prometheus values", families and not bad, repr(sorted(bad.items())))
        # The exposition reads the same as the OpenMetrics one, state set zeros included.
        om_all = samples_of(om.text_string_to_metric_families(
            run("-n", "vm1", "metrics", env=env)[1]), keep_zero_states=True)
        check("metrics prometheus same samples", got == om_all,
              repr(set(got) ^ set(om_all)))
    finally:
        srv.stop()

    # What DPDK lets through must neither break the exposition nor vanish unsaid.
    srv = Server(os.path.join(tmp, "dpdk", "vm1", "dpdk_telemetry.v2"), "--hostile")
    try:
        rc, out, err = run("-n", "vm1", "metrics", env=env)
        bad = fake_telemetry.hostile()
        check("metrics hostile rc", rc == 0, "rc=%d err=%r" % (rc, err))
        try:
            fams = {f.name: f for f in om.text_string_to_metric_families(out)}
        except ValueError as e:
            fams = {}
            check("metrics hostile parses", False, "%s\n%s" % (e, out))
        info = [s.labels for s in fams["vfrelay_relay"].samples] if "vfrelay_relay" in fams \
            else []
        check("metrics hostile label", [i["vhost"] for i in info if i["relay"] == "net0"] ==
              [bad["net0"]["vhost"]], repr(info))
        weird = fams.get("vfrelay_relay_rx_weird")
        check("metrics hostile key", weird is not None and weird.type == "counter" and
              [s.value for s in weird.samples] == [5], repr(weird))
        check("metrics hostile negative", "future_delta" not in out and
              "'future_delta' is negative" in err, repr(err))
        check("metrics hostile clash", "vfrelay_relay_info{" in out and
              "'info' would be named vfrelay_relay_info, which vfrelay_relay uses" in err, repr(err))
    finally:
        srv.stop()

    rc, out, err = run("-n", "vm1", "metrics", env=env)
    check("metrics not running", rc == 1 and out == "" and "instance 'vm1' is not running" in err,
          "rc=%d out=%r err=%r" % (rc, out, err))
    # An instance that exits mid-scrape leaves no half exposition behind.
    srv = Server(os.path.join(tmp, "dpdk", "vm1", "dpdk_telemetry.v2"), "--exit-after", "2")
    try:
        rc, out, err = run("-n", "vm1", "metrics", env=env)
        check("metrics gone", rc == 1 and out == "" and "instance 'vm1' went away" in err,
              "rc=%d out=%r err=%r" % (rc, out, err))
    finally:
        srv.stop()


def stale_socket(path):
    """A socket file nobody listens on, as a killed daemon leaves it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)
    s.close()


def test_host(tmp):
    """list and metrics --all over one runtime directory with everything a host has."""
    om, _ = import_parsers()
    run_dir = os.path.join(tmp, "host")
    env = dict(os.environ, RUNTIME_DIRECTORY=run_dir)
    dpdk = os.path.join(run_dir, "dpdk")

    rc, out, err = run("list", env=env)
    check("list no runtime dir", rc == 0 and out.split() == ["NAME", "PID", "RELAYS", "STATES"]
          and err == "", "rc=%d out=%r err=%r" % (rc, out, err))
    rc, out, err = run("metrics", "--all", env=env)
    check("metrics --all nothing", rc == 0 and out == "# EOF\n" and err == "",
          "rc=%d out=%r err=%r" % (rc, out, err))

    servers = {}
    try:
        for name in ("vm2", "vm1"):
            servers[name] = Server(os.path.join(dpdk, name, "dpdk_telemetry.v2"))
        servers["testpmd"] = Server(os.path.join(dpdk, "testpmd", "dpdk_telemetry.v2"),
                                    "--plain")
        stale_socket(os.path.join(dpdk, "dead", "dpdk_telemetry.v2"))
        os.makedirs(os.path.join(dpdk, "notelemetry"))
        os.makedirs(os.path.join(dpdk, "afile"))
        open(os.path.join(dpdk, "afile", "dpdk_telemetry.v2"), "w").close()
        pids = {n: servers[n].proc.pid for n in ("vm1", "vm2")}

        rc, out, err = run("list", env=env)
        rows = [ln.split() for ln in out.splitlines()]
        check("list", rc == 0 and err == "" and rows == [
            ["NAME", "PID", "RELAYS", "STATES"],
            ["vm1", str(pids["vm1"]), "2", "net0=running,net1=waiting"],
            ["vm2", str(pids["vm2"]), "2", "net0=running,net1=waiting"]],
            "rc=%d out=%r err=%r" % (rc, out, err))
        rc, out, err = run("list", "--json", env=env)
        got = json.loads(out) if rc == 0 else {}
        check("list --json", list(got) == ["vm1", "vm2"] and all(
            got[n] == {"pid": pids[n], "version": "DPDK 22.11.11",
                       "socket": os.path.join(dpdk, n, "dpdk_telemetry.v2"),
                       "relays": fake_telemetry.RELAYS} for n in got), out)

        if om is not None:
            rc, out, err = run("metrics", "--all", env=env)
            check("metrics --all rc", rc == 0 and err == "", "rc=%d err=%r" % (rc, err))
            want, types = expected_samples("vm1", pids["vm1"])
            want2, _ = expected_samples("vm2", pids["vm2"])
            want.update(want2)
            check_openmetrics(om, out, want, types, "metrics --all")

        # A stuck telemetry thread: said on stderr, exposed as up 0, the rest still there.
        servers["vm3"] = Server(os.path.join(dpdk, "vm3", "dpdk_telemetry.v2"),
                                "--stuck-after", "1")
        rc, out, err = run("metrics", "--all", env=env)
        check("metrics --all stuck", rc == 0 and err.startswith(
            "vfrelayctl: instance 'vm3' did not answer") and
            'vfrelay_instance_up{instance_name="vm3"} 0\n' in out and
            'vfrelay_instance_up{instance_name="vm1"} 1\n' in out and
            'instance_name="vm3",' not in out, "rc=%d err=%r" % (rc, err))
        if om is not None:
            try:
                list(om.text_string_to_metric_families(out))
                check("metrics --all stuck parses", True)
            except ValueError as e:
                check("metrics --all stuck parses", False, str(e))
    finally:
        for srv in servers.values():
            srv.stop()


def main():
    with tempfile.TemporaryDirectory(prefix="vfrelayctl-test-") as tmp:
        test_usage()
        test_not_running(tmp)
        test_static(tmp)
        test_old_daemon(tmp)
        test_metrics(tmp)
        test_host(tmp)
        test_top(tmp)
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
