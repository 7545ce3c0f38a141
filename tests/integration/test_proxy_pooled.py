"""Per-request state comes from a per-worker pool: an exchange that served one service's
connection and goes on to serve another's must route, frame and log for the new one."""

from __future__ import annotations

from clb import RawConnection, make_config, make_service

NO_CHECK = {"type": "none"}


def test_pooled_exchanges_follow_their_connection(start_backend, start_proxy, free_port):
    b1, b2 = start_backend("b1"), start_backend("b2")
    services = [
        make_service("one", free_port(), [b1], health_check=NO_CHECK),
        make_service("two", free_port(), [b2], health_check=NO_CHECK),
    ]
    proxy = start_proxy(make_config(services, admin_port=free_port(), workers=1))
    with RawConnection(*proxy.service_address("one")) as c1, \
            RawConnection(*proxy.service_address("two")) as c2:
        for _ in range(5):  # one worker: each request reuses the exchange the other freed
            for conn, name in ((c1, b"b1"), (c2, b"b2")):
                conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                r = conn.read_response()
                assert r.status == 200 and r.body == b"hello from " + name + b"\n"
        # An HTTP/1.0 request that closes its connection leaves a parser llhttp considers
        # closed; the next connection's request must parse all the same.
        c1.send(b"GET / HTTP/1.0\r\n\r\n")
        assert c1.read_response().status == 200
        c2.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c2.read_response()
        assert r.status == 200 and r.body == b"hello from b2\n"
