"""Every way a request or connection ends has a name (issue 7, item 3), shown on each
visible surface: the access log line, contrail_lb_terminations_total{service,cause},
the status JSON ("terminations") and the /stats page."""

from __future__ import annotations

import re
import signal
import socket
import time

import pytest

import clb
from clb import RawConnection, make_config, make_service, wait_until
from e2e import drain

NO_CHECK = {"type": "none"}


def refusing_address() -> str:
    return f"127.0.0.1:{clb.free_port()}"  # nothing listens there


def terminations_metric(proxy: clb.Proxy, service: str) -> dict[str, int]:
    found = {}
    pattern = re.compile(
        r'^contrail_lb_terminations_total\{service="' + re.escape(service) +
        r'",cause="([a-z_]+)"\} (\d+)$', re.M)
    for cause, value in pattern.findall(proxy.metrics()):
        found[cause] = int(value)
    return found


def service_status(proxy: clb.Proxy, name: str) -> dict:
    return next(s for s in proxy.admin_json()["services"] if s["name"] == name)


def access_lines(proxy: clb.Proxy, service: str) -> list[str]:
    return [line for line in proxy.log().splitlines()
            if "access: " in line and f" {service} " in line]


@pytest.fixture
def proxy(start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    echo = start_backend("echo1", tcp_echo=True)
    timeouts = {"server": "500ms", "http_request": "500ms", "connect": "1s"}
    services = [
        make_service("web", free_port(), [backend], health_check=NO_CHECK, retries=0,
                     timeouts=timeouts),
        make_service("refused", free_port(), [{"name": "gone", "address": refusing_address()}],
                     health_check=NO_CHECK, retries=0),
        make_service("drained", free_port(), [backend], health_check=NO_CHECK),
        make_service("tcp", free_port(), [echo], mode="tcp", health_check=NO_CHECK),
        make_service("tcp-refused", free_port(),
                     [{"name": "gone", "address": refusing_address()}], mode="tcp",
                     health_check=NO_CHECK, retries=0),
        make_service("slow", free_port(), [backend], health_check=NO_CHECK,
                     timeouts={"server": "30s"}),
    ]
    config = make_config(services, admin_port=free_port(), grace="1s")
    proxy = start_proxy(config, wait=False)
    wait_until(lambda: proxy.admin_get("/healthz").status == 200, 10, message="admin up")
    wait_until(lambda: clb.port_accepts(*proxy.service_address("web")), 10)
    return proxy


def exchange(proxy: clb.Proxy, service: str, data: bytes, timeout: float = 5.0) -> bytes:
    with RawConnection(*proxy.service_address(service), timeout=timeout) as conn:
        conn.send(data)
        return conn.read_until_close(timeout)


@pytest.mark.deadline(60)
def test_each_cause_is_logged_counted_and_shown(proxy):
    expected = {
        "web": {"completed", "server_timeout", "bad_request", "request_timeout",
                "client_abort"},
        "refused": {"backend_refused"},
        "drained": {"no_backend"},
        "tcp": {"completed"},
        "tcp-refused": {"backend_refused"},
    }
    assert proxy.get("/", service="web").status == 200
    assert proxy.get("/stall", service="web").status == 504
    assert b" 400 " in exchange(proxy, "web", b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n")
    assert b" 408 " in exchange(proxy, "web", b"GET / HTTP/1.1\r\nHost: x\r\n")
    with RawConnection(*proxy.service_address("web")) as conn:  # gives up mid-body
        conn.send(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        time.sleep(0.1)
    assert proxy.get("/", service="refused").status == 503
    drain(proxy, "drained", "b1")
    assert proxy.get("/", service="drained").status == 503
    with socket.create_connection(proxy.service_address("tcp"), timeout=5) as sock:
        sock.sendall(b"ping\n")
        assert sock.recv(16) == b"ping\n"
    with socket.create_connection(proxy.service_address("tcp-refused"), timeout=5) as sock:
        sock.settimeout(5)
        assert sock.recv(16) == b""

    for service, causes in expected.items():
        def counted() -> dict:
            metric = terminations_metric(proxy, service)
            return metric if all(metric.get(c, 0) >= 1 for c in causes) else None

        metric = wait_until(counted, 5, message=f"{service}: {causes} counted")
        # Every cause is a series (zeros included), and nothing else was counted.
        assert {c for c, n in metric.items() if n} == causes, (service, metric)
        assert len(metric) >= 15
        status = service_status(proxy, service)["terminations"]
        assert {c for c, n in status.items() if n} == causes
        lines = access_lines(proxy, service)
        logged = {re.search(r"\d\.\d{3}s ([a-z_]+)", line).group(1) for line in lines}
        assert causes <= logged, (service, lines)

    stats = proxy.admin_get("/stats").text
    for cause in ("completed", "server_timeout", "bad_request", "request_timeout",
                  "client_abort", "backend_refused", "no_backend"):
        assert cause in stats


@pytest.mark.deadline(30)
def test_grace_period_end_is_a_shutdown(proxy):
    conn = RawConnection(*proxy.service_address("slow"), timeout=10)
    conn.send(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(lambda: service_status(proxy, "slow")["active_connections"] >= 1, 5)
    time.sleep(0.2)  # the request reached the backend
    proxy.send_signal(signal.SIGTERM)
    assert proxy.wait_exit(10) == 0
    conn.close()
    lines = access_lines(proxy, "slow")
    assert any(re.search(r" shutdown( |$)", line) for line in lines), lines
