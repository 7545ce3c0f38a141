"""Reload on SIGHUP (SPEC "Reload (SIGHUP)"): an invalid file changes nothing; a valid
one is applied in place without dropping a connection or a request, unchanged listeners
keep their sockets and unchanged backends their health state."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import threading
import time

import pytest

import clb
from clb import RawConnection, make_config, make_service, wait_until
from e2e import (
    SteadyLoad,
    backend_status,
    log_lines_since,
    spread,
    transition_pattern,
    wait_all_up,
    wait_state,
)

CHECK = dict(clb.FAST_HTTP_CHECK)
NO_CHECK = {"type": "none"}
APPLIED = r"reload: applied "


def listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on 127.0.0.1:port (/proc/net/tcp, state 0A)."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for row in table:
            fields = row.split()
            if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def reload_and_wait(proxy: clb.Proxy, config: dict) -> None:
    offset = len(proxy.log())
    proxy.reload(config)
    proxy.wait_for_log(APPLIED, start=offset)


def entries_of(config: dict, service: int = 0) -> list[dict]:
    return config["services"][service]["backends"]


@contextlib.contextmanager
def reload_pause(seconds: float):
    """Proxies started inside hold every reload for `seconds` between publishing the new
    snapshot and handing the workers their listeners (the CLB_TEST_HOOKS hook)."""
    os.environ["CLB_TEST_HOOKS"] = "1"
    os.environ["CLB_TEST_RELOAD_PAUSE"] = str(seconds)
    try:
        yield
    finally:
        del os.environ["CLB_TEST_HOOKS"]
        del os.environ["CLB_TEST_RELOAD_PAUSE"]


@pytest.mark.deadline(30)
def test_invalid_file_logged_and_old_config_keeps_serving(start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check=NO_CHECK)
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    assert proxy.get("/").status == 200
    offset = len(proxy.log())
    proxy.config_path.write_text("global:\n  workers: 1\n  no_such_key: 1\nservices: []\n")
    proxy.send_signal(signal.SIGHUP)
    line = proxy.wait_for_log(r"the running configuration stays", start=offset)
    assert "error" in line
    assert "no_such_key" in proxy.log()[offset:]
    assert proxy.alive
    for _ in range(5):
        assert proxy.get("/").status == 200
    # Garbage that is not even YAML: same outcome.
    offset = len(proxy.log())
    proxy.config_path.write_text("services: [\n  - {name: \n")
    proxy.send_signal(signal.SIGHUP)
    proxy.wait_for_log(r"the running configuration stays", start=offset)
    assert proxy.get("/").status == 200
    status = proxy.admin_json()
    assert [s["name"] for s in status["services"]] == ["api"]
    assert [b["name"] for b in status["services"][0]["backends"]] == ["b1"]
    # The next valid file is applied as usual.
    config = copy.deepcopy(proxy.config)
    config["services"][0]["name"] = "api2"
    reload_and_wait(proxy, config)
    assert [s["name"] for s in proxy.admin_json()["services"]] == ["api2"]
    assert proxy.get("/").status == 200


@pytest.mark.deadline(30)
def test_added_backend_gets_traffic_and_health_state_is_kept(
        start_backend, start_proxy, free_port):
    up, down, added = start_backend("up"), start_backend("down"), start_backend("added")
    service = make_service("api", free_port(), [up, down], health_check=dict(CHECK))
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    wait_all_up(proxy, "api", ["up", "down"])
    down.kill()
    wait_state(proxy, "api", "down", False)

    config = copy.deepcopy(proxy.config)
    entries_of(config).append({"name": "added", "address": added.address})
    offset = len(proxy.log())
    reload_and_wait(proxy, config)
    wait_state(proxy, "api", "added", True)
    # Let several more check rounds pass for the kept backends, then look for flaps.
    checks = backend_status(proxy, "api", "up")["check"]["checks"]
    wait_until(lambda: backend_status(proxy, "api", "up")["check"]["checks"] >= checks + 5, 5,
               message="five more checks of `up`")
    assert set(spread(proxy, 20)) == {"up", "added"}
    assert not log_lines_since(proxy, offset, transition_pattern("api", "up", "(UP|DOWN)"))
    assert not log_lines_since(proxy, offset, transition_pattern("api", "down", "UP"))
    assert not backend_status(proxy, "api", "down")["up"]


@pytest.mark.deadline(30)
def test_changed_check_settings_keep_health_state(start_backend, start_proxy, free_port):
    up, down = start_backend("up"), start_backend("down")
    service = make_service("api", free_port(), [up, down], health_check=dict(CHECK))
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    wait_all_up(proxy, "api", ["up", "down"])
    down.kill()
    wait_state(proxy, "api", "down", False)
    config = copy.deepcopy(proxy.config)
    config["services"][0]["health_check"].update(interval="150ms", rise=3, fall=3)
    offset = len(proxy.log())
    reload_and_wait(proxy, config)
    checks = backend_status(proxy, "api", "up")["check"]["checks"]
    wait_until(lambda: backend_status(proxy, "api", "up")["check"]["checks"] >= checks + 5, 5,
               message="five more checks of `up`")
    assert proxy.admin_json()["services"][0]["health_check"]["rise"] == 3
    assert backend_status(proxy, "api", "up")["up"]
    assert not backend_status(proxy, "api", "down")["up"]
    assert not log_lines_since(proxy, offset, transition_pattern("api", "(up|down)", "(UP|DOWN)"))


@pytest.mark.deadline(30)
def test_removed_backend_finishes_its_request_and_gets_no_more(
        start_backend, start_proxy, free_port):
    b1, b2 = start_backend("b1"), start_backend("b2")
    service = make_service("api", free_port(), [b1, b2], health_check=NO_CHECK)
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    slow: dict = {}
    thread = threading.Thread(target=lambda: slow.update(r=proxy.get("/delay/1000")))
    thread.start()
    try:
        victim = wait_until(
            lambda: next((n for n in ("b1", "b2")
                          if backend_status(proxy, "api", n)["active_connections"]), None),
            3, message="the delay in flight")
        config = copy.deepcopy(proxy.config)
        config["services"][0]["backends"] = [
            e for e in entries_of(config) if e["name"] != victim]
        reload_and_wait(proxy, config)
        kept = {"b1": "b2", "b2": "b1"}[victim]
        assert spread(proxy, 10) == {kept: 10}
    finally:
        thread.join(timeout=5)
    assert slow["r"].status == 200 and slow["r"].header("X-Backend") == victim


@pytest.mark.deadline(30)
def test_new_weight_takes_effect(start_backend, start_proxy, free_port):
    b1, b2 = start_backend("b1"), start_backend("b2")
    service = make_service("api", free_port(), [b1, b2], health_check=dict(CHECK))
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    wait_all_up(proxy, "api", ["b1", "b2"])
    assert spread(proxy, 40) == {"b1": 20, "b2": 20}
    config = copy.deepcopy(proxy.config)
    entries_of(config)[0]["weight"] = 3
    offset = len(proxy.log())
    reload_and_wait(proxy, config)
    seen = spread(proxy, 200)
    assert 140 <= seen["b1"] <= 160, seen
    assert backend_status(proxy, "api", "b1")["weight"] == 3
    # Same backend (service, name, address): its health state survived the change.
    assert not log_lines_since(proxy, offset, transition_pattern("api", "b[12]", "(UP|DOWN)"))


@pytest.mark.deadline(30)
def test_unchanged_listener_keeps_connections_and_requests_in_flight(
        start_backend, start_proxy, free_port):
    b1, b2 = start_backend("b1"), start_backend("b2")
    service = make_service("api", free_port(), [b1], health_check=NO_CHECK)
    proxy = start_proxy(make_config([service], admin_port=free_port(), workers=2))
    sockets_before = listening_inodes(proxy.service_address()[1])
    assert len(sockets_before) == 2  # one SO_REUSEPORT socket per worker
    with RawConnection(*proxy.service_address()) as kept:
        kept.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        first = kept.read_response()
        assert first.status == 200
        slow: dict = {}
        thread = threading.Thread(target=lambda: slow.update(r=proxy.get("/delay/1000")))
        thread.start()
        wait_until(lambda: b1.stats()["requests"] >= 3, 3, message="the delay in flight")
        config = copy.deepcopy(proxy.config)
        entries_of(config).append({"name": "b2", "address": b2.address})
        reload_and_wait(proxy, config)
        thread.join(timeout=5)
        assert slow["r"].status == 200 and slow["r"].header("X-Backend") == "b1"
        seen = set()
        for _ in range(4):  # the connection opened before the reload, now over both
            kept.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
            response = kept.read_response()
            assert response.status == 200
            seen.add(response.header("X-Backend"))
        assert seen == {"b1", "b2"}
    assert "no longer listening" not in proxy.log()
    assert listening_inodes(proxy.service_address()[1]) == sockets_before


@pytest.mark.deadline(30)
def test_listener_added_and_removed_with_its_service(start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    api = make_service("api", free_port(), [backend], health_check=NO_CHECK)
    old = make_service("old", free_port(), [backend], health_check=NO_CHECK)
    proxy = start_proxy(make_config([api, old], admin_port=free_port()))
    old_host, old_port = proxy.service_address("old")
    assert proxy.get("/", service="old").status == 200
    new = make_service("new", free_port(), [backend], health_check=NO_CHECK)
    config = copy.deepcopy(proxy.config)
    config["services"] = [api, new]
    reload_and_wait(proxy, config)
    wait_until(lambda: proxy.get("/", service="new").status == 200, 3,
               message="the new listener to serve")
    wait_until(lambda: not clb.port_accepts(old_host, old_port, timeout=0.2), 3,
               message="the removed listener to close")
    assert proxy.get("/", service="api").status == 200
    assert [s["name"] for s in proxy.admin_json()["services"]] == ["api", "new"]


@pytest.mark.deadline(45)
def test_no_request_fails_across_reloads_under_light_load(start_backend, start_proxy, free_port):
    b1, b2, b3 = start_backend("b1"), start_backend("b2"), start_backend("b3")
    service = make_service("api", free_port(), [b1, b2], health_check=dict(CHECK))
    proxy = start_proxy(make_config([service], admin_port=free_port(), workers=2))
    wait_all_up(proxy, "api", ["b1", "b2"])
    host, port = proxy.service_address()
    with SteadyLoad(host, port, threads=2, pause=0.005) as load, \
            SteadyLoad(host, port, threads=1, pause=0.005, keep_alive=False) as fresh:
        load.wait_for(100)
        config = copy.deepcopy(proxy.config)
        entries_of(config).append({"name": "b3", "address": b3.address})
        reload_and_wait(proxy, config)
        load.wait_for(50)
        config = copy.deepcopy(config)
        entries_of(config)[0]["weight"] = 2
        config["services"][0]["timeouts"] = {"server": "30s"}
        reload_and_wait(proxy, config)
        load.wait_for(50)
        config = copy.deepcopy(config)
        config["services"][0]["balance"] = "leastconn"
        reload_and_wait(proxy, config)
        load.wait_for(50)
        config = copy.deepcopy(config)
        del entries_of(config)[0]  # b1 goes, with requests in flight to it
        config["services"][0]["health_check"]["type"] = "tcp"
        del config["services"][0]["health_check"]["path"]
        del config["services"][0]["health_check"]["expect_status"]
        reload_and_wait(proxy, config)
        applied = time.time()
        load.wait_for(50)
        # (requests that began before the workers had the new snapshot may end on b1)
        assert set(load.successes_since(applied + 0.05)) == {"b2", "b3"}
    assert load.total() + fresh.total() >= 200
    assert not load.failed, load.failed[:5]
    assert not fresh.failed, fresh.failed[:5]


@pytest.mark.deadline(30)
def test_moved_listener_keeps_its_open_connections(start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check=NO_CHECK)
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    old_host, old_port = proxy.service_address()
    with RawConnection(old_host, old_port) as kept:
        kept.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        assert kept.read_response().status == 200
        config = copy.deepcopy(proxy.config)
        new_port = free_port()
        config["services"][0]["listen"] = [f"127.0.0.1:{new_port}"]
        reload_and_wait(proxy, config)
        assert proxy.get("/").status == 200  # proxy.config now names the new port
        wait_until(lambda: not clb.port_accepts(old_host, old_port, timeout=0.2), 3,
                   message="the old listener to close")
        # SPEC: no client connection is dropped by a reload, even one accepted on a
        # listener the reload removed.
        for _ in range(3):
            kept.send(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
            assert kept.read_response().status == 200


@pytest.mark.deadline(30)
def test_drain_flag_survives_reload(start_backend, start_proxy, free_port):
    b1, b2, b3 = start_backend("b1"), start_backend("b2"), start_backend("b3")
    service = make_service("api", free_port(), [b1, b2], health_check=dict(CHECK))
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    wait_all_up(proxy, "api", ["b1", "b2"])
    response = proxy.admin_post("/api/v1/services/api/backends/b1/drain")
    assert response.status == 200
    config = copy.deepcopy(proxy.config)
    entries_of(config).append({"name": "b3", "address": b3.address})
    reload_and_wait(proxy, config)
    wait_state(proxy, "api", "b3", True)
    assert backend_status(proxy, "api", "b1")["drained"]
    assert set(spread(proxy, 20)) == {"b2", "b3"}


@pytest.mark.deadline(30)
def test_admin_listener_moves(start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check=NO_CHECK)
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    old_admin = proxy.admin_address
    config = copy.deepcopy(proxy.config)
    config["admin"] = {"listen": f"127.0.0.1:{free_port()}"}
    reload_and_wait(proxy, config)
    assert proxy.admin_get("/healthz").status == 200
    wait_until(lambda: not clb.port_accepts(*old_admin, timeout=0.2), 3,
               message="the old admin listener to close")


@pytest.mark.deadline(45)
def test_new_service_answers_every_connection_accepted_during_the_reload(
        start_backend, start_proxy, free_port):
    """A reload adds a service on a new address while clients dial that address from the
    moment of SIGHUP: every connection accepted gets an HTTP response. The workers used to
    get the new listener before the snapshot naming its service, and closed what they
    accepted in between without a word. The hook holds the reload for 0.5 s between its
    two handover steps, so that the clients certainly arrive in between."""
    backend = start_backend("b1")
    api = make_service("api", free_port(), [backend], health_check=NO_CHECK)
    with reload_pause(0.5):
        proxy = start_proxy(make_config([api], admin_port=free_port(), workers=4))
    new_port = free_port()
    config = copy.deepcopy(proxy.config)
    config["services"].append(make_service("new", new_port, [backend], health_check=NO_CHECK))
    outcomes: list[tuple[float, object]] = []  # (connected at, status or what went wrong)
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                connection = RawConnection("127.0.0.1", new_port, timeout=5.0)
            except OSError:
                time.sleep(0.002)  # not bound yet
                continue
            connected = time.monotonic()
            with connection:
                try:
                    connection.send(b"GET / HTTP/1.1\r\nHost: new\r\nConnection: close\r\n\r\n")
                    outcomes.append((connected, connection.read_response().status))
                except Exception as error:  # noqa: BLE001 - recorded, asserted below
                    outcomes.append((connected, repr(error)))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        offset = len(proxy.log())
        proxy.reload(config)
        proxy.wait_for_log(r"reload: pausing", start=offset)
        proxy.wait_for_log(APPLIED, start=offset)
        applied = time.monotonic()
        wait_until(lambda: sum(1 for at, _ in outcomes if at > applied) >= 20, 10,
                   message="20 requests after the reload")
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert any(at < applied for at, _ in outcomes), "no connection during the reload"
    failed = [outcome for outcome in outcomes if outcome[1] != 200]
    assert not failed, f"{len(failed)} of {len(outcomes)}: {failed[:5]}"


@pytest.mark.deadline(30)
def test_connection_for_a_removed_service_is_closed_with_a_warning(
        start_backend, start_proxy, free_port):
    """The instant between a reload's snapshot (service gone) and the workers' new
    listeners: a connection accepted on the removed service's address is closed, and the
    log says why."""
    backend = start_backend("b1")
    api = make_service("api", free_port(), [backend], health_check=NO_CHECK)
    old = make_service("old", free_port(), [backend], health_check=NO_CHECK)
    with reload_pause(1.0):
        proxy = start_proxy(make_config([api, old], admin_port=free_port(), workers=1))
    old_host, old_port = proxy.service_address("old")
    assert proxy.get("/", service="old").status == 200
    config = copy.deepcopy(proxy.config)
    config["services"] = [api]
    offset = len(proxy.log())
    proxy.reload(config)
    proxy.wait_for_log(r"reload: pausing", start=offset)
    received = clb.raw_exchange(old_host, old_port, b"GET / HTTP/1.1\r\nHost: old\r\n\r\n",
                                timeout=3.0)
    assert received == b""
    line = proxy.wait_for_log(r"\[warning\] worker 0: closed a connection", start=offset)
    assert f"127.0.0.1:{old_port}" in line and "service old" in line, line
    proxy.wait_for_log(APPLIED, start=offset)
    assert proxy.get("/", service="api").status == 200
