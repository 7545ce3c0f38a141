"""health_check.port (HAProxy's `check port`, docs/configuration.md): the backend's IP is
checked on another port than the one its traffic goes to. Here the traffic port and the
checked port are two clb-test-backend processes, so each can fail on its own."""

from __future__ import annotations

import pytest

import clb
from clb import make_config, make_service
from e2e import backend_status, wait_state

APPLIED = r"reload: applied "


def checked_service(traffic: clb.Backend, port: int | None, free_port, check_type="http"):
    check = dict(clb.FAST_HTTP_CHECK) if check_type == "http" else {
        "type": "tcp", "interval": "100ms", "timeout": "500ms", "rise": 2, "fall": 2}
    if port is not None:
        check["port"] = port
    return make_service("web", free_port(), [traffic], health_check=check)


def reload_and_wait(proxy: clb.Proxy, config: dict) -> None:
    offset = len(proxy.log())
    proxy.reload(config)
    proxy.wait_for_log(APPLIED, start=offset)


@pytest.mark.deadline(60)
@pytest.mark.parametrize("check_type", ["http", "tcp"])
def test_down_while_the_checked_port_is_down_although_traffic_port_answers(
        start_backend, start_proxy, free_port, check_type):
    traffic = start_backend("web1")
    health = start_backend("web1-health")
    proxy = start_proxy(make_config([checked_service(traffic, health.port, free_port, check_type)],
                                    admin_port=free_port()))
    wait_state(proxy, "web", "web1", True)
    assert proxy.get("/").text == "hello from web1\n"

    # The status shows where the checks go, as it differs from the backend's address.
    status = backend_status(proxy, "web", "web1")
    assert status["address"] == traffic.address
    assert status["check"]["address"] == health.address
    service = proxy.admin_json()["services"][0]
    assert service["health_check"]["port"] == health.port
    page = proxy.admin_get("/stats").text
    assert f"checked at {health.address}" in page
    assert f"on port {health.port}" in page

    offset = len(proxy.log())
    health.stop()
    wait_state(proxy, "web", "web1", False)
    line = proxy.wait_for_log(r"backend web/web1 .* is DOWN", start=offset)
    assert f"checked at {health.address}" in line
    assert traffic.get("/").status == 200  # the traffic port still answers
    assert proxy.get("/").status == 503

    health.start()
    wait_state(proxy, "web", "web1", True)
    assert proxy.get("/").text == "hello from web1\n"


@pytest.mark.deadline(60)
def test_without_port_the_backends_own_port_is_checked(start_backend, start_proxy, free_port):
    traffic = start_backend("web1")
    proxy = start_proxy(make_config([checked_service(traffic, None, free_port)],
                                    admin_port=free_port()))
    wait_state(proxy, "web", "web1", True)
    status = backend_status(proxy, "web", "web1")
    assert "address" not in status["check"]
    assert "port" not in proxy.admin_json()["services"][0]["health_check"]
    assert "checked at" not in proxy.admin_get("/stats").text


@pytest.mark.deadline(90)
def test_reload_moves_the_checks_to_the_new_port(start_backend, start_proxy, free_port):
    traffic = start_backend("web1")
    health = start_backend("web1-health")
    service = checked_service(traffic, health.port, free_port)
    config = make_config([service], admin_port=free_port())
    proxy = start_proxy(config)
    wait_state(proxy, "web", "web1", True)

    # A port nothing listens on: the backend keeps its UP state across the reload, then
    # the checks of the new target take it DOWN by `fall`.
    dead_port = free_port()
    service["health_check"]["port"] = dead_port
    reload_and_wait(proxy, config)
    clb.wait_until(lambda: backend_status(proxy, "web", "web1")["check"].get("address")
                   == f"127.0.0.1:{dead_port}", 10, message="the new check address")
    wait_state(proxy, "web", "web1", False)
    assert health.get("/health").status == 200  # the old checked port is still fine

    # Back to the traffic port itself (port removed): UP again.
    del service["health_check"]["port"]
    reload_and_wait(proxy, config)
    wait_state(proxy, "web", "web1", True)
    assert "address" not in backend_status(proxy, "web", "web1")["check"]
    assert proxy.get("/").text == "hello from web1\n"


def test_check_rejects_port_with_type_none(clb_bin, tmp_path, free_port):
    import subprocess
    service = make_service("web", free_port(), [{"name": "b1", "address": "127.0.0.1:9101"}],
                           health_check={"type": "none", "port": 8143})
    proxy = clb.Proxy(make_config([service]), tmp_path)
    result = subprocess.run([clb_bin, "-c", str(proxy.config_path), "--check"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode != 0
    assert "services[0].health_check.port: type none runs no checks" in result.stderr
    assert f"{proxy.config_path}:" in result.stderr
