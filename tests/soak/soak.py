#!/usr/bin/env python3
"""The chaos soak (issue 20): the HA bed of tests/ha (a BIRD 2 router with BFD, two
contrail-lb nodes, backends in namespaces) under constant mixed load (load.py), with a
fault drawn at random every few seconds from a recorded seed, and invariants checked
all the time. Run as root:

    bash tests/soak/run.sh [--minutes N] [--seed S] [--report-dir DIR]

Faults (FAULTS below; docs/reliability.md explains each window): reload with a random
valid change, reload with an invalid file, backend kill / stall / slow / garbage /
surplus bytes, admin drain+enable, router restart, BFD loss for a second, a burst of
malformed requests, a burst of idle connections, the fd limit lowered with prlimit, a
SIGTERM and restart of one node.

Invariants: processes alive unless their own SIGTERM; every failed request inside the
window of a fault that can cause its kind of failure; no answer to the wrong request;
/metrics and the access log agree with what the clients saw per node and backend;
RSS and fds back to baseline after each quiet period; at the end both nodes announce the
VIP and the FIB is ECMP. Exit 0: all held; 1: some did not; 77: cannot run here.
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "ha"))

import testbed as tb  # noqa: E402 - the HA bed: namespaces, router, FIB watch, nodes
import yaml  # noqa: E402

HTTP_PORT, TLS_PORT, TCP_PORT, EXTRA_PORT = 8082, 8443, 9000, 8090
BACKENDS = ("b1", "b2", "b3", "b4")  # b4 comes and goes with reloads
STEADY = ("b1", "b2", "b3")  # never removed: their counters are compared at the end
TCP_BACKEND_PORT = 9001
BACKEND_NET = {"n1": "10.99.11.2", "n2": "10.99.12.2"}
CHECK = tb.CHECK  # 500 ms interval, 500 ms timeout, rise 2, fall 2
# How long a backend fault can still fail requests once lifted: the checks' fall x
# interval + timeout until the node stops using it, plus a margin for a loaded machine.
CHECK_SPAN = 2 * 0.5 + 0.5
MARGIN = 2.0
# The faults that can take a next hop out of the router's FIB (seed 34375798: a harmless
# fault's window once hid an unprovoked BFD flap).
ROUTE_FAULTS = {"router-restart", "bfd-loss", "node-restart", "machine-stall"}
QUIET = 3.0  # seconds without a fault before the leak sample
RECOVER_LIMIT = 30.0  # any fault: back to two next hops within this

# Which failures each class of fault can cause. `wrong-id` is in none.
NETWORK = {"refused", "reset", "timeout", "eof", "unreachable", "error", "tls-error",
           "bad-body", "bad-head"}
BACKEND = {"status-502", "status-503", "status-504", "eof", "reset", "timeout", "bad-body"}
LOCAL = NETWORK | {"status-502", "status-503", "status-504"}


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Fault:
    kind: str
    node: Optional[str]  # n1 / n2, None for the router and the bursts
    detail: str = ""
    start: float = 0.0
    end: float = 0.0
    tail: float = 0.0  # after `end`, the fault's effects may last this long
    allowed: frozenset = frozenset()  # failure kinds it can cause; empty: harmless
    notes: list[str] = field(default_factory=list)

    def covers(self, sent: float, done: float, result: str, node: str) -> bool:
        if result not in self.allowed:
            return False
        if node != "-" and self.node and node != self.node:
            return False
        return sent <= self.end + self.tail and done >= self.start - 0.05


@dataclass
class Record:
    flow: str
    rid: str
    sent: float
    done: float
    result: str
    backend: str  # n1-b2, or - when no backend answered

    @property
    def node(self) -> str:
        return self.backend.split("-")[0] if "-" in self.backend[1:] else "-"


# ---- processes: nodes and backends ---------------------------------------------------


def node_config(role: str, variant: dict, certs: Path) -> dict:
    net = BACKEND_NET[role]
    backends = [{"name": name, "address": f"{net}:{8000 + int(name[1])}",
                 "weight": variant["weights"].get(name, 1)}
                for name in BACKENDS if name in STEADY or variant["b4"]]
    timeouts = {"connect": variant["connect"], "server": variant["server"], "client": "30s",
                "keep_alive": "30s"}
    web = {"name": "web", "listen": [f"{tb.VIP}:{HTTP_PORT}"], "mode": "http",
           "balance": variant["balance"], "retries": 2, "timeouts": timeouts,
           "health_check": dict(CHECK), "backends": backends}
    services = [web,
                {**web, "name": "webtls", "listen": [f"{tb.VIP}:{TLS_PORT}"],
                 "tls": {"cert": str(certs / "server.pem"), "key": str(certs / "server.key")}},
                {"name": "tcp", "listen": [f"{tb.VIP}:{TCP_PORT}"], "mode": "tcp",
                 "timeouts": {"connect": "1s"},
                 "health_check": {**{k: v for k, v in CHECK.items()
                                     if k not in ("path", "expect_status")}, "type": "tcp"},
                 "backends": [{"name": "t1", "address": f"{net}:{TCP_BACKEND_PORT}"}]}]
    if variant["extra"]:
        services.append({"name": "extra", "listen": [f"{tb.VIP}:{EXTRA_PORT}"],
                         "health_check": dict(CHECK),
                         "backends": [{"name": "b1", "address": f"{net}:8001"}]})
    return {
        "global": {"workers": 2, "log_level": "info", "access_log": True, "grace": "5s"},
        "admin": {"listen": "127.0.0.1:9090"},
        "services": services,
        "bgp": {"router_id": tb.NODES[role], "local_as": tb.LB_AS, "hold_time": f"{tb.HOLD_TIME}s",
                "bfd": dict(tb.BFD),
                "peers": [{"address": tb.NODES[role][:-1] + "1", "remote_as": tb.ROUTER_AS}],
                "vips": [{"prefix": f"{tb.VIP}/32", "next_hop": "self",
                          "require": {"services": ["web"], "min_healthy_backends": 1}}]},
    }


BASE_VARIANT = {"weights": {}, "b4": True, "connect": "1s", "server": "5s",
                "balance": "roundrobin", "extra": False}


def random_variant(rng: random.Random) -> dict:
    return {"weights": {name: rng.choice([1, 1, 2, 3]) for name in BACKENDS},
            "b4": rng.random() < 0.6, "connect": rng.choice(["1s", "2s"]),
            "server": rng.choice(["5s", "6s"]),
            "balance": rng.choice(["roundrobin", "leastconn", "random2"]),
            "extra": rng.random() < 0.5}


class SoakNode(tb.Node):
    """The HA bed's node with the soak's services (http, TLS, tcp mode, maybe extra)."""

    def __init__(self, ns: tb.Namespaces, role: str, workdir: Path, binary: str,
                 certs: Path) -> None:
        super().__init__(ns, role, workdir, True, binary, {}, upgrade=False)
        self.certs = certs
        self.variant = dict(BASE_VARIANT)
        self.started_at = 0.0  # wall time of the last start: counters begin there
        self.start_mark = 0  # log offset of the last start
        self.expected_down = False
        self.write_config(self.variant)

    def write_config(self, variant: dict) -> None:
        self.variant = variant
        self.config_path.write_text(yaml.safe_dump(node_config(self.role, variant, self.certs),
                                                   sort_keys=False))

    def start(self) -> "SoakNode":
        self.started_at = time.time()
        self.start_mark = self.log_size()
        super().start()
        self.expected_down = False
        return self

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def admin(self, method: str, path: str) -> str:
        return self.ns.sh(self.role, "curl", "-sS", "-m", "5", "-X", method,
                          f"http://127.0.0.1:9090{path}", check=False)

    def metrics(self) -> str:
        return self.admin("GET", "/metrics")


class Backends:
    """clb-test-backend processes in the backend namespace: per node, b1-b4 (HTTP, at
    that node's backend address, named n1-b1 ... so an answer names its node) and t1
    (tcp echo)."""

    def __init__(self, ns: tb.Namespaces, binary: str, workdir: Path) -> None:
        self.ns = ns
        self.binary = binary
        self.workdir = workdir
        self.processes: dict[str, subprocess.Popen] = {}
        self.expected_down: set[str] = set()
        for role in BACKEND_NET:
            for name in (*BACKENDS, "t1"):
                self.start(f"{role}-{name}")

    def address(self, full: str) -> str:
        role, name = full.split("-")
        port = TCP_BACKEND_PORT if name == "t1" else 8000 + int(name[1])
        return f"{BACKEND_NET[role]}:{port}"

    def start(self, full: str) -> None:
        argv = [self.binary, "--listen", self.address(full), "--name", full]
        if full.endswith("t1"):
            argv.append("--tcp-echo")
        with open(self.workdir / f"backend-{full}.log", "ab") as err:
            process = subprocess.Popen(self.ns.exec_argv("bk", argv), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=err)
        deadline = time.monotonic() + 10
        line = b""
        while time.monotonic() < deadline:  # the port of a killed one may linger a moment
            line = process.stdout.readline()
            if line.startswith(b"ready") or process.poll() is not None:
                break
        if not line.startswith(b"ready"):
            process.kill()
            raise RuntimeError(f"backend {full} did not start: {line!r}")
        self.processes[full] = process
        self.expected_down.discard(full)

    def signal(self, full: str, sig: int) -> None:
        process = self.processes[full]
        if process.poll() is None:
            process.send_signal(sig)

    def kill(self, full: str) -> None:
        self.expected_down.add(full)
        self.signal(full, signal.SIGKILL)
        self.processes[full].wait()

    def control(self, full: str, action: str) -> str:
        return self.ns.sh("bk", "curl", "-sS", "-m", "5", "-X", "POST",
                          f"http://{self.address(full)}/admin/{action}", check=False)

    def dead(self) -> list[str]:
        return [name for name, p in self.processes.items()
                if p.poll() is not None and name not in self.expected_down]

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            process.wait()


def make_certs(directory: Path) -> None:
    directory.mkdir(exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=soak.test", "-keyout", str(directory / "server.key"),
                    "-out", str(directory / "server.pem")], check=True, capture_output=True)


# ---- sampling RSS and fds ------------------------------------------------------------


def rss_and_fds(pid: int) -> Optional[tuple[float, int]]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024.0
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, AttributeError):
        return None


class Sampler:
    """Every second: each node's RSS (MiB) and open fds, for the chart; and whether every
    process that should live does."""

    def __init__(self, soak: "Soak") -> None:
        self.soak = soak
        self.samples: list[tuple[float, str, int, float, int]] = []  # t, role, pid, rss, fds
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.stop.wait(1.0):
            for role, node in self.soak.nodes.items():
                if node.alive:
                    got = rss_and_fds(node.pid)
                    if got:
                        self.samples.append((time.time(), role, node.pid, *got))
                elif not node.expected_down:
                    code = node.process.poll() if node.process else None
                    self.soak.violation(f"contrail-lb {role} exited (code {code}) without a "
                                        "SIGTERM of ours", role)
                    node.expected_down = True  # reported once; the fault loop restarts it
            for name in self.soak.backends.dead():
                self.soak.violation(f"backend {name} died unasked")
                self.soak.backends.expected_down.add(name)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=3)


# ---- the soak ------------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace, ns: tb.Namespaces, workdir: Path,
                 clb: str, backend: str) -> None:
        self.args = args
        self.ns = ns
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.router = tb.RouterBird(ns, bfd=True)
        certs = workdir / "certs"
        make_certs(certs)
        self.nodes = {role: SoakNode(ns, role, workdir, clb, certs) for role in tb.NODES}
        self.backend_binary = backend
        self.backends: Optional[Backends] = None
        self.fib: Optional[tb.FibWatch] = None
        self.load: Optional[subprocess.Popen] = None
        self.stallwatch: Optional[subprocess.Popen] = None
        self.load_path = workdir / "load.log"
        self.sampler: Optional[Sampler] = None
        self.faults: list[Fault] = []
        self.violations: list[str] = []
        self.quiet_samples: dict[str, list[tuple[float, int, float, int]]] = {r: [] for r in tb.NODES}
        self.lock = threading.Lock()

    def violation(self, message: str, role: Optional[str] = None) -> None:
        with self.lock:
            self.violations.append(f"{time.strftime('%H:%M:%S')} {message}")
        log(f"VIOLATION: {message} (seed {self.args.seed})")
        if role:
            tail = [l for l in self.nodes[role].log().splitlines() if "access:" not in l]
            print("\n".join(tail[-30:]), flush=True)

    # -- bed
    def up(self) -> None:
        self.ns.create()
        self.fib = tb.FibWatch(self.ns, self.workdir / "fib.log")
        self.router.start(timeout=15)
        self.backends = Backends(self.ns, self.backend_binary, self.workdir)
        for node in self.nodes.values():
            node.start()
        if not self.fib.wait(tb.both, 30):
            raise RuntimeError(f"no ECMP route with both nodes after 30 s: {self.fib.now()}")
        self.load = subprocess.Popen(
            self.ns.exec_argv("c", [sys.executable, str(HERE / "load.py"), tb.VIP,
                                    "--http", str(HTTP_PORT), "--tls", str(TLS_PORT),
                                    "--tcp", str(TCP_PORT), "--scale", str(self.args.scale)]),
            stdin=subprocess.PIPE, stdout=open(self.load_path, "wb"), stderr=subprocess.STDOUT)
        self.sampler = Sampler(self)
        self.stallwatch = subprocess.Popen(
            [sys.executable, str(HERE / "stallwatch.py")], stdin=subprocess.PIPE,
            stdout=open(self.workdir / "stalls.log", "wb"))

    def down(self) -> None:
        tb.close_each((lambda: self.sampler and self.sampler.close(),
                       self.stop_load, self.stop_stallwatch,
                       lambda: [n.kill() for n in self.nodes.values()],
                       lambda: self.backends and self.backends.close(),
                       lambda: self.router.close(),
                       lambda: self.fib and self.fib.close()))
        self.ns.close()

    def stop_load(self) -> None:
        if self.load and self.load.poll() is None:
            self.load.stdin.close()
            try:
                self.load.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.load.kill()
                self.load.wait()

    def stop_stallwatch(self) -> None:
        if self.stallwatch and self.stallwatch.poll() is None:
            self.stallwatch.stdin.close()
            try:
                self.stallwatch.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.stallwatch.kill()
                self.stallwatch.wait()

    def stall_faults(self) -> list[Fault]:
        """The machine's stalls (stallwatch.py) as windows of the environment: a stall can
        fail requests in flight and, past BFD's 300 ms, drop a BGP session, so its window
        lasts until the FIB is ECMP again, plus the margin."""
        stalls = []
        path = self.workdir / "stalls.log"
        for line in (path.read_text().splitlines() if path.exists() else []):
            start, end = (float(x) for x in line.split())
            back = self.fib.first_after(end, tb.both)
            recovered = back - end if back is not None and back - end < RECOVER_LIMIT else 0.0
            stalls.append(Fault("machine-stall", None, f"{end - start:.2f} s", start=start,
                                end=end, tail=max(recovered, CHECK_SPAN) + MARGIN,
                                allowed=frozenset(LOCAL)))
        return stalls

    def check_route_changes(self, since: float) -> list[str]:
        """The times the FIB lost a next hop with neither a fault nor a machine stall open
        (a BFD detection expiring on a loaded machine, or worse). Listed in the report with
        their timeline; they explain no failure, so a request they broke fails the run."""
        with self.fib.lock:
            events = list(self.fib.events)
        unprovoked = []
        for at, hops in events:
            if at < since or tb.both(hops):
                continue
            if not any(f.kind in ROUTE_FAULTS and f.start - 0.5 <= at <= f.end + f.tail
                       for f in self.faults):
                unprovoked.append(f"{stamp(at)}: FIB next hops {sorted(hops)}")
                if len(unprovoked) <= 5:
                    log(f"route change with no fault open at {stamp(at)} (seed "
                        f"{self.args.seed}):\n{self.timeline(at)}")
        return unprovoked

    def check_watchdog(self) -> None:
        """A node's watchdog calling a worker loop stalled is a stall of contrail-lb's own
        unless the machine stalled then too."""
        for role, node in self.nodes.items():
            for line in node.log().splitlines():
                if "loop stalled" not in line or "access:" in line:
                    continue
                found = re.match(r"\[([^\]]+)\]", line)
                at = tb.local_time(found.group(1)) if found else 0.0
                if not any(f.kind == "machine-stall" and f.start - 3 <= at <= f.end + f.tail
                           for f in self.faults):
                    self.violation(f"{role}: {line.strip()} (no machine stall then)")

    def records(self) -> list[Record]:
        out = []
        for line in self.load_path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 6:
                try:
                    out.append(Record(parts[0], parts[1], float(parts[2]), float(parts[3]),
                                      parts[4], parts[5]))
                except ValueError:
                    pass
        return out

    def recovered(self) -> bool:
        """Both nodes up and announcing; restarts whatever a violation left down."""
        for role, node in self.nodes.items():
            if not node.alive:
                node.start()
        return self.fib.wait(tb.both, RECOVER_LIMIT)

    # -- the run
    def run(self, minutes: float) -> None:
        log(f"seed {self.args.seed}: load for {minutes:g} min, a fault every few seconds")
        time.sleep(5)  # warm-up: pools fill, checks settle
        self.run_started = time.time()
        self.quiet_sample()
        ends_at = time.monotonic() + minutes * 60
        kinds = list(FAULTS)
        while time.monotonic() < ends_at:
            kind = self.rng.choice(kinds)
            fault = FAULTS[kind](self, self.rng)
            self.faults.append(fault)
            log(f"fault {len(self.faults)}: {kind} {fault.node or ''} {fault.detail}".rstrip())
            wait_until = fault.end + fault.tail
            time.sleep(max(0.0, wait_until - time.time()))
            if not self.recovered():
                self.violation(f"not back to two next hops {RECOVER_LIMIT:.0f} s after "
                               f"{kind} (FIB {sorted(self.fib.now())})")
            time.sleep(QUIET)
            self.quiet_sample()

    def quiet_sample(self) -> None:
        """RSS and fds of each node after a quiet period, against its baseline (the first
        three quiet samples of that process); over the margin, sampled again for up to
        5 s before it counts as a leak."""
        for role, node in self.nodes.items():
            if not node.alive:
                continue
            deadline = time.monotonic() + 5
            while True:
                got = rss_and_fds(node.pid)
                if got is None:
                    break
                mine = [s for s in self.quiet_samples[role] if s[1] == node.pid]
                if len(mine) < 3:
                    self.quiet_samples[role].append((time.time(), node.pid, *got))
                    break
                base_rss = max(s[2] for s in mine[:3])
                base_fds = max(s[3] for s in mine[:3])
                over_rss = got[0] > base_rss + self.args.rss_margin
                over_fds = got[1] > base_fds + self.args.fd_margin
                if not (over_rss or over_fds):
                    self.quiet_samples[role].append((time.time(), node.pid, *got))
                    break
                if time.monotonic() > deadline:
                    self.quiet_samples[role].append((time.time(), node.pid, *got))
                    self.violation(f"{role} not back to its baseline 5 s after a quiet period: "
                                   f"RSS {got[0]:.1f} MiB (baseline {base_rss:.1f} + "
                                   f"{self.args.rss_margin}), fds {got[1]} (baseline "
                                   f"{base_fds} + {self.args.fd_margin})", role)
                    break
                time.sleep(0.5)

    # -- the end
    def finish(self) -> dict:
        self.stop_load()
        self.stop_stallwatch()
        time.sleep(1.0)
        results: dict = {}
        stalls = self.stall_faults()
        results["stalls"] = (len(stalls), sum(f.end - f.start for f in stalls))
        self.faults = sorted(self.faults + stalls, key=lambda f: f.start)
        results["unprovoked"] = self.check_route_changes(getattr(self, "run_started", 0.0))
        self.check_watchdog()
        if not tb.both(self.fib.now()):
            self.violation(f"at the end the FIB is not ECMP over both nodes: {sorted(self.fib.now())}")
        for role, node in self.nodes.items():
            text = node.metrics()
            if not re.search(r'contrail_lb_vip_announced\{[^}]*\} 1\b', text):
                self.violation(f"at the end {role} does not announce the VIP")
        records = self.records()
        results["counters"] = self.check_counters(records)
        results["failures"] = self.check_failures(records)
        results["records"] = len(records)
        results["flows"] = {}
        for r in records:
            results["flows"].setdefault(r.flow, [0, 0, 0])
            results["flows"][r.flow][{"ok": 0, "retried": 2}.get(r.result, 1)] += 1
        results["p99_outside_faults"] = self.p99_outside(records)
        return results

    def check_counters(self, records: list[Record]) -> list[str]:
        """Per node and steady backend: 200s in /metrics and in the access log (since the
        node's last start) against the answers the clients got from it. A request the
        client gave up on (or lost with its connection) may still have been answered:
        those failures are the margin, one way only."""
        lines = []
        for role, node in self.nodes.items():
            metrics = node.metrics()
            log_text = node.log(node.start_mark)
            since = node.started_at
            unanswered = sum(1 for r in records if r.result not in ("ok", "retried")
                             and r.flow != "tcp" and r.done >= since)
            for name in STEADY:
                seen = sum(1 for r in records if r.result == "ok" and r.node == role
                           and r.done >= since and r.backend == f"{role}-{name}")
                counted = sum(int(float(v)) for v in re.findall(
                    rf'contrail_lb_requests_total\{{service="(?:web|webtls)",backend="{name}",'
                    rf'code="200"\}} (\S+)', metrics))
                logged = len(re.findall(rf"access: \S+ (?:web|webtls) {name} \"[^\"]*\" 200 \S+ \S+ completed ",
                                        log_text))
                lines.append(f"{role} {name}: clients {seen}, /metrics {counted}, "
                             f"access log {logged}")
                for what, value in (("/metrics", counted), ("access log", logged)):
                    if not (seen <= value <= seen + unanswered):
                        self.violation(f"{role} {name}: {what} counts {value} answers, the "
                                       f"clients saw {seen} (margin +{unanswered})")
        return lines

    def check_failures(self, records: list[Record]) -> dict:
        failed = [r for r in records if r.result not in ("ok", "retried")]
        by_cause: dict[str, int] = {}
        for r in records:
            if r.result == "retried":  # not a failure: listed by the window it fell in
                fault = next((f for f in self.faults
                              if r.sent <= f.end + f.tail and r.done >= f.start - 0.05), None)
                key = f"(resent) {fault.kind if fault else 'outside faults'}"
                by_cause[key] = by_cause.get(key, 0) + 1
        unexplained = []
        for r in failed:
            if r.result == "wrong-id":
                self.violation(f"{r.flow} {r.rid}: an answer to another request")
                by_cause["wrong-id"] = by_cause.get("wrong-id", 0) + 1
                continue
            fault = next((f for f in self.faults if f.covers(r.sent, r.done, r.result, r.node)),
                         None)
            if fault is None:
                unexplained.append(r)
                by_cause[f"unexplained {r.result}"] = by_cause.get(f"unexplained {r.result}", 0) + 1
            else:
                key = f"{fault.kind}: {r.result}"
                by_cause[key] = by_cause.get(key, 0) + 1
        for r in unexplained[:10]:
            self.violation(f"{r.flow} {r.rid} failed ({r.result}) outside any fault window that "
                           f"can cause it: sent {stamp(r.sent)}, done {stamp(r.done)}\n"
                           + self.timeline(r.sent))
        if len(unexplained) > 10:
            self.violation(f"... and {len(unexplained) - 10} more failures outside fault windows")
        return by_cause

    def timeline(self, at: float) -> str:
        lines = [f"    seed {self.args.seed}; faults within 20 s:"]
        for f in self.faults:
            if f.start - 20 <= at <= f.end + f.tail + 20:
                lines.append(f"    {stamp(f.start)} - {stamp(f.end)} (+{f.tail:.1f} s) {f.kind} "
                             f"{f.node or ''} {f.detail}")
        for role, node in self.nodes.items():
            near = []
            for line in node.log().splitlines():
                found = re.match(r"\[([^\]]+)\]", line)
                if found and "access:" not in line:
                    try:
                        t = tb.local_time(found.group(1))
                    except ValueError:
                        continue
                    if at - 5 <= t <= at + 5:
                        near.append("      " + line)
            lines.append(f"    {role} log within 5 s:")
            lines += near[-20:]
        return "\n".join(lines)

    def p99_outside(self, records: list[Record]) -> dict:
        """p99 latency per flow of the answers that overlap no fault's window (widened by
        a second before it)."""
        windows = sorted((f.start - 1, f.end + f.tail) for f in self.faults)
        starts = [w[0] for w in windows]
        longest = max((b - a for a, b in windows), default=0)

        def in_fault(r: Record) -> bool:
            # windows starting before r.done, and late enough that they may reach r.sent
            i = bisect.bisect_right(starts, r.done)
            j = bisect.bisect_left(starts, r.sent - longest)
            return any(windows[k][1] >= r.sent for k in range(j, i))

        out = {}
        for flow in sorted({r.flow for r in records}):
            times = sorted(r.done - r.sent for r in records if r.flow == flow and r.result == "ok"
                           and not in_fault(r))
            if times:
                out[flow] = times[min(len(times) - 1, int(len(times) * 0.99))]
        return out


def stamp(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


# ---- faults --------------------------------------------------------------------------
# Each draws its details from rng (so a seed replays the same sequence), injects the fault,
# lifts it, and returns it with its window: [start, end + tail], and the failures it can
# cause (none for the faults that must lose nothing).


def pick_node(rng: random.Random) -> str:
    return rng.choice(sorted(tb.NODES))


def fault_reload_valid(soak: Soak, rng: random.Random) -> Fault:
    role = pick_node(rng)
    node = soak.nodes[role]
    variant = random_variant(rng)
    fault = Fault("reload-valid", role, json.dumps(variant, sort_keys=True), start=time.time())
    mark = node.log_size()
    node.write_config(variant)
    node.signal(signal.SIGHUP)
    wait_log(node, mark, r"reload: applied", soak, "a valid reload was not applied")
    fault.end = time.time()
    return fault


INVALID_FILES = {
    "syntax": "services: [ {name: web\n",
    "unknown-key": None,  # the running config with a typo'd key
    "bad-duration": None,  # the running config with a duration without a unit
}


def fault_reload_invalid(soak: Soak, rng: random.Random) -> Fault:
    role = pick_node(rng)
    node = soak.nodes[role]
    which = rng.choice(sorted(INVALID_FILES))
    config = node_config(role, node.variant, node.certs)
    if which == "unknown-key":
        config["services"][0]["balanse"] = "roundrobin"
        text = yaml.safe_dump(config)
    elif which == "bad-duration":
        config["services"][0]["timeouts"]["server"] = "5"
        text = yaml.safe_dump(config)
    else:
        text = INVALID_FILES[which]
    fault = Fault("reload-invalid", role, which, start=time.time())
    mark = node.log_size()
    node.config_path.write_text(text)
    node.signal(signal.SIGHUP)
    wait_log(node, mark, r"the running configuration stays|reload: .*error", soak,
             "an invalid reload was not refused")
    node.write_config(node.variant)
    fault.end = time.time()
    return fault


def wait_log(node: SoakNode, mark: int, pattern: str, soak: Soak, problem: str) -> None:
    deadline = time.monotonic() + 10
    while not re.search(pattern, node.log(mark)):
        if time.monotonic() > deadline:
            soak.violation(f"{node.role}: {problem} within 10 s", node.role)
            return
        time.sleep(0.05)


def backend_fault(kind: str, action: Callable[[Soak, str, random.Random], str]):
    def inject(soak: Soak, rng: random.Random) -> Fault:
        role = pick_node(rng)
        name = f"{role}-{rng.choice(STEADY)}"
        fault = Fault(kind, role, name, start=time.time(), tail=CHECK_SPAN + MARGIN,
                      allowed=frozenset(BACKEND))
        fault.detail += " " + action(soak, name, rng)
        fault.end = time.time()
        return fault
    return inject


def kill_backend(soak: Soak, name: str, rng: random.Random) -> str:
    down = rng.uniform(1.0, 4.0)
    soak.backends.kill(name)
    time.sleep(down)
    soak.backends.start(name)
    return f"down {down:.1f} s"


def stall_backend(soak: Soak, name: str, rng: random.Random) -> str:
    frozen = rng.uniform(1.0, 3.0)
    soak.backends.signal(name, signal.SIGSTOP)
    time.sleep(frozen)
    soak.backends.signal(name, signal.SIGCONT)
    return f"frozen {frozen:.1f} s"


def slow_backend(soak: Soak, name: str, rng: random.Random) -> str:
    for _ in range(6):  # 0.2 s frozen out of every 0.4 s: half speed, jittery
        soak.backends.signal(name, signal.SIGSTOP)
        time.sleep(0.2)
        soak.backends.signal(name, signal.SIGCONT)
        time.sleep(0.2)
    return "half speed 2.4 s"


def garbage_backend(soak: Soak, name: str, rng: random.Random) -> str:
    soak.backends.control(name, "garbage")
    time.sleep(rng.uniform(1.0, 3.0))
    soak.backends.control(name, "recover")
    return "answers garbage"


def fault_surplus(soak: Soak, rng: random.Random) -> Fault:
    """A backend that sends more than it announced: the proxy must pass the announced
    bytes and drop the rest, losing no request."""
    role = pick_node(rng)
    name = f"{role}-{rng.choice(STEADY)}"
    fault = Fault("backend-surplus", role, name, start=time.time())
    soak.backends.control(name, "surplus")
    time.sleep(rng.uniform(1.0, 3.0))
    soak.backends.control(name, "recover")
    fault.end = time.time()
    return fault


def fault_drain(soak: Soak, rng: random.Random) -> Fault:
    role = pick_node(rng)
    name = rng.choice(STEADY)
    node = soak.nodes[role]
    fault = Fault("admin-drain", role, name, start=time.time())
    for service in ("web", "webtls"):
        answer = node.admin("POST", f"/api/v1/services/{service}/backends/{name}/drain")
        if '"' not in answer:
            fault.notes.append(f"drain {service}: {answer.strip()[:100]}")
    time.sleep(rng.uniform(1.0, 3.0))
    for service in ("web", "webtls"):
        node.admin("POST", f"/api/v1/services/{service}/backends/{name}/enable")
    fault.end = time.time()
    return fault


def fault_router_restart(soak: Soak, rng: random.Random) -> Fault:
    fault = Fault("router-restart", None, "", start=time.time(), allowed=frozenset(NETWORK))
    soak.router.stop()
    time.sleep(rng.uniform(0.5, 2.0))
    soak.router.start(timeout=15)
    soak.fib.wait(tb.both, RECOVER_LIMIT)
    fault.end = time.time()
    fault.tail = MARGIN
    return fault


def fault_bfd_loss(soak: Soak, rng: random.Random) -> Fault:
    """BFD packets on one node's router link dropped for a second: BFD Down tears BGP
    down, the route goes, then everything comes back."""
    role = pick_node(rng)
    rules = ("*filter\n-I INPUT -i r -p udp --dport 3784 -j DROP\n"
             "-I OUTPUT -o r -p udp --dport 3784 -j DROP\nCOMMIT\n")
    fault = Fault("bfd-loss", role, "1 s", start=time.time(), allowed=frozenset(NETWORK))
    iptables(soak, role, rules)
    time.sleep(1.0)
    iptables(soak, role, rules.replace("-I ", "-D "))
    soak.fib.wait(tb.both, RECOVER_LIMIT)
    fault.end = time.time()
    fault.tail = MARGIN
    return fault


def iptables(soak: Soak, role: str, rules: str) -> None:
    subprocess.run(["ip", "netns", "exec", soak.ns.name(role), "iptables-restore", "--noflush"],
                   input=rules, text=True, check=True, timeout=10)


def fault_burst(kind: str):
    def inject(soak: Soak, rng: random.Random) -> Fault:
        count = rng.randint(20, 100)
        fault = Fault(kind, None, f"{count} connections", start=time.time())
        done = subprocess.run(soak.ns.exec_argv("c", [
            sys.executable, str(HERE / "burst.py"), kind, tb.VIP, str(HTTP_PORT), str(count),
            str(rng.randint(0, 2**31))]), capture_output=True, text=True, timeout=60)
        fault.detail += " " + done.stdout.strip()
        if done.returncode != 0:
            soak.violation(f"{kind}: {done.stdout.strip()} {done.stderr.strip()[-500:]}")
        fault.end = time.time()
        return fault
    return inject


def fault_fd_limit(soak: Soak, rng: random.Random) -> Fault:
    """The node's fd limit lowered to a few above what it has open, for a few seconds: a
    local fault. New connections may fail meanwhile; no backend may be marked DOWN for it."""
    role = pick_node(rng)
    node = soak.nodes[role]
    got = rss_and_fds(node.pid)
    spare = rng.randint(2, 16)
    limit = (got[1] if got else 64) + spare
    held = rng.uniform(1.0, 3.0)
    fault = Fault("fd-limit", role, f"nofile {limit} (+{spare}) for {held:.1f} s",
                  start=time.time(), allowed=frozenset(LOCAL))
    mark = node.log_size()
    soft = subprocess.run(["prlimit", "--pid", str(node.pid), "--nofile", "--raw",
                           "--noheadings", "-o", "SOFT"], capture_output=True, text=True).stdout.strip()
    subprocess.run(["prlimit", "--pid", str(node.pid), f"--nofile={limit}:"], check=False)
    time.sleep(held)
    subprocess.run(["prlimit", "--pid", str(node.pid), f"--nofile={soft or 65536}:"], check=False)
    fault.end = time.time()
    fault.tail = CHECK_SPAN + MARGIN
    downs = [l for l in node.log(mark).splitlines() if re.search(r"backend \S+ .* is DOWN", l)]
    if downs:
        soak.violation(f"{role}: a local fault (fd limit) marked a backend DOWN: {downs[0]}", role)
    return fault


def fault_node_restart(soak: Soak, rng: random.Random) -> Fault:
    role = pick_node(rng)
    node = soak.nodes[role]
    fault = Fault("node-restart", role, "SIGTERM, then start", start=time.time(),
                  allowed=frozenset(NETWORK | {"status-503"}))
    node.expected_down = True
    node.signal(signal.SIGTERM)
    code = node.wait_exit(20)
    if code != 0:
        soak.violation(f"{role}: exit code {code} after SIGTERM", role)
        node.kill()
    time.sleep(rng.uniform(0.5, 2.0))
    node.start()
    soak.fib.wait(tb.both, RECOVER_LIMIT)
    fault.end = time.time()
    fault.tail = MARGIN
    return fault


FAULTS: dict[str, Callable[[Soak, random.Random], Fault]] = {
    "reload-valid": fault_reload_valid,
    "reload-invalid": fault_reload_invalid,
    "backend-kill": backend_fault("backend-kill", kill_backend),
    "backend-stall": backend_fault("backend-stall", stall_backend),
    "backend-slow": backend_fault("backend-slow", slow_backend),
    "backend-garbage": backend_fault("backend-garbage", garbage_backend),
    "backend-surplus": fault_surplus,
    "admin-drain": fault_drain,
    "router-restart": fault_router_restart,
    "bfd-loss": fault_bfd_loss,
    "malformed-burst": fault_burst("malformed-burst"),
    "idle-burst": fault_burst("idle-burst"),
    "fd-limit": fault_fd_limit,
    "node-restart": fault_node_restart,
}


# ---- report --------------------------------------------------------------------------


def chart(samples: list, faults: list[Fault], out: Path, t0: float) -> Optional[str]:
    if not shutil.which("gnuplot") or not samples:
        return "gnuplot missing or no samples: no chart"
    data = out.with_suffix(".dat")
    with open(data, "w") as f:
        for role in tb.NODES:
            for t, r, _pid, rss, fds in samples:
                if r == role:
                    f.write(f"{t - t0:.1f} {rss:.2f} {fds}\n")
            f.write("\n\n")
    script = (
        "set terminal pngcairo size 1200,700 font ',10'\n" if has_cairo() else
        "set terminal png size 1200,700\n") + (
        f"set output '{out}'\n"
        "set multiplot layout 2,1 title 'contrail-lb soak: RSS and open fds per node'\n"
        "set xlabel 'seconds'\nset ylabel 'RSS MiB'\nset grid\n"
        f"plot '{data}' index 0 using 1:2 with lines title 'n1 RSS', "
        f"'' index 1 using 1:2 with lines title 'n2 RSS'\n"
        "set ylabel 'open fds'\n"
        f"plot '{data}' index 0 using 1:3 with lines title 'n1 fds', "
        f"'' index 1 using 1:3 with lines title 'n2 fds'\n"
        "unset multiplot\n")
    done = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    return None if done.returncode == 0 else f"gnuplot: {done.stderr.strip()[:300]}"


def has_cairo() -> bool:
    done = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in done.stdout + done.stderr


def report(soak: Soak, results: dict, minutes: float, wall: float, chart_name: str) -> str:
    kinds: dict[str, int] = {}
    for f in soak.faults:
        if f.kind != "machine-stall":
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
    stalls, stalled = results.get("stalls", (0, 0.0))
    flows = results.get("flows", {})
    total_ok = sum(v[0] for v in flows.values())
    total_failed = sum(v[1] for v in flows.values())
    total_resent = sum(v[2] for v in flows.values())
    lines = [f"- command: `bash tests/soak/run.sh --minutes {minutes:g} --seed {soak.args.seed}`"
             f" ({os.path.basename(soak.nodes['n1'].binary)} from "
             f"{os.path.basename(os.path.dirname(soak.nodes['n1'].binary))}/)",
             f"- seed: {soak.args.seed}; wall time {wall / 60:.1f} min",
             f"- requests: {total_ok + total_failed} ({total_ok} answered, {total_failed} failed; "
             f"{total_resent} more sent again after an idle close)",
             f"- result: {'PASS' if not soak.violations else 'FAIL'} "
             f"({len(soak.violations)} violations)", "",
             "| flow | answered | failed | resent (closed while idle) | p99 outside faults |",
             "|---|---|---|---|---|"]
    p99 = results.get("p99_outside_faults", {})
    for flow, (ok, bad, resent) in sorted(flows.items()):
        latency = f"{p99[flow] * 1000:.0f} ms" if flow in p99 else "-"
        lines.append(f"| {flow} | {ok} | {bad} | {resent} | {latency} |")
    lines += ["", f"Faults injected: {sum(kinds.values())}", "", "| fault | count |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(kinds.items())]
    lines += ["", f"Machine stalls (a 50 ms tick more than 200 ms late; the environment's, not a "
              f"fault injected): {stalls}, {stalled:.1f} s in all."]
    unprovoked = results.get("unprovoked", [])
    lines += ["", f"Route changes with no fault and no machine stall open: {len(unprovoked)}"
              + (" (they explain no failure)" if unprovoked else "")]
    lines += [f"- {u}" for u in unprovoked[:20]]
    lines += ["", "Failures by cause (the fault whose window explains them: the result):", "",
              "| cause | failed requests |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(results.get("failures", {}).items())]
    if not results.get("failures"):
        lines.append("| (none) | 0 |")
    lines += ["", "Counters at the end (200 answers since each node's last start):", ""]
    lines += [f"- {c}" for c in results.get("counters", [])]
    lines += ["", "Leak samples after quiet periods (first and last per process):", ""]
    for role, samples in soak.quiet_samples.items():
        for pid in dict.fromkeys(s[1] for s in samples):
            mine = [s for s in samples if s[1] == pid]
            first, last = mine[0], mine[-1]
            lines.append(f"- {role} pid {pid}: {len(mine)} samples, RSS {first[2]:.1f} -> "
                         f"{last[2]:.1f} MiB, fds {first[3]} -> {last[3]}")
    lines += ["", f"![RSS and fds over time]({chart_name})", ""]
    if soak.violations:
        lines += ["Violations:", ""] + [f"- {v}" for v in soak.violations]
    return "\n".join(lines) + "\n"


# ---- main ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--scale", type=float, default=1.0, help="load rate factor")
    parser.add_argument("--rss-margin", type=float, default=16.0, help="MiB over baseline")
    parser.add_argument("--fd-margin", type=int, default=48, help="fds over baseline")
    parser.add_argument("--report-dir", help="write report.md and soak.png here too")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big")

    if reason := tb.can_create_namespaces():
        print(f"SKIPPED: {reason}", flush=True)
        return tb.SKIPPED
    if not tb.bgp_peers.installed(tb.bgp_peers.BIRD, tb.bgp_peers.BIRDC):
        print("SKIPPED: BIRD 2 is not installed", flush=True)
        return tb.SKIPPED
    clb, backend = tb.binaries()
    tb.Namespaces.remove_stale()
    workdir = Path(tempfile.mkdtemp(prefix="clb-soak-"))
    ns = tb.Namespaces()
    atexit.register(ns.close)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    # The whole run is bounded: setup, the minutes asked, the last fault, the checks.
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(int(args.minutes * 60 + 300))
    started = time.time()
    soak = Soak(args, ns, workdir, clb, backend)
    status = 1
    try:
        soak.up()
        soak.run(args.minutes)
        soak.sampler.close()
        results = soak.finish()
        t0 = soak.sampler.samples[0][0] if soak.sampler.samples else started
        png = workdir / "soak.png"
        problem = chart(soak.sampler.samples, soak.faults, png, t0)
        if problem:
            log(problem)
        text = report(soak, results, args.minutes, time.time() - started, "soak.png")
        (workdir / "report.md").write_text(text)
        print("\n" + text, flush=True)
        if args.report_dir:
            out = Path(args.report_dir)
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy(workdir / "report.md", out / "report.md")
            if png.exists():
                shutil.copy(png, out / "soak.png")
            (out / "faults.json").write_text(json.dumps([f.__dict__ for f in soak.faults],
                                                        indent=1, default=list))
        status = 0 if not soak.violations else 1
    except KeyboardInterrupt as interrupted:
        log(f"interrupted ({interrupted}); cleaning up (seed {args.seed})")
        status = 130 if "14" not in str(interrupted) else 1
    except Exception as error:  # noqa: BLE001 - the bed failed: a failed run
        log(f"FAIL (seed {args.seed}): {type(error).__name__}: {error}")
        status = 1
    finally:
        signal.alarm(0)
        soak.down()
        if args.keep or status != 0:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    log(f"{'PASS' if status == 0 else 'FAIL'} (seed {args.seed})")
    return status


if __name__ == "__main__":
    sys.exit(main())
