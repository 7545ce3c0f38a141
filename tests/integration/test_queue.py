"""Per-backend connection limits and the request queue (issue 16, item 1; HAProxy's
`server ... maxconn N` with `timeout queue`): the Python API servers of a Contrail
cluster are protected from bursts. A request that finds every eligible backend at its
backends[].max_connections waits in its service's queue, oldest first, and is sent as soon
as a slot frees; after timeouts.queue it is answered 503 (queue_timeout)."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from clb import RawConnection, make_config, make_service, wait_until
from e2e import drain

NO_CHECK = {"type": "none"}


def limited(backends, port, limit, workers=1, **service):
    svc = make_service("api", port, backends, health_check=NO_CHECK, **service)
    for entry in svc["backends"]:
        entry["max_connections"] = limit
    return svc


def metric(proxy, name: str) -> float:
    match = re.search(rf'^{name}\{{service="api"\}} ([\d.e+-]+)$', proxy.metrics(), re.M)
    assert match, name
    return float(match.group(1))


def request(proxy, path: str, timeout: float = 30):
    with RawConnection(*proxy.service_address(), timeout=timeout) as c:
        c.send(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return c.read_response(timeout=timeout)


def burst(proxy, paths: list[str], gap: float = 0.0) -> list:
    """Sends each path on its own connection, in order (`gap` apart); returns, per path,
    (status, completion time) or the exception."""
    results: list = [None] * len(paths)

    def run(i: int) -> None:
        try:
            r = request(proxy, paths[i])
            results[i] = (r.status, time.monotonic())
        except Exception as error:  # noqa: BLE001 - reported by the caller
            results[i] = error

    threads = []
    for i in range(len(paths)):
        threads.append(threading.Thread(target=run, args=(i,), daemon=True))
        threads[-1].start()
        if gap:
            time.sleep(gap)
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.deadline(90)
def test_a_burst_never_exceeds_the_limit_and_is_served_in_arrival_order(start_backend,
                                                                       start_proxy, free_port):
    backends = [start_backend("api1"), start_backend("api2")]
    proxy = start_proxy(make_config([limited(backends, free_port(), 4)],
                                    admin_port=free_port()))
    results = burst(proxy, [f"/delay/100?n={i}" for i in range(200)], gap=0.002)
    assert all(isinstance(r, tuple) and r[0] == 200 for r in results), [
        r for r in results if not (isinstance(r, tuple) and r[0] == 200)][:5]
    for b in backends:
        stats = b.stats()
        assert stats["delays_max"] <= 4, stats  # never more than 4 in flight at a backend
        assert stats["delays_max"] == 4, stats  # and the limit was used
    # Oldest first: a request sent two rounds of slots later never finishes first.
    done = [r[1] for r in results]
    late = [(i, j) for i in range(200) for j in range(i + 16, 200) if done[j] < done[i] - 0.02]
    assert not late, late[:5]
    assert metric(proxy, "contrail_lb_queue_depth") == 0
    waited = metric(proxy, "contrail_lb_queue_wait_seconds_count")
    assert waited >= 150  # all but the first few waited


@pytest.mark.deadline(60)
def test_a_stalled_backend_queue_times_out_with_503(start_backend, start_proxy, free_port):
    backends = [start_backend("api1"), start_backend("api2")]
    service = limited(backends, free_port(), 2, retries=0,
                      timeouts={"queue": "1s", "server": "20s"})
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    held = [RawConnection(*proxy.service_address(), timeout=20) for _ in range(4)]
    try:
        for c in held:  # take every slot
            c.send(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: sum(int(n) for n in re.findall(
            r'^contrail_lb_backend_active_connections\{service="api",backend="api\d"\} (\d+)$',
            proxy.metrics(), re.M)) == 4, 5, message="four stalled requests at the backends")
        started = time.monotonic()
        results = burst(proxy, ["/"] * 6)
        waited = time.monotonic() - started
        assert [r[0] for r in results] == [503] * 6, results
        assert 0.9 < waited < 4, waited
        assert metric(proxy, "contrail_lb_queue_timeouts_total") == 6
        line = proxy.wait_for_log(r'access: .* "GET / HTTP/1.1" 503 .* queue_timeout phase=queue')
        # Tw about the second, never connected (Tc -1), no backend named.
        assert re.search(r' api - "GET / .* timers=\d+/(9\d\d|1\d{3})/-1/-1/', line), line
    finally:
        for c in held:
            c.close()


@pytest.mark.deadline(60)
def test_a_client_gone_while_queued_leaves_the_queue(start_backend, start_proxy, free_port):
    backend = start_backend("api1")
    proxy = start_proxy(make_config([limited([backend], free_port(), 1,
                                             timeouts={"queue": "10s"})],
                                    admin_port=free_port()))
    holder = RawConnection(*proxy.service_address(), timeout=20)
    holder.send(b"GET /delay/3000 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(lambda: backend.stats()["delays_now"] == 1, 5, message="the slot taken")
    waiter = RawConnection(*proxy.service_address(), timeout=20)
    waiter.send(b"GET /queued HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(lambda: metric(proxy, "contrail_lb_queue_depth") == 1, 5, message="one queued")
    waiter.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
    waiter.close()  # a reset
    wait_until(lambda: metric(proxy, "contrail_lb_queue_depth") == 0, 5, message="queue empty")
    proxy.wait_for_log(r'access: .* "GET /queued HTTP/1.1" 0 .* client_abort phase=queue')
    seen = backend.stats()["requests"]  # /stats counts itself
    assert holder.read_response(timeout=10).status == 200
    holder.close()
    assert request(proxy, "/").status == 200
    # "/" and the second /stats: the request that left the queue never reached it.
    assert backend.stats()["requests"] == seen + 2


@pytest.mark.deadline(60)
def test_reload_lifting_the_limit_and_a_drain_dispatch_the_queue(start_backend, start_proxy,
                                                                 free_port):
    backends = [start_backend("api1"), start_backend("api2")]
    port, admin = free_port(), free_port()
    proxy = start_proxy(make_config([limited(backends, port, 1, timeouts={"queue": "20s"})],
                                    admin_port=admin))
    held = [RawConnection(*proxy.service_address(), timeout=20) for _ in range(2)]
    for c in held:
        c.send(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
    results: list = []
    waiter = threading.Thread(target=lambda: results.extend(burst(proxy, ["/"] * 3)),
                              daemon=True)
    waiter.start()
    wait_until(lambda: metric(proxy, "contrail_lb_queue_depth") == 3, 5, message="three queued")
    proxy.reload(make_config([limited(backends, port, 0)], admin_port=admin))  # no limit
    waiter.join(10)
    assert [r[0] for r in results] == [200] * 3, results
    # Every backend drained while requests wait: they are answered at once, 503.
    proxy.reload(make_config([limited(backends, port, 1, timeouts={"queue": "20s"})],
                             admin_port=admin))
    proxy.wait_for_log(r"reload: applied .*", start=0)
    time.sleep(0.3)
    results.clear()
    waiter = threading.Thread(target=lambda: results.extend(burst(proxy, ["/"] * 2)),
                              daemon=True)
    waiter.start()
    wait_until(lambda: metric(proxy, "contrail_lb_queue_depth") == 2, 5, message="two queued")
    started = time.monotonic()
    for b in backends:
        drain(proxy, "api", b.name)
    waiter.join(10)
    assert [r[0] for r in results] == [503] * 2, results
    assert time.monotonic() - started < 2
    for c in held:
        c.close()


@pytest.mark.deadline(60)
def test_tcp_connections_wait_for_a_slot_too(start_backend, start_proxy, free_port):
    echo = start_backend("echo1", tcp_echo=True)
    service = make_service("api", free_port(), [echo], mode="tcp", health_check=NO_CHECK)
    service["backends"][0]["max_connections"] = 1
    service["timeouts"] = {"queue": "5s"}
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    first = socket.create_connection(proxy.service_address(), timeout=5)
    first.sendall(b"one")
    assert first.recv(3) == b"one"
    second = socket.create_connection(proxy.service_address(), timeout=5)
    second.sendall(b"two")
    wait_until(lambda: metric(proxy, "contrail_lb_queue_depth") == 1, 5, message="one queued")
    first.close()  # its slot frees: the second connection is relayed
    assert second.recv(3) == b"two"
    second.close()
