"""Graceful shutdown (SPEC "Signals"): SIGTERM/SIGINT stop accepting, let the requests
in flight finish within global.grace, close idle keep-alive connections, exit 0."""

from __future__ import annotations

import signal
import socket
import threading
import time

import pytest

import clb
from clb import RawConnection, make_config, make_service, wait_until

NO_CHECK = {"type": "none"}


def active_connections(proxy: clb.Proxy) -> int:
    return proxy.admin_json()["services"][0]["active_connections"]


def start(start_backend, start_proxy, free_port, grace="10s", workers=1):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check=NO_CHECK)
    proxy = start_proxy(make_config([service], admin_port=free_port(), grace=grace,
                                    workers=workers))
    return backend, proxy


class InFlight:
    """`count` requests for `path`, each on its own connection, sent from threads; the
    results land in self.results as (status or exception, monotonic time of the end)."""

    def __init__(self, proxy: clb.Proxy, path: str, count: int, timeout: float = 10) -> None:
        self.results: list = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._one, args=(proxy, path, timeout))
                        for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _one(self, proxy: clb.Proxy, path: str, timeout: float) -> None:
        try:
            outcome = proxy.get(path, timeout=timeout).status
        except Exception as error:  # noqa: BLE001 - asserted by the test
            outcome = error
        with self.lock:
            self.results.append((outcome, time.monotonic()))

    def join(self) -> list:
        for thread in self.threads:
            thread.join(timeout=15)
        return self.results


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.deadline(30)
def test_in_flight_requests_complete_then_exit_0(start_backend, start_proxy, free_port, sig):
    backend, proxy = start(start_backend, start_proxy, free_port, grace="10s", workers=2)
    host, port = proxy.service_address()
    requests = InFlight(proxy, "/delay/1000", 4)
    wait_until(lambda: backend.stats()["requests"] >= 5, 3,  # 4 delays + this /stats
               message="the delayed requests to reach the backend")
    signalled = time.monotonic()
    proxy.send_signal(sig)
    # New connections are refused once the signal is handled (well before the delays end).
    wait_until(lambda: not clb.port_accepts(host, port, timeout=0.2), 0.8,
               message="the listener to close")
    code = proxy.wait_exit(timeout=5)
    exited = time.monotonic()
    results = requests.join()
    assert [outcome for outcome, _ in results] == [200] * 4, results
    assert code == 0
    last_answer = max(at for _, at in results)
    # Exit follows the last answer closely, far from the 10 s grace.
    assert exited - last_answer < 0.5, exited - last_answer
    assert exited - signalled < 3.0
    log = proxy.log()
    assert f"{signal.Signals(sig).name} received: shutting down" in log
    assert "shutdown: every connection finished" in log


@pytest.mark.deadline(30)
def test_a_worker_done_draining_is_not_a_stalled_worker(start_backend, start_proxy, free_port):
    """Two workers, one request in flight past the watchdog's 2 s: the idle worker's loop
    ends at once, and that is no stall (the soak found the watchdog saying otherwise)."""
    backend, proxy = start(start_backend, start_proxy, free_port, grace="10s", workers=2)
    requests = InFlight(proxy, "/delay/3500", 1)
    wait_until(lambda: backend.stats()["requests"] >= 2, 3,  # the delay + this /stats
               message="the delayed request to reach the backend")
    proxy.send_signal(signal.SIGTERM)
    assert proxy.wait_exit(timeout=10) == 0
    assert [outcome for outcome, _ in requests.join()] == [200]
    log = proxy.log()
    assert "shutdown: every connection finished" in log
    assert "loop stalled" not in log, log


@pytest.mark.deadline(30)
def test_idle_keep_alive_connections_closed_at_sigterm(start_backend, start_proxy, free_port):
    backend, proxy = start(start_backend, start_proxy, free_port, grace="10s")
    with RawConnection(*proxy.service_address()) as idle:
        idle.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        assert idle.read_response().status == 200
        busy = InFlight(proxy, "/delay/1500", 1)  # keeps the process in its drain
        wait_until(lambda: active_connections(proxy) == 2, 3, message="the delay in flight")
        proxy.send_signal(signal.SIGTERM)
        assert idle.closed_by_peer(1.0), "idle keep-alive connection not closed at SIGTERM"
        assert idle.buffer == b""
        assert proxy.alive  # still draining the request in flight
    assert busy.join()[0][0] == 200
    assert proxy.wait_exit(timeout=5) == 0


@pytest.mark.deadline(30)
def test_keep_alive_request_in_flight_answered_with_connection_close(
        start_backend, start_proxy, free_port):
    backend, proxy = start(start_backend, start_proxy, free_port, grace="10s")
    with RawConnection(*proxy.service_address()) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        assert client.read_response().status == 200
        client.send(b"GET /delay/800 HTTP/1.1\r\nHost: api\r\n\r\n")
        wait_until(lambda: backend.stats()["requests"] >= 3, 3, message="the delay in flight")
        proxy.send_signal(signal.SIGTERM)
        response = client.read_response(timeout=5)
        assert response.status == 200
        assert response.header("Connection") == "close"
        assert client.closed_by_peer(2)
    assert proxy.wait_exit(timeout=5) == 0


@pytest.mark.deadline(30)
def test_grace_expiry_exits_0_with_a_stalled_request(start_backend, start_proxy, free_port):
    backend, proxy = start(start_backend, start_proxy, free_port, grace="1s")
    stalled = InFlight(proxy, "/stall", 1, timeout=5)
    wait_until(lambda: backend.stats()["requests"] >= 2, 3, message="the stall in flight")
    signalled = time.monotonic()
    proxy.send_signal(signal.SIGTERM)
    code = proxy.wait_exit(timeout=5)
    took = time.monotonic() - signalled
    assert code == 0
    assert 0.8 <= took < 2.0, took
    outcome, _ = stalled.join()[0]
    assert outcome != 200  # cut off: the connection closed without an answer
    assert "grace period over, closing 1 connection(s)" in proxy.log()


@pytest.mark.deadline(30)
def test_sigterm_when_idle_exits_at_once(start_backend, start_proxy, free_port):
    backend, proxy = start(start_backend, start_proxy, free_port, grace="10s")
    assert proxy.get("/").status == 200
    signalled = time.monotonic()
    proxy.send_signal(signal.SIGTERM)
    assert proxy.wait_exit(timeout=5) == 0
    assert time.monotonic() - signalled < 1.0


@pytest.mark.deadline(30)
def test_second_sigterm_stops_at_once(start_backend, start_proxy, free_port):
    backend, proxy = start(start_backend, start_proxy, free_port, grace="10s")
    stalled = InFlight(proxy, "/stall", 1, timeout=5)
    wait_until(lambda: backend.stats()["requests"] >= 2, 3, message="the stall in flight")
    proxy.send_signal(signal.SIGTERM)
    proxy.wait_for_log(r"SIGTERM received: shutting down")
    assert proxy.alive  # waiting for the stalled request, up to 10 s
    signalled = time.monotonic()
    proxy.send_signal(signal.SIGTERM)
    assert proxy.wait_exit(timeout=5) == 0
    assert time.monotonic() - signalled < 1.0
    assert "SIGTERM again: stopping now" in proxy.log()
    stalled.join()


@pytest.mark.deadline(30)
def test_tcp_connection_relayed_through_the_drain(start_backend, start_proxy, free_port):
    backend = start_backend("echo", tcp_echo=True)
    service = make_service("echo", free_port(), [backend], mode="tcp", health_check=NO_CHECK)
    proxy = start_proxy(make_config([service], admin_port=free_port(), grace="10s"))
    with socket.create_connection(proxy.service_address(), timeout=5) as sock:
        sock.sendall(b"before")
        assert sock.recv(64) == b"before"
        proxy.send_signal(signal.SIGTERM)
        proxy.wait_for_log(r"SIGTERM received: shutting down")
        wait_until(lambda: not clb.port_accepts(*proxy.service_address(), timeout=0.2), 2,
                   message="the listener to close")
        sock.sendall(b"during")  # the open connection still relays
        assert sock.recv(64) == b"during"
        assert proxy.alive
        closed = time.monotonic()
    assert proxy.wait_exit(timeout=5) == 0
    assert time.monotonic() - closed < 1.0
