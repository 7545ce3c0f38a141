"""Every request tells its story (issue 15, item 5): the access log line (text, or JSON with
global.log_format: json) gives HAProxy's timers (Tq/Tw/Tc/Tr/Ta), the retries, the
termination cause and the phase it ended in, whether the backend connection was new or
reused, and the bytes each way; /metrics has per-backend connect and response histograms
and retries; /api/v1/status and /stats show p50/p99 response times per backend."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

import clb
from clb import RawConnection, make_config, make_service, wait_until

NO_CHECK = {"type": "none"}
TEXT_TAIL = re.compile(
    r' (?P<total>[\d.]+)s (?P<cause>\w+) phase=(?P<phase>\w+) '
    r'timers=(?P<tq>-?\d+)/(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tr>-?\d+)/(?P<ta>-?\d+) '
    r'retries=(?P<retries>\d+) conn=(?P<conn>new|reused) up=(?P<up>\d+)')


def refusing_address() -> str:
    """A loopback port nobody listens on: connects are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "127.0.0.1:%d" % s.getsockname()[1]


@pytest.fixture(params=["text", "json"])
def story(request, start_backend, start_proxy, free_port):
    backend = start_backend("b1")
    # "gone" refuses: a request picked for it is retried on b1. Without active checks it
    # stays in the rotation (passive detection only speeds up a checked backend's DOWN).
    service = make_service("api", free_port(), [{"name": "gone", "address": refusing_address()},
                                                 {"name": "b1", "address": backend.address}],
                           health_check=NO_CHECK, retries=1)
    proxy = start_proxy(make_config([service], admin_port=free_port(),
                                    log_format=request.param))
    return request.param, proxy


def access_records(proxy: clb.Proxy, fmt: str) -> list[dict]:
    """The access lines as dicts with the JSON format's field names."""
    records = []
    for line in proxy.log().splitlines():
        if fmt == "json":
            record = json.loads(line)  # every line of the process is a JSON object
            if record.get("msg") == "access":
                records.append(record)
            continue
        if "access: " not in line:
            continue
        fields = line.split("access: ", 1)[1].split(" ", 3)
        tail = TEXT_TAIL.search(line)
        assert tail, line
        records.append({
            "client": fields[0], "service": fields[1],
            "backend": None if fields[2] == "-" else fields[2],
            "request": re.search(r'"([^"]*)"', line).group(1),
            "status": int(re.search(r'" (\d+) ', line).group(1)),
            "termination": tail["cause"], "phase": tail["phase"],
            "timers_ms": {k: int(tail[t]) for k, t in
                          [("request", "tq"), ("queue", "tw"), ("connect", "tc"),
                           ("response", "tr"), ("total", "ta")]},
            "retries": int(tail["retries"]), "connection": tail["conn"],
            "bytes_up": int(tail["up"]), "line": line})
    return records


def find(proxy, fmt, predicate) -> dict:
    return wait_until(lambda: next((r for r in access_records(proxy, fmt) if predicate(r)), None),
                      5, message="the access record")


def test_a_retried_request_tells_its_story(story):
    fmt, proxy = story
    for _ in range(2):  # roundrobin: one of the first two picks is "gone"
        assert proxy.get("/").status == 200
    record = find(proxy, fmt, lambda r: r["retries"] == 1)
    print(record.get("line", record))
    assert record["backend"] == "b1" and record["status"] == 200
    assert record["termination"] == "completed" and record["phase"] == "data"
    assert record["connection"] == "new"
    timers = record["timers_ms"]
    assert timers["request"] >= 0 and timers["queue"] == 0 and timers["connect"] >= 0
    assert timers["response"] >= 0 and timers["total"] >= timers["response"]
    assert record["bytes_up"] > len("GET / HTTP/1.1\r\n")
    metrics = proxy.metrics()
    retried = re.search(r'^contrail_lb_retries_total\{service="api",backend="gone"\} (\d+)$',
                        metrics, re.M)
    assert retried and int(retried.group(1)) >= 1, metrics
    assert re.search(r'^contrail_lb_retries_total\{service="api",backend="b1"\} 0$', metrics,
                     re.M)
    count = re.search(r'^contrail_lb_backend_response_seconds_count\{service="api",'
                      r'backend="b1"\} (\d+)$', metrics, re.M)
    assert count and int(count.group(1)) == 2  # every response came from b1
    assert re.search(r'^contrail_lb_backend_connect_seconds_bucket\{service="api",backend="b1",'
                     r'le="\+Inf"\} [1-9]', metrics, re.M)
    # With "gone" drained, requests go to b1 first and take the connections pooled before.
    assert proxy.admin_post("/api/v1/services/api/backends/gone/drain").status == 200
    for _ in range(2):
        assert proxy.get("/again").status == 200
    reused = find(proxy, fmt, lambda r: "/again" in r["request"] and r["retries"] == 0)
    assert reused["connection"] == "reused" and reused["timers_ms"]["connect"] == 0


def test_a_request_cut_by_its_client_tells_its_story(story):
    fmt, proxy = story
    with RawConnection(*proxy.service_address()) as c:
        c.send(b"GET /delay/3000 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        # A reset, not a FIN: a FIN after a whole request is a half-close, and the answer
        # still goes out (HAProxy's default, without abortonclose).
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    record = find(proxy, fmt, lambda r: "/delay/3000" in r["request"])
    print(record.get("line", record))
    assert record["termination"] == "client_abort" and record["phase"] == "headers"
    assert record["status"] == 0 and record["backend"] == "b1"
    assert record["timers_ms"]["response"] == -1 and record["timers_ms"]["total"] >= 250
    assert record["timers_ms"]["connect"] >= 0


def test_status_and_stats_page_show_response_quantiles(story, tmp_path):
    fmt, proxy = story
    for _ in range(20):
        assert proxy.get("/delay/20").status == 200
    status = proxy.admin_json()
    b1 = next(b for b in status["services"][0]["backends"] if b["name"] == "b1")
    assert b1["response_seconds"]["count"] >= 19
    assert 0.01 <= b1["response_seconds"]["p50"] <= 0.05, b1
    assert b1["retries"] == 0
    if fmt == "json" or not shutil.which("chromium"):
        return  # the page is the same in both formats; chromium is in install-deps
    # CLB_SCREENSHOT_DIR keeps the picture for a person to look at.
    shot = Path(os.environ.get("CLB_SCREENSHOT_DIR", tmp_path)) / "stats-backend-latency.png"
    admin = "http://%s:%d/stats" % proxy.admin_address
    dom = subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                          "--dump-dom", admin], capture_output=True, text=True, timeout=60).stdout
    for column in ("Retries", "Resp p50", "Resp p99", "Proto errs"):
        assert column in dom
    assert re.search(r"<td class=\"num\" title=\"\d+ responses\">\d+(\.\d)? ms</td>", dom), dom
    subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--window-size=1800,900", f"--screenshot={shot}", admin],
                   capture_output=True, timeout=60)
    assert shot.stat().st_size > 10_000
