"""Passive detection has a threshold: health_check.error_limit consecutive failed connects
on live traffic take an UP backend DOWN; 0 turns passive detection off (issue 7, item 4).
The active checks are slow here (10s) so that only live traffic can move a backend."""

from __future__ import annotations

import pytest

from clb import make_config, make_service, wait_until
from e2e import is_up, wait_all_up, wait_state

SLOW_CHECK = {"type": "http", "path": "/health", "expect_status": [200], "interval": "10s",
              "timeout": "1s", "rise": 1, "fall": 3}


def connect_failures(proxy, backend: str) -> int:
    return sum(1 for line in proxy.log().splitlines()
               if f"backend api/{backend} " in line and "connect failed" in line)


def start(start_backend, start_proxy, free_port, error_limit: int):
    backends = [start_backend(name) for name in ("dead", "alive")]
    check = dict(SLOW_CHECK, error_limit=error_limit)
    service = make_service("api", free_port(), backends, health_check=check, retries=1)
    proxy = start_proxy(make_config([service], admin_port=free_port()))
    wait_all_up(proxy, "api", ["dead", "alive"])
    backends[0].kill()  # its port now refuses
    return proxy


@pytest.mark.deadline(60)
def test_down_after_error_limit_consecutive_failures(start_backend, start_proxy, free_port):
    proxy = start(start_backend, start_proxy, free_port, error_limit=2)
    # Every request is answered (retried on "alive"); "dead" stays UP after one refusal.
    while connect_failures(proxy, "dead") < 1:
        assert proxy.get("/").status == 200
    assert is_up(proxy, "api", "dead")
    while connect_failures(proxy, "dead") < 2:
        assert proxy.get("/").status == 200
    wait_state(proxy, "api", "dead", False, timeout=5)
    line = proxy.wait_for_log(r"backend api/dead .* is DOWN")
    assert "connection refused on live traffic (2 consecutive failures)" in line, line


@pytest.mark.deadline(60)
def test_error_limit_zero_turns_passive_detection_off(start_backend, start_proxy, free_port):
    proxy = start(start_backend, start_proxy, free_port, error_limit=0)
    while connect_failures(proxy, "dead") < 4:
        assert proxy.get("/").status == 200
    assert is_up(proxy, "api", "dead"), "only the active checks may take it DOWN now"
    assert "is DOWN" not in proxy.log()
