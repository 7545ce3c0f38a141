"""The HTTP/1.1 proxy core (SPEC "Proxying (http mode)"), end to end: real contrail-lb,
real clb-test-backend processes, real sockets on 127.0.0.1 / ::1."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

import clb
from clb import RawConnection, make_config, make_service, wait_until

NO_CHECK = {"type": "none"}


def proxy_for(start_proxy, free_port, backends, health_check=NO_CHECK, **service_extra):
    port = free_port()
    service = make_service("api", port, backends, health_check=health_check, **service_extra)
    return start_proxy(make_config([service], admin_port=free_port()))


def backend_requests(backend) -> int:
    """Requests the backend has seen before this /stats call."""
    return backend.stats()["requests"] - 1


def assert_backend_untouched(backend, before: int) -> None:
    # One more request: the /stats call that measured `before`.
    assert backend_requests(backend) == before + 1


@pytest.fixture
def one(start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    return backend, proxy_for(start_proxy, free_port, [backend])


def test_keep_alive_reused_on_both_sides(one):
    backend, proxy = one
    with RawConnection(*proxy.service_address()) as c:
        seen = []
        for _ in range(5):
            c.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
            r = c.read_response()
            assert r.status == 200
            seen.append((r.header("X-Conn-Id"), int(r.header("X-Conn-Requests"))))
    # One client connection carried five requests, over one pooled backend connection.
    assert len({conn for conn, _ in seen}) == 1
    assert [n for _, n in seen] == [1, 2, 3, 4, 5]


def test_backend_connection_reused_across_client_connections(one):
    backend, proxy = one
    ids = {proxy.get("/").header("X-Conn-Id") for _ in range(5)}
    assert len(ids) == 1


def test_forwarded_headers_and_host(one):
    _, proxy = one
    r = proxy.get("/headers", headers={"Host": "api.example", "X-Forwarded-For": "10.1.1.1",
                                       "X-Forwarded-Proto": "https"})
    head = r.text
    assert "Host: api.example\r\n" in head
    assert "X-Forwarded-For: 10.1.1.1, 127.0.0.1\r\n" in head
    assert "X-Forwarded-Proto: http\r\n" in head
    assert "https" not in head  # a client cannot claim TLS it did not use


def test_forwarded_port_is_the_accepting_listeners(start_backend, start_proxy, free_port):
    # HAProxy: http-request set-header X-Forwarded-Port %[dst_port]
    backend = start_backend("b1")
    first, second = free_port(), free_port()
    service = make_service("api", first, [backend], health_check=NO_CHECK)
    service["listen"] = [f"127.0.0.1:{first}", f"127.0.0.1:{second}"]
    proxy = start_proxy(make_config([service]))
    for port in (first, second):
        head = clb.http_request("127.0.0.1", port, "GET", "/headers",
                                headers={"X-Forwarded-Port": "1"}).text
        # Exactly one, ours: the client's is replaced, not appended to.
        assert head.count("X-Forwarded-Port:") == 1, head
        assert f"X-Forwarded-Port: {port}\r\n" in head, head
    del proxy


@pytest.mark.parametrize("size", [0, 1, 100_000, 5_000_000])
def test_content_length_body_both_ways(one, size):
    _, proxy = one
    payload = bytes((i * 7) % 251 for i in range(min(size, 1000))) * (size // 1000 or 1)
    payload = payload[:size]
    host, port = proxy.service_address()
    r = clb.http_request(host, port, "POST", "/echo", body=payload,
                         headers={"Content-Length": str(len(payload))}, timeout=20)
    assert r.status == 200
    assert r.body == payload


def test_chunked_body_both_ways(one):
    _, proxy = one
    chunks = [b"a" * 10, b"b" * 70000, b"c"]
    with RawConnection(*proxy.service_address(), timeout=10) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for chunk in chunks:
            c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        c.send(b"0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.header("Transfer-Encoding") == "chunked"
        assert r.body == b"".join(chunks)
        # The connection stays usable after a chunked exchange.
        c.send(b"GET /chunked/1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert len(r.body) == 1000


def test_pipelined_requests_answered_in_order(one):
    _, proxy = one
    with RawConnection(*proxy.service_address()) as c:
        c.send(b"GET /status/201 HTTP/1.1\r\nHost: x\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
               b"GET /status/202 HTTP/1.1\r\nHost: x\r\n\r\n")
        statuses = [c.read_response().status for _ in range(2)]
        third = c.read_response()
    assert statuses == [201, 200]
    assert third.status == 202


def test_connection_close_honoured(one):
    _, proxy = one
    with RawConnection(*proxy.service_address()) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.header("Connection") == "close"
        assert c.closed_by_peer(2)


def test_http10_client(one):
    _, proxy = one
    with RawConnection(*proxy.service_address()) as c:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body.startswith(b"hello")
        assert c.closed_by_peer(2)
    with RawConnection(*proxy.service_address()) as c:
        for _ in range(2):
            c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            assert r.status == 200
            assert r.header("Connection").lower() == "keep-alive"
        # A 1.0 client cannot read chunked encoding: it must get a plain body.
        c.send(b"GET /chunked/1000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.header("Transfer-Encoding") is None
        assert len(r.body) == 1000


def test_expect_100_continue(one):
    _, proxy = one
    with RawConnection(*proxy.service_address()) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        interim = c._take_until(b"\r\n\r\n", time.monotonic() + 5)
        assert interim.startswith(b"HTTP/1.1 100")
        c.send(b"ping")
        r = c.read_response()
        assert r.status == 200 and r.body == b"ping"


def test_upgrade_switches_to_byte_relay(one):
    _, proxy = one
    with RawConnection(*proxy.service_address()) as c:
        c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        r = c.read_response()
        assert r.status == 101
        c.send(b"\x81\x05hello raw bytes")
        wait_until(lambda: c._fill(time.monotonic() + 2) and b"raw bytes" in c.buffer, 5)
        assert c.buffer == b"\x81\x05hello raw bytes"


def test_head_request_has_no_body(one):
    _, proxy = one
    with RawConnection(*proxy.service_address()) as c:
        c.send(b"HEAD /bytes/500 HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response(head_request=True)
        assert r.status == 200 and r.header("Content-Length") == "500"
        c.send(b"GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 204


SMUGGLING = {
    "cl_and_te": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "differing_cl": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "invalid_chunk_size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: x\n\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "te_not_chunked": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    "negative_cl": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\nabc",
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(SMUGGLING))
def test_smuggling_refused_and_never_reaches_backend(one, case):
    backend, proxy = one
    before = backend_requests(backend)
    reply = clb.raw_exchange(*proxy.service_address(), SMUGGLING[case], timeout=5)
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:80]
    assert_backend_untouched(backend, before)


def test_header_too_large_431(one):
    backend, proxy = one
    before = backend_requests(backend)
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"
    reply = clb.raw_exchange(*proxy.service_address(), big, timeout=5)
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert_backend_untouched(backend, before)


def test_503_when_no_backend_reachable(start_proxy, free_port):
    dead = {"name": "dead", "address": f"127.0.0.1:{free_port()}"}
    # Health checks keep the dead backend DOWN: the answer is immediate, not a timeout.
    proxy = proxy_for(start_proxy, free_port, [dead], health_check=dict(clb.FAST_HTTP_CHECK))
    started = time.monotonic()
    r = proxy.get("/")
    assert r.status == 503
    assert time.monotonic() - started < 1.0


def test_504_on_stalled_backend(start_backend, start_proxy, free_port):
    backend = start_backend("staller")
    proxy = proxy_for(start_proxy, free_port, [backend],
                      timeouts={"server": "500ms", "connect": "1s"})
    r = proxy.get("/stall", timeout=5)
    assert r.status == 504


def test_408_on_slow_request_head(start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    proxy = proxy_for(start_proxy, free_port, [backend], timeouts={"http_request": "300ms"})
    with RawConnection(*proxy.service_address()) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        r = c.read_response(timeout=3)
        assert r.status == 408
        assert c.closed_by_peer(2)
    assert backend_requests(backend) == 0


def test_connect_failure_retried_on_next_backend(start_backend, start_proxy, free_port):
    good = start_backend("good")
    refused = {"name": "refused", "address": f"127.0.0.1:{free_port()}"}
    proxy = proxy_for(start_proxy, free_port, [refused, good], retries=2)
    for _ in range(10):
        r = proxy.get("/")
        assert r.status == 200
        assert r.header("X-Backend") == "good"


def test_ipv6_listener_and_backend(start_backend, start_proxy, free_port):
    backend = start_backend("v6", host="::1")
    port = free_port("::1")
    service = make_service("api6", port, [backend], health_check=NO_CHECK, host="::1")
    proxy = start_proxy(make_config([service]))
    r = proxy.get("/headers")
    assert r.status == 200
    assert "X-Forwarded-For: ::1\r\n" in r.text


def test_max_connections_refused_cleanly(start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check=NO_CHECK)
    proxy = start_proxy(make_config([service], admin_port=free_port(), max_connections=3))
    # The readiness probe's connections count until the proxy has accepted them and read
    # their EOF: wait until the kernel has none left on the service port.
    port = proxy.service_address()[1]

    def settled() -> bool:
        out = subprocess.run(["ss", "-Htan", f"( sport = :{port} )"], capture_output=True,
                             text=True, check=True).stdout
        return all(line.split()[0] in ("LISTEN", "TIME-WAIT") for line in out.splitlines())

    wait_until(settled, 5)
    held = [RawConnection(*proxy.service_address()) for _ in range(3)]
    try:
        for c in held:  # make sure the proxy accepted each one
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert c.read_response().status == 200
        reply = clb.raw_exchange(*proxy.service_address(), b"GET / HTTP/1.1\r\n\r\n", timeout=3)
        assert reply.startswith(b"HTTP/1.1 503")
        assert proxy.alive
    finally:
        for c in held:
            c.close()
    wait_until(lambda: proxy.get("/").status == 200, 5)


def test_one_gib_streams_in_constant_memory(start_backend, start_proxy, free_port):
    backend = start_backend("big")
    proxy = proxy_for(start_proxy, free_port, [backend], timeouts={"server": "60s", "client": "60s"})
    gib = 1 << 30
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proxy.rss_kib())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        # Download.
        with RawConnection(*proxy.service_address(), timeout=120) as c:
            c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % gib)
            head = c._take_until(b"\r\n\r\n", time.monotonic() + 10)
            assert head.startswith(b"HTTP/1.1 200")
            received = len(c.buffer)
            c.buffer = b""
            c.sock.settimeout(60)
            while received < gib:
                data = c.sock.recv(1 << 20)
                assert data, "connection closed early"
                received += len(data)
            assert received == gib
        # Upload, streamed with Content-Length.
        with RawConnection(*proxy.service_address(), timeout=120) as c:
            c.send(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % gib)
            block = b"\x01" * (1 << 20)
            for _ in range(gib // len(block)):
                c.sock.sendall(block)
            r = c.read_response(timeout=60)
            assert r.status == 200
            assert r.json()["bytes"] == gib
    finally:
        stop.set()
        sampler.join()
    assert peak[0] < 64 * 1024, f"proxy RSS peaked at {peak[0]} KiB"
