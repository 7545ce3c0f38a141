"""tcp mode end to end (SPEC "tcp mode: bytes are relayed unchanged, with the same
balancing and health checks"): clb-test-backend --tcp-echo backends behind contrail-lb."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

import pytest

import clb
from clb import make_config, make_service, wait_until
from e2e import backend_status, drain, wait_all_up

NO_CHECK = {"type": "none"}


def tcp_proxy(start_proxy, free_port, backends, health_check=NO_CHECK, **extra):
    service = make_service("echo", free_port(), backends, mode="tcp",
                           health_check=health_check, **extra)
    return start_proxy(make_config([service], admin_port=free_port()))


TCP_CHECK = {"type": "tcp", "interval": "100ms", "timeout": "500ms", "rise": 2, "fall": 2}


def checked_tcp_proxy(start_proxy, free_port, backends):
    """A tcp service with active checks, started without start_proxy's readiness probe
    on the service port (a connection before any backend is UP crashes contrail-lb:
    notes/proxy-bugs.md #1); ready once the admin endpoint answers."""
    service = make_service("echo", free_port(), backends, mode="tcp", health_check=TCP_CHECK)
    config = make_config([service], admin_port=free_port())
    proxy = start_proxy(config, wait=False)
    wait_until(lambda: proxy.admin_get("/healthz").status == 200, 10, message="admin up")
    return proxy


def echo_round(sock: socket.socket, payload: bytes, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        data = sock.recv(65536)
        if not data:
            break
        received += data
    return received


@pytest.mark.deadline(90)
def test_large_stream_both_ways_concurrently_intact(start_backend, start_proxy, free_port):
    backend = start_backend("echo1", tcp_echo=True)
    proxy = tcp_proxy(start_proxy, free_port, [backend],
                      timeouts={"client": "30s", "server": "30s"})
    total = 200 * 1024 * 1024
    block = bytearray(os.urandom(1 << 20))
    sent_hash, received_hash = hashlib.sha256(), hashlib.sha256()
    received = [0]
    errors: list[BaseException] = []

    sock = socket.create_connection(proxy.service_address(), timeout=30)

    def reader():
        try:
            while received[0] < total:
                data = sock.recv(1 << 20)
                if not data:
                    break
                received_hash.update(data)
                received[0] += len(data)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for index in range(total // len(block)):
            block[:8] = index.to_bytes(8, "big")  # reordered or repeated blocks show
            sent_hash.update(block)
            sock.sendall(block)
        sock.shutdown(socket.SHUT_WR)
        thread.join(timeout=60)
        assert not thread.is_alive(), f"only {received[0]} of {total} bytes echoed"
        assert not errors, errors
        assert received[0] == total
        assert received_hash.hexdigest() == sent_hash.hexdigest()
        sock.settimeout(5)
        assert sock.recv(1) == b""  # EOF follows the last echoed byte
    finally:
        sock.close()


@pytest.mark.deadline(30)
def test_half_close_delivers_everything_then_eof(start_backend, start_proxy, free_port):
    backend = start_backend("echo1", tcp_echo=True)
    proxy = tcp_proxy(start_proxy, free_port, [backend])
    payload = bytes(range(256)) * 4000  # ~1 MB: more than the socket buffers hold at once
    with socket.create_connection(proxy.service_address(), timeout=5) as sock:
        sender = threading.Thread(target=lambda: (sock.sendall(payload),
                                                  sock.shutdown(socket.SHUT_WR)))
        sender.start()
        received = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        sender.join()
    assert received == payload


@pytest.mark.deadline(30)
def test_backend_half_close_still_carries_client_bytes(start_proxy, free_port):
    # A backend that says its piece, shuts its sending side, then reads to the end (every
    # connection: start_proxy's readiness probes are relayed to it too).
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve(conn):
        with conn:
            conn.sendall(b"banner\n")
            conn.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            received.append(data)

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        backend = {"name": "talker", "address": f"127.0.0.1:{listener.getsockname()[1]}"}
        proxy = tcp_proxy(start_proxy, free_port, [backend])
        payload = b"after your EOF " * 10000
        with socket.create_connection(proxy.service_address(), timeout=5) as sock:
            data = b""
            while chunk := sock.recv(64):
                data += chunk
            assert data == b"banner\n"  # then EOF, while our side stays open
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            wait_until(lambda: payload in received, 5, message="the backend to read it all")
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        acceptor.join(timeout=5)


@pytest.mark.deadline(30)
def test_connect_refused_retried_on_next_backend(start_backend, start_proxy, free_port):
    good = start_backend("good", tcp_echo=True)
    refused = {"name": "refused", "address": f"127.0.0.1:{free_port()}"}
    proxy = tcp_proxy(start_proxy, free_port, [refused, clb.backend_entries([good])[0]],
                      retries=2)
    for n in range(6):  # round robin: every other connection is offered to `refused` first
        with socket.create_connection(proxy.service_address(), timeout=5) as sock:
            payload = f"hello {n}\n".encode()
            assert echo_round(sock, payload) == payload
    assert backend_status(proxy, "echo", "refused")["connect_failures"] >= 1


def assert_closed_at_once(proxy) -> None:
    """A new client connection is closed (FIN or RST) within half a second."""
    with socket.create_connection(proxy.service_address(), timeout=5) as sock:
        started = time.monotonic()
        try:
            assert sock.recv(1) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 0.5


@pytest.mark.deadline(30)
def test_no_backend_closes_the_client_at_once(start_proxy, free_port):
    dead = [{"name": f"dead{n}", "address": f"127.0.0.1:{free_port()}"} for n in range(2)]
    proxy = tcp_proxy(start_proxy, free_port, dead, retries=2)
    for _ in range(3):
        assert_closed_at_once(proxy)


@pytest.mark.deadline(30)
def test_no_backend_up_closes_client_and_survives(start_proxy, free_port):
    dead = {"name": "dead", "address": f"127.0.0.1:{free_port()}"}
    proxy = checked_tcp_proxy(start_proxy, free_port, [dead])
    proxy.wait_for_log(r"backend echo/dead .* is DOWN")
    for _ in range(3):
        assert_closed_at_once(proxy)
        wait_until(lambda: not proxy.alive or proxy.admin_get("/healthz").status == 200, 2)
        assert proxy.alive, f"contrail-lb died with {proxy.process.poll()}"


@pytest.mark.deadline(30)
def test_health_checks_keep_dead_backend_out(start_backend, start_proxy, free_port):
    alive, doomed = start_backend("alive", tcp_echo=True), start_backend("doomed", tcp_echo=True)
    proxy = checked_tcp_proxy(start_proxy, free_port, [alive, doomed])
    wait_all_up(proxy, "echo", ["alive", "doomed"])
    doomed.kill()
    wait_until(lambda: not backend_status(proxy, "echo", "doomed")["up"], 5,
               message="doomed DOWN")
    before = backend_status(proxy, "echo", "doomed")["connect_failures"]
    for n in range(6):
        with socket.create_connection(proxy.service_address(), timeout=5) as sock:
            assert echo_round(sock, b"ping %d" % n) == b"ping %d" % n
    assert backend_status(proxy, "echo", "doomed")["connect_failures"] == before


@pytest.mark.deadline(30)
def test_zero_timeouts_mean_none_and_short_client_timeout_closes(
        start_backend, start_proxy, free_port):
    backend = start_backend("echo1", tcp_echo=True)
    unlimited = make_service("forever", free_port(), [backend], mode="tcp",
                             health_check=NO_CHECK, timeouts={"client": "0s", "server": "0s"})
    short = make_service("short", free_port(), [backend], mode="tcp",
                         health_check=NO_CHECK, timeouts={"client": "300ms", "server": "0s"})
    proxy = start_proxy(make_config([unlimited, short], admin_port=free_port()))
    with socket.create_connection(proxy.service_address("forever"), timeout=5) as forever, \
            socket.create_connection(proxy.service_address("short"), timeout=5) as brief:
        assert echo_round(forever, b"one") == b"one"
        assert echo_round(brief, b"one") == b"one"
        opened = time.monotonic()
        # The 300 ms client timeout closes the idle connection ...
        brief.settimeout(3)
        assert brief.recv(1) == b""
        closed_after = time.monotonic() - opened
        assert 0.2 <= closed_after < 1.5, closed_after
        # ... while the one without timeouts stays open through 1.5 s of silence.
        remaining = 1.5 - (time.monotonic() - opened)
        if remaining > 0:
            forever.settimeout(remaining)
            with pytest.raises(socket.timeout):
                forever.recv(1)
        assert echo_round(forever, b"still here") == b"still here"


@pytest.mark.deadline(30)
def test_drained_backend_keeps_its_connection_gets_no_new_ones(
        start_backend, start_proxy, free_port):
    b1, b2 = start_backend("b1", tcp_echo=True), start_backend("b2", tcp_echo=True)
    proxy = tcp_proxy(start_proxy, free_port, [b1, b2])
    # The readiness probe of start_proxy was relayed too: wait until it is gone.
    wait_until(lambda: all(backend_status(proxy, "echo", n)["active_connections"] == 0
                           for n in ("b1", "b2")), 3, message="no relayed connection")
    with socket.create_connection(proxy.service_address(), timeout=5) as first:
        assert echo_round(first, b"x") == b"x"
        victim = next(n for n in ("b1", "b2")
                      if backend_status(proxy, "echo", n)["active_connections"] == 1)
        drain(proxy, "echo", victim)
        before = backend_status(proxy, "echo", victim)["connections_total"]
        for n in range(4):
            with socket.create_connection(proxy.service_address(), timeout=5) as sock:
                assert echo_round(sock, b"new %d" % n) == b"new %d" % n
        assert backend_status(proxy, "echo", victim)["connections_total"] == before
        assert echo_round(first, b"still relayed") == b"still relayed"
        assert backend_status(proxy, "echo", victim)["active_connections"] == 1, [
            (b["name"], b["active_connections"], b["connections_total"], b["drained"], victim)
            for b in proxy.admin_json()["services"][0]["backends"]]
