"""Upgrade without a refused connection (docs/operations.md "Upgrade"): `--take-over
SOCKET`, `--supervise` + SIGUSR2, and every way a take-over can fail leaving the running
process serving with everything it had.

The load: threads opening a new connection per request, and keep-alive clients sending a
request every 100 ms on one connection. Idle keep-alive connections go to the new process
between two requests (plain HTTP); a request in flight during the drain is answered with
Connection: close. A reused connection closed before any byte of its answer would be
counted apart (`idle_closes`) from failures (requests that got no answer, or an error
status): both must stay 0."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import threading
import time
import json
from pathlib import Path

import pytest

import clb
from clb import RawConnection, make_config, make_service, wait_until

NO_CHECK = {"type": "none"}
REQUEST = b"GET / HTTP/1.1\r\nHost: upgrade-test\r\n\r\n"


class Load:
    """New-connection clients and keep-alive clients against (host, port) until stop()."""

    def __init__(self, host: str, port: int, new_connection_clients: int = 2,
                 keep_alive_clients: int = 4) -> None:
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.ok = 0
        self.failures: list = []
        self.idle_closes = 0
        self.told_to_close = 0  # answers with Connection: close (busy during the drain)
        self.running = True
        self.threads = [threading.Thread(target=self._new_connections)
                        for _ in range(new_connection_clients)]
        self.threads += [threading.Thread(target=self._keep_alive)
                         for _ in range(keep_alive_clients)]
        for thread in self.threads:
            thread.start()

    def _count(self, failure=None) -> None:
        with self.lock:
            if failure is None:
                self.ok += 1
            else:
                self.failures.append(failure)

    def _new_connections(self) -> None:
        while self.running:
            try:
                with RawConnection(self.host, self.port, timeout=5) as c:
                    c.send(REQUEST)
                    status = c.read_response().status
                self._count(None if status == 200 else f"status {status}")
            except Exception as error:  # noqa: BLE001 - counted
                self._count(repr(error))

    def _keep_alive(self) -> None:
        connection = None
        answered = 0  # on this connection
        while self.running:
            if connection is None:
                try:
                    connection = RawConnection(self.host, self.port, timeout=5)
                    answered = 0
                except OSError as error:
                    self._count(repr(error))
                    time.sleep(0.1)
                    continue
            reused = answered > 0 and not connection.buffer
            try:
                connection.send(REQUEST)
                response = connection.read_response()
            except (ConnectionError, OSError) as error:
                connection.close()
                connection = None
                # Closed before any byte of the answer on a reused connection: a client
                # retries (RFC 9112 9.3.1); anything else is a failure.
                if reused and not isinstance(error, TimeoutError):
                    with self.lock:
                        self.idle_closes += 1
                    continue
                self._count(repr(error))
                continue
            self._count(None if response.status == 200 else f"status {response.status}")
            answered += 1
            if (response.header("Connection") or "").lower() == "close":
                with self.lock:
                    self.told_to_close += 1
                connection.close()
                connection = None
            time.sleep(0.1)
        if connection is not None:
            connection.close()

    def stop(self) -> None:
        self.running = False
        for thread in self.threads:
            thread.join(timeout=10)


def descendants(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
            out += descendants(int(entry.name))
    return out


def kill_tree(pid: int) -> None:
    for child in descendants(pid):
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def setup(start_backend, start_proxy, free_port, tmp_path):
    """A running contrail-lb with an upgrade socket, an admin API and 2 workers."""

    def make(socket_path: str | None = None, **extra):
        backend = start_backend("b1")
        service = make_service("api", free_port(), [backend],
                               health_check=dict(clb.FAST_HTTP_CHECK, interval="1s"))
        path = socket_path or str(tmp_path / "upgrade.sock")
        config = make_config([service], admin_port=free_port(), workers=2,
                             upgrade_socket=path, **extra)
        proxy = start_proxy(config)
        wait_until(lambda: proxy.get("/").status == 200, 5, message="the backend UP")
        return backend, proxy, path

    return make


def take_over(proxy: clb.Proxy, socket_path: str, config_path: Path | None = None,
              log_name: str = "new.log") -> subprocess.Popen:
    log = open(proxy.workdir / log_name, "ab")
    return clb._spawn([proxy.binary, "-c", str(config_path or proxy.config_path),
                       "--take-over", socket_path], stdout=log, stderr=log)


def assert_serving(proxy: clb.Proxy) -> None:
    assert proxy.get("/").status == 200
    assert proxy.admin_get("/healthz").status == 200


@pytest.mark.deadline(60)
def test_take_over_under_load_loses_nothing(setup):
    backend, proxy, path = setup()
    old_pid = proxy.pid
    host, port = proxy.service_address()
    load = Load(host, port)
    try:
        time.sleep(0.5)
        new = take_over(proxy, path)
        code = proxy.wait_exit(timeout=10)
        time.sleep(0.5)  # the new one serves alone
    finally:
        load.stop()
    assert code == 0
    assert new.poll() is None, (proxy.workdir / "new.log").read_text()
    try:
        assert load.failures == [], load.failures
        # Idle keep-alive connections went to the new process: none closed under a client.
        assert load.idle_closes == 0, load.idle_closes
        assert load.ok > 50
        assert_serving(proxy)
        status = proxy.admin_json()
        assert status["pid"] == new.pid
        log = proxy.log()
        assert f"upgrade: handing over to pid {new.pid}" in log
        assert f"to pid {new.pid} in " in log and "; draining" in log
        new_log = (proxy.workdir / "new.log").read_text()
        assert f"upgrade: took over 1 listeners and the admin listener" in new_log
        assert f"from pid {old_pid}" in new_log
        assert "idle keep-alive client connections went to the new process" in log
        print(f"take-over: {load.ok} requests, 0 failed, 0 keep-alive connections reset or "
              f"closed while idle, {load.told_to_close} answered with Connection: close")
    finally:
        new.kill()
        new.wait()


@pytest.mark.deadline(60)
def test_supervise_and_sigusr2_re_reads_the_binary(setup, start_proxy, tmp_path):
    """--supervise: SIGUSR2 starts the binary at the same path again (a copy here, so the
    test can replace it): a good one takes over, a broken one leaves the server as it was."""
    backend, first, path = setup()
    first.stop()
    binary = tmp_path / "contrail-lb"
    binary.write_bytes(Path(first.binary).read_bytes())
    binary.chmod(0o755)
    log = open(tmp_path / "supervised.log", "ab")
    supervisor = clb._spawn([str(binary), "-c", str(first.config_path), "--supervise"],
                            stdout=log, stderr=log)
    try:
        first.process = supervisor  # for the helpers that read its config
        host, port = first.service_address()
        wait_until(lambda: clb.port_accepts(host, port), 5, message="the supervised server")
        wait_until(lambda: first.get("/").status == 200, 5, message="the backend UP")
        serving = first.admin_json()["pid"]
        assert serving != supervisor.pid
        load = Load(host, port)
        try:
            time.sleep(0.3)
            supervisor.send_signal(signal.SIGUSR2)
            wait_until(lambda: first.admin_json()["pid"] != serving, 10,
                       message="the successor to serve")
            wait_until(lambda: not Path(f"/proc/{serving}").exists(), 10,
                       message="the old server to exit")
            time.sleep(0.3)
        finally:
            load.stop()
        assert load.failures == [], load.failures
        text = (tmp_path / "supervised.log").read_text()
        assert f"pid {serving} exited with status 0" in text
        successor = first.admin_json()["pid"]

        # A binary that fails at once: the server keeps serving, the supervisor says why.
        binary.rename(tmp_path / "contrail-lb.good")
        binary.write_text("#!/bin/sh\necho broken build >&2\nexit 3\n")
        binary.chmod(0o755)
        supervisor.send_signal(signal.SIGUSR2)
        wait_until(lambda: "failed: it exited with status 3; still serving" in
                   (tmp_path / "supervised.log").read_text(), 5, message="the failure logged")
        assert first.admin_json()["pid"] == successor
        assert_serving(first)

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=10) == 0
        assert not Path(f"/proc/{successor}").exists()
    finally:
        kill_tree(supervisor.pid)
        supervisor.wait()


@pytest.mark.deadline(60)
def test_sigusr2_without_supervisor_starts_the_successor(setup):
    backend, proxy, path = setup()
    old_pid = proxy.pid
    proxy.send_signal(signal.SIGUSR2)
    assert proxy.wait_exit(timeout=10) == 0
    new_pid = proxy.admin_json()["pid"]
    try:
        assert new_pid != old_pid
        assert_serving(proxy)
        assert f"upgrade: handing over to pid {new_pid}" in proxy.log()
    finally:
        kill_tree(new_pid)


@pytest.mark.deadline(60)
def test_bad_config_leaves_the_old_one_serving(setup):
    backend, proxy, path = setup()
    bad = proxy.workdir / "bad.yaml"
    bad.write_text("global: {workers: nope}\n")
    new = take_over(proxy, path, bad)
    assert new.wait(timeout=10) == 1
    assert "global.workers" in (proxy.workdir / "new.log").read_text()
    assert_serving(proxy)
    assert proxy.admin_json()["upgrade"]["state"] == "idle"  # it never asked

    # A configuration that loads but cannot be applied (a port in use): refused after the
    # state went across; the old one resumes.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    config = dict(proxy.config)
    config["services"] = [dict(config["services"][0])]
    config["services"][0]["listen"] = [f"127.0.0.1:{blocker.getsockname()[1]}"]
    other = proxy.workdir / "other.yaml"
    other.write_text(json.dumps(config))
    new = take_over(proxy, path, other)
    assert new.wait(timeout=10) == 1
    blocker.close()
    assert "Address already in use" in (proxy.workdir / "new.log").read_text()
    proxy.wait_for_log(r"upgrade: pid \d+ failed: .*Address already in use.*; still serving")
    assert_serving(proxy)
    upgrade = proxy.admin_json()["upgrade"]
    assert upgrade["state"] == "failed" and "Address already in use" in upgrade["last_reason"]


class FakeSuccessor:
    """Speaks the protocol by hand: hello, reads the state and the descriptors, then
    does what the test says (nothing: a hang)."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect("\0" + path[1:] if path.startswith("@") else path)
        self.fds: list[int] = []
        self.buffer = b""

    def send(self, message: dict) -> None:
        data = json.dumps(message).encode()
        self.sock.sendall(struct.pack(">I", len(data)) + data)

    def hello(self) -> None:
        self.send({"type": "hello", "version": 1, "pid": os.getpid()})

    def receive(self) -> dict:
        buffer = self.buffer
        while len(buffer) < 4 or len(buffer) < 4 + struct.unpack(">I", buffer[:4])[0]:
            data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(4 * 253))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    self.fds += list(struct.unpack(f"{len(payload) // 4}i", payload))
            if not data:
                raise ConnectionError("closed")
            buffer += data
        size = struct.unpack(">I", buffer[:4])[0]
        self.buffer = buffer[4 + size:]
        return json.loads(buffer[4:4 + size])

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.sock.close()


@pytest.mark.deadline(60)
def test_a_hang_two_at_once_and_a_version_mismatch(setup):
    backend, proxy, path = setup()
    host, port = proxy.service_address()
    hung = FakeSuccessor(path)
    hung.hello()
    state = hung.receive()
    assert state["type"] == "state" and state["fds"] == 3  # 2 workers' sockets + admin
    while len(hung.fds) < state["fds"]:
        assert hung.receive()["type"] == "fds"
    assert proxy.admin_json()["upgrade"]["state"] == "in_progress"

    second = FakeSuccessor(path)
    assert second.receive() == {"type": "refused", "version": 1,
                                "reason": "an upgrade is already running"}
    second.close()
    proxy.wait_for_log("refused a take-over on .*: an upgrade is already running")
    busy = proxy.admin_post("/api/v1/upgrade")
    assert busy.status == 409, busy.text
    assert busy.json() == {"error": "an upgrade is already running"}

    load = Load(host, port, new_connection_clients=1, keep_alive_clients=2)
    try:
        proxy.wait_for_log(r"upgrade: pid \d+ failed: not ready within 10s; still serving",
                           timeout=15)
        time.sleep(0.3)
    finally:
        load.stop()
    hung.close()
    assert load.failures == [] and load.idle_closes == 0, (load.failures, load.idle_closes)
    assert_serving(proxy)
    assert proxy.admin_json()["upgrade"]["state"] == "failed"

    other = FakeSuccessor(path)
    other.send({"type": "hello", "version": 99, "pid": 1})
    refused = other.receive()
    other.close()
    assert refused["type"] == "refused"
    assert refused["reason"] == "protocol version 99, this process speaks version 1"
    assert_serving(proxy)


ASK_AS_ANOTHER_USER = """
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect("\\0" + sys.argv[1][1:])
hello = json.dumps({"type": "hello", "version": 1, "pid": 0}).encode()
try:
    s.sendall(struct.pack(">I", len(hello)) + hello)
except BrokenPipeError:
    pass  # refused before the hello was read: the refusal is still there to read
data = b""
while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data[4:].decode())
"""


@pytest.mark.deadline(60)
def test_another_user_is_refused(setup, free_port):
    """An abstract socket has no file permissions: SO_PEERCRED is what refuses."""
    backend, proxy, path = setup(socket_path=f"@clb-test-upgrade-{free_port()}")
    client = subprocess.run(
        ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
         "/usr/bin/python3", "-c", ASK_AS_ANOTHER_USER, path],
        capture_output=True, text=True, timeout=20)
    assert client.returncode == 0, client.stderr
    answer = json.loads(client.stdout)
    assert answer["type"] == "refused"
    assert answer["reason"].startswith("permission denied: uid 65534 is not uid"), answer
    proxy.wait_for_log("refused a take-over on @clb-test-upgrade-.* from uid 65534")
    assert_serving(proxy)
    assert proxy.admin_json()["pid"] == proxy.pid
    assert proxy.admin_json()["upgrade"]["state"] == "idle"


@pytest.mark.deadline(60)
def test_admin_post_upgrade_answers_with_the_outcome(setup):
    backend, proxy, path = setup()
    old_pid = proxy.pid
    response = proxy.admin_post("/api/v1/upgrade", timeout=15)
    assert response.status == 200, response.text
    answer = response.json()
    assert answer["result"] == "ok" and answer["pid"] != old_pid
    try:
        assert proxy.wait_exit(timeout=10) == 0
        assert proxy.admin_json()["pid"] == answer["pid"]
        assert_serving(proxy)
        assert proxy.admin_post("/api/v1/upgrade/x").status == 404
    finally:
        kill_tree(answer["pid"])


# ---- BGP ---------------------------------------------------------------------------------

VIP = "10.0.0.100/32"


def bgp_peer(kind: str):
    """(daemon, its address as contrail-lb dials it, the VIP's next hop): GoBGP and FRR
    listen on 127.0.0.2 and refuse a loopback next hop (bgp_peers.py)."""
    import bgp_peers
    from bgp_peers import free_port
    if kind == "bird":
        return bgp_peers.Bird(free_port(), 65003, 64512), "127.0.0.1", "self"
    if kind == "frr":
        return bgp_peers.Frr(free_port("127.0.0.2"), 65003, 64512), "127.0.0.2", "192.0.2.10"
    return (bgp_peers.GoBgp(free_port("127.0.0.2"), free_port(), 65003, 64512), "127.0.0.2",
            "192.0.2.10")


@pytest.mark.deadline(90)
@pytest.mark.parametrize("kind", ["bird", "frr", "gobgp"])
def test_bgp_session_is_handed_over_without_a_flap(setup, kind):
    """The Established session to a real BIRD, FRR or GoBGP goes to the new process at a
    message boundary: the peer never sees it go down (same session mark: BIRD's 'since'
    time, FRR's established/dropped counts, GoBGP's uptime and flops), the route is never
    withdrawn (polled every 20 ms), and the new process keeps the session alive past twice
    the hold time (its KEEPALIVEs flow)."""
    import bgp_peers
    binaries = {"bird": (bgp_peers.BIRD, bgp_peers.BIRDC),
                "frr": (bgp_peers.FRR_BGPD, bgp_peers.VTYSH),
                "gobgp": (bgp_peers.GOBGPD, bgp_peers.GOBGP)}[kind]
    if not bgp_peers.installed(*binaries):
        pytest.skip(f"{kind} is not installed")
    peer, address, next_hop = bgp_peer(kind)
    try:
        peer.start()
        bgp = {"router_id": "127.0.0.1", "local_as": 64512, "hold_time": "3s",
               "peers": [{"address": address, "port": peer.port, "remote_as": 65003}],
               "vips": [{"prefix": VIP, "next_hop": next_hop, "med": 10,
                         "require": {"services": ["api"]}}]}
        backend, proxy, path = setup(bgp=bgp)
        wait_until(lambda: peer.route(VIP), 20, message=f"the VIP at {kind}")
        wait_until(peer.established, 5, message=f"{kind} Established")
        time.sleep(1.5)  # FRR and GoBGP count uptime in seconds: let the mark settle
        mark = peer.session_mark()
        log_start = len(peer.log()) if kind == "bird" else 0
        missing: list[float] = []
        polling = True

        def poll() -> None:
            while polling:
                if peer.route(VIP) is None:
                    missing.append(time.monotonic())
                time.sleep(0.02)

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            new = take_over(proxy, path)
            assert proxy.wait_exit(timeout=10) == 0
            time.sleep(7)  # more than twice the hold time: the new process keeps it alive
        finally:
            polling = False
            poller.join()
        try:
            assert new.poll() is None
            new_log = (proxy.workdir / "new.log").read_text()
            assert "1 BGP sessions and 0 BFD sessions from pid" in new_log, new_log
            assert "Idle -> Established (taken over from the previous process" in new_log
            assert "OPEN sent" not in new_log
            assert "upgrade: handed over 1 listeners, 1 BGP sessions" in proxy.log()
            assert missing == [], f"the VIP was missing at {kind} {len(missing)} times"
            assert peer.established()
            after = peer.session_mark()
            assert after == mark, (mark, after)
            if kind == "bird":
                events = peer.log()[log_start:]
                assert "State changed" not in events and "BGP session closed" not in events
            print(f"\nbgp hand-over ({kind}): session mark {mark} kept, route present in "
                  "every 20 ms poll")
        finally:
            new.kill()
            new.wait()
    finally:
        peer.close()


@pytest.mark.deadline(120)
@pytest.mark.parametrize("kind", ["bird", "frr"])
def test_bfd_stays_up_across_the_upgrade(tmp_path, kind):
    """BFD with a real BIRD or FRR across a veth pair (single hop needs an interface): the
    BFD session (discriminators, state, intervals, UDP sockets) and the BGP session go to
    the new process; the peer's BFD session is Up in every poll, its BGP session never
    changes state, the route stays."""
    import netns
    from bgp_peers import BIRD, BIRDC, FRR_BGPD, VTYSH, bird_session_mark, installed
    why = netns.unavailable()
    if why is not None:
        pytest.skip(f"network namespaces unavailable: {why}")
    if not installed(*((BIRD, BIRDC) if kind == "bird" else (FRR_BGPD, VTYSH))):
        pytest.skip(f"{kind} is not installed")
    from test_bfd_interop import NsBird, NsFrr, NsProxy, lb_config, VIP4
    from netns import RIGHT4

    with netns.NamespacePair("clbupg") as pair:
        bird = NsBird(pair, ipv6=False) if kind == "bird" else NsFrr(pair, ipv6=False)

        def session_mark():
            if kind == "bird":
                return bird_session_mark(bird.cli("show protocols lb"))
            state = json.loads(bird.cli(f"show bgp neighbors {bird.neighbor} json"))
            n = state.get(bird.neighbor, {})
            return (n.get("bgpState"), n.get("connectionsEstablished"),
                    n.get("connectionsDropped"))

        proxy = None
        new = None
        try:
            bird.start(timeout=20)
            config = lb_config(RIGHT4)
            socket_path = str(tmp_path / "upgrade.sock")
            config["global"]["upgrade_socket"] = socket_path
            proxy = NsProxy(config, tmp_path / "lb", pair).start()

            def up() -> bool:
                theirs = bird.bfd_session()
                return bool(theirs and theirs["state"] == "Up" and bird.established()
                            and bird.has_route(VIP4))

            wait_until(up, 30, interval=0.1, message="BGP + BFD up at BIRD")
            wait_until(lambda: (bird.bfd_session() or {}).get("interval") == 0.1, 10,
                       interval=0.1, message="100 ms BFD intervals")
            protocols = session_mark()
            samples: list[str] = []
            polling = True

            def poll() -> None:
                while polling:
                    theirs = bird.bfd_session()
                    samples.append(theirs["state"] if theirs else "none")
                    time.sleep(0.05)

            poller = threading.Thread(target=poll)
            poller.start()
            try:
                time.sleep(0.3)
                log = open(tmp_path / "new.log", "ab")
                new = clb._spawn(pair.exec(pair.left, [proxy.binary, "-c",
                                                       str(proxy.config_path), "--take-over",
                                                       socket_path]), stdout=log, stderr=log)
                assert proxy.wait_exit(timeout=10) == 0
                time.sleep(3)  # ten detection times and more than the hold time
            finally:
                polling = False
                poller.join()
            new_log = (tmp_path / "new.log").read_text()
            assert new.poll() is None, new_log
            assert "1 BGP sessions and 1 BFD sessions from pid" in new_log, new_log
            assert "session taken over in state Up" in new_log
            assert "upgrade: handed over 1 listeners, 1 BGP sessions, 1 BFD sessions" in \
                proxy.log()
            assert samples and set(samples) == {"Up"}, samples
            assert session_mark() == protocols  # same state, never re-established
            assert bird.has_route(VIP4)
            print(f"\nbfd hand-over ({kind}): the peer's BFD session Up in all {len(samples)} "
                  f"polls (every 50 ms), BGP session unchanged: {protocols!r}"[:300])
        finally:
            if new is not None:
                new.kill()
                new.wait()
            if proxy is not None and proxy.alive:
                proxy.kill()
            bird.close()


@pytest.mark.deadline(60)
def test_many_idle_keep_alive_connections_move(setup):
    """300 idle keep-alive connections, each having served one request, go to the new
    process: after the upgrade each sends its next request on the same connection and gets
    its answer (none reset, none closed)."""
    backend, proxy, path = setup()
    host, port = proxy.service_address()
    connections = []
    for _ in range(300):
        c = RawConnection(host, port, timeout=5)
        c.send(REQUEST)
        assert c.read_response().status == 200
        connections.append(c)
    new = take_over(proxy, path)
    try:
        assert proxy.wait_exit(timeout=10) == 0
        statuses = []
        for c in connections:
            c.send(REQUEST)
            statuses.append(c.read_response().status)
            c.close()
        assert statuses == [200] * 300
        new_log = (proxy.workdir / "new.log").read_text()
        assert "300 idle keep-alive client connections came over" in new_log, new_log[-3000:]
        assert "upgrade: 300 idle keep-alive client connections went to the new process" in \
            proxy.log()
    finally:
        for c in connections:
            c.close()
        new.kill()
        new.wait()
