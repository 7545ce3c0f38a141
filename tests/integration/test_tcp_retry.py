"""tcp mode: a connect retry after the snapshot changed under it (issue 7, item 2).

Clients wait on a backend whose connects hang (a listener on loopback whose backlog is
full and never accepted: the kernel drops the proxy's SYNs). Before timeouts.connect
fires, the snapshot changes: a reload adds backends in front of it, a reload removes the
service, an admin drain/enable changes the eligible list. The retry must go to a backend
of the snapshot it picks from; contrail-lb used to apply a pick from the newest snapshot
to the one the connection pinned (heap overflow, SIGSEGV in release builds)."""

from __future__ import annotations

import socket
import time

import pytest

import clb
from clb import make_config, make_service, wait_until
from e2e import drain

NO_CHECK = {"type": "none"}
CONNECT_TIMEOUT = "1500ms"


class HangingBackend:
    """A listener nobody accepts on, its backlog (0) filled: connects to it hang."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.fillers = []
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(self.listener.getsockname())
            self.fillers.append(filler)
        # The queue holds backlog + 1 completed handshakes; the rest stay in SYN_SENT.
        time.sleep(0.1)

    @property
    def address(self) -> str:
        host, port = self.listener.getsockname()
        return f"{host}:{port}"

    def entry(self, name: str = "hang") -> dict:
        return {"name": name, "address": self.address}

    def close(self) -> None:
        for sock in self.fillers + [self.listener]:
            sock.close()


@pytest.fixture
def hanging_backend():
    backend = HangingBackend()
    yield backend
    backend.close()


def tcp_service(port: int, entries: list, **extra) -> dict:
    return make_service("echo", port, entries, mode="tcp", health_check=NO_CHECK, retries=3,
                        timeouts={"connect": CONNECT_TIMEOUT}, **extra)


def entries(*backends) -> list:
    return [{"name": b.name, "address": b.address} for b in backends]


def waiting_clients(proxy: clb.Proxy, count: int, service: str = "echo") -> list[socket.socket]:
    """count connections to the service, each with a line sent that waits for a backend."""
    clients = []
    for index in range(count):
        sock = socket.create_connection(proxy.service_address(service), timeout=10)
        sock.sendall(f"hello {index}\n".encode())
        clients.append(sock)
    return clients


def assert_echoed(clients: list[socket.socket]) -> None:
    for index, sock in enumerate(clients):
        expected = f"hello {index}\n".encode()
        received = b""
        sock.settimeout(10)
        while len(received) < len(expected):
            data = sock.recv(4096)
            assert data, f"client {index}: closed after {received!r}"
            received += data
        assert received == expected
        sock.close()


def wait_connecting(proxy: clb.Proxy, count: int) -> None:
    """Every client's session is connecting to the hanging backend."""
    def connecting() -> bool:
        services = {s["name"]: s for s in proxy.admin_json()["services"]}
        return services["echo"]["active_connections"] >= count

    wait_until(connecting, 5, message=f"{count} client connections")


@pytest.mark.deadline(60)
def test_retry_after_a_reload_added_backends(start_backend, start_proxy, free_port,
                                             hanging_backend):
    echoes = [start_backend(f"echo{i}", tcp_echo=True) for i in range(3)]
    port, admin_port = free_port(), free_port()
    config = make_config([tcp_service(port, [hanging_backend.entry()])], admin_port=admin_port)
    proxy = start_proxy(config, wait=False)
    wait_until(lambda: proxy.admin_get("/healthz").status == 200, 10, message="admin up")

    clients = waiting_clients(proxy, 6)
    wait_connecting(proxy, 6)
    # Backends in front of the hanging one: the pinned snapshot's list is shorter than
    # the new one, and its indexes mean other backends.
    start = len(proxy.log())
    proxy.reload(make_config([tcp_service(port, entries(*echoes) + [hanging_backend.entry()])],
                             admin_port=admin_port))
    proxy.wait_for_log(r"reload: applied", start=start)
    assert_echoed(clients)
    assert proxy.alive, proxy.log()[-3000:]
    # And the new snapshot serves new clients as well.
    assert_echoed(waiting_clients(proxy, 3))


@pytest.mark.deadline(60)
def test_retry_after_a_reload_removed_the_service(start_backend, start_proxy, free_port,
                                                  hanging_backend):
    echo = start_backend("echo0", tcp_echo=True)
    port, other_port, admin_port = free_port(), free_port(), free_port()
    other = make_service("other", other_port, entries(echo), mode="tcp", health_check=NO_CHECK)
    # The removed service comes last: its index is past the end of the new snapshot's.
    config = make_config([other, tcp_service(port, [hanging_backend.entry()])],
                         admin_port=admin_port)
    proxy = start_proxy(config, wait=False)
    wait_until(lambda: proxy.admin_get("/healthz").status == 200, 10, message="admin up")

    clients = waiting_clients(proxy, 4, service="echo")
    wait_connecting(proxy, 4)
    start = len(proxy.log())
    proxy.reload(make_config([other], admin_port=admin_port))
    proxy.wait_for_log(r"reload: applied", start=start)
    for sock in clients:  # no backend left for them: closed, no crash
        sock.settimeout(10)
        try:
            assert sock.recv(4096) == b""
        except ConnectionResetError:
            pass
        sock.close()
    assert proxy.alive, proxy.log()[-3000:]
    with socket.create_connection(("127.0.0.1", other_port), timeout=5) as sock:
        sock.sendall(b"still here\n")
        sock.settimeout(5)
        assert sock.recv(4096) == b"still here\n"


@pytest.mark.deadline(60)
def test_retry_after_drain_and_enable(start_backend, start_proxy, free_port, hanging_backend):
    echoes = [start_backend(f"echo{i}", tcp_echo=True) for i in range(2)]
    config = make_config([tcp_service(free_port(),
                                      [hanging_backend.entry()] + entries(*echoes))],
                         admin_port=free_port())
    proxy = start_proxy(config, wait=False)
    wait_until(lambda: proxy.admin_get("/healthz").status == 200, 10, message="admin up")
    for echo in echoes:
        drain(proxy, "echo", echo.name)

    clients = waiting_clients(proxy, 6)  # only the hanging backend is eligible
    wait_connecting(proxy, 6)
    # Each admin action is a snapshot change with a longer eligible list than the pinned one.
    for echo in echoes:
        drain(proxy, "echo", echo.name, "enable")
    drain(proxy, "echo", "hang")
    assert_echoed(clients)
    assert proxy.alive, proxy.log()[-3000:]
