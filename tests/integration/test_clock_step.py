"""A step of the system clock moves no request timer (issue 14, item 5).

contrail-lb runs under libfaketime with a wall clock the test steps back by an hour in
the middle of a request (CLOCK_MONOTONIC is left alone, as a real step leaves it). The
proxy's durations and deadlines come from the monotonic clock: the backend timeout
still fires after timeouts.server, not an hour later, and the logged duration of a
request is what it really took, never negative."""

from __future__ import annotations

import glob
import re
import time
from pathlib import Path

import pytest

import clb
from clb import RawConnection, make_config, make_service

LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))


def stepped_binary(tmp_path: Path) -> tuple[str, Path]:
    """A wrapper that runs contrail-lb with a wall clock offset read from a file on every
    call (so the test can step it while the process runs), the monotonic clock untouched."""
    offset = tmp_path / "clock-offset"
    offset.write_text("+0\n")
    wrapper = tmp_path / "contrail-lb-faketime"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"export LD_PRELOAD={LIBFAKETIME[0]} FAKETIME_TIMESTAMP_FILE={offset} "
        "FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1\n"
        f'exec "{clb.clb_bin()}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper), offset


@pytest.fixture
def stepped_proxy(start_backend, free_port, tmp_path):
    if not LIBFAKETIME:
        pytest.skip("libfaketime is not installed (scripts/install-deps.sh installs faketime)")
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check={"type": "none"},
                           retries=0, timeouts={"server": "2s", "client": "10s"})
    binary, offset = stepped_binary(tmp_path)
    proxy = clb.Proxy(make_config([service], admin_port=free_port()), tmp_path / "proxy",
                      binary=binary)
    proxy.start()
    yield proxy, offset
    proxy.stop()


@pytest.mark.deadline(60)
def test_backend_timeout_fires_on_time_across_a_step_back(stepped_proxy):
    proxy, offset = stepped_proxy
    with RawConnection(*proxy.service_address(), timeout=20) as c:
        started = time.monotonic()
        c.send(b"GET /delay/15000 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        offset.write_text("-1h\n")
        response = c.read_response(timeout=15)
        waited = time.monotonic() - started
    assert response.status == 504
    assert 1.9 < waited < 5, f"the 2 s backend timeout fired after {waited:.1f}s"


@pytest.mark.deadline(60)
def test_logged_duration_is_real_across_a_step_back(stepped_proxy):
    proxy, offset = stepped_proxy
    with RawConnection(*proxy.service_address(), timeout=20) as c:
        c.send(b"GET /delay/1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        offset.write_text("-1h\n")
        assert c.read_response(timeout=10).status == 200
    line = proxy.wait_for_log(r"access: .*/delay/1000")
    seconds = float(re.search(r" (-?[\d.]+)s ", line).group(1))
    assert 0.9 < seconds < 3, line
    total = re.search(r'^contrail_lb_request_duration_seconds_sum\{service="api"\} ([\d.e+-]+)$',
                      proxy.metrics(), re.M)
    assert total and 0.9 < float(total.group(1)) < 3, total
