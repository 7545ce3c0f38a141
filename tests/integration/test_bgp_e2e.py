"""BGP end to end (SPEC "BGP", "Signals", "Reload"): the real contrail-lb binary announces
its VIPs to real BIRD 2, GoBGP 3 and FRR 8 daemons on loopback (helpers: bgp_peers.py).

One contrail-lb ("main") peers with all three daemons for the whole module: BIRD and GoBGP
over eBGP, FRR over iBGP, local AS 4200000001 (4-octet) everywhere, an IPv4 VIP with MED,
communities and a 2x AS-path prepend (eBGP only), and an IPv6 VIP that only GoBGP asks for
(MP-BGP over the IPv4 session). With it: attributes as each daemon sees them, withdraw
within 1 s of the last backend going DOWN (times printed, see docs/bgp.md), drain, reload
without a flap (unchanged, new MED, new VIP, removed peer), peer restarts with backoff.

Tests that stop or freeze contrail-lb, or need another session shape (IPv6 session, MD5,
a peer dialling in to bgp.listen), run their own contrail-lb against a BIRD of their own:
SIGTERM (withdraw before Cease, exit 0), RFC 8326 graceful shutdown, SIGSTOP (the peer's
hold timer, then recovery), a reload removing the bgp section. A scripted peer (EvilPeer)
sends malformed OPENs, headers and UPDATEs and goes silent; contrail-lb answers with the
right NOTIFICATION and keeps proxying.

    CLB_BIN=... CLB_BACKEND_BIN=... python3 -m pytest -q -s -p no:cacheprovider test_bgp_e2e.py
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

import bgp_peers
import clb
from bgp_peers import Bird, Daemon, Frr, GoBgp, Route
from bgp_peers import free_port  # outside the ephemeral range, unlike clb.free_port
from e2e import (SteadyLoad, drain, log_lines_since, log_time, transition_pattern,
                 wait_all_up)

pytestmark = pytest.mark.skipif(
    not bgp_peers.installed(bgp_peers.BIRD, bgp_peers.BIRDC, bgp_peers.GOBGPD, bgp_peers.GOBGP,
                            bgp_peers.FRR_BGPD, bgp_peers.VTYSH),
    reason="needs BIRD 2, GoBGP and FRR (Debian packages bird2, gobgpd, frr)")

LOCAL_AS = 4200000001  # 4-octet: sent as AS_TRANS in the OPEN, in full in the AS_PATH
VIP4 = "10.0.0.100/32"
VIP6 = "2001:db8::100/128"
# GoBGP and FRR refuse a loopback next hop (martian), so the IPv4 VIP names one.
NEXT_HOP = "192.0.2.10"
MED = 50
PREPEND = 2
COMMUNITIES = ["64512:100", "65000:7"]
HOLD_TIME = 3  # seconds; the daemons are configured with 3 too
CHECK = {"type": "http", "path": "/health", "expect_status": [200],
         "interval": "200ms", "timeout": "200ms", "rise": 2, "fall": 2}
BACKENDS = ["b1", "b2"]
WITHDRAW_BOUND = 1.0  # seconds from the last backend's DOWN to the route gone at the peer

# What to print when a test fails: (title, text producer). Module fixtures register their
# daemons and contrail-lb here (_dump_on_failure prints them while they still run); a block
# inside a test or a function fixture prints its own (`diagnosed`, `dump_if_failed`).
_diagnostics: list[tuple[str, Callable[[], str]]] = []


def _dump(title: str, produce: Callable[[], str]) -> None:
    try:
        text = produce()
    except Exception as error:  # noqa: BLE001 - diagnostics must not hide the failure
        text = repr(error)
    sys.stderr.write(f"\n--- {title} ---\n{text[-12000:]}\n")


def failed(request) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is not None and report.failed


@pytest.fixture(autouse=True)
def _dump_on_failure(request):
    yield
    if failed(request):
        for title, produce in _diagnostics:
            _dump(title, produce)


@contextlib.contextmanager
def diagnosed(title: str, produce: Callable[[], str]) -> Iterator[None]:
    """Prints produce() when an exception leaves the block (before what it describes is
    torn down)."""
    try:
        yield
    except BaseException:
        _dump(title, produce)
        raise


# ---- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bgp-e2e")


@pytest.fixture(scope="module")
def backends(workdir):
    started = [clb.Backend(name, log_dir=workdir) for name in BACKENDS]
    try:
        for backend in started:
            backend.start()
        yield started
    finally:
        for backend in started:
            backend.kill()


def ensure_running(backends: list[clb.Backend]) -> None:
    """A test that failed half-way may have left backends dead: start them again."""
    for backend in backends:
        if not backend.alive:
            backend.start()


class PeerSetup:
    """A daemon and how the main contrail-lb peers with it."""

    def __init__(self, key: str, daemon: Daemon, address: str, ibgp: bool) -> None:
        self.key = key
        self.daemon = daemon
        self.address = address
        self.ibgp = ibgp

    @property
    def label(self) -> str:  # the peer label in /metrics and /api/v1/status
        return clb.join_address(self.address, self.daemon.port)

    def config(self) -> dict:
        return {"address": self.address, "port": self.daemon.port,
                "remote_as": self.daemon.local_as}


@pytest.fixture(scope="module")
def peers() -> dict[str, PeerSetup]:
    setups = {
        "bird": PeerSetup("bird", Bird(free_port(), 65001, LOCAL_AS), "127.0.0.1", ibgp=False),
        "gobgp": PeerSetup("gobgp", GoBgp(free_port("127.0.0.2"), free_port(), 65002, LOCAL_AS,
                                          ipv6=True), "127.0.0.2", ibgp=False),
        "frr": PeerSetup("frr", Frr(free_port("127.0.0.2"), LOCAL_AS, LOCAL_AS), "127.0.0.2",
                         ibgp=True),
    }
    entries = [(f"{s.daemon.name} (main)", s.daemon.diagnostics) for s in setups.values()]
    try:
        for setup in setups.values():
            setup.daemon.start()
        _diagnostics.extend(entries)
        yield setups
    finally:
        for entry in entries:
            if entry in _diagnostics:
                _diagnostics.remove(entry)
        for setup in setups.values():
            setup.daemon.close()


def vip4(med: int = MED, next_hop: str = NEXT_HOP, prepend: int = PREPEND) -> dict:
    return {"prefix": VIP4, "next_hop": next_hop, "med": med, "as_path_prepend": prepend,
            "communities": list(COMMUNITIES),
            "require": {"services": ["api"], "min_healthy_backends": 1}}


def lb_config(backends: list[clb.Backend], bgp: dict) -> dict:
    service = clb.make_service("api", free_port(), backends, health_check=dict(CHECK))
    return clb.make_config([service], admin_port=free_port(), bgp=bgp, log_level="info")


class Lb:
    """A contrail-lb process with a bgp section, killed (after SIGCONT) at teardown; its
    log is printed when an exception leaves the block."""

    def __init__(self, config: dict, workdir: Path) -> None:
        self.proxy = clb.Proxy(config, workdir)
        self.title = f"contrail-lb {workdir.name}"

    def __enter__(self) -> clb.Proxy:
        return self.proxy.start()

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            _dump(self.title, self.proxy.log)
        if self.proxy.alive:
            self.proxy.send_signal(signal.SIGCONT)  # a frozen process cannot die on SIGTERM
            self.proxy.kill()


@pytest.fixture(scope="module")
def main_lb(backends, peers, workdir):
    bgp = {"router_id": "10.255.0.1", "local_as": LOCAL_AS, "hold_time": f"{HOLD_TIME}s",
           "peers": [setup.config() for setup in peers.values()],
           "vips": [vip4(),
                    {"prefix": VIP6, "med": 60, "communities": ["64512:600"],
                     "require": {"services": ["api"]}}]}
    with Lb(lb_config(backends, bgp), workdir / "main") as proxy:
        wait_all_up(proxy, "api", BACKENDS)
        for setup in peers.values():
            wait_established(proxy, setup, timeout=30)
        entry = ("contrail-lb main", proxy.log)
        _diagnostics.append(entry)
        yield proxy
        _diagnostics.remove(entry)


@pytest.fixture(scope="module")
def solo_bird(workdir):
    """A BIRD of its own for the tests that stop contrail-lb (eBGP, 2-octet AS 64512)."""
    bird = Bird(free_port(), 65003, 64512)
    entry = ("BIRD (solo)", bird.diagnostics)
    try:
        bird.start()
        _diagnostics.append(entry)
        yield bird
    finally:
        if entry in _diagnostics:
            _diagnostics.remove(entry)
        bird.close()


@contextlib.contextmanager
def own_bird(local_as: int, listen: str = "127.0.0.1", **options) -> Iterator[Bird]:
    """A BIRD for one test, peering with AS 64512; its state and log are printed when an
    exception leaves the block, and it is closed after."""
    bird = Bird(free_port(listen), local_as, 64512, listen=listen, **options)
    try:
        with diagnosed(f"BIRD AS{local_as}", bird.diagnostics):
            yield bird.start()
    finally:
        bird.close()


def solo_config(backends: list[clb.Backend], bird: Bird) -> dict:
    """contrail-lb for solo_bird: next hop self (127.0.0.1; BIRD accepts it with multihop)."""
    bgp = {"router_id": "127.0.0.1", "local_as": 64512, "hold_time": f"{HOLD_TIME}s",
           "peers": [{"address": "127.0.0.1", "port": bird.port, "remote_as": bird.local_as}],
           "vips": [vip4(med=10, next_hop="self", prepend=0)]}
    return lb_config(backends, bgp)


# ---- reading state --------------------------------------------------------------------


def metric(text: str, name: str, **labels: str) -> Optional[float]:
    """The value of one sample of a Prometheus text exposition, or None."""
    for line in text.splitlines():
        found = re.match(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$", line)
        if not found or found.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found.group(2) or ""))
        if all(got.get(key) == value for key, value in labels.items()):
            return float(found.group(3))
    return None


def peer_status(proxy: clb.Proxy, label: str) -> dict:
    for peer in proxy.admin_json()["bgp"]["peers"]:
        if peer["address"] == label:
            return peer
    raise KeyError(f"no peer {label} in /api/v1/status")


def wait_established(proxy: clb.Proxy, setup: PeerSetup, timeout: float = 20) -> None:
    def both_sides() -> bool:
        return peer_status(proxy, setup.label)["established"] and setup.daemon.established()

    try:
        clb.wait_until(both_sides, timeout, interval=0.1,
                       message=f"{setup.daemon.name} session Established")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{setup.daemon.diagnostics()}") from None


def wait_route(daemon: Daemon, prefix: str, timeout: float = 10,
               accept: Callable[[Route], bool] = lambda route: True) -> Route:
    """The daemon's route to prefix once it exists (and `accept` holds)."""
    def found() -> Optional[Route]:
        route = daemon.route(prefix)
        return route if route is not None and accept(route) else None

    try:
        return clb.wait_until(found, timeout, interval=0.05, message=f"{prefix} at {daemon.name}")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{daemon.diagnostics()}") from None


def wait_no_route(daemon: Daemon, prefix: str, timeout: float = 10) -> float:
    """Waits until the daemon has no route to prefix; returns the time.time() at which
    the CLI call that first showed it gone returned."""
    deadline = time.monotonic() + timeout
    while True:
        route = daemon.route(prefix)
        if route is None:
            return time.time()
        if time.monotonic() > deadline:
            raise AssertionError(f"{daemon.name} still has {prefix} after {timeout}s: {route}\n"
                                 f"{daemon.diagnostics()}")
        time.sleep(0.005)


def expected_vip4(setup: PeerSetup, med: int = MED) -> dict:
    """What the peer must hold for VIP4: the prepend only on eBGP, LOCAL_PREF only on iBGP."""
    expected = {"next_hop": NEXT_HOP, "med": med, "communities": COMMUNITIES, "origin": "IGP",
                "as_path": [] if setup.ibgp else [LOCAL_AS] * (1 + PREPEND)}
    if setup.ibgp:
        expected["local_pref"] = 100
    return expected


def check_route(route: Route, expected: dict) -> None:
    got = {key: getattr(route, key) for key in expected}
    assert got == expected, f"route {route} differs from {expected}"


def session_marks(peers: dict[str, PeerSetup], proxy: clb.Proxy) -> dict:
    """Per peer, what changes when its session is re-established: our established_since
    and flaps, and the daemon's own view (BIRD's since time, GoBGP's uptime, FRR's
    connection count)."""
    marks = {}
    for key, setup in peers.items():
        status = peer_status(proxy, setup.label)
        marks[key] = (status["established_since"], status["flaps"], setup.daemon.session_mark())
    return marks


def wait_keepalives(proxy: clb.Proxy, peers: dict[str, PeerSetup], count: int = 2) -> None:
    """Waits until every session received `count` more messages (keepalives come every
    hold/3 = 1 s): the sessions lived on after whatever happened before."""
    before = {key: peer_status(proxy, s.label)["messages_in"] for key, s in peers.items()}
    clb.wait_until(lambda: all(peer_status(proxy, s.label)["messages_in"] >= before[key] + count
                               for key, s in peers.items()),
                   timeout=HOLD_TIME * 3, interval=0.1, message="keepalives on every session")


# ---- sessions and announcements ------------------------------------------------------


@pytest.mark.parametrize("key", ["bird", "gobgp", "frr"])
@pytest.mark.deadline(60)
def test_session_established_and_vip_announced(main_lb, peers, key):
    setup = peers[key]
    wait_established(main_lb, setup)
    assert peer_status(main_lb, setup.label)["state"] == "Established"
    metrics = main_lb.metrics()
    assert metric(metrics, "contrail_lb_bgp_session_established", peer=setup.label) == 1
    assert metric(metrics, "contrail_lb_vip_announced", prefix=VIP4) == 1
    assert metric(metrics, "contrail_lb_vip_announced", prefix=VIP6) == 1
    route = wait_route(setup.daemon, VIP4)
    check_route(route, expected_vip4(setup))


# ---- iBGP vs eBGP, 4-octet AS, IPv6 VIP ------------------------------------------------


@pytest.mark.deadline(60)
def test_prepend_only_on_ebgp_and_four_octet_as(main_lb, peers):
    """The same VIP, one config: the eBGP peers see 4200000001 three times (AS_PATH with
    4-octet ASNs, 2 prepends), the iBGP peer sees an empty AS_PATH and LOCAL_PREF 100."""
    routes = {key: wait_route(setup.daemon, VIP4) for key, setup in peers.items()}
    assert routes["bird"].as_path == [LOCAL_AS] * 3
    assert routes["gobgp"].as_path == [LOCAL_AS] * 3
    assert routes["frr"].as_path == []
    assert routes["frr"].local_pref == 100
    assert routes["gobgp"].local_pref is None  # never sent on eBGP
    # The 4-octet AS capability was exchanged (a session with a peer configured for AS
    # 4200000001 could not come up otherwise: the OPEN's My AS is AS_TRANS).
    bird = peers["bird"].daemon.protocol()
    assert re.search(r"Neighbor capabilities(\n\s{6,}.*)*\n\s+4-octet AS numbers", bird), bird
    assert "Session:          external multihop AS4" in bird
    frr = peers["frr"].daemon.neighbor_state()
    assert frr["neighborCapabilities"]["4byteAs"] == "advertisedAndReceived", frr
    assert frr.get("nbrInternalLink") is True, frr


@pytest.mark.deadline(60)
def test_ipv6_vip_over_ipv4_session(main_lb, peers):
    """GoBGP negotiated IPv6 unicast on its IPv4 session: the /128 arrives in MP_REACH_NLRI
    with next hop self, i.e. the IPv4-mapped local address (GoBGP prints it as 127.0.0.1).
    BIRD and FRR did not ask for IPv6, so they get nothing."""
    route = wait_route(peers["gobgp"].daemon, VIP6)
    check_route(route, {"next_hop": "127.0.0.1", "med": 60, "as_path": [LOCAL_AS],
                        "communities": ["64512:600"], "origin": "IGP"})
    assert peers["bird"].daemon.route(VIP6) is None
    assert peers["frr"].daemon.route(VIP6) is None


@pytest.mark.parametrize("extended_next_hop", [True, False], ids=["extended-nh", "plain"])
@pytest.mark.deadline(60)
def test_ipv6_vip_over_ipv4_session_to_bird(backends, workdir, extended_next_hop):
    """BIRD reads the IPv4-mapped next hop (::ffff:127.0.0.1) of an IPv6 VIP sent over an
    IPv4 session as an IPv4 next hop: it takes the route only with `extended next hop on`
    in its ipv6 channel; without it, it drops just that route ("mismatched address
    family", treat-as-withdraw) and the session and the IPv4 VIP stay."""
    ensure_running(backends)
    with own_bird(65007, ipv6=True, extended_next_hop=extended_next_hop) as bird:
        bgp = {"router_id": "10.255.0.1", "local_as": 64512, "hold_time": f"{HOLD_TIME}s",
               "peers": [{"address": "127.0.0.1", "port": bird.port, "remote_as": 65007}],
               "vips": [vip4(next_hop="self", prepend=0),
                        {"prefix": VIP6, "med": 20, "require": {"services": ["api"]}}]}
        with Lb(lb_config(backends, bgp), workdir / f"v6-over-v4-{extended_next_hop}"):
            wait_route(bird, VIP4, timeout=20)
            if extended_next_hop:
                check_route(wait_route(bird, VIP6), {"next_hop": "127.0.0.1", "med": 20})
            else:
                clb.wait_until(lambda: "mismatched address family" in bird.log(), timeout=5,
                               message="BIRD refusing the IPv4-mapped next hop")
                assert bird.route(VIP6) is None
                assert bird.established() and bird.route(VIP4) is not None


@pytest.mark.deadline(60)
def test_ipv6_vip_over_ipv6_session(backends, workdir):
    """A peer at [::1]: the session itself is IPv6, the /128 goes in MP_REACH_NLRI with
    next hop self = ::1 (BIRD's ipv6 channel, eBGP multihop)."""
    ensure_running(backends)
    with own_bird(65004, listen="::1", neighbor="::1", ipv6=True) as bird:
        bgp = {"router_id": "10.255.0.1", "local_as": 64512, "hold_time": f"{HOLD_TIME}s",
               "peers": [{"address": "::1", "port": bird.port, "remote_as": 65004}],
               "vips": [{"prefix": VIP6, "med": 20, "communities": ["64512:6"],
                         "require": {"services": ["api"]}}]}
        with Lb(lb_config(backends, bgp), workdir / "ipv6-session") as proxy:
            route = wait_route(bird, VIP6, timeout=20)
            check_route(route, {"next_hop": "::1", "med": 20, "as_path": [64512],
                                "communities": ["64512:6"], "origin": "IGP"})
            label = f"[::1]:{bird.port}"
            assert peer_status(proxy, label)["state"] == "Established"
            assert metric(proxy.metrics(), "contrail_lb_bgp_session_established",
                          peer=label) == 1


@pytest.mark.deadline(60)
def test_listen_accepts_a_peer_that_dials_in(backends, workdir):
    """bgp.listen: a router that only dials out (BIRD, not passive) reaches contrail-lb on
    listen_port; our own dial-out goes to a port where nothing listens."""
    ensure_running(backends)
    listen_port = free_port()
    unreachable = free_port()
    bgp = {"router_id": "10.255.0.1", "local_as": 64512, "hold_time": f"{HOLD_TIME}s",
           "listen": True, "listen_port": listen_port,
           "peers": [{"address": "127.0.0.1", "port": unreachable, "remote_as": 65005}],
           "vips": [vip4(next_hop="self", prepend=0)]}
    with Lb(lb_config(backends, bgp), workdir / "listen") as proxy:
        with own_bird(65005, neighbor_port=listen_port) as bird:
            route = wait_route(bird, VIP4, timeout=20)
            check_route(route, {"next_hop": "127.0.0.1", "as_path": [64512], "med": MED})
            label = f"127.0.0.1:{unreachable}"
            assert peer_status(proxy, label)["established"]
            proxy.wait_for_log(rf"bgp peer {re.escape(label)}: .*accepted incoming connection")


@pytest.mark.deadline(60)
def test_tcp_md5_password(backends, workdir):
    """A peer with a TCP MD5 password (RFC 2385): BIRD configured with the same key."""
    ensure_running(backends)
    with own_bird(65006, password="s3cret-md5") as bird:
        bgp = {"router_id": "10.255.0.1", "local_as": 64512, "hold_time": f"{HOLD_TIME}s",
               "peers": [{"address": "127.0.0.1", "port": bird.port, "remote_as": 65006,
                          "password": "s3cret-md5"}],
               "vips": [vip4(next_hop="self", prepend=0)]}
        with Lb(lb_config(backends, bgp), workdir / "md5"):
            check_route(wait_route(bird, VIP4, timeout=20), {"next_hop": "127.0.0.1"})


# ---- health-driven withdraw ------------------------------------------------------------


class WithdrawWatch(threading.Thread):
    """Polls one daemon's RIB until the prefix is gone; `gone_at` is the time.time() at
    which the first CLI call that showed it gone returned."""

    def __init__(self, daemon: Daemon, prefix: str, timeout: float) -> None:
        super().__init__(daemon=True)
        self.daemon_under_watch = daemon
        self.prefix = prefix
        self.timeout = timeout
        self.gone_at: Optional[float] = None
        self.error: Optional[BaseException] = None
        self.polls = 0

    def run(self) -> None:
        try:
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                self.polls += 1
                if self.daemon_under_watch.route(self.prefix) is None:
                    self.gone_at = time.time()
                    return
                time.sleep(0.005)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error


@pytest.mark.deadline(90)
def test_last_backend_down_withdraws_within_a_second(main_lb, peers, backends):
    ensure_running(backends)
    wait_all_up(main_lb, "api", BACKENDS)
    for setup in peers.values():
        wait_route(setup.daemon, VIP4)
    flaps = {key: peer_status(main_lb, setup.label)["flaps"] for key, setup in peers.items()}
    log_start = len(main_lb.log())
    watches = {key: WithdrawWatch(setup.daemon, VIP4, timeout=15) for key, setup in peers.items()}
    for watch in watches.values():
        watch.start()
    killed_at = time.time()
    for backend in backends:
        backend.kill()
    for watch in watches.values():
        watch.join(timeout=20)

    downs = [main_lb.wait_for_log(transition_pattern("api", name, "DOWN"), start=log_start)
             for name in BACKENDS]
    down_at = max(log_time(line) for line in downs)  # the last one makes the count 0
    withdrawn = log_lines_since(main_lb, log_start, rf"bgp: withdrawing {re.escape(VIP4)}")
    assert withdrawn, "contrail-lb did not log the withdraw"
    withdrawn_at = log_time(withdrawn[0])
    print(f"\n[bgp-e2e] backends killed -> last DOWN {(down_at - killed_at) * 1000:.0f} ms, "
          f"DOWN -> withdraw sent {(withdrawn_at - down_at) * 1000:.0f} ms")
    assert withdrawn_at - down_at < 0.1  # SPEC: withdrawn within 100 ms of `require` failing
    assert metric(main_lb.metrics(), "contrail_lb_vip_announced", prefix=VIP4) == 0
    measured = {}
    for key, watch in watches.items():
        assert watch.error is None, f"{key}: {watch.error!r}"
        assert watch.gone_at is not None, (
            f"{peers[key].daemon.name} kept {VIP4} 15 s after the backends died\n"
            f"{peers[key].daemon.diagnostics()}")
        measured[key] = watch.gone_at - down_at
        print(f"[bgp-e2e] {peers[key].daemon.name}: {VIP4} gone from its RIB "
              f"{measured[key] * 1000:.0f} ms after the DOWN transition "
              f"({watch.polls} CLI polls)")
    for key, seconds in measured.items():
        assert seconds < WITHDRAW_BOUND, f"{key}: withdraw took {seconds:.3f}s"
        assert seconds > -0.002, f"{key}: route gone before the DOWN ({seconds:.3f}s)"
    # A withdraw in an UPDATE, not a session reset.
    assert {key: peer_status(main_lb, setup.label)["flaps"] for key, setup in peers.items()} \
        == flaps

    # Backends back: UP after `rise` checks, and the VIP is announced again.
    for backend in backends:
        backend.start()
    wait_all_up(main_lb, "api", BACKENDS)
    for key, setup in peers.items():
        check_route(wait_route(setup.daemon, VIP4), expected_vip4(setup))


@pytest.mark.deadline(60)
def test_one_backend_down_keeps_the_vip(main_lb, peers, backends):
    """min_healthy_backends 1: while one backend is UP the VIP stays announced."""
    ensure_running(backends)
    wait_all_up(main_lb, "api", BACKENDS)
    updates = {key: peer_status(main_lb, s.label)["updates_out"] for key, s in peers.items()}
    log_start = len(main_lb.log())
    backends[0].kill()
    try:
        main_lb.wait_for_log(transition_pattern("api", backends[0].name, "DOWN"),
                             start=log_start)
        for setup in peers.values():
            assert setup.daemon.route(VIP4) is not None
        assert {key: peer_status(main_lb, s.label)["updates_out"]
                for key, s in peers.items()} == updates, "an UPDATE went out for nothing"
    finally:
        backends[0].start()
    wait_all_up(main_lb, "api", BACKENDS)


@pytest.mark.deadline(60)
def test_draining_every_backend_withdraws(main_lb, peers, backends):
    """A drained backend is not a healthy one for `require`: draining the last one through
    the admin API withdraws the VIP, enabling one announces it again."""
    ensure_running(backends)
    wait_all_up(main_lb, "api", BACKENDS)
    for setup in peers.values():
        wait_route(setup.daemon, VIP4)
    try:
        for name in BACKENDS:
            drain(main_lb, "api", name)
        for setup in peers.values():
            wait_no_route(setup.daemon, VIP4, timeout=5)
        vip = next(v for v in main_lb.admin_json()["bgp"]["vips"] if v["prefix"] == VIP4)
        assert not vip["announced"] and "api" in vip["reason"], vip
    finally:
        for name in BACKENDS:
            drain(main_lb, "api", name, "enable")
    for setup in peers.values():
        check_route(wait_route(setup.daemon, VIP4), expected_vip4(setup))


# ---- reload -----------------------------------------------------------------------------


def reload_and_wait(proxy: clb.Proxy, config: dict) -> None:
    start = len(proxy.log())
    proxy.reload(config)
    proxy.wait_for_log(r"reload: applied", start=start)


@pytest.mark.deadline(60)
def test_reload_with_unchanged_bgp_keeps_sessions(main_lb, peers):
    for setup in peers.values():
        wait_established(main_lb, setup)
    before = session_marks(peers, main_lb)
    assert all(mark[2] is not None for mark in before.values()), before
    updates = {key: peer_status(main_lb, s.label)["updates_out"] for key, s in peers.items()}
    reload_and_wait(main_lb, main_lb.config)
    wait_keepalives(main_lb, peers)
    assert session_marks(peers, main_lb) == before
    assert {key: peer_status(main_lb, s.label)["updates_out"] for key, s in peers.items()} \
        == updates, "an unchanged reload re-sent announcements"
    for setup in peers.values():
        assert setup.daemon.route(VIP4) is not None


@pytest.mark.deadline(60)
def test_reload_changing_med_updates_the_route_in_place(main_lb, peers):
    original = main_lb.config
    changed = {**original, "bgp": {**original["bgp"],
                                   "vips": [vip4(med=70)] + original["bgp"]["vips"][1:]}}
    before = session_marks(peers, main_lb)
    try:
        reload_and_wait(main_lb, changed)
        for key, setup in peers.items():
            route = wait_route(setup.daemon, VIP4, accept=lambda route: route.med == 70)
            check_route(route, expected_vip4(setup, med=70))
        assert session_marks(peers, main_lb) == before, "a MED change reset a session"
    finally:
        reload_and_wait(main_lb, original)
    for setup in peers.values():
        wait_route(setup.daemon, VIP4, accept=lambda route: route.med == MED)
    assert session_marks(peers, main_lb) == before


@pytest.mark.deadline(60)
def test_reload_adding_a_vip_and_removing_a_peer(main_lb, peers):
    """A reload that adds a VIP announces it on the sessions that stay; a removed peer gets
    Cease/Peer De-configured; putting things back re-establishes it and withdraws the VIP.
    The sessions the change did not touch never flap."""
    original = main_lb.config
    extra_vip = "10.0.0.101/32"
    changed = {**original, "bgp": {
        **original["bgp"],
        "peers": [peers["bird"].config(), peers["gobgp"].config()],
        "vips": original["bgp"]["vips"] + [{"prefix": extra_vip, "next_hop": NEXT_HOP,
                                            "require": {"services": ["api"]}}]}}
    kept = {key: peers[key] for key in ("bird", "gobgp")}
    before = session_marks(kept, main_lb)
    try:
        reload_and_wait(main_lb, changed)
        for setup in kept.values():
            check_route(wait_route(setup.daemon, extra_vip),
                        {"next_hop": NEXT_HOP, "med": None, "as_path": [LOCAL_AS]})
        frr = peers["frr"].daemon
        clb.wait_until(lambda: not frr.established(), timeout=5, message="FRR session down")
        reset = frr.neighbor_state()
        print(f"\n[bgp-e2e] FRR after its peer was removed: {reset.get('lastResetDueTo')!r}, "
              f"{reset.get('lastNotificationReason')!r}")
        assert reset.get("lastNotificationReason") == "Cease/Peer De-configured", reset
        assert frr.route(VIP4) is None
        assert [p["address"] for p in main_lb.admin_json()["bgp"]["peers"]] == \
            [setup.label for setup in kept.values()]
        assert session_marks(kept, main_lb) == before
    finally:
        reload_and_wait(main_lb, original)
    wait_established(main_lb, peers["frr"])
    check_route(wait_route(peers["frr"].daemon, VIP4), expected_vip4(peers["frr"]))
    for setup in kept.values():
        wait_no_route(setup.daemon, extra_vip, timeout=5)
    assert session_marks(kept, main_lb) == before


# ---- peer restart -------------------------------------------------------------------------


def retry_delays(proxy: clb.Proxy, label: str, start: int) -> list[float]:
    """The "retry in N s" delays contrail-lb logged for a peer since log offset start."""
    pattern = rf"bgp peer {re.escape(label)}: .*-> (?:Idle|Active) \(.*retry in ([0-9.]+)s\)"
    return [float(found.group(1)) for found in re.finditer(pattern, proxy.log()[start:])]


@pytest.mark.parametrize("key", ["bird", "gobgp", "frr"])
@pytest.mark.deadline(60)
def test_peer_restart_reconnects_with_backoff_and_reannounces(main_lb, peers, backends, key):
    ensure_running(backends)
    setup = peers[key]
    wait_route(setup.daemon, VIP4)
    flaps = peer_status(main_lb, setup.label)["flaps"]
    log_start = len(main_lb.log())
    started = time.monotonic()
    setup.daemon.stop()
    try:
        # Down: the session is lost, then the first redial is refused; each retry waits
        # longer than the one before.
        delays = clb.wait_until(lambda: (d := retry_delays(main_lb, setup.label, log_start))
                                and len(d) >= 2 and d, timeout=15, interval=0.05,
                                message=f"two retries towards the stopped {setup.daemon.name}")
        assert delays[1] > delays[0], f"no backoff: {delays}"
        assert peer_status(main_lb, setup.label)["flaps"] == flaps + 1
        assert metric(main_lb.metrics(), "contrail_lb_bgp_session_established",
                      peer=setup.label) == 0
    finally:
        setup.daemon.start()
    route = wait_route(setup.daemon, VIP4, timeout=30)
    print(f"\n[bgp-e2e] {setup.daemon.name} restarted: {VIP4} back in its RIB "
          f"{time.monotonic() - started:.1f} s after the stop (retries in {delays} s)")
    check_route(route, expected_vip4(setup))
    wait_established(main_lb, setup)
    assert peer_status(main_lb, setup.label)["flaps"] == flaps + 1


# ---- SIGTERM ------------------------------------------------------------------------------


@pytest.mark.deadline(60)
def test_sigterm_withdraws_before_cease(backends, solo_bird, workdir):
    """SIGTERM: the withdraw goes first; for bgp.withdraw_wait (default 1 s) the session
    stays Established and the proxy keeps accepting and serving while routers apply the
    withdraw; then Cease, close, exit 0."""
    ensure_running(backends)
    with Lb(solo_config(backends, solo_bird), workdir / "sigterm") as proxy:
        route = wait_route(solo_bird, VIP4, timeout=20)
        check_route(route, {"next_hop": "127.0.0.1", "med": 10, "as_path": [64512],
                            "communities": COMMUNITIES})
        log_start = len(solo_bird.log())
        sent_at = time.monotonic()
        proxy.send_signal(signal.SIGTERM)
        wait_no_route(solo_bird, VIP4, timeout=0.8)
        withdrawn_after = time.monotonic() - sent_at
        # Inside the wait: BIRD has no route, the session is up, new connections are served.
        assert solo_bird.established()
        assert proxy.get("/").status == 200
        assert proxy.alive
        assert proxy.wait_exit(timeout=10) == 0
        exited_after = time.monotonic() - sent_at
        print(f"\n[bgp-e2e] SIGTERM: withdrawn at {withdrawn_after * 1000:.0f} ms, "
              f"exit 0 at {exited_after * 1000:.0f} ms (withdraw_wait 1s)")
        assert exited_after >= 0.9  # the default withdraw_wait was honoured
        assert solo_bird.route(VIP4) is None
        clb.wait_until(lambda: "Received: Administrative shutdown" in solo_bird.last_error(),
                       timeout=5, message="BIRD's last error: administrative shutdown received")
        # BIRD's own log, in order: the withdraw was processed before the Cease came in,
        # and the session went down after both.
        lines = solo_bird.log()[log_start:].splitlines()
        removed = first_line(lines, rf"lb\.ipv4 > removed .*{re.escape(VIP4)}")
        cease = first_line(lines, r"lb: Received: Administrative shutdown")
        closed = first_line(lines, r"lb: (BGP session closed|State changed to stop)")
        assert removed < cease <= closed, "\n".join(lines)
        # contrail-lb's side: withdraw, then the Cease, then the exit.
        ours = proxy.log().splitlines()
        assert (first_line(ours, rf"bgp: withdrawing {re.escape(VIP4)}: shutting down")
                < first_line(ours, r"sessions stay up for 1s \(withdraw_wait\)")
                < first_line(ours, r"sent Cease/Administrative Shutdown")
                < first_line(ours, r"contrail-lb stopped"))
        withdrawn = log_time(ours[first_line(ours, r"sessions stay up for 1s")])
        cease = log_time(ours[first_line(ours, r"sent Cease/Administrative Shutdown")])
        assert 0.95 <= cease - withdrawn <= 2.0, cease - withdrawn


@pytest.mark.deadline(60)
def test_sigterm_with_withdraw_wait_0_ceases_at_once(backends, solo_bird, workdir):
    ensure_running(backends)
    config = solo_config(backends, solo_bird)
    config["bgp"]["withdraw_wait"] = "0"
    with Lb(config, workdir / "sigterm-no-wait") as proxy:
        wait_route(solo_bird, VIP4, timeout=20)
        proxy.send_signal(signal.SIGTERM)
        assert proxy.wait_exit(timeout=10) == 0
        ours = proxy.log()
        assert "withdraw_wait" not in ours
        lines = ours.splitlines()
        withdrawn = log_time(lines[first_line(lines, rf"bgp: withdrawing {re.escape(VIP4)}")])
        cease = log_time(lines[first_line(lines, r"sent Cease/Administrative Shutdown")])
        assert cease - withdrawn < 0.5, cease - withdrawn


@pytest.mark.deadline(60)
def test_reload_removing_bgp_withdraws_before_cease(backends, solo_bird, workdir):
    """A reload without a bgp section stops the speaker the way SIGTERM does: the VIP is
    withdrawn, then Cease/Administrative Shutdown; the proxy keeps serving. Putting the
    section back brings the session and the VIP back."""
    ensure_running(backends)
    config = solo_config(backends, solo_bird)
    without_bgp = {key: value for key, value in config.items() if key != "bgp"}
    with Lb(config, workdir / "reload-no-bgp") as proxy:
        wait_route(solo_bird, VIP4, timeout=20)
        log_start = len(solo_bird.log())
        reload_and_wait(proxy, without_bgp)
        wait_no_route(solo_bird, VIP4, timeout=5)
        clb.wait_until(lambda: "Received: Administrative shutdown" in solo_bird.last_error(),
                       timeout=5, message="BIRD's last error: administrative shutdown received")
        lines = solo_bird.log()[log_start:].splitlines()
        assert (first_line(lines, rf"lb\.ipv4 > removed .*{re.escape(VIP4)}")
                < first_line(lines, r"lb: Received: Administrative shutdown"))
        assert proxy.admin_json()["bgp"] is None
        assert proxy.get("/").status == 200
        reload_and_wait(proxy, config)
        wait_route(solo_bird, VIP4, timeout=20)
        assert proxy.alive


@pytest.mark.deadline(60)
def test_sigterm_with_graceful_shutdown_sends_gshut_community_first(backends, solo_bird,
                                                                    workdir):
    """bgp.graceful_shutdown (RFC 8326): on SIGTERM the VIP is re-announced with 65535:0
    while the proxy still serves, then withdrawn after that long, then the exit."""
    ensure_running(backends)
    config = solo_config(backends, solo_bird)
    config["bgp"]["graceful_shutdown"] = "1s"
    with Lb(config, workdir / "gshut") as proxy:
        wait_route(solo_bird, VIP4, timeout=20)
        sent_at = time.monotonic()
        proxy.send_signal(signal.SIGTERM)
        route = wait_route(solo_bird, VIP4, timeout=2,
                           accept=lambda route: "65535:0" in route.communities)
        assert route.communities == COMMUNITIES + ["65535:0"]
        assert proxy.get("/").status == 200  # still serving while routers move away
        wait_no_route(solo_bird, VIP4, timeout=5)
        gone_after = time.monotonic() - sent_at
        print(f"\n[bgp-e2e] graceful shutdown: VIP withdrawn {gone_after:.2f} s after SIGTERM")
        assert 0.9 <= gone_after <= 3
        assert proxy.wait_exit(timeout=10) == 0
        clb.wait_until(lambda: "Received: Administrative shutdown" in solo_bird.last_error(),
                       timeout=5, message="BIRD's last error: administrative shutdown received")


def first_line(lines: list[str], pattern: str) -> int:
    """Index of the first line matching pattern (fails the test when there is none)."""
    regex = re.compile(pattern)
    for index, line in enumerate(lines):
        if regex.search(line):
            return index
    raise AssertionError(f"no line matches /{pattern}/ in:\n" + "\n".join(lines[-60:]))


# ---- SIGSTOP: the peer's hold timer, then recovery ------------------------------------------


@pytest.mark.deadline(90)
def test_frozen_process_dropped_at_hold_time_then_recovers(backends, solo_bird, workdir):
    ensure_running(backends)
    with Lb(solo_config(backends, solo_bird), workdir / "sigstop") as proxy:
        wait_route(solo_bird, VIP4, timeout=20)
        stopped_at = time.monotonic()
        proxy.send_signal(signal.SIGSTOP)
        try:
            wait_no_route(solo_bird, VIP4, timeout=10)
            dropped_after = time.monotonic() - stopped_at
        finally:
            proxy.send_signal(signal.SIGCONT)
        print(f"\n[bgp-e2e] SIGSTOP: BIRD dropped {VIP4} after {dropped_after:.2f} s "
              f"(hold time {HOLD_TIME} s); last error: {solo_bird.last_error()}")
        assert 2.0 <= dropped_after <= 6.0
        assert "Hold timer expired" in solo_bird.last_error()
        log_start = len(proxy.log())
        continued_at = time.monotonic()
        wait_route(solo_bird, VIP4, timeout=30)
        print(f"[bgp-e2e] SIGCONT: {VIP4} back at BIRD after "
              f"{time.monotonic() - continued_at:.1f} s")
        assert proxy.alive
        # The whole process was frozen, not one worker: the watchdog must not mistake
        # the freeze for a stalled worker loop (that would flap the VIP).
        assert not log_lines_since(proxy, log_start, r"watchdog: .*stalled"), \
            proxy.log()[log_start:]


# ---- a malicious peer ---------------------------------------------------------------------

MARKER = b"\xff" * 16
OPEN, UPDATE, NOTIFICATION, KEEPALIVE = 1, 2, 3, 4
EVIL_AS = 65010


def bgp_message(kind: int, body: bytes = b"") -> bytes:
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


def open_message(asn: int = EVIL_AS, hold_time: int = HOLD_TIME,
                 router_id: str = "10.255.0.9", version: int = 4) -> bytes:
    capabilities = (bytes([1, 4]) + struct.pack("!HBB", 1, 0, 1)  # IPv4 unicast
                    + bytes([65, 4]) + struct.pack("!I", asn))  # 4-octet AS
    parameters = bytes([2, len(capabilities)]) + capabilities
    body = struct.pack("!BHH4sB", version, min(asn, 23456), hold_time,
                       socket.inet_aton(router_id), len(parameters)) + parameters
    return bgp_message(OPEN, body)


def attribute(flags: int, code: int, value: bytes) -> bytes:
    return bytes([flags, code, len(value)]) + value


def update_message(attributes: bytes, nlri: bytes = b"", withdrawn: bytes = b"",
                   attributes_length: Optional[int] = None) -> bytes:
    length = len(attributes) if attributes_length is None else attributes_length
    body = (struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", length)
            + attributes + nlri)
    return bgp_message(UPDATE, body)


GOOD_ATTRIBUTES = (attribute(0x40, 1, b"\x00")  # ORIGIN IGP
                   + attribute(0x40, 2, bytes([2, 1]) + struct.pack("!I", EVIL_AS))  # AS_PATH
                   + attribute(0x40, 3, socket.inet_aton("127.0.0.9")))  # NEXT_HOP
HOST_ROUTE = bytes([32]) + socket.inet_aton("198.51.100.1")

MALFORMED_UPDATES = {
    # Total Path Attribute Length runs 200 bytes past the end of the message.
    "attribute-length-overrun": (update_message(GOOD_ATTRIBUTES, attributes_length=200), 3, 1),
    # Type 99 flagged well-known (not optional): nobody knows it, so it is an error.
    "unrecognized-well-known": (update_message(GOOD_ATTRIBUTES + attribute(0x40, 99, b"\x00"),
                                               HOST_ROUTE), 3, 2),
    # An NLRI prefix length of 33 for IPv4.
    "invalid-nlri": (update_message(GOOD_ATTRIBUTES, bytes([33]) + b"\x0a" * 5), 3, 10),
}


class EvilPeer:
    """A listening socket that plays a BGP peer by hand, one connection at a time."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.conn: Optional[socket.socket] = None
        self.buffer = b""

    def close(self) -> None:
        if self.conn:
            self.conn.close()
        self.listener.close()

    def accept(self, timeout: float = 10) -> None:
        if self.conn:
            self.conn.close()
        self.listener.settimeout(timeout)
        self.conn, _ = self.listener.accept()
        self.buffer = b""

    def send(self, data: bytes) -> None:
        assert self.conn
        self.conn.sendall(data)

    def receive(self, timeout: float = 5) -> Optional[tuple[int, bytes]]:
        """The next message as (type, body); None at EOF."""
        assert self.conn
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= 19:
                assert self.buffer[:16] == MARKER, self.buffer
                length, kind = struct.unpack("!HB", self.buffer[16:19])
                if len(self.buffer) >= length:
                    body, self.buffer = self.buffer[19:length], self.buffer[length:]
                    return kind, body
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no whole BGP message in {timeout}s: {self.buffer!r}")
            self.conn.settimeout(remaining)
            try:
                data = self.conn.recv(4096)
            except ConnectionResetError:
                data = b""
            if not data:
                return None
            self.buffer += data

    def receive_until(self, wanted: int, timeout: float = 5) -> Optional[bytes]:
        """Skips other messages until one of type `wanted`; its body, or None at EOF."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(max(0.01, deadline - time.monotonic()))
            if message is None:
                return None
            if message[0] == wanted:
                return message[1]

    def establish(self) -> bytes:
        """Accepts contrail-lb's connection and completes the OPEN exchange; returns its OPEN."""
        self.accept()
        theirs = self.receive_until(OPEN)
        assert theirs is not None, "contrail-lb closed before its OPEN"
        self.send(open_message() + bgp_message(KEEPALIVE))
        assert self.receive_until(KEEPALIVE) is not None, "no KEEPALIVE: OPEN refused?"
        return theirs


@pytest.fixture
def evil_lb(backends, workdir, request):
    """contrail-lb whose only BGP peer is an EvilPeer, with steady HTTP load through it."""
    ensure_running(backends)
    evil = EvilPeer()
    bgp = {"router_id": "10.255.0.1", "local_as": 64512, "hold_time": f"{HOLD_TIME}s",
           "peers": [{"address": "127.0.0.1", "port": evil.port, "remote_as": EVIL_AS}],
           "vips": [vip4(next_hop="self", prepend=0)]}
    try:
        name = re.sub(r"[^\w-]+", "_", request.node.name)
        with Lb(lb_config(backends, bgp), workdir / name) as proxy:
            wait_all_up(proxy, "api", BACKENDS)
            yield proxy, evil
            if failed(request):
                _dump(f"contrail-lb {name}", proxy.log)
    finally:
        evil.close()


def evil_label(evil: EvilPeer) -> str:
    return f"127.0.0.1:{evil.port}"


@pytest.mark.parametrize("case", list(MALFORMED_UPDATES))
@pytest.mark.deadline(60)
def test_malformed_update_gets_notification_while_serving(evil_lb, case):
    proxy, evil = evil_lb
    update, code, subcode = MALFORMED_UPDATES[case]
    with SteadyLoad(*proxy.service_address(), threads=2, pause=0.01) as load:
        open_body = evil.establish()
        assert struct.unpack("!H", open_body[1:3])[0] == 64512  # My AS
        clb.wait_until(lambda: peer_status(proxy, evil_label(evil))["established"],
                       message="session Established with the scripted peer")
        evil.send(update)
        notification = evil.receive_until(NOTIFICATION)
        assert notification is not None, "contrail-lb closed without a NOTIFICATION"
        print(f"\n[bgp-e2e] {case}: NOTIFICATION {notification[0]}/{notification[1]} "
              f"data {notification[2:].hex()}")
        assert (notification[0], notification[1]) == (code, subcode)
        assert evil.receive(timeout=3) is None, "the session went on after the NOTIFICATION"
        status = peer_status(proxy, evil_label(evil))
        assert not status["established"], status
        # The speaker dials again (with backoff) and a well-behaved session works.
        evil.establish()
        clb.wait_until(lambda: peer_status(proxy, evil_label(evil))["established"],
                       message="session Established again")
        load.wait_for(20)
    assert proxy.alive
    assert not load.failed, load.failed[:5]
    assert len(load.ok) >= 20


@pytest.mark.deadline(60)
def test_attribute_overrunning_its_field_is_treat_as_withdraw(evil_lb):
    """RFC 7606 §4: an attribute whose length runs past the path attribute field (with a
    consistent Total Path Attribute Length) is treat-as-withdraw: logged, no reset."""
    proxy, evil = evil_lb
    evil.establish()
    clb.wait_until(lambda: peer_status(proxy, evil_label(evil))["established"],
                   message="session Established with the scripted peer")
    since = peer_status(proxy, evil_label(evil))["established_since"]
    # NEXT_HOP claims 10 bytes where 4 are left in the attribute field.
    attributes = GOOD_ATTRIBUTES[:-7] + bytes([0x40, 3, 10]) + socket.inet_aton("127.0.0.9")
    evil.send(update_message(attributes, HOST_ROUTE))
    # Two keepalives later the session is still the same one.
    for _ in range(2):
        assert evil.receive_until(KEEPALIVE, timeout=HOLD_TIME) is not None
    status = peer_status(proxy, evil_label(evil))
    assert status["established"] and status["established_since"] == since, status
    assert status["updates_in"] >= 1


BAD_OPENS = {
    "unsupported-version": (open_message(version=5), 2, 1),
    "bad-peer-as": (open_message(asn=65099), 2, 2),
    "zero-bgp-identifier": (open_message(router_id="0.0.0.0"), 2, 3),
    "hold-time-1s": (open_message(hold_time=1), 2, 6),
}


@pytest.mark.parametrize("case", list(BAD_OPENS))
@pytest.mark.deadline(60)
def test_bad_open_gets_notification(evil_lb, case):
    proxy, evil = evil_lb
    message, code, subcode = BAD_OPENS[case]
    evil.accept()
    assert evil.receive_until(OPEN) is not None
    evil.send(message)
    notification = evil.receive_until(NOTIFICATION)
    assert notification is not None, "contrail-lb closed without a NOTIFICATION"
    assert (notification[0], notification[1]) == (code, subcode), notification.hex()
    assert evil.receive(timeout=3) is None
    assert proxy.alive and proxy.get("/").status == 200


BAD_HEADERS = {
    "marker-not-all-ones": (b"\xfe" + bgp_message(KEEPALIVE)[1:], 1, 1),
    "length-over-4096": (MARKER + struct.pack("!HB", 5000, UPDATE) + bytes(4981), 1, 2),
    "keepalive-with-a-body": (bgp_message(KEEPALIVE, b"\x00"), 1, 2),
    "type-9": (bgp_message(9), 1, 3),
    "second-open-when-established": (open_message(), 5, 3),
}


@pytest.mark.parametrize("case", list(BAD_HEADERS))
@pytest.mark.deadline(60)
def test_bad_message_on_established_session_gets_notification(evil_lb, case):
    proxy, evil = evil_lb
    message, code, subcode = BAD_HEADERS[case]
    evil.establish()
    clb.wait_until(lambda: peer_status(proxy, evil_label(evil))["established"],
                   message="session Established with the scripted peer")
    evil.send(message)
    notification = evil.receive_until(NOTIFICATION)
    assert notification is not None, "contrail-lb closed without a NOTIFICATION"
    assert (notification[0], notification[1]) == (code, subcode), notification.hex()
    assert evil.receive(timeout=3) is None
    assert proxy.alive and proxy.get("/").status == 200
    assert not peer_status(proxy, evil_label(evil))["established"]


@pytest.mark.deadline(60)
def test_silent_peer_is_dropped_at_our_hold_time(evil_lb):
    """A peer that stops sending KEEPALIVEs once Established: our hold timer (3 s) expires,
    NOTIFICATION 4 (Hold Timer Expired) goes out, and the speaker dials again."""
    proxy, evil = evil_lb
    evil.establish()
    clb.wait_until(lambda: peer_status(proxy, evil_label(evil))["established"],
                   message="session Established with the scripted peer")
    silent_since = time.monotonic()
    notification = evil.receive_until(NOTIFICATION, timeout=HOLD_TIME * 3)
    elapsed = time.monotonic() - silent_since
    assert notification is not None, "contrail-lb closed without a NOTIFICATION"
    print(f"\n[bgp-e2e] silent peer: NOTIFICATION {notification[0]}/{notification[1]} "
          f"after {elapsed:.2f} s")
    assert notification[0] == 4
    assert HOLD_TIME - 1.5 <= elapsed <= HOLD_TIME + 1.5
    assert "hold timer expired" in peer_status(proxy, evil_label(evil))["last_error"].lower()
    evil.establish()  # reconnects


@pytest.mark.deadline(60)
def test_messages_split_into_single_bytes(evil_lb):
    """TCP may deliver a message in pieces: OPEN, KEEPALIVE and an UPDATE sent one byte at
    a time still make a session, and the UPDATE counts."""
    proxy, evil = evil_lb
    evil.accept()
    assert evil.receive_until(OPEN) is not None
    update = update_message(GOOD_ATTRIBUTES, HOST_ROUTE)
    for byte in open_message() + bgp_message(KEEPALIVE) + update:
        evil.send(bytes([byte]))
        time.sleep(0.001)
    clb.wait_until(lambda: peer_status(proxy, evil_label(evil))["updates_in"] >= 1,
                   message="the UPDATE sent byte by byte counted")
    status = peer_status(proxy, evil_label(evil))
    assert status["established"], status
