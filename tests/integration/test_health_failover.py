"""Health checks and failover end to end (SPEC "Health checks", "Proxying"): a backend
killed under steady load is marked DOWN within fall x interval + timeout and no request
fails from then on; it comes back after `rise` checks; an HTTP check answered 500 marks
it DOWN; with every backend down the answer is an immediate 503; passive detection; the
keep-alive race; and the balancing algorithms seen from a client."""

from __future__ import annotations

import collections
import logging
import os
import signal
import socket
import struct
import threading
import time

import pytest

import clb
from clb import RawConnection, make_config, make_service, wait_until
from e2e import (
    ScriptedOrigin,
    SteadyLoad,
    backend_status,
    drain,
    get_backend,
    is_up,
    log_time,
    spread,
    transition_pattern,
    wait_all_up,
    wait_state,
)

log = logging.getLogger(__name__)

CHECK = dict(clb.FAST_HTTP_CHECK)  # interval 100ms, timeout 500ms, rise 2, fall 2
DETECTION_BOUND = 2 * 0.100 * 1.05 + 0.500  # fall x interval (+5% jitter) + timeout
SLACK = 0.300
NO_CHECK = {"type": "none"}


def start_service(start_backend, start_proxy, free_port, names, health_check=None, workers=1,
                  **extra):
    backends = [start_backend(name) for name in names]
    service = make_service("api", free_port(), backends,
                           health_check=dict(CHECK) if health_check is None else health_check,
                           **extra)
    proxy = start_proxy(make_config([service], admin_port=free_port(), workers=workers))
    if (health_check or CHECK)["type"] != "none":
        wait_all_up(proxy, "api", list(names))
    return backends, proxy


def report(name: str, seconds: float) -> None:
    message = f"{name}: {seconds * 1000:.0f} ms"
    print(message)
    log.warning(message)


# ---- failover -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/delay/20"], ids=["fast", "slow"])
@pytest.mark.deadline(60)
def test_kill_under_load_detected_in_bound_and_nothing_fails_after(
        start_backend, start_proxy, free_port, path):
    backends = [start_backend(name) for name in ("b1", "b2", "b3")]
    b2 = backends[1]
    service = make_service("api", free_port(), backends, health_check=dict(CHECK))
    proxy = start_proxy(make_config([service], admin_port=free_port(), workers=2))
    wait_all_up(proxy, "api", ["b1", "b2", "b3"])
    with SteadyLoad(*proxy.service_address(), threads=3, path=path) as load:
        load.wait_for(150)
        assert not load.failed, load.failed[:5]
        offset = len(proxy.log())
        killed_at = time.time()
        b2.kill()
        line = proxy.wait_for_log(transition_pattern("api", "b2", "DOWN"), start=offset)
        down_at = log_time(line)
        report("kill -9 -> DOWN under load", down_at - killed_at)
        assert down_at - killed_at <= DETECTION_BOUND + SLACK, line
        assert not is_up(proxy, "api", "b2")
        assert 'contrail_lb_backend_up{service="api",backend="b2"} 0' in proxy.metrics()
        load.wait_for(300)
        after_down = time.time()
        load.wait_for(150)
    # Requests in flight at the kill may fail (at most one per client thread, and only
    # before DOWN); none after.
    print(f"failed requests around the kill: {len(load.failed)} of {load.total()}: "
          f"{load.failed}")
    late = [f for f in load.failed if f[0] > down_at]
    assert not late, late
    assert len(load.failed) <= len(load.threads), load.failed
    served = load.successes_since(after_down)
    assert set(served) == {"b1", "b3"}, served


@pytest.mark.deadline(30)
def test_active_check_detects_kill_without_traffic(start_backend, start_proxy, free_port):
    (b1, b2), proxy = start_service(start_backend, start_proxy, free_port, ["b1", "b2"])
    offset = len(proxy.log())
    killed_at = time.time()
    b2.kill()
    line = proxy.wait_for_log(transition_pattern("api", "b2", "DOWN"), start=offset)
    report("kill -9 -> DOWN by active checks", log_time(line) - killed_at)
    assert log_time(line) - killed_at <= DETECTION_BOUND + SLACK, line
    assert "connection refused (2 consecutive failures)" in line
    assert "connection refused" in backend_status(proxy, "api", "b2")["check"]["last_reason"]


@pytest.mark.deadline(30)
def test_hung_backend_marked_down_by_check_timeouts(start_backend, start_proxy, free_port):
    # SIGSTOP: the kernel still accepts connections, nothing answers. timeout < interval,
    # so the checks keep their pace and the bound is fall x interval + timeout.
    check = {"type": "http", "path": "/health", "interval": "300ms", "timeout": "200ms",
             "rise": 2, "fall": 2}
    bound = 2 * 0.300 * 1.05 + 0.200
    (b1, b2), proxy = start_service(start_backend, start_proxy, free_port, ["b1", "b2"],
                                    health_check=check)
    offset = len(proxy.log())
    stopped_at = time.time()
    os.kill(b2.pid, signal.SIGSTOP)
    try:
        line = proxy.wait_for_log(transition_pattern("api", "b2", "DOWN"), start=offset)
        report("SIGSTOP -> DOWN by check timeouts", log_time(line) - stopped_at)
        assert log_time(line) - stopped_at <= bound + SLACK, line
        assert "timeout after 200ms (2 consecutive failures)" in line
        assert set(spread(proxy, 10)) == {"b1"}
        offset = len(proxy.log())
    finally:
        os.kill(b2.pid, signal.SIGCONT)
    proxy.wait_for_log(transition_pattern("api", "b2", "UP"), start=offset)
    assert set(spread(proxy, 10)) == {"b1", "b2"}


@pytest.mark.deadline(30)
def test_backends_checked_at_once_at_start(start_backend, start_proxy, free_port):
    slow = {"type": "http", "path": "/health", "interval": "10s", "timeout": "1s",
            "rise": 3, "fall": 3}
    backends = [start_backend(name) for name in ("b1", "b2")]
    service = make_service("api", free_port(), backends, health_check=slow)
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    # One success at startup is enough (not rise=3 checks 10 s apart).
    wait_all_up(proxy, "api", ["b1", "b2"], timeout=2)
    assert spread(proxy, 10) == {"b1": 5, "b2": 5}


@pytest.mark.deadline(30)
def test_restarted_backend_up_after_rise_checks_and_gets_traffic(
        start_backend, start_proxy, free_port):
    (b1, b2, b3), proxy = start_service(start_backend, start_proxy, free_port, ["b1", "b2", "b3"])
    b2.kill()
    wait_state(proxy, "api", "b2", False)
    assert "b2" not in spread(proxy, 30)
    offset = len(proxy.log())
    b2.start()  # same port
    line = proxy.wait_for_log(transition_pattern("api", "b2", "UP"), start=offset)
    assert "(2 consecutive successes)" in line  # rise, not a single check
    assert spread(proxy, 30) == {"b1": 10, "b2": 10, "b3": 10}


@pytest.mark.deadline(30)
def test_http_check_500_marks_down_and_recovery_up(start_backend, start_proxy, free_port):
    (b1, b2), proxy = start_service(start_backend, start_proxy, free_port, ["b1", "b2"])
    offset = len(proxy.log())
    b2.fail_health()
    line = proxy.wait_for_log(transition_pattern("api", "b2", "DOWN"), start=offset)
    assert "status 500 (2 consecutive failures)" in line
    status = backend_status(proxy, "api", "b2")
    assert not status["up"] and "status 500" in status["check"]["last_reason"]
    assert set(spread(proxy, 20)) == {"b1"}
    offset = len(proxy.log())
    b2.recover_health()
    proxy.wait_for_log(transition_pattern("api", "b2", "UP"), start=offset)
    assert set(spread(proxy, 20)) == {"b1", "b2"}


@pytest.mark.deadline(30)
def test_all_backends_down_gives_immediate_503(start_backend, start_proxy, free_port):
    backends, proxy = start_service(start_backend, start_proxy, free_port, ["b1", "b2", "b3"])
    for backend in backends:
        backend.kill()
    # Right after the kills (before the checks noticed): connects are refused at once.
    started = time.monotonic()
    assert proxy.get("/").status == 503
    assert time.monotonic() - started < 0.5
    for name in ("b1", "b2", "b3"):
        wait_state(proxy, "api", name, False)
    for _ in range(5):
        started = time.monotonic()
        response = proxy.get("/")
        assert response.status == 503
        assert time.monotonic() - started < 0.5
    # A keep-alive client gets the answer at once too.
    with RawConnection(*proxy.service_address()) as connection:
        started = time.monotonic()
        connection.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        assert connection.read_response(timeout=2).status == 503
        assert time.monotonic() - started < 0.5


@pytest.mark.deadline(30)
def test_passive_detection_beats_the_next_active_check(start_backend, start_proxy, free_port):
    slow = {"type": "http", "path": "/health", "interval": "5s", "timeout": "1s",
            "rise": 2, "fall": 3}
    (b1, b2), proxy = start_service(start_backend, start_proxy, free_port, ["b1", "b2"],
                                    health_check=slow)
    offset = len(proxy.log())
    b2.kill()
    started = time.monotonic()
    for _ in range(4):  # round robin: b2's turn comes at once
        assert proxy.get("/").status == 200  # the refused connect is retried on b1
    line = proxy.wait_for_log(transition_pattern("api", "b2", "DOWN"), timeout=1.0, start=offset)
    report("kill -9 -> DOWN by passive detection", time.monotonic() - started)
    assert "on live traffic" in line
    assert time.monotonic() - started < 1.0  # the active checks would take >= 10 s
    assert not is_up(proxy, "api", "b2")


# ---- the keep-alive race --------------------------------------------------------------


def race_proxy(start_proxy, free_port, origin):
    service = make_service("api", free_port(), [{"name": "origin", "address": origin.address}],
                           health_check=NO_CHECK)
    return start_proxy(make_config([service], admin_port=free_port()))


@pytest.mark.deadline(30)
def test_idempotent_request_replayed_when_pooled_connection_closes_unanswered(
        start_proxy, free_port):
    # The origin answers the first request of each connection with keep-alive, then
    # closes on the second one without answering: the proxy's reused connection dies
    # under the request, which is what an idle-timeout race looks like from the proxy.
    with ScriptedOrigin("origin", lambda i, m, p: "answer" if i == 0 else "drop") as origin:
        proxy = race_proxy(start_proxy, free_port, origin)
        for n in range(5):
            response = proxy.get(f"/get/{n}")
            assert response.status == 200, response
            assert response.text == f"GET /get/{n} from origin\n"
        # Every GET after the first went out twice: dropped once, replayed once.
        assert origin.count("GET", "/get/0") == 1
        for n in range(1, 5):
            assert origin.count("GET", f"/get/{n}") == 2


@pytest.mark.deadline(30)
def test_post_not_replayed_when_pooled_connection_closes_unanswered(start_proxy, free_port):
    with ScriptedOrigin("origin", lambda i, m, p: "answer" if i == 0 else "drop") as origin:
        proxy = race_proxy(start_proxy, free_port, origin)
        assert proxy.get("/warm").status == 200  # leaves one pooled connection
        host, port = proxy.service_address()
        response = clb.http_request(host, port, "POST", "/order", body=b"x=1",
                                    headers={"Content-Length": "3"})
        assert response.status == 502
        assert origin.count("POST", "/order") == 1


@pytest.mark.deadline(30)
def test_spaced_requests_survive_backend_closing_idle_connections(start_proxy, free_port):
    # The origin closes each connection 50 ms after answering, without saying so;
    # the next request always finds the pooled connection dead.
    with ScriptedOrigin("origin", lambda i, m, p: "answer-then-close") as origin:
        proxy = race_proxy(start_proxy, free_port, origin)
        host, port = proxy.service_address()
        for n in range(6):
            method = "POST" if n % 2 else "GET"
            response = clb.http_request(host, port, method, f"/r/{n}", body=b"" if n % 2 else None,
                                        headers={"Content-Length": "0"} if n % 2 else None)
            assert response.status == 200, (n, response)
            # The origin has closed the connection it answered on before the next one.
            wait_until(lambda: origin.connections_closed >= n + 1, 2,
                       message="the origin to close its connection")
        for n in range(6):
            assert origin.count("POST" if n % 2 else "GET", f"/r/{n}") == 1


@pytest.mark.deadline(30)
def test_back_to_back_gets_survive_backend_closing_right_after_answering(
        start_proxy, free_port):
    # The origin closes each connection the moment it has answered (no Connection:
    # close): the next GET races the FIN. Whichever way the race goes, it must succeed.
    with ScriptedOrigin("origin", lambda i, m, p: "answer-then-close", close_delay=0) as origin:
        proxy = race_proxy(start_proxy, free_port, origin)
        with RawConnection(*proxy.service_address()) as client:
            for n in range(50):
                client.send(b"GET /r/%d HTTP/1.1\r\nHost: api\r\n\r\n" % n)
                response = client.read_response()
                assert response.status == 200, (n, response)
                assert response.body == b"GET /r/%d from origin\n" % n


# ---- balancing seen from a client -----------------------------------------------------


def busy_backend(proxy):
    """The one of b1/b2 with a request in flight, or None."""
    busy = [n for n in ("b1", "b2") if backend_status(proxy, "api", n)["active_connections"] > 0]
    return busy[0] if busy else None


@pytest.mark.deadline(30)
def test_leastconn_avoids_the_busy_backend(start_backend, start_proxy, free_port):
    # Two workers: the in-flight counts that leastconn compares are shared by all of them.
    (b1, b2), proxy = start_service(start_backend, start_proxy, free_port, ["b1", "b2"],
                                    health_check=NO_CHECK, balance="leastconn", workers=2)
    slow: dict = {}
    thread = threading.Thread(target=lambda: slow.update(r=proxy.get("/delay/1500", timeout=10)))
    thread.start()
    try:
        busy = wait_until(lambda: busy_backend(proxy), 2,
                          message="the slow request to reach a backend")
        other = {"b1": "b2", "b2": "b1"}[busy]
        host, port = proxy.service_address()
        seen = collections.Counter(get_backend(host, port)[1] for _ in range(10))
        assert seen == {other: 10}
    finally:
        thread.join()
    assert slow["r"].status == 200 and slow["r"].header("X-Backend") == busy


def reset(connection: RawConnection) -> None:
    """Closes with an RST (SO_LINGER 0), as a crashed or impatient client does."""
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def in_flight_counts(proxy) -> tuple[int, list[int]]:
    service = proxy.admin_json()["services"][0]
    return service["active_connections"], [b["active_connections"] for b in service["backends"]]


@pytest.mark.deadline(30)
def test_in_flight_counts_return_to_zero_after_clients_reset(
        start_backend, start_proxy, free_port):
    # leastconn picks by these counts: a leak would skew it for good.
    _, proxy = start_service(start_backend, start_proxy, free_port, ["b1", "b2"],
                             health_check=NO_CHECK, balance="leastconn")
    clients = []
    for _ in range(6):
        client = RawConnection(*proxy.service_address())
        client.send(b"GET /delay/300 HTTP/1.1\r\nHost: api\r\n\r\n")
        clients.append(client)
    wait_until(lambda: in_flight_counts(proxy) == (6, [3, 3]), 3, message="6 requests in flight")
    for client in clients:
        reset(client)
    wait_until(lambda: in_flight_counts(proxy) == (0, [0, 0]), 3,
               message="every in-flight count back to 0")
    assert spread(proxy, 10) == {"b1": 5, "b2": 5}


@pytest.mark.deadline(30)
def test_client_reset_frees_the_backend_connection(start_backend, start_proxy, free_port):
    (b1,), proxy = start_service(start_backend, start_proxy, free_port, ["b1"],
                                 health_check=NO_CHECK)
    client = RawConnection(*proxy.service_address())
    client.send(b"GET /stall HTTP/1.1\r\nHost: api\r\n\r\n")
    wait_until(lambda: in_flight_counts(proxy) == (1, [1]), 3, message="the stall in flight")
    reset(client)
    # Nobody can read the answer any more: the backend connection should go at once,
    # not after timeouts.server (60 s by default).
    wait_until(lambda: in_flight_counts(proxy) == (0, [0]), 2,
               message="the proxy to drop the backend connection")


@pytest.mark.parametrize("algorithm", ["source", "maglev"])
@pytest.mark.deadline(30)
def test_hash_balancing_keeps_a_client_ip_on_one_backend(
        start_backend, start_proxy, free_port, algorithm):
    _, proxy = start_service(start_backend, start_proxy, free_port, ["b1", "b2", "b3"],
                             health_check=NO_CHECK, balance=algorithm)
    host, port = proxy.service_address()
    chosen = {}
    for n in range(2, 18):
        source = f"127.0.0.{n}"
        seen = {get_backend(host, port, source=source) for _ in range(5)}
        assert len(seen) == 1, (source, seen)
        status, backend = seen.pop()
        assert status == 200
        chosen[source] = backend
    # 16 addresses over 3 backends: all on one would mean the hash ignores the address.
    assert len(set(chosen.values())) >= 2, chosen


@pytest.mark.deadline(30)
def test_roundrobin_weights_three_to_one(start_backend, start_proxy, free_port):
    heavy, light = start_backend("heavy"), start_backend("light")
    entries = [{"name": "heavy", "address": heavy.address, "weight": 3},
               {"name": "light", "address": light.address, "weight": 1}]
    service = make_service("api", free_port(), entries, health_check=NO_CHECK)
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    seen = spread(proxy, 400)
    assert 280 <= seen["heavy"] <= 320 and seen["heavy"] + seen["light"] == 400, seen


@pytest.mark.deadline(30)
def test_backup_only_when_every_primary_is_down(start_backend, start_proxy, free_port):
    p1, p2, spare = (start_backend(n) for n in ("p1", "p2", "spare"))
    entries = clb.backend_entries([p1, p2]) + [
        {"name": "spare", "address": spare.address, "backup": True}]
    service = make_service("api", free_port(), entries, health_check=dict(CHECK))
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    wait_all_up(proxy, "api", ["p1", "p2", "spare"])
    assert set(spread(proxy, 20)) == {"p1", "p2"}
    p1.kill()
    wait_state(proxy, "api", "p1", False)
    assert set(spread(proxy, 20)) == {"p2"}
    p2.kill()
    wait_state(proxy, "api", "p2", False)
    assert set(spread(proxy, 20)) == {"spare"}
    p1.start()
    wait_state(proxy, "api", "p1", True)
    assert set(spread(proxy, 20)) == {"p1"}


@pytest.mark.deadline(30)
def test_drain_stops_new_traffic_but_keeps_existing(start_backend, start_proxy, free_port):
    (b1, b2), proxy = start_service(start_backend, start_proxy, free_port, ["b1", "b2"],
                                    health_check=NO_CHECK)
    host, port = proxy.service_address()
    with RawConnection(host, port) as kept:
        kept.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        assert kept.read_response().status == 200
        # A slow request in flight on whichever backend we will drain.
        slow: dict = {}
        thread = threading.Thread(target=lambda: slow.update(r=proxy.get("/delay/1500")))
        thread.start()
        try:
            victim = wait_until(lambda: busy_backend(proxy), 2,
                                message="the slow request to reach a backend")
            other = {"b1": "b2", "b2": "b1"}[victim]
            answer = drain(proxy, "api", victim)
            assert answer["drained"] is True
            assert backend_status(proxy, "api", victim)["drained"]
            assert spread(proxy, 20) == {other: 20}
            for _ in range(4):  # the client connection opened before the drain still works
                kept.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
                response = kept.read_response()
                assert response.status == 200 and response.header("X-Backend") == other
        finally:
            thread.join()
        assert slow["r"].status == 200 and slow["r"].header("X-Backend") == victim
        drain(proxy, "api", victim, "enable")
        assert not backend_status(proxy, "api", victim)["drained"]
        assert spread(proxy, 20) == {"b1": 10, "b2": 10}
        kept.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        assert kept.read_response().status == 200
