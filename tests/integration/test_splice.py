"""Large Content-Length response bodies cross the proxy through a kernel pipe (splice(2))
on plain TCP (issue 10, item 4): the bytes must arrive exactly, a slow client must hold
the pipe back rather than grow memory, and a peer that stops mid-body must end the
exchange as it does on the buffered path, with nothing left behind for the next request.
Request bodies keep the buffer (spliced, they cost more CPU: docs/benchmarks.md)."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

import clb
from clb import RawConnection, make_config, make_service, wait_until

NO_CHECK = {"type": "none"}
MIB = 1 << 20


def pattern(size: int) -> bytes:
    """What clb-test-backend's /bytes/N sends: byte i is 'a' + i % 26."""
    alphabet = bytes(range(ord("a"), ord("a") + 26))
    return (alphabet * (size // 26 + 1))[:size]


def pipes_open(proxy: clb.Proxy) -> int:
    """The proxy's open pipe fds (splice pipes come in pairs)."""
    fd_dir = f"/proc/{proxy.pid}/fd"
    count = 0
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(f"{fd_dir}/{fd}").startswith("pipe:"):
                count += 1
        except FileNotFoundError:
            pass
    return count


def access_lines(proxy: clb.Proxy) -> list[str]:
    return [line for line in proxy.log().splitlines() if "access: " in line]


@pytest.fixture
def one(start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check=NO_CHECK,
                           timeouts={"server": "10s", "client": "10s"})
    return backend, start_proxy(make_config([service], admin_port=free_port()))


def test_large_response_arrives_exactly_and_the_connections_are_reused(one):
    _, proxy = one
    size = 5 * MIB + 7
    with RawConnection(*proxy.service_address(), timeout=20) as c:
        c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        first = c.read_response()
        assert first.status == 200
        assert first.body == pattern(size)
        # The same client connection and the same backend connection carry the next one.
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        second = c.read_response()
        assert second.status == 200
        assert second.header("X-Conn-Id") == first.header("X-Conn-Id")


def test_large_upload_echoed_while_the_response_is_spliced(one):
    _, proxy = one
    body = bytes((i * 7) % 251 for i in range(251)) * (12 * MIB // 251)
    with RawConnection(*proxy.service_address(), timeout=30) as c:
        # /echo streams the body back while it is still arriving.
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        sender = threading.Thread(target=c.sock.sendall, args=(body,), daemon=True)
        sender.start()
        r = c.read_response()
        sender.join(10)
        assert r.status == 200
        assert r.body == body
        c.send(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        c.send(body)
        r = c.read_response()
        assert r.json()["bytes"] == len(body)
        assert r.json()["sum"] == sum(body)


def test_slow_client_holds_the_pipe_not_memory(one):
    _, proxy = one
    size = 64 * MIB
    rss_before = proxy.rss_kib()
    assert pipes_open(proxy) == 0
    with RawConnection(*proxy.service_address(), timeout=60) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        c._take_until(b"\r\n\r\n", time.monotonic() + 10)
        # The client reads nothing for a while: the body waits in the pipe and the sockets.
        wait_until(lambda: pipes_open(proxy) >= 2, 5, message="a splice pipe in use")
        time.sleep(0.5)
        assert proxy.rss_kib() - rss_before < 8 * 1024
        received = len(c.buffer)
        c.buffer = b""
        while received < size:
            data = c.sock.recv(MIB)
            assert data, "connection closed early"
            received += len(data)
        assert received == size
    # The pipe went back to the worker's pool: still open, never more than one pair.
    assert pipes_open(proxy) == 2


def test_backend_cut_mid_body_ends_like_the_buffered_path(start_proxy, free_port):
    """A backend that announces 4 MiB and closes after 1 MiB: the client gets the bytes
    that came and then the close (never a completed message), the exchange is logged as
    backend_reset, and the proxy serves the next client."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        for _ in range(2):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                if b"GET /cut" in request:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (4 * MIB))
                    conn.sendall(b"z" * MIB)
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    time.sleep(0.5)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        backend = {"name": "cutter", "address": f"127.0.0.1:{listener.getsockname()[1]}"}
        service = make_service("api", free_port(), [backend], health_check=NO_CHECK,
                               retries=0)
        proxy = start_proxy(make_config([service], admin_port=free_port()))
        with RawConnection(*proxy.service_address(), timeout=10) as c:
            c.send(b"GET /cut HTTP/1.1\r\nHost: x\r\n\r\n")
            c._take_until(b"\r\n\r\n", time.monotonic() + 5)
            assert c.closed_by_peer(5)
            assert len(c.buffer) == MIB
        line = wait_until(lambda: next((l for l in access_lines(proxy) if "/cut" in l), None), 5)
        assert "backend_reset" in line, line
        assert proxy.get("/").body == b"ok"
    finally:
        listener.close()
        server.join(5)


def test_client_gone_mid_download_frees_everything(one):
    backend, proxy = one
    with RawConnection(*proxy.service_address(), timeout=10) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % (256 * MIB))
        c._take_until(b"\r\n\r\n", time.monotonic() + 5)
        wait_until(lambda: pipes_open(proxy) >= 2, 5, message="a splice pipe in use")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    line = wait_until(lambda: next((l for l in access_lines(proxy) if "/bytes/" in l), None), 5)
    assert "client_abort" in line, line
    # A pipe that still held bytes is closed, an empty one pooled: never more than one
    # pair, and the next spliced body carries no stale byte.
    assert pipes_open(proxy) <= 2
    r = proxy.get("/bytes/%d" % (3 * MIB))
    assert r.body == pattern(3 * MIB)
    assert pipes_open(proxy) == 2


def test_client_gone_mid_upload_ends_the_exchange(one):
    backend, proxy = one
    with RawConnection(*proxy.service_address(), timeout=10) as c:
        c.send(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (64 * MIB))
        c.send(b"u" * (4 * MIB))
        assert pipes_open(proxy) == 0  # request bodies go through the buffer
    line = wait_until(lambda: next((l for l in access_lines(proxy) if "/sink" in l), None), 5)
    assert "client_abort" in line, line
    r = proxy.get("/bytes/100000")
    assert r.body == pattern(100000)


def test_small_and_chunked_bodies_keep_the_buffer(one):
    _, proxy = one
    assert proxy.get("/bytes/%d" % (16 * 1024)).body == pattern(16 * 1024)
    with RawConnection(*proxy.service_address(), timeout=10) as c:
        c.send(b"GET /chunked/%d HTTP/1.1\r\nHost: x\r\n\r\n" % (4 * MIB))
        assert c.read_response().body == pattern(4 * MIB)
    assert pipes_open(proxy) == 0


def test_splice_false_copies_through_the_buffer_and_reload_turns_it_on(start_backend, start_proxy,
                                                                      free_port):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check=NO_CHECK)
    config = make_config([service], admin_port=free_port(), splice=False)
    proxy = start_proxy(config)

    def slow_download_uses_a_pipe() -> bool:
        with RawConnection(*proxy.service_address(), timeout=20) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % (16 * MIB))
            c._take_until(b"\r\n\r\n", time.monotonic() + 5)
            time.sleep(0.3)  # the proxy is held by the client: the body waits where it goes
            used = pipes_open(proxy) >= 2
            received = len(c.buffer)
            while received < 16 * MIB:
                data = c.sock.recv(MIB)
                assert data, "connection closed early"
                received += len(data)
            return used

    assert not slow_download_uses_a_pipe()
    offset = len(proxy.log())
    config["global"]["splice"] = True
    proxy.reload(config)
    proxy.wait_for_log(r"reload: applied ", start=offset)
    assert slow_download_uses_a_pipe()


@pytest.mark.parametrize("splice", [True, False])
def test_slow_client_is_not_a_silent_backend(start_backend, start_proxy, free_port, splice):
    """A client that reads slower than the backend sends holds the body back in the proxy
    (buffer or pipe) longer than timeouts.server: the backend is not silent, it waits on
    the client, and the download completes."""
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check=NO_CHECK,
                           timeouts={"server": "1s", "client": "10s"})
    proxy = start_proxy(make_config([service], admin_port=free_port(), splice=splice))
    size = 8 * MIB
    with RawConnection(*proxy.service_address(), timeout=20) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        c._take_until(b"\r\n\r\n", time.monotonic() + 5)
        received = len(c.buffer)
        started = time.monotonic()
        while received < size:
            data = c.sock.recv(256 * 1024)
            assert data, f"connection closed after {received} bytes"
            received += len(data)
            if time.monotonic() - started < 2.5:
                time.sleep(0.2)  # 2.5 s slower than the backend: past timeouts.server
        assert received == size
    assert "server_timeout" not in proxy.log()
