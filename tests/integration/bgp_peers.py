"""Real BGP daemons as peers of contrail-lb: BIRD 2, GoBGP 3 and FRR 8 bgpd.

Each daemon runs in the foreground in its own session (process group) with its config,
control socket, pid file and log in a temp directory of its own, listening on a loopback
port passively: contrail-lb dials out to it. Reading state goes through the daemon's own
CLI (birdc, gobgp, vtysh), bounded by a timeout, and is turned into a `Route` so tests
compare values, not CLI text.

    with Bird(port=free_port(), local_as=65001, remote_as=64512) as bird:
        route = clb.wait_until(lambda: bird.route("10.0.0.100/32"))
        assert route.as_path == [64512]

Every daemon started here is also registered for an atexit kill, so a test that dies
half-way leaves nothing running. The helpers know these facts (docs/bgp.md "Interop
notes", shared/PEERS.md beside the repository):
- BIRD needs `multihop` for an eBGP peer on loopback, `hold time 3; min hold time 3;
  connect retry time 1; error wait time 1,3;` to recover quickly.
- GoBGP and FRR refuse a loopback NEXT_HOP (martian), so the VIPs they receive need a
  configured `next_hop`; they listen on 127.0.0.2 so their address differs from ours.
- FRR announces/accepts nothing on eBGP without `no bgp ebgp-requires-policy`.
"""

from __future__ import annotations

import atexit
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

BIRD = "/usr/sbin/bird"
BIRDC = "/usr/sbin/birdc"
GOBGPD = "/usr/bin/gobgpd"
GOBGP = "/usr/bin/gobgp"
FRR_BGPD = "/usr/lib/frr/bgpd"
VTYSH = "/usr/bin/vtysh"
SETPRIV = "/usr/bin/setpriv"

CLI_TIMEOUT = 5.0  # seconds for one CLI call


def installed(*paths: str) -> bool:
    return all(os.access(path, os.X_OK) for path in paths)


# Below the kernel's ephemeral range (32768-60999 by default), so no outgoing connection on
# the machine takes the port between this choice and the daemon's bind; above the fixed
# ports the unit interop tests use (179xx).
_DAEMON_PORTS = range(21000, 32000)
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port for a daemon (or contrail-lb's BGP listener) to listen on: nothing listens
    there now, and it was never handed out before by this process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(1000):
        port = random.choice(_DAEMON_PORTS)
        if port in _handed_out:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {_DAEMON_PORTS} on {host}")


@dataclass
class Route:
    """One path to a prefix, as the daemon holds it."""

    prefix: str
    next_hop: str
    as_path: list[int] = field(default_factory=list)
    med: Optional[int] = None
    local_pref: Optional[int] = None
    communities: list[str] = field(default_factory=list)  # "64512:100"
    origin: str = ""  # "IGP", "EGP", "incomplete"


# ---- processes ----------------------------------------------------------------------

_running: set["Daemon"] = set()


def _kill_leftovers() -> None:
    for daemon in list(_running):
        daemon.stop(timeout=1.0)


atexit.register(_kill_leftovers)


def run_cli(argv: list[str], timeout: float = CLI_TIMEOUT) -> str:
    """Runs a CLI command, returns stdout + stderr ('' when it hangs past timeout)."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return ""
    return (done.stdout + done.stderr).decode(errors="replace")


class Daemon:
    """A routing daemon in the foreground in its own process group. Subclasses write
    the config (configure) and say how to run it (argv)."""

    name = "daemon"

    def __init__(self, port: int, local_as: int, remote_as: int, tag: str) -> None:
        self.port = port
        self.local_as = local_as
        self.remote_as = remote_as
        self.dir = Path(tempfile.mkdtemp(prefix=f"clb-e2e-{tag}-"))
        os.chmod(self.dir, 0o777)  # FRR may look at it as another user
        self.stdout_path = self.dir / "stdout.log"
        self.process: Optional[subprocess.Popen] = None

    # -- subclass hooks
    def configure(self) -> None:
        raise NotImplementedError

    def argv(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        """The daemon answers its CLI."""
        raise NotImplementedError

    # -- lifecycle
    def start(self, timeout: float = 10.0) -> "Daemon":
        """Starts the daemon and waits until its CLI answers. On a running daemon it does
        nothing (a second process would be left behind); restart() restarts."""
        if self.alive:
            return self
        self.configure()
        # Its own session, so that stop() reaches whatever it forks; and SIGKILL when this
        # process dies (a test runner killed by a timeout), which no atexit hook sees.
        argv = self.argv()
        if os.access(SETPRIV, os.X_OK):
            argv = [SETPRIV, "--pdeathsig", "KILL", "--", *argv]
        with open(self.stdout_path, "ab") as out:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=out, start_new_session=True)
        _running.add(self)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.output()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not answer its CLI in {timeout}s:\n"
                                   f"{self.output()}")
            time.sleep(0.05)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.alive:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM to its process group, SIGKILL after timeout."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # helpers it may have forked
        except (ProcessLookupError, PermissionError):
            pass
        _running.discard(self)

    def restart(self, timeout: float = 10.0) -> "Daemon":
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        """Stops the daemon and removes its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Daemon":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- reading state (subclasses)
    def route(self, prefix: str) -> Optional[Route]:
        """The daemon's best path to exactly `prefix`, or None."""
        raise NotImplementedError

    def established(self) -> bool:
        raise NotImplementedError

    def session_mark(self) -> Any:
        """A value that changes whenever the session is (re-)established: compare two
        readings to prove there was no flap in between."""
        raise NotImplementedError

    def dump(self) -> str:
        """The daemon's view for a failure message."""
        raise NotImplementedError

    def output(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")[-8000:]
        except FileNotFoundError:
            return ""

    def diagnostics(self) -> str:
        return (f"--- {self.name} state ---\n{self.dump()}\n"
                f"--- {self.name} output ---\n{self.output()}")

    def __repr__(self) -> str:
        return f"<{self.name} AS{self.local_as} port {self.port}>"


def _community_text(value: int) -> str:
    return f"{value >> 16}:{value & 0xFFFF}"


# ---- BIRD 2 -------------------------------------------------------------------------


class Bird(Daemon):
    """BIRD 2 with one passive BGP protocol `lb` for a neighbour at `neighbor` (our
    speaker), listening on listen:port. Its log file records events, states and routes
    with millisecond timestamps, so tests can check the order of what it saw."""

    name = "BIRD"

    def __init__(self, port: int, local_as: int, remote_as: int, listen: str = "127.0.0.1",
                 neighbor: str = "127.0.0.1", ipv6: bool = False,
                 neighbor_port: Optional[int] = None, password: str = "",
                 extended_next_hop: bool = False) -> None:
        """neighbor_port: also dial the neighbour there (not passive); password: TCP MD5;
        extended_next_hop: the ipv6 channel accepts IPv4 (and IPv4-mapped) next hops."""
        super().__init__(port, local_as, remote_as, "bird")
        self.listen = listen
        self.neighbor = neighbor
        self.ipv6 = ipv6
        self.neighbor_port = neighbor_port
        self.password = password
        self.extended_next_hop = extended_next_hop
        self.config_path = self.dir / "bird.conf"
        self.socket_path = self.dir / "bird.ctl"
        self.log_path = self.dir / "bird.log"

    def configure(self) -> None:
        port = f"port {self.neighbor_port}" if self.neighbor_port else ""
        passive = "connect delay time 1; " if self.neighbor_port else "passive on; "
        channels = "  ipv4 { import all; export none; };\n"
        if self.ipv6:
            extended = " extended next hop on;" if self.extended_next_hop else ""
            channels += f"  ipv6 {{ import all; export none;{extended} }};\n"
        self.config_path.write_text(
            "router id 10.255.0.2;\n"
            f'log "{self.log_path}" all;\n'
            "timeformat base iso long ms;\n"
            "timeformat log iso long ms;\n"
            "timeformat protocol iso long ms;\n"
            "timeformat route iso long ms;\n"
            "protocol device {}\n"
            "protocol bgp lb {\n"
            f"  local {self.listen} port {self.port} as {self.local_as};\n"
            f"  neighbor {self.neighbor} {port} as {self.remote_as};\n"
            "  hold time 3; min hold time 3; connect retry time 1; error wait time 1,3;\n"
            f"  {passive}multihop;\n"
            + (f'  password "{self.password}";\n' if self.password else "") +
            "  debug { events, states, routes };\n"
            f"{channels}"
            "}\n")

    def argv(self) -> list[str]:
        return [BIRD, "-f", "-c", str(self.config_path), "-s", str(self.socket_path),
                "-P", str(self.dir / "bird.pid")]

    def cli(self, command: str) -> str:
        return run_cli([BIRDC, "-s", str(self.socket_path), *command.split()])

    def ready(self) -> bool:
        if "ready" not in self.cli("show status"):
            return False
        if "No listening socket" in self.cli("show protocols lb"):
            raise RuntimeError(f"BIRD could not listen on {self.listen} port {self.port}")
        return True

    def protocol(self) -> str:
        return self.cli("show protocols all lb")

    def established(self) -> bool:
        return bool(re.search(r"^lb\s+BGP\s+.*\bup\b.*Established", self.cli("show protocols lb"),
                              re.M))

    def session_mark(self) -> Any:
        """The time the protocol last changed state ("since" column)."""
        return bird_session_mark(self.cli("show protocols lb"))

    def last_error(self) -> str:
        found = re.search(r"Last error:\s*(.*)", self.protocol())
        return found.group(1).strip() if found else ""

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def dump(self) -> str:
        return self.protocol() + self.cli("show route all")

    def route(self, prefix: str) -> Optional[Route]:
        return parse_bird_route(self.cli(f"show route all {prefix}"), prefix)


@dataclass(frozen=True)
class BirdSessionMark:
    """BIRD's state, "since" and info for protocol lb. BIRD prints "since" as the real time
    of a monotonic instant, so two readings of one unchanged state may differ by a
    millisecond of clock adjustment; a re-established session moves it by far more."""
    state: str
    since: datetime.datetime
    info: str

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, BirdSessionMark) and (self.state, self.info) ==
                (other.state, other.info) and abs(self.since - other.since).total_seconds() < 0.05)


def bird_session_mark(show_protocols: str) -> Optional[BirdSessionMark]:
    found = re.search(r"^lb\s+BGP\s+\S+\s+(\S+)\s+(\S+ \S+)\s+(\S+)", show_protocols, re.M)
    if not found:
        return None
    state, since, info = found.groups()
    return BirdSessionMark(state, datetime.datetime.strptime(since, "%Y-%m-%d %H:%M:%S.%f"), info)


def parse_bird_route(text: str, prefix: str) -> Optional[Route]:
    """The first (best) route of `birdc show route all PREFIX` output."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.split()[:1] == [prefix]), None)
    if start is None:
        return None
    route = Route(prefix=prefix, next_hop="")
    for line in lines[start + 1:]:
        if line and not line[0].isspace():
            break  # the next route
        key, _, value = line.strip().partition(": ")
        if key == "BGP.next_hop":
            route.next_hop = value.split()[0]
        elif key == "BGP.as_path":
            route.as_path = [int(asn) for asn in value.split()]
        elif key == "BGP.med":
            route.med = int(value)
        elif key == "BGP.local_pref":
            route.local_pref = int(value)
        elif key == "BGP.origin":
            route.origin = value
        elif key == "BGP.community":
            route.communities = [f"{a}:{b}" for a, b in re.findall(r"\((\d+),\s*(\d+)\)", value)]
    return route


# ---- GoBGP 3 ------------------------------------------------------------------------


class GoBgp(Daemon):
    """gobgpd with one passive neighbour (our speaker at `neighbor`), listening on
    listen:port; its gRPC API (for the gobgp CLI) on 127.0.0.1:api_port."""

    name = "GoBGP"

    def __init__(self, port: int, api_port: int, local_as: int, remote_as: int,
                 listen: str = "127.0.0.2", neighbor: str = "127.0.0.1",
                 ipv6: bool = False) -> None:
        super().__init__(port, local_as, remote_as, "gobgp")
        self.api_port = api_port
        self.listen = listen
        self.neighbor = neighbor
        self.ipv6 = ipv6
        self.config_path = self.dir / "gobgpd.toml"

    def configure(self) -> None:
        families = ["ipv4-unicast"] + (["ipv6-unicast"] if self.ipv6 else [])
        afi_safis = "".join(
            "  [[neighbors.afi-safis]]\n"
            "    [neighbors.afi-safis.config]\n"
            f'      afi-safi-name = "{family}"\n' for family in families)
        self.config_path.write_text(
            "[global.config]\n"
            f"  as = {self.local_as}\n"
            '  router-id = "10.255.0.3"\n'
            f"  port = {self.port}\n"
            f'  local-address-list = ["{self.listen}"]\n'
            "[[neighbors]]\n"
            "  [neighbors.config]\n"
            f'    neighbor-address = "{self.neighbor}"\n'
            f"    peer-as = {self.remote_as}\n"
            "  [neighbors.timers.config]\n"
            "    hold-time = 3\n"
            "    keepalive-interval = 1\n"
            "    connect-retry = 1\n"
            "    idle-hold-time-after-reset = 1\n"
            "  [neighbors.transport.config]\n"
            "    passive-mode = true\n"
            f"{afi_safis}")

    def argv(self) -> list[str]:
        return [GOBGPD, "-f", str(self.config_path), "-p", "--pprof-disable",
                "--api-hosts", f"127.0.0.1:{self.api_port}"]

    def cli(self, *args: str) -> str:
        return run_cli([GOBGP, "-p", str(self.api_port), *args])

    def ready(self) -> bool:
        return '"asn"' in self.cli("global", "-j")

    def neighbor_state(self) -> dict:
        text = self.cli("neighbor", self.neighbor, "-j")
        try:
            return json.loads(text)
        except ValueError:
            return {}

    def established(self) -> bool:
        return self.neighbor_state().get("state", {}).get("session_state") == 6

    def session_mark(self) -> Any:
        """The neighbour's Established time (uptime, seconds since the epoch) and flop count."""
        state = self.neighbor_state()
        uptime = state.get("timers", {}).get("state", {}).get("uptime")
        return (uptime, state.get("state", {}).get("flops")) if uptime else None

    def dump(self) -> str:
        return (self.cli("neighbor", self.neighbor) + self.cli("global", "rib", "-a", "ipv4")
                + self.cli("global", "rib", "-a", "ipv6"))

    def route(self, prefix: str) -> Optional[Route]:
        family = "ipv6" if ":" in prefix else "ipv4"
        text = self.cli("global", "rib", "-a", family, prefix, "-j")
        try:
            table = json.loads(text)
        except ValueError:
            return None
        paths = table.get(prefix) if isinstance(table, dict) else None
        if not paths:
            return None
        best = next((p for p in paths if p.get("best")), paths[0])
        return parse_gobgp_attrs(prefix, best.get("attrs", []))


def parse_gobgp_attrs(prefix: str, attrs: list[dict]) -> Route:
    route = Route(prefix=prefix, next_hop="")
    for attr in attrs:
        kind = attr.get("type")
        if kind == 1:
            route.origin = {0: "IGP", 1: "EGP", 2: "incomplete"}.get(attr.get("value"), "?")
        elif kind == 2:
            for segment in attr.get("as_paths") or []:
                route.as_path += segment.get("asns") or []
        elif kind == 3:
            route.next_hop = attr["nexthop"]
        elif kind == 4:
            route.med = attr.get("metric")
        elif kind == 5:
            route.local_pref = attr.get("value")
        elif kind == 8:
            route.communities = [_community_text(c) for c in attr.get("communities") or []]
        elif kind == 14:  # MP_REACH_NLRI
            route.next_hop = attr.get("nexthop", route.next_hop)
    return route


# ---- FRR 8 bgpd ---------------------------------------------------------------------


class Frr(Daemon):
    """FRR bgpd without zebra (-Z -n), one passive neighbour (our speaker at
    `neighbor`), listening on listen:port; vtysh reaches it through the socket dir."""

    name = "FRR"

    def __init__(self, port: int, local_as: int, remote_as: int, listen: str = "127.0.0.2",
                 neighbor: str = "127.0.0.1", ipv6: bool = False) -> None:
        super().__init__(port, local_as, remote_as, "frr")
        self.listen = listen
        self.neighbor = neighbor
        self.ipv6 = ipv6
        self.config_path = self.dir / "bgpd.conf"

    def configure(self) -> None:
        ipv6 = (" address-family ipv6 unicast\n"
                f"  neighbor {self.neighbor} activate\n"
                " exit-address-family\n") if self.ipv6 else ""
        self.config_path.write_text(
            "hostname clb-e2e\n"
            f"router bgp {self.local_as}\n"
            " bgp router-id 10.255.0.4\n"
            " no bgp ebgp-requires-policy\n"
            " no bgp network import-check\n"
            f" neighbor {self.neighbor} remote-as {self.remote_as}\n"
            f" neighbor {self.neighbor} passive\n"
            f" neighbor {self.neighbor} timers 1 3\n"
            f" neighbor {self.neighbor} timers connect 1\n"
            f"{ipv6}")

    def argv(self) -> list[str]:
        return [FRR_BGPD, "-Z", "-n", "-S", "-p", str(self.port), "-l", self.listen,
                "-f", str(self.config_path), "-i", str(self.dir / "bgpd.pid"),
                "--vty_socket", str(self.dir), "-P", "0",
                "--log", f"file:{self.dir / 'bgpd.log'}"]

    def cli(self, command: str) -> str:
        return run_cli([VTYSH, "--vty_socket", str(self.dir), "-d", "bgpd", "-c", command])

    def ready(self) -> bool:
        return "BGP router identifier" in self.cli("show bgp summary") or \
            "No BGP neighbors" in self.cli("show bgp summary")

    def neighbor_state(self) -> dict:
        try:
            return json.loads(self.cli(f"show bgp neighbors {self.neighbor} json")).get(
                self.neighbor, {})
        except ValueError:
            return {}

    def established(self) -> bool:
        return self.neighbor_state().get("bgpState") == "Established"

    def session_mark(self) -> Any:
        """How many times the session was established and dropped (its "established
        epoch" is computed from the uptime and wobbles by a second)."""
        state = self.neighbor_state()
        if state.get("bgpState") != "Established":
            return None
        return (state.get("connectionsEstablished"), state.get("connectionsDropped"))

    def dump(self) -> str:
        return (self.cli(f"show bgp neighbors {self.neighbor}") + self.cli("show bgp ipv4 unicast")
                + self.cli("show bgp ipv6 unicast"))

    def route(self, prefix: str) -> Optional[Route]:
        family = "ipv6" if ":" in prefix else "ipv4"
        try:
            table = json.loads(self.cli(f"show bgp {family} unicast {prefix} json"))
        except ValueError:
            return None
        paths = table.get("paths") or []
        if not paths:
            return None
        best = next((p for p in paths if p.get("bestpath", {}).get("overall")), paths[0])
        return parse_frr_path(prefix, best)


def parse_frr_path(prefix: str, path: dict) -> Route:
    segments = (path.get("aspath") or {}).get("segments") or []
    as_path = [asn for segment in segments for asn in segment.get("list", [])]
    nexthops = path.get("nexthops") or [{}]
    community = (path.get("community") or {}).get("string", "")
    return Route(prefix=prefix, next_hop=nexthops[0].get("ip", ""), as_path=as_path,
                 med=path.get("metric"), local_pref=path.get("locPrf"),
                 communities=community.split() if community else [],
                 origin=path.get("origin", ""))
