#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors

"""A stand-in for a vfrelay daemon's DPDK telemetry v2 socket.

It speaks the wire protocol of DPDK 22.11 lib/telemetry/telemetry.c so vfrelayctl can be tested
without DPDK, hugepages or a daemon: SOCK_SEQPACKET, one JSON hello per connection, then one
reply {"<command without params>": data} per command, and null for anything unknown.

Usage: fake_telemetry.py SOCKET [--ticking] [--exit-after N] [--plain | --old]
  --ticking       counters grow with time (1000 rx pps, 12 Mbps, ...) so rates are known
  --exit-after N  close the socket and every connection after N commands (daemon exit)
  --stuck-after N stop answering after N commands (a stuck telemetry thread)
  --plain         another DPDK program (testpmd): no /vfrelay/* command, all null
  --old           a vfrelay daemon from before /vfrelay/log_level
  --hostile       values an exporter must survive (see hostile())
Prints "ready" on stdout once it listens.
"""

import copy
import fnmatch
import json
import os
import re
import signal
import socket
import sys
import threading
import time

COUNTERS = [
    "rx_packets", "rx_bytes", "rx_zc_packets", "rx_copy_packets", "rx_copy_bytes",
    "rx_drop_no_guest_buf", "rx_drop_guest_down", "rx_csum_good", "tx_packets", "tx_bytes",
    "tx_drop_vf_full", "tx_drop_bad_offload", "tx_sw_csum", "guest_notifications",
]

RELAYS = {
    "net0": {
        "vf": "0000:3b:02.0", "driver": "net_iavf", "port_id": 0,
        "vhost": "/run/vfrelay/vm1-net0.sock", "vhost_mode": "client", "state": "running",
        "vid": 0, "features": "0x000000017020a783", "mtu": 1500, "queues": 2,
        "zero_copy": "auto", "wake": "event,event", "connects": 1, "disconnects": 0,
        "vf_ipackets": 5001, "vf_imissed": 12, "vf_ierrors": 2, "vf_rx_nombuf": 0,
        "vf_opackets": 4003, "vf_oerrors": 1,
    },
    "net1": {
        "vf": "0000:3b:02.1", "driver": "net_iavf", "port_id": 1,
        "vhost": "/run/vfrelay/vm1-net1.sock", "vhost_mode": "server", "state": "waiting",
        "vid": -1, "features": "0x0000000000000000", "mtu": 9000, "queues": 1,
        "zero_copy": "off", "wake": "backoff", "connects": 3, "disconnects": 3,
        "vf_ipackets": 11, "vf_imissed": 0, "vf_ierrors": 0, "vf_rx_nombuf": 5,
        "vf_opackets": 13, "vf_oerrors": 0,
    },
}

LCORES = {
    "tsc_hz": 2400000000,
    "1": {"busy_cycles": 300, "idle_cycles": 700, "packets": 100, "iterations": 50,
          "sleeps": 5, "queues": 2},
    "2": {"busy_cycles": 0, "idle_cycles": 1000, "packets": 0, "iterations": 20,
          "sleeps": 20, "queues": 1},
}

# What rte_log would list (name: level); /vfrelay/log_level,PATTERN,LEVEL changes it.
LOG_LEVELS = {"global": "debug", "lib.eal": "info", "lib.telemetry": "info",
              "vfrelay.fwd": "info", "vfrelay.vhost": "info", "vfrelay.qsync": "info",
              "vfrelay.hw": "notice"}
LEVEL_NAMES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]

# Per-second growth of each ticking counter; the test derives the expected rates from these.
RATES = {"rx_packets": 1000, "rx_bytes": 1500000, "tx_packets": 500, "tx_bytes": 500000,
         "rx_drop_no_guest_buf": 70, "tx_drop_vf_full": 30}


def hostile():
    """RELAYS with what DPDK lets through and an exporter must survive: quote, backslash and
    line feed in a string (values are free text), a '/' in a key (DPDK allows it), a
    negative number that is no gauge, and a key named like the info metric."""
    out = copy.deepcopy(RELAYS)
    out["net0"]["vhost"] = '/run/a"b\\c\nd.sock'
    out["net0"]["rx/weird"] = 5
    out["net0"]["future_delta"] = -3
    out["net1"]["info"] = 9
    return out


def static_queue(relay_idx, q):
    """Distinct, recognisable values: counter i of queue q of relay r is r*10000+q*100+i+1."""
    return {name: relay_idx * 10000 + q * 100 + i + 1 for i, name in enumerate(COUNTERS)}


def zc_queue(q):
    """What the daemon adds to each queue of a relay with zero-copy pools (net0 here)."""
    return {"zc_state": "none" if q == 0 else "guest_buf_small", "zc_shells_held": 7 + q}


# Zero-copy counters, per queue and summed in total like the daemon does.
ZC_COUNTERS = {"rx_bad_desc": 0, "rx_zc_fallback_guest_buf_small": 3}


def stats(name, ticking, t0):
    relay_idx = list(RELAYS).index(name)
    out = {"relay": name}
    total = {}
    for q in range(RELAYS[name]["queues"]):
        ctrs = static_queue(relay_idx, q)
        if ticking:
            elapsed = time.monotonic() - t0
            for k, per_s in RATES.items():
                ctrs[k] = 1000000 + int(per_s * elapsed)
        # A counter the CLI does not know yet: it must still be printed.
        ctrs["future_counter"] = 42 + q
        zc = {}
        if RELAYS[name]["zero_copy"] != "off":
            zc = zc_queue(q)
            ctrs.update(ZC_COUNTERS)
        out["q%d" % q] = {"lcore": q + 1, "mode": "zero-copy" if q == 0 else "copy",
                          "rx_enabled": 1, "tx_enabled": 1, **zc, **ctrs}
        for k, v in ctrs.items():
            total[k] = total.get(k, 0) + v
    out["total"] = total
    return out


def ticking_lcores(t0):
    out = copy.deepcopy(LCORES)
    elapsed = time.monotonic() - t0
    # Worker 1 is 25% busy and moves 1500 packets/s.
    out["1"]["busy_cycles"] += int(250000000 * elapsed)
    out["1"]["idle_cycles"] += int(750000000 * elapsed)
    out["1"]["packets"] += int(1500 * elapsed)
    return out


def log_level(param, levels):
    """/vfrelay/log_level: the levels; ,PATTERN,LEVEL sets every logtype matching the glob.
    DPDK 22.11 refuses '.' in a dict key, so logtype names travel with '/' for '.'."""
    if not param:
        return {k.replace(".", "/"): v for k, v in levels.items()}
    pattern, _, level = param.partition(",")
    # Refused like the daemon does (null): parameters over its 128-byte buffer, no pattern,
    # an unknown level. A pattern matching nothing is fine: rte_log keeps it for logtypes
    # registered later.
    if len(param) >= 128 or not pattern or level not in LEVEL_NAMES:
        return None
    for name in levels:
        if fnmatch.fnmatchcase(name, pattern):
            levels[name] = level
    return {"pattern": pattern, "level": level}


TEL_KEY = re.compile(r"[A-Za-z0-9_/]*")


def as_dpdk(v):
    """What DPDK 22.11's rte_tel_data lets through (telemetry_data.c): a dict key with any
    character outside A-Za-z0-9_/ is refused and silently missing, strings are cut at 127
    bytes. Every reply goes through this, so the fake cannot serve what a daemon cannot."""
    if isinstance(v, dict):
        return {k: as_dpdk(x) for k, x in v.items() if TEL_KEY.fullmatch(k)}
    if isinstance(v, list):
        return [as_dpdk(x) for x in v]
    if isinstance(v, str):
        return v.encode()[:127].decode(errors="ignore")
    return v


def reply(line, ticking, t0, flavour="vfrelay", levels=None):
    cmd, _, param = line.partition(",")
    data = None
    if flavour == "plain":
        if cmd == "/":
            data = ["/", "/info", "/help", "/ethdev/list"]
        return json.dumps({cmd: data}, separators=(",", ":"))
    if cmd == "/vfrelay/relays":
        data = RELAYS
    elif cmd == "/vfrelay/stats" and param in RELAYS:
        data = stats(param, ticking, t0)
    elif cmd == "/vfrelay/lcores":
        data = ticking_lcores(t0) if ticking else LCORES
    elif cmd == "/vfrelay/zero_copy":
        # Like the daemon: only relays started with zero copy (net0 here) can switch.
        relay, _, mode = param.partition(",")
        if relay == "net0" and mode in ("auto", "on", "off"):
            data = {"relay": relay, "zero_copy": mode}
    elif cmd == "/vfrelay/log_level" and flavour != "old":
        data = log_level(param, levels)
    elif cmd == "/":
        data = ["/", "/vfrelay/relays", "/vfrelay/stats", "/vfrelay/lcores",
                "/vfrelay/zero_copy"]
        if flavour != "old":
            data.append("/vfrelay/log_level")
    return json.dumps({cmd: as_dpdk(data)}, separators=(",", ":"))


def main():
    path = sys.argv[1]
    ticking = "--ticking" in sys.argv
    exit_after = stuck_after = None
    if "--exit-after" in sys.argv:
        exit_after = int(sys.argv[sys.argv.index("--exit-after") + 1])
    if "--stuck-after" in sys.argv:
        stuck_after = int(sys.argv[sys.argv.index("--stuck-after") + 1])
    flavour = "plain" if "--plain" in sys.argv else "old" if "--old" in sys.argv else "vfrelay"
    if "--hostile" in sys.argv:
        RELAYS.update(hostile())
    levels = dict(LOG_LEVELS)
    t0 = time.monotonic()
    served = [0]
    lock = threading.Lock()
    conns = []
    done = threading.Event()

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(10)

    def client(s):
        hello = {"version": "DPDK 22.11.11", "pid": os.getpid(), "max_output_len": 16384}
        s.send(json.dumps(hello).encode())
        while True:
            try:
                msg = s.recv(1024)
            except OSError:
                break
            if not msg:
                break
            with lock:
                served[0] += 1
                n = served[0]
            if exit_after is not None and n > exit_after:
                done.set()
                break
            if stuck_after is not None and n > stuck_after:
                continue
            with lock:
                out = reply(msg.decode(), ticking, t0, flavour, levels)
            s.send(out.encode())
        s.close()

    def accept_loop():
        while not done.is_set():
            try:
                s, _ = srv.accept()
            except OSError:
                break
            conns.append(s)
            threading.Thread(target=client, args=(s,), daemon=True).start()

    # SIGINT/SIGTERM stop the server the same way --exit-after does.
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=accept_loop, daemon=True).start()
    print("ready", flush=True)
    while not done.wait(0.1):
        pass
    # Like a daemon exiting: the socket file goes and every connection is cut.
    os.unlink(path)
    for s in conns:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


if __name__ == "__main__":
    main()
