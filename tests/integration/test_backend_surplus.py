"""A backend that sends more than the response it framed (issue 14, item 1): the surplus
is a protocol error on the backend's side, logged, counted in
contrail_lb_backend_protocol_errors_total and ended by closing that backend connection.
It is never read as the answer to the next request, whoever sent it: the same client
pipelining, or another client whose request lands in the same loop pass.

Each way a response can end is covered (spliced and buffered Content-Length, chunked, a
204 with a body, a HEAD answered with one), with splice on and off, and the same-pass case
with two clients is forced by stopping the proxy (SIGSTOP) while both events arrive."""

from __future__ import annotations

import re
import signal
import socket
import threading
import time

import pytest

from clb import RawConnection, make_config, make_service, wait_until

NO_CHECK = {"type": "none"}
STALE = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nX-Stale: yes\r\n\r\nSTALE-RESPONSE"


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


class SurplusBackend:
    """A raw origin server that answers some paths with a correct response followed by
    STALE, a second response nobody asked for. Every other path is answered with its own
    name as the body. /big/N sends its head, waits until `release` is set (at most 5 s),
    then the N-byte body and STALE in one send: with a large N the body is spliced."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.release = threading.Event()
        self.release.set()
        self.requests: list[bytes] = []
        self.heads_sent = threading.Semaphore(0)
        self.closing = False
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    @property
    def address(self) -> str:
        return "127.0.0.1:%d" % self.listener.getsockname()[1]

    def close(self) -> None:
        self.closing = True
        self.release.set()
        for thread in self.threads:
            thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self.closing:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        pending = b""
        with conn:
            while not self.closing:
                while b"\r\n\r\n" not in pending:
                    try:
                        data = conn.recv(65536)
                    except socket.timeout:
                        if self.closing:
                            return
                        continue
                    except OSError:
                        return
                    if not data:
                        return
                    pending += data
                head, _, pending = pending.partition(b"\r\n\r\n")
                method, path = head.split(b" ")[:2]
                self.requests.append(method + b" " + path)
                try:
                    self._answer(conn, method, path)
                except OSError:
                    return

    def _answer(self, conn: socket.socket, method: bytes, path: bytes) -> None:
        if path.startswith(b"/big/"):
            size = int(path[len(b"/big/"):])
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            self.heads_sent.release()
            self.release.wait(5)
            conn.sendall(b"b" * size + STALE)
        elif path == b"/small":
            conn.sendall(ok(b"small") + STALE)
        elif path == b"/chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"7\r\nchunked\r\n0\r\n\r\n" + STALE)
        elif path == b"/nocontent":
            conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n" + STALE)
        elif method == b"HEAD":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        else:
            conn.sendall(ok(path))


@pytest.fixture
def surplus_backend():
    backend = SurplusBackend()
    yield backend
    backend.close()


def start(start_proxy, free_port, backend: SurplusBackend, splice: bool):
    service = make_service("api", free_port(), [{"name": "liar", "address": backend.address}],
                           health_check=NO_CHECK, retries=0,
                           timeouts={"server": "5s", "client": "5s"})
    return start_proxy(make_config([service], admin_port=free_port(), splice=splice))


def protocol_errors(proxy) -> int:
    match = re.search(r'^contrail_lb_backend_protocol_errors_total\{[^}]*backend="liar"[^}]*\} '
                      r"(\d+)$", proxy.metrics(), re.M)
    assert match, "contrail_lb_backend_protocol_errors_total missing for backend liar"
    return int(match.group(1))


FIRST_REQUESTS = [
    pytest.param(b"GET /big/100000", b"b" * 100000, id="content-length-spliced"),
    pytest.param(b"GET /small", b"small", id="content-length-buffered"),
    pytest.param(b"GET /chunked", b"chunked", id="chunked"),
    pytest.param(b"GET /nocontent", b"", id="204"),
    pytest.param(b"HEAD /head", b"", id="head"),
]


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "nosplice"])
@pytest.mark.parametrize("first,first_body", FIRST_REQUESTS)
def test_pipelined_request_never_gets_the_surplus(start_proxy, free_port, surplus_backend,
                                                  splice, first, first_body):
    proxy = start(start_proxy, free_port, surplus_backend, splice)
    with RawConnection(*proxy.service_address(), timeout=10) as c:
        c.send(first + b" HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        r1 = c.read_response(head_request=first.startswith(b"HEAD"))
        assert r1.status in (200, 204) and r1.body == first_body
        r2 = c.read_response()
        assert r2.header("X-Stale") is None, "the backend's surplus answered another request"
        assert (r2.status, r2.body) == (200, b"/second")
    wait_until(lambda: protocol_errors(proxy) == 1, 5, message="one protocol error counted")
    proxy.wait_for_log(r"backend liar sent bytes after a complete response")
    # The connection that carried the surplus was closed, the next one is clean.
    assert proxy.get("/third").body == b"/third"
    assert "STALE" not in proxy.log()


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "nosplice"])
def test_another_client_in_the_same_loop_pass_never_gets_the_surplus(
        start_proxy, free_port, surplus_backend, splice):
    """Client A's body and surplus and client B's request become readable while the proxy
    is stopped, so one loop pass sees both: A's backend connection ends its response just
    before B's request asks the pool for one."""
    proxy = start(start_proxy, free_port, surplus_backend, splice)
    surplus_backend.release.clear()
    with RawConnection(*proxy.service_address(), timeout=10) as a, \
            RawConnection(*proxy.service_address(), timeout=10) as b:
        a.send(b"GET /big/40000 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert surplus_backend.heads_sent.acquire(timeout=5)
        a._take_until(b"\r\n\r\n", time.monotonic() + 5)  # the head went through
        time.sleep(0.1)  # B's connection is accepted and idle
        proxy.send_signal(signal.SIGSTOP)
        try:
            b.send(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
            surplus_backend.release.set()
            time.sleep(0.3)  # A's body and the surplus are in the proxy's socket
        finally:
            proxy.send_signal(signal.SIGCONT)
        assert len(a._take(40000, time.monotonic() + 5)) == 40000
        r = b.read_response()
        assert r.header("X-Stale") is None, "the backend's surplus answered another client"
        assert (r.status, r.body) == (200, b"/second")
    wait_until(lambda: protocol_errors(proxy) == 1, 5, message="one protocol error counted")
