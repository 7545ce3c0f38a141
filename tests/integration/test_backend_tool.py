"""clb-test-backend itself: every other integration test and the benchmark trust it."""

import hashlib
import os
import signal
import socket
import threading
import time

import pytest

import clb


def pattern(size: int) -> bytes:
    return bytes(ord("a") + i % 26 for i in range(size))


def test_hello_and_identity_headers(backend):
    response = backend.get("/")
    assert response.status == 200
    assert response.body == b"hello from b1\n"
    assert response.header("X-Backend") == "b1"
    assert int(response.header("X-Conn-Id")) >= 1
    assert response.header("X-Conn-Requests") == "1"
    assert backend.get("/no/such/path").body == b"hello from b1\n"


def test_request_id_is_echoed_only_when_sent(backend):
    assert backend.get("/", headers={"X-Request-Id": "soak-42"}).header("X-Request-Id") == "soak-42"
    assert backend.get("/bytes/3", headers={"x-request-id": "r7"}).header("X-Request-Id") == "r7"
    assert backend.get("/").header("X-Request-Id") is None


def test_garbage_and_surplus_modes_until_recover(backend):
    def post(path):
        return clb.http_request(backend.host, backend.port, "POST", path).status

    assert post("/admin/garbage") == 200
    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert not connection.read_until_close().startswith(b"HTTP/")
    assert backend.get("/health").status == 200  # health checks still pass
    assert post("/admin/surplus") == 200
    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        answer = connection.read_until_close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Content-Length: 14" in head
    assert body.startswith(b"hello from b1\n") and len(body) > 14  # more than announced
    assert post("/admin/recover") == 200
    assert backend.get("/").body == b"hello from b1\n"


def test_keep_alive_reuses_the_connection(backend):
    with clb.RawConnection(backend.host, backend.port) as connection:
        ids = set()
        for k in range(1, 4):
            connection.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            response = connection.read_response()
            assert response.header("X-Conn-Requests") == str(k)
            ids.add(response.header("X-Conn-Id"))
        assert len(ids) == 1


def test_pipelined_requests_are_answered_in_order(backend):
    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(
            b"GET /delay/100 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /bytes/5 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /chunked/30 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /status/404 HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        replies = [connection.read_response() for _ in range(4)]
    assert [r.status for r in replies] == [200, 200, 200, 404]
    assert replies[0].body == b"hello from b1\n"
    assert replies[1].body == b"abcde"
    assert replies[2].body == pattern(30)
    assert [r.header("X-Conn-Requests") for r in replies] == ["1", "2", "3", "4"]


def test_status_and_delay(backend):
    assert backend.get("/status/503").status == 503
    assert backend.get("/status/204").body == b""
    started = time.monotonic()
    assert backend.get("/delay/200").status == 200
    assert time.monotonic() - started >= 0.2


def test_health_toggles(backend):
    assert backend.get("/health").status == 200
    assert backend.get("/health").body == b"ok"
    backend.fail_health()
    assert backend.get("/health").status == 500
    assert backend.get("/").status == 200  # only /health fails
    backend.recover_health()
    assert backend.get("/health").status == 200


@pytest.mark.parametrize("size", [0, 1, 26, 100_000, 3_000_001])
def test_bytes_with_content_length(backend, size):
    response = backend.get(f"/bytes/{size}", timeout=20)
    assert response.header("Content-Length") == str(size)
    assert response.body == pattern(size)


@pytest.mark.parametrize("size", [0, 7, 300_000, 1_000_000])
def test_chunked(backend, size):
    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(f"GET /chunked/{size} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        response = connection.read_response(timeout=20)
        assert response.header("Transfer-Encoding") == "chunked"
        assert response.body == pattern(size)
        connection.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # still in sync
        assert connection.read_response().header("X-Conn-Requests") == "2"


def test_large_download_streams_in_constant_memory(backend):
    size = 200 * 1024 * 1024
    with clb.RawConnection(backend.host, backend.port, timeout=60) as connection:
        connection.send(f"GET /bytes/{size} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        connection.sock.settimeout(60)
        received = 0
        data = b""
        while b"\r\n\r\n" not in data:
            data += connection.sock.recv(65536)
        received = len(data) - data.index(b"\r\n\r\n") - 4
        peak_rss = 0
        while received < size:
            chunk = connection.sock.recv(1 << 20)
            assert chunk
            received += len(chunk)
            peak_rss = max(peak_rss, clb.rss_kib(backend.pid))
    assert peak_rss < 64 * 1024, f"backend RSS grew to {peak_rss} KiB"


def sink_expectation(data: bytes) -> dict:
    return {"bytes": len(data), "sum": sum(data) % 2**32}


def test_sink_content_length_and_chunked(backend):
    data = os.urandom(2_000_000)
    response = clb.http_request(backend.host, backend.port, "POST", "/sink", body=data)
    assert response.json() == sink_expectation(data)

    def chunks():
        for offset in range(0, len(data), 70_000):
            yield data[offset : offset + 70_000]

    response = clb.http_request(backend.host, backend.port, "PUT", "/sink", body=chunks(),
                                headers={"Transfer-Encoding": "chunked"})
    assert response.json() == sink_expectation(data)


def test_echo_content_length_and_chunked(backend):
    data = os.urandom(1_500_000)
    response = clb.http_request(backend.host, backend.port, "POST", "/echo", body=data)
    assert response.header("Content-Length") == str(len(data))
    assert hashlib.sha256(response.body).digest() == hashlib.sha256(data).digest()

    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        response = connection.read_response()
        assert response.header("Transfer-Encoding") == "chunked"
        assert response.body == b"hello world"


def test_echo_applies_back_pressure(backend):
    """A client that uploads but does not read must not make the backend buffer it all."""
    with clb.RawConnection(backend.host, backend.port, timeout=10) as connection:
        size = 64 * 1024 * 1024
        connection.send(f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n".encode())
        connection.sock.setblocking(False)
        sent = 0
        block = b"x" * 65536
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sent < size:
            try:
                sent += connection.sock.send(block)
            except BlockingIOError:
                time.sleep(0.01)
        assert sent < size, "the backend kept reading although nobody read its echo"
        assert clb.rss_kib(backend.pid) < 64 * 1024


def test_headers_returns_the_raw_request_head(backend):
    head = (b"GET /headers HTTP/1.1\r\nHost: example.test\r\n"
            b"X-Forwarded-For: 10.1.1.1, 10.2.2.2\r\nX-Forwarded-Proto: https\r\n\r\n")
    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(head)
        assert connection.read_response().body == head


def test_close_endpoint_closes(backend):
    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(b"GET /close HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        response = connection.read_response()
        assert response.header("Connection") == "close"
        assert connection.closed_by_peer(timeout=5)
        assert connection.buffer == b""  # the second request was not answered


def test_expect_continue(backend):
    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                        b"Expect: 100-continue\r\n\r\n")
        interim = connection._take_until(b"\r\n\r\n", time.monotonic() + 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        connection.send(b"abcd")
        assert connection.read_response().json() == {"bytes": 4, "sum": sum(b"abcd")}

    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(b"POST /reject-expect HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                        b"Expect: 100-continue\r\n\r\n")
        assert connection.read_response().status == 417


def test_upgrade_then_raw_echo(backend):
    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                        b"Upgrade: websocket\r\n\r\nfirst")
        response = connection.read_response()
        assert response.status == 101
        assert response.header("Upgrade") == "websocket"
        connection.send(b" second")
        connection.shutdown_write()
        assert connection.read_until_close() == b"first second"


def test_http10_closes_unless_keep_alive(backend):
    reply = clb.raw_exchange(backend.host, backend.port, b"GET / HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.0 200 OK\r\n")
    assert reply.endswith(b"hello from b1\n")  # and the connection was closed

    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert connection.read_response().header("Connection") == "keep-alive"
        connection.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert connection.read_response().header("X-Conn-Requests") == "2"


def test_malformed_request_gets_400(backend):
    reply = clb.raw_exchange(backend.host, backend.port,
                             b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
    assert reply.startswith(b"HTTP/1.1 400 ")


def test_stall_never_answers(backend):
    with clb.RawConnection(backend.host, backend.port) as connection:
        connection.send(b"GET /stall HTTP/1.1\r\nHost: t\r\n\r\n")
        with pytest.raises(TimeoutError):
            connection.read_response(timeout=0.5)


def test_stats_counts_connections_and_requests(backend):
    before = backend.stats()
    with clb.RawConnection(backend.host, backend.port) as connection:
        for _ in range(3):
            connection.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            connection.read_response()
    after = backend.stats()
    assert after["connections"] == before["connections"] + 2  # ours + the stats request
    assert after["requests"] == before["requests"] + 4


def test_threads_share_one_port(start_backend):
    backend = start_backend("multi", threads=3)
    for _ in range(20):
        assert backend.get("/").status == 200


def test_ipv6_listener(start_backend):
    backend = start_backend("six", host="::1")
    assert backend.get("/").body == b"hello from six\n"


def test_tcp_echo_half_close(start_backend):
    backend = start_backend("echo", tcp_echo=True)
    data = os.urandom(3_000_000)
    with clb.RawConnection(backend.host, backend.port, timeout=20) as connection:
        sender = threading.Thread(target=lambda: (connection.send(data), connection.shutdown_write()))
        sender.start()
        echoed = connection.read_until_close()
        sender.join()
    assert echoed == data


def test_restart_on_same_port_and_sigterm_exit_code(start_backend):
    backend = start_backend("again")
    port = backend.port
    assert backend.stop(signal.SIGTERM) == 0
    assert not clb.port_accepts(backend.host, port)
    backend.restart()
    assert backend.port == port and backend.get("/").status == 200
    backend.kill()
    assert not backend.alive


def test_wait_until_reports_timeouts():
    with pytest.raises(TimeoutError):
        clb.wait_until(lambda: False, timeout=0.1, message="nothing")
    assert clb.wait_until(lambda: 42, timeout=0.1) == 42


def test_unknown_option_is_an_error(backend_bin):
    import subprocess

    result = subprocess.run([backend_bin, "--bogus"], capture_output=True, timeout=10)
    assert result.returncode == 2 and b"usage" in result.stderr


def test_oversized_head_gets_431(backend):
    huge = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    with clb.RawConnection(backend.host, backend.port) as connection:
        try:
            connection.send(huge)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it may close while we still send
        assert connection.read_response().status == 431
