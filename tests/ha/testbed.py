#!/usr/bin/env python3
"""The HA test bed: two contrail-lb nodes behind a real router, faults injected, measured
from a client. Run as root (network namespaces):

    bash tests/ha/run.sh [--router bird|frr|both] [--bfd off|on|both] [SCENARIO...]

Topology (every address exists only inside the namespaces this script creates, and every
namespace and process is removed on every exit path):

    client 10.99.0.2 ── 10.99.0.1 router (BIRD 2 or FRR: zebra+bgpd+bfdd; ECMP, AS 65000)
                          10.99.1.1 ── 10.99.1.2 node1 (contrail-lb, VIP 10.99.100.100 on lo)
                          10.99.2.1 ── 10.99.2.2 node2 (contrail-lb, VIP 10.99.100.100 on lo)
    node1 10.99.11.1 ── 10.99.11.2 backends ┐ three clb-test-backend processes,
    node2 10.99.12.1 ── 10.99.12.2 backends ┘ ports 8001-8003

The client sends one new-connection request every 10 ms to the VIP (client.py); the router's
kernel FIB is watched with `ip monitor route`. Each scenario starts from "both nodes
announce, two next hops", injects one fault into node 1, measures and restores:

    healthy          two next hops, traffic shared, no failure
    backends-lost    node 1 can no longer reach its backends (unreachable route)
    kill9            kill -9 node 1
    sigterm          SIGTERM node 1 (withdraw, bgp.withdraw_wait, Cease, drain)
    sigstop          SIGSTOP node 1 (frozen), SIGCONT once the route is gone
    link-cut         every packet on node 1's router link dropped (iptables), restored after
    router-restart   the router's daemons restarted: sessions and the VIP come back
    node-back        node 1 stopped, then started: traffic shared again
    stop-start       node-back under 40 long-lived keep-alive clients, the router's FIB
                     polled every 20 ms, its BGP/BFD state changes counted: the baseline
                     of an upgrade by stop and start
    upgrade-takeover a second contrail-lb with --take-over started beside node 1's
    upgrade-inplace  node 1 run with --supervise, then SIGUSR2
    upgrade-bad-binary  SIGUSR2 while the binary's path holds one that exits 1 / crashes
    upgrade-bad-config  POST /api/v1/upgrade with an invalid config file; a --take-over
                     process with an invalid config
                     (the upgrade-* ones under the keep-alive clients too, asserting zero
                     failed requests, broken connections, FIB changes, BGP/BFD changes;
                     skipped when the binary has no --take-over)

Figures go to stdout as a table (and --json FILE); bounds (see BOUNDS) are asserted,
and the exit code is 0 (all held), 1 (some did not), 77 (cannot run here: skipped).
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import bgp_peers  # noqa: E402 - the daemon helpers of the interop tests
import yaml  # noqa: E402
from fibpoll import FibPoll  # noqa: E402

SKIPPED = 77
VIP = "10.99.100.100"
SERVICE_PORT = 8082
BACKEND_PORTS = (8001, 8002, 8003)
ROUTER_AS, LB_AS = 65000, 64512
HOLD_TIME = 3  # seconds: the lowest BIRD and FRR accept
BFD = {"min_tx": "100ms", "min_rx": "100ms", "multiplier": 3}
NODES = {"n1": "10.99.1.2", "n2": "10.99.2.2"}  # the next hops the router learns
CHECK = {"type": "http", "path": "/health", "expect_status": [200], "interval": "500ms",
         "timeout": "500ms", "rise": 2, "fall": 2}
ZEBRA = "/usr/lib/frr/zebra"
BFDD = "/usr/lib/frr/bfdd"
SCENARIOS = ["healthy", "backends-lost", "kill9", "sigterm", "sigstop", "link-cut",
             "router-restart", "node-back", "stop-start", "upgrade-takeover", "upgrade-inplace",
             "upgrade-bad-binary", "upgrade-bad-config"]
# Scenarios that need a binary with the hand-over (else skipped), and those of them that
# need node 1 under --supervise.
UPGRADE_SCENARIOS = ["upgrade-takeover", "upgrade-inplace", "upgrade-bad-binary",
                     "upgrade-bad-config"]
SUPERVISED_SCENARIOS = ["upgrade-inplace", "upgrade-bad-binary", "upgrade-bad-config"]
# Scenarios measured with the keep-alive clients too; when the bed runs with and without
# BFD they run in the BFD runs only (unless named), which keeps the matrix short.
KEEPALIVE_SCENARIOS = ["stop-start", *UPGRADE_SCENARIOS]
UPGRADE_TIMEOUT = 15.0  # seconds for an upgrade to finish or fail (grace 5 s + margin)
KA_CONNECTIONS = 40
KA_INTERVAL = 0.1  # seconds between two requests on one connection
FIB_POLL = 0.02  # seconds: the router's FIB read this often in keep-alive scenarios
CLOSE_RACE = 0.02  # seconds: a connection broken this close to a server's idle close

# Bounds asserted per scenario (seconds). Targets from issue 9 plus the margins a loaded
# 2-CPU CI machine needs; docs/ha.md explains each.
ROUTER_APPLY_MARGIN = 0.5  # a withdraw reaching the router's FIB (BIRD ms, FRR 60-70 ms)
BOUNDS = {
    "kill9_route": 1.0,                     # the kernel closes the sessions: at once
    "frozen_route_bfd": 0.5 + 0.5,          # 3 x 100 ms detection + 0.5 s margin
    "frozen_route_no_bfd": HOLD_TIME + 1.5,  # the hold timer + 1.5 s margin
    "node_back_shared": 2.0 + 1.0,          # after the first passing check, + 1 s margin
    "recovered": 20.0,                      # any restore back to two next hops
}


def log(message: str) -> None:
    print(f"[ha {time.strftime('%H:%M:%S')}] {message}", flush=True)


def close_each(closers) -> None:
    """Runs every closer of a bed, in order, even when one fails: cleanup goes on."""
    for closer in closers:
        try:
            closer()
        except Exception as error:  # noqa: BLE001 - cleanup goes on
            log(f"cleanup: {error!r}")


def run(argv: list[str], check: bool = True, timeout: float = 10) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def local_time(stamp: str) -> float:
    """Unix time of a local-time stamp as contrail-lb, BIRD and `ip -ts` print them."""
    stamp = stamp.replace("T", " ")
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in stamp else "%Y-%m-%d %H:%M:%S"
    return datetime.datetime.strptime(stamp, fmt).timestamp()


# ---- namespaces and processes --------------------------------------------------------


class Namespaces:
    """The bed's network namespaces, named clbha<pid><role>; removed (with every process
    still inside) by close(), which is also registered for atexit and the signals."""

    ROLES = ("r", "n1", "n2", "bk", "c")

    def __init__(self) -> None:
        self.prefix = f"clbha{os.getpid()}"
        self.created: list[str] = []

    def name(self, role: str) -> str:
        return self.prefix + role

    @staticmethod
    def remove_stale() -> None:
        """Namespaces left by a run that was SIGKILLed (its pid is gone)."""
        for line in run(["ip", "netns", "list"], check=False).splitlines():
            found = re.match(r"clbha(\d+)(r|n1|n2|bk|c)\b", line)
            if found and not Path(f"/proc/{found.group(1)}").exists():
                Namespaces.remove(line.split()[0])

    @staticmethod
    def remove(ns: str) -> None:
        Namespaces.kill_processes(ns)
        run(["ip", "netns", "del", ns], check=False)

    @staticmethod
    def kill_processes(ns: str) -> None:
        for pid in run(["ip", "netns", "pids", ns], check=False).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    def create(self) -> None:
        for role in self.ROLES:
            ns = self.name(role)
            run(["ip", "netns", "add", ns])
            self.created.append(ns)
            self.sh(role, "ip", "link", "set", "lo", "up")
            for key in ("net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"):
                self.sh(role, "sysctl", "-qw", f"{key}=0")
        self.sh("r", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.sh("r", "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1")
        self.link("r", "c", "10.99.0.1", "10.99.0.2")
        self.link("r", "n1", "10.99.1.1", "10.99.1.2")
        self.link("r", "n2", "10.99.2.1", "10.99.2.2")
        self.link("n1", "bk", "10.99.11.1", "10.99.11.2")
        self.link("n2", "bk", "10.99.12.1", "10.99.12.2")
        self.sh("c", "ip", "route", "add", f"{VIP}/32", "via", "10.99.0.1")
        for node in ("n1", "n2"):
            self.sh(node, "ip", "addr", "add", f"{VIP}/32", "dev", "lo")
            self.sh(node, "ip", "route", "add", "10.99.0.0/24", "via", NODES[node][:-1] + "1")

    def link(self, a: str, b: str, address_a: str, address_b: str) -> None:
        """A veth pair between namespaces a and b; each end is named after the other side."""
        run(["ip", "link", "add", "name", b, "netns", self.name(a), "type", "veth", "peer",
             "name", a, "netns", self.name(b)])
        for role, dev, address in ((a, b, address_a), (b, a, address_b)):
            self.sh(role, "ip", "addr", "add", f"{address}/24", "dev", dev)
            self.sh(role, "ip", "link", "set", "dev", dev, "up")

    def sh(self, role: str, *argv: str, check: bool = True) -> str:
        return run(["ip", "netns", "exec", self.name(role), *argv], check=check)

    def exec_argv(self, role: str, argv: list[str], pdeathsig: bool = True) -> list[str]:
        """argv run inside the namespace, killed if this script dies (setpriv; Daemon.start
        adds its own)."""
        wrap = [bgp_peers.SETPRIV, "--pdeathsig", "KILL", "--"] \
            if pdeathsig and os.access(bgp_peers.SETPRIV, os.X_OK) else []
        return [*wrap, "ip", "netns", "exec", self.name(role), *argv]

    def close(self) -> None:
        for ns in reversed(self.created):
            self.remove(ns)
        self.created.clear()


# ---- the router ----------------------------------------------------------------------


class RouterBird(bgp_peers.Bird):
    """BIRD 2 in the router namespace: one eBGP session per node, ECMP into the kernel."""

    def __init__(self, ns: Namespaces, bfd: bool) -> None:
        super().__init__(179, ROUTER_AS, LB_AS, listen="10.99.0.1")
        self.ns = ns
        self.bfd = bfd
        self.name = "BIRD"

    def configure(self) -> None:
        bfd = ('protocol bfd { debug { states, events }; interface "*" { min rx interval '
               "100 ms; min tx interval 100 ms; multiplier 3; }; }\n") if self.bfd else ""
        sessions = "".join(f"protocol bgp {node} from lb {{ neighbor {address} as {LB_AS}; }}\n"
                           for node, address in NODES.items())
        self.config_path.write_text(
            "router id 10.99.0.1;\n"
            f'log "{self.log_path}" all;\n'
            "timeformat log iso long ms;\n"
            "timeformat protocol iso long ms;\n"
            "protocol device { scan time 1; }\n"
            "protocol kernel { merge paths on; ipv4 { import none; export all; }; }\n"
            f"{bfd}"
            "template bgp lb {\n"
            f"  local as {ROUTER_AS};\n"
            f"  hold time {HOLD_TIME}; min hold time 3; connect retry time 1;\n"
            "  error wait time 1,3;\n"
            f"  {'bfd on;' if self.bfd else ''}\n"
            "  debug { states, events };\n"
            "  ipv4 { import all; export none; };\n"
            "}\n"
            f"{sessions}")

    def argv(self) -> list[str]:
        return self.ns.exec_argv("r", super().argv(), pdeathsig=False)

    def ready(self) -> bool:
        return "ready" in self.cli("show status")

    def sessions_up(self) -> int:
        text = self.cli("show protocols")
        return sum(1 for node in NODES if re.search(rf"^{node}\s+BGP\s.*Established", text, re.M))

    def transitions(self) -> dict[str, int]:
        """State changes so far, from its log: BGP sessions entering or leaving
        Established (the protocol's `up`), BFD sessions entering or leaving Up."""
        counts = {"bgp": 0, "bfd": 0}
        state: dict[str, str] = {}  # per BGP protocol and per BFD session
        for line in self.log().splitlines():
            if found := re.search(r"\b(n[12]): State changed to (\w+)", line):
                kind, key, new_state = "bgp", *found.groups()
                up = "up"
            elif found := re.search(r"Session to (\S+) (?:changed state from \w+ to (\w+)"
                                    r"|(removed))", line):
                kind, key, new_state = "bfd", found.group(1), found.group(2) or "removed"
                up = "Up"  # BIRD removes an Up session when its BGP session goes down
            else:
                continue
            counts[kind] += new_state == up or state.get(key) == up
            state[key] = new_state
        return counts


class RouterFrr(bgp_peers.Daemon):
    """FRR in the router namespace: zebra (the FIB), bgpd (ECMP, maximum-paths) and, with
    BFD, bfdd; one process group, so stop() ends all three."""

    name = "FRR"

    def __init__(self, ns: Namespaces, bfd: bool) -> None:
        super().__init__(179, ROUTER_AS, LB_AS, "frr-router")
        self.ns = ns
        self.bfd = bfd

    def configure(self) -> None:
        neighbors = ""
        for address in NODES.values():
            neighbors += (f" neighbor {address} remote-as {LB_AS}\n"
                          f" neighbor {address} timers 1 {HOLD_TIME}\n"
                          f" neighbor {address} timers connect 1\n")
            if self.bfd:
                neighbors += f" neighbor {address} bfd profile fast\n"
        (self.dir / "bgpd.conf").write_text(
            "hostname clb-ha-router\n"
            f"router bgp {ROUTER_AS}\n"
            " bgp router-id 10.99.0.1\n"
            " no bgp ebgp-requires-policy\n"
            " no bgp network import-check\n"
            f"{neighbors}"
            " address-family ipv4 unicast\n"
            "  maximum-paths 4\n"
            " exit-address-family\n")
        # Plain routes (no kernel nexthop objects), so `ip monitor route` sees every change.
        (self.dir / "zebra.conf").write_text("hostname clb-ha-router\nno zebra nexthop kernel enable\n")
        (self.dir / "bfdd.conf").write_text(
            "hostname clb-ha-router\nbfd\n profile fast\n  detect-multiplier 3\n"
            "  receive-interval 100\n  transmit-interval 100\n exit\nexit\n")

    def _daemon(self, binary: str, name: str) -> str:
        # zebra and bfdd drop to the frr user (the directory is world-writable); bgpd
        # skips that (-S) as in the interop tests.
        d = self.dir
        skip_runas = "-S " if name == "bgpd" else ""
        return (f"{binary} {skip_runas}-f {d}/{name}.conf -i {d}/{name}.pid -z {d}/zserv.api "
                f"--vty_socket {d} -P 0 --log file:{d}/{name}.log")

    def argv(self) -> list[str]:
        script = f"{self._daemon(ZEBRA, 'zebra')} & sleep 0.3; "
        if self.bfd:
            script += f"{self._daemon(BFDD, 'bfdd')} --bfdctl {self.dir}/bfdd.sock & "
        script += f"exec {self._daemon(bgp_peers.FRR_BGPD, 'bgpd')}"
        return self.ns.exec_argv("r", ["sh", "-c", script], pdeathsig=False)

    def cli(self, command: str, daemon: str = "bgpd") -> str:
        return bgp_peers.run_cli([bgp_peers.VTYSH, "--vty_socket", str(self.dir), "-d", daemon,
                                  "-c", command])

    def ready(self) -> bool:
        return "BGP router identifier" in self.cli("show bgp summary")

    def sessions_up(self) -> int:
        try:
            peers = json.loads(self.cli("show bgp ipv4 unicast summary json")).get("peers", {})
        except ValueError:
            return 0
        return sum(1 for p in peers.values() if p.get("state") == "Established")

    def transitions(self) -> dict[str, int]:
        """State changes so far, from its counters: BGP sessions established and dropped,
        BFD sessions up and down."""
        counts = {"bgp": 0, "bfd": 0}
        try:
            for peer in json.loads(self.cli("show bgp neighbors json")).values():
                counts["bgp"] += peer.get("connectionsEstablished", 0) + \
                    peer.get("connectionsDropped", 0)
            if self.bfd:
                for peer in json.loads(self.cli("show bfd peers counters json", "bfdd")):
                    counts["bfd"] += peer.get("session-up", 0) + \
                        peer.get("session-down", 0)
        except (ValueError, AttributeError) as error:
            raise RuntimeError(f"FRR counters unreadable: {error}") from error
        return counts

    def dump(self) -> str:
        return self.cli("show bgp summary") + self.cli("show bgp ipv4 unicast") + \
            (self.cli("show bfd peers") if self.bfd else "")

    def output(self) -> str:
        text = ""
        for name in ("zebra", "bfdd", "bgpd"):
            path = self.dir / f"{name}.log"
            if path.exists():
                text += f"--- {name}.log ---\n" + path.read_text(errors="replace")[-4000:]
        return text + super().output()


# ---- watching the router's FIB -------------------------------------------------------


class FibWatch:
    """`ip -ts monitor route` in the router namespace: every change of the VIP's route,
    as (unix time, frozenset of next hops)."""

    def __init__(self, ns: Namespaces, record: Path) -> None:
        self.ns = ns
        self.record = open(record, "a")  # every line seen, for a failure's post-mortem
        self.events: list[tuple[float, set[str]]] = []
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            ["ip", "-n", ns.name("r"), "-ts", "monitor", "route"], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        time.sleep(0.1)
        initial = self.ns.sh("r", "ip", "route", "show", f"{VIP}/32")
        with self.lock:
            self.events.insert(0, (0.0, set(re.findall(r"via (\S+)", initial))))

    def _read(self) -> None:
        current: Optional[set[str]] = None
        for line in self.process.stdout:
            self.record.write(line)
            found = re.match(r"\[([^\]]+)\] (Deleted )?(\S+)(.*)", line)
            if found:
                current = None
                if found.group(3) != VIP:
                    continue
                deleted = bool(found.group(2))
                hops: set[str] = set() if deleted else set(
                    re.findall(r"via (\S+)", found.group(4)))
                with self.lock:
                    self.events.append((local_time(found.group(1)), hops))
                current = None if deleted else hops
            elif current is not None and "nexthop via" in line:
                with self.lock:
                    current.update(re.findall(r"via (\S+)", line))

    def now(self) -> set[str]:
        with self.lock:
            return set(self.events[-1][1])

    def first_after(self, since: float, accept: Callable[[set[str]], bool]) -> Optional[float]:
        with self.lock:
            for at, hops in self.events:
                if at >= since and accept(hops):
                    return at
        return None

    def wait(self, accept: Callable[[set[str]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.005)  # the nexthop lines of a multipath event follow its first line
            if accept(self.now()):
                return True
        return False

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.thread.join(timeout=2)
        self.record.close()


BOTH = set(NODES.values())


def both(hops: set[str]) -> bool:
    return hops == BOTH


def only_n2(hops: set[str]) -> bool:
    return hops == {NODES["n2"]}


def not_both(hops: set[str]) -> bool:
    return hops != BOTH


# ---- contrail-lb nodes, backends, client --------------------------------------------


class Node:
    """contrail-lb in a node namespace; its log (appended across restarts) holds the access
    log the scenarios read to tell which node served a request."""

    def __init__(self, ns: Namespaces, role: str, workdir: Path, bfd: bool, binary: str,
                 extra_bgp: dict, upgrade: bool) -> None:
        self.ns = ns
        self.role = role
        self.binary = binary
        # Supervised, the node runs a copy, which upgrade-bad-binary swaps for a bad one.
        self.supervised_binary = workdir / f"{role}-bin" / "contrail-lb"
        self.supervised = False
        self.config_path = workdir / f"{role}.yaml"
        self.log_path = workdir / f"{role}.log"
        self.upgrade_socket = workdir / f"{role}-upgrade.sock"
        self.process: Optional[subprocess.Popen] = None
        backend_net = "10.99.11.2" if role == "n1" else "10.99.12.2"
        config = {
            "global": {"workers": 1, "log_level": "info", "access_log": True, "grace": "5s"},
            "admin": {"listen": "127.0.0.1:9090"},
            "services": [{
                "name": "api", "listen": [f"{VIP}:{SERVICE_PORT}"], "mode": "http",
                "balance": "roundrobin", "retries": 2,
                "timeouts": {"connect": "1s", "server": "5s"},
                "health_check": dict(CHECK),
                "backends": [{"name": f"b{i + 1}", "address": f"{backend_net}:{port}"}
                             for i, port in enumerate(BACKEND_PORTS)]}],
            "bgp": {"router_id": NODES[role], "local_as": LB_AS, "hold_time": f"{HOLD_TIME}s",
                    "peers": [{"address": NODES[role][:-1] + "1", "remote_as": ROUTER_AS}],
                    "vips": [{"prefix": f"{VIP}/32", "next_hop": "self",
                              "require": {"services": ["api"], "min_healthy_backends": 1}}]},
        }
        if bfd:
            config["bgp"]["bfd"] = dict(BFD)
        if upgrade:
            config["global"]["upgrade_socket"] = str(self.upgrade_socket)
        config["bgp"].update(extra_bgp)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self, supervise: Optional[bool] = None) -> "Node":
        """Starts it (supervised or not: as last time unless said)."""
        if supervise is not None:
            self.supervised = supervise
        argv = [self.binary, "-c", str(self.config_path)]
        if self.supervised:
            self.supervised_binary.parent.mkdir(exist_ok=True)
            shutil.copy(self.binary, self.supervised_binary)
            argv = [str(self.supervised_binary), "-c", str(self.config_path), "--supervise"]
        mark = self.log_size()
        self.process = self.spawn(argv)
        deadline = time.monotonic() + 10
        while "started:" not in self.log(mark):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"contrail-lb {self.role} did not start:\n{self.log(mark)}")
            time.sleep(0.02)
        return self

    def spawn(self, argv: list[str]) -> subprocess.Popen:
        """argv in the node's namespace, its output into the node's log."""
        with open(self.log_path, "ab") as out:
            return subprocess.Popen(self.ns.exec_argv(self.role, argv), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=out)

    def admin(self, method: str = "GET", path: str = "/api/v1/status",
              timeout: float = 2) -> tuple[int, str]:
        """(HTTP status, body) of a request to its admin listener (0: no answer)."""
        out = run(self.ns.exec_argv(self.role, [
            "curl", "-s", "-m", str(timeout), "-X", method, "-w", "\n%{http_code}",
            f"http://127.0.0.1:9090{path}"], pdeathsig=False), check=False, timeout=timeout + 5)
        body, _, code = out.rpartition("\n")
        return int(code) if code.isdigit() else 0, body

    def status(self) -> dict:
        code, body = self.admin()
        try:
            return json.loads(body) if code == 200 else {}
        except ValueError:
            return {}

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            self.process.send_signal(sig)

    def wait_exit(self, timeout: float) -> Optional[int]:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.alive:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log(self, since: int = 0) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def first_log_time(self, pattern: str, since: int = 0) -> Optional[float]:
        for line in self.log(since).splitlines():
            if re.search(pattern, line):
                found = re.match(r"\[([^\]]+)\]", line)
                return local_time(found.group(1)) if found else None
        return None

    def served(self) -> set[int]:
        """Request numbers this node answered (its access log)."""
        return {int(n) for n in re.findall(r"/ha/(\d+)", self.log())}

    def served_connections(self, since: int) -> set[tuple[int, int]]:
        """The keep-alive clients' connections this node answered on (its access log from
        the offset `since`)."""
        return {(int(c), int(g)) for c, g in re.findall(r"/ka/(\d+)/(\d+)/", self.log(since))}


class Backends:
    """Three clb-test-backend processes in the backend namespace, reachable from node 1
    at 10.99.11.2 and from node 2 at 10.99.12.2."""

    def __init__(self, ns: Namespaces, binary: str, workdir: Path) -> None:
        self.processes = []
        for i, port in enumerate(BACKEND_PORTS):
            out = open(workdir / f"backend-b{i + 1}.log", "ab")
            process = subprocess.Popen(
                ns.exec_argv("bk", [binary, "--listen", f"0.0.0.0:{port}", "--name", f"b{i + 1}"]),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=out)
            out.close()
            line = process.stdout.readline()
            if not line.startswith(b"ready"):
                raise RuntimeError(f"backend b{i + 1} did not start: {line!r}")
            self.processes.append(process)

    def close(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()


@dataclass
class Request:
    seq: int
    sent: float
    done: float
    result: str


class ClientProcess:
    """A client script of this folder in the client namespace, writing its records to a
    file; closing its stdin asks it to stop."""

    def __init__(self, ns: Namespaces, path: Path, argv: list[str]) -> None:
        self.path = path
        self.out = open(self.path, "wb")
        self.process = subprocess.Popen(ns.exec_argv("c", [sys.executable, *argv]),
                                        stdin=subprocess.PIPE, stdout=self.out,
                                        stderr=subprocess.STDOUT)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=4)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.out.close()


class Client(ClientProcess):
    """client.py: a new connection per request; its records are read from its output file."""

    def __init__(self, ns: Namespaces, workdir: Path) -> None:
        super().__init__(ns, workdir / "client.log",
                         [str(HERE / "client.py"), VIP, str(SERVICE_PORT)])

    def requests(self) -> list[Request]:
        records = []
        for line in self.path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0].isdigit():
                records.append(Request(int(parts[0]), float(parts[1]), float(parts[2]), parts[3]))
        return records


@dataclass
class KaRequest:
    conn: tuple[int, int]  # (connection, re-opening): one TCP connection
    sent: float
    done: float
    result: str


@dataclass
class KaEnd:
    conn: tuple[int, int]
    at: float
    reason: str  # close, reset, failed-RESULT (keepalive.py)

    @property
    def broken(self) -> bool:
        """Ended by an RST or a failed request, not closed between requests."""
        return self.reason != "close"


class KeepAliveClients(ClientProcess):
    """keepalive.py in the client namespace: KA_CONNECTIONS long-lived connections, one
    request each every KA_INTERVAL; started for one scenario, so its figures are that
    scenario's."""

    def __init__(self, ns: Namespaces, workdir: Path, name: str) -> None:
        super().__init__(ns, workdir / f"keepalive-{name}.log",
                         [str(HERE / "keepalive.py"), VIP, str(SERVICE_PORT),
                          "--connections", str(KA_CONNECTIONS), "--interval", str(KA_INTERVAL)])

    def records(self) -> tuple[list[KaRequest], list[KaEnd]]:
        requests, ends = [], []
        for line in self.path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 7 and parts[0] == "R":
                requests.append(KaRequest((int(parts[1]), int(parts[2])), float(parts[4]),
                                          float(parts[5]), parts[6]))
            elif len(parts) == 5 and parts[0] == "E":
                ends.append(KaEnd((int(parts[1]), int(parts[2])), float(parts[3]), parts[4]))
        return requests, ends

    def wait_serving(self, timeout: float = 10) -> None:
        """Every connection has had an answer (and so is spread over the nodes)."""
        deadline = time.monotonic() + timeout
        while len({q.conn[0] for q in self.records()[0] if q.result == "ok"}) < KA_CONNECTIONS:
            if time.monotonic() > deadline:
                raise RuntimeError("the keep-alive clients got no answer on every connection "
                                   f"in {timeout} s:\n" + self.path.read_text()[-2000:])
            time.sleep(0.1)


# ---- scenarios -----------------------------------------------------------------------


@dataclass
class Result:
    router: str
    bfd: bool
    scenario: str
    started: float = 0.0  # the fault
    ended: float = 0.0  # end of the observation window
    route_change: Optional[float] = None  # seconds from the fault to the FIB change
    route_label: str = ""
    failed: int = 0
    sent: int = 0
    longest_gap: float = 0.0
    failures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    late_failures_after: Optional[float] = None  # count failures sent after this time only
    keepalive: dict = field(default_factory=dict)  # the keep-alive scenarios' figures
    skipped: str = ""  # why the scenario did not run (not a failure)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


class Bed:
    def __init__(self, ns: Namespaces, router_kind: str, bfd: bool, workdir: Path,
                 binary: str, backend_binary: str, extra_bgp: dict) -> None:
        self.ns = ns
        self.router_kind = router_kind
        self.bfd = bfd
        self.workdir = workdir
        self.binary = binary
        self.backend_binary = backend_binary
        self.router = (RouterBird if router_kind == "bird" else RouterFrr)(ns, bfd)
        # Why the upgrade scenarios cannot run with this binary ('' when they can).
        self.no_upgrade = upgrade_missing(binary)
        self.nodes = {role: Node(ns, role, workdir, bfd, binary, extra_bgp, not self.no_upgrade)
                      for role in NODES}
        self.n1 = self.nodes["n1"]
        self.fib: Optional[FibWatch] = None
        self.backends: Optional[Backends] = None
        self.client: Optional[Client] = None
        self.cleanup_n1: Optional[Callable[[], None]] = None
        self.keepalive_runs = 0

    def up(self) -> None:
        self.ns.create()
        self.fib = FibWatch(self.ns, self.workdir / "fib.log")
        self.router.start(timeout=15)
        self.backends = Backends(self.ns, self.backend_binary, self.workdir)
        for node in self.nodes.values():
            node.start()
        if not self.fib.wait(both, 30):
            raise RuntimeError(f"no ECMP route with both nodes after 30 s: {self.fib.now()}\n"
                               f"{self.router.diagnostics()}")
        self.client = Client(self.ns, self.workdir)
        deadline = time.monotonic() + 20
        while sum(1 for q in self.client.requests() if q.result == "ok") < 50:
            if time.monotonic() > deadline:
                raise RuntimeError("the client got no 50 answers in 20 s:\n"
                                   + self.client.path.read_text(errors="replace")[-2000:])
            time.sleep(0.1)

    def down(self) -> None:
        close_each((lambda: self.client and self.client.close(),
                    lambda: [n.kill() for n in self.nodes.values()],
                    lambda: self.backends and self.backends.close(),
                    self.keep_router_logs,
                    lambda: self.router.close(),
                    lambda: self.fib and self.fib.close()))
        self.ns.close()

    def keep_router_logs(self) -> None:
        """The router's logs into the work directory (--keep keeps it)."""
        for path in self.router.dir.glob("*.log"):
            shutil.copy(path, self.workdir / f"router-{path.name}")

    def print_diagnostics(self) -> None:
        try:
            print(f"--- {self.router.name} ---\n{self.router.diagnostics()[-6000:]}")
            for role, node in self.nodes.items():
                lines = [l for l in node.log().splitlines() if "/ha/" not in l]
                print(f"--- contrail-lb {role} (access log lines left out) ---")
                print("\n".join(lines[-50:]))
        except Exception as error:  # noqa: BLE001 - diagnostics must not hide the failure
            print(f"diagnostics: {error!r}")

    # -- restoring the healthy state between scenarios
    def restore(self, result: Result) -> None:
        if self.cleanup_n1:
            self.cleanup_n1()
            self.cleanup_n1 = None
        if not self.n1.alive:
            self.n1.start()
        if not self.router.alive:
            self.router.start(timeout=15)
        if not self.fib.wait(both, BOUNDS["recovered"]):
            result.problems.append(f"not back to two next hops within {BOUNDS['recovered']} s "
                                   f"(FIB: {sorted(self.fib.now())})")
            raise RuntimeError("bed did not recover:\n" + self.router.diagnostics() +
                               "\n--- n1 ---\n" + self.n1.log()[-4000:])
        time.sleep(0.5)  # settle: the router's other table updates, the client's pace

    def run(self, name: str) -> Result:
        result = Result(self.router_kind, self.bfd, name)
        if name in UPGRADE_SCENARIOS and self.no_upgrade:
            result.skipped = self.no_upgrade
            log(f"{self.router_kind}, BFD {'on' if self.bfd else 'off'}: {name}: skipped "
                f"({self.no_upgrade})")
            return result
        log(f"{self.router_kind}, BFD {'on' if self.bfd else 'off'}: {name}")
        self.ensure_n1(supervise=name in SUPERVISED_SCENARIOS)
        # The previous window's requests finish before the next fault: a request is
        # counted in the window it was sent in.
        time.sleep(1.0)
        getattr(self, "scenario_" + name.replace("-", "_"))(result)
        return result

    def fault_route_change(self, result: Result, accept: Callable[[set[str]], bool],
                           timeout: float, label: str = "route removed") -> None:
        changed = self.fib.wait(accept, timeout)
        at = self.fib.first_after(result.started, accept) if changed else None
        result.route_label = label
        result.route_change = (at - result.started) if at else None
        if at is None:
            result.problems.append(f"{label}: not within {timeout:.1f} s")

    # -- the scenarios
    def scenario_healthy(self, r: Result) -> None:
        r.started = time.time()
        time.sleep(3.0)
        r.ended = time.time()
        r.check(both(self.fib.now()), f"FIB next hops {sorted(self.fib.now())}")
        r.notes.append("shares")  # filled by analyse()

    def scenario_backends_lost(self, r: Result) -> None:
        mark = self.n1.log_size()
        r.started = time.time()
        self.ns.sh("n1", "ip", "route", "add", "unreachable", "10.99.11.2/32")
        self.cleanup_n1 = lambda: self.ns.sh("n1", "ip", "route", "del", "unreachable",
                                             "10.99.11.2/32")
        self.fault_route_change(r, only_n2, 10)
        time.sleep(1.0)
        r.ended = time.time()
        decided = self.n1.first_log_time(r"bgp: withdrawing .*healthy backends", mark)
        if decided:
            r.notes.append(f"DOWN decision +{decided - r.started:.2f} s")
            r.late_failures_after = decided + ROUTER_APPLY_MARGIN
        else:
            r.problems.append("node 1 never logged the withdraw")
        self.restore(r)

    def scenario_kill9(self, r: Result) -> None:
        r.started = time.time()
        self.n1.process.kill()
        self.n1.process.wait()
        self.fault_route_change(r, only_n2, 10)
        r.check(r.route_change is not None and r.route_change <= BOUNDS["kill9_route"],
                f"route removed after {r.route_change} s > {BOUNDS['kill9_route']} s")
        time.sleep(1.0)
        r.ended = time.time()
        self.restore(r)

    def scenario_sigterm(self, r: Result) -> None:
        r.started = time.time()
        self.n1.signal(signal.SIGTERM)
        self.fault_route_change(r, only_n2, 5)
        code = self.n1.wait_exit(15)
        r.check(code == 0, f"node 1 exit code {code} after SIGTERM")
        time.sleep(0.5)
        r.ended = time.time()
        r.late_failures_after = r.started  # zero failed requests, whole window
        self.restore(r)

    def frozen_bound(self) -> float:
        return BOUNDS["frozen_route_bfd" if self.bfd else "frozen_route_no_bfd"]

    def scenario_sigstop(self, r: Result) -> None:
        r.started = time.time()
        self.n1.signal(signal.SIGSTOP)
        self.cleanup_n1 = lambda: self.n1.signal(signal.SIGCONT)
        self.fault_route_change(r, only_n2, 10)
        bound = self.frozen_bound()
        r.check(r.route_change is not None and r.route_change <= bound,
                f"route removed after {r.route_change} s > {bound} s")
        # Frozen past the client's timeout: a node that stays hung, so every request caught
        # on it counts as failed whatever the moment of SIGCONT.
        time.sleep(2.5)
        r.ended = time.time()
        self.restore(r)  # SIGCONT

    def scenario_link_cut(self, r: Result) -> None:
        # Every packet on node 1's end of its router link dropped, both ways, in one
        # iptables-restore commit (the machine may have no tc classifier modules). The
        # clock starts when the rules are in place: spawning the command takes tens of ms.
        rules = "*filter\n-I INPUT -i r -j DROP\n-I OUTPUT -o r -j DROP\nCOMMIT\n"
        self.iptables_restore(rules)
        r.started = time.time()

        def heal() -> None:
            self.iptables_restore(rules.replace("-I ", "-D "))

        self.cleanup_n1 = heal
        self.fault_route_change(r, only_n2, 10)
        bound = self.frozen_bound()
        r.check(r.route_change is not None and r.route_change <= bound,
                f"route removed after {r.route_change} s > {bound} s")
        time.sleep(2.5)  # cut past the client's timeout, as for sigstop
        r.ended = time.time()
        self.restore(r)

    def iptables_restore(self, rules: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.ns.name("n1"), "iptables-restore",
                        "--noflush"], input=rules, text=True, check=True, timeout=10)

    def scenario_router_restart(self, r: Result) -> None:
        r.started = time.time()
        self.router.stop()
        gone = self.fib.wait(lambda hops: not hops, 10)
        r.check(gone, f"the VIP route stayed after the router stopped: {self.fib.now()}")
        self.router.start(timeout=15)
        self.fault_route_change(r, both, BOUNDS["recovered"], "both next hops back")
        time.sleep(0.5)
        r.ended = time.time()
        r.notes.append("no route while the router is down")
        self.restore(r)

    def ensure_n1(self, supervise: bool) -> None:
        """Node 1 supervised (--supervise) or not, as the scenario needs: restarted (and
        back to two next hops) only when it runs the other way."""
        if self.n1.alive and self.n1.supervised == supervise:
            return
        log(f"node 1 restarted {'with' if supervise else 'without'} --supervise")
        self.n1.signal(signal.SIGTERM)
        self.n1.wait_exit(15)
        self.ns.kill_processes(self.ns.name("n1"))  # a supervisor's child left behind
        self.n1.start(supervise)
        if not self.fib.wait(both, BOUNDS["recovered"]):
            raise RuntimeError(f"node 1 restarted, not back to two next hops: {self.fib.now()}")

    # -- the keep-alive scenarios: the long-lived clients, the FIB polled every 20 ms,
    # the router's BGP and BFD state changes counted
    def keepalive_scenario(self, r: Result, fault: Callable[[Result], None]) -> None:
        """Runs fault (which sets r.started and r.ended) under the keep-alive clients."""
        poll = FibPoll(self.ns.name("r"), f"{VIP}/32", FIB_POLL)
        marks = {role: node.log_size() for role, node in self.nodes.items()}
        self.keepalive_runs += 1
        clients = KeepAliveClients(self.ns, self.workdir, f"{r.scenario}-{self.keepalive_runs}")
        try:
            clients.wait_serving()
            time.sleep(0.5)
            before = self.router.transitions()
            fault(r)
            after = self.router.transitions()
        finally:
            clients.close()
            poll.close()
        if poll.error:
            r.problems.append(f"FIB poll failed: {poll.error}")
        self.measure_keepalive(r, clients, poll, marks, {k: after[k] - before[k] for k in after})

    def measure_keepalive(self, r: Result, clients: KeepAliveClients, poll: FibPoll,
                          marks: dict[str, int], transitions: dict[str, int]) -> None:
        requests, ends = clients.records()
        lo, hi = r.started - 0.2, r.ended
        owner = {conn: role for role, node in self.nodes.items()
                 for conn in node.served_connections(marks[role])}
        window = [q for q in requests if lo <= q.sent <= hi]
        failed = [q for q in window if q.result != "ok"]
        ended = [e for e in ends if lo <= e.at <= hi]
        before = {q.conn for q in requests if r.started - 1.0 <= q.sent < r.started
                  and q.result == "ok"}

        def per_node(conns) -> dict[str, int]:
            return {role: sum(1 for c in conns if owner.get(c) == role) for role in NODES}

        k = r.keepalive
        k.update(sent=len(window), failed=len(failed),
                 failures=dict(Counter(q.result for q in failed)),
                 spread=per_node(before),
                 broken=per_node([e.conn for e in ended if e.broken]),
                 closed=per_node([e.conn for e in ended if e.reason == "close"]),
                 fib_changes=len(poll.changes(lo, hi)),
                 fib_writes=sum(1 for at, _ in self.fib.events if lo <= at <= hi),
                 fib_poll_longest=poll.longest_interval, **transitions)
        r.notes.append(f"keep-alive connections n1 {k['spread']['n1']} / n2 {k['spread']['n2']}")
        # A request that meets the server's FIN as it leaves the client (the keep-alive
        # close race: the server closed the idle connection as the client wrote on it).
        closes = [e.at for e in ended if e.reason == "close"]
        raced = [e for e in ended if e.broken and any(abs(e.at - at) <= CLOSE_RACE for at in closes)]
        if raced:
            k["close_race"] = len(raced)
            r.notes.append(f"{len(raced)} broken within {CLOSE_RACE * 1000:.0f} ms of the server "
                           "closing idle connections (the keep-alive close race)")
        if "back" in k:  # stop-start: connections the returning node's announcement reset
            k["broken_on_return"] = per_node([e.conn for e in ended if e.broken
                                              and e.at >= k["back"]])

    def scenario_stop_start(self, r: Result) -> None:
        """node-back under the keep-alive clients: SIGTERM, about a second away, start."""
        def fault(r: Result) -> None:
            r.started = time.time()
            self.n1.signal(signal.SIGTERM)
            self.fault_route_change(r, only_n2, 5)
            code = self.n1.wait_exit(15)
            r.check(code == 0, f"node 1 exit code {code} after SIGTERM")
            gone = self.fib.first_after(r.started, only_n2) or time.time()
            time.sleep(max(0.0, gone + 1.0 - time.time()))  # away a second at least
            self.n1.start()
            if not self.fib.wait(both, BOUNDS["recovered"]):
                r.problems.append("node 1 started but its route did not come back")
            back = self.fib.first_after(r.started, both)
            if back:
                r.keepalive["back"] = back
                r.notes.append(f"away {back - gone:.2f} s")
            time.sleep(2.0)  # every connection sends again: a rehashed one is reset
            r.ended = time.time()
            r.late_failures_after = r.started

        self.keepalive_scenario(r, fault)
        self.restore(r)

    # -- the upgrade scenarios: node 1 replaces its process; nothing may be seen outside
    def check_untouched(self, r: Result) -> None:
        """What an upgrade must leave as it was: every request answered, no connection
        reset, the router's FIB entry, its BGP and BFD sessions."""
        k = r.keepalive
        r.late_failures_after = r.started  # the new-connection client: none may fail
        r.check(k["failed"] == 0, f"{k['failed']} keep-alive request(s) failed: {k['failures']}")
        r.check(sum(k["broken"].values()) == 0, f"keep-alive connections broken: {k['broken']}")
        r.check(k["fib_changes"] == 0 and k["fib_writes"] == 0,
                f"the router's FIB changed: {k['fib_changes']} change(s) polled, "
                f"{k['fib_writes']} route write(s)")
        r.check(k["bgp"] == 0, f"{k['bgp']} BGP state change(s) at the router")
        r.check(not self.bfd or k["bfd"] == 0, f"{k['bfd']} BFD state change(s) at the router")

    def serving_pid(self) -> Optional[int]:
        return self.n1.status().get("pid")

    def wait_upgrade(self, r: Result, before: dict, mark: int) -> dict:
        """node 1's status once its upgrade finished (the serving pid changed) or failed
        (its upgrade record changed and is no longer in progress, or its log since `mark`
        says the upgrade failed)."""
        deadline = time.monotonic() + UPGRADE_TIMEOUT
        while time.monotonic() < deadline:
            now = self.n1.status()
            done = now.get("pid") not in (None, before.get("pid"))
            record = now.get("upgrade") or {}
            # An old process that handed over may still answer (its record says ok, its
            # pid is the old one): wait for the new one's answer.
            failed = record != before.get("upgrade") and not upgrade_in_progress(record) \
                and record.get("last_result") != "ok"
            if done or failed:
                return now
            if re.search(r"upgrade.*fail", self.n1.log(mark), re.I):
                time.sleep(0.2)  # the status catches up with the log
                return self.n1.status()
            time.sleep(0.1)
        r.problems.append(f"no upgrade result within {UPGRADE_TIMEOUT:.0f} s: "
                          f"{self.n1.status().get('upgrade')}")
        return self.n1.status()

    def scenario_upgrade_takeover(self, r: Result) -> None:
        """A second process started beside node 1 with --take-over (a new container)."""
        def fault(r: Result) -> None:
            old, old_pid = self.n1.process, self.serving_pid()
            r.started = time.time()
            new = self.n1.spawn([self.n1.binary, "-c", str(self.n1.config_path),
                                 "--take-over", str(self.n1.upgrade_socket)])
            try:
                code = old.wait(timeout=UPGRADE_TIMEOUT)
            except subprocess.TimeoutExpired:
                code = None
            r.check(code == 0, f"the old process's exit status {code}")
            r.check(new.poll() is None, f"the new process exited with {new.poll()}")
            self.n1.process = new
            pid = self.serving_pid()
            r.check(pid == new.pid and pid != old_pid, f"serving pid {pid}: old {old_pid}, "
                    f"new {new.pid}")
            time.sleep(2.0)  # every connection sends again, to the new process
            r.ended = time.time()

        self.keepalive_scenario(r, fault)
        self.check_untouched(r)
        self.restore(r)

    def scenario_upgrade_inplace(self, r: Result) -> None:
        """SIGUSR2 to node 1's supervisor: the binary at the same path takes over."""
        def fault(r: Result) -> None:
            before, mark = self.n1.status(), self.n1.log_size()
            r.started = time.time()
            self.n1.signal(signal.SIGUSR2)
            after = self.wait_upgrade(r, before, mark)
            r.check(after.get("pid") not in (None, before.get("pid")),
                    f"serving pid {after.get('pid')} (before: {before.get('pid')}); "
                    f"upgrade {after.get('upgrade')}")
            r.check(self.n1.alive, "the supervisor exited")
            r.notes.append(f"{(time.time() - r.started):.2f} s to the new pid")
            time.sleep(2.0)
            r.ended = time.time()

        self.keepalive_scenario(r, fault)
        self.check_untouched(r)
        self.restore(r)

    def failed_upgrade(self, r: Result, label: str, trigger: Callable[[], None]) -> None:
        """An upgrade that must fail: the serving process, its pid and everything else
        stay; the reason is in the status."""
        before, mark = self.n1.status(), self.n1.log_size()
        trigger()
        after = self.wait_upgrade(r, before, mark)
        r.check(after.get("pid") == before.get("pid"),
                f"{label}: serving pid {after.get('pid')}, was {before.get('pid')}")
        r.check(self.n1.alive, f"{label}: the supervisor exited")
        r.notes.append(f"{label}: {json.dumps(after.get('upgrade'))}")

    def scenario_upgrade_bad_binary(self, r: Result) -> None:
        """SIGUSR2 while the binary's path holds one that exits 1, then one that crashes."""
        path = self.n1.supervised_binary
        good = path.with_name("contrail-lb.good")

        def swap(script: str) -> None:
            bad = path.with_name("contrail-lb.bad")
            bad.write_text(script)
            bad.chmod(0o755)
            os.replace(bad, path)

        def fault(r: Result) -> None:
            shutil.copy(path, good)
            self.cleanup_n1 = lambda: os.replace(good, path) if good.exists() else None
            r.started = time.time()
            swap("#!/bin/sh\necho 'a bad binary: exit 1' >&2\nexit 1\n")
            self.failed_upgrade(r, "exits 1", lambda: self.n1.signal(signal.SIGUSR2))
            swap("#!/bin/sh\nkill -SEGV $$\n")
            self.failed_upgrade(r, "crashes", lambda: self.n1.signal(signal.SIGUSR2))
            os.replace(good, path)
            time.sleep(2.0)
            r.ended = time.time()

        self.keepalive_scenario(r, fault)
        self.check_untouched(r)
        self.restore(r)

    def scenario_upgrade_bad_config(self, r: Result) -> None:
        """POST /api/v1/upgrade while the configuration file is invalid; then a --take-over
        process with an invalid configuration beside it."""
        config = self.n1.config_path
        saved = config.read_text()
        bad = self.workdir / "bad.yaml"
        bad.write_text("services: [ {name: api, listen: [\"not an address\"] }\n")

        def post() -> None:
            # It answers once the outcome is known (docs/admin.md: within about 10 s).
            code, body = self.n1.admin("POST", "/api/v1/upgrade", timeout=UPGRADE_TIMEOUT)
            r.notes.append(f"POST /api/v1/upgrade: {code} {body.strip()[:200]}")
            r.check(code not in (0, 200), f"POST /api/v1/upgrade with a bad config: {code}")

        def fault(r: Result) -> None:
            self.cleanup_n1 = lambda: config.write_text(saved)
            r.started = time.time()
            config.write_text(bad.read_text())
            self.failed_upgrade(r, "in place", post)
            config.write_text(saved)
            pid = self.serving_pid()
            taker = self.n1.spawn([self.n1.binary, "-c", str(bad), "--take-over",
                                   str(self.n1.upgrade_socket)])
            try:
                code = taker.wait(timeout=UPGRADE_TIMEOUT)
            except subprocess.TimeoutExpired:
                taker.kill()
                code = None
            r.check(code not in (0, None), f"--take-over with a bad config: exit {code}")
            r.check(self.serving_pid() == pid, "--take-over with a bad config: serving pid changed")
            r.notes.append(f"--take-over: exit {code}")
            time.sleep(2.0)
            r.ended = time.time()

        self.keepalive_scenario(r, fault)
        self.check_untouched(r)
        self.restore(r)

    def scenario_node_back(self, r: Result) -> None:
        self.n1.signal(signal.SIGTERM)
        self.n1.wait_exit(15)
        if not self.fib.wait(only_n2, 10):
            r.problems.append("node 1 stopped but its route stayed")
        time.sleep(0.5)
        mark = self.n1.log_size()
        r.started = time.time()
        self.n1.start()
        self.fault_route_change(r, both, BOUNDS["recovered"], "both next hops back")
        time.sleep(1.0)
        r.ended = time.time()
        first_check = self.n1.first_log_time(r"backend api/\S+ .* is UP", mark)
        back = self.fib.first_after(r.started, both)
        if first_check and back:
            shared_after = back - first_check
            r.notes.append(f"FIB shared {shared_after:+.2f} s after the first passing check")
            r.check(shared_after <= BOUNDS["node_back_shared"],
                    f"traffic shared {shared_after:.2f} s after the first passing check "
                    f"> {BOUNDS['node_back_shared']} s")
            r.late_failures_after = r.started  # zero failed requests on the way back
        else:
            r.problems.append("no passing check logged or route not back")
        self.restore(r)


# ---- analysis ------------------------------------------------------------------------


REHASH_WINDOW = (0.3, 0.1)  # a reset sent this long before / after a FIB change


def analyse(results: list[Result], client: Client, nodes: dict[str, Node],
            fib_changes: list[float]) -> None:
    """Fills in each result's figures. A reset of a request sent around a FIB change is the
    router moving a connection being opened to the other node when its ECMP set changes
    (the other node answers RST): listed, and not held against contrail-lb."""
    requests = client.requests()
    served = {role: node.served() for role, node in nodes.items()}
    for r in results:
        window = [q for q in requests if r.started - 0.2 <= q.sent <= r.ended]
        r.sent = len(window)
        bad = [q for q in window if q.result != "ok"]
        r.failed = len(bad)
        for q in bad:
            r.failures[q.result] = r.failures.get(q.result, 0) + 1
        # Longest time without a successful answer, inside the window (answers a frozen
        # node gives after SIGCONT would otherwise stretch it past the window's end).
        done = sorted(q.done for q in window if q.result == "ok" and q.done <= r.ended)
        edges = [r.started] + done + [r.ended]
        r.longest_gap = max(b - a for a, b in zip(edges, edges[1:])) if len(edges) > 1 else 0
        slow = [q for q in window if q.result == "ok" and q.done - q.sent > 1.0]
        if slow:
            r.notes.append(f"{len(slow)} answered after more than 1 s")
        rehashed = [q for q in bad if r.late_failures_after is not None and q.result == "reset"
                    and any(change - REHASH_WINDOW[0] <= q.sent <= change + REHASH_WINDOW[1]
                            for change in fib_changes)]
        if rehashed:
            r.notes.append(f"{len(rehashed)} reset by the ECMP rehash")
        if r.late_failures_after is not None:
            late = [q for q in bad if q.sent >= r.late_failures_after and q not in rehashed]
            r.check(not late, f"{len(late)} failed request(s) where none may fail: "
                              + ", ".join(sorted({q.result for q in late})))
        if r.scenario == "healthy":
            seqs = {q.seq for q in window if q.result == "ok"}
            shares = {role: len(seqs & s) for role, s in served.items()}
            total = max(1, sum(shares.values()))
            r.notes = [f"served n1 {shares['n1'] * 100 // total}% / n2 "
                       f"{shares['n2'] * 100 // total}%"]
            r.check(r.failed == 0, f"{r.failed} failed requests while healthy")
            r.check(min(shares.values()) >= 0.15 * total, f"traffic not shared: {shares}")
        if r.scenario == "node-back":
            back_seqs = [q for q in window if q.seq in served["n1"]]
            if back_seqs:
                r.notes.append(f"n1 serves again at +{back_seqs[0].sent - r.started:.2f} s")


def table(results: list[Result]) -> str:
    lines = ["| router | BFD | scenario | route change | failed / sent | longest gap | notes |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        change = f"{r.route_label} {r.route_change:.3f} s" if r.route_change is not None else "-"
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.failures.items()))
        failed = f"{r.failed} / {r.sent}" + (f" ({kinds})" if kinds else "")
        notes = "; ".join(r.notes + [f"**FAIL: {p}**" for p in r.problems] +
                          ([f"skipped: {r.skipped}"] if r.skipped else []))
        if r.skipped:
            failed = "-"
        gap = "-" if r.skipped else f"{r.longest_gap * 1000:.0f} ms"
        lines.append(f"| {r.router} | {'on' if r.bfd else 'off'} | {r.scenario} | {change} | "
                     f"{failed} | {gap} | {notes} |")
    return "\n".join(lines)


def keepalive_table(results: list[Result]) -> str:
    """The keep-alive scenarios: what the new-connection client and the long-lived
    connections saw, what the router's FIB and sessions did."""
    def pair(counts: dict) -> str:
        return " / ".join(str(counts.get(role, 0)) for role in NODES)

    lines = ["| router | BFD | scenario | failed, new connections | failed / sent, keep-alive "
             "| connections broken n1 / n2 | broken on return n1 / n2 | closed by server n1 / n2 "
             "| FIB changes (20 ms poll) | FIB writes | BGP transitions | BFD transitions |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        k = r.keepalive
        if r.skipped or not k:
            if r.scenario in KEEPALIVE_SCENARIOS:
                lines.append(f"| {r.router} | {'on' if r.bfd else 'off'} | {r.scenario} | "
                             f"{r.skipped or 'not measured'} |" + " |" * 8)
            continue
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(k["failures"].items()))
        lines.append(
            f"| {r.router} | {'on' if r.bfd else 'off'} | {r.scenario} | {r.failed} | "
            f"{k['failed']} / {k['sent']}{f' ({kinds})' if kinds else ''} | {pair(k['broken'])} | "
            f"{pair(k['broken_on_return']) if 'broken_on_return' in k else '-'} | "
            f"{pair(k['closed'])} | {k['fib_changes']} | {k['fib_writes']} | {k['bgp']} | "
            f"{k['bfd'] if r.bfd else '-'} |")
    return "\n".join(lines)


def side_by_side(results: list[Result]) -> str:
    """Per router and scenario, the figures without and with BFD next to each other."""
    def cell(r: Optional[Result]) -> str:
        if r is None or not r.started:
            return "- | - | -"
        change = f"{r.route_change:.2f} s" if r.route_change is not None else "-"
        return f"{change} | {r.failed} | {r.longest_gap * 1000:.0f} ms"

    by_key = {(r.router, r.scenario, r.bfd): r for r in results}
    lines = ["| router | scenario | route change | failed | longest gap "
             "| route change, BFD | failed, BFD | longest gap, BFD |",
             "|---|---|---|---|---|---|---|---|"]
    for router, scenario in dict.fromkeys((r.router, r.scenario) for r in results):
        lines.append(f"| {router} | {scenario} | {cell(by_key.get((router, scenario, False)))} "
                     f"| {cell(by_key.get((router, scenario, True)))} |")
    return "\n".join(lines)


# ---- main ----------------------------------------------------------------------------


def skip(message: str) -> None:
    print(f"SKIPPED: {message}", flush=True)
    sys.exit(SKIPPED)


def binaries() -> tuple[str, str]:
    build = REPO / "build"
    clb = os.environ.get("CLB_BIN") or str(build / "contrail-lb")
    backend = os.environ.get("CLB_BACKEND_BIN") or str(build / "clb-test-backend")
    for path in (clb, backend):
        if not os.access(path, os.X_OK):
            sys.exit(f"testbed: {path} is not built (bash scripts/build.sh, or set CLB_BIN "
                     "and CLB_BACKEND_BIN)")
    return clb, backend


def can_create_namespaces() -> Optional[str]:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not shutil.which("ip") or not shutil.which("iptables"):
        return "needs iproute2 and iptables"
    probe = f"clbha{os.getpid()}probe"
    try:
        run(["ip", "netns", "add", probe])
    except (RuntimeError, OSError) as error:
        return f"cannot create a network namespace: {error}"
    run(["ip", "netns", "del", probe], check=False)
    return None


def upgrade_in_progress(record: dict) -> bool:
    """Whether a status's upgrade record says one is under way."""
    return str(record.get("state", "")).lower() not in ("", "idle", "none", "done", "failed",
                                                         "succeeded", "ok")


def upgrade_missing(binary: str) -> str:
    """Why this contrail-lb build cannot run the upgrade scenarios ('' when it can)."""
    shown = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    return "" if "--take-over" in shown.stdout + shown.stderr else \
        "this contrail-lb build has no --take-over"


def supports_bfd(binary: str, workdir: Path) -> bool:
    """Whether this contrail-lb build accepts bgp.bfd (BFD may not have landed)."""
    config = workdir / "bfd-probe.yaml"
    config.write_text(yaml.safe_dump({
        "services": [{"name": "api", "listen": ["127.0.0.1:1"], "backends": [
            {"name": "b", "address": "127.0.0.1:2"}]}],
        "bgp": {"router_id": "10.0.0.1", "local_as": 1, "bfd": dict(BFD),
                "peers": [{"address": "10.0.0.2", "remote_as": 2}],
                "vips": [{"prefix": "10.0.0.100/32"}]}}))
    return subprocess.run([binary, "-c", str(config), "--check"], capture_output=True).returncode == 0


def bed_scenarios(scenarios: list[str], bfd: bool, bfd_modes: list[bool],
                  named: bool) -> list[str]:
    """The keep-alive scenarios run in the BFD runs only when the bed runs both modes,
    unless they were named."""
    if named or bfd or len(bfd_modes) == 1:
        return scenarios
    return [s for s in scenarios if s not in KEEPALIVE_SCENARIOS]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"default: all ({', '.join(SCENARIOS)})")
    parser.add_argument("--router", choices=["bird", "frr", "both"], default="both")
    parser.add_argument("--bfd", choices=["off", "on", "both"], default="both",
                        help="'both' runs BFD only when this build supports bgp.bfd")
    parser.add_argument("--deadline", type=float, default=0,
                        help="stop starting scenarios after this many seconds (a failure)")
    parser.add_argument("--withdraw-wait", metavar="DURATION",
                        help="set the nodes' bgp.withdraw_wait (default: the built-in 1s)")
    parser.add_argument("--json", help="write the results here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    scenarios = args.scenarios or SCENARIOS
    if unknown := [s for s in scenarios if s not in SCENARIOS]:
        parser.error(f"unknown scenario {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")

    if reason := can_create_namespaces():
        skip(reason)
    clb, backend = binaries()
    routers = ["bird", "frr"] if args.router == "both" else [args.router]
    missing = {"bird": [bgp_peers.BIRD, bgp_peers.BIRDC],
               "frr": [ZEBRA, BFDD, bgp_peers.FRR_BGPD, bgp_peers.VTYSH]}
    for router in list(routers):
        if not bgp_peers.installed(*missing[router]):
            log(f"{router}: not installed ({', '.join(missing[router])}); its runs are skipped")
            routers.remove(router)
    if not routers:
        skip("neither BIRD 2 nor FRR is installed")

    workdir = Path(tempfile.mkdtemp(prefix="clb-ha-"))
    bfd_modes = {"off": [False], "on": [True], "both": [False, True]}[args.bfd]
    if True in bfd_modes and not supports_bfd(clb, workdir):
        if args.bfd == "on":
            skip("this contrail-lb build does not accept bgp.bfd")
        log("this contrail-lb build does not accept bgp.bfd: runs without BFD only")
        bfd_modes = [False]

    Namespaces.remove_stale()
    results: list[Result] = []
    ns = Namespaces()
    beds: list[Bed] = []

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(ns.close)
    started = time.monotonic()
    try:
        for router in routers:
            for bfd in bfd_modes:
                bed_dir = workdir / f"{router}-bfd-{'on' if bfd else 'off'}"
                bed_dir.mkdir()
                extra_bgp = {"withdraw_wait": args.withdraw_wait} if args.withdraw_wait else {}
                bed = Bed(ns, router, bfd, bed_dir, clb, backend, extra_bgp)
                beds.append(bed)
                bed_results: list[Result] = []
                try:
                    if args.deadline and time.monotonic() - started > args.deadline:
                        raise RuntimeError(f"not run: past --deadline {args.deadline:.0f} s")
                    bed.up()
                    for name in bed_scenarios(scenarios, bfd, bfd_modes, bool(args.scenarios)):
                        if args.deadline and time.monotonic() - started > args.deadline:
                            late = Result(router, bfd, name)
                            late.problems.append(f"not run: past --deadline {args.deadline:.0f} s")
                            bed_results.append(late)
                            continue
                        bed_results.append(bed.run(name))
                except Exception as error:  # noqa: BLE001 - reported as a failed scenario
                    failed = Result(router, bfd, "(bed)")
                    failed.problems.append(f"{type(error).__name__}: {str(error)[:3000]}")
                    bed_results.append(failed)
                finally:
                    if bed.client:
                        time.sleep(2.5)  # the client's last requests finish (2 s timeout)
                        bed.client.close()
                        analyse([r for r in bed_results if r.started], bed.client, bed.nodes,
                                [at for at, _ in bed.fib.events])
                    if any(r.problems for r in bed_results):
                        bed.print_diagnostics()
                    bed.down()
                results += bed_results
                for r in bed_results:
                    for problem in r.problems:
                        log(f"FAIL {router} bfd={bfd} {r.scenario}: {problem}")
    except KeyboardInterrupt as interrupted:
        log(f"interrupted ({interrupted}); cleaning up")
        for bed in beds:
            bed.down()
        return 130
    finally:
        ns.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"work directory kept: {workdir}")

    print()
    print(table(results))
    if any(r.scenario in KEEPALIVE_SCENARIOS for r in results):
        print()
        print(keepalive_table(results))
    if len({r.bfd for r in results}) == 2:
        print()
        print(side_by_side(results))
    print(f"\n{len(results)} runs in {time.monotonic() - started:.0f} s; "
          f"{sum(1 for r in results if r.problems)} with problems")
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=1))
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
