"""Logging never blocks (issue 7, docs/operations.md "Logging"): with stderr a pipe that
nobody reads, requests are still served, /healthz still answers, the lines that do not
fit are dropped and counted, and SIGTERM still ends the process in time."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import time

import pytest

import clb
from clb import make_config, make_service, wait_until

F_SETPIPE_SZ = 1031


def stalled_pipe() -> tuple[int, int]:
    """A pipe with the smallest buffer (one page): the start-up lines alone fill it."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    return read_end, write_end


def pipelined_gets(proxy, count: int, batch: int = 500) -> int:
    """Sends count keep-alive GETs in pipelined batches; returns how many got 200."""
    ok = 0
    with clb.RawConnection(*proxy.service_address(), timeout=10) as connection:
        for start in range(0, count, batch):
            n = min(batch, count - start)
            connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * n)
            for _ in range(n):
                ok += connection.read_response().status == 200
    return ok


def dropped_lines(proxy) -> int:
    found = re.search(r"^contrail_lb_log_lines_dropped_total (\d+)$", proxy.metrics(), re.M)
    assert found, "no contrail_lb_log_lines_dropped_total in /metrics"
    return int(found.group(1))


@pytest.mark.deadline(120)
def test_stalled_log_reader_does_not_stop_serving(start_backend, free_port, tmp_path):
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check={"type": "none"})
    proxy = clb.Proxy(make_config([service], admin_port=free_port(), workers=2,
                                  log_level="debug", grace="1s"), tmp_path)
    read_end, write_end = stalled_pipe()
    try:
        proxy.start(stderr=write_end)
        os.close(write_end)
        write_end = -1
        # ~150 bytes of access log per request: far more than the pipe and a worker's
        # 1 MiB queue hold.
        assert pipelined_gets(proxy, 15000) == 15000
        assert proxy.admin_get("/healthz").status == 200
        assert dropped_lines(proxy) > 1000
        assert proxy.get("/").status == 200

        # The exit does not wait for the reader either (grace 1s + 1s to flush at most).
        began = time.monotonic()
        assert proxy.stop(signal.SIGTERM, timeout=8) == 0
        assert time.monotonic() - began < 6
    finally:
        proxy.kill()
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


@pytest.mark.deadline(60)
def test_log_lines_reach_a_slow_reader_in_order(start_backend, free_port, tmp_path):
    """Nothing is lost while the reader keeps up, and lines come out whole."""
    backend = start_backend("b1")
    service = make_service("api", free_port(), [backend], health_check={"type": "none"})
    proxy = clb.Proxy(make_config([service], workers=2, log_level="info"), tmp_path)
    proxy.start()
    try:
        assert pipelined_gets(proxy, 2000) == 2000
        wait_until(lambda: len(re.findall(r'"GET / HTTP/1.1" 200', proxy.log())) >= 2000, 10,
                   message="2000 access log lines")
        for line in proxy.log().splitlines():
            assert re.match(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[\w+\] ", line), line
    finally:
        proxy.stop()
